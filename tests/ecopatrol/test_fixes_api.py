"""HTTP ingest: the batch API and the phone protocols, as the apps send them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ecopatrol.api.app import create_app
from ecopatrol.runtime import Runtime
from ecopatrol.store import units_repo
from ecopatrol.store.tokens_repo import create_token, digest
from tests.ecopatrol.helpers_layers import load_small_county


@pytest.fixture
def api(runtime: Runtime, tmp_path: Path) -> TestClient:
    load_small_county(runtime, tmp_path / "layers")
    now = runtime.now_ms()
    with runtime.store.write() as conn:
        units_repo.upsert_unit(conn, "car-1", mode="vehicle", now_ms=now)
        units_repo.upsert_unit(conn, "foot-1", mode="foot", now_ms=now)
        units_repo.add_device(conn, "866000000000001", "car-1", key_hash=None, now_ms=now)
        units_repo.add_device(conn, "ot-phone", "foot-1", key_hash=digest("s3cret-key"), now_ms=now)
        tokens = {"commander": create_token(conn, role="commander", now_ms=now),
                  "device": create_token(conn, role="device", unit_id="car-1", now_ms=now),
                  "partner": create_token(conn, role="partner", org="林业局", now_ms=now)}
    client = TestClient(create_app(runtime))
    client.tokens = tokens  # type: ignore[attr-defined]
    return client


def _auth(api: TestClient, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.tokens[role]}"}  # type: ignore[attr-defined]


def _batch(runtime: Runtime, unit: str = "car-1", n: int = 3) -> dict:
    t = runtime.now_ms() // 1000 - 600
    return {"fixes": [{"unit_id": unit, "time": t + 10 * i, "lon": 120.71 + 0.001 * i, "lat": 28.8003}
                      for i in range(n)]}


def test_batch_is_stored_once(api: TestClient, runtime: Runtime) -> None:
    body = _batch(runtime)
    first = api.post("/api/v1/fixes", json=body, headers=_auth(api, "device"))
    assert first.status_code == 200, first.text
    assert first.json()["accepted"] == 3
    again = api.post("/api/v1/fixes", json=body, headers=_auth(api, "device"))
    assert again.json()["accepted"] == 0 and again.json()["duplicates"] == 3
    stored = api.get("/api/v1/units/car-1/fixes?since=1h", headers=_auth(api, "commander")).json()
    assert stored["type"] == "FeatureCollection" and len(stored["features"]) == 3


def test_tokens_are_required_and_scoped(api: TestClient, runtime: Runtime) -> None:
    assert api.post("/api/v1/fixes", json=_batch(runtime)).status_code == 401
    bad = api.post("/api/v1/fixes", json=_batch(runtime), headers={"Authorization": "Bearer forged"})
    assert bad.status_code == 401
    other = api.post("/api/v1/fixes", json=_batch(runtime, "foot-1"), headers=_auth(api, "device"))
    assert other.status_code == 403 and "foot-1" in other.json()["detail"][0]["msg"]
    assert api.post("/api/v1/fixes", json=_batch(runtime), headers=_auth(api, "partner")).status_code == 403


@pytest.mark.parametrize(("mutate", "where"), [
    (lambda b: b["fixes"][1].update(lat=95), ["body", "fixes", 1, "lat"]),
    (lambda b: b["fixes"][0].pop("time"), ["body", "fixes", 0, "time"]),
    (lambda b: b["fixes"][2].update(colour="red"), ["body", "fixes", 2, "colour"]),
    (lambda b: b.update(datum="bd09"), ["body", "datum"]),
    (lambda b: b.update(source="a\x00b"), ["body", "source"]),
    (lambda b: b["fixes"][1].update(unit_id="car-1\n"), ["body", "fixes", 1, "unit_id"]),
])
def test_bad_batches_name_the_field(api: TestClient, runtime: Runtime, mutate, where) -> None:  # type: ignore[no-untyped-def]
    body = _batch(runtime)
    mutate(body)
    response = api.post("/api/v1/fixes", json=body, headers=_auth(api, "commander"))
    assert response.status_code == 422
    assert any(d["loc"][: len(where)] == where for d in response.json()["detail"]), response.json()


def test_infinite_measurements_are_refused_not_stored_as_null(api: TestClient, runtime: Runtime) -> None:
    body = json.dumps(_batch(runtime)).replace('"lat"', '"altitude_m": Infinity, "lat"', 1)
    response = api.post("/api/v1/fixes", content=body, headers={**_auth(api, "commander"),
                                                                 "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "fixes", 0, "altitude_m"]


def test_all_refused_batch_is_a_422_with_reasons(api: TestClient, runtime: Runtime) -> None:
    body = _batch(runtime)
    for fix in body["fixes"]:
        fix["lon"] = 100.0
    response = api.post("/api/v1/fixes", json=body, headers=_auth(api, "commander"))
    assert response.status_code == 422 and "outside_area" in response.json()["detail"][0]["msg"]


def test_traccar_client_query_string_with_knots(api: TestClient, runtime: Runtime) -> None:
    t = runtime.now_ms() // 1000 - 60
    url = f"/ingest/osmand?id=866000000000001&timestamp={t}&lat=28.8003&lon=120.715&speed=10&batt=80"
    response = api.post(url)
    assert response.status_code == 200, response.text
    fix = api.get("/api/v1/units/car-1/fixes?since=1h",
                  headers=_auth(api, "commander")).json()["features"][0]["properties"]
    assert fix["speed_mps"] == pytest.approx(10 * 0.514444, rel=1e-3) and fix["battery_pct"] == 80


def test_traccar_client_json_body(api: TestClient, runtime: Runtime) -> None:
    body = {"device_id": "866000000000001", "location": {
        "timestamp": "2025-11-20T00:50:00.000Z",
        "coords": {"latitude": 28.8003, "longitude": 120.716, "speed": 3.5, "accuracy": 8}}}
    assert api.post("/ingest/osmand", json=body).status_code == 200


def test_unknown_device_is_refused(api: TestClient, runtime: Runtime) -> None:
    t = runtime.now_ms() // 1000
    response = api.post(f"/ingest/osmand?id=stranger&timestamp={t}&lat=28.8&lon=120.71")
    assert response.status_code == 403 and "stranger" in response.json()["detail"][0]["msg"]


def test_owntracks_with_basic_auth(api: TestClient, runtime: Runtime) -> None:
    msg = {"_type": "location", "lat": 28.8003, "lon": 120.717, "tst": runtime.now_ms() // 1000 - 30,
           "tid": "ot", "acc": 10, "vel": 36}
    basic = base64.b64encode(b"ot-phone:s3cret-key").decode()
    missing = api.post("/ingest/owntracks", json=msg, headers={"X-Limit-D": "ot-phone"})
    assert missing.status_code == 401
    ok = api.post("/ingest/owntracks", json=msg,
                  headers={"X-Limit-D": "ot-phone", "Authorization": f"Basic {basic}"})
    assert ok.status_code == 200 and ok.json() == []
    other = api.post("/ingest/owntracks", json={"_type": "transition", "event": "enter"},
                     headers={"X-Limit-D": "ot-phone", "Authorization": f"Basic {basic}"})
    assert other.status_code == 200
    fixes = api.get("/api/v1/units/foot-1/fixes?since=1h", headers=_auth(api, "commander")).json()
    assert len(fixes["features"]) == 1
    assert fixes["features"][0]["properties"]["speed_mps"] == pytest.approx(10.0)


def test_coverage_endpoints(api: TestClient, runtime: Runtime) -> None:
    api.post("/api/v1/fixes", json=_batch(runtime, n=20), headers=_auth(api, "commander"))
    cov = api.get("/api/v1/coverage?since=7d", headers=_auth(api, "commander"))
    assert cov.status_code == 200, cov.text
    gaps = api.get("/api/v1/coverage/gaps?older_than_hours=72", headers=_auth(api, "commander"))
    assert gaps.status_code == 200 and gaps.json()["count"] > 0
    assert api.get("/api/v1/coverage?since=yesterday", headers=_auth(api, "commander")).status_code == 422
