"""Hand-made fakes and builders shared by the alert tests."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerts.model import FeatureKind, FeatureVisit, ReportCategory, ReportFact, UnitFact
from alerts.pipeline import PipelineContext, PipelineResult
from alerts.squads import SquadState, SquadStatus

SHANGHAI = ZoneInfo("Asia/Shanghai")
MIN = 60_000
HOUR = 60 * MIN


def local_ms(year: int, month: int, day: int, hour: int, minute: int = 0) -> int:
    """Epoch ms of a wall-clock time in Asia/Shanghai."""
    return int(datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).timestamp() * 1000)


#: Friday 20 November 2026, 22:40 in the county: a night.
NIGHT = local_ms(2026, 11, 20, 22, 40)
#: The same day at 14:00: broad daylight.
DAY = local_ms(2026, 11, 20, 14, 0)


class Ids:
    """A deterministic id generator: a1, a2, …"""

    def __init__(self, prefix: str = "a") -> None:
        self.prefix = prefix
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"{self.prefix}{self.n}"


def report(id: str, category: str = "firearm", t_ms: int = NIGHT, x_m: float = 1000.0,
           y_m: float = 1000.0, **kw: Any) -> ReportFact:
    fields: dict[str, Any] = {
        "lon": 120.73, "lat": 28.85, "reach_id": "R1", "dist_to_river_m": 80.0,
        "cell_id": "C1", "township": "白塔镇", "received_ms": t_ms,
    }
    fields.update(kw)
    return ReportFact(id=id, category=ReportCategory(category), observed_ms=t_ms, x_m=x_m,
                      y_m=y_m, **fields)


def unit(unit_id: str, mode: str = "foot", **kw: Any) -> UnitFact:
    fields: dict[str, Any] = {"on_duty": True}
    fields.update(kw)
    return UnitFact(unit_id=unit_id, mode=mode, **fields)  # type: ignore[arg-type]


def feature(feature_id: str, last_visit_ms: int | None, kind: str = "reach", priority: int = 1,
            township: str = "白塔镇", x_m: float = 0.0, y_m: float = 0.0) -> FeatureVisit:
    return FeatureVisit(FeatureKind(kind), feature_id, priority, last_visit_ms, x_m, y_m,
                        township)


def squad(squad_id: str, x_m: float | None, y_m: float | None, load: int = 0,
          state: SquadState = SquadState.available) -> SquadStatus:
    return SquadStatus(squad_id, state, x_m, y_m, None, load)


def context(now_ms: int = NIGHT, **kw: Any) -> PipelineContext:
    kw.setdefault("new_id", Ids())
    return PipelineContext(now_ms=now_ms, **kw)


def later(ctx: PipelineContext, result: PipelineResult, now_ms: int | None = None,
          **changes: Any) -> PipelineContext:
    """The context after persisting ``result`` (optionally at a later time)."""
    return dataclasses.replace(ctx.with_result(result, now_ms), **changes)
