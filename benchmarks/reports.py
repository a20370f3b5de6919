"""Report latency under load: the real app (uvicorn on 127.0.0.1, one process) with the demo county's
layers and a day of simulated patrols, fed reports at a fixed rate (default 50/s for 20 s, 1 in 5 with a
photo) by an open-loop client. Each sample is "stored, placed and visible on its tracking page":
from the report's scheduled send time until ``GET /r/{code}`` has answered with its status, so a
server that falls behind is charged for the queue. Runs on SQLite, then on PostgreSQL when
ECOPATROL_TEST_PG_URL's server is reachable (database ``ecopatrol_bench``, recreated).

    python benchmarks/reports.py [RATE_PER_S] [DURATION_S]
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import numpy as np
import sqlalchemy as sa
from _server import wait_healthy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ecopatrol.config import load_settings  # noqa: E402
from ecopatrol.runtime import build_runtime  # noqa: E402

PG_URL = os.environ.get(
    "ECOPATROL_TEST_PG_URL", "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/ecopatrol_test"
)
TARGET_P99_MS = 200.0
PHOTO_SHARE = 0.2
MAX_IN_FLIGHT = 64


@dataclass
class Outcome:
    latencies_ms: list[float] = field(default_factory=list)
    sent_at_s: list[float] = field(default_factory=list)
    service_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# the server, in its own process


def serve(database_url: str, port: int) -> None:
    """Child process: the application as ``ecopatrol serve`` would run it, plus the report routes."""
    import uvicorn

    from ecopatrol.api.app import create_app
    from ecopatrol.api.routes import layers, pages_reports, reports
    from ecopatrol.ingest import warm_up
    from ecopatrol.reports.context import place_point
    from ecopatrol.server import settle_heap, tune_interpreter

    tune_interpreter()
    settings = load_settings(environ={**os.environ, "ECOPATROL_DATABASE_URL": database_url})
    runtime = build_runtime(settings)
    warm_up(runtime)
    app = create_app(runtime)
    if "/api/v1/reports" not in {getattr(r, "path", None) for r in app.routes}:
        for module in (reports, layers, pages_reports):
            app.include_router(module.router)
        pages_reports.mount_static(app)
    index = runtime.layer_index()
    b = index.bounds_lonlat
    place_point(index, (b[0] + b[2]) / 2, (b[1] + b[3]) / 2)  # the placer builds its indexes lazily
    settle_heap()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def seed(database_url: str, folder: Path) -> tuple[str, tuple[float, float, float, float]]:
    """Demo layers and a day of simulated patrols; a partner token. Returns (token, layer bounds)."""
    from ecopatrol.layer_import import import_layer
    from ecopatrol.store.tokens_repo import create_token
    from geo.demo.county import build_demo_county, write_demo_county

    settings = load_settings(environ={**os.environ, "ECOPATROL_DATABASE_URL": database_url})
    runtime = build_runtime(settings)
    county = build_demo_county()
    paths = write_demo_county(county, folder)
    for kind in ("rivers", "forests", "townships", "zones"):
        import_layer(runtime, kind, Path(paths[kind]), name=f"bench:{kind}")
    try:
        from ecopatrol.demo import simulate_into

        fixes = simulate_into(runtime, days=1.0, county=county)["accepted"]
        print(f"  seeded {fixes:,} simulated patrol fixes")
    except ImportError as exc:  # the ingest pipeline is not importable in this checkout
        print(f"  no simulated patrols ({exc})")
    with runtime.store.write() as conn:
        token = create_token(conn, role="partner", name="bench", org="bench", now_ms=runtime.now_ms())
    bounds = runtime.layer_index().bounds_lonlat
    runtime.close()
    return token, bounds


def start_server(database_url: str) -> tuple[subprocess.Popen, str]:  # type: ignore[type-arg]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, __file__, "--serve", database_url, str(port)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(proc, url)
    return proc, url


# ------------------------------------------------------------------------------------------------
# the load


def _photo() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    pixels = np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


def _report(rng: random.Random, bounds: tuple[float, float, float, float]) -> dict[str, object]:
    min_lon, min_lat, max_lon, max_lat = bounds
    observed = datetime.now(UTC) - timedelta(minutes=rng.uniform(1, 180))
    category, details = rng.choice(
        [
            (
                "firearm",
                {"shots_heard": rng.randint(1, 5), "bearing_deg": rng.uniform(0, 360), "weapon_seen": False},
            ),
            ("illegal_fishing", {"method": rng.choice(["net", "rod", "other"]), "boat": rng.random() < 0.5}),
            ("electrofishing", {"boat": True}),
            ("poisoning", {"dead_fish_seen": True, "estimated_kg": rng.uniform(1, 50)}),
            ("snare", {"snares_count": rng.randint(1, 20)}),
        ]
    )
    return {
        "category": category,
        "observed_at": observed.isoformat(),
        "datum": "wgs84",
        "location": {
            "type": "Point",
            "coordinates": [rng.uniform(min_lon, max_lon), rng.uniform(min_lat, max_lat)],
        },
        "details": details,
        "description": "benchmark report",
        "reporter": {"name": "bench"},
    }


async def _one(
    client: aiohttp.ClientSession,
    token: str,
    body: dict[str, object],
    photo: bytes | None,
    scheduled: float,
    outcome: Outcome,
) -> None:
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {token}"}
    try:
        if photo is None:
            request = client.post("/api/v1/reports", json=body, headers=headers)
        else:
            form = aiohttp.FormData()
            form.add_field("report", json.dumps(body))
            form.add_field("photos", photo, filename="p.jpg", content_type="image/jpeg")
            request = client.post("/api/v1/reports", data=form, headers=headers)
        async with request as response:
            text = await response.text()
            if response.status != 201:
                raise RuntimeError(f"POST {response.status}: {text[:200]}")
        code = json.loads(text)["tracking_code"]
        async with client.get(f"/r/{code}", headers={"Accept": "application/json"}) as status:
            got = await status.json() if status.status == 200 else {}
            # visible with its status; alerting may already have moved it past "received"
            if status.status != 200 or got.get("tracking_code") != code or not got.get("status"):
                raise RuntimeError(f"GET /r/ {status.status}: {str(got)[:200]}")
    except Exception as exc:  # every failure is counted and shown, none stops the run
        outcome.errors.append(str(exc) or type(exc).__name__)
        return
    done = time.perf_counter()
    outcome.latencies_ms.append((done - scheduled) * 1000)
    outcome.sent_at_s.append(scheduled)
    outcome.service_ms.append((done - started) * 1000)


def drive(
    url: str, token: str, bounds: tuple[float, float, float, float], *, rate_per_s: float, duration_s: float
) -> tuple[Outcome, float]:
    """Send ``rate_per_s`` reports a second for ``duration_s`` seconds (open loop), wait for all
    (each request has a 30 s timeout, so the wait is bounded)."""
    rng = random.Random(7)
    photo = _photo()
    outcome = Outcome()
    n = int(rate_per_s * duration_s)
    bodies = [(_report(rng, bounds), photo if rng.random() < PHOTO_SHARE else None) for _ in range(n)]

    async def run() -> float:
        connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
        async with aiohttp.ClientSession(url, connector=connector,
                                         timeout=aiohttp.ClientTimeout(total=30)) as client:
            for _ in range(5):  # warm-up: the layer index and connection pools
                await _one(client, token, *bodies[0], time.perf_counter(), Outcome())
            t0 = time.perf_counter()
            tasks = []
            for i, (body, with_photo) in enumerate(bodies):
                scheduled = t0 + i / rate_per_s
                await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
                tasks.append(asyncio.create_task(_one(client, token, body, with_photo, scheduled, outcome)))
            await asyncio.gather(*tasks)
            return time.perf_counter() - t0

    elapsed = asyncio.run(run())
    return outcome, elapsed


def report(backend: str, outcome: Outcome, elapsed: float, n: int) -> None:
    lat = np.array(outcome.latencies_ms) if outcome.latencies_ms else np.array([np.nan])
    svc = np.array(outcome.service_ms) if outcome.service_ms else np.array([np.nan])
    p50, p95, p99 = np.percentile(lat, [50, 95, 99])
    verdict = "OK" if p99 <= TARGET_P99_MS and not outcome.errors else "OVER TARGET"
    print(
        f"{backend:<11} sent {n}  ok {len(outcome.latencies_ms)}  errors {len(outcome.errors)}  "
        f"in {elapsed:.1f} s ({len(outcome.latencies_ms) / elapsed:.1f}/s)"
    )
    print(
        f"{'':<11} stored+placed+visible ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  "
        f"max {np.nanmax(lat):.1f}   (target p99 ≤ {TARGET_P99_MS:.0f}: {verdict})"
    )
    print(
        f"{'':<11} server time only (POST + GET) ms: p50 {np.percentile(svc, 50):.1f}  "
        f"p99 {np.percentile(svc, 99):.1f}"
    )
    if outcome.sent_at_s:
        start = min(outcome.sent_at_s)
        slots = np.floor((np.array(outcome.sent_at_s) - start) / 2).astype(int)
        worst = [float(np.max(lat[slots == k])) for k in range(int(slots.max()) + 1) if (slots == k).any()]
        print(f"{'':<11} worst ms per 2 s of sending: {' '.join(f'{w:.0f}' for w in worst)}")
    for error in sorted(set(outcome.errors))[:5]:
        print(f"{'':<11} error: {error}")


def run(backend: str, database_url: str, folder: Path, *, rate_per_s: float, duration_s: float) -> None:
    print(f"{backend}: seeding {database_url.split('@')[-1]}")
    token, bounds = seed(database_url, folder)
    proc, url = start_server(database_url)
    try:
        cpu_before = _cpu_s(proc.pid)
        outcome, elapsed = drive(url, token, bounds, rate_per_s=rate_per_s, duration_s=duration_s)
        cpu_s = _cpu_s(proc.pid) - cpu_before
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    report(backend, outcome, elapsed, int(rate_per_s * duration_s))
    done = max(len(outcome.latencies_ms), 1)
    print(
        f"{'':<11} server CPU: {cpu_s * 1000 / done:.1f} ms per report (POST + GET), "
        f"{cpu_s / elapsed:.0%} of one core; machine load average {os.getloadavg()[0]:.1f}"
    )


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _fresh_pg_database(url: str) -> str | None:
    """``ecopatrol_bench`` on the test server, emptied; None when PostgreSQL is not reachable."""
    base = url.rpartition("/")[0]
    try:
        admin = sa.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("DROP DATABASE IF EXISTS ecopatrol_bench WITH (FORCE)"))
            conn.execute(sa.text("CREATE DATABASE ecopatrol_bench"))
        admin.dispose()
        bench = sa.create_engine(f"{base}/ecopatrol_bench")
        with bench.begin() as conn:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
        bench.dispose()
    except Exception as exc:  # any failure means "no PostgreSQL here"
        print(f"postgresql: skipped ({str(exc).splitlines()[0]})")
        return None
    return f"{base}/ecopatrol_bench"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]))
        return
    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 50.0
    duration = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    print(f"reports at {rate:g}/s for {duration:g} s ({os.cpu_count()} CPUs), {PHOTO_SHARE:.0%} with a photo")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        run(
            "sqlite",
            f"sqlite:///{folder / 'bench.db'}",
            folder / "layers",
            rate_per_s=rate,
            duration_s=duration,
        )
        pg = _fresh_pg_database(PG_URL)
        if pg is not None:
            run("postgresql", pg, folder / "layers-pg", rate_per_s=rate, duration_s=duration)


if __name__ == "__main__":
    main()
