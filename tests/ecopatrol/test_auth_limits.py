"""The brakes: failed authentications per client address (``[auth]``, counted across API processes and
restarts through the database, checked in memory), and the public report form
(``reports.public_burst`` / ``reports.public_per_minute``), each answering 429 with Retry-After."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from ecopatrol.api import auth_guard
from ecopatrol.api.auth_guard import FailureWindow
from ecopatrol.config import ConfigError, Settings, load_settings
from ecopatrol.runtime import Runtime
from ecopatrol.store import Store, open_store, units_repo
from ecopatrol.store.auth_failures_repo import add_failure, recent_failures
from ecopatrol.store.schema import auth_failures
from ecopatrol.store.tokens_repo import digest
from tests.conftest import FakeClock
from tests.ecopatrol.helpers_reports import bearer, build_app, firearm_report, load_county, token

CONFIG = Path(__file__).resolve().parents[2] / "config.toml"

# ------------------------------------------------------------------------------ the window, alone


def test_the_window_holds_a_client_back_after_n_failures_until_the_oldest_leaves() -> None:
    window = FailureWindow(max_failures=3, window_ms=60_000)
    for t in (0, 10_000, 20_000):
        assert window.retry_after_ms("a", t) == 0
        window.record("a", t)
    assert window.retry_after_ms("a", 20_000) == 40_000  # the first failure leaves at 60 s
    assert window.retry_after_ms("b", 20_000) == 0  # others are not affected
    assert window.retry_after_ms("a", 59_999) == 1
    assert window.retry_after_ms("a", 60_000) == 0
    assert window.failures("a", 60_000) == 2


def test_the_window_forgets_the_least_recent_clients_beyond_its_size() -> None:
    window = FailureWindow(max_failures=1, window_ms=60_000, max_clients=2)
    for client in ("a", "b", "c"):
        window.record(client, 0)
    assert window.retry_after_ms("a", 1) == 0 and window.retry_after_ms("c", 1) > 0


def test_the_window_learns_every_process_count_but_never_fewer_than_its_own() -> None:
    window = FailureWindow(max_failures=3, window_ms=60_000)
    window.record("a", 10_000)
    window.learn("a", [1_000, 5_000, 10_000], 10_000)  # two more, from other processes
    assert window.retry_after_ms("a", 10_000) == 51_000  # the oldest of the three leaves at 61 s
    window.record("b", 10_000)
    window.record("b", 10_001)
    window.learn("b", [10_000], 10_001)  # read back before this process's second failure was stored
    assert window.failures("b", 10_001) == 2
    window.learn("c", [0, 70_000], 70_000)  # what left the window is not learnt
    assert window.failures("c", 70_000) == 1
    window.learn("d", [0], 70_000)
    assert window.failures("d", 70_000) == 0


def test_the_store_keeps_each_clients_newest_failures_in_the_window(store: Store) -> None:
    with store.write() as conn:
        for client, at_ms in (("a", 1_000), ("b", 2_000), ("a", 3_000), ("a", 4_000), ("c", 500)):
            add_failure(conn, client, at_ms=at_ms, since_ms=0, keep=2)
        assert add_failure(conn, "a", at_ms=5_000, since_ms=1_000, keep=2) == [4_000, 5_000]
        assert add_failure(conn, "x" * 100, at_ms=5_500, since_ms=0, keep=2) == [5_500]  # cut to 64
        recent = recent_failures(conn, since_ms=600, keep=2, max_rows=1000)
    # the clients by their latest failure, the most recent last ("c" left the window)
    assert list(recent.items()) == [("b", [2_000]), ("a", [4_000, 5_000]), ("x" * 64, [5_500])]


# ------------------------------------------------------------------------------ through the app


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(environ={"ECOPATROL_CONFIG": str(CONFIG),
                                  "ECOPATROL_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}",
                                  "ECOPATROL_AUTH__MAX_FAILURES": "3", "ECOPATROL_AUTH__WINDOW_S": "60",
                                  "ECOPATROL_REPORTS__PUBLIC_BURST": "2",
                                  "ECOPATROL_REPORTS__PUBLIC_PER_MINUTE": "1"})


@pytest.fixture
def client(runtime: Runtime, tmp_path: Path) -> Iterator[TestClient]:
    load_county(runtime, tmp_path / "layers")
    with TestClient(build_app(runtime)) as c:
        yield c


def _limited(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["retry-after"]) <= 60
    detail = response.json()["detail"][0]
    assert detail["type"] == "rate_limited" and "retry in" in detail["msg"]


def test_failed_authentications_from_one_address_are_held_back(runtime: Runtime, client: TestClient) -> None:
    good = bearer(token(runtime, "commander"))
    forged = bearer("ep_com_" + "z" * 43)
    for _ in range(3):
        assert client.get("/api/v1/units", headers=forged).status_code == 401
    _limited(client.get("/api/v1/units", headers=forged))
    # every attempt from the address waits, a good token too (it cannot be told from a lucky guess)
    _limited(client.get("/api/v1/units", headers=good))
    _limited(client.post("/m/login", json={"code": "ABCDEFGH"}))
    # requests with no credential still pass: the public side keeps working
    assert client.get("/healthz").status_code == 200
    assert client.get("/r/ZZZZ-ZZZZ", headers={"Accept": "application/json"}).status_code == 404
    assert client.get("/api/v1/units").status_code == 401  # no credential: refused, not held back
    runtime.clock.advance(60)  # type: ignore[attr-defined]
    assert client.get("/api/v1/units", headers=good).status_code == 200


def test_requests_without_a_credential_are_not_counted(runtime: Runtime, client: TestClient) -> None:
    for _ in range(5):
        assert client.get("/api/v1/units").status_code == 401
        assert client.get("/review").status_code == 401  # the sign-in form
    assert client.get("/api/v1/units", headers=bearer(token(runtime, "commander"))).status_code == 200


@pytest.mark.parametrize("how", ["cookie", "query", "review form", "phone code", "device key"])
def test_every_way_of_presenting_a_credential_counts(runtime: Runtime, client: TestClient, how: str) -> None:
    with runtime.store.write() as conn:
        units_repo.upsert_unit(conn, "foot-1", mode="foot", now_ms=runtime.now_ms())
        units_repo.add_device(conn, "ot-1", "foot-1", key_hash=digest("right-key-1"), now_ms=runtime.now_ms())
    wrong_key = base64.b64encode(b"ot-1:wrong-key").decode()

    def attempt():  # type: ignore[no-untyped-def]
        client.cookies.clear()
        if how == "cookie":
            client.cookies.set("access_token", "guess")
            return client.get("/api/v1/stats")
        if how == "query":
            return client.get("/api/v1/alerts/stream", params={"token": "guess"})
        if how == "review form":
            return client.post("/review/login", data={"token": "guess"})
        if how == "phone code":
            return client.post("/m/login", json={"code": "ABCDEFGH"})
        fix = {"_type": "location", "lat": 28.8, "lon": 120.7, "tst": 1}
        return client.post("/ingest/owntracks", json=fix, headers={"Authorization": f"Basic {wrong_key}"})

    assert [attempt().status_code for _ in range(3)] == [401, 401, 401]
    _limited(attempt())


# ------------------------------------------------------------------------------ across processes


@pytest.fixture
def other(runtime: Runtime) -> Iterator[Runtime]:
    """A second API process on the same database: its own engine (and SQLite write lock), same clock."""
    store = open_store(runtime.store.engine.url.render_as_string(hide_password=False), migrate=False)
    yield Runtime(settings=runtime.settings, store=store, clock=runtime.clock)
    store.dispose()


def _stored_failures(runtime: Runtime) -> int:
    with runtime.store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(auth_failures)).scalar_one()


GUESS = bearer("ep_com_" + "g" * 43)


def test_failures_spread_over_two_processes_are_counted_together(runtime: Runtime, client: TestClient,
                                                                 other: Runtime) -> None:
    with TestClient(build_app(other)) as b:
        assert [client.get("/api/v1/units", headers=GUESS).status_code for _ in range(2)] == [401, 401]
        assert b.get("/api/v1/units", headers=GUESS).status_code == 401  # the third, anywhere
        _limited(b.get("/api/v1/units", headers=GUESS))  # b has learnt of a's two
        _limited(b.get("/api/v1/units", headers=bearer(token(runtime, "commander"))))
        # a has not seen b's failure: it lets one more through, and learns of it then
        assert client.get("/api/v1/units", headers=GUESS).status_code == 401
        _limited(client.get("/api/v1/units", headers=GUESS))
        assert _stored_failures(runtime) == 4  # max_failures + 2 processes - 1
        runtime.clock.advance(60)  # type: ignore[attr-defined]
        assert b.get("/api/v1/units", headers=GUESS).status_code == 401  # the window moved on


def test_a_process_started_before_the_failures_learns_of_them_at_its_next_one(
        runtime: Runtime, client: TestClient, other: Runtime) -> None:
    late = TestClient(build_app(other))  # never started (no lifespan): it read nothing at start
    for _ in range(3):
        assert client.get("/api/v1/units", headers=GUESS).status_code == 401
    assert late.get("/api/v1/units", headers=GUESS).status_code == 401
    _limited(late.get("/api/v1/units", headers=GUESS))


def test_a_restarted_process_remembers_the_failures_still_in_the_window(runtime: Runtime,
                                                                         client: TestClient) -> None:
    good = bearer(token(runtime, "commander"))
    for _ in range(3):
        assert client.get("/api/v1/units", headers=GUESS).status_code == 401
    _limited(client.get("/api/v1/units", headers=GUESS))
    with TestClient(build_app(runtime)) as restarted:  # a new app on the same database
        _limited(restarted.get("/api/v1/units", headers=good))  # at once: read when it started
        runtime.clock.advance(60)  # type: ignore[attr-defined]
        assert restarted.get("/api/v1/units", headers=good).status_code == 200


def test_failures_out_of_the_window_are_deleted(runtime: Runtime, client: TestClient) -> None:
    for _ in range(2):
        client.get("/api/v1/units", headers=GUESS)
    runtime.clock.advance(30)  # type: ignore[attr-defined]
    client.get("/api/v1/units", headers=GUESS)
    assert _stored_failures(runtime) == 3  # at most once a window: nothing was old yet anyway
    runtime.clock.advance(31)  # type: ignore[attr-defined]
    assert client.get("/api/v1/units", headers=GUESS).status_code == 401
    assert _stored_failures(runtime) == 2  # the first two left the window and the table


def test_the_check_itself_never_queries_the_database(runtime: Runtime, client: TestClient) -> None:
    good = bearer(token(runtime, "commander"))
    assert client.get("/api/v1/units", headers=good).status_code == 200  # the token is now cached
    for _ in range(3):
        client.get("/api/v1/units", headers=GUESS)
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    sa.event.listen(runtime.store.engine, "before_cursor_execute", count)
    try:
        _limited(client.get("/api/v1/units", headers=GUESS))
        _limited(client.get("/api/v1/units", headers=good))
        assert client.get("/api/v1/units/none").status_code == 401  # no credential: not an attempt
    finally:
        sa.event.remove(runtime.store.engine, "before_cursor_execute", count)
    assert statements == []


class Unreachable(auth_guard.SharedFailures):
    """The failures table cannot be written (a database restarting, a lock timeout)."""

    def add(self, client: str, now_ms: int) -> list[int]:
        raise sa.exc.OperationalError("INSERT INTO auth_failures", {},
                                      Exception("server closed the connection"))


def test_when_the_database_cannot_be_written_a_401_stays_a_401_counted_here(
        runtime: Runtime, client: TestClient, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(auth_guard, "SharedFailures", Unreachable)
    with TestClient(build_app(runtime), raise_server_exceptions=False) as app, \
            caplog.at_level(logging.WARNING, logger="ecopatrol.api.auth_guard"):
        assert [app.get("/api/v1/units", headers=GUESS).status_code for _ in range(3)] == [401] * 3
        _limited(app.get("/api/v1/units", headers=GUESS))  # counted in this process
    warnings = [r.getMessage() for r in caplog.records if "this process only" in r.getMessage()]
    assert len(warnings) == 1 and "server closed the connection" in warnings[0]  # once, not per failure
    assert _stored_failures(runtime) == 0


# ------------------------------------------------------------------------------ the public report form


def test_the_public_form_is_limited_by_its_config_keys(runtime: Runtime, client: TestClient) -> None:
    sent = [client.post("/api/v1/public/reports", json=firearm_report()) for _ in range(2)]
    assert [r.status_code for r in sent] == [201, 201], sent[-1].text
    limited = client.post("/api/v1/public/reports", json=firearm_report())
    _limited(limited)
    assert "too many reports" in limited.json()["detail"][0]["msg"]
    partner = bearer(token(runtime, "partner", org="县林业站"))
    assert client.post("/api/v1/reports", json=firearm_report(), headers=partner).status_code == 201


def test_the_auth_keys_are_documented_and_checked(tmp_path: Path) -> None:
    shipped = load_settings(environ={"ECOPATROL_CONFIG": str(CONFIG)})
    assert (shipped.auth.max_failures, shipped.auth.window_s, shipped.auth.token_days) == (20, 60, 365)
    bad = tmp_path / "bad.toml"
    for value in ("0", "36501", "nan", '"forever"'):
        bad.write_text(f"[auth]\ntoken_days = {value}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=r"auth\.token_days"):
            load_settings(bad, environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[auth]\nmax_failures = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"auth\.max_failures"):
        load_settings(bad, environ={})
    bad.write_text("[auth]\nmax_failure = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"auth\.max_failure"):
        load_settings(bad, environ={})


def test_the_app_takes_its_limits_from_the_config(store: Store, settings: Settings) -> None:
    clock = FakeClock()
    app = build_app(Runtime(settings=settings, store=store, clock=clock))
    window = app.state.auth_failures
    assert (window.max_failures, window.window_ms) == (3, 60_000)
