"""The demo county: synthetic layers, units and simulated patrols seeded through the same paths users use.

Everything here is CLEARLY SYNTHETIC (演示数据, not real data), placed at Xianju county's location.
Seeding is idempotent: layers and units are (re)written, simulated fixes are resends-safe.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ecopatrol.alerting.demo import seed_demo_squads
from ecopatrol.alerting.wiring import install_alerting
from ecopatrol.ingest import ingest_fixes
from ecopatrol.layer_import import import_layer
from ecopatrol.reports import service as reports_service
from ecopatrol.reports.problems import ReportProblem
from ecopatrol.runtime import Runtime
from ecopatrol.store import units_repo
from ecopatrol.store.tokens_repo import create_token
from geo.demo.county import DemoCounty, build_demo_county, write_demo_county
from geo.demo.simulate import default_units, simulate_patrols, simulate_reports

DAY_MS = 86_400_000
CHUNK_FIXES = 200_000
LAYER_FILES = {"rivers": "rivers", "forests": "forests", "townships": "townships", "zones": "zones"}


def seed_demo(runtime: Runtime, *, days: float = 7.0, seed: int = 7,
              echo: Callable[[str], None] = lambda _m: None) -> list[str]:
    """Seed layers, units, patrols (and what later parts add) and return lines for the newcomer."""
    county = build_demo_county(seed)
    echo("demo: importing the synthetic county layers (演示数据)…")
    _import_layers(runtime, county)
    units = default_units(county)
    _register_units(runtime, units)
    install_alerting(runtime, scheduler=False)  # seeded reports raise alerts as real ones do
    squad_tokens = seed_demo_squads(runtime)
    echo(f"demo: simulating {days:g} days of patrols for {len(units)} units…")
    outcome = simulate_into(runtime, days=days, seed=seed, county=county)
    reports = _seed_reports(runtime, county, seed=seed)
    tokens = _demo_tokens(runtime, squad_tokens)
    lines = [
        "ecopatrol demo county (synthetic — 演示数据，非真实数据)",
        f"  layers: rivers → reaches, forests → cells, townships, zones; {len(units)} units",
        f"  patrols: {outcome['accepted']} fixes stored ({outcome['duplicates']} already there)",
        f"  reports: {reports} demo sightings of the last day (alerts raised and assigned)",
        f"  commander token: {tokens['commander']}   (review: /review, map: /maps/coverage)",
        *(f"  squad {sid} phone token: {tok}   (phone page: /m)" for sid, tok in squad_tokens.items()),
        "  tokens are also in data/demo-tokens.txt",
        f"  open http://{runtime.settings.server.host}:{runtime.settings.server.port}/ in a browser",
    ]
    return lines


def _import_layers(runtime: Runtime, county: DemoCounty) -> None:
    folder = runtime.settings.resolve_path("data/demo-layers")
    folder.mkdir(parents=True, exist_ok=True)
    paths = write_demo_county(county, folder)
    for kind, key in LAYER_FILES.items():
        import_layer(runtime, kind, Path(paths[key]), name=f"demo:{key}")


def _register_units(runtime: Runtime, units: list) -> None:  # type: ignore[type-arg]
    with runtime.store.write() as conn:
        for unit in units:
            units_repo.upsert_unit(conn, unit.unit_id, mode=unit.mode, name=f"演示 {unit.unit_id}",
                                   now_ms=runtime.now_ms())
            units_repo.add_device(conn, f"demo-{unit.unit_id}", unit.unit_id, key_hash=None,
                                  now_ms=runtime.now_ms())


def simulate_into(runtime: Runtime, *, days: float, seed: int = 7, county: DemoCounty | None = None,
                  only_units: list[str] | None = None) -> dict[str, int]:
    """Simulate ``days`` of patrols ending now for the demo units and ingest them."""
    county = county or build_demo_county(seed)
    units = [u for u in default_units(county) if not only_units or u.unit_id in only_units]
    _register_units(runtime, units)
    now = runtime.now_ms()
    fixes = simulate_patrols(county, units, start_ms=now - int(days * DAY_MS), days=days, seed=seed)
    fixes = fixes[fixes["time_ms"] <= now]
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    for start in range(0, len(fixes), CHUNK_FIXES):
        chunk = fixes.iloc[start:start + CHUNK_FIXES]
        outcome = ingest_fixes(runtime, chunk)
        totals["accepted"] += outcome.accepted
        totals["duplicates"] += outcome.duplicates
        totals["rejected"] += len(outcome.rejected)
    return totals


def _seed_reports(runtime: Runtime, county: DemoCounty, *, seed: int) -> int:
    """A day of demo sightings through the report service (placed, stored, alerted like real ones)."""
    rows = simulate_reports(county, start_ms=runtime.now_ms() - DAY_MS, days=1.0, seed=seed, rate_per_day=6)
    submitter = reports_service.Submitter("api", "partner", "演示渔业站", "演示渔业站", None)
    stored = 0
    for row in rows.itertuples(index=False):
        observed = datetime.fromtimestamp(int(row.observed_ms) / 1000, UTC).isoformat()
        body = {"category": row.category, "observed_at": observed, "datum": "wgs84",
                "location": {"type": "Point", "coordinates": [float(row.lon), float(row.lat)]},
                "details": {k: v for k, v in dict(row.details).items() if v is not None},
                "description": row.description, "reporter": {"name": "演示"}}
        try:
            reports_service.create_report(runtime, reports_service.parse_report(body), submitter=submitter,
                                          idempotency_key=f"demo-{seed}-{int(row.observed_ms)}")
            stored += 1
        except ReportProblem:
            continue  # a demo report the checks refuse (e.g. too close to the edge) is skipped
    return stored


def _demo_tokens(runtime: Runtime, squad_tokens: dict[str, str]) -> dict[str, str]:
    """Fresh demo tokens, also written to data/demo-tokens.txt (demo only: no default keys elsewhere)."""
    with runtime.store.write() as conn:
        tokens = {"commander": create_token(conn, role="commander", name="demo commander",
                                            now_ms=runtime.now_ms())}
    path = runtime.settings.resolve_path("data/demo-tokens.txt")
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"commander\t{tokens['commander']}\n", *(f"squad {k}\t{v}\n" for k, v in squad_tokens.items())]
    path.write_text("".join(lines), encoding="utf-8")
    return tokens


__all__ = ["seed_demo", "simulate_into"]
