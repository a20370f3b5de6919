"""Rule unit tests, like ``promtool test rules``: a TOML or JSON file of cases, each with input
reports, units (fixes), features and squads at an evaluation time, and the alerts expected.

Every rule runs over the case's facts at ``at``; the candidates go through the pipeline (dedupe,
inhibition, routing, assignment when squads are given) as if nothing had fired before. A case passes
when the alerts raised are exactly the ones expected (each expectation matching one alert on the keys
it gives). The file may carry its own ``[[rules]]`` (and ``[escalation]``, ``[[routes]]``,
``[[inhibit]]``); otherwise the configured rules are tested. Example::

    [[tests]]
    name = "night firearm by the river"
    at = "2026-11-20T22:45:00+08:00"
    [[tests.reports]]
    id = "r1"
    category = "firearm"
    observed_at = "2026-11-20T22:40:00+08:00"
    lon = 120.73
    lat = 28.85
    dist_to_river_m = 150
    [[tests.expected]]
    rule = "firearm-night-river"
    severity = "critical"
    reports = ["r1"]
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alerts.model import Alert, FeatureKind, FeatureVisit, ReportCategory, ReportFact, ReportStatus, UnitFact
from alerts.pipeline import DEFAULT_STAGES, PipelineContext, run_pipeline
from alerts.rules import RuleFacts, evaluate_rules
from alerts.squads import SquadState, SquadStatus
from ecopatrol.alerting.context import new_id
from ecopatrol.alerting.settings import AlertingConfig, load_alerting
from ecopatrol.config import Settings
from geo.placement import to_metric

Instant = datetime | int


class CaseError(ValueError):
    """A rule-test file that cannot be read; the message names the case and key."""


def _ms(value: Instant) -> int:
    if isinstance(value, int):
        return value
    if value.tzinfo is None:
        raise ValueError("give a time zone (e.g. +08:00) or epoch milliseconds")
    return int(value.timestamp() * 1000)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReportIn(_Strict):
    id: str
    category: ReportCategory
    observed_at: Instant
    received_at: Instant | None = None
    lon: float
    lat: float
    reach_id: str | None = None
    dist_to_river_m: float | None = None
    cell_id: str | None = None
    township: str | None = None
    zone_ids: list[str] = Field(default_factory=list)
    zone_priority: int | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    status: ReportStatus = ReportStatus.received


class UnitIn(_Strict):
    unit_id: str
    mode: str = "foot"
    on_duty: bool = True
    on_duty_since: Instant | None = None
    squad_id: str | None = None
    remote: bool = False
    township: str | None = None
    fixes: list[tuple[Instant, float, float]] = Field(default_factory=list, description="(time, lon, lat)")


class FeatureIn(_Strict):
    kind: FeatureKind = FeatureKind.reach
    feature_id: str
    priority: int = 1
    last_visit: Instant | None = None
    lon: float
    lat: float
    township: str | None = None


class SquadIn(_Strict):
    id: str
    lon: float | None = None
    lat: float | None = None
    state: SquadState = SquadState.available
    load: int = 0


class ExpectedIn(_Strict):
    rule: str
    severity: str | None = None
    fingerprint: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    reports: list[str] | None = None
    units: list[str] | None = None
    reaches: list[str] | None = None
    cells: list[str] | None = None
    squad: str | None = None


class CaseIn(_Strict):
    name: str
    at: Instant
    reports: list[ReportIn] = Field(default_factory=list)
    units: list[UnitIn] = Field(default_factory=list)
    features: list[FeatureIn] = Field(default_factory=list)
    squads: list[SquadIn] = Field(default_factory=list)
    expected: list[ExpectedIn] = Field(default_factory=list)


@dataclass
class CaseResult:
    name: str
    alerts: list[Alert]
    missing: list[ExpectedIn] = field(default_factory=list)
    unexpected: list[Alert] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.missing and not self.unexpected

    def lines(self) -> list[str]:
        head = f"{'PASS' if self.passed else 'FAIL'}  {self.name}"
        out = [head]
        for e in self.missing:
            wanted = e.model_dump(exclude_none=True, exclude_defaults=True)
            out.append(f"    expected but not raised: {wanted}")
        for a in self.unexpected:
            out.append(f"    raised but not expected: rule={a.rule} severity={a.severity.value} "
                       f"fingerprint={a.fingerprint} reports={list(a.evidence.report_ids)}")
        if not self.passed:
            raised = ", ".join(f"{a.rule}[{a.severity.value}]" for a in self.alerts)
            out.append(f"    raised: {raised or 'nothing'}")
        return out


def load_cases(path: Path, settings: Settings) -> tuple[AlertingConfig, list[CaseIn]]:
    """The file's cases and the configuration to test (its own rules, else the configured ones)."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CaseError(f"{path}: cannot be read: {exc}") from None
    own = {k: data[k] for k in ("rules", "escalation", "routes", "inhibit") if k in data}
    cfg = load_alerting(settings, own)
    unknown = sorted(set(data) - {"tests", "rules", "escalation", "routes", "inhibit"})
    if unknown:
        raise CaseError(f"{path}: unknown top-level key(s) {', '.join(unknown)} (expected tests, rules, …)")
    cases = []
    for i, raw in enumerate(data.get("tests", [])):
        try:
            cases.append(CaseIn.model_validate(raw))
        except ValidationError as exc:
            err = exc.errors()[0]
            key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
            raise CaseError(f"{path}: tests[{i}]{key}: {err['msg']}") from None
    if not cases:
        raise CaseError(f"{path}: no [[tests]] cases")
    return cfg, cases


def run_case(case: CaseIn, cfg: AlertingConfig, metric_crs: str) -> CaseResult:
    now = _ms(case.at)
    facts = RuleFacts(reports=_reports(case.reports, metric_crs), units=_units(case.units, metric_crs),
                      features=_features(case.features, metric_crs))
    candidates = evaluate_rules(list(cfg.rules), facts, now)
    ctx = PipelineContext(now_ms=now, new_id=new_id, inhibit_rules=cfg.inhibit_rules,
                          squads=_squads(case.squads, metric_crs), routes=cfg.routes,
                          default_route=cfg.default_route, escalation_policies=cfg.policies, tie_m=cfg.tie_m)
    alerts = run_pipeline(DEFAULT_STAGES, ctx, candidates).created
    return _compare(case, alerts, check_squads=bool(case.squads))


def _compare(case: CaseIn, alerts: list[Alert], *, check_squads: bool) -> CaseResult:
    left = list(alerts)
    missing = []
    for expected in case.expected:
        match = next((a for a in left if _matches(expected, a, check_squads)), None)
        if match is None:
            missing.append(expected)
        else:
            left.remove(match)
    return CaseResult(case.name, alerts, missing, left)


def _matches(e: ExpectedIn, a: Alert, check_squads: bool) -> bool:
    ev = a.evidence
    return (e.rule == a.rule
            and (e.severity is None or e.severity == a.severity.value)
            and (e.fingerprint is None or e.fingerprint == a.fingerprint)
            and all(a.labels.get(k) == v for k, v in e.labels.items())
            and all(want is None or sorted(want) == sorted(got)
                    for want, got in ((e.reports, ev.report_ids), (e.units, ev.unit_ids),
                                      (e.reaches, ev.reaches), (e.cells, ev.cells)))
            and (e.squad is None or not check_squads or e.squad == a.squad_id))


def _xy(lon: Sequence[float], lat: Sequence[float], crs: str) -> tuple[list[float], list[float]]:
    if not lon:
        return [], []
    x, y = to_metric(np.asarray(lon, float), np.asarray(lat, float), crs)
    return x.tolist(), y.tolist()


def _reports(items: Sequence[ReportIn], crs: str) -> list[ReportFact]:
    xs, ys = _xy([r.lon for r in items], [r.lat for r in items], crs)
    return [ReportFact(
        id=r.id, category=r.category, observed_ms=_ms(r.observed_at),
        received_ms=_ms(r.received_at if r.received_at is not None else r.observed_at), lon=r.lon, lat=r.lat,
        x_m=x, y_m=y, reach_id=r.reach_id, dist_to_river_m=r.dist_to_river_m, cell_id=r.cell_id,
        township=r.township, zone_ids=tuple(r.zone_ids), zone_priority=r.zone_priority, details=r.details,
        status=r.status) for r, x, y in zip(items, xs, ys, strict=True)]


def _units(items: Sequence[UnitIn], crs: str) -> list[UnitFact]:
    out = []
    for u in items:
        fixes = sorted((_ms(t), lon, lat) for t, lon, lat in u.fixes)
        xs, ys = _xy([f[1] for f in fixes], [f[2] for f in fixes], crs)
        track = tuple((f[0], x, y) for f, x, y in zip(fixes, xs, ys, strict=True))
        last = fixes[-1] if fixes else None
        out.append(UnitFact(
            unit_id=u.unit_id, mode=u.mode, on_duty=u.on_duty,  # type: ignore[arg-type]
            last_fix_ms=last[0] if last else None, last_x_m=track[-1][1] if track else None,
            last_y_m=track[-1][2] if track else None, track=track, remote=u.remote, squad_id=u.squad_id,
            on_duty_since_ms=_ms(u.on_duty_since) if u.on_duty_since is not None else None,
            last_lon=last[1] if last else None, last_lat=last[2] if last else None, township=u.township))
    return out


def _features(items: Sequence[FeatureIn], crs: str) -> list[FeatureVisit]:
    xs, ys = _xy([f.lon for f in items], [f.lat for f in items], crs)
    return [FeatureVisit(f.kind, f.feature_id, f.priority,
                         _ms(f.last_visit) if f.last_visit is not None else None, x, y, f.township,
                         f.lon, f.lat)
            for f, x, y in zip(items, xs, ys, strict=True)]


def _squads(items: Sequence[SquadIn], crs: str) -> list[SquadStatus]:
    out = []
    for s in items:
        x = y = None
        if s.lon is not None and s.lat is not None:
            (x,), (y,) = _xy([s.lon], [s.lat], crs)
        out.append(SquadStatus(s.id, s.state, x, y, None, s.load))
    return out


def run_file(path: Path, settings: Settings) -> list[CaseResult]:
    cfg, cases = load_cases(path, settings)
    return [run_case(c, cfg, settings.deployment.metric_crs) for c in cases]


__all__ = ["CaseError", "CaseResult", "load_cases", "run_case", "run_file"]
