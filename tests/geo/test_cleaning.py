"""geo.cleaning: reject reasons (table), dedupe/sort, outliers within and across batches,
track pieces, and hypothesis invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.cleaning import REJECT_REASONS, clean_fixes, implied_speed_mps, split_tracks
from geo.schema import check_fixes, fix_frame

NOW_MS = 1_714_600_000_000  # 2024-05-01T21:46:40Z
T0 = 1_714_550_400_000  # 2024-05-01T08:00:00Z
BOUNDS = (119.40, 29.40, 119.60, 29.60)
M_PER_DEG_LAT = 111_195.0
LON0, LAT0 = 119.50, 29.50


def north(metres: float) -> float:
    """Latitude ``metres`` north of LAT0."""
    return LAT0 + metres / M_PER_DEG_LAT


def fixes(*rows: tuple, **extra: object) -> pd.DataFrame:
    """rows: (unit_id, time_ms, lon, lat, mode)."""
    unit, time_ms, lon, lat, mode = zip(*rows, strict=True) if rows else ([], [], [], [], [])
    return fix_frame(unit_id=np.array(unit, dtype=object), time_ms=np.array(time_ms, np.int64),
                     lon=np.array(lon, float), lat=np.array(lat, float),
                     mode=np.array(mode, dtype=object), source="test", **extra)


def clean(frame: pd.DataFrame, **kwargs: object):
    return clean_fixes(frame, now_ms=NOW_MS, bounds_lonlat=BOUNDS, **kwargs)


EAST_OF_BOX_M_PER_DEG = M_PER_DEG_LAT * np.cos(np.radians(29.6))

REASON_TABLE = [
    # (unit, time_ms, lon, lat, expected reason or None)
    ("u", T0, LON0, LAT0, None),
    ("u", T0, np.nan, LAT0, "bad_coordinate"),
    ("u", T0, LON0, np.inf, "bad_coordinate"),
    ("u", T0, 0.0, 0.0, "bad_coordinate"),
    ("u", T0, 190.0, LAT0, "bad_coordinate"),
    ("u", T0, LON0, -91.0, "bad_coordinate"),
    ("", T0, LON0, LAT0, "missing_unit"),
    ("  ", T0, LON0, LAT0, "missing_unit"),
    (None, T0, LON0, LAT0, "missing_unit"),
    ("u", 915_148_800_000, LON0, LAT0, "absurd_time"),  # 1999-01-01
    ("u", 0, LON0, LAT0, "absurd_time"),
    ("u", NOW_MS + 301_000, LON0, LAT0, "future_time"),
    ("u", NOW_MS + 299_000, LON0, LAT0, None),
    ("u", T0, 119.60 + 4000 / EAST_OF_BOX_M_PER_DEG, LAT0, None),  # inside the 5 km margin
    ("u", T0, 119.60 + 6000 / EAST_OF_BOX_M_PER_DEG, LAT0, "outside_area"),
    ("u", T0, LON0, 29.40 - 6000 / M_PER_DEG_LAT, "outside_area"),
    ("u", T0, 121.0, 31.2, "outside_area"),
    ("u", 0, np.nan, LAT0, "bad_coordinate"),  # precedence: coordinate before time
    ("", NOW_MS * 2, 121.0, 31.2, "missing_unit"),  # precedence: unit before time and area
]


@pytest.mark.parametrize(("unit", "time_ms", "lon", "lat", "expected"), REASON_TABLE)
def test_reject_reason_table(unit, time_ms, lon, lat, expected) -> None:
    frame = fix_frame(unit_id=np.array([unit], dtype=object), time_ms=np.array([time_ms]),
                      lon=np.array([lon]), lat=np.array([lat]), mode="foot", source="t")
    result = clean(frame)
    if expected is None:
        assert len(result.accepted) == 1 and len(result.rejected) == 0
    else:
        assert len(result.accepted) == 0
        assert result.rejected["reason"].tolist() == [expected]
        assert expected in REJECT_REASONS


def test_missing_time_in_a_float_time_column() -> None:
    frame = fixes(("u", T0, LON0, LAT0, "foot"), ("u", T0 + 1000, LON0, LAT0, "foot"))
    frame["time_ms"] = frame["time_ms"].astype(float)
    frame.loc[1, "time_ms"] = np.nan
    result = clean(frame)
    assert result.rejected["reason"].tolist() == ["missing_time"]
    assert result.accepted["time_ms"].dtype == np.int64
    assert result.accepted["time_ms"].tolist() == [T0]


def test_rejected_rows_keep_every_input_column() -> None:
    frame = fixes(("u", T0, np.nan, LAT0, "foot"), ("u", T0, LON0, LAT0, "foot"))
    frame["batch"] = ["a", "b"]
    result = clean(frame)
    assert list(result.rejected.columns) == [*frame.columns, "reason"]
    assert result.rejected["batch"].tolist() == ["a"]
    assert list(result.accepted.columns) == [*frame.columns, "outlier"]
    check_fixes(result.accepted)


def test_dedupe_keeps_first_sent_and_sorts_by_unit_then_time() -> None:
    frame = fixes(
        ("b", T0 + 2000, LON0, LAT0, "foot"),
        ("a", T0 + 1000, LON0, north(1), "foot"),
        ("b", T0, LON0, LAT0, "foot"),
        ("a", T0 + 1000, LON0, north(2), "foot"),  # same unit and time: dropped
        ("a", T0, LON0, LAT0, "foot"),
    )
    accepted = clean(frame).accepted
    assert list(zip(accepted["unit_id"], accepted["time_ms"], strict=True)) == [
        ("a", T0), ("a", T0 + 1000), ("b", T0), ("b", T0 + 2000)]
    assert accepted.loc[1, "lat"] == pytest.approx(north(1))
    assert accepted["outlier"].dtype == bool


@pytest.mark.parametrize(("mode", "step_m", "step_s", "outlier"), [
    ("foot", 100.0, 10.0, True),       # 10 m/s on foot
    ("foot", 30.0, 10.0, False),       # 3 m/s
    ("foot", 15.0, 1.0, False),        # 15 m in 1 s: GPS jitter allowance (20 m)
    ("foot", 60.0, 1.0, True),
    ("vehicle", 100.0, 10.0, False),
    ("vehicle", 600.0, 10.0, True),    # 60 m/s
    ("boat", 250.0, 10.0, True),       # 25 m/s
    ("", 400.0, 10.0, False),          # unknown mode: the fastest limit (45 m/s)
])
def test_outlier_by_mode(mode: str, step_m: float, step_s: float, outlier: bool) -> None:
    frame = fixes(("u", T0, LON0, LAT0, mode), ("u", T0 + int(step_s * 1000), LON0, north(step_m),
                                                mode))
    assert clean(frame).accepted["outlier"].tolist() == [False, outlier]


def test_first_fix_of_each_unit_is_never_an_outlier() -> None:
    frame = fixes(("a", T0, LON0, LAT0, "foot"), ("b", T0 + 1000, LON0, north(5000), "foot"))
    assert clean(frame).accepted["outlier"].tolist() == [False, False]


def test_previous_batch_context_flags_the_first_new_fix() -> None:
    previous = fixes(("u", T0, LON0, LAT0, "foot"))
    batch = fixes(("u", T0 + 10_000, LON0, north(500), "foot"),
                  ("u", T0 + 20_000, LON0, north(510), "foot"))
    assert clean(batch).accepted["outlier"].tolist() == [False, False]
    assert clean(batch, previous=previous).accepted["outlier"].tolist() == [True, False]


def test_previous_fix_resent_is_dropped_and_other_units_ignored() -> None:
    previous = fixes(("u", T0, LON0, LAT0, "foot"), ("other", T0, 121.0, 31.0, "foot"))
    batch = fixes(("u", T0, LON0, LAT0, "foot"), ("u", T0 + 10_000, LON0, north(10), "foot"))
    result = clean(batch, previous=previous)
    assert result.accepted["time_ms"].tolist() == [T0 + 10_000]
    assert result.accepted["unit_id"].tolist() == ["u"]


def test_implied_speed() -> None:
    speed = implied_speed_mps(
        np.array(["a", "a", "a", "b"], dtype=object), np.array([0, 10_000, 10_000, 20_000]),
        np.array([LON0] * 4), np.array([LAT0, north(100), north(150), north(100)]))
    assert np.isnan(speed[0]) and np.isnan(speed[3])
    assert speed[1] == pytest.approx(10.0, rel=5e-3)
    assert np.isinf(speed[2])


def _pieces(rows: list[tuple], **kwargs: object) -> list[int]:
    accepted = clean(fixes(*rows)).accepted
    y_m = (accepted["lat"].to_numpy() - LAT0) * M_PER_DEG_LAT
    return split_tracks(accepted, x_m=np.zeros(len(accepted)), y_m=y_m, **kwargs).tolist()


def test_split_tracks_on_unit_gap_and_outlier_jump() -> None:
    rows = [
        ("a", T0, LON0, LAT0, "foot"),
        ("a", T0 + 60_000, LON0, north(60), "foot"),
        ("a", T0 + 60_000 + 601_000, LON0, north(100), "foot"),  # gap > 600 s
        ("a", T0 + 60_000 + 611_000, LON0, north(3100), "foot"),  # 3 km in 10 s: outlier jump
        ("a", T0 + 60_000 + 621_000, LON0, north(3120), "foot"),
        ("b", T0 + 1_000_000, LON0, north(3120), "foot"),
    ]
    assert _pieces(rows) == [0, 0, 1, 2, 2, 3]


def test_split_tracks_keeps_a_fast_but_plausible_long_step() -> None:
    rows = [("v", T0, LON0, LAT0, "vehicle"), ("v", T0 + 100_000, LON0, north(2500), "vehicle")]
    assert _pieces(rows) == [0, 0]
    assert _pieces(rows, max_gap_s=50) == [0, 1]


def test_split_tracks_checks_coordinate_lengths() -> None:
    accepted = clean(fixes(("a", T0, LON0, LAT0, "foot"))).accepted
    with pytest.raises(ValueError, match="one value per row"):
        split_tracks(accepted, x_m=np.zeros(2), y_m=np.zeros(2))
    assert split_tracks(accepted.iloc[:0], x_m=np.zeros(0), y_m=np.zeros(0)).tolist() == []


def test_missing_key_column_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="time_ms"):
        clean(pd.DataFrame({"unit_id": ["a"], "lon": [1.0], "lat": [1.0]}))


# --- invariants -----------------------------------------------------------------------------

row = st.tuples(
    st.sampled_from(["a", "b", "c", ""]),
    st.integers(0, 40).map(lambda k: T0 + k * 5_000),
    st.one_of(st.floats(119.45, 119.55), st.just(np.nan), st.just(125.0)),
    st.floats(29.45, 29.55),
    st.sampled_from(["foot", "vehicle", "boat"]),
)


def _numbered(rows: list[tuple]) -> pd.DataFrame:
    frame = fixes(*rows)
    frame["row_id"] = np.arange(len(frame))
    return frame


@settings(max_examples=150, deadline=None)
@given(st.lists(row, max_size=40))
def test_accepted_and_rejected_partition_the_input_minus_duplicates(rows: list[tuple]) -> None:
    frame = _numbered(rows)
    result = clean(frame)
    accepted_ids, rejected_ids = set(result.accepted["row_id"]), set(result.rejected["row_id"])
    assert not accepted_ids & rejected_ids
    assert set(result.rejected["reason"]) <= set(REJECT_REASONS)
    keys = list(zip(result.accepted["unit_id"], result.accepted["time_ms"], strict=True))
    assert len(keys) == len(set(keys))
    assert keys == sorted(keys)
    first_sent = {}
    for row_id in sorted(set(frame["row_id"]) - rejected_ids):
        key = (frame.loc[row_id, "unit_id"], frame.loc[row_id, "time_ms"])
        first_sent.setdefault(key, row_id)
    assert accepted_ids == set(first_sent.values())


@settings(max_examples=100, deadline=None)
@given(st.lists(row, max_size=40))
def test_resending_changes_nothing(rows: list[tuple]) -> None:
    frame = _numbered(rows)
    once = clean(frame)
    twice = clean(pd.concat([frame, frame], ignore_index=True))
    pd.testing.assert_frame_equal(once.accepted, twice.accepted)
    again = clean(once.accepted.drop(columns="outlier"))
    pd.testing.assert_frame_equal(once.accepted, again.accepted)
    assert len(again.rejected) == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(row, min_size=1, max_size=40), st.integers(1, 39))
def test_outliers_across_batches_match_one_big_batch(rows: list[tuple], cut: int) -> None:
    whole = clean(_numbered(rows)).accepted
    cut_ms = T0 + cut * 5_000
    first = clean(_numbered(rows).query("time_ms < @cut_ms")).accepted
    last_per_unit = first.groupby("unit_id").tail(1)
    second = clean(_numbered(rows).query("time_ms >= @cut_ms"), previous=last_per_unit).accepted
    expected = whole[whole["time_ms"] >= cut_ms].reset_index(drop=True)
    assert second["row_id"].tolist() == expected["row_id"].tolist()
    assert second["outlier"].tolist() == expected["outlier"].tolist()
