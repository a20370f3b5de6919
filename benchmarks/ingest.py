"""End-to-end ingest throughput and placement against PostGIS, on simulated demo-county fixes.

    python benchmarks/ingest.py [N_FIXES]      (default 1,000,000)

1. end-to-end (parse CSV → clean → place → persist → coverage, all committed) on SQLite, then on
   PostgreSQL + PostGIS when ECOPATROL_TEST_PG_URL's server is reachable (database
   ``ecopatrol_bench_ingest``, recreated), in batches as ``ecopatrol tracks import`` does;
2. nearest-reach placement of the same fixes: ours (``Placer.place``: reach within the sweep width
   AND distance to the river, forest cell, township and zones) against PostGIS doing only the nearest
   reach (COPY the points, GiST index, ``ST_DWithin`` + ``<->`` nearest join), in the same run;
3. peak memory of this process (max RSS).

Targets on the 2-core machine: ≥ 100,000 fixes/s end-to-end on SQLite, placement ≥ 5× PostGIS,
peak memory < 1.5 GB.
"""

from __future__ import annotations

import io
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ecopatrol.config import load_settings  # noqa: E402
from ecopatrol.demo import _import_layers, _register_units  # noqa: E402
from ecopatrol.ingest import ingest_fixes  # noqa: E402
from ecopatrol.runtime import Runtime, build_runtime  # noqa: E402
from ecopatrol.store import fixes_repo  # noqa: E402
from geo.demo.county import build_demo_county  # noqa: E402
from geo.demo.simulate import benchmark_fixes, default_units  # noqa: E402
from geo.placement import to_metric  # noqa: E402
from geo.tracks import parse_csv  # noqa: E402

BATCH = 250_000
PG_URL = os.environ.get("ECOPATROL_TEST_PG_URL",
                        "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/ecopatrol_test")
BENCH_DB = "ecopatrol_bench_ingest"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    fixes = benchmark_fixes(n)
    now_ms = int(fixes["time_ms"].max()) + 60_000
    text = io.StringIO()
    fixes[["unit_id", "time_ms", "lon", "lat", "speed_mps"]].rename(columns={"time_ms": "time"}).to_csv(
        text, index=False)
    data = text.getvalue().encode()
    del text
    print(f"{n:,} simulated demo-county fixes, {len(data) / 1e6:.0f} MB of CSV, batches of {BATCH:,}")
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = _runtime(f"sqlite:///{Path(tmp) / 'bench.db'}", now_ms)
        rate = end_to_end("sqlite", sqlite, data, n)
        print(f"  target ≥ 100,000 fixes/s: {'met' if rate >= 100_000 else 'MISSED'}")
        pg_url = _fresh_pg_database()
        pg = _runtime(pg_url, now_ms) if pg_url else None
        if pg is not None:
            end_to_end("postgresql", pg, data, n)
        else:
            print("postgresql: not reachable, skipped")
        placement(sqlite, fixes, pg)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (process max RSS): {peak_mb:,.0f} MB (target < 1,500): "
          f"{'met' if peak_mb < 1500 else 'MISSED'}")


def _runtime(url: str, now_ms: int) -> Runtime:
    settings = load_settings(environ={"ECOPATROL_DATABASE_URL": url})
    runtime = build_runtime(settings, clock=lambda: now_ms)
    county = build_demo_county()
    _import_layers(runtime, county)
    _register_units(runtime, default_units(county))
    runtime.layer_index()
    return runtime


def end_to_end(name: str, runtime: Runtime, data: bytes, n: int) -> float:
    t0 = time.perf_counter()
    parsed = parse_csv(data, mode="vehicle")
    frame = parsed.fixes.assign(mode="")
    accepted = 0
    for start in range(0, len(frame), BATCH):
        accepted += ingest_fixes(runtime, frame.iloc[start:start + BATCH]).accepted
    elapsed = time.perf_counter() - t0
    with runtime.store.read() as conn:
        stored = fixes_repo.count_fixes(conn)
    rate = n / elapsed
    print(f"{name} end-to-end: {elapsed:.1f} s = {rate:,.0f} fixes/s "
          f"(accepted {accepted:,}, stored {stored:,})")
    return rate


def _fresh_pg_database() -> str | None:
    admin = sa.create_engine(sa.make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)"))
            conn.execute(sa.text(f"CREATE DATABASE {BENCH_DB}"))
    except sa.exc.OperationalError:
        return None
    finally:
        admin.dispose()
    return str(sa.make_url(PG_URL).set(database=BENCH_DB).render_as_string(hide_password=False))


def placement(runtime: Runtime, fixes: pd.DataFrame, pg: Runtime | None) -> None:
    settings = runtime.settings
    x, y = to_metric(fixes["lon"].to_numpy(), fixes["lat"].to_numpy(), settings.deployment.metric_crs)
    width = np.full(len(x), float(settings.ingest.sweep_width_m.vehicle))
    placer = runtime.layer_index().placer
    t0 = time.perf_counter()
    ours = placer.place(x, y, width)
    ours_s = time.perf_counter() - t0
    print(f"placement, ours: {ours_s:.2f} s for {len(x):,} fixes = {len(x) / ours_s:,.0f} fixes/s "
          f"(reach, distance to river, cell, township, zones)")
    if pg is None:
        return
    reaches = runtime.layer_index().layers.reaches
    postgis_s, theirs = _postgis_nearest(pg, reaches, x, y, float(width[0]))
    same = (ours["reach_id"].fillna("").to_numpy() == theirs).mean()
    print(f"placement, PostGIS (nearest reach only): {postgis_s:.2f} s = {len(x) / postgis_s:,.0f} fixes/s")
    print(f"  ours is {postgis_s / ours_s:.1f}× PostGIS (target ≥ 5×); same reach for {same:.2%} of fixes")


def _postgis_nearest(pg: Runtime, reaches: pd.DataFrame, x: np.ndarray, y: np.ndarray,
                     within_m: float) -> tuple[float, np.ndarray]:
    """COPY the points, index them and join each to its nearest reach within ``within_m``; seconds and
    the reach id per point ('' when none). The reaches' table and index are built before the clock."""
    srid = int(pg.settings.deployment.metric_crs.split(":")[1])
    raw = pg.store.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("DROP TABLE IF EXISTS bench_reaches, bench_points")
        cur.execute(f"CREATE TABLE bench_reaches (reach_id text, geom geometry(LineString, {srid}))")
        with cur.copy("COPY bench_reaches (reach_id, geom) FROM STDIN") as copy:
            for rid, geom in zip(reaches["reach_id"], reaches.geometry, strict=True):
                copy.write_row((rid, f"SRID={srid};{geom.wkt}"))
        cur.execute("CREATE INDEX ON bench_reaches USING gist (geom)")
        cur.execute("ANALYZE bench_reaches")
        raw.commit()
        t0 = time.perf_counter()
        cur.execute("CREATE TABLE bench_points (id int, x float8, y float8)")
        buf = io.StringIO()
        pd.DataFrame({"id": np.arange(len(x)), "x": x, "y": y}).to_csv(buf, sep="\t", header=False,
                                                                     index=False)
        with cur.copy("COPY bench_points (id, x, y) FROM STDIN") as copy:
            copy.write(buf.getvalue())
        cur.execute(f"ALTER TABLE bench_points ADD COLUMN geom geometry(Point, {srid})")
        cur.execute(f"UPDATE bench_points SET geom = ST_SetSRID(ST_MakePoint(x, y), {srid})")
        cur.execute("CREATE INDEX ON bench_points USING gist (geom)")
        cur.execute("ANALYZE bench_points")
        cur.execute(
            "SELECT p.id, n.reach_id FROM bench_points p LEFT JOIN LATERAL ("
            " SELECT r.reach_id FROM bench_reaches r WHERE ST_DWithin(r.geom, p.geom, %s)"
            " ORDER BY r.geom <-> p.geom LIMIT 1) n ON true", (within_m,))
        rows = cur.fetchall()
        elapsed = time.perf_counter() - t0
        raw.rollback()
    finally:
        raw.close()
    out = np.full(len(x), "", dtype=object)
    for point_id, reach_id in rows:
        out[point_id] = reach_id or ""
    return elapsed, out


if __name__ == "__main__":
    main()
