"""Hostile input through the ways fixes and reports come in: the phone protocols and the batch API over
HTTP, track files and partners' report spreadsheets from the CLI.

Never a 500 and never a half-import: an answer is a 2xx or a 4xx naming the field and the reason, and a
refused request or file leaves the store as it was (rows counted before and after). Abusive bodies (too
long, nested too deep, a million-vertex line, a decompression-bomb photo) are refused early.
"""

from __future__ import annotations

import io
import json
import struct
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from ecopatrol.api.body_limits import MAX_JSON_DEPTH, json_depth
from ecopatrol.config import Settings
from ecopatrol.reports.csv_import import CsvImportError, import_reports_csv
from ecopatrol.reports.photos import PhotoProblem, PhotoUpload, check_photo, read_exif
from ecopatrol.runtime import Runtime
from ecopatrol.store import units_repo
from ecopatrol.store.reports_schema import reports
from ecopatrol.store.schema import fixes, units
from ecopatrol.store.tokens_repo import create_token
from ecopatrol.track_import import TrackImportError, import_track_file
from tests.conftest import T0_MS
from tests.ecopatrol.helpers_layers import load_small_county
from tests.ecopatrol.helpers_reports import NEAR_RIVER, build_app, firearm_report, load_county
from tests.geo.tracks.hostile import (
    JSON_VALUES,
    ODD_TEXT,
    SCALARS,
    WILD,
    mutated,
    osmand_bodies,
    osmand_params,
    owntracks_bodies,
)

HTTP_FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FILE_FUZZ = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
DEVICE = "866000000000001"  # Traccar Client of car-1
OT_DEVICE = "ot-open"  # OwnTracks of foot-1, registered without a key
LON, LAT = 120.71, 28.8003  # on the small county's river bank
T0 = datetime.fromtimestamp(T0_MS / 1000, UTC)
JSON = {"Content-Type": "application/json"}
#: for checks where the database plays no part (refused before any write)
SQLITE_ONLY = pytest.mark.parametrize("store", ["sqlite"], indirect=True)


# --- the app, the store ---------------------------------------------------------------------------------

@pytest.fixture
def api(runtime: Runtime, tmp_path: Path) -> TestClient:
    load_small_county(runtime, tmp_path / "layers")
    now = runtime.now_ms()
    with runtime.store.write() as conn:
        units_repo.upsert_unit(conn, "car-1", mode="vehicle", now_ms=now)
        units_repo.upsert_unit(conn, "foot-1", mode="foot", now_ms=now)
        units_repo.add_device(conn, DEVICE, "car-1", key_hash=None, now_ms=now)
        units_repo.add_device(conn, OT_DEVICE, "foot-1", key_hash=None, now_ms=now)
        token = create_token(conn, role="commander", now_ms=now)
    client = TestClient(build_app(runtime), raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def _count(runtime: Runtime, table: sa.Table) -> int:
    with runtime.store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _state(runtime: Runtime) -> tuple[int, int]:
    return _count(runtime, fixes), _count(runtime, units)


def assert_clean_answer(response: Any) -> None:
    """A 2xx, or a 4xx in the API's error shape naming where and why; never a 5xx."""
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400:
        detail = response.json()["detail"]
        assert isinstance(detail, list) and detail, response.text[:300]
        assert all(isinstance(d["loc"], list) and d["msg"] for d in detail), response.text[:300]


def _send(api: TestClient, runtime: Runtime, method: str, url: str, **kwargs: Any) -> Any:
    """Send, check the answer, and check a refused request stored nothing."""
    before = _state(runtime)
    response = api.request(method, url, **kwargs)
    assert_clean_answer(response)
    if response.status_code >= 400:
        assert _state(runtime) == before, f"a {response.status_code} answer stored something"
    return response


def _seconds_ago(runtime: Runtime, seconds: float) -> int:
    return runtime.now_ms() // 1000 - int(seconds)


# --- the phone protocols ---------------------------------------------------------------------------------

def _osmand_good(runtime: Runtime) -> dict[str, str]:
    return {"id": DEVICE, "timestamp": str(_seconds_ago(runtime, 300)), "lat": str(LAT), "lon": str(LON),
            "speed": "3", "valid": "true", "location": f"{LAT},{LON}"}


@HTTP_FUZZ
@given(data=st.data(), how=st.sampled_from(["query", "form", "json"]))
def test_osmand_fields_get_a_clean_answer(api: TestClient, runtime: Runtime, data: st.DataObject,
                                          how: str) -> None:
    if how == "json":
        body = data.draw(osmand_bodies(DEVICE, LON, LAT, f"{T0 - timedelta(minutes=5):%Y-%m-%dT%H:%M:%SZ}"))
        _send(api, runtime, "POST", "/ingest/osmand", content=json.dumps(body),
              headers=JSON)
        return
    params = data.draw(osmand_params(_osmand_good(runtime)))
    kwargs = {"params": params} if how == "query" else {"data": params}
    _send(api, runtime, "POST", "/ingest/osmand", **kwargs)


@HTTP_FUZZ
@given(body=st.one_of(st.binary(max_size=400), mutated([b'{"device_id": "866000000000001", "location": '
                                                        b'{"timestamp": "2025-11-20T00:40:00Z", "coords": '
                                                        b'{"latitude": 28.8003, "longitude": 120.71}}}'])),
       content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain",
                                     ""]))
def test_osmand_bytes_get_a_clean_answer(api: TestClient, runtime: Runtime, body: bytes,
                                         content_type: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    _send(api, runtime, "POST", "/ingest/osmand", content=body, headers=headers)


@HTTP_FUZZ
@given(data=st.data(), hint=st.sampled_from([OT_DEVICE, "", "nobody", "\u00e9t\u00e9"]))
def test_owntracks_payloads_get_a_clean_answer(api: TestClient, runtime: Runtime, data: st.DataObject,
                                               hint: str) -> None:
    good = {"_type": "location", "lat": LAT, "lon": LON, "tst": _seconds_ago(runtime, 120), "tid": "f1",
            "vel": 4, "acc": 10, "batt": 80}
    body = data.draw(st.one_of(owntracks_bodies(good), st.binary(max_size=200)))
    content = body if isinstance(body, bytes) else json.dumps(body)
    headers = {"Content-Type": b"application/json", **({"X-Limit-D": hint.encode()} if hint else {})}
    _send(api, runtime, "POST", "/ingest/owntracks", content=content, headers=headers)


@pytest.mark.parametrize(("url", "body", "field"), [
    ("/ingest/osmand", {"device_id": DEVICE, "location": []}, "location"),
    ("/ingest/owntracks", {"_type": "location", "lat": 10**400, "lon": LON, "tst": 1763599000}, "lat"),
    ("/ingest/osmand", {"device_id": DEVICE, "location": {"timestamp": 10**400,
                                                          "coords": {"latitude": LAT, "longitude": LON}}},
     "timestamp"),
])
def test_found_by_fuzzing_phone_bodies_are_4xx_naming_the_field(api: TestClient, runtime: Runtime, url: str,
                                                                 body: dict[str, Any], field: str) -> None:
    """Were 500s: an empty list of locations (the route read the first fix of none); a 400-digit number
    (``float()`` overflowed in the parsers)."""
    response = _send(api, runtime, "POST", url, content=json.dumps(body),
                     headers={**JSON, "X-Limit-D": OT_DEVICE})
    assert response.status_code == 422 and field in response.json()["detail"][0]["msg"], response.text


# --- the batch API -----------------------------------------------------------------------------------------

FIX_FIELDS = ["unit_id", "time", "lon", "lat", "accuracy_m", "speed_mps", "bearing_deg", "altitude_m",
              "battery_pct", "mode"]


def _good_fix(runtime: Runtime, i: int) -> dict[str, Any]:
    return {"unit_id": "car-1", "time": _seconds_ago(runtime, 600 - 10 * i), "lon": LON + 0.0005 * i,
            "lat": LAT, "altitude_m": 12.0, "accuracy_m": 5}


@HTTP_FUZZ
@given(data=st.data())
def test_fix_batches_with_wrong_values_get_a_clean_answer(api: TestClient, runtime: Runtime,
                                                          data: st.DataObject) -> None:
    """Valid batches with fields dropped or made wild; an accepted batch reads back (no inf in JSON)."""
    batch: dict[str, Any] = {"fixes": [_good_fix(runtime, i) for i in range(data.draw(st.integers(1, 3)))]}
    for fix in batch["fixes"]:
        for name in data.draw(st.lists(st.sampled_from(FIX_FIELDS), max_size=3, unique=True)):
            if data.draw(st.booleans()):
                fix.pop(name, None)
            else:
                fix[name] = data.draw(WILD)
    if data.draw(st.booleans()):
        batch[data.draw(st.sampled_from(["datum", "source", "fixes", "extra"]))] = data.draw(WILD)
    response = _send(api, runtime, "POST", "/api/v1/fixes", content=json.dumps(batch),
                     headers=JSON)
    if response.status_code == 200:
        assert_clean_answer(api.get("/api/v1/units/car-1/fixes", params={"since": "7d"}))


@HTTP_FUZZ
@given(body=st.one_of(JSON_VALUES, st.binary(max_size=300)))
def test_any_body_to_the_batch_api_gets_a_clean_answer(api: TestClient, runtime: Runtime,
                                                       body: Any) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body)
    _send(api, runtime, "POST", "/api/v1/fixes", content=content, headers=JSON)


# --- abusive bodies ---------------------------------------------------------------------------------------

def _limited(settings: Settings, max_body_bytes: int) -> Settings:
    return settings.model_copy(update={"server": settings.server.model_copy(
        update={"max_body_bytes": max_body_bytes})})


@pytest.fixture
def small_api(runtime: Runtime, settings: Settings) -> TestClient:
    """The app with a 10 kB body limit."""
    limited = Runtime(settings=_limited(settings, 10_000), store=runtime.store, clock=runtime.clock)
    return TestClient(build_app(limited), raise_server_exceptions=False)


def _chunks(total: int, size: int = 4096) -> Iterator[bytes]:
    for start in range(0, total, size):
        yield b" " * min(size, total - start)


@SQLITE_ONLY
@pytest.mark.parametrize("url", ["/api/v1/fixes", "/ingest/osmand", "/ingest/owntracks", "/api/v1/reports"])
def test_an_over_long_body_is_a_413_before_it_is_read(small_api: TestClient, runtime: Runtime,
                                                      url: str) -> None:
    before = _state(runtime)
    declared = small_api.post(url, content=b"[" + b"0," * 6000 + b"0]",
                              headers=JSON)
    assert declared.status_code == 413, declared.text
    assert declared.json()["detail"][0]["loc"] == ["header", "Content-Length"]
    assert "10000 bytes" in declared.json()["detail"][0]["msg"]
    chunked = small_api.post(url, content=_chunks(50_000), headers=JSON)
    assert chunked.status_code == 413, chunked.text
    assert chunked.json()["detail"][0]["loc"] == ["body"]
    assert _state(runtime) == before


@SQLITE_ONLY
def test_a_chunked_body_within_the_limit_still_arrives(small_api: TestClient, runtime: Runtime) -> None:
    body = json.dumps({"fixes": [{"unit_id": "nobody", "time": 1, "lon": 1, "lat": 1}]}).encode()
    response = small_api.post("/api/v1/fixes", content=iter([body[:10], body[10:]]),
                              headers=JSON)
    assert response.status_code == 401  # read, parsed, and refused for the missing token


def _json_routes(api: TestClient) -> list[tuple[str, str]]:
    paths = api.get("/openapi.json").json()["paths"]
    routes = [(m.upper(), path) for path, ops in paths.items() for m in ops if m in ("post", "put", "patch")]
    return [(m, path.replace("{", "").replace("}", "")) for m, path in routes]


@SQLITE_ONLY
@pytest.mark.parametrize("shape", ["array", "object"])
def test_json_nested_10000_deep_is_a_422_on_every_route(api: TestClient, runtime: Runtime,
                                                         shape: str) -> None:
    deep = (b"[" * 10_000 + b"]" * 10_000) if shape == "array" else (
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000)
    before = _state(runtime)
    answers = {}
    for method, url in _json_routes(api):
        response = api.request(method, url, content=deep, headers=JSON)
        answers[f"{method} {url}"] = (response.status_code, response.json()["detail"][0])
    assert all(status == 422 and item["loc"] == ["body"] and "nested deeper than 100 levels" in item["msg"]
               for status, item in answers.values()), answers
    sniffed = api.post("/ingest/osmand", content=deep)  # no content type: Traccar's body is sniffed
    assert sniffed.status_code == 422
    assert _state(runtime) == before


def test_json_depth_ignores_brackets_in_strings() -> None:
    assert json_depth(b'{"a": "[[[[[[[[[[[[", "b": [[1]]}') == 3
    assert json_depth(b'["\\"[[[[", [[[]]]]') == 4
    assert json_depth(b'["\\\\", [[[]]]]') == 4  # an escaped backslash ends the string
    assert json_depth(b"[" * 50, limit=MAX_JSON_DEPTH) == 0  # too few brackets to bother
    assert json_depth(json.dumps({"fixes": [{"x": [[[[1]]]]}]}).encode()) == 7


def test_json_depth_is_linear_on_a_string_of_escaped_quotes() -> None:
    """A regular expression for JSON strings took 217 s on 200 kB of ``\\"`` (it retried from every
    quote); the scan is one pass over the bytes."""
    body = b'"' + b'\\"' * 5_000_000 + b'"' + b"[" * 101
    started = time.monotonic()
    assert json_depth(body, limit=MAX_JSON_DEPTH) == 101
    assert time.monotonic() - started < 5


def _reference_depth(body: bytes) -> int:
    """Byte by byte: a quote after an odd run of backslashes is escaped; brackets count outside strings."""
    depth = deepest = backslashes = 0
    inside = False
    for byte in body.decode("latin-1"):
        if byte == '"' and backslashes % 2 == 0:
            inside = not inside
        elif not inside and byte in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif not inside and byte in "]}":
            depth -= 1
        backslashes = backslashes + 1 if byte == "\\" else 0
    return deepest


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(body=st.lists(st.sampled_from([b"[", b"]", b"{", b"}", b'"', b"\\", b"a", b","]), max_size=60).map(
    b"".join), chunk_bytes=st.integers(1, 8))
def test_json_depth_agrees_with_a_byte_by_byte_scan_across_chunks(body: bytes, chunk_bytes: int) -> None:
    assert json_depth(body, chunk_bytes=chunk_bytes) == _reference_depth(body)


@SQLITE_ONLY
def test_a_report_with_a_million_vertex_line_is_a_422_naming_the_location(api: TestClient,
                                                                          runtime: Runtime) -> None:
    line = [[LON + i * 1e-7, LAT] for i in range(1_000_000)]
    body = json.dumps(firearm_report(location={"type": "LineString", "coordinates": line}))
    for url in ("/api/v1/reports/check", "/api/v1/reports"):
        response = _send(api, runtime, "POST", url, content=body, headers=JSON)
        assert response.status_code == 422
        assert any(d["loc"][:2] == ["body", "location"] for d in response.json()["detail"]), response.text


@SQLITE_ONLY
def test_a_hundred_thousand_bad_fixes_get_a_short_answer(api: TestClient, runtime: Runtime) -> None:
    body = json.dumps({"fixes": [{"unit_id": "car-1", "lat": "x"}] * 100_000})
    response = _send(api, runtime, "POST", "/api/v1/fixes", content=body,
                     headers=JSON)
    detail = response.json()["detail"]
    assert response.status_code == 422 and len(detail) == 51 and detail[-1]["msg"] == "299950 more errors"


# --- decompression bombs ----------------------------------------------------------------------------------

def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int, pixels: bytes | None = None) -> bytes:
    """A small PNG whose header declares ``width`` × ``height`` RGB pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(pixels if pixels is not None else b"\x00" * 64, 9)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))


def jpeg_declaring(width: int, height: int) -> bytes:
    """A 16×16 JPEG whose frame header is rewritten to declare ``width`` × ``height``."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    at = data.index(b"\xff\xc0")
    data[at + 5:at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


BOMBS = {"png-100000x100000": png_declaring(100_000, 100_000),
         "jpeg-65535x65535": jpeg_declaring(65_535, 65_535),
         "jpeg-8000x8000": jpeg_declaring(8_000, 8_000)}


@pytest.mark.parametrize("name", list(BOMBS))
def test_a_decompression_bomb_is_refused_by_its_header(name: str) -> None:
    data = BOMBS[name]
    assert len(data) < 1000
    with pytest.raises(PhotoProblem) as problem:
        check_photo(PhotoUpload(f"{name}.img", data), 0)
    assert problem.value.kind == "too_many_pixels"
    assert "over the limit of 50000000 pixels" in problem.value.reason


@SQLITE_ONLY
@pytest.mark.parametrize("name", list(BOMBS))
def test_a_decompression_bomb_sent_with_a_report_is_a_422(api: TestClient, runtime: Runtime,
                                                           name: str) -> None:
    before = _count(runtime, reports)
    suffix, mime = ("png", "image/png") if name.startswith("png") else ("jpg", "image/jpeg")
    response = api.post("/api/v1/reports", data={"report": json.dumps(firearm_report())},
                        files=[("photos", (f"bomb.{suffix}", BOMBS[name], mime))])
    assert response.status_code == 422, response.text
    item = response.json()["detail"][0]
    assert item["loc"] == ["body", "photos", 0] and "pixels" in item["msg"], item
    assert _count(runtime, reports) == before


def test_exif_of_a_png_never_decodes_its_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 7000×7000 all-black PNG is 140 kB on the wire and 147 MB decoded; within the pixel limit, it is
    accepted, but its EXIF is looked for without decoding it."""
    row = b"\x00" + b"\x00" * (7000 * 3)
    data = png_declaring(7000, 7000, row * 7000)
    loads = []
    original = PngImagePlugin.PngImageFile.load

    def counting_load(self: Any) -> Any:
        loads.append(self.size)
        return original(self)

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", counting_load)
    assert len(data) < 200_000
    assert read_exif(data, "Asia/Shanghai") == (None, None, None)
    assert check_photo(PhotoUpload("black.png", data), 0).width_px == 7000
    assert loads == []


# --- track files ------------------------------------------------------------------------------------------

def _points(runtime: Runtime, n: int = 6) -> list[tuple[float, float, datetime]]:
    start = T0 - timedelta(hours=2)
    return [(LON + 0.0004 * i, LAT, start + timedelta(seconds=20 * i)) for i in range(n)]


def gpx_track(points: list[tuple[float, float, datetime]]) -> bytes:
    body = "".join(f'<trkpt lat="{lat}" lon="{lon}"><ele>12</ele><time>{t:%Y-%m-%dT%H:%M:%SZ}</time></trkpt>'
                   for lon, lat, t in points)
    return ('<?xml version="1.0" encoding="UTF-8"?><gpx version="1.1" creator="t" '
            f'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>{body}</trkseg></trk></gpx>').encode()


def csv_track(points: list[tuple[float, float, datetime]]) -> bytes:
    lines = ["time,lon,lat,speed"] + [f"{t:%Y-%m-%d %H:%M:%S},{lon},{lat},1.5" for lon, lat, t in points]
    return "\n".join(lines).encode()


def geojson_track(points: list[tuple[float, float, datetime]]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"coordTimes": [f"{t:%Y-%m-%dT%H:%M:%SZ}" for *_, t in points]},
        "geometry": {"type": "LineString", "coordinates": [[lon, lat] for lon, lat, _ in points]}}]}).encode()


TRACKS = {"gpx": gpx_track, "csv": csv_track, "geojson": geojson_track}


@pytest.fixture
def county(runtime: Runtime, tmp_path: Path) -> Runtime:
    load_small_county(runtime, tmp_path / "layers")
    return runtime


def _import(runtime: Runtime, path: Path, fmt: str, *, skip_bad: bool) -> list[str] | TrackImportError:
    try:
        return import_track_file(runtime, path, unit_id="walker-1", mode="foot", fmt=fmt, skip_bad=skip_bad)
    except TrackImportError as exc:
        assert exc.summary
        assert all(e.where and e.field and e.reason for e in exc.errors)
        return exc


@pytest.mark.parametrize("fmt", list(TRACKS))
def test_a_good_track_file_is_imported_whole(county: Runtime, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"walk.{fmt}"
    path.write_bytes(TRACKS[fmt](_points(county)))
    outcome = _import(county, path, fmt, skip_bad=False)
    assert isinstance(outcome, list) and " 6 fixes stored" in outcome[0], outcome
    assert _state(county)[0] == 6


@pytest.mark.parametrize("fmt", list(TRACKS))
@FILE_FUZZ
@given(data=st.data())
def test_a_mutated_track_file_imports_whole_or_nothing(county: Runtime, tmp_path: Path, fmt: str,
                                                       data: st.DataObject) -> None:
    """Without --skip-bad: stored all of the file's fixes, or nothing (not even the unit)."""
    good = TRACKS[fmt](_points(county))
    path = tmp_path / f"mutated.{fmt}"
    path.write_bytes(data.draw(mutated([good])))
    before = _state(county)
    outcome = _import(county, path, fmt, skip_bad=False)
    if isinstance(outcome, TrackImportError):
        assert _state(county) == before
    else:
        assert "0 refused" in outcome[0] and not any("skipped" in line for line in outcome), outcome


@pytest.mark.parametrize("fmt", list(TRACKS))
@FILE_FUZZ
@given(data=st.data())
def test_skip_bad_imports_exactly_what_it_reports(county: Runtime, tmp_path: Path, fmt: str,
                                                  data: st.DataObject) -> None:
    path = tmp_path / f"mutated.{fmt}"
    path.write_bytes(data.draw(mutated([TRACKS[fmt](_points(county))])))
    before = _count(county, fixes)
    outcome = _import(county, path, fmt, skip_bad=True)
    stored = _count(county, fixes) - before
    if isinstance(outcome, TrackImportError):
        assert stored == 0
    else:
        assert outcome[0].split(": ")[-1].startswith(f"{stored} fixes stored"), (outcome, stored)


def test_a_file_with_a_fix_outside_the_area_imports_nothing(county: Runtime, tmp_path: Path) -> None:
    points = _points(county)
    points[3] = (116.4, 39.9, points[3][2])  # Beijing
    path = tmp_path / "stray.csv"
    path.write_bytes(csv_track(points))
    outcome = _import(county, path, "csv", skip_bad=False)
    assert isinstance(outcome, TrackImportError) and "1 fixes would be refused" in outcome.summary
    assert [(e.where, e.reason) for e in outcome.errors] == [("fix 3", "outside_area")]
    assert _state(county) == (0, 0)
    outcome = _import(county, path, "csv", skip_bad=True)
    assert isinstance(outcome, list) and "5 fixes stored" in outcome[0] and "1 refused" in outcome[0]


HUGE_TRACKS = {
    "geojson-line": lambda: json.dumps({"type": "Feature", "properties": {"coordTimes": [1] * 1_000_000},
                                        "geometry": {"type": "LineString",
                                                     "coordinates": [[LON, LAT]] * 1_000_000}}).encode(),
    "geojson-features": lambda: json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"time": 1}, "geometry": {"type": "Point", "coordinates": [1, 2]}}
    ] * 200_000}).encode(),
    "gpx": lambda: gpx_track([(LON, LAT, T0)] * 200_000),
    "csv": lambda: csv_track([(LON, LAT, T0)] * 100_001),
}


@SQLITE_ONLY
@pytest.mark.parametrize("name", list(HUGE_TRACKS))
def test_a_track_file_over_the_fix_limit_is_refused_before_it_is_read(county: Runtime, tmp_path: Path,
                                                                       name: str) -> None:
    path = tmp_path / f"huge.{name.split('-')[0]}"
    path.write_bytes(HUGE_TRACKS[name]())
    started = time.monotonic()
    outcome = _import(county, path, name.split("-")[0], skip_bad=True)
    elapsed_s = time.monotonic() - started
    assert isinstance(outcome, TrackImportError), outcome
    assert "ingest.max_batch_fixes = 100000" in outcome.summary and "split it" in outcome.summary
    assert [e.field for e in outcome.errors] == ["max_fixes"]
    assert _state(county) == (0, 0)
    assert elapsed_s < 20, elapsed_s  # counted, not parsed point by point


# --- partners' report spreadsheets ------------------------------------------------------------------------

REPORT_HEADER = "category,observed_at,lon,lat,place_name,description,shots_heard,method,boat,reporter_name"
REPORT_ROWS = [
    f"firearm,2025-11-20 07:30,{NEAR_RIVER[0]},{NEAR_RIVER[1]},,枪声两响,2,,,李四",
    f"illegal_fishing,2025-11-19T22:10:00+08:00,{NEAR_RIVER[0]},{NEAR_RIVER[1]},,夜里拉网,,net,是,",
    f"firearm,2025-11-20 06:10,{NEAR_RIVER[0]},{NEAR_RIVER[1]},,一响,1,,,",
]
REPORT_CSV = ("\n".join([REPORT_HEADER, *REPORT_ROWS]) + "\n").encode()


@pytest.fixture
def report_county(runtime: Runtime, tmp_path: Path) -> Runtime:
    load_county(runtime, tmp_path / "report-layers")
    return runtime


@st.composite
def report_spreadsheets(draw: st.DrawFn) -> bytes:
    """The good spreadsheet with odd cells, rows or bytes, in one of Excel's encodings."""
    rows = [row.split(",") for row in REPORT_ROWS]
    for _ in range(draw(st.integers(0, 3))):
        row = draw(st.sampled_from(rows))
        row[draw(st.integers(0, len(row) - 1))] = draw(st.one_of(ODD_TEXT, SCALARS.map(str)))
    text = "\n".join([REPORT_HEADER, *(",".join(r) for r in rows)]) + "\n"
    data = text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"])), errors="replace")
    return draw(mutated([data])) if draw(st.booleans()) else data


@FILE_FUZZ
@given(data=report_spreadsheets(), skip_bad=st.booleans())
def test_a_hostile_report_spreadsheet_imports_whole_or_nothing(report_county: Runtime, tmp_path: Path,
                                                               data: bytes, skip_bad: bool) -> None:
    path = tmp_path / "reports.csv"
    path.write_bytes(data)
    before = _count(report_county, reports)
    try:
        result = import_reports_csv(report_county, path, skip_bad=skip_bad)
    except CsvImportError as exc:
        assert str(exc)
        assert _count(report_county, reports) == before
        return
    assert all(p.line >= 1 and p.field and p.reason for p in result.problems)
    stored = _count(report_county, reports) - before
    assert stored == result.imported
    if result.problems and not skip_bad:
        assert stored == 0


def test_a_header_cell_without_a_name_is_named_by_its_position(report_county: Runtime,
                                                                tmp_path: Path) -> None:
    path = tmp_path / "trailing.csv"
    path.write_bytes(REPORT_CSV.replace(b"reporter_name\n", b"reporter_name,\n", 1))
    result = import_reports_csv(report_county, path)
    assert [str(p) for p in result.problems] == [
        "line 1: column 11: no name in the header (an extra delimiter?)"]
    assert result.imported == 0 and _count(report_county, reports) == 0


@pytest.mark.parametrize(("data", "says"), [
    (REPORT_CSV.replace(b"\xe6\x9e\xaa\xe5\xa3\xb0", b"x" * 200_000), "field larger than field limit"),
    (b"\x00" * 10, "the header needs"),
])
def test_what_the_csv_module_cannot_read_is_a_csv_import_error(report_county: Runtime, tmp_path: Path,
                                                               data: bytes, says: str) -> None:
    path = tmp_path / "odd.csv"
    path.write_bytes(data)
    with pytest.raises(CsvImportError, match=says):
        import_reports_csv(report_county, path)
    assert _count(report_county, reports) == 0


def test_the_tracks_import_command_names_the_problem_and_imports_nothing_unless_skip_bad(
        county: Runtime, tmp_path: Path) -> None:
    """``ecopatrol tracks import`` as an operator runs it: a broken GPX and a CSV with one bad row
    exit 1 naming where and why, storing nothing; ``--skip-bad`` stores the good rows and lists the
    bad one."""
    from typer.testing import CliRunner

    from ecopatrol.cli import app

    url = county.store.engine.url.render_as_string(hide_password=False)
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")

    def run(path: Path, *extra: str) -> Any:
        return CliRunner().invoke(app, ["tracks", "import", str(path), "--unit", "walker-1", "--mode", "foot",
                                        "--config", str(config), *extra])

    broken = tmp_path / "broken.gpx"
    broken.write_bytes(gpx_track(_points(county)).replace(b"</trkseg>", b"</trkseg", 1))
    result = run(broken)
    assert result.exit_code == 1, result.output
    assert f"error: {broken}" in result.output and "line 1:" in result.output
    bad_row = tmp_path / "one-bad-row.csv"
    text = csv_track(_points(county)).decode().splitlines()
    text[3] = text[3].replace(str(LAT), "not-a-latitude")
    bad_row.write_text("\n".join(text) + "\n", encoding="utf-8")
    result = run(bad_row)
    assert result.exit_code == 1 and "line 4" in result.output, result.output
    assert _state(county) == (0, 0)  # nothing, not even the unit
    result = run(bad_row, "--skip-bad")
    assert result.exit_code == 0, result.output
    assert " 5 fixes stored" in result.output and "line 4" in result.output
    assert _state(county)[0] == 5
