"""Delimited-text tracks (exports of loggers, Excel sheets, Chinese platform downloads) to fixes.

Read with pandas' C parser; the header names are guessed (English or Chinese) unless
``columns`` maps them. Errors name ``line N`` (1-based file lines, header included; a quoted
field spanning lines shifts the numbers after it).
"""

from __future__ import annotations

import csv as std_csv
import io
import re
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from pandas.errors import ParserError, ParserWarning

from geo.schema import Mode, ParseResult, RecordError, empty_fixes, fix_frame
from geo.tracks._common import (
    KMH_TO_MPS,
    check_mode,
    constant_text,
    decode_text,
    error,
    in_document_order,
    short,
    too_many,
)
from geo.tracks._time import check_timezone, times_to_ms

#: Fix fields a CSV column can feed, and the header names guessed for each (compared after
#: lower-casing and removing spaces, underscores and full-width brackets).
COLUMN_GUESSES: dict[str, tuple[str, ...]] = {
    "unit_id": ("unit_id", "unit", "unitid", "device", "device_id", "deviceid", "imei",
                "设备", "设备号", "设备编号", "终端号", "单位"),
    "time": ("time", "timestamp", "datetime", "date_time", "gps_time", "fix_time", "utc",
             "时间", "定位时间", "gps时间", "采集时间"),
    "lat": ("lat", "latitude", "纬度"),
    "lon": ("lon", "lng", "long", "longitude", "经度"),
    "speed_mps": ("speed_mps", "speed", "speed(m/s)", "速度(m/s)"),
    "speed_kmh": ("speed_kmh", "speed_kph", "speed(km/h)", "速度", "速度(km/h)", "速度(公里/小时)"),
    "accuracy_m": ("accuracy_m", "accuracy", "acc", "hacc", "精度", "定位精度"),
    "bearing_deg": ("bearing_deg", "bearing", "heading", "course", "方向", "航向"),
    "altitude_m": ("altitude_m", "altitude", "alt", "ele", "elevation", "海拔", "高程", "高度"),
    "battery_pct": ("battery_pct", "battery", "batt", "电量"),
}
REQUIRED = ("lat", "lon", "time")
_DELIMITERS = (",", ";", "\t", "|")
_NUMERIC = ("speed_mps", "speed_kmh", "accuracy_m", "bearing_deg", "altitude_m", "battery_pct")
_HEAD_BYTES = 1 << 16  # the header is looked for in the first 64 KiB
_LINE = re.compile(r"\r\n|\r|\n")
_BAD_LINE = re.compile(r"line (\d+): expected (\d+) fields, saw (\d+)")


def parse_csv(
    data: bytes | str,
    *,
    unit_id: str | None = None,
    mode: Mode,
    columns: Mapping[str, str] | None = None,
    delimiter: str | None = None,
    time_format: str | None = None,
    timezone: str = "UTC",
    source: str = "csv",
    max_fixes: int | None = None,
) -> ParseResult:
    """Parse delimited text with a header line.

    ``columns`` maps fix fields (keys of ``COLUMN_GUESSES``) to header names, overriding the
    guesses. ``delimiter`` defaults to the most frequent of , ; tab | in the header.
    ``time_format`` is a strftime format; by default times are ISO-8601 (with or without a
    zone) or epoch seconds/milliseconds. Naive times are in ``timezone`` (e.g. Asia/Shanghai).
    ``unit_id`` is used where the file has no unit column or the cell is empty. More than
    ``max_fixes`` data rows is one error and no fixes.
    """
    check_mode(mode)
    check_timezone(timezone)
    utf8 = _utf8(data)
    header_index, header = _header(utf8[:_HEAD_BYTES].decode("utf-8", errors="ignore"), delimiter)
    if header is None:
        where = f"line {header_index + 1}"
        return ParseResult(empty_fixes(), [error(where, "header", "no readable header line")])
    sep, names = header
    picked, errors = _pick_columns(names, columns, header_index, unit_id)
    if errors:
        return ParseResult(empty_fixes(), errors)
    frame, row_lines, errors = _read(utf8, sep, len(names), header_index, picked)
    if frame is None:
        return ParseResult(empty_fixes(), errors)
    problem = too_many(len(frame) + len(errors), "rows", max_fixes)
    if problem is not None:
        return ParseResult(empty_fixes(), [problem])
    fixes, row_errors = _to_fixes(frame, row_lines, unit_id, time_format, timezone)
    n = len(fixes["lon"])
    fixes = fix_frame(**fixes, source=constant_text(n, source), mode=constant_text(n, mode))
    return ParseResult(fixes, in_document_order(errors + row_errors))


def _utf8(data: bytes | str) -> bytes:
    """The document as UTF-8 bytes without BOM (pandas reads bytes faster than text)."""
    if isinstance(data, str):
        return data.lstrip("\ufeff").encode("utf-8", errors="replace")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:  # UTF-16, GB18030 ...
        return decode_text(data).encode("utf-8", errors="replace")
    return data


def _header(text: str, delimiter: str | None) -> tuple[int, tuple[str, list[str]] | None]:
    """0-based index of the first non-blank line, and (delimiter, column names) from it.
    Lines end at LF, CRLF or a lone CR, as in the pandas parser."""
    for index, line in enumerate(_LINE.split(text)):
        if line.strip():
            sep = delimiter or max(_DELIMITERS, key=line.count)
            try:
                names = next(std_csv.reader([line], delimiter=sep), [])
            except std_csv.Error:
                return index, None
            return index, (sep, [n.strip() for n in names])
    return 0, None


def _normal(name: str) -> str:
    name = name.translate(str.maketrans("（）", "()"))
    return re.sub(r"[\s_]", "", name.strip().lower())


def _pick_columns(
    names: list[str], columns: Mapping[str, str] | None, header_index: int,
    unit_id: str | None,
) -> tuple[dict[str, int], list[RecordError]]:
    """Field -> column position; errors for required fields that cannot be found."""
    unknown = set(columns or {}) - set(COLUMN_GUESSES)
    if unknown:
        raise ValueError(f"unknown column field(s) {sorted(unknown)}; use {sorted(COLUMN_GUESSES)}")
    where = f"line {header_index + 1}"
    position = {name: i for i, name in reversed(list(enumerate(names)))}
    normal = {_normal(name): i for i, name in reversed(list(enumerate(names)))}
    picked: dict[str, int] = {}
    errors: list[RecordError] = []
    for field_name, guesses in COLUMN_GUESSES.items():
        if columns and field_name in columns:
            if columns[field_name] in position:
                picked[field_name] = position[columns[field_name]]
            else:
                errors.append(error(where, field_name, f"column {short(columns[field_name])} "
                                                       "not in the header"))
            continue
        found = next((normal[_normal(g)] for g in guesses if _normal(g) in normal), None)
        if found is not None and found not in picked.values():
            picked[field_name] = found
    for field_name in REQUIRED:
        if field_name not in picked and not any(e.field == field_name for e in errors):
            errors.append(error(where, field_name, f"no {field_name} column in {short(names, 80)}"))
    if "unit_id" not in picked and unit_id is None and not errors:
        errors.append(error(where, "unit_id", "no unit column and no unit_id given"))
    return picked, errors


def _read(
    utf8: bytes, sep: str, n_fields: int, header_index: int, picked: dict[str, int]
) -> tuple[pd.DataFrame | None, np.ndarray, list[RecordError]]:
    """The data rows (columns named by field), each row's file line, and bad-line errors."""
    names = [f"c{i}" for i in range(n_fields)]
    dtype = {f"c{picked['unit_id']}": object} if "unit_id" in picked else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ParserWarning)
        try:
            raw = pd.read_csv(io.BytesIO(utf8), sep=sep, encoding="utf-8", header=None, names=names,
                              skiprows=header_index + 1, skip_blank_lines=False, dtype=dtype,
                              on_bad_lines="warn", engine="c", skipinitialspace=True,
                              index_col=False, quoting=std_csv.QUOTE_MINIMAL)
        except (ParserError, ValueError, UnicodeError) as exc:
            return None, np.zeros(0, np.int64), [error("document", "csv", str(exc).strip())]
    bad = []
    for warning in caught:
        if not issubclass(warning.category, ParserWarning):
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
        bad += [(int(m[0]), int(m[1]), int(m[2])) for m in _BAD_LINE.findall(str(warning.message))]
    errors = [error(f"line {line}", "row", f"expected {want} fields, saw {saw}")
              for line, want, saw in bad]
    first_line = header_index + 2
    lines = np.arange(first_line, first_line + len(raw) + len(bad))
    row_lines = np.setdiff1d(lines, [b[0] for b in bad], assume_unique=True) if bad else lines
    frame = pd.DataFrame({field_name: raw[f"c{i}"] for field_name, i in picked.items()})
    return frame, row_lines, errors


def _to_fixes(
    frame: pd.DataFrame, row_lines: np.ndarray, unit_id: str | None, time_format: str | None,
    timezone: str,
) -> tuple[dict[str, np.ndarray], list[RecordError]]:
    lon, lon_bad = _coordinate(frame["lon"])
    lat, lat_bad = _coordinate(frame["lat"])
    time_ms, time_ok = times_to_ms(frame["time"], time_format=time_format, timezone=timezone)
    unit, unit_bad = _units(frame.get("unit_id"), unit_id, len(frame))
    problems = [("lon", lon_bad), ("lat", lat_bad), ("time", ~time_ok), ("unit_id", unit_bad)]
    bad_row = np.logical_or.reduce([mask for _, mask in problems])
    blank = np.zeros(len(frame), bool)  # empty lines: skipped without an error
    blank[bad_row] = frame[bad_row].isna().all(axis=1).to_numpy()
    bad_row &= ~blank
    errors = [
        error(f"line {row_lines[i]}", name, _cell_problem(frame[name].iloc[i] if name in frame
                                                          else None, name))
        for i in np.flatnonzero(bad_row) for name, mask in problems if mask[i]
    ]
    good = slice(None) if not (blank | bad_row).any() else ~blank & ~bad_row
    fixes = {"unit_id": unit[good], "time_ms": time_ms[good], "lon": lon[good], "lat": lat[good]}
    for name in _NUMERIC:
        if name in frame:
            value = _numbers(frame[name])[good]
            key = "speed_mps" if name == "speed_kmh" else name
            if name == "speed_kmh":
                value = value * KMH_TO_MPS
            if key not in fixes or name == "speed_mps":
                fixes[key] = value
    return fixes, errors


def _numbers(column: pd.Series) -> np.ndarray:
    if column.dtype.kind in "fiu":
        return column.to_numpy(dtype=float)
    return pd.to_numeric(column.astype(str).str.strip().str.replace(",", ".", regex=False),
                         errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _coordinate(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Floats, and where the cell is missing or not a finite number."""
    value = _numbers(column)
    return value, ~np.isfinite(value)


def _units(column: pd.Series | None, default: str | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit ids (stripped text; the default where missing) and where one is still missing."""
    if column is None:
        return constant_text(n, default or ""), np.zeros(n, bool)
    codes, uniques = pd.factorize(column.to_numpy(dtype=object))
    cleaned = np.array([str(u).strip() for u in uniques] + [""], dtype=object)
    cleaned[cleaned == ""] = default if default is not None else ""
    unit = cleaned[np.where(codes < 0, len(uniques), codes)]
    return unit, unit == ""


def _cell_problem(value: object, name: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        return "missing"
    return f"unreadable {name}: {short(value)}"
