"""Incremental coverage: the change one batch of new fixes brings, without recomputing history.

Given the stored fixes of a window around the batch and the new fixes, coverage changes by
  + every segment of the merged track that has a new fix at either end, and
  − every stored segment that a new fix now splits (an out-of-order resend from a phone that was offline),
so adding fixes in any order and any batching gives the same km and hours as one sweep of the whole track.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pandas as pd

from geo.cleaning import split_tracks
from geo.coverage import build_segments, sweep

INT64_MAX = np.iinfo(np.int64).max
_SUM = ["km", "hours", "passes"]
_KEY = ["kind", "feature_id", "unit_id", "mode", "day"]


def coverage_delta(window: pd.DataFrame, new: pd.DataFrame, placer: object, *,
                   sweep_width_m: Mapping[str, float], max_gap_s: float, max_jump_m: float,
                   day_offset_hours: float) -> pd.DataFrame:
    """Coverage contributions to add (negative km/hours for segments that were split).

    ``window``/``new``: unit_id, time_ms, x_m, y_m, mode, outlier. Stored rows repeating a new one must
    already be removed from ``new``.
    """
    merged = _track(pd.concat([window.assign(is_new=False), new.assign(is_new=True)], ignore_index=True),
                    max_gap_s, max_jump_m)
    old = _track(window.assign(is_new=False), max_gap_s, max_jump_m)
    merged_segments = _segments(merged)
    touches_new = merged["is_new"].to_numpy()
    start, end = _ends(merged_segments)
    added = _take(merged_segments, touches_new[start] | touches_new[end])
    old_segments = _segments(old)
    split = _split_pairs(old, old_segments, merged, merged_segments)
    removed = _take(old_segments, split)
    plus = sweep(added, placer, sweep_width_m=sweep_width_m, day_offset_hours=day_offset_hours)
    minus = sweep(removed, placer, sweep_width_m=sweep_width_m, day_offset_hours=day_offset_hours)
    return _combine(plus, minus)


def _track(frame: pd.DataFrame, max_gap_s: float, max_jump_m: float) -> pd.DataFrame:
    frame = frame.sort_values(["unit_id", "time_ms"], kind="stable").reset_index(drop=True)
    frame["outlier"] = frame["outlier"].astype(bool)
    frame["piece"] = split_tracks(frame, x_m=frame["x_m"].to_numpy(), y_m=frame["y_m"].to_numpy(),
                                  max_gap_s=max_gap_s, max_jump_m=max_jump_m)
    return frame


def _segments(frame: pd.DataFrame):  # type: ignore[no-untyped-def]
    return build_segments(frame["x_m"].to_numpy(), frame["y_m"].to_numpy(), frame["time_ms"].to_numpy(),
                          frame["piece"].to_numpy(), frame["unit_id"].to_numpy(dtype=object),
                          frame["mode"].to_numpy(dtype=object), ~frame["outlier"].to_numpy(dtype=bool))


def _ends(segments) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    return np.asarray(segments.start, dtype=np.int64), np.asarray(segments.end, dtype=np.int64)


def _split_pairs(old: pd.DataFrame, old_segments, merged: pd.DataFrame,  # type: ignore[no-untyped-def]
                 merged_segments) -> np.ndarray:
    """Stored segments whose two ends are no longer consecutive in the merged track."""
    o_start, o_end = _ends(old_segments)
    m_start, m_end = _ends(merged_segments)
    key = lambda f, s, e: pd.MultiIndex.from_arrays(  # noqa: E731
        [f["unit_id"].to_numpy()[s], f["time_ms"].to_numpy()[s], f["time_ms"].to_numpy()[e]])
    return ~key(old, o_start, o_end).isin(key(merged, m_start, m_end))


def _take(segments, mask: np.ndarray):  # type: ignore[no-untyped-def]
    """A subset of a segments object (a dataclass of equal-length arrays, or a DataFrame)."""
    if isinstance(segments, pd.DataFrame):
        return segments[mask].reset_index(drop=True)
    n = len(mask)
    changes = {f.name: np.asarray(getattr(segments, f.name))[mask]
               for f in dataclasses.fields(segments)
               if np.ndim(getattr(segments, f.name)) == 1 and len(getattr(segments, f.name)) == n}
    return dataclasses.replace(segments, **changes)


def _combine(plus: pd.DataFrame, minus: pd.DataFrame) -> pd.DataFrame:
    """Add the new contributions and subtract the split ones; first/last only move outwards."""
    if minus.empty:
        return plus
    minus = minus.copy()
    minus[["km", "hours"]] = -minus[["km", "hours"]]
    minus["passes"] = 0
    minus["first_ms"] = INT64_MAX
    minus["last_ms"] = 0
    both = pd.concat([plus, minus], ignore_index=True)
    out = both.groupby(_KEY, as_index=False).agg(km=("km", "sum"), hours=("hours", "sum"),
                                                 passes=("passes", "sum"), first_ms=("first_ms", "min"),
                                                 last_ms=("last_ms", "max"))
    return out
