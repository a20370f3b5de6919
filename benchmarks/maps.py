"""Coverage map benchmark: build time and page size for 7 and 30 days of demo patrols, and the time a
headless Chromium (no network) takes to draw the page.

    python3 benchmarks/maps.py                    # seeds 30 days of the demo county into a temp SQLite file
    python3 benchmarks/maps.py --db /tmp/bench.db # reuse (or create) that file
    python3 benchmarks/maps.py --database-url postgresql+psycopg://postgres:postgres@127.0.0.1/bench

Target: the 30-day page under 5 MB. Figures are printed as a table (and as JSON with --json).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecopatrol.config import load_settings  # noqa: E402
from ecopatrol.ingest import ingest_fixes  # noqa: E402
from ecopatrol.layer_import import import_layer  # noqa: E402
from ecopatrol.maps_service import build_coverage_map  # noqa: E402
from ecopatrol.runtime import Runtime  # noqa: E402
from ecopatrol.store import open_store, units_repo  # noqa: E402
from ecopatrol.store.schema import fixes  # noqa: E402
from geo.demo import (  # noqa: E402
    build_demo_county,
    default_units,
    simulate_patrols,
    simulate_reports,
    write_demo_county,
)

NOW_MS = 1_763_600_000_000  # a fixed "now", so runs compare
DAY_MS = 86_400_000
CHUNK = 100_000
CHROMIUM = "/usr/bin/chromium"


def main() -> None:
    args = _args()
    url = args.database_url or f"sqlite:///{args.db or Path(tempfile.mkdtemp()) / 'bench.db'}"
    runtime = _runtime(url)
    seeded = _seed(runtime, days=args.days)
    runtime.layer_index()  # built once per process, like a running server
    rows = []
    for window in args.windows:
        for assets in ("link", "inline"):
            start = time.perf_counter()
            page = build_coverage_map(runtime, window, assets=assets)  # type: ignore[arg-type]
            build_s = time.perf_counter() - start
            row = {
                "window": window,
                "assets": assets,
                "build_s": round(build_s, 2),
                "bytes": len(page.encode()),
            }
            if assets == "inline" and not args.no_browser:
                row.update(_draw(page))
            rows.append(row)
    _report(rows, seeded, args.json)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, help="SQLite file to seed or reuse")
    parser.add_argument("--database-url", help="any database URL instead (PostgreSQL …)")
    parser.add_argument("--days", type=float, default=30.0, help="days of patrols to seed")
    parser.add_argument("--windows", nargs="+", default=["7d", "30d"])
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium drawing time")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    return parser.parse_args()


def _runtime(url: str) -> Runtime:
    settings = load_settings(
        environ={"ECOPATROL_CONFIG": str(ROOT / "config.toml"), "ECOPATROL_DATABASE_URL": url}
    )
    return Runtime(settings=settings, store=open_store(settings.database_url), clock=lambda: NOW_MS)


def _seed(runtime: Runtime, *, days: float) -> dict[str, object]:
    """The demo county, its 15 units in three squads, ``days`` of patrols and reports (once per database)."""
    from sqlalchemy import func, select

    with runtime.store.read() as conn:
        stored = int(conn.execute(select(func.count()).select_from(fixes)).scalar_one())
    if stored:
        return {"fixes": stored, "seeded_s": 0.0}
    start = time.perf_counter()
    county = build_demo_county(7)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_demo_county(county, Path(tmp))
        for kind in ("rivers", "forests", "townships", "zones"):
            import_layer(runtime, kind, Path(paths[kind]))
    units = default_units(county)
    with runtime.store.write() as conn:
        for unit in units:
            units_repo.upsert_unit(conn, unit.unit_id, mode=unit.mode, now_ms=NOW_MS)
            units_repo.set_unit_squad(
                conn, unit.unit_id, {"V": "一中队", "F": "二中队", "B": "三中队"}[unit.unit_id[0]]
            )
    frame = simulate_patrols(county, units, start_ms=NOW_MS - int(days * DAY_MS), days=days)
    frame = frame[frame["time_ms"] <= NOW_MS].sort_values("time_ms", kind="stable")
    for i in range(0, len(frame), CHUNK):
        ingest_fixes(runtime, frame.iloc[i : i + CHUNK])
        print(f"  ingested {min(i + CHUNK, len(frame))}/{len(frame)} fixes", file=sys.stderr)
    _reports(runtime, county, days)
    return {"fixes": len(frame), "seeded_s": round(time.perf_counter() - start, 1)}


def _reports(runtime: Runtime, county: object, days: float) -> None:
    import sqlalchemy as sa

    from ecopatrol.store.reports_schema import reports

    frame = simulate_reports(county, start_ms=NOW_MS - int(days * DAY_MS), days=days)  # type: ignore[arg-type]
    rows = [
        {
            "tracking_code": f"B{i:07d}",
            "category": r.category,
            "observed_ms": int(r.observed_ms),
            "lon": r.lon,
            "lat": r.lat,
            "datum": "wgs84",
            "location_source": "map",
            "channel": "partner",
            "status": "resolved",
            "patrol_within_1km_24h": False,
            "description": r.description,
            "created_ms": int(r.observed_ms),
            "updated_ms": int(r.observed_ms),
        }
        for i, r in enumerate(frame.itertuples(index=False))
    ]
    if rows:
        with runtime.store.write() as conn:
            conn.execute(sa.insert(reports), rows)


def _draw(page: str) -> dict[str, object]:
    """Open the standalone page in headless Chromium with every request outside file: refused; the time
    until the map says it is drawn (``window.ecopatrolMapReady``) and the SVG paths then on the page."""
    if not Path(CHROMIUM).exists():
        return {"draw_s": None}
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        path = Path(tmp) / "map.html"
        path.write_text(page, encoding="utf-8")
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        tab = browser.new_page(viewport={"width": 1400, "height": 900})
        blocked: list[str] = []
        tab.route(
            "**/*",
            lambda r: (
                r.continue_()
                if r.request.url.startswith(("file:", "data:"))
                else (blocked.append(r.request.url), r.abort())
            ),
        )
        start = time.perf_counter()
        tab.goto(path.as_uri(), wait_until="commit")
        tab.wait_for_function("window.ecopatrolMapReady === true", timeout=120_000)
        ready_s = time.perf_counter() - start
        tab.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        painted_s = time.perf_counter() - start
        paths = tab.evaluate("document.querySelectorAll('path.leaflet-interactive').length")
        browser.close()
    return {
        "ready_s": round(ready_s, 2),
        "painted_s": round(painted_s, 2),
        "svg_paths": paths,
        "blocked_requests": len(blocked),
    }


def _report(rows: list[dict[str, object]], seeded: dict[str, object], as_json: bool) -> None:
    print(f"demo county, {seeded['fixes']} fixes stored (seeded in {seeded['seeded_s']} s)")
    head = ("window", "assets", "build s", "page MB", "ready s", "painted s", "paths")
    print(" ".join(f"{h:>9}" for h in head))
    for r in rows:
        cells = (
            r["window"],
            r["assets"],
            r["build_s"],
            f"{r['bytes'] / 1e6:.2f}",
            r.get("ready_s"),
            r.get("painted_s"),
            r.get("svg_paths"),
        )
        print(" ".join(f"{'' if c is None else c:>9}" for c in cells))
    worst = max((r["bytes"] for r in rows if str(r["window"]) == "30d"), default=0)
    if worst:
        print(f"30-day page: {worst / 1e6:.2f} MB ({'under' if worst < 5e6 else 'OVER'} the 5 MB target)")
    if as_json:
        print(json.dumps({"seeded": seeded, "rows": rows}, ensure_ascii=False))


if __name__ == "__main__":
    main()
