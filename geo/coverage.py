"""Coverage from the segments between consecutive fixes, swept against reaches and forest cells.

A segment counts for every reach within its mode's sweep width of the segment *line* (so a vehicle
whose fixes are 150 m apart still covers every reach it drove past); its km and hours are split
evenly among the reaches it touches. For cells, km is the length of the segment inside the cell and
hours are in proportion. All steps are vectorized (STRtree queries over arrays).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

from geo.layers import Layers

PASS_GAP_MS = 30 * 60 * 1000
CONTRIBUTION_COLUMNS = ["kind", "feature_id", "unit_id", "mode", "day", "km", "hours", "passes",
                        "first_ms", "last_ms"]
_trees: dict[int, tuple[weakref.ref, STRtree]] = {}


@dataclass(frozen=True)
class Segments:
    """Segments between consecutive usable fixes of one track piece (equal-length arrays)."""

    start: np.ndarray
    end: np.ndarray
    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    t0_ms: np.ndarray
    t1_ms: np.ndarray
    unit_id: np.ndarray
    mode: np.ndarray
    length_m: np.ndarray
    duration_s: np.ndarray

    def __len__(self) -> int:
        return len(self.start)


def build_segments(x_m: np.ndarray, y_m: np.ndarray, time_ms: np.ndarray, piece_id: np.ndarray,
                   unit_id: np.ndarray, mode: np.ndarray, usable: np.ndarray) -> Segments:
    """Segments joining each usable row to the next usable row of the same piece (rows sorted)."""
    idx = np.flatnonzero(np.asarray(usable, dtype=bool))
    piece = np.asarray(piece_id)
    same = piece[idx[:-1]] == piece[idx[1:]] if len(idx) > 1 else np.zeros(0, bool)
    start, end = idx[:-1][same], idx[1:][same]
    x, y, t = np.asarray(x_m, float), np.asarray(y_m, float), np.asarray(time_ms, np.int64)
    return Segments(start=start, end=end, x0=x[start], y0=y[start], x1=x[end], y1=y[end],
                    t0_ms=t[start], t1_ms=t[end], unit_id=np.asarray(unit_id, dtype=object)[start],
                    mode=np.asarray(mode, dtype=object)[start],
                    length_m=np.hypot(x[end] - x[start], y[end] - y[start]),
                    duration_s=(t[end] - t[start]) / 1000.0)


def sweep(segments: Segments, placer_or_layers: object, *, sweep_width_m: Mapping[str, float],
          day_offset_hours: float = 8.0) -> pd.DataFrame:
    """Per (kind, feature, unit, mode, local day): km, hours, passes, first_ms, last_ms."""
    layers = _layers(placer_or_layers)
    if len(segments) == 0:
        return _empty()
    lines = shapely.linestrings(np.stack([np.column_stack([segments.x0, segments.y0]),
                                          np.column_stack([segments.x1, segments.y1])], axis=1))
    parts = [_reach_pairs(segments, lines, layers, sweep_width_m), _cell_pairs(segments, lines, layers)]
    pairs = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else None
    if pairs is None:
        return _empty()
    return _aggregate(pairs, segments, day_offset_hours)


def _layers(placer_or_layers: object) -> Layers:
    return getattr(placer_or_layers, "layers", placer_or_layers)  # type: ignore[return-value]


def _tree(frame: pd.DataFrame) -> STRtree:
    """One STRtree per layer frame, built once and kept while the frame lives."""
    entry = _trees.get(id(frame))
    if entry is not None and entry[0]() is frame:
        return entry[1]
    for key in [k for k, (ref, _) in _trees.items() if ref() is None]:
        del _trees[key]
    tree = STRtree(np.asarray(frame.geometry.array, dtype=object))
    _trees[id(frame)] = (weakref.ref(frame), tree)
    return tree


def _reach_pairs(segments: Segments, lines: np.ndarray, layers: Layers,
                 sweep_width_m: Mapping[str, float]) -> pd.DataFrame:
    reaches = layers.reaches
    if len(reaches) == 0:
        return pd.DataFrame()
    tree = _tree(reaches)
    seg_i, feat_i = [], []
    for mode in np.unique(segments.mode):
        sel = np.flatnonzero(segments.mode == mode)
        width = float(sweep_width_m.get(str(mode), max(sweep_width_m.values())))
        s, f = tree.query(lines[sel], predicate="dwithin", distance=width)
        seg_i.append(sel[s])
        feat_i.append(f)
    seg = np.concatenate(seg_i)
    feat = np.concatenate(feat_i)
    share = 1.0 / np.bincount(seg, minlength=len(segments))[seg]
    return pd.DataFrame({"kind": "reach", "seg": seg,
                         "feature_id": reaches["reach_id"].to_numpy(dtype=object)[feat],
                         "km": segments.length_m[seg] * share / 1000.0,
                         "hours": segments.duration_s[seg] * share / 3600.0})


def _cell_pairs(segments: Segments, lines: np.ndarray, layers: Layers) -> pd.DataFrame:
    cells = layers.cells
    if len(cells) == 0:
        return pd.DataFrame()
    seg, feat = _tree(cells).query(lines, predicate="intersects")
    cell_geoms = np.asarray(cells.geometry.array, dtype=object)
    inside_m = shapely.length(shapely.intersection(lines[seg], cell_geoms[feat]))
    length = segments.length_m[seg]
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(length > 0, inside_m / length, 1.0 / np.bincount(seg)[seg])
    ids = cells["cell_id"].to_numpy(dtype=object)
    return pd.DataFrame({"kind": "cell", "seg": seg, "feature_id": ids[feat],
                         "km": inside_m / 1000.0, "hours": segments.duration_s[seg] * fraction / 3600.0})


def _aggregate(pairs: pd.DataFrame, segments: Segments, day_offset_hours: float) -> pd.DataFrame:
    seg = pairs["seg"].to_numpy()
    pairs["unit_id"] = segments.unit_id[seg]
    pairs["mode"] = segments.mode[seg]
    pairs["first_ms"] = segments.t0_ms[seg]
    pairs["last_ms"] = segments.t1_ms[seg]
    pairs["day"] = _local_day(segments.t1_ms[seg], day_offset_hours)
    pairs["passes"] = _new_pass(pairs)
    out = pairs.groupby(["kind", "feature_id", "unit_id", "mode", "day"], as_index=False, sort=True).agg(
        km=("km", "sum"), hours=("hours", "sum"), passes=("passes", "sum"),
        first_ms=("first_ms", "min"), last_ms=("last_ms", "max"))
    return out[CONTRIBUTION_COLUMNS]


def _new_pass(pairs: pd.DataFrame) -> np.ndarray:
    """1 where a pair starts a pass: the unit's previous segment on that feature is not the one before."""
    order = pairs.sort_values(["kind", "feature_id", "unit_id", "seg"], kind="stable").index.to_numpy()
    p = pairs.loc[order]
    same = ((p["kind"].to_numpy()[1:] == p["kind"].to_numpy()[:-1])
            & (p["feature_id"].to_numpy()[1:] == p["feature_id"].to_numpy()[:-1])
            & (p["unit_id"].to_numpy()[1:] == p["unit_id"].to_numpy()[:-1]))
    follows = p["seg"].to_numpy()[1:] == p["seg"].to_numpy()[:-1] + 1
    close = (p["first_ms"].to_numpy()[1:] - p["last_ms"].to_numpy()[:-1]) <= PASS_GAP_MS
    starts = np.ones(len(p), np.int64)
    starts[1:] = ~(same & follows & close)
    out = np.empty(len(p), np.int64)
    out[order] = starts
    return out


def _local_day(time_ms: np.ndarray, offset_hours: float) -> np.ndarray:
    days = (np.asarray(time_ms, np.int64) + int(offset_hours * 3_600_000)) // 86_400_000
    dates = pd.to_datetime(days, unit="D")
    return (dates.year * 10000 + dates.month * 100 + dates.day).to_numpy(dtype=np.int64)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("day", "passes", "first_ms", "last_ms")
                                      else float if c in ("km", "hours") else object)
                         for c in CONTRIBUTION_COLUMNS})


def merge_contributions(existing: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Add ``new`` into ``existing``: km, hours and passes add; first is the min, last the max."""
    both = pd.concat([existing, new], ignore_index=True)
    return both.groupby(["kind", "feature_id", "unit_id", "mode", "day"], as_index=False).agg(
        km=("km", "sum"), hours=("hours", "sum"), passes=("passes", "sum"),
        first_ms=("first_ms", "min"), last_ms=("last_ms", "max"))[CONTRIBUTION_COLUMNS]


# --- questions asked of the stored contributions -------------------------------------------------------

def coverage_summary(contributions: pd.DataFrame, layers: Layers, *, since_day: int | None,
                     now_ms: int) -> dict:
    """Share of river length and forest area covered (any contribution in the window), with km and
    hours, overall and by mode, unit and township."""
    rows = contributions if since_day is None else contributions[contributions["day"] >= since_day]
    sizes = _feature_sizes(layers)
    out = {"river": _shares(rows, sizes, "reach"), "forest": _shares(rows, sizes, "cell")}
    for group in ("mode", "unit_id"):
        out[f"by_{group.removesuffix('_id')}"] = {
            str(k): {"river": _shares(g, sizes, "reach"), "forest": _shares(g, sizes, "cell")}
            for k, g in rows.groupby(group)}
    out["by_township"] = {}
    for name, feats in sizes.groupby("township"):
        g = rows.merge(feats[["kind", "feature_id"]], on=["kind", "feature_id"])
        out["by_township"][str(name)] = {"river": _shares(g, feats, "reach"),
                                         "forest": _shares(g, feats, "cell")}
    return out


def _shares(rows: pd.DataFrame, sizes: pd.DataFrame, kind: str) -> dict:
    feats = sizes[sizes["kind"] == kind]
    mine = rows[rows["kind"] == kind]
    covered = feats["feature_id"].isin(set(mine["feature_id"]))
    total = float(feats["size"].sum())
    done = float(feats.loc[covered, "size"].sum())
    unit = 1000.0 if kind == "reach" else 1_000_000.0
    label = "km" if kind == "reach" else "km2"
    return {f"total_{label}": round(total / unit, 3), f"covered_{label}": round(done / unit, 3),
            "share": round(done / total, 4) if total > 0 else 0.0,
            "patrol_km": round(float(mine["km"].sum()), 3),
            "patrol_hours": round(float(mine["hours"].sum()), 3)}


def _feature_sizes(layers: Layers) -> pd.DataFrame:
    """kind, feature_id, size (m or m²), priority, township and a representative point per feature."""
    frames = []
    for kind, frame, id_col, size in (("reach", layers.reaches, "reach_id", "length_m"),
                                      ("cell", layers.cells, "cell_id", "area_m2")):
        if len(frame) == 0:
            continue
        frames.append(pd.DataFrame({"kind": kind, "feature_id": frame[id_col].to_numpy(dtype=object),
                                    "size": frame[size].to_numpy(dtype=float),
                                    "priority": frame.get("priority", pd.Series("normal", index=frame.index))
                                    .to_numpy(dtype=object),
                                    "township": _townships_of(frame, layers),
                                    "point": shapely.point_on_surface(np.asarray(frame.geometry.array,
                                                                                 dtype=object))}))
    if not frames:
        return pd.DataFrame(columns=["kind", "feature_id", "size", "priority", "township", "point"])
    return pd.concat(frames, ignore_index=True)


def _townships_of(frame: pd.DataFrame, layers: Layers) -> np.ndarray:
    out = np.full(len(frame), "", dtype=object)
    if len(layers.townships) == 0:
        return out
    points = shapely.point_on_surface(np.asarray(frame.geometry.array, dtype=object))
    pt, tw = _tree(layers.townships).query(points, predicate="within")
    out[pt] = layers.townships["name"].to_numpy(dtype=object)[tw]
    return out


def coverage_gaps(last_visit: pd.DataFrame, layers: Layers, *, now_ms: int, older_than_hours: float,
                  only_priority: bool = False) -> pd.DataFrame:
    """Reaches and cells not covered for ``older_than_hours`` (never visited first, then most overdue)."""
    sizes = _feature_sizes(layers)
    merged = sizes.merge(last_visit, on=["kind", "feature_id"], how="left")
    hours = (now_ms - merged["last_ms"].astype(float)) / 3_600_000.0
    merged["hours_since"] = hours.fillna(np.inf)
    gaps = merged[merged["hours_since"] > older_than_hours]
    if only_priority:
        gaps = gaps[gaps["priority"] == "high"]
    gaps = gaps.sort_values(["hours_since", "kind", "feature_id"], ascending=[False, True, True])
    points = gaps["point"].to_numpy()
    return pd.DataFrame({
        "kind": gaps["kind"].to_numpy(), "feature_id": gaps["feature_id"].to_numpy(),
        "priority": gaps["priority"].to_numpy(), "township": gaps["township"].to_numpy(),
        "last_ms": gaps["last_ms"].to_numpy(),
        "hours_since": gaps["hours_since"].replace(np.inf, np.nan).to_numpy(),
        "x_m": shapely.get_x(points) if len(points) else np.zeros(0),
        "y_m": shapely.get_y(points) if len(points) else np.zeros(0)})
