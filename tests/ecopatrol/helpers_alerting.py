"""Shared helpers for the alerting tests: the tiny county of the report tests with its river marked
high priority, squads of real personnel with phones placed by stored fixes, coverage rows, reports
sent through the report API, and an app with every router and alerting installed (no scheduler)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

import ecopatrol.store.alerts_schema
import ecopatrol.store.reports_schema  # noqa: F401
from ecopatrol.layer_import import import_layer
from ecopatrol.runtime import Runtime
from ecopatrol.store import coverage_repo, fixes_repo, units_repo
from ecopatrol.store.alerts_schema import outbox
from ecopatrol.store.tokens_repo import create_token
from tests.ecopatrol.helpers_reports import COUNTY, IN_FOREST, NEAR_RIVER, firearm_report

SHANGHAI = ZoneInfo("Asia/Shanghai")
MIN_MS = 60_000
HOUR_MS = 60 * MIN_MS


def local_ms(year: int, month: int, day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).timestamp() * 1000)


#: Thursday 20 November 2025, 22:40 in the county: a night (a few hours after the report tests' T0).
NIGHT_MS = local_ms(2025, 11, 20, 22, 40)
#: The same day, 14:00.
DAY_MS = local_ms(2025, 11, 20, 14, 0)

#: Where the squads' vehicles stand: west by the river (≈0.6 km from NEAR_RIVER), in the middle
#: (≈2.5 km) and east by the forest (≈4.6 km).
SQUAD_SPOTS = {"sq-west": (120.701, 28.8012), "sq-mid": (120.72, 28.79), "sq-east": (120.743, 28.8012)}
#: Three spots in one forest block, within 250 m of each other.
SNARE_SPOTS = [IN_FOREST, (120.7418, 28.8100), (120.7405, 28.8082)]


def alerting_county() -> dict[str, Any]:
    """The report tests' county with the river marked high priority (a priority reach)."""
    county = copy.deepcopy(COUNTY)
    for feature in county["rivers"]["features"]:
        feature["properties"]["priority"] = "high"
    return county


def load_alerting_county(runtime: Runtime, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for kind, collection in alerting_county().items():
        path = folder / f"{kind}.geojson"
        path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
        import_layer(runtime, kind, path)


def build_app(runtime: Runtime) -> FastAPI:
    """The whole app without the rule scheduler and delivery worker (tests drive ticks themselves)."""
    from ecopatrol.api.app import create_app

    return create_app(runtime, scheduler=False, delivery_worker=False)


def token(runtime: Runtime, role: str, *, squad_id: str | None = None,
          org: str | None = None) -> dict[str, str]:
    with runtime.store.write() as conn:
        value = create_token(conn, role=role, name=f"test {role}", squad_id=squad_id, org=org,
                             now_ms=runtime.now_ms())
    return {"Authorization": f"Bearer {value}"}


def insert_fixes(runtime: Runtime, unit_id: str, points: list[tuple[int, float, float]],
                 mode: str = "vehicle") -> None:
    """Store fixes directly (time_ms, lon, lat), as ingest would after cleaning."""
    frame = pd.DataFrame({
        "unit_id": unit_id, "time_ms": [p[0] for p in points], "lon": [p[1] for p in points],
        "lat": [p[2] for p in points], "accuracy_m": 5.0, "speed_mps": 0.0, "bearing_deg": float("nan"),
        "altitude_m": float("nan"), "battery_pct": float("nan"), "source": "test", "mode": mode,
        "outlier": False, "reach_id": None, "cell_id": None, "township": None,
        "received_ms": runtime.now_ms()})
    with runtime.store.write() as conn:
        fixes_repo.insert_fixes(conn, frame)


def add_unit(runtime: Runtime, unit_id: str, mode: str) -> None:
    with runtime.store.write() as conn:
        units_repo.upsert_unit(conn, unit_id, mode=mode, now_ms=runtime.now_ms())


def visit(runtime: Runtime, kind: str, feature_ids: list[str], last_ms: int) -> None:
    """Coverage rows saying each feature was last patrolled at ``last_ms``."""
    day = int(datetime.fromtimestamp(last_ms / 1000, SHANGHAI).strftime("%Y%m%d"))
    frame = pd.DataFrame({"kind": kind, "feature_id": feature_ids, "unit_id": "V-TEST", "mode": "vehicle",
                          "day": day, "km": 0.5, "hours": 0.1, "passes": 1, "first_ms": last_ms - 600_000,
                          "last_ms": last_ms})
    with runtime.store.write() as conn:
        coverage_repo.add_contributions(conn, frame)


def visit_everything(runtime: Runtime, last_ms: int) -> None:
    """Every reach and cell patrolled at ``last_ms`` (so no coverage gap gets in the way)."""
    from ecopatrol.alerting.facts import feature_table

    table = feature_table(runtime.layer_index())
    for kind in ("reach", "cell"):
        ids = list(table.loc[table["kind"] == kind, "feature_id"])
        if ids:
            visit(runtime, kind, ids, last_ms)


def iso(t_ms: int) -> str:
    return datetime.fromtimestamp(t_ms / 1000, UTC).astimezone(SHANGHAI).isoformat()


@dataclass
class Field:
    """The county, three squads (1 police + 2 auxiliary, on duty all day, a vehicle each) and tokens."""

    runtime: Runtime
    client: TestClient
    commander: dict[str, str]
    partner: dict[str, str]
    squad_tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)

    @property
    def clock(self):  # type: ignore[no-untyped-def]
        return self.runtime.clock

    def report(self, category: str = "firearm", at_ms: int | None = None,
               spot: tuple[float, float] = NEAR_RIVER, **overrides: Any) -> dict[str, Any]:
        """POST a report observed at ``at_ms`` (default: 5 minutes ago); the created report."""
        at = self.runtime.now_ms() - 5 * MIN_MS if at_ms is None else at_ms
        body = firearm_report(observed_at=iso(at), location={"type": "Point", "coordinates": list(spot)})
        if category != "firearm":
            details = {"method": "net"} if category == "illegal_fishing" else {}
            body.update(category=category, details=details, description=f"test {category}")
        body.update(overrides)
        response = self.client.post("/api/v1/reports", json=body, headers=self.partner)
        assert response.status_code == 201, response.text
        settle(self.client)
        return response.json()

    def alerts(self, headers: dict[str, str] | None = None, **params: Any) -> list[dict[str, Any]]:
        response = self.client.get("/api/v1/alerts", params=params, headers=headers or self.commander)
        assert response.status_code == 200, response.text
        return response.json()["items"]

    def alert(self, alert_id: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/alerts/{alert_id}", headers=self.commander)
        assert response.status_code == 200, response.text
        return response.json()

    def outbox(self) -> list[Any]:
        with self.runtime.store.read() as conn:
            return list(conn.execute(sa.select(outbox).order_by(outbox.c.created_ms, outbox.c.id)).fetchall())

    def advance_to(self, t_ms: int) -> None:
        self.runtime.clock.now = t_ms  # type: ignore[attr-defined]


def settle(client: TestClient) -> None:
    """Wait until the report rules of every report posted so far have run (they run on the app's
    report worker thread, after the answer)."""
    worker = getattr(client.app.state, "report_alert_worker", None)  # type: ignore[attr-defined]
    if worker is not None and worker.running:
        assert worker.wait_idle(30), "the report worker did not finish in 30 s"


def make_person(client: TestClient, headers: dict[str, str], name: str, role: str) -> str:
    response = client.post("/api/v1/personnel", json={"name": name, "role": role, "phone": "000-0000"},
                           headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def make_squad(f: Field, squad_id: str, spot: tuple[float, float] | None, *,
               shift: tuple[str, str] = ("00:00", "00:00"),
               vehicle_fix_ms: int | None = None) -> dict[str, Any]:
    """A squad of three new people with an all-day roster and a vehicle last seen at ``spot``."""
    n = len(f.members) + 1
    members = [make_person(f.client, f.commander, f"警员{n}", "police"),
               make_person(f.client, f.commander, f"辅警{n}甲", "auxiliary"),
               make_person(f.client, f.commander, f"辅警{n}乙", "auxiliary")]
    units = []
    if spot is not None:
        vehicle = f"V-{squad_id}"
        add_unit(f.runtime, vehicle, "vehicle")
        at = f.runtime.now_ms() - 2 * MIN_MS if vehicle_fix_ms is None else vehicle_fix_ms
        insert_fixes(f.runtime, vehicle, [(at, spot[0], spot[1])])
        units.append(vehicle)
    body = {"id": squad_id, "name": f"测试{squad_id}", "members": members, "units": units,
            "roster": {"shifts": [{"start": shift[0], "end": shift[1]}]}}
    response = f.client.post("/api/v1/squads", json=body, headers=f.commander)
    assert response.status_code == 201, response.text
    f.members[squad_id] = members
    f.squad_tokens[squad_id] = token(f.runtime, "squad", squad_id=squad_id)
    return response.json()


def field_setup(runtime: Runtime, folder: Path, now_ms: int) -> Iterator[Field]:
    runtime.clock.now = now_ms  # type: ignore[attr-defined]
    load_alerting_county(runtime, folder)
    with TestClient(build_app(runtime)) as client:
        f = Field(runtime, client, token(runtime, "commander"), token(runtime, "partner", org="县林业站"))
        for squad_id, spot in SQUAD_SPOTS.items():
            make_squad(f, squad_id, spot)
        yield f


def minutes(n: float) -> int:
    return int(n * MIN_MS)


def hours(n: float) -> int:
    return int(n * HOUR_MS)


def days_ago(now_ms: int, n: float) -> int:
    return now_ms - int(n * 24 * HOUR_MS)

