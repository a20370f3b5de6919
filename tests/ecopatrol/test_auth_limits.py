"""The brakes: failed authentications per client address (``[auth]``), and the public report form
(``reports.public_burst`` / ``reports.public_per_minute``), each answering 429 with Retry-After."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ecopatrol.api.auth_guard import FailureWindow
from ecopatrol.config import ConfigError, Settings, load_settings
from ecopatrol.runtime import Runtime
from ecopatrol.store import Store, units_repo
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


def test_the_counts_are_per_app_and_in_memory(runtime: Runtime, client: TestClient) -> None:
    for _ in range(3):
        client.get("/api/v1/units", headers=bearer("guess"))
    _limited(client.get("/api/v1/units", headers=bearer("guess")))
    with TestClient(build_app(runtime)) as fresh:  # another process (or a restart) starts from zero
        assert fresh.get("/api/v1/units", headers=bearer("guess")).status_code == 401


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
    assert (shipped.auth.max_failures, shipped.auth.window_s) == (20, 60)
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
