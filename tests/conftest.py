"""Shared fixtures: a real store on SQLite and on PostgreSQL + PostGIS, settings, a runtime, an app."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ecopatrol.config import Settings, load_settings
from ecopatrol.runtime import Runtime
from ecopatrol.store import Store, open_store
from ecopatrol.store.schema import metadata

PG_URL = os.environ.get("ECOPATROL_TEST_PG_URL",
                        "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/ecopatrol_test")
REQUIRE_PG = os.environ.get("ECOPATROL_TEST_REQUIRE_PG") == "1"
T0_MS = 1_763_600_000_000  # 2025-11-20T00:53:20Z, a fixed "now" for tests


class FakeClock:
    """A settable clock in epoch milliseconds."""

    def __init__(self, now_ms: int = T0_MS) -> None:
        self.now = now_ms

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


def _ensure_pg_database(url: str) -> str | None:
    """Create the test database if needed; return a reason it cannot be reached, else None."""
    base, _, name = url.rpartition("/")
    try:
        admin = sa.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    except Exception as exc:  # any failure means "no PostgreSQL here"
        return f"PostgreSQL not reachable at {base}: {exc}"
    return None


def fresh_pg_store(url: str) -> Store:
    """A PostgreSQL database at ``url`` with an empty, migrated schema (the test fails or is skipped,
    by ECOPATROL_TEST_REQUIRE_PG, when PostgreSQL is not reachable)."""
    problem = _ensure_pg_database(url)
    if problem:
        if REQUIRE_PG:
            pytest.fail(problem)
        pytest.skip(problem)
    store = open_store(url, migrate=False)
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    store.migrate()
    return store


@pytest.fixture(scope="session")
def pg_store() -> Iterator[Store]:
    url = f"{PG_URL}_{os.getpid()}"  # one database per test process: parallel runs never collide
    store = fresh_pg_store(url)
    yield store
    store.dispose()
    _drop_pg_database(url)


def _drop_pg_database(url: str) -> None:
    base, _, name = url.rpartition("/")
    admin = sa.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty store on each backend."""
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path / 'test.db'}")
        yield s
        s.dispose()
        return
    s = request.getfixturevalue("pg_store")
    _truncate(s)
    yield s


def _truncate(store: Store) -> None:
    names = ", ".join(t.name for t in metadata.sorted_tables)
    with store.engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(environ={"ECOPATROL_CONFIG": str(Path(__file__).parent.parent / "config.toml"),
                                  "ECOPATROL_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}",
                                  "ECOPATROL_AUDIT_KEY_FILE": str(tmp_path / "audit.key")})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runtime(store: Store, settings: Settings, clock: FakeClock) -> Runtime:
    return Runtime(settings=settings, store=store, clock=clock)


# --- a live server on loopback and a real headless Chromium --------------------------------------------

CHROMIUM = os.environ.get("ECOPATROL_TEST_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("ECOPATROL_TEST_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class LiveServer:
    """uvicorn serving ``create_app(runtime)`` on 127.0.0.1 in a background thread."""

    def __init__(self, runtime: Runtime) -> None:
        import socket
        import threading

        import uvicorn

        from ecopatrol.api.app import create_app

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.runtime = runtime
        config = uvicorn.Config(create_app(runtime), host="127.0.0.1", port=self.port, log_level="warning",
                                timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(runtime: Runtime) -> Iterator[LiveServer]:
    server = LiveServer(runtime).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """A real headless Chromium (Debian's), driven by Playwright; no network beyond loopback."""
    if not Path(CHROMIUM).exists():
        if REQUIRE_BROWSER:
            pytest.fail(f"no Chromium at {CHROMIUM} (./dev test installs it)")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: object) -> Iterator[object]:
    context = chromium.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")  # type: ignore[attr-defined]
    pg = context.new_page()
    yield pg
    context.close()
