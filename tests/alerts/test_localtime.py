from datetime import timedelta

import pytest

from alerts.localtime import in_daily_window, minute_of_day, parse_hhmm, resolve_tz
from tests.alerts.helpers import local_ms


@pytest.mark.parametrize("minute, start, end, inside", [
    ("22:40", "22:00", "05:00", True),
    ("00:00", "22:00", "05:00", True),
    ("04:59", "22:00", "05:00", True),
    ("05:00", "22:00", "05:00", False),
    ("21:59", "22:00", "05:00", False),
    ("12:00", "22:00", "05:00", False),
    ("08:00", "08:00", "20:00", True),
    ("20:00", "08:00", "20:00", False),
    ("03:00", "08:00", "20:00", False),
    ("13:37", "06:00", "06:00", True),  # start == end: the whole day
])
def test_daily_window(minute: str, start: str, end: str, inside: bool) -> None:
    assert in_daily_window(parse_hhmm(minute), parse_hhmm(start), parse_hhmm(end)) is inside


@pytest.mark.parametrize("text", ["24:00", "7:00", "07:60", "noon", ""])
def test_parse_hhmm_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_hhmm(text)


def test_minute_of_day_is_local() -> None:
    t = local_ms(2026, 11, 20, 22, 40)
    assert minute_of_day(t, resolve_tz("Asia/Shanghai")) == 22 * 60 + 40
    assert minute_of_day(t, resolve_tz("+00:00")) == 14 * 60 + 40


@pytest.mark.parametrize("name, hours", [("+08:00", 8), ("UTC+8", 8), ("-0330", -3.5)])
def test_offsets(name: str, hours: float) -> None:
    assert resolve_tz(name).utcoffset(None) == timedelta(hours=hours)


def test_unknown_zone() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        resolve_tz("Mars/Olympus")
