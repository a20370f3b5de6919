"""Local time of day for night windows and duty shifts (Asia/Shanghai unless configured)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TZ = "Asia/Shanghai"
MINUTES_PER_DAY = 24 * 60

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_OFFSET = re.compile(r"^(?:UTC)?([+-])(\d{1,2})(?::?(\d{2}))?$")


@lru_cache(maxsize=1024)
def parse_hhmm(text: str) -> int:
    """``"22:00"`` → minutes after midnight (1320). Raises ``ValueError`` naming the text."""
    m = _HHMM.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a time of day HH:MM (00:00–23:59)")
    return int(m.group(1)) * 60 + int(m.group(2))


@lru_cache(maxsize=64)
def resolve_tz(name: str) -> tzinfo:
    """An IANA name (``Asia/Shanghai``) or a fixed offset (``+08:00``, ``UTC+8``)."""
    m = _OFFSET.match(name)
    if m:
        sign = 1 if m.group(1) == "+" else -1
        hours, minutes = int(m.group(2)), int(m.group(3) or 0)
        if hours > 14 or minutes > 59:
            raise ValueError(f"{name!r} is not a valid UTC offset")
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name or an offset like +08:00)")\
            from None


def local_datetime(t_ms: int, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(t_ms / 1000, tz=UTC).astimezone(tz)


def minute_of_day(t_ms: int, tz: tzinfo) -> int:
    local = local_datetime(t_ms, tz)
    return local.hour * 60 + local.minute


def in_daily_window(minute: int, start_min: int, end_min: int) -> bool:
    """Is ``minute`` inside [start, end)? A window with end ≤ start crosses midnight
    (22:00–05:00); start == end is the whole day."""
    if start_min == end_min:
        return True
    if start_min < end_min:
        return start_min <= minute < end_min
    return minute >= start_min or minute < end_min
