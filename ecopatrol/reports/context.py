"""What is known around a report: its placement (reach and distance to the river, forest cell,
township, zones), whether a patrol passed within 1 km in the 24 h before it, and an earlier report of
the same thing (same category within 200 m and 30 min) it duplicates.

The two store questions prefilter in SQL on time and a lon/lat box, then measure exactly in metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, Integer, bindparam, cast, literal_column, select
from sqlalchemy import false as sa_false

from ecopatrol.reports.photos import haversine_m
from ecopatrol.store.reports_schema import reports
from ecopatrol.store.schema import fixes
from geo.placement import to_metric

REACH_RADIUS_M = 1000.0
PATROL_RADIUS_M = 1000.0
PATROL_WINDOW_MS = 24 * 3_600_000
PATROL_SEARCH_MARGIN_M = 500.0  # fixes this much farther are fetched: a segment passing close is seen
DUPLICATE_RADIUS_M = 200.0
DUPLICATE_WINDOW_MS = 30 * 60_000
_M_PER_DEG_LAT = 111_320.0
_lookup_cache: dict[str, tuple[object, dict[str, str]]] = {}

GRID_PER_DEG = 100  # the grid of the fixes index ix_fixes_grid_time: 0.01° squares (migration 0002)
_GRID = literal_column(str(GRID_PER_DEG))

# Built once with bound parameters: a report runs them on every request. The grid-square IN lists
# repeat the index's expressions, so both SQLite and PostgreSQL seek a few squares' day of fixes.
_FIXES_NEAR = select(fixes.c.unit_id, fixes.c.time_ms, fixes.c.lon, fixes.c.lat).where(
    cast(fixes.c.lat * _GRID, Integer).in_(bindparam("lat_squares", expanding=True)),
    cast(fixes.c.lon * _GRID, Integer).in_(bindparam("lon_squares", expanding=True)),
    fixes.c.time_ms >= bindparam("t0"),
    fixes.c.time_ms <= bindparam("t1"),
    fixes.c.lon >= bindparam("x0"),
    fixes.c.lon <= bindparam("x1"),
    fixes.c.lat >= bindparam("y0"),
    fixes.c.lat <= bindparam("y1"),
    fixes.c.outlier.is_(sa_false()),
)
_REPORTS_NEAR = select(reports.c.id, reports.c.duplicate_of, reports.c.lon, reports.c.lat).where(
    reports.c.category == bindparam("category"),
    reports.c.observed_ms >= bindparam("t0"),
    reports.c.observed_ms <= bindparam("t1"),
    reports.c.lon >= bindparam("x0"),
    reports.c.lon <= bindparam("x1"),
    reports.c.lat >= bindparam("y0"),
    reports.c.lat <= bindparam("y1"),
    reports.c.location_uncertainty_m == 0,
)


@dataclass(frozen=True)
class PatrolNearby:
    within: bool
    nearest_m: float | None
    last_unit_id: str | None
    last_ms: int | None


def place_point(layer_index: object, lon: float, lat: float) -> dict[str, object]:
    """Reach within 1 km (and the distance to the river), cell, township and zones of a point."""
    layers = layer_index.layers  # type: ignore[attr-defined]
    x, y = to_metric(np.array([lon]), np.array([lat]), layers.metric_crs)
    placed = layer_index.placer.place_arrays(x, y, REACH_RADIUS_M)  # type: ignore[attr-defined]
    row = {name: values[0] for name, values in placed.items()}
    reach_id = _text(row["reach_id"])
    dist = float(row["dist_to_river_m"])
    zones = _text(row["zone_ids"])
    return {
        "reach_id": reach_id,
        "river_name": _river_names(layers).get(reach_id) if reach_id else None,
        "distance_to_river_m": round(dist, 1) if math.isfinite(dist) else None,
        "cell_id": _text(row["cell_id"]),
        "township": _text(row["township"]),
        "zone_ids": zones.split(",") if zones else [],
    }


def _text(value: object) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _river_names(layers: object) -> dict[str, str]:
    cached = _lookup_cache.get("rivers")
    if cached is not None and cached[0] is layers:
        return cached[1]
    reaches = layers.reaches  # type: ignore[attr-defined]
    names = dict(zip(reaches["reach_id"].astype(str), reaches["river_name"].astype(str), strict=True))
    _lookup_cache["rivers"] = (layers, names)
    return names


def _box(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    dlat = radius_m / _M_PER_DEG_LAT
    dlon = radius_m / (_M_PER_DEG_LAT * max(math.cos(math.radians(lat)), 0.01))
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat


def _squares(low_deg: float, high_deg: float) -> list[int]:
    """Grid numbers of every value in [low, high] whether the database truncates (SQLite) or rounds
    (PostgreSQL) when it casts to an integer."""
    return list(range(math.floor(low_deg * GRID_PER_DEG), math.ceil(high_deg * GRID_PER_DEG) + 1))


def patrol_nearby(
    conn: Connection,
    *,
    lon: float,
    lat: float,
    observed_ms: int,
    metric_crs: str,
    max_gap_s: float,
    radius_m: float = PATROL_RADIUS_M,
) -> PatrolNearby:
    """Did a patrol pass within ``radius_m`` in the 24 h before ``observed_ms``? Fixes and the
    segments between consecutive fixes of a unit (no longer apart than ``max_gap_s``) count."""
    x0, y0, x1, y1 = _box(lon, lat, radius_m + PATROL_SEARCH_MARGIN_M)
    params = {
        "lat_squares": _squares(y0, y1),
        "lon_squares": _squares(x0, x1),
        "t0": observed_ms - PATROL_WINDOW_MS,
        "t1": observed_ms,
        "x0": x0,
        "x1": x1,
        "y0": y0,
        "y1": y1,
    }
    rows = conn.execute(_FIXES_NEAR, params).fetchall()
    if not rows:
        return PatrolNearby(False, None, None, None)
    units, times, lons, lats = zip(*rows, strict=True)
    unit = np.array(units, dtype=object)
    time_ms = np.array(times, dtype=np.int64)
    order = np.lexsort((time_ms, np.unique(unit, return_inverse=True)[1]))
    return _closest_approach(
        unit[order],
        time_ms[order],
        np.array(lons)[order],
        np.array(lats)[order],
        lon=lon,
        lat=lat,
        metric_crs=metric_crs,
        max_gap_s=max_gap_s,
        radius_m=radius_m,
    )


def _closest_approach(
    unit: np.ndarray,
    time_ms: np.ndarray,
    fix_lon: np.ndarray,
    fix_lat: np.ndarray,
    *,
    lon: float,
    lat: float,
    metric_crs: str,
    max_gap_s: float,
    radius_m: float,
) -> PatrolNearby:
    """Fixes sorted by unit then time → the closest approach to the point and the last close pass."""
    px, py = to_metric(np.array([lon]), np.array([lat]), metric_crs)
    x, y = to_metric(fix_lon, fix_lat, metric_crs)
    point_d = np.hypot(x - px[0], y - py[0])
    joined = (unit[1:] == unit[:-1]) & (np.diff(time_ms) <= max_gap_s * 1000)
    seg_d = _segment_distance(x[:-1], y[:-1], x[1:], y[1:], px[0], py[0])[joined]
    seg_end = np.flatnonzero(joined) + 1
    dist = np.concatenate([point_d, seg_d])
    when = np.concatenate([np.arange(len(x)), seg_end])
    nearest = float(dist.min())
    close = dist <= radius_m
    if not close.any():
        return PatrolNearby(False, round(nearest, 1), None, None)
    last = when[close][np.argmax(time_ms[when[close]])]
    return PatrolNearby(True, round(nearest, 1), str(unit[last]), int(time_ms[last]))


def _segment_distance(
    ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray, px: float, py: float
) -> np.ndarray:
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / np.where(length2 > 0, length2, 1.0), 0.0, 1.0)
    return np.hypot(px - ax - t * dx, py - ay - t * dy)


def find_duplicate(
    conn: Connection, *, category: str, lon: float, lat: float, observed_ms: int
) -> int | None:
    """The first report of the same category within 200 m and 30 min (both precisely located), else None.

    "First" is the root of its group: a report linked to an earlier one points at that one.
    """
    x0, y0, x1, y1 = _box(lon, lat, DUPLICATE_RADIUS_M * 1.5)
    window = (observed_ms - DUPLICATE_WINDOW_MS, observed_ms + DUPLICATE_WINDOW_MS)
    params = {"category": category, "t0": window[0], "t1": window[1], "x0": x0, "x1": x1, "y0": y0, "y1": y1}
    rows = conn.execute(_REPORTS_NEAR, params).fetchall()
    roots = [
        r.duplicate_of or r.id for r in rows if haversine_m(lon, lat, r.lon, r.lat) <= DUPLICATE_RADIUS_M
    ]
    return min(roots) if roots else None
