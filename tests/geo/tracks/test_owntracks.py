"""geo.tracks.owntracks: location messages, unit naming, ignored message types."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.schema import check_fixes
from geo.tracks import OwnTracksResult, is_location, parse_owntracks

LOCATION = {"_type": "location", "lat": 29.5012, "lon": 119.4987, "tst": 1714550400,
            "tid": "JJ", "acc": 8, "vel": 18, "cog": 271, "alt": 388, "batt": 64, "t": "u",
            "conn": "m", "BSSID": "", "created_at": 1714550401}


def test_location_message_units() -> None:
    result = parse_owntracks(LOCATION, device_hint="ranger-phone-4")
    assert result.errors == [] and result.ignored == 0
    row = check_fixes(result.fixes).iloc[0]
    assert row["unit_id"] == "ranger-phone-4"
    assert row["time_ms"] == 1_714_550_400_000
    assert row["speed_mps"] == pytest.approx(5.0)  # 18 km/h
    assert (row["accuracy_m"], row["bearing_deg"], row["altitude_m"], row["battery_pct"]) == (
        8.0, 271.0, 388.0, 64.0)
    assert (row["mode"], row["source"]) == ("", "owntracks")


def test_unit_falls_back_to_topic_then_tid() -> None:
    with_topic = {**LOCATION, "topic": "owntracks/jane/phone"}
    assert parse_owntracks(with_topic, device_hint=None).fixes["unit_id"].tolist() == ["phone"]
    assert parse_owntracks(LOCATION, device_hint="  ").fixes["unit_id"].tolist() == ["JJ"]
    anonymous = {k: v for k, v in LOCATION.items() if k != "tid"}
    result = parse_owntracks(anonymous, device_hint=None)
    assert [(e.where, e.field) for e in result.errors] == [("message 0", "tid")]


def test_list_with_other_types_counted_as_ignored() -> None:
    body = [{"_type": "lwt", "tst": 1714550000}, LOCATION,
            {"_type": "transition", "event": "enter", "lat": 1, "lon": 2, "tst": 3},
            {"_type": "encrypted", "data": "abc"}, "junk",
            {**LOCATION, "lat": "north", "tst": 1714550460}]
    result = parse_owntracks(body, device_hint="d")
    assert isinstance(result, OwnTracksResult)
    assert result.ignored == 3
    assert len(result.fixes) == 1
    assert [str(e) for e in result.errors] == ["message 4: _type: not a JSON object",
                                               "message 5: lat: not a number: 'north'"]


def test_is_location() -> None:
    assert is_location(LOCATION)
    assert not is_location({"_type": "card"}) and not is_location([LOCATION])


def test_absurd_tst_is_an_error() -> None:
    result = parse_owntracks({**LOCATION, "tst": 1e18}, device_hint="d")
    assert [e.field for e in result.errors] == ["tst"]


json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.recursive(
    st.dictionaries(st.sampled_from(["_type", "lat", "lon", "tst", "tid", "vel", "acc", "topic"]),
                    json_leaf | st.just("location"), max_size=8),
    lambda c: st.lists(c, max_size=4), max_leaves=10), st.none() | st.text(max_size=5))
def test_never_raises_on_arbitrary_messages(body, hint) -> None:
    result = parse_owntracks(body, device_hint=hint)
    check_fixes(result.fixes)
    assert result.ignored >= 0
