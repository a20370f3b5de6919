"""Alert delivery under load, all on 127.0.0.1: the real app in its own process (uvicorn, SQLite file,
the demo county's layers, 66 squads of 1 police + 2 auxiliary), 200 phones following the live stream
(198 squad members and 2 commanders: aiohttp streaming clients in asyncio), 500 units each posting a fix
every second (a second process, open loop), a firearm report every ``--report-every`` seconds and a
local webhook receiver (routes send every alert on ``stream`` and ``webhook``).

Measured per report: committed (the report's ``received_at``) → the alert event read on each of the
assigned squad's three phones, and committed → the signed webhook received. Target: p99 < 1 s.

    python benchmarks/delivery.py [--duration 30] [--phones 200] [--units 500] [--report-every 2]
                                  [--fix-batch 1] [--postgres] [--workers 1]

The server is started as an operator starts it (``ecopatrol serve``); ``benchmarks/load.py`` runs this
with two API processes on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import numpy as np
from _server import read_sse, run_fast, tree_cpu_s, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET_ENV = "ECOPATROL_BENCH_WEBHOOK_SECRET"
TARGET_P99_MS = 1000.0
PG_URL = "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/ecopatrol_test"
MAX_FIXES_IN_FLIGHT = 500  # one request in flight per unit at most, as a phone has


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


# ------------------------------------------------------------------------------ webhook receiver


@dataclass
class Received:
    first_ms: dict[str, float] = field(default_factory=dict)  # alert id -> wall time of first delivery
    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def start_receiver(received: Received) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            now = time.time() * 1000
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            alert_id = json.loads(body).get("alert_id", "")
            with received.lock:
                received.count += 1
                received.first_ms.setdefault(alert_id, now)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hook"


# ------------------------------------------------------------------------------------- seeding


def write_config(folder: Path, database_url: str, hook_url: str) -> Path:
    base = (ROOT / "config.toml").read_text(encoding="utf-8")
    assert 'url = "sqlite:///data/ecopatrol.db"' in base
    base = base.replace('url = "sqlite:///data/ecopatrol.db"', f'url = "{database_url}"')
    extra = f"""
[[escalation.routes]]
name = "everything"
channels = ["stream", "webhook"]

[channels]
poll_s = 0.5
[channels.endpoints.webhook]
kind = "webhook"
url = "{hook_url}"
secret_env = "{SECRET_ENV}"
timeout_s = 5
"""
    path = folder / "config.toml"
    path.write_text(base + extra, encoding="utf-8")
    return path


@dataclass
class World:
    commander: str
    phones: list[tuple[str, str | None]]  # (token, squad id or None for a commander)
    units: list[tuple[str, float, float]]  # (unit id, lon, lat)
    report_points: list[tuple[float, float]]


def seed(config: Path, folder: Path, n_phones: int, n_units: int, rng: random.Random) -> World:
    """The demo county's layers; squads with their members' phones; vehicles for the rest of the units."""
    from alerts.squads import Roster, Shift
    from ecopatrol.alerting import people
    from ecopatrol.config import load_settings
    from ecopatrol.layer_import import import_layer
    from ecopatrol.runtime import build_runtime
    from ecopatrol.store import units_repo
    from ecopatrol.store.tokens_repo import create_token
    from geo.demo.county import build_demo_county, write_demo_county

    runtime = build_runtime(load_settings(config, environ={}))
    county = build_demo_county()
    paths = write_demo_county(county, folder / "county")
    for kind in ("rivers", "forests", "townships", "zones"):
        import_layer(runtime, kind, Path(paths[kind]), name=f"bench:{kind}")
    reaches = runtime.layer_index().layers.reaches
    points = [(p.x, p.y) for p in reaches.geometry.interpolate(0.5, normalized=True).to_crs(4326)]
    n_commanders = 2
    n_squads = (n_phones - n_commanders) // 3
    now = runtime.now_ms()
    phones: list[tuple[str, str | None]] = []
    units: list[tuple[str, float, float]] = []
    all_day = (Shift(start="00:00", end="00:00"),)
    with runtime.store.write() as conn:
        commander = create_token(conn, role="commander", name="bench", now_ms=now)
        phones += [(create_token(conn, role="commander", name=f"cmd{i}", now_ms=now), None)
                   for i in range(n_commanders)]
        for s in range(n_squads):
            squad_id = f"bsq{s:03d}"
            home = rng.choice(points)
            people.insert_squad(conn, squad_id=squad_id, name=f"压测{s}组", tz="Asia/Shanghai", now_ms=now)
            members = []
            for k, role in enumerate(("police", "auxiliary", "auxiliary")):
                person_id, unit_id = f"bp{s:03d}{k}", f"ph{s:03d}{k}"
                units_repo.upsert_unit(conn, unit_id, mode="foot", now_ms=now)
                units_repo.set_unit_squad(conn, unit_id, squad_id)
                people.insert_person(conn, person_id=person_id, name=f"队员{s}-{k}", role=role, phone="000",
                                     status="active", unit_id=unit_id, now_ms=now)
                members.append(person_id)
                units.append((unit_id, *_near(rng, home)))
                phones.append((create_token(conn, role="squad", name=person_id, now_ms=now, squad_id=squad_id,
                                            person_id=person_id, unit_id=unit_id), squad_id))
            people.set_members(conn, squad_id, members)
            people.set_roster(conn, squad_id, Roster(squad_id=squad_id, shifts=all_day, tz="Asia/Shanghai"))
        for v in range(n_units - len(units)):
            unit_id = f"veh{v:03d}"
            units_repo.upsert_unit(conn, unit_id, mode="vehicle", now_ms=now)
            units_repo.set_unit_squad(conn, unit_id, f"bsq{v % n_squads:03d}")
            units.append((unit_id, *_near(rng, rng.choice(points))))
    runtime.close()
    return World(commander, phones, units, points)


def _near(rng: random.Random, point: tuple[float, float], spread_deg: float = 0.003) -> tuple[float, float]:
    return point[0] + rng.uniform(-spread_deg, spread_deg), point[1] + rng.uniform(-spread_deg, spread_deg)


# -------------------------------------------------------------------------------------- server


def start_server(config: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    """``ecopatrol serve`` as an operator runs it (``workers`` API processes on one address)."""
    port = _port()
    env = {**os.environ, SECRET_ENV: "bench-secret"}
    env.pop("ECOPATROL_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-c", "from ecopatrol.cli import main; main()", "serve",
                             "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
                             "--workers", str(workers)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(proc, url)
    return proc, url


def fresh_pg_database(name: str) -> str | None:
    """A new empty database ``name`` on ECOPATROL_TEST_PG_URL's server, or None when unreachable."""
    import sqlalchemy as sa

    base = sa.make_url(os.environ.get("ECOPATROL_TEST_PG_URL", PG_URL))
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError:
        return None
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


# ---------------------------------------------------------------------------- fixes, 1/s per unit


def post_fixes(url: str, token: str, units_file: str, duration_s: float, batch: int) -> None:
    """Child process: every unit sends one fix a second (open loop), ``batch`` units' fixes per request
    (1: one request per fix, as a phone app posts); prints a JSON summary."""
    units = json.loads(Path(units_file).read_text())
    latencies: list[float] = []
    errors: dict[str, int] = {}

    async def run() -> None:
        gate = asyncio.Semaphore(MAX_FIXES_IN_FLIGHT)
        connector = aiohttp.TCPConnector(limit=MAX_FIXES_IN_FLIGHT)
        async with aiohttp.ClientSession(url, connector=connector, timeout=aiohttp.ClientTimeout(total=30),
                                         headers={"Authorization": f"Bearer {token}"}) as client:
            async def one(group: list[tuple[str, float, float]], due: float) -> None:
                async with gate:
                    at = datetime.now(UTC).isoformat()
                    fixes = [{"unit_id": u, "time": at, "lon": lon, "lat": lat, "accuracy_m": 8.0}
                             for u, lon, lat in group]
                    body = {"source": "bench", "fixes": fixes}
                    try:
                        async with client.post("/api/v1/fixes", json=body) as r:
                            await r.read()
                            key = str(r.status)
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        key = type(exc).__name__
                    latencies.append((time.monotonic() - due) * 1000)
                    if key != "200":
                        errors[key] = errors.get(key, 0) + 1

            start = time.monotonic()
            tasks = []
            rng = random.Random(3)
            positions = {u: (lon, lat) for u, lon, lat in units}
            groups = [units[i:i + batch] for i in range(0, len(units), batch)]
            for second in range(int(duration_s)):
                for j, group in enumerate(groups):
                    due = start + second + j / len(groups)
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    moved = []
                    for unit_id, _lon, _lat in group:
                        lon, lat = positions[unit_id]
                        lon, lat = lon + rng.uniform(-5e-5, 5e-5), lat + rng.uniform(-5e-5, 5e-5)
                        positions[unit_id] = (lon, lat)
                        moved.append((unit_id, lon, lat))
                    tasks.append(asyncio.create_task(one(moved, due)))
            _done, late = await asyncio.wait(tasks, timeout=30)  # bounded: what is not answered by
            for task in late:                                     # then is counted, not waited for
                task.cancel()
            if late:
                errors["unanswered after the run + 30 s"] = len(late)
            elapsed = time.monotonic() - start
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            print(json.dumps({"sent": (len(tasks) - len(late)) * batch, "requests": len(tasks),
                              "cpu_s": cpu.ru_utime + cpu.ru_stime,
                              "elapsed_s": elapsed, "errors": errors,
                              "p50_ms": _pct(latencies, 50), "p99_ms": _pct(latencies, 99)}), flush=True)

    run_fast(run())


# ---------------------------------------------------------------------------------------- phones


@dataclass
class Seen:
    squad_id: str | None
    phone: int
    wall_ms: float
    report_ids: tuple[str, ...]
    alert_squad: str | None
    alert_id: str
    event_id: int


async def follow(client: aiohttp.ClientSession, url: str, token: str, squad: str | None, phone: int,
                 seen: list[Seen], ready: asyncio.Event, counter: list[int], total: int,
                 stop: asyncio.Event) -> None:
    def on_event(event: Any) -> None:
        if event.event == "snapshot":
            counter[0] += 1
            if counter[0] == total:
                ready.set()
            return
        alert = event.data.get("alert") or {}
        squad_of = (alert.get("squad") or {}).get("id")
        report_ids = tuple(alert.get("evidence", {}).get("report_ids", ()))
        alert_id = event.data.get("alert_id", "")
        seen.append(Seen(squad, phone, time.time() * 1000, report_ids, squad_of, alert_id, event.id or 0))

    with contextlib.suppress(aiohttp.ClientError, asyncio.CancelledError):
        await read_sse(client, f"{url}/api/v1/alerts/stream", token, on_event, stop)


async def load(url: str, world: World, duration_s: float, report_every_s: float,
               rng: random.Random) -> tuple[list[Seen], list[dict[str, Any]], float]:
    seen: list[Seen] = []
    ready, stop = asyncio.Event(), asyncio.Event()
    counter = [0]
    connector = aiohttp.TCPConnector(limit=len(world.phones) + 10)
    async with aiohttp.ClientSession(connector=connector) as sse, \
            aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=120),
                                  headers={"Authorization": f"Bearer {world.commander}"}) as api:
        total = len(world.phones)
        followers = [asyncio.create_task(follow(sse, url, token, squad, i, seen, ready, counter, total, stop))
                     for i, (token, squad) in enumerate(world.phones)]
        await asyncio.wait_for(ready.wait(), timeout=60)
        connected_at = time.monotonic()
        reports: list[dict[str, Any]] = []
        n_reports = int(duration_s / report_every_s)
        warm = time.monotonic()
        await _report(api, rng, world, -1)  # the first pipeline run loads and caches; not timed
        print(f"  warm-up report answered in {time.monotonic() - warm:.1f} s")
        connected_at = time.monotonic()
        await asyncio.sleep(report_every_s / 2)
        sending = []
        for k in range(n_reports):  # open loop: each report at its time, whatever the last one did
            due = connected_at + report_every_s / 2 + k * report_every_s
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            sending.append(asyncio.create_task(_report(api, rng, world, k)))
        reports += await asyncio.gather(*sending)
        await asyncio.sleep(2.0)  # the last alerts in flight
        stop.set()
        for task in followers:
            task.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
    return seen, reports, time.monotonic() - connected_at


async def _report(api: aiohttp.ClientSession, rng: random.Random, world: World, k: int) -> dict[str, Any]:
    lon, lat = _near(rng, rng.choice(world.report_points), 0.0005)
    body = {"category": "firearm", "observed_at": datetime.now(UTC).isoformat(),
            "location": {"type": "Point", "coordinates": [lon, lat]},
            "details": {"shots_heard": 2}, "description": f"bench {k}"}
    sent = time.time() * 1000
    try:
        async with api.post("/api/v1/reports", json=body) as r:
            text = await r.text()
            status = r.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return {"failed": type(exc).__name__}
    if status != 201:
        print(f"  report {k}: HTTP {status} {text[:200]}")
        return {"failed": str(status)}
    got = json.loads(text)
    committed = datetime.fromisoformat(got.get("created_at") or got["received_at"]).timestamp() * 1000
    return {"id": str(got["id"]), "sent_ms": sent, "committed_ms": committed,
            "answered_ms": time.time() * 1000}


def event_times(database_url: str) -> dict[int, int]:
    """When the hub logged each event (``live_events.at_ms``): splits alerting from delivery."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return {int(i): int(t) for i, t in conn.execute(sa.text("SELECT id, at_ms FROM live_events"))}
    finally:
        engine.dispose()


# -------------------------------------------------------------------------------------- report


def _ms(values: list[float]) -> str:
    return f"p50 {_pct(values, 50):.0f} ms, p99 {_pct(values, 99):.0f} ms"


def summarize(seen: list[Seen], reports: list[dict[str, Any]], received: Received,
              fixes: dict[str, Any], n_phones: int, logged: dict[int, int], verbose: bool = False) -> bool:
    failed = [r["failed"] for r in reports if "failed" in r]
    reports = [r for r in reports if "failed" not in r]
    answered = [r["answered_ms"] - r["sent_ms"] for r in reports]
    shown, sent_shown, webhook_ms, alerting, hub = [], [], [], [], []
    missing = 0
    with received.lock:
        first = dict(received.first_ms)
    raised_by: dict[str, dict[str, Any]] = {}  # alert id -> the first report in it (the one that raised it)
    for report in reports:
        for a in {s.alert_id for s in seen if report["id"] in s.report_ids}:
            if a not in raised_by or report["committed_ms"] < raised_by[a]["committed_ms"]:
                raised_by[a] = report
    webhook_ms = [first[a] - r["committed_ms"] for a, r in raised_by.items() if a in first]
    over_time: dict[int, list[float]] = {}
    t0 = min((r["committed_ms"] for r in reports), default=0)
    for report in reports:
        phones: dict[int, float] = {}
        for s in seen:
            mine = s.squad_id is not None and s.alert_squad == s.squad_id
            if report["id"] in s.report_ids and mine and s.phone not in phones:
                phones[s.phone] = s.wall_ms
                if s.event_id in logged:
                    alerting.append(logged[s.event_id] - report["committed_ms"])
                    hub.append(s.wall_ms - logged[s.event_id])
        missing += len(phones) < 3
        if verbose:
            lags = sorted(round(t - report["committed_ms"]) for t in phones.values())
            answered = report["answered_ms"] - report["sent_ms"]
            print(f"  report {report['id']}: answered after {answered:.0f} ms; shown after commit: {lags} ms")
        shown += [t - report["committed_ms"] for t in phones.values()]
        over_time.setdefault(int((report["committed_ms"] - t0) // 30_000), []).extend(
            t - report["committed_ms"] for t in phones.values())
        sent_shown += [t - report["sent_ms"] for t in phones.values()]
    sent, elapsed = fixes.get("sent", 0), max(fixes.get("elapsed_s", 0.0), 1e-9)
    print(f"\nphones on the stream: {n_phones}")
    print(f"fixes: {sent} in {fixes.get('requests', 0)} requests over {elapsed:.1f} s "
          f"= {sent / elapsed:.0f}/s; "
          f"request latency p50 {fixes.get('p50_ms', float('nan')):.0f} ms, "
          f"p99 {fixes.get('p99_ms', float('nan')):.0f} ms; errors {fixes.get('errors', {})}")
    print(f"reports: {len(reports)} stored, {len(failed)} failed {sorted(set(failed))}; "
          f"request latency {_ms(answered)}; alerts shown on all 3 assigned phones: {len(reports) - missing}")
    print(f"committed -> shown on the assigned squad's phones ({len(shown)} phone events): {_ms(shown)}, "
          f"max {max(shown, default=float('nan')):.0f} ms")
    print(f"  committed -> alert.changed logged by the hub (the alerting pipeline): {_ms(alerting)}")
    print(f"  logged -> read on the phone (live hub + SSE): {_ms(hub)}")
    per_slot = " ".join(f"{_pct(over_time[k], 99):.0f}" for k in sorted(over_time))
    print(f"  p99 per 30 s of reports (ms): {per_slot}")
    print(f"sent -> shown (with the report's own processing): {_ms(sent_shown)}")
    print(f"webhook: {received.count} deliveries for {len(first)} alerts; "
          f"report committed -> its alert's first delivery received: {_ms(webhook_ms)}")
    ok = missing == 0 and _pct(shown, 99) < TARGET_P99_MS
    print(f"target p99 < {TARGET_P99_MS:.0f} ms: {'met' if ok else 'NOT met'}")
    return ok


def main(argv: list[str] | None = None) -> bool:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--phones", type=int, default=200)
    parser.add_argument("--units", type=int, default=500)
    parser.add_argument("--report-every", type=float, default=2.0)
    parser.add_argument("--postgres", action="store_true",
                        help="PostgreSQL (ECOPATROL_TEST_PG_URL's server, database ecopatrol_bench_load)")
    parser.add_argument("--workers", type=int, default=1, help="API processes (more than 1: PostgreSQL)")
    parser.add_argument("--fix-batch", type=int, default=1,
                        help="units' fixes per request (1: a request per fix, as phone apps post)")
    parser.add_argument("--verbose", action="store_true", help="one line per report")
    parser.add_argument("--units-off", action="store_true", help="no fix load (the stream alone)")
    parser.add_argument("--reports-off", action="store_true", help="no reports (the fix load alone)")
    args = parser.parse_args(argv)
    args.duration = min(args.duration, 300.0)  # bounded
    rng = random.Random(11)
    received = Received()
    receiver, hook_url = start_receiver(received)
    with tempfile.TemporaryDirectory(prefix="ecopatrol-bench-") as tmp:
        folder = Path(tmp)
        database_url = fresh_pg_database("ecopatrol_bench_load") if args.postgres else \
            f"sqlite:///{folder / 'bench.db'}"
        if database_url is None:
            print("PostgreSQL is not reachable: nothing measured")
            return False
        config = write_config(folder, database_url, hook_url)
        print(f"seeding the demo county, squads and units ({'PostgreSQL' if args.postgres else 'SQLite'}, "
              f"{args.workers} API process{'es' if args.workers > 1 else ''})…")
        world = seed(config, folder, args.phones, args.units, rng)
        proc, url = start_server(config, args.workers)
        fixer = None
        try:
            first = [{"unit_id": u, "time": datetime.now(UTC).isoformat(), "lon": lon, "lat": lat}
                     for u, lon, lat in world.units]
            r = httpx.post(f"{url}/api/v1/fixes", json={"fixes": first}, timeout=120,
                           headers={"Authorization": f"Bearer {world.commander}"})
            print(f"first positions: HTTP {r.status_code}")
            units_file = folder / "units.json"
            units_file.write_text(json.dumps(world.units))
            fixer = None if args.units_off else subprocess.Popen(
                [sys.executable, __file__, "--fixes", url, world.commander, str(units_file),
                 str(args.duration), str(args.fix_batch)], cwd=ROOT, stdout=subprocess.PIPE)
            print(f"load: {len(world.phones)} phones, {len(world.units)} units at 1 fix/s, a report every "
                  f"{args.report_every:g} s for {args.duration:g} s")
            every = args.duration * 10 if args.reports_off else args.report_every
            cpu0 = _cpu_now(proc.pid)
            seen, reports, _ = run_fast(load(url, world, args.duration, every, rng))
            cpu = _cpu_since(cpu0, _cpu_now(proc.pid))
            fixes: dict[str, Any] = {}
            if fixer is not None:
                out, _ = fixer.communicate(timeout=args.duration + 120)
                fixes = json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {}
            logged = event_times(database_url)
        finally:
            if fixer is not None and fixer.poll() is None:
                fixer.kill()
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
            receiver.shutdown()
    ok = summarize(seen, reports, received, fixes, len(world.phones), logged, args.verbose)
    print_cpu(cpu, fixes.get("cpu_s"), args.duration)
    return ok


def _cpu_now(server_pid: int) -> dict[str, float]:
    """CPU seconds so far: the API processes, this load process, and each PostgreSQL process (by pid:
    backends come and go)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    out = {"api": tree_cpu_s(server_pid) or 0.0, "load": own.ru_utime + own.ru_stime}
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and _comm(p) == "postgres":
            out[f"pg{p.name}"] = tree_cpu_s(int(p.name), descendants=False) or 0.0
    return out


def _cpu_since(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """What each used in between; a PostgreSQL process that started in between counts whole."""
    used = {k: after[k] - before.get(k, 0.0) for k in after}
    return {"api": used["api"], "load": used["load"],
            "postgres": sum(v for k, v in used.items() if k.startswith("pg"))}


def _comm(proc: Path) -> str:
    try:
        return (proc / "comm").read_text().strip()
    except OSError:
        return ""


def print_cpu(cpu: dict[str, float], fixer_cpu_s: float | None, duration_s: float) -> None:
    """Cores used over the run: what the server used, and what the load generator took from it."""
    load = cpu["load"] + (fixer_cpu_s or 0.0)
    print(f"CPU over the run (cores, of {os.cpu_count()}): API processes {cpu['api'] / duration_s:.2f}, "
          f"PostgreSQL {cpu['postgres'] / duration_s:.2f}, load generator {load / duration_s:.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--fixes":
        post_fixes(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]), int(sys.argv[6]))
    else:
        main()
