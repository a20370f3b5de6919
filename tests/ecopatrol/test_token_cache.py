"""Live tokens are cached for a few seconds, never past what the cache may know: a revocation in this
process, the token's expiry by the runtime's clock, the cache lifetime. And the fast path of
``POST /api/v1/fixes`` (cached token) answers exactly as the full route does."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from ecopatrol.api import fast_fixes
from ecopatrol.api.app import create_app
from ecopatrol.runtime import Runtime
from ecopatrol.store import units_repo
from ecopatrol.store.schema import api_tokens
from ecopatrol.store.tokens_repo import create_token, revoke_token, verify_token
from tests.conftest import FakeClock
from tests.ecopatrol.helpers_layers import load_small_county


def _runtime(runtime: Runtime, ttl_s: float) -> Runtime:
    settings = runtime.settings.model_copy(
        update={"auth": runtime.settings.auth.model_copy(update={"token_cache_s": ttl_s})})
    return Runtime(settings=settings, store=runtime.store, clock=runtime.clock)


@pytest.fixture
def county(runtime: Runtime, tmp_path: Path) -> Runtime:
    load_small_county(runtime, tmp_path / "layers")
    now = runtime.now_ms()
    with runtime.store.write() as conn:
        units_repo.upsert_unit(conn, "car-1", mode="vehicle", now_ms=now)
        units_repo.upsert_unit(conn, "car-2", mode="vehicle", now_ms=now)
        units_repo.set_unit_squad(conn, "car-1", "sq1")
    return runtime


def _fixes(runtime: Runtime, unit: str = "car-1", start_s: int = 600, n: int = 2) -> dict:
    t = runtime.now_ms() // 1000 - start_s
    return {"fixes": [{"unit_id": unit, "time": t + 10 * i, "lon": 120.71 + 0.001 * i, "lat": 28.8003}
                      for i in range(n)]}


def _token(runtime: Runtime, role: str = "squad", **kw: object) -> str:
    with runtime.store.write() as conn:
        return create_token(conn, role=role, now_ms=runtime.now_ms(), **kw)  # type: ignore[arg-type]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_revoked_in_this_process_is_refused_at_once(county: Runtime) -> None:
    api = TestClient(create_app(_runtime(county, 60), scheduler=False, delivery_worker=False))
    token = _token(county, squad_id="sq1")
    assert api.post("/api/v1/fixes", json=_fixes(county), headers=_bearer(token)).status_code == 200
    with county.store.write() as conn:
        principal = verify_token(conn, token, now_ms=county.now_ms())
        assert principal is not None and revoke_token(conn, principal.token_id, now_ms=county.now_ms())
    refused = api.post("/api/v1/fixes", json=_fixes(county, start_s=500), headers=_bearer(token))
    assert refused.status_code == 401 and "revoked" in refused.text


def test_a_token_revoked_elsewhere_is_refused_once_the_cache_lifetime_is_over(county: Runtime) -> None:
    ttl_s = 1.5
    api = TestClient(create_app(_runtime(county, ttl_s), scheduler=False, delivery_worker=False))
    commander = _bearer(_token(county, "commander"))
    warm_up = api.post("/api/v1/fixes", json=_fixes(county, start_s=900), headers=commander)
    assert warm_up.status_code == 200  # the layers are loaded: the next requests are quick
    token = _token(county, squad_id="sq1")
    cached_at = time.monotonic()
    assert api.post("/api/v1/fixes", json=_fixes(county), headers=_bearer(token)).status_code == 200
    with county.store.write() as conn:  # as another API process or the CLI would: not through this one
        conn.execute(sa.update(api_tokens).values(revoked_ms=county.now_ms()))
    still = api.post("/api/v1/fixes", json=_fixes(county, start_s=500), headers=_bearer(token))
    assert time.monotonic() - cached_at < ttl_s, "too slow to test the cache lifetime"
    assert still.status_code == 200  # within the cache lifetime: documented
    time.sleep(ttl_s)
    after = api.post("/api/v1/fixes", json=_fixes(county, start_s=400), headers=_bearer(token))
    assert after.status_code == 401


def test_a_cached_token_is_refused_once_it_expires_by_the_runtime_clock(county: Runtime,
                                                                       clock: FakeClock) -> None:
    api = TestClient(create_app(_runtime(county, 300), scheduler=False, delivery_worker=False))
    with county.store.write() as conn:
        token = create_token(conn, role="squad", squad_id="sq1", now_ms=county.now_ms(),
                             expires_ms=county.now_ms() + 60_000)
    assert api.post("/api/v1/fixes", json=_fixes(county), headers=_bearer(token)).status_code == 200
    clock.advance(61)
    refused = api.post("/api/v1/fixes", json=_fixes(county, start_s=500), headers=_bearer(token))
    assert refused.status_code == 401 and "expired" in refused.text


def test_with_no_cache_every_request_looks_the_token_up(county: Runtime) -> None:
    api = TestClient(create_app(_runtime(county, 0), scheduler=False, delivery_worker=False))
    token = _token(county, squad_id="sq1")
    assert api.post("/api/v1/fixes", json=_fixes(county), headers=_bearer(token)).status_code == 200
    with county.store.write() as conn:
        conn.execute(sa.update(api_tokens).values(revoked_ms=county.now_ms()))
    again = api.post("/api/v1/fixes", json=_fixes(county, start_s=500), headers=_bearer(token))
    assert again.status_code == 401


@pytest.mark.parametrize("case", ["stored", "resent", "bad body", "naive time", "all refused",
                                  "not the squad's unit"])
def test_the_fast_path_answers_as_the_full_route(county: Runtime, case: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The same request, first with a token the cache does not hold (the full route answers), then
    with one it holds (the fast path answers): same status, same body."""
    fast_calls: list[int] = []
    real = fast_fixes.store_batch

    async def counted(*args: object) -> object:
        fast_calls.append(1)
        return await real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(fast_fixes, "store_batch", counted)
    api = TestClient(create_app(_runtime(county, 60), scheduler=False, delivery_worker=False))
    cold, warm = _token(county, squad_id="sq1"), _token(county, squad_id="sq1")
    assert api.get("/api/v1/coverage?since=1d", headers=_bearer(warm)).status_code == 200  # now cached
    body = {"stored": _fixes(county), "resent": _fixes(county), "bad body": {"fixes": [{"unit_id": 3}]},
            "naive time": {"fixes": [{"unit_id": "car-1", "time": "2025-11-19T08:00:00", "lon": 120.71,
                                      "lat": 28.8}]},
            "all refused": {"fixes": [{"unit_id": "car-1", "time": 1_000_000, "lon": 120.71, "lat": 28.8}]},
            "not the squad's unit": _fixes(county, unit="car-2")}[case]
    if case == "resent":
        first = api.post("/api/v1/fixes", json=body, headers=_bearer(_token(county, "commander")))
        assert first.status_code == 200
    answers = []
    for token in (cold, warm):
        if case == "stored":  # a new batch each time, so both are stored
            body = _fixes(county, start_s=600 if token == cold else 300)
        r = api.post("/api/v1/fixes", json=body, headers=_bearer(token))
        answers.append((r.status_code, r.json()))
    assert answers[0] == answers[1]
    expected = {"stored": 200, "resent": 200, "bad body": 422, "naive time": 422, "all refused": 422,
                "not the squad's unit": 403}[case]
    assert answers[0][0] == expected
    assert len(fast_calls) == (0 if case == "bad body" else 1)  # a body the model refuses goes on
