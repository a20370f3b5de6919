"""Time parsing shared by the track parsers: ISO-8601 text or epoch numbers to UTC epoch ms.

Everything is vectorized over a column; a value that cannot be read gives ``ok = False``.
Naive times (no zone) are read in ``timezone``; so are compact ``yyyymmddHHMMSS`` numbers.
Epoch numbers are seconds below ``EPOCH_MS_THRESHOLD`` in magnitude and milliseconds from it
on (1e11 s is the year 5138, 1e11 ms is 1973, so real positions are never ambiguous).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype, is_string_dtype
from pandas.tseries.api import guess_datetime_format

from geo.tracks._common import to_float

EPOCH_MS_THRESHOLD = 1e11
#: Larger magnitudes are not times (and would overflow int64 milliseconds).
_MAX_ABS_MS = 2**62
_MAX_GUESSES = 8  # formats guessed per column for text the ISO parser refused
_NUMERIC_TEXT = re.compile(r"^\s*[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?\s*$")
_AWARE_TEXT = r"\d:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$"

#: Whole numbers in this range are compact datetimes (1900-01-01 ... 2100-12-31), not epochs:
#: as epoch milliseconds they would be in the 27th century.
_COMPACT_MIN, _COMPACT_MAX = 19_000_101_000_000.0, 21_001_231_235_960.0
TimeParse = tuple[np.ndarray, np.ndarray]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def times_to_ms(
    values: Sequence[Any] | np.ndarray | pd.Series,
    *,
    time_format: str | None = None,
    timezone: str = "UTC",
) -> TimeParse:
    """Parse a column of times to ``(time_ms int64, ok bool)``; ``time_ms`` is 0 where not ok.

    Accepts ISO-8601 strings (with or without zone), epoch seconds or milliseconds as numbers or
    numeric strings, ``datetime`` objects, or with ``time_format`` strftime-formatted text.
    """
    check_timezone(timezone)
    series = _as_series(values)
    if is_bool_dtype(series.dtype):
        return np.zeros(len(series), np.int64), np.zeros(len(series), bool)
    if is_numeric_dtype(series.dtype):
        return _numbers_to_ms(series.to_numpy(dtype=float, na_value=np.nan), time_format,
                              timezone)
    if is_string_dtype(series.dtype) and series.dtype != object:
        return _text_to_ms(series, time_format, timezone)
    return _mixed_to_ms(series, time_format, timezone)


def check_timezone(timezone: str) -> None:
    """Raise ``ValueError`` for a time zone name the tz database does not know (a caller bug)."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {timezone!r}") from exc


def time_to_ms(value: Any, *, timezone: str = "UTC") -> int | None:
    """Parse one time value (see :func:`times_to_ms`); ``None`` if it cannot be read."""
    quick = _quick_iso_ms(value, timezone)
    if quick is not None:
        return quick
    if isinstance(value, int | float | str) and not isinstance(value, bool) and (
            not isinstance(value, str) or _NUMERIC_TEXT.match(value)):
        time_ms, ok = _numbers_to_ms(np.array([to_float(value)]), None, timezone)
    else:
        time_ms, ok = times_to_ms([value], timezone=timezone)
    return int(time_ms[0]) if ok[0] else None


def _quick_iso_ms(value: Any, timezone: str) -> int | None:
    """The common single-request case without pandas: zoned ISO text, or naive text in UTC."""
    if not isinstance(value, str) or _NUMERIC_TEXT.match(value):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        if not _is_utc(timezone):
            return None  # DST gaps and folds: leave them to the vectorized path
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _ONE_MS


def _as_series(values: Sequence[Any] | np.ndarray | pd.Series) -> pd.Series:
    if isinstance(values, pd.Series):
        return values.reset_index(drop=True)
    if isinstance(values, np.ndarray):
        return pd.Series(values)
    return pd.Series(list(values), dtype=object)


def _epoch_to_ms(number: np.ndarray) -> TimeParse:
    number = np.asarray(number, dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        scale = np.where(np.abs(number) >= EPOCH_MS_THRESHOLD, 1.0, 1000.0)
        ms = np.round(number * scale)
        ok = np.isfinite(ms) & (np.abs(ms) < _MAX_ABS_MS)
    return np.where(ok, ms, 0).astype(np.int64), ok


def _numbers_to_ms(number: np.ndarray, time_format: str | None, timezone: str) -> TimeParse:
    """Epoch numbers, except compact ``yyyymmddHHMMSS`` integers (Chinese platform exports) and
    numbers to be read with an explicit ``time_format`` (e.g. ``%Y%m%d%H%M%S``)."""
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(number) & (number == np.round(number))
        compact = whole & (number >= _COMPACT_MIN) & (number < _COMPACT_MAX)
    as_text = whole if time_format is not None else compact
    time_ms, ok = _epoch_to_ms(np.where(as_text, np.nan, number))
    if as_text.any():
        index = np.flatnonzero(as_text)
        text = pd.Series([str(int(v)) for v in number[index]], dtype=object)
        part_ms, part_ok = _strptime_to_ms(text, time_format or "%Y%m%d%H%M%S", timezone)
        time_ms[index], ok[index] = part_ms, part_ok
    return time_ms, ok


def _mixed_to_ms(series: pd.Series, time_format: str | None, timezone: str) -> TimeParse:
    """An object column: numbers, strings, datetimes and junk, each read by kind."""
    n = len(series)
    time_ms, ok = np.zeros(n, np.int64), np.zeros(n, bool)
    kinds = np.array([_kind(v) for v in series.to_numpy(dtype=object)], dtype=np.int8)
    for kind, parse in ((1, _epoch_part), (2, _text_part), (3, _datetime_part)):
        index = np.flatnonzero(kinds == kind)
        if len(index):
            part_ms, part_ok = parse(series.iloc[index], time_format, timezone)
            time_ms[index], ok[index] = part_ms, part_ok
    return time_ms, ok


def _kind(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float | np.integer | np.floating):
        return 1
    if isinstance(value, str):
        return 2
    if isinstance(value, datetime):
        return 3
    return 0


def _epoch_part(part: pd.Series, fmt: str | None, tz: str) -> TimeParse:
    return _numbers_to_ms(np.array([to_float(v) for v in part], dtype=float), fmt, tz)


def _text_part(part: pd.Series, fmt: str | None, tz: str) -> TimeParse:
    return _text_to_ms(part.astype(str), fmt, tz)


def _datetime_part(part: pd.Series, _fmt: str | None, tz: str) -> TimeParse:
    time_ms, ok = np.zeros(len(part), np.int64), np.zeros(len(part), bool)
    for i, value in enumerate(part):
        try:
            if value.tzinfo is None:
                value = pd.Timestamp(value).tz_localize(tz).to_pydatetime()
            time_ms[i] = round(value.astimezone(UTC).timestamp() * 1000)
            ok[i] = True
        except (ValueError, OverflowError, OSError):
            continue
    return time_ms, ok


def _text_to_ms(text: pd.Series, time_format: str | None, timezone: str) -> TimeParse:
    """A string column: datetimes first, then numeric text as epoch, then a guessed format."""
    text = text.reset_index(drop=True)
    n = len(text)
    time_ms, ok = np.zeros(n, np.int64), np.zeros(n, bool)
    present = text.notna().to_numpy()
    first_index = text.first_valid_index()
    if first_index is None:
        return time_ms, ok
    first = str(text.iloc[first_index])
    numeric_first = time_format is None and _NUMERIC_TEXT.match(first)
    steps = [_numeric_step, _format_step(time_format)] if numeric_first else [
        _format_step(time_format), _numeric_step]
    if time_format is None:
        steps.append(_guessed_step)
    todo = present
    for step in steps:
        index = np.flatnonzero(todo)
        if not len(index):
            break
        part = text.iloc[index].reset_index(drop=True) if len(index) < n else text
        part_ms, part_ok = step(part, timezone)
        time_ms[index[part_ok]] = part_ms[part_ok]
        ok[index[part_ok]] = True
        todo = present & ~ok
    return time_ms, ok


def _numeric_step(text: pd.Series, timezone: str) -> TimeParse:
    looks_numeric = text.str.match(_NUMERIC_TEXT).fillna(False).to_numpy(dtype=bool)
    number = np.full(len(text), np.nan)
    if looks_numeric.any():
        number[looks_numeric] = pd.to_numeric(text[looks_numeric], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan)
    return _numbers_to_ms(number, None, timezone)


def _format_step(time_format: str | None) -> Callable[[pd.Series, str], TimeParse]:
    def step(text: pd.Series, timezone: str) -> TimeParse:
        if time_format is None:
            return _iso_to_ms(text, timezone)
        return _strptime_to_ms(text, time_format, timezone)

    return step


def _guessed_step(text: pd.Series, timezone: str) -> TimeParse:
    """Text the ISO parser refused (e.g. ``2024/5/1 8:00``): guess a format from the first value
    left, read every value left with it, and repeat a few times for columns mixing forms."""
    text = text.str.strip()
    time_ms, ok = np.zeros(len(text), np.int64), np.zeros(len(text), bool)
    left = np.arange(len(text))
    for _ in range(_MAX_GUESSES):
        if not len(left):
            break
        fmt = guess_datetime_format(str(text.iloc[left[0]]))
        if fmt is not None:
            part_ms, part_ok = _strptime_to_ms(text.iloc[left].reset_index(drop=True), fmt,
                                               timezone)
            time_ms[left[part_ok]], ok[left[part_ok]] = part_ms[part_ok], True
        left = left[1:][~ok[left[1:]]]
    return time_ms, ok


def _iso_to_ms(text: pd.Series, timezone: str) -> TimeParse:
    if _is_utc(timezone):
        return _datetimes_to_ms(pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce"))
    try:  # one pass when the column is uniformly naive or uniformly one offset
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    except ValueError:  # mixed zones: split the naive from the zoned values
        return _split_aware_to_ms(text, timezone)
    return _datetimes_to_ms(_localize(parsed, timezone))


def _split_aware_to_ms(text: pd.Series, timezone: str) -> TimeParse:
    aware = text.str.contains(_AWARE_TEXT, regex=True).fillna(False).to_numpy(dtype=bool)
    time_ms, ok = np.zeros(len(text), np.int64), np.zeros(len(text), bool)
    if aware.any():
        parsed = pd.to_datetime(text[aware], format="ISO8601", utc=True, errors="coerce")
        time_ms[aware], ok[aware] = _datetimes_to_ms(parsed)
    if (~aware).any():
        try:
            parsed = pd.to_datetime(text[~aware], format="ISO8601", errors="coerce")
        except ValueError:
            return time_ms, ok
        time_ms[~aware], ok[~aware] = _datetimes_to_ms(_localize(parsed, timezone))
    return time_ms, ok


def _strptime_to_ms(text: pd.Series, fmt: str, timezone: str) -> TimeParse:
    zoned = "%z" in fmt or "%Z" in fmt
    try:
        parsed = pd.to_datetime(text, format=fmt, utc=zoned, errors="coerce")
        if parsed.isna().any():  # retry values padded with spaces
            parsed = parsed.fillna(pd.to_datetime(text.str.strip(), format=fmt, utc=zoned,
                                                  errors="coerce"))
    except ValueError:  # a format pandas cannot use at all
        return np.zeros(len(text), np.int64), np.zeros(len(text), bool)
    return _datetimes_to_ms(parsed if zoned else _localize(parsed, timezone))


def _localize(parsed: pd.Series, timezone: str) -> pd.Series:
    if getattr(parsed.dt, "tz", None) is not None:
        return parsed
    return parsed.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")


def _datetimes_to_ms(parsed: pd.Series) -> TimeParse:
    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    ok = parsed.notna().to_numpy()
    stamps = parsed.to_numpy().astype("datetime64[ms]").view(np.int64)
    return np.where(ok, stamps, 0).astype(np.int64), ok


def _is_utc(timezone: str) -> bool:
    return timezone.upper() in {"UTC", "Z", "GMT", "ETC/UTC"}
