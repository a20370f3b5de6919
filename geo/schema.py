"""The column contracts shared by every part of ``geo`` (frames are checked at package boundaries)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd

Mode = Literal["vehicle", "foot", "boat"]
Datum = Literal["wgs84", "gcj02", "cgcs2000"]
MODES: tuple[str, ...] = get_args(Mode)
DATUMS: tuple[str, ...] = get_args(Datum)

#: A fix frame: one row per position. ``time_ms`` is UTC epoch milliseconds; lon/lat are WGS-84
#: once ``geo.datum.to_wgs84`` has run. Optional measurements are NaN when the source lacks them.
FIX_COLUMNS: dict[str, str] = {
    "unit_id": "object",
    "time_ms": "int64",
    "lon": "float64",
    "lat": "float64",
    "accuracy_m": "float64",
    "speed_mps": "float64",
    "bearing_deg": "float64",
    "altitude_m": "float64",
    "battery_pct": "float64",
    "source": "object",
    "mode": "object",
}


@dataclass(frozen=True)
class RecordError:
    """One bad record in an input: where (``line 12``, ``feature 3``, ``track 1 segment 0 point 5``),
    which field, and why."""

    where: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.reason}"


@dataclass(frozen=True)
class ParseResult:
    """What a parser gives back: the good fixes and one error per bad record (never raises for data)."""

    fixes: pd.DataFrame
    errors: list[RecordError]


def empty_fixes() -> pd.DataFrame:
    """A fix frame with no rows and the right dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in FIX_COLUMNS.items()})


def fix_frame(**columns: object) -> pd.DataFrame:
    """Build a fix frame from columns; missing optional columns are filled (NaN, or '' for text)."""
    n = max((len(v) for v in columns.values() if hasattr(v, "__len__") and not isinstance(v, str)),
            default=0)
    data: dict[str, object] = {}
    for name, dtype in FIX_COLUMNS.items():
        value = columns.get(name)
        if value is None:
            value = np.full(n, np.nan) if dtype == "float64" else np.full(n, "", dtype=object)
        elif isinstance(value, str):
            value = np.full(n, value, dtype=object)
        data[name] = pd.Series(np.asarray(value), dtype=dtype) if dtype != "object" else pd.Series(
            np.asarray(value, dtype=object), dtype=object)
    return pd.DataFrame(data)


def check_fixes(frame: pd.DataFrame) -> pd.DataFrame:
    """Raise ``ValueError`` naming the first missing column or wrong dtype; return the frame."""
    for name, dtype in FIX_COLUMNS.items():
        if name not in frame.columns:
            raise ValueError(f"fix frame lacks column {name!r}")
        if dtype != "object" and str(frame[name].dtype) != dtype:
            raise ValueError(f"fix frame column {name!r} is {frame[name].dtype}, expected {dtype}")
    return frame
