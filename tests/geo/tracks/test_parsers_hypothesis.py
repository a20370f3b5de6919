"""Hostile input for every track parser: arbitrary bytes, mutated real files and structured-but-wrong
documents (wrong types, NaN/inf, huge numbers, missing fields, unicode, BOMs, wrong delimiters).

The contract (docs/CONTRACTS.md): a parser returns ``ParseResult(fixes, errors)`` and never raises for bad
data; each error names where (line, feature, point, message, request) and which field, and says why;
the fixes are a well-typed fix frame of finite positions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.schema import ParseResult
from geo.tracks import parse_csv, parse_geojson, parse_gpx, parse_osmand, parse_owntracks
from tests.geo.tracks.hostile import (
    GEOJSON_DOCUMENTS,
    assert_contract,
    csv_documents,
    gpx_documents,
    mutated,
    osmand_bodies,
    osmand_params,
    owntracks_bodies,
)

DATA = Path(__file__).resolve().parent.parent / "data"
GPX_FILES = sorted(p.read_bytes() for p in DATA.glob("*.gpx"))
CSV_FILE = (DATA / "ranger_export_zh.csv").read_bytes()
GEOJSON_FILE = (DATA / "patrol_track.geojson").read_bytes()
FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- GPX ---------------------------------------------------------------------------------------------------

@FUZZ
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=200), mutated(GPX_FILES)))
def test_gpx_never_raises_on_bytes_or_mutated_files(data: bytes | str) -> None:
    assert_contract(parse_gpx(data, unit_id="u1", mode="foot"))


@FUZZ
@given(document=gpx_documents())
def test_gpx_wrong_values_are_errors_per_point(document: str) -> None:
    result = parse_gpx(document, unit_id="u1", mode="foot")
    assert_contract(result)
    assert all(e.where.startswith(("track", "route", "document", "line")) for e in result.errors)


# --- CSV ---------------------------------------------------------------------------------------------------

@FUZZ
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=200), mutated([CSV_FILE]), csv_documents()),
       delimiter=st.sampled_from([None, None, ",", ";", "\t", "|"]))
def test_csv_never_raises(data: bytes | str, delimiter: str | None) -> None:
    result = parse_csv(data, unit_id="u1", mode="foot", delimiter=delimiter, timezone="Asia/Shanghai")
    assert_contract(result)
    assert all(e.where.startswith(("line", "document")) for e in result.errors)


@FUZZ
@given(data=csv_documents(), time_format=st.sampled_from([None, "%Y%m%d%H%M%S", "%d/%m/%Y %H:%M", "%Q%%"]))
def test_csv_without_a_default_unit_or_with_a_format(data: bytes, time_format: str | None) -> None:
    assert_contract(parse_csv(data, mode="boat", time_format=time_format))


# --- GeoJSON -----------------------------------------------------------------------------------------------

@FUZZ
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=200), mutated([GEOJSON_FILE])))
def test_geojson_never_raises_on_bytes_or_mutated_files(data: bytes | str) -> None:
    assert_contract(parse_geojson(data, unit_id="u1", mode="vehicle"))


@FUZZ
@given(document=GEOJSON_DOCUMENTS, as_text=st.booleans(), unit=st.sampled_from([None, "u1"]))
def test_geojson_wrong_structure_is_errors(document: Any, as_text: bool, unit: str | None) -> None:
    data = json.dumps(document) if as_text or not isinstance(document, dict | list) else document
    assert_contract(parse_geojson(data, unit_id=unit, mode="vehicle"))


def test_geojson_deeply_nested_is_one_error() -> None:
    result = parse_geojson("[" * 100_000 + "]" * 100_000, unit_id="u1", mode="foot")
    assert result.fixes.empty and [e.field for e in result.errors] == ["json"]


# --- OsmAnd / Traccar Client -------------------------------------------------------------------------------

@FUZZ
@given(params=osmand_params())
def test_osmand_query_parameters_never_raise(params: dict[str, str]) -> None:
    result = parse_osmand(params)
    assert_contract(result)
    assert len(result.fixes) + len(result.errors) >= 1


@FUZZ
@given(params=osmand_params(), body=osmand_bodies())
def test_osmand_json_bodies_never_raise(params: dict[str, str], body: Any) -> None:
    result = parse_osmand(params, json_body=body)
    assert_contract(result)
    assert len(result.fixes) + len(result.errors) >= 1  # the route answers with the first of either


def test_osmand_an_empty_list_of_locations_is_an_error() -> None:
    """Found by the HTTP fuzz: ``{"location": []}`` gave neither a fix nor an error, and the route's
    ``fixes.iloc[0]`` failed with a 500."""
    result = parse_osmand(json_body={"device_id": "d", "location": []})
    assert [(e.where, e.field) for e in result.errors] == [("request", "location")]


# --- OwnTracks ---------------------------------------------------------------------------------------------

@FUZZ
@given(body=owntracks_bodies(), hint=st.sampled_from([None, "", " ", "phone-1"]))
def test_owntracks_never_raises(body: Any, hint: str | None) -> None:
    result = parse_owntracks(body, device_hint=hint)
    assert_contract(result)
    messages = body if isinstance(body, list) else [body]
    assert len(result.fixes) + len({e.where for e in result.errors}) + result.ignored == len(messages)


HUGE = 10**400  # JSON allows any number of digits; float() of this raises OverflowError


@pytest.mark.parametrize("parse", [
    lambda: parse_owntracks({"_type": "location", "lat": HUGE, "lon": 1, "tst": 1}, device_hint="p"),
    lambda: parse_owntracks({"_type": "location", "lat": 1, "lon": 1, "tst": -HUGE}, device_hint="p"),
    lambda: parse_osmand(json_body={"device_id": "d", "location": {
        "timestamp": HUGE, "coords": {"latitude": 1, "longitude": 2}}}),
    lambda: parse_osmand(json_body={"device_id": "d", "location": {
        "timestamp": 1714550400, "coords": {"latitude": HUGE, "longitude": 2}}}),
    lambda: _geojson_feature({"time": HUGE}, "Point", [1, 1]),
    lambda: _geojson_feature({"time": 1714550400}, "Point", [HUGE, 1]),
    lambda: _geojson_feature({"coordTimes": [HUGE]}, "LineString", [[1, 1]]),
], ids=["owntracks-lat", "owntracks-tst", "osmand-timestamp", "osmand-lat", "geojson-time", "geojson-lon",
        "geojson-coordTimes"])
def test_huge_integers_are_one_error_not_an_overflow(parse: Any) -> None:
    result = parse()
    assert_contract(result)
    assert result.fixes.empty and len(result.errors) == 1, result.errors


def _geojson_feature(properties: dict[str, Any], kind: str, coordinates: list[Any]) -> ParseResult:
    return parse_geojson({"type": "Feature", "properties": properties,
                          "geometry": {"type": kind, "coordinates": coordinates}}, unit_id="u", mode="foot")


def test_geojson_accepts_a_loaded_list_of_features() -> None:
    feature = {"type": "Feature", "properties": {"time": 1714550400},
               "geometry": {"type": "Point", "coordinates": [119.5, 29.5]}}
    result = parse_geojson([feature, 3], unit_id="u", mode="foot")
    assert len(result.fixes) == 1 and [e.where for e in result.errors] == ["feature 1"]
