"""Small helpers shared by the record-at-a-time parsers (GPX, GeoJSON, OsmAnd, OwnTracks)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from geo.schema import MODES, RecordError, empty_fixes, fix_frame

KNOTS_TO_MPS = 1852.0 / 3600.0
KMH_TO_MPS = 1.0 / 3.6
OPTIONAL_FIELDS = ("accuracy_m", "speed_mps", "bearing_deg", "altitude_m", "battery_pct")
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def check_mode(mode: str, *, allow_blank: bool = False) -> None:
    """Raise ``ValueError`` for a mode the schema does not know (a caller bug, not bad data)."""
    if mode not in MODES and not (allow_blank and mode == ""):
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")


def number(value: Any) -> float | None:
    """A finite float from a JSON number or numeric text; ``None`` for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        result = to_float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def to_float(value: int | float | str) -> float:
    """``float(value)``, but infinite for an integer beyond the float range (JSON allows any digits)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def number_problem(value: Any) -> str:
    """Why :func:`number` refused ``value``, for an error message."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return "missing"
    return f"not a number: {short(value)}"


def constant_text(n: int, value: str) -> np.ndarray:
    """An object array of ``n`` times ``value`` (much faster than ``np.full`` for objects)."""
    array = np.empty(n, dtype=object)
    array[:] = value
    return array


def short(value: Any, limit: int = 40) -> str:
    """``repr`` of a value, cut to ``limit`` characters for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def decode_text(data: bytes | str) -> str:
    """Bytes to text without a byte-order mark: UTF-8/16, an XML-declared encoding, else GB18030
    (Chinese Windows exports); undecodable bytes become U+FFFD rather than an exception."""
    return (data if isinstance(data, str) else _decode_bytes(data)).lstrip("\ufeff")


def _decode_bytes(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    declared = _XML_ENCODING.match(data[:200])
    for encoding in ([declared.group(1).decode()] if declared else []) + ["gb18030"]:
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("utf-8", errors="replace")


@dataclass
class FixRows:
    """Fixes collected one record at a time, turned into a fix frame at the end."""

    unit_id: list[str] = field(default_factory=list)
    time_ms: list[int] = field(default_factory=list)
    lon: list[float] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    optional: dict[str, list[float]] = field(
        default_factory=lambda: {name: [] for name in OPTIONAL_FIELDS})

    def add(self, unit_id: str, time_ms: int, lon: float, lat: float,
            **measurements: float | None) -> None:
        """Append one fix; ``measurements`` are OPTIONAL_FIELDS values (None means unknown)."""
        self.unit_id.append(unit_id)
        self.time_ms.append(time_ms)
        self.lon.append(lon)
        self.lat.append(lat)
        for name, values in self.optional.items():
            value = measurements.get(name)
            values.append(np.nan if value is None else float(value))

    def frame(self, *, source: str, mode: str) -> pd.DataFrame:
        """The collected fixes as a fix frame (``geo.schema.FIX_COLUMNS``)."""
        if not self.time_ms:
            return empty_fixes()
        return fix_frame(
            unit_id=np.array(self.unit_id, dtype=object),
            time_ms=np.array(self.time_ms, dtype=np.int64),
            lon=np.array(self.lon, dtype=float),
            lat=np.array(self.lat, dtype=float),
            source=constant_text(len(self.time_ms), source),
            mode=constant_text(len(self.time_ms), mode),
            **{name: np.array(values, dtype=float) for name, values in self.optional.items()},
        )


def error(where: str, field_name: str, reason: str) -> RecordError:
    """A ``RecordError`` (shorthand used by every parser)."""
    return RecordError(where=where, field=field_name, reason=reason)


def too_many(count: int, what: str, max_fixes: int | None) -> RecordError | None:
    """The one error for a document with more than ``max_fixes`` positions (None when within it)."""
    if max_fixes is None or count <= max_fixes:
        return None
    return error("document", "max_fixes", f"{count} {what}, more than the {max_fixes} fixes read from one "
                                          "document; split it")


def in_document_order(errors: list[RecordError]) -> list[RecordError]:
    """Errors sorted by the numbers in ``where`` (``feature 2 point 10`` after ``feature 2``)."""
    return sorted(errors, key=lambda e: [int(n) for n in re.findall(r"\d+", e.where)])
