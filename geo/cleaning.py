"""Cleaning of parsed fixes: reject impossible ones with a reason, deduplicate, sort, and flag
implausible jumps (kept, but never drawn as covered ground).

All steps are vectorized over the whole batch; ``now_ms`` is a parameter (no clock here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, get_args

import numpy as np
import pandas as pd

RejectReason = Literal[
    "bad_coordinate", "missing_unit", "missing_time", "absurd_time", "future_time", "outside_area"
]
#: In order of precedence: a fix failing several checks is rejected for the first one.
REJECT_REASONS: tuple[str, ...] = get_args(RejectReason)
MIN_TIME_MS = 946_684_800_000  # 2000-01-01T00:00:00Z; older fixes are GPS week-rollover junk
DEFAULT_MAX_SPEED_MPS: Mapping[str, float] = MappingProxyType(
    {"vehicle": 45.0, "foot": 4.0, "boat": 20.0})
EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEG = EARTH_RADIUS_M * np.pi / 180.0
_KEY_COLUMNS = ("unit_id", "time_ms", "lon", "lat")


@dataclass(frozen=True)
class CleanResult:
    """``accepted``: unique per (unit_id, time_ms), sorted, with a bool ``outlier`` column.
    ``rejected``: the input rows refused, with a ``reason`` column (one of REJECT_REASONS)."""

    accepted: pd.DataFrame
    rejected: pd.DataFrame


def clean_fixes(
    fixes: pd.DataFrame,
    *,
    now_ms: int,
    bounds_lonlat: tuple[float, float, float, float],
    margin_m: float = 5000.0,
    max_future_s: float = 300.0,
    min_time_ms: int = MIN_TIME_MS,
    max_speed_mps: Mapping[str, float] = DEFAULT_MAX_SPEED_MPS,
    jitter_m: float = 20.0,
    previous: pd.DataFrame | None = None,
) -> CleanResult:
    """Split ``fixes`` into accepted and rejected rows.

    ``bounds_lonlat`` is (min_lon, min_lat, max_lon, max_lat) of the deployment area, widened
    by ``margin_m``. A fix is an ``outlier`` when reaching it from the previous accepted fix of
    the same unit needs more than its mode's maximum speed (unknown modes: the fastest), after
    allowing ``jitter_m`` of GPS noise. ``previous`` (the last stored fix per unit: unit_id,
    time_ms, lon, lat) lets that check span batches; a batch row repeating one of them is
    dropped as a duplicate.
    """
    _check_columns(fixes)
    rows = _Rows.of(fixes)
    reason = _reject_reasons(rows, now_ms=now_ms, bounds_lonlat=bounds_lonlat, margin_m=margin_m,
                             max_future_s=max_future_s, min_time_ms=min_time_ms)
    refused = reason != ""
    rejected = fixes.iloc[np.flatnonzero(refused)].reset_index(drop=True)
    rejected["reason"] = pd.Series(reason[refused], dtype=object)
    limit_mps = _max_speed_per_row(fixes, max_speed_mps)
    context = _Rows.of(_context_rows(previous, fixes))
    positions, outlier = _sort_dedupe_flag(rows, ~refused, context, limit_mps, jitter_m)
    accepted = fixes.iloc[positions].reset_index(drop=True)
    if str(accepted["time_ms"].dtype) != "int64":
        accepted["time_ms"] = rows.time_ms[positions]
    accepted["outlier"] = outlier
    return CleanResult(accepted=accepted, rejected=rejected)


def implied_speed_mps(
    unit_id: np.ndarray | pd.Series,
    time_ms: np.ndarray | pd.Series,
    lon: np.ndarray | pd.Series,
    lat: np.ndarray | pd.Series,
) -> np.ndarray:
    """Speed needed to reach each fix from the row before it (rows sorted by unit, time);
    NaN on a unit's first row; inf when the time step is zero and the position moved."""
    same_unit = _same_unit_as_previous(np.asarray(unit_id, dtype=object))
    dist_m = _step_distance_m(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    dt_s = np.diff(np.asarray(time_ms, dtype=np.int64), prepend=0) / 1000.0
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = np.where(dist_m == 0, 0.0, dist_m / dt_s)
    return np.where(same_unit, speed, np.nan)


def split_tracks(
    accepted: pd.DataFrame,
    *,
    x_m: np.ndarray,
    y_m: np.ndarray,
    max_gap_s: float = 600.0,
    max_jump_m: float = 2000.0,
) -> np.ndarray:
    """A track-piece id (0, 1, ...) per row of ``clean_fixes(...).accepted`` (sorted by unit, time).

    A new piece starts at a unit change, after a time gap above ``max_gap_s``, or at a jump
    longer than ``max_jump_m`` into an ``outlier`` row, so no segment is drawn across them.
    ``x_m``/``y_m`` are the rows' metric coordinates.
    """
    n = len(accepted)
    if n == 0:
        return np.zeros(0, np.int64)
    x_m, y_m = np.asarray(x_m, dtype=float), np.asarray(y_m, dtype=float)
    if x_m.shape != (n,) or y_m.shape != (n,):
        raise ValueError(f"x_m and y_m need one value per row ({n})")
    same_unit = _same_unit_as_previous(accepted["unit_id"].to_numpy(dtype=object))
    gap = np.diff(accepted["time_ms"].to_numpy(dtype=np.int64), prepend=0) > max_gap_s * 1000.0
    jump_m = np.hypot(np.diff(x_m, prepend=x_m[0]), np.diff(y_m, prepend=y_m[0]))
    outlier = accepted["outlier"].to_numpy(dtype=bool) if "outlier" in accepted else np.zeros(n, bool)
    new_piece = ~same_unit | gap | ((jump_m > max_jump_m) & outlier)
    return np.cumsum(new_piece) - 1


def _check_columns(fixes: pd.DataFrame) -> None:
    missing = [c for c in _KEY_COLUMNS if c not in fixes.columns]
    if missing:
        raise ValueError(f"fix frame lacks column(s) {', '.join(missing)}")


@dataclass(frozen=True)
class _Rows:
    """The columns cleaning works on, as arrays; ``unit_rank`` orders units by their text."""

    unit_id: np.ndarray
    unit_rank: np.ndarray
    unit_missing: np.ndarray
    time_ms: np.ndarray
    time_missing: np.ndarray
    lon: np.ndarray
    lat: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame) -> _Rows:
        unit = frame["unit_id"].to_numpy(dtype=object)
        unit_rank, unit_missing = _unit_ranks(unit)
        time_ms, time_missing = _time_column(frame["time_ms"])
        return cls(unit_id=unit, unit_rank=unit_rank, unit_missing=unit_missing,
                   time_ms=time_ms, time_missing=time_missing, lon=_float_column(frame["lon"]),
                   lat=_float_column(frame["lat"]))


def _unit_ranks(unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's unit as its rank in text order, and where the id is missing (None/NaN) or
    blank."""
    codes, uniques = pd.factorize(unit)
    valid = np.array([u is not None and bool(str(u).strip()) for u in uniques] + [False])
    rank = np.empty(len(uniques) + 1, np.int64)
    text = np.array([str(u) for u in uniques] + [""], dtype=object)
    rank[np.argsort(text, kind="stable")] = np.arange(len(uniques) + 1)
    codes = np.where(codes < 0, len(uniques), codes)
    return rank[codes], ~valid[codes]


def _reject_reasons(
    rows: _Rows,
    *,
    now_ms: int,
    bounds_lonlat: tuple[float, float, float, float],
    margin_m: float,
    max_future_s: float,
    min_time_ms: int,
) -> np.ndarray:
    """One reason per row ('' when the row is fine), the first failing check winning."""
    lon, lat, time_ms, time_missing = rows.lon, rows.lat, rows.time_ms, rows.time_missing
    with np.errstate(invalid="ignore"):
        bad_coordinate = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180)
                           & (np.abs(lat) <= 90)) | ((lon == 0) & (lat == 0))
    absurd = ~time_missing & (time_ms < min_time_ms)
    future = ~time_missing & (time_ms > now_ms + max_future_s * 1000.0)
    outside = ~_inside_area(lon, lat, bounds_lonlat, margin_m)
    checks = [bad_coordinate, rows.unit_missing, time_missing, absurd, future, outside]
    return np.select(checks, list(REJECT_REASONS), default="").astype(object)


def _float_column(column: pd.Series) -> np.ndarray:
    if str(column.dtype) == "float64":
        return column.to_numpy()
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _time_column(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``time_ms`` as int64 plus a missing mask (the column may be float or nullable)."""
    if str(column.dtype) == "int64":
        return column.to_numpy(), np.zeros(len(column), bool)
    number = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    missing = ~np.isfinite(number) | (np.abs(number) > 2.0**62)
    return np.where(missing, 0, np.round(number)).astype(np.int64), missing


def _inside_area(
    lon: np.ndarray, lat: np.ndarray, bounds_lonlat: tuple[float, float, float, float],
    margin_m: float,
) -> np.ndarray:
    min_lon, min_lat, max_lon, max_lat = bounds_lonlat
    margin_lat_deg = margin_m / _M_PER_DEG
    widest_lat = min(max(abs(min_lat), abs(max_lat)) + margin_lat_deg, 89.0)
    margin_lon_deg = margin_m / (_M_PER_DEG * np.cos(np.radians(widest_lat)))
    with np.errstate(invalid="ignore"):
        return ((lon >= min_lon - margin_lon_deg) & (lon <= max_lon + margin_lon_deg)
                & (lat >= min_lat - margin_lat_deg) & (lat <= max_lat + margin_lat_deg))


def _sort_dedupe_flag(
    rows: _Rows, keep: np.ndarray, context: _Rows, limit_mps: np.ndarray, jitter_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the kept rows sorted by (unit, time) after the context rows, repeats dropped
    (first wins), and each one's outlier flag against the row before it."""
    n_ctx = len(context.time_ms)
    kept = np.flatnonzero(keep)
    if n_ctx:  # context and batch units must share one ranking: rank the union of their ids
        codes = _unit_ranks(np.concatenate([context.unit_id, rows.unit_id[kept]]))[0]
    else:
        codes = rows.unit_rank[kept]
    time_ms = np.concatenate([context.time_ms, rows.time_ms[kept]])
    order = _sort_order(codes, time_ms)
    codes, time_ms = codes[order], time_ms[order]
    first = np.ones(len(order), bool)
    first[1:] = (codes[1:] != codes[:-1]) | (time_ms[1:] != time_ms[:-1])
    order, codes, time_ms = order[first], codes[first], time_ms[first]
    same_unit = np.zeros(len(order), bool)
    same_unit[1:] = codes[1:] == codes[:-1]
    lon = np.concatenate([context.lon, rows.lon[kept]])[order]
    lat = np.concatenate([context.lat, rows.lat[kept]])[order]
    batch = order >= n_ctx
    positions = kept[order[batch] - n_ctx]
    limit = np.full(len(order), np.inf)  # context rows are never judged
    limit[batch] = limit_mps[positions]
    dt_s = np.diff(time_ms, prepend=0) / 1000.0
    outlier = same_unit & (_step_distance_m(lon, lat) > limit * dt_s + jitter_m)
    return positions, outlier[batch]


def _context_rows(previous: pd.DataFrame | None, fixes: pd.DataFrame) -> pd.DataFrame:
    columns = list(_KEY_COLUMNS)
    if previous is None or len(previous) == 0:
        return pd.DataFrame({"unit_id": pd.Series(dtype=object), "time_ms": pd.Series(
            dtype=np.int64), "lon": pd.Series(dtype=float), "lat": pd.Series(dtype=float)})
    _check_columns(previous)
    context = previous.loc[previous["unit_id"].isin(fixes["unit_id"].unique()), columns]
    time_ms, missing = _time_column(context["time_ms"])
    lon, lat = _float_column(context["lon"]), _float_column(context["lat"])
    good = ~missing & np.isfinite(lon) & np.isfinite(lat)
    return pd.DataFrame({"unit_id": context["unit_id"].to_numpy(dtype=object)[good],
                         "time_ms": time_ms[good], "lon": lon[good], "lat": lat[good]})


def _sort_order(codes: np.ndarray, time_ms: np.ndarray) -> np.ndarray:
    """Stable order by (unit code, time): input order breaks ties, so 'first' means first sent."""
    by_time = np.argsort(time_ms, kind="stable")
    small = codes.astype(np.uint16) if codes.max(initial=0) < 2**16 else codes
    return by_time[np.argsort(small[by_time], kind="stable")]


def _max_speed_per_row(fixes: pd.DataFrame, max_speed_mps: Mapping[str, float]) -> np.ndarray:
    """Each row's speed limit from its mode; unknown or missing modes take the fastest."""
    fastest = max(max_speed_mps.values(), default=np.inf)
    if "mode" not in fixes.columns:
        return np.full(len(fixes), fastest)
    codes, modes = pd.factorize(fixes["mode"].to_numpy(dtype=object))
    table = np.array([float(max_speed_mps.get(m, fastest)) for m in modes] + [fastest])
    return table[np.where(codes < 0, len(modes), codes)]


def _same_unit_as_previous(unit: np.ndarray) -> np.ndarray:
    codes, _ = pd.factorize(unit)
    same = np.zeros(len(unit), bool)
    same[1:] = codes[1:] == codes[:-1]
    return same


def _step_distance_m(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Distance from the previous row (equirectangular; 0 for the first row)."""
    if len(lon) == 0:
        return np.zeros(0)
    dlon = (np.diff(lon, prepend=lon[0]) + 180.0) % 360.0 - 180.0
    dlat = np.diff(lat, prepend=lat[0])
    mean_lat = np.radians(lat - dlat / 2.0)
    return _M_PER_DEG * np.hypot(dlon * np.cos(mean_lat), dlat)
