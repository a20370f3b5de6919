"""The report HTTP API as clients use it, on a real loopback server: JSON and multipart with photos,
resends, partners' isolation, the lifecycle, the public tracking page, and broken input (always a 4xx
that names the field, never a 500)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from ecopatrol.config import Settings, load_settings
from ecopatrol.runtime import Runtime
from tests.ecopatrol.helpers_reports import (
    EAST_TOWNSHIP,
    NEAR_RIVER,
    T0,
    WEST_TOWNSHIP,
    bearer,
    firearm_report,
    image_bytes,
    iso,
    load_county,
    serve,
    token,
)

CONTRACT_PLACEMENT = {"reach_id", "distance_to_river_m", "cell_id", "township"}


class Api:
    def __init__(self, url: str, client: httpx.Client, runtime: Runtime) -> None:
        self.url = url
        self.http = client
        self.runtime = runtime
        self.partner = bearer(token(runtime, "partner", org="县林业站", name="林业站接口"))
        self.other_partner = bearer(token(runtime, "partner", org="县渔政站"))
        self.commander = bearer(token(runtime, "commander", name="值班长"))
        self.squad = bearer(token(runtime, "squad", squad_id="squad-1", name="一中队"))

    def send(self, body: object, headers: dict[str, str] | None = None, **kwargs) -> httpx.Response:  # type: ignore[no-untyped-def]
        return self.http.post(
            "/api/v1/reports", json=body, headers=self.partner if headers is None else headers, **kwargs
        )

    def send_form(
        self,
        body: object,
        photos: list[tuple[str, bytes, str]],
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        files = [("report", (None, json.dumps(body), "application/json"))]
        files += [("photos", p) for p in photos]
        return self.http.post(
            "/api/v1/reports", files=files, headers=self.partner if headers is None else headers
        )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The report lifecycle driven by hand here: reports do not follow their alerts."""
    return load_settings(environ={"ECOPATROL_CONFIG": str(Path(__file__).parents[2] / "config.toml"),
                                  "ECOPATROL_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}",
                                  "ECOPATROL_ESCALATION__MOVE_REPORTS": "false"})


@pytest.fixture
def api(runtime: Runtime, tmp_path: Path) -> Iterator[Api]:
    load_county(runtime, tmp_path / "layers")
    with serve(runtime) as (url, client):
        yield Api(url, client, runtime)


def _detail(response: httpx.Response) -> list[dict]:  # type: ignore[type-arg]
    body = response.json()
    assert isinstance(body["detail"], list) and body["detail"], body
    for item in body["detail"]:
        assert item["msg"] and isinstance(item["loc"], list)
    return body["detail"]


# --- sending ----------------------------------------------------------------------------------------


def test_a_partner_sends_json_and_gets_the_contract_fields(api: Api) -> None:
    response = api.send(firearm_report())
    assert response.status_code == 201, response.text
    body = response.json()
    assert {"id", "tracking_code", "status", "placement"} <= body.keys()
    assert body["placement"].keys() >= CONTRACT_PLACEMENT
    assert body["status"] == "received"
    assert body["org"] == "县林业站" and body["channel"] == "api"
    assert body["placement"]["township"] == WEST_TOWNSHIP
    assert response.headers["location"] == body["status_url"]
    assert body["status_url"] == f"{api.url}/r/{body['tracking_code']}"
    assert api.http.get(f"/api/v1/reports/{body['id']}", headers=api.partner).json() == body


def test_photos_by_multipart_are_stored_and_served_as_sent(api: Api) -> None:
    jpeg = image_bytes("JPEG", (120, 80), gps=NEAR_RIVER, taken=T0 - timedelta(hours=1))
    webp = image_bytes("WEBP", (40, 40), color=(200, 10, 10))
    response = api.send_form(
        firearm_report(), [("a.jpg", jpeg, "image/jpeg"), ("b.webp", webp, "image/webp")]
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["photo_count"] == 2 and body["flags"] == []
    assert [(p["content_type"], p["width_px"]) for p in body["photos"]] == [
        ("image/jpeg", 120),
        ("image/webp", 40),
    ]
    for n, data in ((1, jpeg), (2, webp)):
        got = api.http.get(f"/api/v1/reports/{body['id']}/photos/{n}", headers=api.commander)
        assert got.status_code == 200 and got.content == data
    assert api.http.get(f"/api/v1/reports/{body['id']}/photos/3", headers=api.commander).status_code == 404
    assert (
        api.http.get(f"/api/v1/reports/{body['id']}/photos/1", headers=api.other_partner).status_code == 404
    )


def test_squads_and_commanders_send_too(api: Api) -> None:
    for headers in (api.squad, api.commander):
        assert api.send(firearm_report(), headers).status_code == 201


def test_a_resend_with_the_same_key_returns_the_first_result(api: Api) -> None:
    headers = {**api.partner, "Idempotency-Key": "c0ffee-1"}
    first = api.send(firearm_report(), headers)
    again = api.send(firearm_report(), headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    reused = api.send(firearm_report(description="something else"), headers)
    assert reused.status_code == 422 and _detail(reused)[0]["loc"] == ["header", "Idempotency-Key"]
    assert api.http.get("/api/v1/reports", headers=api.commander).json()["total"] == 1


def test_simultaneous_resends_store_one_report(api: Api) -> None:
    photo = image_bytes()
    results: list[httpx.Response] = []

    def send() -> None:
        with httpx.Client(base_url=api.url, timeout=30) as client:
            files = [
                ("report", (None, json.dumps(firearm_report()))),
                ("photos", ("p.jpg", photo, "image/jpeg")),
            ]
            results.append(
                client.post(
                    "/api/v1/reports", files=files, headers={**api.partner, "Idempotency-Key": "race"}
                )
            )

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.status_code for r in results} == {201}
    assert len({r.json()["id"] for r in results}) == 1
    assert api.http.get("/api/v1/reports", headers=api.commander).json()["total"] == 1


def test_the_public_form_endpoint_needs_no_token_and_answers_only_the_code(api: Api) -> None:
    response = api.http.post(
        "/api/v1/public/reports", json=firearm_report(location=None, place_name=EAST_TOWNSHIP)
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"tracking_code", "status", "status_url", "qr_svg_url", "category", "received_at"}
    listed = api.http.get("/api/v1/reports", headers=api.commander).json()["items"]
    assert listed[0]["channel"] == "public" and listed[0]["org"] is None
    assert api.http.get("/api/v1/reports", headers=api.partner).json()["total"] == 0


def test_the_public_endpoint_is_rate_limited_per_address(api: Api) -> None:
    codes = [
        api.http.post("/api/v1/public/reports", json={"category": "nope"}).status_code for _ in range(12)
    ]
    assert codes[:10] == [422] * 10
    assert codes[10:] == [429, 429]
    limited = api.http.post("/api/v1/public/reports", json=firearm_report())
    assert int(limited.headers["retry-after"]) >= 1
    assert _detail(limited)[0]["type"] == "rate_limited"
    assert api.send(firearm_report()).status_code == 201  # token holders are not limited


# --- access -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer ep_par_not-a-real-key"}, 401),
        ({"Authorization": "Basic eDp5"}, 401),
    ],
)
def test_a_missing_or_bad_api_key_is_401_naming_the_header(
    api: Api, headers: dict[str, str], status: int
) -> None:
    response = api.send(firearm_report(), headers)
    assert response.status_code == status
    assert _detail(response)[0]["loc"] == ["header", "Authorization"]


def test_device_tokens_and_partners_without_org_may_not_send(api: Api) -> None:
    device = bearer(token(api.runtime, "device"))
    assert api.send(firearm_report(), device).status_code == 403
    no_org = bearer(token(api.runtime, "partner"))
    response = api.send(firearm_report(), no_org)
    assert response.status_code == 403 and "organisation" in _detail(response)[0]["msg"]


def test_partners_see_only_their_organisation(api: Api) -> None:
    mine = api.send(firearm_report()).json()["id"]
    theirs = api.send(firearm_report(description="x"), api.other_partner).json()["id"]
    assert api.http.get(f"/api/v1/reports/{theirs}", headers=api.partner).status_code == 404
    assert api.http.get(f"/api/v1/reports/{mine}", headers=api.other_partner).status_code == 404
    assert [r["id"] for r in api.http.get("/api/v1/reports", headers=api.partner).json()["items"]] == [mine]
    assert api.http.get("/api/v1/reports", headers=api.commander).json()["total"] == 2
    assert api.http.get("/api/v1/reports/999", headers=api.commander).status_code == 404


def test_list_filters(api: Api) -> None:
    fishing = firearm_report(category="illegal_fishing", details={"method": "net", "boat": True})
    first = api.send(fishing).json()["id"]
    api.send(firearm_report())
    api.http.post(f"/api/v1/reports/{first}/triage", headers=api.commander)

    def ids(**params: str) -> list[int]:
        response = api.http.get("/api/v1/reports", params=params, headers=api.commander)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["items"]]

    assert ids(category="illegal_fishing") == [first]
    assert ids(status="triaged") == [first]
    assert len(ids(since="1h")) == 2
    for since in ("yesterday", "2030-01-01T00:00:00Z"):
        bad = api.http.get("/api/v1/reports", params={"since": since}, headers=api.commander)
        assert bad.status_code == 422 and _detail(bad)[0]["loc"] == ["query", "since"]
    assert (
        api.http.get("/api/v1/reports", params={"status": "lost"}, headers=api.commander).status_code == 422
    )


# --- lifecycle --------------------------------------------------------------------------------------


def test_the_lifecycle_through_the_api(api: Api) -> None:
    report_id = api.send(firearm_report()).json()["id"]

    def move(action: str, headers: dict[str, str], body: object = None) -> httpx.Response:
        return api.http.post(f"/api/v1/reports/{report_id}/{action}", json=body, headers=headers)

    assert move("triage", api.partner).status_code == 403
    assert move("resolve", api.commander).status_code == 409
    assert "triage" in _detail(move("resolve", api.commander))[0]["msg"]
    assert move("triage", api.commander).status_code == 200
    missing_squad = move("assign", api.commander, {})
    assert missing_squad.status_code == 422 and _detail(missing_squad)[0]["loc"] == ["body", "squad_id"]
    assert move("assign", api.commander, {"squad_id": "squad-1"}).json()["assigned_squad_id"] == "squad-1"
    assert move("on_scene", api.squad).status_code == 200
    done = move("resolve", api.squad, {"note": "三人离开，收缴电鱼器一套"})
    assert done.status_code == 200
    assert [e["status"] for e in done.json()["timeline"]] == [
        "received",
        "triaged",
        "assigned",
        "on_scene",
        "resolved",
    ]
    assert move("reject", api.commander, {"reason": "late"}).status_code == 409
    assert move("explode", api.commander).status_code == 422


def test_rejecting_needs_a_reason(api: Api) -> None:
    report_id = api.send(firearm_report()).json()["id"]
    response = api.http.post(f"/api/v1/reports/{report_id}/reject", headers=api.commander)
    assert response.status_code == 422 and _detail(response)[0]["loc"] == ["body", "reason"]
    ok = api.http.post(
        f"/api/v1/reports/{report_id}/reject", json={"reason": "重复举报"}, headers=api.commander
    )
    assert ok.json()["status"] == "rejected"


# --- the tracking page ------------------------------------------------------------------------------


def test_a_stranger_with_the_code_sees_status_and_timeline_only(api: Api) -> None:
    sent = api.send(firearm_report(reporter={"name": "王五", "phone": "13800000000"})).json()
    api.http.post(f"/api/v1/reports/{sent['id']}/triage", headers=api.commander)
    api.http.post(
        f"/api/v1/reports/{sent['id']}/assign",
        json={"squad_id": "squad-1", "note": "东溪桥头集合"},
        headers=api.commander,
    )
    stranger = httpx.Client(base_url=api.url, timeout=30)
    code = sent["tracking_code"]
    as_json = stranger.get(f"/r/{code}", headers={"Accept": "application/json"})
    assert as_json.status_code == 200
    assert as_json.json()["status"] == "assigned"
    assert [s["status"] for s in as_json.json()["timeline"]] == ["received", "triaged", "assigned"]
    page = stranger.get(f"/r/{code.lower().replace('-', '')}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "已派警" in page.text and code in page.text
    english = stranger.get(f"/r/{code}?lang=en")
    assert "Squad assigned" in english.text
    for response in (as_json, page, english):
        for secret in (
            "王五",
            "13800000000",
            "squad-1",
            "值班长",
            "一中队",
            "东溪桥头",
            "县林业站",
            "ridge",
            str(NEAR_RIVER[0]),
        ):
            assert secret not in response.text
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("code", ["0000-0000-0000-0000", "not-a-code", "x" * 64, "%F0%9F%90%9F"])
def test_an_unknown_code_is_404_in_both_forms(api: Api, code: str) -> None:
    assert api.http.get(f"/r/{code}").status_code == 404
    response = api.http.get(f"/r/{code}", headers={"Accept": "application/json"})
    assert response.status_code == 404 and _detail(response)[0]["loc"] == ["path", "code"]
    assert api.http.get(f"/r/{code}/qr.svg").status_code == 404


def test_the_qr_code_is_an_svg(api: Api) -> None:
    code = api.send(firearm_report()).json()["tracking_code"]
    response = api.http.get(f"/r/{code}/qr.svg")
    assert response.status_code == 200 and response.headers["content-type"] == "image/svg+xml"
    root = ElementTree.fromstring(response.content)
    assert root.tag.endswith("svg") and int(root.attrib["width"]) >= 100


def test_tracking_codes_are_unguessable_and_distinct(api: Api) -> None:
    codes = {api.send(firearm_report(description=str(i))).json()["tracking_code"] for i in range(20)}
    assert len(codes) == 20
    for code in codes:
        raw = code.replace("-", "")
        assert len(raw) == 16 and not set(raw) & set("ILOU")


# --- the layers for the form's map ------------------------------------------------------------------


def test_layers_are_served_as_geojson_with_etag(api: Api) -> None:
    townships = api.http.get("/api/v1/layers/townships.geojson")
    assert townships.status_code == 200
    assert townships.headers["content-type"].startswith("application/geo+json")
    names = {f["properties"]["name"] for f in townships.json()["features"]}
    assert names == {WEST_TOWNSHIP, EAST_TOWNSHIP}
    for feature in townships.json()["features"]:
        lon, lat = feature["geometry"]["coordinates"][0][0]
        assert 120.6 < lon < 120.8 and 28.7 < lat < 28.9
    reaches = api.http.get("/api/v1/layers/reaches.geojson").json()["features"]
    assert reaches and all(f["geometry"]["type"] == "LineString" for f in reaches)
    again = api.http.get(
        "/api/v1/layers/townships.geojson", headers={"If-None-Match": townships.headers["etag"]}
    )
    assert again.status_code == 304
    assert api.http.get("/api/v1/layers/secrets.geojson").status_code == 422


# --- documentation ----------------------------------------------------------------------------------


def test_openapi_documents_every_category_and_both_body_types(api: Api) -> None:
    spec = api.http.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    create = schemas["ReportCreate"]
    mapping = create["discriminator"]["mapping"]
    assert set(mapping) == {
        "illegal_fishing",
        "electrofishing",
        "poisoning",
        "illegal_hunting",
        "snare",
        "firearm",
        "other",
    }
    firearm = schemas["FirearmDetails"]["properties"]
    assert firearm["bearing_deg"]["anyOf"][0]["maximum"] == 360
    assert schemas["IllegalFishingDetails"]["properties"]["method"]["enum"] == [
        "net",
        "electrofishing",
        "poison",
        "rod",
        "other",
    ]
    content = spec["paths"]["/api/v1/reports"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= content.keys()
    assert "/r/{code}" in spec["paths"] and "/api/v1/reports/{report_id}/{action}" in spec["paths"]


# --- broken input: always 4xx naming the field, never 500 -------------------------------------------

TEXT_PHOTO = ("notes.jpg", b"this is not a picture", "image/jpeg")


# One server for each table (the cases are many): every mismatch is collected and shown at once.
BAD_JSON: list[tuple[object, int, list[str]]] = [
    (firearm_report(location=None), 422, ["body", "location"]),
    (
        firearm_report(location={"type": "Point", "coordinates": [120.7, 95.0]}),
        422,
        ["body", "location", "coordinates"],
    ),
    (
        firearm_report(location={"type": "Point", "coordinates": [120.7]}),
        422,
        ["body", "location", "coordinates"],
    ),
    (
        firearm_report(location={"type": "LineString", "coordinates": [[1, 2], [3, 4]]}),
        422,
        ["body", "location"],
    ),
    (
        firearm_report(location={"type": "Point", "coordinates": [116.39, 39.9]}),
        422,
        ["body", "location"],
    ),
    (firearm_report(observed_at=iso(T0 + timedelta(days=2))), 422, ["body", "observed_at"]),
    (firearm_report(observed_at="2025-11-20T08:00:00"), 422, ["body", "observed_at"]),
    (firearm_report(observed_at="yesterday"), 422, ["body", "observed_at"]),
    (firearm_report(observed_at="2019-01-01T00:00:00+08:00"), 422, ["body", "observed_at"]),
    (firearm_report(category="littering"), 422, ["body", "category"]),
    ({k: v for k, v in firearm_report().items() if k != "category"}, 422, ["body", "category"]),
    (firearm_report(details={"shots_heard": 1, "method": "net"}), 422, ["body", "details", "method"]),
    (
        firearm_report(details={"shots_heard": 1, "bearing_deg": 400}),
        422,
        ["body", "details", "bearing_deg"],
    ),
    (firearm_report(details={"bearing_deg": 10}), 422, ["body", "details", "shots_heard"]),
    (firearm_report(category="poisoning", details={"estimated_kg": 20}), 422, ["body", "details"]),
    (
        firearm_report(category="illegal_fishing", details={"method": "dynamite"}),
        422,
        ["body", "details", "method"],
    ),
    (firearm_report(category="other", details={}, description=" "), 422, ["body", "description"]),
    (firearm_report(datum="bd09"), 422, ["body", "datum"]),
    (firearm_report(place_name="", location=None), 422, ["body", "place_name"]),
    (firearm_report(unexpected=1), 422, ["body", "unexpected"]),
    (firearm_report(reporter={"phone": "call me"}), 422, ["body", "reporter", "phone"]),
    ([firearm_report()], 422, ["body"]),
    ("just text", 422, ["body"]),
]
BAD_BODIES: list[tuple[bytes, str, int, list[str]]] = [
    (b"", "application/json", 422, ["body"]),
    (b"{not json", "application/json", 422, ["body"]),
    (b"[" * 100_000, "application/json", 422, ["body"]),
    (b'{"category": "firearm", "observed_at": NaN}', "application/json", 422, ["body", "observed_at"]),
    (b"category=firearm", "application/x-www-form-urlencoded", 415, ["header", "Content-Type"]),
    (b"<report/>", "text/xml", 415, ["header", "Content-Type"]),
]
BAD_PHOTOS: list[tuple[list[tuple[str, bytes, str]], int, list[str | int]]] = [
    ([TEXT_PHOTO], 422, ["body", "photos", 0]),
    (
        [("ok.png", image_bytes("PNG"), "image/png"), ("x.gif", image_bytes("GIF"), "image/gif")],
        422,
        ["body", "photos", 1],
    ),
    ([("p.jpg", image_bytes(), "image/jpeg")] * 6, 422, ["body", "photos"]),
    (
        [("big.jpg", b"\xff\xd8\xff" + b"\x00" * (8 * 1024 * 1024), "image/jpeg")],
        413,
        ["body", "photos", 0],
    ),
]


def _mismatch(case: object, response: httpx.Response, status: int, loc: list) -> str | None:  # type: ignore[type-arg]
    detail = (
        response.json().get("detail") if response.headers.get("content-type") == "application/json" else None
    )
    got = detail[0]["loc"][: len(loc)] if isinstance(detail, list) and detail else None
    if response.status_code == status and got == loc and all(d.get("msg") for d in detail):
        return None
    return f"{str(case)[:80]}: expected {status} at {loc}, got {response.status_code} {response.text[:160]}"


def test_bad_json_reports_are_4xx_naming_the_field(api: Api) -> None:
    problems = [_mismatch(body, api.send(body), status, loc) for body, status, loc in BAD_JSON]
    assert [p for p in problems if p] == []


def test_undecodable_bodies_are_4xx(api: Api) -> None:
    problems = [
        _mismatch(
            raw[:40],
            api.http.post("/api/v1/reports", content=raw, headers={**api.partner, "Content-Type": ctype}),
            status,
            loc,
        )
        for raw, ctype, status, loc in BAD_BODIES
    ]
    assert [p for p in problems if p] == []


def test_bad_photos_are_4xx_naming_the_photo(api: Api) -> None:
    problems = [
        _mismatch([name for name, _, _ in photos], api.send_form(firearm_report(), photos), status, loc)
        for photos, status, loc in BAD_PHOTOS
    ]
    assert [p for p in problems if p] == []
    assert api.http.get("/api/v1/reports", headers=api.commander).json()["total"] == 0


def test_a_form_without_the_report_field_names_it(api: Api) -> None:
    response = api.http.post(
        "/api/v1/reports", files=[("photos", ("p.jpg", image_bytes(), "image/jpeg"))], headers=api.partner
    )
    assert response.status_code == 422 and _detail(response)[0]["loc"] == ["body", "report"]
    response = api.http.post("/api/v1/reports", files=[("report", (None, "{broken"))], headers=api.partner)
    assert response.status_code == 422 and _detail(response)[0]["loc"] == ["body", "report"]


def test_a_bad_idempotency_key_is_named(api: Api) -> None:
    response = api.send(firearm_report(), {**api.partner, "Idempotency-Key": "x" * 300})
    assert response.status_code == 422 and _detail(response)[0]["loc"] == ["header", "Idempotency-Key"]


def test_check_answers_like_sending_without_storing(api: Api) -> None:
    ok = api.http.post("/api/v1/reports/check", json=firearm_report())
    assert ok.status_code == 200 and ok.json()["placement"]["township"] == WEST_TOWNSHIP
    bad = api.http.post("/api/v1/reports/check", json=firearm_report(category="nope"))
    assert bad.status_code == 422 and _detail(bad)[0]["loc"] == ["body", "category"]
    extra = api.http.post(
        "/api/v1/reports/check", json=firearm_report(details={"shots_heard": 1, "boat": True})
    )
    assert _detail(extra)[0]["loc"] == ["body", "details", "boat"]
    assert "does not belong to category firearm" in _detail(extra)[0]["msg"]
    assert api.http.get("/api/v1/reports", headers=api.commander).json()["total"] == 0


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
_field_values = {
    "category": st.sampled_from(["firearm", "snare", "other", "illegal_fishing", "poisoning", "x", ""])
    | _json_values,
    "observed_at": st.sampled_from([iso(T0), iso(T0 + timedelta(days=9)), "2025-13-01T00:00:00Z", ""])
    | _json_values,
    "location": st.builds(
        lambda lon, lat: {"type": "Point", "coordinates": [lon, lat]},
        st.floats(allow_nan=False, allow_infinity=False),
        st.floats(allow_nan=False, allow_infinity=False),
    )
    | _json_values,
    "datum": st.sampled_from(["wgs84", "gcj02", "cgcs2000", "x"]) | _json_values,
    "place_name": st.sampled_from([WEST_TOWNSHIP, "演示溪", "演示溪-0001", ""]) | _json_values,
    "details": st.dictionaries(
        st.sampled_from(
            [
                "shots_heard",
                "bearing_deg",
                "method",
                "boat",
                "estimated_kg",
                "dead_fish_seen",
                "species",
                "zzz",
            ]
        ),
        _json_values,
        max_size=4,
    ),
    "description": _json_values,
    "reporter": _json_values,
}


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.fixed_dictionaries({}, optional=_field_values))
def test_any_json_report_gets_an_answer_never_a_500(api: Api, body: dict) -> None:  # type: ignore[type-arg]
    response = api.send(body)
    assert response.status_code in (201, 413, 422), response.text
    if response.status_code != 201:
        _detail(response)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=3000), st.sampled_from(["application/json", "multipart/form-data; boundary=x", ""]))
def test_any_bytes_get_a_4xx_never_a_500(api: Api, raw: bytes, content_type: str) -> None:
    headers = {**api.partner, **({"Content-Type": content_type} if content_type else {})}
    response = api.http.post("/api/v1/reports", content=raw, headers=headers)
    assert 400 <= response.status_code < 500 or response.status_code == 201, response.text
