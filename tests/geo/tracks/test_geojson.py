"""geo.tracks.geojson: point features with times, lines with coordTimes, errors per feature."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.schema import ParseResult, check_fixes
from geo.tracks import parse_geojson

DATA = Path(__file__).resolve().parents[1] / "data"


def ms(*args: int, tz=UTC) -> int:
    return int(datetime(*args, tzinfo=tz).timestamp() * 1000)


def test_sample_file_points_lines_and_errors() -> None:
    result = parse_geojson((DATA / "patrol_track.geojson").read_bytes(), mode="foot")
    fixes = check_fixes(result.fixes)
    assert [(e.where, e.field) for e in result.errors] == [
        ("feature 3", "time"), ("feature 5", "coordTimes"), ("feature 6", "geometry")]
    assert fixes["unit_id"].tolist() == ["GT-0315"] * 3 + ["ranger-12"] * 3
    t = ms(2024, 5, 1, 8, 0, 0, tz=timezone(timedelta(hours=8)))
    assert fixes["time_ms"].tolist() == [
        t, t + 30_000, t + 60_000,  # ISO with offset, epoch s, epoch ms
        ms(2024, 5, 1, 1, 0, 0), ms(2024, 5, 1, 1, 0, 20), ms(2024, 5, 1, 1, 0, 40)]
    assert fixes.loc[0, ["speed_mps", "accuracy_m", "battery_pct", "altitude_m"]].tolist() == [
        1.2, 6.0, 77.0, 402.0]
    assert fixes["altitude_m"].tolist()[3:] == [120.0, 121.0, 121.5]
    assert fixes["lon"].tolist()[3:] == [119.5101, 119.5103, 119.5106]


def test_unit_argument_is_the_fallback_and_required_otherwise() -> None:
    feature = {"type": "Feature", "properties": {"datetime": "2024-05-01T08:00:00Z"},
               "geometry": {"type": "Point", "coordinates": [119.5, 29.5]}}
    doc = {"type": "FeatureCollection", "features": [feature]}
    assert parse_geojson(doc, mode="foot", unit_id="u9").fixes["unit_id"].tolist() == ["u9"]
    result = parse_geojson(doc, mode="foot")
    assert [str(e) for e in result.errors] == [
        "feature 0: unit_id: no unit_id/device_id property and no default"]


def test_multilinestring_with_nested_coord_times_and_single_feature() -> None:
    doc = {"type": "Feature", "properties": {"unit_id": "u", "coordTimes": [
        ["2024-05-01T08:00:00Z", "2024-05-01T08:00:10Z"], ["2024-05-01T09:00:00Z"]]},
        "geometry": {"type": "MultiLineString",
                     "coordinates": [[[119.5, 29.5], [119.6, 29.6]], [[119.7, 29.7]]]}}
    result = parse_geojson(json.dumps(doc), mode="vehicle")
    assert result.errors == []
    assert result.fixes["time_ms"].tolist() == [
        ms(2024, 5, 1, 8, 0, 0), ms(2024, 5, 1, 8, 0, 10), ms(2024, 5, 1, 9, 0, 0)]


def test_bad_positions_and_times_name_the_vertex() -> None:
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"unit_id": "u", "times": [1714550400, "soon", 5]},
         "geometry": {"type": "LineString",
                      "coordinates": [[119.5, 29.5], [119.5, 29.5], ["119.5", 29.5]]}}]}
    result = parse_geojson(doc, mode="foot")
    assert [str(e) for e in result.errors] == [
        "feature 0 point 1: time: unreadable: 'soon'",
        "feature 0 point 2: coordinates: lon/lat not a number: '119.5'"]
    assert len(result.fixes) == 1


@pytest.mark.parametrize(("text", "where"), [
    ('{"type": "FeatureCollection",\n "features": [\n  {"type": ]}', "line 3"),
    ("", "line 1"),
    ('{"type": "Topology"}', "document"),
    ('{"type": "FeatureCollection", "features": 3}', "document"),
])
def test_document_level_errors(text: str, where: str) -> None:
    result = parse_geojson(text, mode="foot", unit_id="u")
    assert len(result.fixes) == 0
    assert [e.where for e in result.errors] == [where]


json_value = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=8)
    | st.sampled_from(["Feature", "Point", "LineString", "MultiLineString", "FeatureCollection",
                       "2024-05-01T08:00:00Z"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["type", "features", "geometry", "coordinates",
                                       "properties", "time", "coordTimes", "unit_id"]),
                      children, max_size=5),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200), json_value.map(json.dumps)))
def test_never_raises_on_arbitrary_input(data: bytes | str) -> None:
    result = parse_geojson(data, mode="foot", unit_id="u")
    assert isinstance(result, ParseResult)
    check_fixes(result.fixes)
