"""geo.tracks._time: the shared time reader (table of forms, vectorized column paths)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo.tracks._time import time_to_ms, times_to_ms

BEIJING = timezone(timedelta(hours=8))
T = int(datetime(2024, 5, 1, 8, 0, 0, tzinfo=UTC).timestamp() * 1000)
T_LOCAL = int(datetime(2024, 5, 1, 8, 0, 0, tzinfo=BEIJING).timestamp() * 1000)

TABLE = [
    # (value, expected ms read in UTC, expected ms read in Asia/Shanghai)
    ("2024-05-01T08:00:00Z", T, T),
    ("2024-05-01T08:00:00.250Z", T + 250, T + 250),
    ("2024-05-01T16:00:00+08:00", T, T),
    ("2024-05-01T16:00:00+0800", T, T),
    ("2024-05-01 08:00:00", T, T_LOCAL),
    ("2024/05/01 08:00:00", T, T_LOCAL),
    ("2024-5-1 8:00:00", T, T_LOCAL),
    ("  2024-05-01T08:00:00Z ", T, T),
    ("1714550400", T, T),
    ("1714550400000", T, T),
    (1714550400, T, T),
    (1714550400.25, T + 250, T + 250),
    (1714550400000, T, T),
    (20240501080000, T, T_LOCAL),
    ("20240501080000", T, T_LOCAL),
    (datetime(2024, 5, 1, 8, 0, 0), T, T_LOCAL),
    (datetime(2024, 5, 1, 16, 0, 0, tzinfo=BEIJING), T, T),
    ("", None, None),
    (None, None, None),
    ("yesterday", None, None),
    ("2024-13-45T99:00:00Z", None, None),
    (True, None, None),
    (float("nan"), None, None),
    (float("inf"), None, None),
    (1e300, None, None),
    ([1, 2], None, None),
]


@pytest.mark.parametrize(("value", "utc_ms", "shanghai_ms"), TABLE)
def test_one_value(value, utc_ms, shanghai_ms) -> None:
    assert time_to_ms(value) == utc_ms
    assert time_to_ms(value, timezone="Asia/Shanghai") == shanghai_ms


def test_whole_mixed_column_matches_one_by_one() -> None:
    values = [v for v, _, _ in TABLE]
    time_ms, ok = times_to_ms(values, timezone="Asia/Shanghai")
    expected = [s for _, _, s in TABLE]
    assert [int(t) if good else None for t, good in zip(time_ms, ok, strict=True)] == expected


def test_string_column_mixing_naive_and_zoned_values() -> None:
    column = pd.Series(["2024-05-01 08:00:00", "2024-05-01T08:00:00Z", "x", None])
    time_ms, ok = times_to_ms(column, timezone="Asia/Shanghai")
    assert ok.tolist() == [True, True, False, False]
    assert time_ms[:2].tolist() == [T_LOCAL, T]


def test_numeric_columns_and_explicit_format() -> None:
    time_ms, ok = times_to_ms(pd.Series([1714550400, 1714550400123]))
    assert time_ms.tolist() == [T, T + 123] and ok.all()
    time_ms, ok = times_to_ms(pd.Series([1714550400.0, np.nan]))
    assert ok.tolist() == [True, False]
    time_ms, ok = times_to_ms(pd.Series(["01.05.2024 16:00", "31.02.2024 10:00"]),
                              time_format="%d.%m.%Y %H:%M", timezone="Asia/Shanghai")
    assert ok.tolist() == [True, False]
    assert time_ms[0] == T  # 16:00 in Beijing is 08:00Z


def test_dst_gap_is_unreadable_not_shifted() -> None:
    # 2024-03-10 02:30 does not exist in New York.
    assert time_to_ms("2024-03-10 02:30:00", timezone="America/New_York") is None


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                    timezones=st.just(UTC)))
def test_iso_round_trip(moment: datetime) -> None:
    expected = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    assert time_to_ms(moment.isoformat()) == expected
