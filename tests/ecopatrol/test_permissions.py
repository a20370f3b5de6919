"""Every route of the real app has an explicit permission, and it holds: the whole route table (API,
pages, the static mount, the OpenAPI documentation, the phone protocols, the live stream) is called by
every kind of caller — commander, squad, partner, device, nobody, and a forged, an expired and a
revoked token — on a live server over each backend. A caller the rule does not admit gets 401 or 403
(401 when it brought no valid credential), with a message; a caller it admits is never refused (a 404
or 422 for the dummy request is fine) and never meets a 5xx."""

from __future__ import annotations

import base64
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from ecopatrol.api.app import create_app
from ecopatrol.api.deps import current_principal, require
from ecopatrol.api.permissions import (
    CALLERS,
    DECLARED,
    RouteRule,
    dependency_rule,
    route_rules,
    stale_declarations,
)
from ecopatrol.config import load_settings
from ecopatrol.runtime import Runtime
from ecopatrol.store import Store, open_store, units_repo
from ecopatrol.store.tokens_repo import Principal, create_token, digest, revoke_token, verify_token
from tests.conftest import T0_MS, FakeClock, _truncate
from tests.ecopatrol.helpers_live import Server, build_app
from tests.ecopatrol.helpers_reports import NEAR_RIVER, load_county

CONFIG = Path(__file__).resolve().parents[2] / "config.toml"
#: the token callers, nobody, and three tokens that must never work
ALL_CALLERS = (*CALLERS, "forged", "expired", "revoked")
BAD_CREDENTIALS = ("public", "forged", "expired", "revoked")
DEVICE_KEY = "s3cret-device-key"


def _settings(folder: Path) -> Any:
    # the brakes are the subject of test_auth_limits.py: here they must not get in the way
    return load_settings(environ={"ECOPATROL_CONFIG": str(CONFIG),
                                  "ECOPATROL_DATABASE_URL": f"sqlite:///{folder / 'unused.db'}",
                                  "ECOPATROL_AUTH__MAX_FAILURES": "1000000",
                                  "ECOPATROL_REPORTS__PUBLIC_BURST": "1000000"})


def _real_app() -> FastAPI:
    """The app ``ecopatrol serve`` runs (building it touches no database, so it can be made at
    collection time and its routes become the test cases)."""
    settings = _settings(Path(tempfile.gettempdir()))
    return create_app(Runtime(settings=settings, store=open_store("sqlite://", migrate=False)),
                      scheduler=False, delivery_worker=False)


ROUTES = route_rules(_real_app())


# ------------------------------------------------------------------------------ the registry


def test_every_route_has_exactly_one_explicit_rule() -> None:
    missing = [f"{r.label} ({r.name}): {r.problem}" for r in ROUTES if r.rule is None]
    assert not missing, "routes without a permission:\n" + "\n".join(missing)


def test_the_table_walks_pages_mounts_docs_phone_protocols_and_the_stream() -> None:
    labels = {r.label for r in ROUTES}
    for expected in ("GET /static", "GET /openapi.json", "GET /docs", "GET /redoc", "POST /ingest/osmand",
                     "POST /ingest/owntracks", "GET /api/v1/alerts/stream", "GET /review", "GET /m",
                     "GET /r/{code}", "POST /m/login", "GET /api/v1/exports/{fmt}"):
        assert expected in labels


def test_no_declaration_is_left_behind_by_a_renamed_route() -> None:
    assert stale_declarations(_real_app()) == []


def test_rules_come_from_the_dependency_tree() -> None:
    app = FastAPI()

    @app.get("/open")
    def open_route() -> dict:
        return {}

    @app.get("/partners", dependencies=[Depends(require("partner"))])
    def partners() -> dict:
        return {}

    @app.get("/anyone")
    def anyone(_: Annotated[Principal, Depends(current_principal)]) -> dict:
        return {}

    @app.get("/healthz", dependencies=[Depends(require())])
    def both() -> dict:
        return {}

    rules = {r.path: r for r in route_rules(app) if r.path in ("/open", "/partners", "/anyone", "/healthz")}
    assert rules["/open"].rule is None and "no permission" in rules["/open"].problem
    assert rules["/partners"].rule is not None
    assert rules["/partners"].rule.admits == {"commander", "partner"}
    assert rules["/anyone"].rule is not None
    assert rules["/anyone"].rule.admits == {"commander", "squad", "partner", "device"}
    # declared public in the table AND stated by a dependency: ambiguous, so no rule
    assert ("GET", "/healthz") in DECLARED and rules["/healthz"].rule is None
    assert "both" in rules["/healthz"].problem
    assert dependency_rule(None) is None


def test_require_refuses_a_misspelt_role() -> None:
    with pytest.raises(ValueError, match="squads"):
        require("squads")


# ------------------------------------------------------------------------------ the matrix


@dataclass
class World:
    runtime: Runtime
    http: httpx.Client
    tokens: dict[str, str]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp(f"permissions-{request.param}")
    store: Store
    if request.param == "sqlite":
        store = open_store(f"sqlite:///{folder / 'test.db'}")
    else:
        store = request.getfixturevalue("pg_store")
        _truncate(store)
    runtime = Runtime(settings=_settings(folder), store=store, clock=FakeClock(T0_MS))
    load_county(runtime, folder / "layers")
    now = runtime.now_ms()
    with runtime.store.write() as conn:
        units_repo.upsert_unit(conn, "car-1", mode="vehicle", now_ms=now)
        units_repo.upsert_unit(conn, "foot-1", mode="foot", now_ms=now)
        units_repo.add_device(conn, "dev-open", "car-1", key_hash=None, now_ms=now)
        units_repo.add_device(conn, "dev-keyed", "foot-1", key_hash=digest(DEVICE_KEY), now_ms=now)
        tokens = {
            "commander": create_token(conn, role="commander", name="c", now_ms=now),
            "squad": create_token(conn, role="squad", name="s", squad_id="sq-perm", now_ms=now),
            "partner": create_token(conn, role="partner", name="p", org="县林业站", now_ms=now),
            "device": create_token(conn, role="device", name="d", unit_id="car-1", now_ms=now),
            "expired": create_token(conn, role="commander", name="old", now_ms=now - 10_000,
                                    expires_ms=now - 1),
            "forged": "ep_com_" + "A" * 43,
        }
        tokens["revoked"] = create_token(conn, role="commander", name="lost", now_ms=now)
        lost = verify_token(conn, tokens["revoked"], now_ms=now)
        assert lost is not None and revoke_token(conn, lost.token_id, now_ms=now)
    server = Server(build_app(runtime, delivery=False)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30, follow_redirects=False) as http:
            yield World(runtime, http, tokens)
    finally:
        server.stop()
        if request.param == "sqlite":
            store.dispose()


DUMMY = {"report_id": "999999", "token_id": "999999", "n": "1", "action": "triage", "code": "ZZZZ-ZZZZ",
         "kind": "townships", "fmt": "nope"}


def _url(path: str) -> str:
    if path == "/static":
        return "/static/app.css"
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: DUMMY.get(m.group(1), "zz-none"), path)


def _request(route: RouteRule, caller: str, world: World) -> dict[str, Any]:
    """The minimal request ``caller`` makes to ``route``, with the credential it holds."""
    assert route.rule is not None
    token = world.tokens.get(caller)
    bearer = {"Authorization": f"Bearer {token}"} if token else {}
    url = _url(route.path)
    body: dict[str, Any] = {"json": {}} if route.method in ("POST", "PUT", "PATCH") else {}
    t_s = T0_MS // 1000 - 60
    if route.path == "/ingest/osmand":
        device = "dev-open" if caller == "device" else "dev-keyed"  # others lack the keyed device's key
        query = {"id": device, "lat": NEAR_RIVER[1], "lon": NEAR_RIVER[0], "timestamp": t_s}
        return {"url": url, "params": query, "headers": {} if caller == "device" else bearer}
    if route.path == "/ingest/owntracks":
        fix = {"_type": "location", "lat": NEAR_RIVER[1], "lon": NEAR_RIVER[0], "tst": t_s, "tid": "k1"}
        headers = {"X-Limit-D": "dev-keyed"}
        key = DEVICE_KEY if caller == "device" else "guessed-key" if caller == "forged" else None
        if key is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"dev-keyed:{key}".encode()).decode()
        elif token:
            headers.update(bearer)
        return {"url": url, "json": fix, "headers": headers}
    if route.path == "/m/login":
        return {"url": url, "json": {"token": token} if token else {"code": "ZZZZZZZZ"}}
    if route.path in ("/review/login", "/review/logout"):
        return {"url": url, "data": {"token": token or "not-a-token"}}
    return {"url": url, "headers": bearer, **body}


def _call(world: World, route: RouteRule, caller: str) -> tuple[int, str, str]:
    with world.http.stream(route.method, **_request(route, caller, world)) as response:
        ctype = response.headers.get("content-type", "")
        text = "" if "event-stream" in ctype else response.read().decode("utf-8", "replace")
        return response.status_code, ctype, text


@pytest.mark.parametrize("caller", ALL_CALLERS)
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.label)
def test_route_admits_exactly_its_rule(world: World, route: RouteRule, caller: str) -> None:
    assert route.rule is not None, f"{route.label} has no permission: {route.problem}"
    status, ctype, text = _call(world, route, caller)
    where = f"{route.label} as {caller}: {status} {text[:300]}"
    if route.rule.admitted(caller):
        assert status not in (401, 403, 429), where
        assert status < 500, where
        return
    if caller in BAD_CREDENTIALS:
        assert status == 401, where
    else:
        assert status in (401, 403), where
    if "json" in ctype:
        detail = httpx.Response(status, content=text).json()["detail"]
        assert detail and detail[0]["msg"], where
    else:
        assert text.strip(), where  # the review page's sign-in form says why
