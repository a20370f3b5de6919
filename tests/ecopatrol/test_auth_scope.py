"""Scope, on both backends: once a role is admitted, it reaches only its own things. A partner never
sees another organisation's report (404, not the data); a squad neither reads nor moves another
squad's alert or report; a device key or token posts fixes for its own unit only; forged, expired and
revoked tokens are refused with 401 and a message, whichever way they are presented."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ecopatrol.runtime import Runtime
from ecopatrol.store import units_repo
from ecopatrol.store.tokens_repo import create_token, digest, revoke_token, verify_token
from tests.ecopatrol.helpers_alerting import NIGHT_MS, Field, field_setup
from tests.ecopatrol.helpers_reports import (
    NEAR_RIVER,
    bearer,
    build_app,
    firearm_report,
    image_bytes,
    load_county,
    token,
)

# ------------------------------------------------------------------------------ partners


@pytest.fixture
def client(runtime: Runtime, tmp_path: Path) -> Iterator[TestClient]:
    load_county(runtime, tmp_path / "layers")
    with TestClient(build_app(runtime)) as c:
        yield c


def test_a_partner_reads_its_own_organisations_reports_only(runtime: Runtime, client: TestClient) -> None:
    forestry = bearer(token(runtime, "partner", org="县林业站"))
    fisheries = bearer(token(runtime, "partner", org="县渔政站"))
    files = [("report", (None, json.dumps(firearm_report(description="secret forestry lead")),
                         "application/json")),
             ("photos", ("a.jpg", image_bytes(), "image/jpeg"))]
    sent = client.post("/api/v1/reports", files=files, headers=forestry)
    assert sent.status_code == 201, sent.text
    report_id = sent.json()["id"]

    assert client.get(f"/api/v1/reports/{report_id}", headers=forestry).status_code == 200
    assert client.get(f"/api/v1/reports/{report_id}/photos/1", headers=forestry).status_code == 200
    for path in (f"/api/v1/reports/{report_id}", f"/api/v1/reports/{report_id}/photos/1"):
        other = client.get(path, headers=fisheries)
        assert other.status_code == 404, path
        assert "secret forestry lead" not in other.text and "林业站" not in other.text
    listed = client.get("/api/v1/reports", headers=fisheries).json()
    assert listed["total"] == 0 and listed["items"] == []
    # partners do not move reports, their own or not
    for headers in (forestry, fisheries):
        moved = client.post(f"/api/v1/reports/{report_id}/triage", json={}, headers=headers)
        assert moved.status_code == 403
    # a partner token without an organisation reads nothing at all
    orphan = bearer(token(runtime, "partner"))
    assert client.get("/api/v1/reports", headers=orphan).status_code == 403
    assert client.get(f"/api/v1/reports/{report_id}", headers=orphan).status_code == 404


# ------------------------------------------------------------------------------ squads


@pytest.fixture
def night(runtime: Runtime, tmp_path: Path) -> Iterator[Field]:
    yield from field_setup(runtime, tmp_path / "layers", NIGHT_MS)


def test_a_squad_neither_reads_nor_moves_another_squads_alert(night: Field) -> None:
    night.report("firearm")
    (alert,) = night.alerts()
    owner = alert["squad"]["id"]
    other = next(s for s in night.squad_tokens if s != owner)
    theirs, mine = night.squad_tokens[other], night.squad_tokens[owner]
    c, aid = night.client, alert["id"]

    assert c.get(f"/api/v1/alerts/{aid}", headers=theirs).status_code == 404
    assert night.alerts(theirs) == []
    assert c.get("/api/v1/alerts", params={"squad": owner}, headers=theirs).status_code == 403
    for action, body in (("ack", None), ("en_route", None), ("on_scene", None),
                         ("resolve", {"outcome": "confirmed"}), ("decline", {"reason": "too_far"})):
        response = c.post(f"/api/v1/alerts/{aid}/{action}", json=body, headers=theirs)
        assert response.status_code == 404, (action, response.text)
        assert "timeline" not in response.text
    deliveries = c.get(f"/api/v1/alerts/{aid}/deliveries", headers=theirs)
    assert deliveries.status_code == 403 and "not your squad" in deliveries.json()["detail"][0]["msg"]
    assert c.post(f"/api/v1/alerts/{aid}/resend", headers=theirs).status_code == 403  # commanders only
    assert night.alert(aid)["state"] == "open"  # nothing moved

    # the report behind it: only the squad it is assigned to acts on it
    report_id = int(alert["evidence"]["report_ids"][0])
    assigned = c.get(f"/api/v1/reports/{report_id}", headers=night.commander).json()
    if assigned["status"] == "assigned":
        refused = c.post(f"/api/v1/reports/{report_id}/on_scene", json={}, headers=theirs)
        assert refused.status_code == 403
    assert c.post(f"/api/v1/alerts/{aid}/ack", headers=mine).status_code == 200


def test_a_squad_token_without_a_squad_sees_no_alerts_and_no_stream(night: Field) -> None:
    night.report("firearm")
    lost = bearer(token(night.runtime, "squad"))
    assert night.client.get("/api/v1/alerts", headers=lost).status_code == 403
    (alert,) = night.alerts()
    assert night.client.get(f"/api/v1/alerts/{alert['id']}", headers=lost).status_code == 403
    assert night.client.get("/api/v1/alerts/stream", headers=lost).status_code == 403


# ------------------------------------------------------------------------------ fixes


@pytest.fixture
def units(runtime: Runtime, client: TestClient) -> dict[str, dict[str, str]]:
    """car-1 (squad A's), foot-1 (squad B's), free-1 (no squad); device keys for phones of each."""
    now = runtime.now_ms()
    with runtime.store.write() as conn:
        for unit_id, mode in (("car-1", "vehicle"), ("foot-1", "foot"), ("free-1", "foot")):
            units_repo.upsert_unit(conn, unit_id, mode=mode, now_ms=now)
        units_repo.set_unit_squad(conn, "car-1", "sq-a")
        units_repo.set_unit_squad(conn, "foot-1", "sq-b")
        units_repo.add_device(conn, "ot-car", "car-1", key_hash=digest("car-key-123"), now_ms=now)
        units_repo.add_device(conn, "ot-foot", "foot-1", key_hash=digest("foot-key-456"), now_ms=now)
        made = {"device car-1": create_token(conn, role="device", unit_id="car-1", now_ms=now),
                "device unbound": create_token(conn, role="device", now_ms=now),
                "squad A": create_token(conn, role="squad", squad_id="sq-a", now_ms=now),
                "squad none": create_token(conn, role="squad", now_ms=now)}
    return {k: bearer(v) for k, v in made.items()}


def _fixes(runtime: Runtime, *unit_ids: str) -> dict:
    t = runtime.now_ms() // 1000 - 600
    return {"fixes": [{"unit_id": u, "time": t + i, "lon": NEAR_RIVER[0], "lat": NEAR_RIVER[1]}
                      for i, u in enumerate(unit_ids)]}


def _stored(client: TestClient, unit_id: str, commander: dict[str, str]) -> int:
    return len(client.get(f"/api/v1/units/{unit_id}/fixes?since=2h", headers=commander).json()["features"])


def test_a_device_token_posts_for_its_own_unit_only(runtime: Runtime, client: TestClient,
                                                     units: dict[str, dict[str, str]]) -> None:
    commander = bearer(token(runtime, "commander"))
    other = client.post("/api/v1/fixes", json=_fixes(runtime, "foot-1"), headers=units["device car-1"])
    assert other.status_code == 403 and "foot-1" in other.json()["detail"][0]["msg"]
    mixed = client.post("/api/v1/fixes", json=_fixes(runtime, "car-1", "foot-1"),
                        headers=units["device car-1"])
    assert mixed.status_code == 403
    assert _stored(client, "car-1", commander) == 0  # a refused batch stores nothing, not even its own
    unbound = client.post("/api/v1/fixes", json=_fixes(runtime, "car-1"), headers=units["device unbound"])
    assert unbound.status_code == 403
    own = client.post("/api/v1/fixes", json=_fixes(runtime, "car-1"), headers=units["device car-1"])
    assert own.status_code == 200, own.text


def test_a_squad_posts_for_its_squads_units_only(runtime: Runtime, client: TestClient,
                                                  units: dict[str, dict[str, str]]) -> None:
    def post(unit_id: str) -> int:
        response = client.post("/api/v1/fixes", json=_fixes(runtime, unit_id), headers=units["squad A"])
        return response.status_code

    assert [post(u) for u in ("foot-1", "free-1", "nobody", "car-1")] == [403, 403, 403, 200]


def test_a_squad_token_without_a_squad_posts_for_no_unit(runtime: Runtime, client: TestClient,
                                                         units: dict[str, dict[str, str]]) -> None:
    response = client.post("/api/v1/fixes", json=_fixes(runtime, "free-1"), headers=units["squad none"])
    assert response.status_code == 403


def test_a_squad_reads_its_own_units_positions_only(runtime: Runtime, client: TestClient,
                                                    units: dict[str, dict[str, str]]) -> None:
    assert client.get("/api/v1/units/car-1/fixes", headers=units["squad A"]).status_code == 200
    assert client.get("/api/v1/units/foot-1/fixes", headers=units["squad A"]).status_code in (403, 404)


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_a_device_key_opens_its_own_device_only(runtime: Runtime, client: TestClient,
                                                 units: dict[str, dict[str, str]]) -> None:
    commander = bearer(token(runtime, "commander"))
    fix = {"_type": "location", "lat": NEAR_RIVER[1], "lon": NEAR_RIVER[0],
           "tst": runtime.now_ms() // 1000 - 60, "tid": "c1"}
    # car's key, naming the foot device (header, topic, or the Basic user): refused, nothing stored
    attempts = [
        {**_basic("ot-car", "car-key-123"), "X-Limit-D": "ot-foot"},
        _basic("ot-foot", "car-key-123"),
    ]
    for headers in attempts:
        response = client.post("/ingest/owntracks", json=fix, headers=headers)
        assert response.status_code == 401, response.text
        assert "key" in response.json()["detail"][0]["msg"]
    topic = client.post("/ingest/owntracks", json={**fix, "topic": "owntracks/x/ot-foot"},
                        headers=_basic("ot-car", "car-key-123"))
    assert topic.status_code == 401  # the topic names the device; the car's key does not open it
    # a bearer token (even a commander's) is not a device key
    assert client.post("/ingest/owntracks", json=fix, headers={**commander, "X-Limit-D": "ot-foot"}) \
        .status_code == 401
    assert _stored(client, "foot-1", commander) == 0
    # OsmAnd cannot send a key: a keyed device is refused there
    osmand = client.post("/ingest/osmand", params={"id": "ot-foot", "lat": NEAR_RIVER[1],
                                                   "lon": NEAR_RIVER[0], "timestamp": fix["tst"]})
    assert osmand.status_code == 401
    own = client.post("/ingest/owntracks", json=fix, headers={**_basic("ot-car", "car-key-123"),
                                                              "X-Limit-D": "ot-car"})
    assert own.status_code == 200, own.text
    assert _stored(client, "car-1", commander) == 1 and _stored(client, "foot-1", commander) == 0


# ------------------------------------------------------------------------------ bad tokens


def test_forged_expired_and_revoked_tokens_get_401_saying_which(runtime: Runtime, client: TestClient) -> None:
    now = runtime.now_ms()
    with runtime.store.write() as conn:
        expired = create_token(conn, role="commander", now_ms=now - 60_000, expires_ms=now - 1)
        revoked = create_token(conn, role="commander", now_ms=now)
        principal = verify_token(conn, revoked, now_ms=now)
        assert principal is not None and revoke_token(conn, principal.token_id, now_ms=now)
    forged = "ep_com_" + "x" * 43
    cases = {forged: "not known", expired: "expired", revoked: "revoked"}
    for value, says in cases.items():
        response = client.get("/api/v1/units", headers=bearer(value))
        assert response.status_code == 401
        assert says in response.json()["detail"][0]["msg"]
        assert response.headers["www-authenticate"].startswith("Bearer")
        # however they come: the stream's ?token=, the review pages' cookie and ?token=, the phone sign-in
        assert client.get("/api/v1/alerts/stream", params={"token": value}).status_code == 401
        assert client.get("/api/v1/stats", params={"token": value}).status_code == 401
        client.cookies.set("access_token", value)
        assert client.get("/api/v1/exports/csv").status_code == 401
        assert client.get("/review").status_code == 401  # the sign-in form, saying it failed
        client.cookies.clear()
        login = client.post("/m/login", json={"token": value})
        assert login.status_code == 401 and login.json()["detail"][0]["msg"]
    assert client.get("/api/v1/units").json()["detail"][0]["msg"] == "a bearer token is required"


def test_a_token_expires_on_time(runtime: Runtime, client: TestClient) -> None:
    now = runtime.now_ms()
    with runtime.store.write() as conn:
        soon = create_token(conn, role="commander", now_ms=now, expires_ms=now + 60_000)
    assert client.get("/api/v1/units", headers=bearer(soon)).status_code == 200
    runtime.clock.advance(60)  # type: ignore[attr-defined]
    late = client.get("/api/v1/units", headers=bearer(soon))
    assert late.status_code == 401 and "expired" in late.json()["detail"][0]["msg"]
