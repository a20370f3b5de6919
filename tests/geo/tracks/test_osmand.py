"""geo.tracks.osmand: Traccar Client query/form fields and the JSON body."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.schema import ParseResult, check_fixes
from geo.tracks import parse_osmand

T_MS = int(datetime(2024, 5, 1, 8, 0, 0, tzinfo=UTC).timestamp() * 1000)


def test_query_fields_with_speed_in_knots() -> None:
    result = parse_osmand({"id": "862345", "timestamp": str(T_MS // 1000), "lat": "29.5012",
                           "lon": "119.4987", "speed": "10", "bearing": "271.5",
                           "altitude": "388.0", "accuracy": "7.5", "batt": "64", "hdop": "1"})
    assert result.errors == []
    row = check_fixes(result.fixes).iloc[0]
    assert row["unit_id"] == "862345" and row["time_ms"] == T_MS
    assert (row["lon"], row["lat"]) == (119.4987, 29.5012)
    assert row["speed_mps"] == pytest.approx(5.144, abs=1e-3)  # 10 kn = 18.52 km/h
    assert (row["bearing_deg"], row["altitude_m"], row["accuracy_m"], row["battery_pct"]) == (
        271.5, 388.0, 7.5, 64.0)
    assert (row["mode"], row["source"]) == ("", "osmand")


@pytest.mark.parametrize("timestamp", [str(T_MS), "2024-05-01T08:00:00Z", "2024-05-01 08:00:00",
                                       "2024-05-01T16:00:00+08:00"])
def test_timestamp_forms(timestamp: str) -> None:
    result = parse_osmand({"deviceid": "d", "timestamp": timestamp, "lat": "1", "lon": "2"})
    assert result.fixes["time_ms"].tolist() == [T_MS]


def test_location_parameter_and_heading_alias() -> None:
    result = parse_osmand({"id": "d", "timestamp": "1714550400", "location": "29.5,119.5",
                           "heading": "12"})
    assert result.fixes[["lat", "lon", "bearing_deg"]].values.tolist() == [[29.5, 119.5, 12.0]]


def test_missing_and_invalid_fields_are_errors() -> None:
    result = parse_osmand({"timestamp": "yesterday", "lat": "north", "lon": "119.5"})
    assert [str(e) for e in result.errors] == [
        "request: id: missing device id",
        "request: timestamp: unreadable: 'yesterday'",
        "request: lat: not a number: 'north'"]
    result = parse_osmand({"id": "d", "timestamp": "1714550400", "lat": "1", "lon": "2",
                           "valid": "false"})
    assert [e.field for e in result.errors] == ["valid"] and len(result.fixes) == 0
    assert [e.field for e in parse_osmand().errors] == ["body"]


def test_json_body_from_traccar_client_9() -> None:
    body = {"location": {"timestamp": "2024-05-01T08:00:00.000Z",
                         "coords": {"latitude": 29.5, "longitude": 119.5, "accuracy": 4.2,
                                    "speed": 1.3, "heading": -1, "altitude": 401},
                         "is_moving": True, "odometer": 1200, "event": "motionchange",
                         "battery": {"level": 0.57, "is_charging": False},
                         "activity": {"type": "walking"}, "extras": {}},
            "device_id": "48241179"}
    result = parse_osmand(json_body=body)
    assert result.errors == []
    row = result.fixes.iloc[0]
    assert (row["unit_id"], row["time_ms"], row["speed_mps"], row["accuracy_m"]) == (
        "48241179", T_MS, 1.3, 4.2)
    assert np.isnan(row["bearing_deg"])  # -1 means unknown
    assert row["battery_pct"] == pytest.approx(57.0)


def test_json_body_list_and_device_from_query() -> None:
    location = {"timestamp": "2024-05-01T08:00:00Z", "coords": {"latitude": 1, "longitude": 2}}
    result = parse_osmand({"id": "q1"}, {"location": [location, {"coords": "x"}]})
    assert result.fixes["unit_id"].tolist() == ["q1"]
    assert [str(e) for e in result.errors] == ["location 1: coords: location lacks a coords object"]
    assert [e.field for e in parse_osmand(json_body=[1, 2]).errors] == ["body"]


text_or_none = st.none() | st.text(max_size=12) | st.sampled_from(["1714550400", "29.5", "-1"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "deviceid", "timestamp", "lat", "lon", "speed",
                                        "bearing", "batt", "location", "valid", "accuracy"]),
                       st.text(max_size=12) | st.sampled_from(["1714550400", "29.5", "1,2"])),
       st.none() | st.dictionaries(st.sampled_from(["device_id", "location"]),
                                   st.recursive(text_or_none | st.floats() | st.integers(),
                                                lambda c: st.lists(c, max_size=3)
                                                | st.dictionaries(st.sampled_from(
                                                    ["coords", "timestamp", "latitude",
                                                     "longitude", "battery", "level", "speed"]),
                                                    c, max_size=4), max_leaves=12)))
def test_never_raises_on_arbitrary_input(params: dict, body: dict | None) -> None:
    result = parse_osmand(params, body)
    assert isinstance(result, ParseResult)
    check_fixes(result.fixes)
