"""Time windows as users write them: ``24h``, ``7d``, ``30d``, ``90m`` or an ISO-8601 instant."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class WindowError(ValueError):
    """A window that cannot be read."""


def since_ms(value: str, *, now_ms: int) -> int:
    """The start of the window ``value`` ends at ``now_ms``."""
    match = _SPAN.match(value)
    if match:
        return now_ms - int(float(match.group(1)) * _UNIT_S[match.group(2)] * 1000)
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise WindowError(f"since must look like 24h, 7d, 30d or an ISO-8601 time, got {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    start = int(moment.timestamp() * 1000)
    if start > now_ms:
        raise WindowError(f"since {value!r} is in the future")
    return start


def local_day(time_ms: int, tz: str) -> int:
    """The local calendar day of an instant as YYYYMMDD."""
    moment = datetime.fromtimestamp(time_ms / 1000, tz=ZoneInfo(tz))
    return moment.year * 10000 + moment.month * 100 + moment.day


def utc_offset_hours(tz: str, at_ms: int) -> float:
    offset = datetime.fromtimestamp(at_ms / 1000, tz=ZoneInfo(tz)).utcoffset() or timedelta(0)
    return offset.total_seconds() / 3600
