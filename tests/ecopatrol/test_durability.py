"""Nothing acknowledged is lost, nothing is stored twice: the real server as a separate process, fed
fixes and reports continuously with resends, killed with SIGKILL mid-load and restarted; and (on
PostgreSQL) the database restarted under a running server. Afterwards every acknowledged fix and
report is in the store exactly once, and every report's rules have run."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from ecopatrol.config import Settings
from ecopatrol.runtime import Runtime
from ecopatrol.store import Store, units_repo
from ecopatrol.store.reports_schema import reports
from ecopatrol.store.schema import fixes
from tests.ecopatrol.helpers_reports import NEAR_RIVER, load_county, token

ROOT = Path(__file__).resolve().parents[2]
UNITS = [f"dur-{i}" for i in range(4)]


@dataclass
class Ledger:
    """What the server acknowledged (2xx) — the items that must be stored exactly once."""

    fixes: set[tuple[str, int]] = field(default_factory=set)
    reports: set[str] = field(default_factory=set)  # descriptions, unique per report
    refused: dict[int, int] = field(default_factory=dict)  # status → count (not acknowledged)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refuse(self, status: int) -> None:
        with self.lock:
            self.refused[status] = self.refused.get(status, 0) + 1


class ServerProcess:
    """``ecopatrol serve`` on 127.0.0.1 in its own process, started and killed by the test."""

    def __init__(self, database_url: str, folder: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "ECOPATROL_DATABASE_URL": database_url,
                    "ECOPATROL_CONFIG": str(ROOT / "config.toml")}
        self.log = (folder / "server.log").open("ab")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from ecopatrol.cli import main; main()", "serve",
             "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "the server exited at start"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("the server did not start within 60 s")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


@pytest.fixture
def seeded(runtime: Runtime, tmp_path: Path) -> Iterator[tuple[Runtime, dict[str, str]]]:
    load_county(runtime, tmp_path / "layers")
    with runtime.store.write() as conn:
        for unit in UNITS:
            units_repo.upsert_unit(conn, unit, mode="foot", now_ms=runtime.now_ms())
    tokens = {"commander": token(runtime, "commander"), "partner": token(runtime, "partner", org="县渔政站")}
    yield runtime, tokens


def _database_url(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def _sender(url: str, tokens: dict[str, str], ledger: Ledger, stop: threading.Event, worker: int,
            start_s: float) -> None:
    """One phone-like client: a fix batch then (every third round) a report, each resent once; every
    item is retried until acknowledged or the run ends. Bounded by ``stop``."""
    pending: list[tuple[str, dict, dict, object]] = []  # (kind, body, headers, key)
    fix_headers = {"Authorization": f"Bearer {tokens['commander']}"}
    n = 0
    with httpx.Client(base_url=url, timeout=5) as client:
        while not stop.is_set():
            n += 1
            at = int((start_s + worker * 0.001 + n * 0.01) * 1000) - 600_000  # 10 minutes ago, unique
            unit = UNITS[worker % len(UNITS)]
            batch = [{"unit_id": unit, "time": at + k, "lon": NEAR_RIVER[0],
                      "lat": NEAR_RIVER[1]} for k in range(3)]
            pending.append(("fixes", {"fixes": batch, "source": "durability"}, fix_headers,
                            [(unit, at + k) for k in range(3)]))
            if n % 3 == 0:
                text = f"durability w{worker} n{n}"
                body = {"category": "illegal_fishing", "details": {"method": "net"}, "description": text,
                        "observed_at": _iso(at),
                        "location": {"type": "Point", "coordinates": list(NEAR_RIVER)}}
                headers = {"Authorization": f"Bearer {tokens['partner']}",
                           "Idempotency-Key": text.replace(" ", "-")}
                pending.append(("report", body, headers, text))
            still = []
            for item in pending:
                if not (_send(client, item, ledger) and _send(client, item, ledger)):  # resend: harmless
                    still.append(item)
            pending = still[-200:]
            time.sleep(0.01)
        deadline = time.monotonic() + 30  # the run is over: deliver what is still queued
        while pending and time.monotonic() < deadline:
            pending = [item for item in pending if not _send(client, item, ledger)]
            time.sleep(0.1)


def _send(client: httpx.Client, item: tuple[str, dict, dict, object], ledger: Ledger) -> bool:
    kind, body, headers, key = item
    path = "/api/v1/fixes" if kind == "fixes" else "/api/v1/reports"
    try:
        response = client.post(path, json=body, headers=headers)
    except httpx.HTTPError:
        return False  # no answer: not acknowledged, the phone keeps it
    if response.status_code >= 300:
        ledger.refuse(response.status_code)
        if response.status_code in (408, 425, 429) or response.status_code >= 500:
            return False  # try again later
        ledger.problems.append(f"{response.status_code} {response.text[:300]}")
        return True  # refused for good: a bug in this test's data, reported by _check
    with ledger.lock:
        if kind == "fixes":
            ledger.fixes.update(key)  # type: ignore[arg-type]
        else:
            ledger.reports.add(key)  # type: ignore[arg-type]
    return True


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def _run_load(server: ServerProcess, tokens: dict[str, str], ledger: Ledger, *, seconds: float,
              disturb: object) -> None:
    stop = threading.Event()
    start_s = time.time()
    threads = [threading.Thread(target=_sender, args=(server.url, tokens, ledger, stop, w, start_s))
               for w in range(4)]
    for t in threads:
        t.start()
    time.sleep(seconds / 2)
    disturb()  # type: ignore[operator]
    time.sleep(seconds / 2)
    stop.set()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), (ledger.refused, ledger.problems[:3])


def _check(store: Store, ledger: Ledger) -> None:
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(fixes.c.unit_id, fixes.c.time_ms)
                              .where(fixes.c.source == "durability")).fetchall()
        texts = [r[0] for r in conn.execute(sa.select(reports.c.description)
                                            .where(reports.c.description.like("durability %")))]
        pending = conn.execute(sa.select(sa.func.count()).select_from(reports)
                               .where(reports.c.alerted_ms.is_(None))).scalar_one()
    stored_keys = [(u, int(t)) for u, t in stored]
    assert not ledger.problems, ledger.problems[:3]
    assert len(ledger.fixes) > 100 and len(ledger.reports) > 20, (len(ledger.fixes), len(ledger.reports))
    assert ledger.fixes <= set(stored_keys), f"{len(ledger.fixes - set(stored_keys))} acknowledged fixes lost"
    assert len(stored_keys) == len(set(stored_keys))
    assert ledger.reports <= set(texts), f"lost reports: {sorted(ledger.reports - set(texts))[:5]}"
    assert len(texts) == len(set(texts)), "a report was stored twice"
    assert pending == 0, f"{pending} reports never had their rules run"
    assert not any(status >= 500 and status != 503 for status in ledger.refused), ledger.refused


def test_sigkill_mid_load_loses_nothing_acknowledged(seeded: tuple[Runtime, dict[str, str]],
                                                     tmp_path: Path) -> None:
    runtime, tokens = seeded
    server = ServerProcess(_database_url(runtime.store), tmp_path)
    ledger = Ledger()
    try:
        server.start()

        def kill_and_restart() -> None:
            server.kill()
            time.sleep(0.5)  # phones keep trying meanwhile
            server.start()

        _run_load(server, tokens, ledger, seconds=6, disturb=kill_and_restart)
        _settle(server)
    finally:
        server.stop()
    _check(runtime.store, ledger)


def test_postgresql_restarting_under_the_server_loses_nothing(pg_store: Store, settings: Settings,
                                                              tmp_path: Path) -> None:
    restart = _pg_restart_command()
    if restart is None:
        pytest.skip("no local PostgreSQL cluster this test may restart (pg_ctlcluster as root)")
    runtime = Runtime(settings, pg_store)
    _truncate(pg_store)
    load_county(runtime, tmp_path / "layers")
    with runtime.store.write() as conn:
        for unit in UNITS:
            units_repo.upsert_unit(conn, unit, mode="foot", now_ms=runtime.now_ms())
    tokens = {"commander": token(runtime, "commander"), "partner": token(runtime, "partner", org="县渔政站")}
    server = ServerProcess(_database_url(pg_store), tmp_path)
    ledger = Ledger()
    try:
        server.start()
        _run_load(server, tokens, ledger, seconds=8,
                  disturb=lambda: subprocess.run(restart, check=True, capture_output=True, timeout=120))
        _settle(server)
    finally:
        server.stop()
    pg_store.engine.dispose()  # its pooled connections died with the restart
    _check(pg_store, ledger)


def _settle(server: ServerProcess) -> None:
    """Give the restarted server's report worker time to run the rules of reports left pending."""
    time.sleep(2.0)


def _pg_restart_command() -> list[str] | None:
    if os.geteuid() != 0 or shutil.which("pg_ctlcluster") is None or shutil.which("pg_lsclusters") is None:
        return None
    out = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout.split("\n")
    online = [line.split() for line in out if "online" in line]
    if len(online) != 1:
        return None
    version, name = online[0][0], online[0][1]
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart", "-m", "fast"]


def _truncate(store: Store) -> None:
    from tests.conftest import _truncate as truncate_all

    truncate_all(store)
