"""Commander review on both backends: exports read back with geopandas, statistics against a hand-built
scenario, the map and /review in a real headless Chromium with no network beyond loopback."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
import sqlalchemy as sa
import typer
from fastapi import FastAPI
from typer.testing import CliRunner

from ecopatrol import review_data as rd
from ecopatrol.cli_review import register
from ecopatrol.export_service import LAYERS, export
from ecopatrol.ingest import ingest_fixes
from ecopatrol.layer_import import import_layer
from ecopatrol.maps_service import build_coverage_map
from ecopatrol.runtime import Runtime
from ecopatrol.stats_service import review_stats
from ecopatrol.store import units_repo
from ecopatrol.store.schema import coverage, fixes, layer_features
from ecopatrol.store.tokens_repo import create_token
from geo.demo import build_demo_county, default_units, simulate_patrols, simulate_reports, write_demo_county
from geo.maps_offline import external_resources, external_urls
from geo.schema import fix_frame
from tests.conftest import LiveServer
from tests.ecopatrol.helpers_layers import RIVER_LAT, RIVER_LON0, load_small_county

MIN_MS = 60_000
HOUR_MS = 3_600_000
DEMO_UNITS = ("V01", "V02", "F01", "F02", "B01")
SQUADS = {"V": "一中队", "F": "二中队", "B": "三中队"}


# --- data -----------------------------------------------------------------------------------------------


def _insert_report(
    runtime: Runtime,
    *,
    category: str,
    status: str,
    lon: float,
    lat: float,
    created_ms: int,
    observed_ms: int | None = None,
    steps: dict[str, int] | None = None,
    township: str | None = None,
) -> int:
    from ecopatrol.store.reports_schema import report_events, reports

    with runtime.store.write() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar_one()
        report_id = conn.execute(
            sa.insert(reports).values(
                tracking_code=f"T{n + 1:07d}",
                category=category,
                observed_ms=observed_ms or created_ms,
                lon=lon,
                lat=lat,
                datum="wgs84",
                location_source="map",
                channel="partner",
                status=status,
                patrol_within_1km_24h=False,
                township=township,
                description="【演示】测试",
                created_ms=created_ms,
                updated_ms=created_ms,
            )
        ).inserted_primary_key[0]
        events = {"received": created_ms, **{k: created_ms + v for k, v in (steps or {}).items()}}
        conn.execute(
            sa.insert(report_events),
            [
                {"report_id": report_id, "status": s, "at_ms": at, "actor_role": "commander"}
                for s, at in events.items()
            ],
        )
    return int(report_id)


def _insert_alert(
    runtime: Runtime,
    alert_id: str,
    *,
    lon: float,
    lat: float,
    severity: str,
    state: str,
    created_ms: int,
    overdue: str | None = None,
    **times: int,
) -> None:
    from ecopatrol.store.alerts_schema import alerts

    with runtime.store.write() as conn:
        conn.execute(
            sa.insert(alerts).values(
                id=alert_id,
                fingerprint=f"fp-{alert_id}",
                rule="report",
                kind="report",
                severity=severity,
                state=state,
                labels={},
                evidence={},
                declined_squads=[],
                title_zh=f"警情 {alert_id}",
                title_en=f"Alert {alert_id}",
                lon=lon,
                lat=lat,
                created_ms=created_ms,
                updated_ms=created_ms,
                starts_ms=created_ms,
                overdue=overdue,
                **times,
            )
        )


def _register(runtime: Runtime, units: dict[str, tuple[str, str]]) -> None:
    with runtime.store.write() as conn:
        for unit_id, (mode, squad) in units.items():
            units_repo.upsert_unit(conn, unit_id, mode=mode, now_ms=runtime.now_ms())
            units_repo.set_unit_squad(conn, unit_id, squad)


@pytest.fixture
def demo(runtime: Runtime, tmp_path: Path) -> Runtime:
    """The synthetic demo county with one day of patrols of five units, reports and two open alerts."""
    county = build_demo_county(7)
    paths = write_demo_county(county, tmp_path / "layers")
    for kind in ("rivers", "forests", "townships", "zones"):
        import_layer(runtime, kind, Path(paths[kind]))
    units = [u for u in default_units(county) if u.unit_id in DEMO_UNITS]
    _register(runtime, {u.unit_id: (u.mode, SQUADS[u.unit_id[0]]) for u in units})
    now = runtime.now_ms()
    fixes_frame = simulate_patrols(county, units, start_ms=now - 24 * HOUR_MS, days=1.0)
    ingest_fixes(runtime, fixes_frame[fixes_frame["time_ms"] <= now])
    reports = simulate_reports(county, start_ms=now - 48 * HOUR_MS, days=2.0, rate_per_day=6)
    for i, r in enumerate(reports.itertuples(index=False)):
        _insert_report(
            runtime,
            category=r.category,
            status=("received", "triaged", "resolved")[i % 3],
            lon=r.lon,
            lat=r.lat,
            created_ms=int(r.observed_ms) + 5 * MIN_MS,
            observed_ms=int(r.observed_ms),
            steps={"triaged": 2 * MIN_MS} if i % 3 else None,
        )
    for i, r in enumerate(reports.head(2).itertuples(index=False)):
        _insert_alert(
            runtime,
            f"A{i}",
            lon=r.lon,
            lat=r.lat,
            severity=("critical", "high")[i],
            state="open",
            created_ms=now - (i + 1) * 20 * MIN_MS,
            overdue=("red", None)[i],
        )
    return runtime


# --- exports --------------------------------------------------------------------------------------------


def _count(runtime: Runtime, table: sa.Table | str, *where: object) -> int:
    t = table if isinstance(table, sa.Table) else sa.table(table)
    with runtime.store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t).where(*where)).scalar_one())


def _expected_tracks(runtime: Runtime) -> set[tuple[str, int]]:
    """(unit, local day) pairs with two usable fixes at most 10 minutes apart, straight from the table."""
    with runtime.store.read() as conn:
        rows = conn.execute(
            sa.select(fixes.c.unit_id, fixes.c.time_ms)
            .where(fixes.c.outlier.is_(False))
            .order_by(fixes.c.unit_id, fixes.c.time_ms)
        ).fetchall()
    f = pd.DataFrame(rows, columns=["unit_id", "time_ms"])
    local = pd.to_datetime(f["time_ms"] + 8 * HOUR_MS, unit="ms")
    f["day"] = local.dt.year * 10000 + local.dt.month * 100 + local.dt.day
    same = (f["unit_id"] == f["unit_id"].shift()) & (f["day"] == f["day"].shift())
    joined = same & (f["time_ms"].diff() <= runtime.settings.ingest.max_gap_s * 1000)
    return set(zip(f.loc[joined, "unit_id"], f.loc[joined, "day"].astype(int), strict=True))


def test_geopackage_reads_back_with_the_database_counts(demo: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "review.gpkg"
    summary = export(demo, "gpkg", path)
    layers = dict(pyogrio.list_layers(path))
    assert list(layers) == list(LAYERS)
    assert layers["fixes"] == "Point" and layers["tracks"] == "MultiLineString"
    read = {name: gpd.read_file(path, layer=name) for name in LAYERS}
    assert len(read["fixes"]) == _count(demo, fixes) > 1000
    assert len(read["reaches"]) == _count(demo, layer_features, layer_features.c.kind == "reach")
    assert len(read["cells"]) == _count(demo, layer_features, layer_features.c.kind == "cell")
    assert len(read["reports"]) == _count(demo, "reports") > 0
    assert len(read["alerts"]) == _count(demo, "alerts") == 2
    assert set(
        zip(
            read["tracks"]["unit_id"],
            read["tracks"]["day"].dt.tz_convert("Asia/Shanghai").dt.strftime("%Y%m%d").astype(int),
            strict=True,
        )
    ) == _expected_tracks(demo)
    assert summary.counts == {name: len(frame) for name, frame in read.items()}
    for name, column in (
        ("fixes", "time"),
        ("fixes", "received"),
        ("tracks", "start_time"),
        ("reaches", "last_visit"),
        ("cells", "last_visit"),
        ("reports", "observed"),
        ("alerts", "created"),
    ):
        assert isinstance(read[name][column].dtype, pd.DatetimeTZDtype), (name, column)
    assert read["fixes"]["outlier"].dtype == bool and read["reports"]["report_id"].dtype == "int64"
    with demo.store.read() as conn:
        passes = conn.execute(
            sa.select(sa.func.sum(coverage.c.passes)).where(coverage.c.kind == "reach")
        ).scalar()
    assert int(read["reaches"]["passes"].sum()) == int(passes) > 0
    visited = read["reaches"][read["reaches"]["status"] != "never"]
    assert visited["last_visit"].notna().all() and len(visited) > 0
    assert "reporter_phone" not in read["reports"].columns
    assert read["reaches"].crs.to_epsg() == 4326


@pytest.mark.parametrize("fmt", ["geojson", "csv"])
def test_geojson_and_csv_exports(demo: Runtime, tmp_path: Path, fmt: str) -> None:
    summary = export(demo, fmt, tmp_path / f"review-{fmt}.zip", "24h")  # type: ignore[arg-type]
    with zipfile.ZipFile(summary.path) as zf:
        names = set(zf.namelist())
        assert {f"{layer}.{fmt}" for layer in LAYERS} <= names
        zf.extractall(tmp_path / fmt)
    reaches = gpd.read_file(tmp_path / fmt / f"reaches.{fmt}")
    assert len(reaches) == summary.counts["reaches"]
    text = (tmp_path / fmt / f"reports.{fmt}").read_text(encoding="utf-8-sig")
    assert summary.counts["reports"] > 0 and "【演示】" in text
    folder = export(demo, fmt, tmp_path / f"folder-{fmt}", "24h").path  # type: ignore[arg-type]
    assert sorted(p.name for p in folder.iterdir() if p.suffix == f".{fmt}") == sorted(
        f"{n}.{fmt}" for n in LAYERS
    )


# --- statistics against a hand-built scenario -----------------------------------------------------------


def _walk(unit_id: str, lon: np.ndarray, lat: np.ndarray, start_ms: int, step_s: float) -> pd.DataFrame:
    return fix_frame(
        unit_id=np.full(len(lon), unit_id, dtype=object),
        time_ms=(start_ms + np.arange(len(lon)) * step_s * 1000).astype(np.int64),
        lon=lon,
        lat=lat,
        source="test",
    )


@pytest.fixture
def scenario(runtime: Runtime, tmp_path: Path) -> dict[str, object]:
    """A vehicle drives the western half of the river bank; a foot patrol crosses the forest; four reports
    and two alerts with known timings."""
    load_small_county(runtime, tmp_path / "county")
    _register(runtime, {"V1": ("vehicle", "SQA"), "F1": ("foot", "SQB")})
    now = runtime.now_ms()
    v_lon = np.linspace(RIVER_LON0, 120.725, 170)  # ≈ 15 m apart, 1.5 s at 10 m/s
    v_lat = np.full(len(v_lon), RIVER_LAT + 0.0003)
    f_lon = np.linspace(120.762, 120.778, 131)  # ≈ 12 m apart, 10 s at 1.2 m/s
    f_lat = np.full(len(f_lon), 28.82)
    walks = pd.concat(
        [
            _walk("V1", v_lon, v_lat, now - 2 * HOUR_MS, 1.5),
            _walk("F1", f_lon, f_lat, now - 5 * HOUR_MS, 10.0),
        ],
        ignore_index=True,
    )
    outcome = ingest_fixes(runtime, walks)
    assert outcome.accepted == len(walks)
    lon, lat = 120.71, 28.805
    _insert_report(
        runtime,
        category="snare",
        status="resolved",
        lon=lon,
        lat=lat,
        created_ms=now - 60 * MIN_MS,
        steps={
            "triaged": 2 * MIN_MS,
            "assigned": 4 * MIN_MS,
            "on_scene": 30 * MIN_MS,
            "resolved": 50 * MIN_MS,
        },
    )
    _insert_report(
        runtime,
        category="illegal_fishing",
        status="assigned",
        lon=lon,
        lat=lat,
        created_ms=now - 30 * MIN_MS,
        steps={"triaged": 4 * MIN_MS, "assigned": 6 * MIN_MS},
    )
    late = _insert_report(
        runtime, category="firearm", status="received", lon=120.77, lat=28.82, created_ms=now - 10 * MIN_MS
    )
    slow = _insert_report(
        runtime,
        category="electrofishing",
        status="triaged",
        lon=lon,
        lat=lat,
        created_ms=now - 6 * MIN_MS,
        steps={"triaged": 1 * MIN_MS},
    )
    _insert_alert(
        runtime,
        "A-open",
        lon=lon,
        lat=lat,
        severity="high",
        state="open",
        created_ms=now - 20 * MIN_MS,
        overdue="red",
    )
    _insert_alert(
        runtime,
        "A-done",
        lon=lon,
        lat=lat,
        severity="medium",
        state="resolved",
        created_ms=now - 3 * HOUR_MS,
        acked_ms=now - 3 * HOUR_MS + 2 * MIN_MS,
        on_scene_ms=now - 3 * HOUR_MS + 25 * MIN_MS,
        resolved_ms=now - 3 * HOUR_MS + 90 * MIN_MS,
    )
    return {"walks": walks, "late": late, "slow": slow}


def _metric_line(frame: pd.DataFrame, crs: str) -> shapely.LineString:
    pts = gpd.GeoSeries(shapely.points(frame["lon"], frame["lat"]), crs=4326).to_crs(crs)
    return shapely.LineString(np.column_stack([pts.x, pts.y]))


def test_stats_match_the_hand_built_scenario(runtime: Runtime, scenario: dict[str, object]) -> None:
    layers = runtime.layer_index().layers
    walks = scenario["walks"]
    assert isinstance(walks, pd.DataFrame)
    drive = _metric_line(walks[walks["unit_id"] == "V1"], layers.metric_crs)
    walk = _metric_line(walks[walks["unit_id"] == "F1"], layers.metric_crs)
    sweep_m = runtime.settings.ingest.sweep_width_m
    near = layers.reaches.distance(drive) <= sweep_m.vehicle
    touched = layers.cells.intersects(walk)
    river_km, forest_km2 = layers.reaches["length_m"].sum() / 1000, layers.cells["area_m2"].sum() / 1e6
    covered_km = layers.reaches.loc[near, "length_m"].sum() / 1000
    covered_km2 = layers.cells.loc[touched, "area_m2"].sum() / 1e6
    assert 0 < near.sum() < len(layers.reaches) and 0 < touched.sum() < len(layers.cells)

    s = review_stats(runtime, "24h")
    cov = s["coverage"]
    assert cov["river"]["total_km"] == pytest.approx(river_km, abs=0.01)
    assert cov["river"]["covered_km"] == pytest.approx(covered_km, abs=0.01)
    assert cov["river"]["covered_pct"] == pytest.approx(100 * covered_km / river_km, abs=0.1)
    assert cov["forest"]["covered_km2"] == pytest.approx(covered_km2, abs=0.01)
    assert cov["forest"]["covered_pct"] == pytest.approx(100 * covered_km2 / forest_km2, abs=0.1)
    assert cov["by_mode"]["vehicle"]["forest"]["covered_km2"] == 0
    assert cov["by_mode"]["foot"]["river"]["covered_km"] == 0
    assert cov["by_squad"]["SQA"]["river"]["covered_km"] == pytest.approx(covered_km, abs=0.01)
    assert cov["by_squad"]["SQB"]["forest"]["covered_km2"] == pytest.approx(covered_km2, abs=0.01)
    west = (
        layers.reaches.representative_point().x
        < gpd.GeoSeries([shapely.Point(120.74, RIVER_LAT)], crs=4326).to_crs(layers.metric_crs).x[0]
    )
    west_km = layers.reaches.loc[west, "length_m"].sum() / 1000
    assert cov["by_township"]["西乡"]["river"]["covered_pct"] == pytest.approx(
        100 * layers.reaches.loc[west & near, "length_m"].sum() / 1000 / west_km, abs=0.1
    )
    assert cov["by_township"]["东乡"]["river"]["covered_km"] == 0

    effort = s["effort"]
    assert effort["by_mode"]["vehicle"]["km"] == pytest.approx(drive.length / 1000, abs=0.05)
    assert effort["by_mode"]["foot"]["km"] == pytest.approx(walk.length / 1000, abs=0.05)
    assert effort["by_mode"]["vehicle"]["hours"] == pytest.approx(169 * 1.5 / 3600, abs=0.05)
    assert effort["by_squad"]["SQB"]["hours"] == pytest.approx(130 * 10 / 3600, abs=0.05)
    assert [u["unit_id"] for u in effort["by_unit"]] == ["F1", "V1"]

    reports = s["reports"]
    assert reports["total"] == 4 and reports["open"] == 3
    assert reports["by_category"] == {"electrofishing": 1, "firearm": 1, "illegal_fishing": 1, "snare": 1}
    assert reports["by_status"] == {"assigned": 1, "received": 1, "resolved": 1, "triaged": 1}

    triage, assign = s["response"]["reports"]["triage"], s["response"]["reports"]["assign"]
    assert (triage["n"], triage["p50_min"], triage["p90_min"], triage["waiting"]) == (3, 2.0, 3.6, 1)
    assert triage["target_min"] == 3 and triage["within_target_pct"] == pytest.approx(66.7)
    assert (assign["n"], assign["p50_min"], assign["p90_min"], assign["waiting"]) == (2, 5.0, 5.8, 2)
    assert assign["within_target_pct"] == 50.0 and assign["p90_meets_target"] is False
    alerts = s["response"]["alerts"]
    assert (alerts["ack"]["p50_min"], alerts["on_scene"]["p50_min"], alerts["resolve"]["p90_min"]) == (
        2.0,
        25.0,
        90.0,
    )
    assert alerts["ack"]["waiting"] == 1

    overdue = [(o["kind"], o["id"], o["level"]) for o in s["overdue"]]
    assert overdue == [
        ("alert", "A-open", "red"),
        ("report", str(scenario["late"]), "red"),
        ("report", str(scenario["slow"]), "yellow"),
    ]

    reaches = s["most_overdue"]["reaches"]
    assert s["most_overdue"]["never_reaches"] == int((~near).sum())
    assert reaches[0]["hours_since"] is None and reaches[0]["last_visit"] is None

    only_vehicle = review_stats(runtime, "24h", mode="vehicle")
    assert only_vehicle["coverage"]["forest"]["covered_km2"] == 0
    assert only_vehicle["effort"]["km"] == pytest.approx(drive.length / 1000, abs=0.05)
    east = review_stats(runtime, "24h", township="东乡")
    assert (
        east["coverage"]["river"]["covered_km"] == 0 and east["reports"]["total"] == 1
    )  # the firearm report
    assert review_stats(runtime, "24h", squad="SQB")["coverage"]["river"]["covered_km"] == 0


def test_missing_alert_tables_give_no_alerts() -> None:
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        assert rd.load_alerts(conn, open_only=True).empty
        assert rd.load_reports(conn).empty and rd.squad_names(conn) == {}


# --- HTTP: auth, stats, exports, review -----------------------------------------------------------------


def _app(runtime: Runtime) -> FastAPI:
    """``create_app`` plus the review routers and /static (unless the app already has them)."""
    from ecopatrol.api.app import create_app
    from ecopatrol.api.routes import exports, maps, review, stats
    from ecopatrol.api.routes.pages_reports import mount_static

    app = create_app(runtime)
    paths = {getattr(r, "path", None) for r in app.routes}
    for module in (maps, review, stats, exports):
        if not {getattr(r, "path", None) for r in module.router.routes} & paths:
            app.include_router(module.router)
    if "/static" not in paths:
        mount_static(app)
    return app


@contextmanager
def _serve(runtime: Runtime) -> Iterator[str]:
    server = LiveServer(runtime)
    server.server.config.app = _app(runtime)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def _token(runtime: Runtime, role: str = "commander") -> str:
    with runtime.store.write() as conn:
        return create_token(conn, role=role, name=f"test {role}", now_ms=runtime.now_ms())


def test_http_auth_stats_map_and_exports(
    runtime: Runtime, scenario: dict[str, object], tmp_path: Path
) -> None:
    commander, squad = _token(runtime), _token(runtime, "squad")
    with _serve(runtime) as base, httpx.Client(base_url=base, timeout=60) as client:
        assert client.get("/api/v1/stats").status_code == 401
        assert client.get("/maps/coverage").status_code == 401
        assert client.get("/api/v1/stats", headers={"Authorization": f"Bearer {squad}"}).status_code == 403
        stats = client.get("/api/v1/stats?since=24h", headers={"Authorization": f"Bearer {commander}"})
        assert stats.status_code == 200 and stats.json()["reports"]["total"] == 4
        assert (
            client.get(
                "/api/v1/stats?since=soon", headers={"Authorization": f"Bearer {commander}"}
            ).status_code
            == 422
        )
        page = client.get(f"/maps/coverage?since=24h&token={commander}")  # a link handed out; sets the cookie
        assert page.status_code == 200 and page.cookies.get("access_token") == commander
        assert external_urls(page.text) == [] and "/static/vendor/leaflet/leaflet.js" in page.text
        assert client.get("/api/v1/stats").status_code == 200  # now by cookie
        gpkg = client.get("/api/v1/exports/gpkg?since=24h")
        assert gpkg.status_code == 200 and "attachment" in gpkg.headers["content-disposition"]
        (tmp_path / "download.gpkg").write_bytes(gpkg.content)
        assert len(gpd.read_file(tmp_path / "download.gpkg", layer="reports")) == 4
        zipped = client.get("/api/v1/exports/csv?since=24h")
        assert zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()
        review = client.get("/review?since=24h")
        assert review.status_code == 200 and "巡护复盘" in review.text and "<svg" in review.text
        assert external_urls(review.text) == []
    with _serve(runtime) as base, httpx.Client(base_url=base, timeout=60, follow_redirects=False) as client:
        login = client.get("/review")
        assert login.status_code == 401 and 'action="/review/login"' in login.text
        assert client.post("/review/login", data={"token": "wrong"}).status_code == 401
        signed = client.post("/review/login", data={"token": commander})
        assert signed.status_code == 303 and client.cookies.get("access_token") == commander
        assert client.get("/review?lang=en").status_code == 200


# --- the real browser -----------------------------------------------------------------------------------


def _block_outside(page: object, blocked: list[str]) -> None:
    def route(r: object) -> None:
        url = r.request.url  # type: ignore[attr-defined]
        if url.startswith(("http://127.0.0.1", "data:", "file:")):
            r.continue_()  # type: ignore[attr-defined]
        else:
            blocked.append(url)
            r.abort()  # type: ignore[attr-defined]

    page.context.route("**/*", route)  # type: ignore[attr-defined]


def _map_state(frame: object) -> dict:
    return frame.evaluate("""() => ({
        leaflet: typeof window.L === 'object' && !!window.L.version,
        reaches: document.querySelectorAll('path.ep-reach').length,
        cells: document.querySelectorAll('path.ep-cell').length,
        tracks: document.querySelectorAll('path.ep-track').length,
        interactive: document.querySelectorAll('.leaflet-interactive').length,
        legend: document.querySelector('.ep-legend').innerText,
        counts: window.ecopatrolMapCounts})""")  # type: ignore[attr-defined]


@pytest.mark.browser
def test_review_and_map_in_headless_chromium(demo: Runtime, page: object, tmp_path: Path) -> None:
    commander = _token(demo)
    blocked: list[str] = []
    _block_outside(page, blocked)
    page.set_viewport_size({"width": 1600, "height": 1000})  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))  # type: ignore[attr-defined]
    ready = (
        "() => { const f = document.getElementById('rv-map'); return !!(f && f.contentWindow && "
        "f.contentWindow.ecopatrolMapReady); }"
    )
    with _serve(demo) as base:
        page.goto(f"{base}/review?since=24h&token={commander}")  # type: ignore[attr-defined]
        assert "token=" not in page.url  # type: ignore[attr-defined]
        page.wait_for_function(ready, timeout=60_000)  # type: ignore[attr-defined]
        frame = page.frame(name=None, url=re.compile(r".*/maps/coverage.*"))  # type: ignore[attr-defined]
        state = _map_state(frame)
        n_reaches = _count(demo, layer_features, layer_features.c.kind == "reach")
        assert state["leaflet"] is True
        assert state["reaches"] == n_reaches == state["counts"]["reach"]
        assert state["cells"] == state["counts"]["cell"] > 1000
        assert state["tracks"] > 0 and state["interactive"] >= state["reaches"] + state["cells"]
        assert "河段巡护时效" in state["legend"] and "River reaches" not in state["legend"]
        page.screenshot(path="/tmp/ecopatrol-review.png")  # type: ignore[attr-defined]

        page.select_option("select[name=township]", "演示北山镇")  # type: ignore[attr-defined]
        page.wait_for_url(re.compile(r".*township=.*"))  # type: ignore[attr-defined]
        page.wait_for_function(ready, timeout=60_000)  # type: ignore[attr-defined]
        frame = page.frame(name=None, url=re.compile(r".*/maps/coverage.*township=.*"))  # type: ignore[attr-defined]
        filtered = _map_state(frame)
        assert 0 < filtered["reaches"] < state["reaches"] and filtered["cells"] < state["cells"]
        page.screenshot(path="/tmp/ecopatrol-review-township.png")  # type: ignore[attr-defined]

        page.click("a.rv-lang")  # the page's English switch carries the language into the map
        page.wait_for_url(re.compile(r".*lang=en.*"))  # type: ignore[attr-defined]
        page.wait_for_function(ready, timeout=60_000)  # type: ignore[attr-defined]
        frame = page.frame(name=None, url=re.compile(r".*/maps/coverage.*lang=en.*"))  # type: ignore[attr-defined]
        assert "River reaches" in _map_state(frame)["legend"]
        assert "Patrol review" in page.inner_text("h1")  # type: ignore[attr-defined]
    assert blocked == [] and errors == []


@pytest.mark.browser
def test_standalone_map_file_opens_from_disk(demo: Runtime, page: object, tmp_path: Path) -> None:
    url = demo.store.engine.url.render_as_string(hide_password=False)
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    app = typer.Typer()
    register(app)
    out = tmp_path / "map.html"
    since = pd.Timestamp(
        demo.now_ms() - 24 * HOUR_MS, unit="ms", tz="UTC"
    ).isoformat()  # the CLI's clock is real
    result = CliRunner().invoke(
        app, ["map", "--since", since, "-o", str(out), "--squad", "二中队", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert external_resources(html) == [] and "<script src=" not in html
    blocked: list[str] = []
    _block_outside(page, blocked)
    page.goto(out.as_uri())  # type: ignore[attr-defined]
    page.wait_for_function("window.ecopatrolMapReady === true", timeout=60_000)  # type: ignore[attr-defined]
    state = _map_state(page)
    assert state["leaflet"] and state["reaches"] > 0 and state["cells"] > 0
    assert "林区网格巡护时长" in state["legend"]
    page.click(".ep-switch")  # type: ignore[attr-defined]
    assert "Forest cells" in page.inner_text(".ep-legend")  # type: ignore[attr-defined]
    page.screenshot(path="/tmp/ecopatrol-map-standalone.png")  # type: ignore[attr-defined]
    assert set(json.loads(json.dumps(state["counts"]))) >= {"reach", "cell", "track", "report"}
    assert blocked == []
    gpkg = tmp_path / "cli.gpkg"
    result = CliRunner().invoke(app, ["export", "--format", "gpkg", "-o", str(gpkg), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert len(gpd.read_file(gpkg, layer="alerts")) == 2


def test_map_filters_change_what_is_drawn(demo: Runtime) -> None:
    full = build_coverage_map(demo, "24h")
    only_boat = build_coverage_map(demo, "24h", mode="boat")
    township = build_coverage_map(demo, "24h", township="演示北山镇")

    def count(page: str, kind: str) -> int:
        match = re.search(r'EP\.layer\("' + kind + r'", (\{.*?\})\);', page)
        return len(json.loads(match.group(1))["g"]) if match else 0

    assert count(full, "track") > count(only_boat, "track") > 0
    assert count(township, "reach") < count(full, "reach")
    assert external_urls(full) == []
