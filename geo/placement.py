"""Placement: which reach (within the sweep width), forest cell, township and zones a point is in.

A :class:`Placer` is built once from :class:`~geo.layers.Layers`: one STRtree per layer (prepared
geometries), from which it precomputes, per grid pixel, the few features a point in that pixel
can touch. ``place`` then needs no GEOS call per point except the exact point-in-polygon test near
polygon boundaries (``intersects_xy`` on prepared polygons), so no shapely Point is ever built.

Why not ``STRtree.query_nearest(max_distance=...)`` per point: measured on a 160 km river cut into
322 reaches of ~50 vertices it costs 10-40 µs per point once any reach is within the bound (GEOS
then runs the full nearest search), i.e. 5-10 s per million fixes, and ``query(predicate=
"intersects")`` against township polygons of a few thousand vertices ~11 s (it prepares the points,
not the polygons). The per-pixel candidate edges give the same answer (exact within the sweep
width) with numpy in a fraction of that.

Accuracy: reaches are simplified by ``PlacerOptions.simplify_m`` (0.5 m) for placement; within the
largest sweep width of a call distances are exact to that; beyond it ``dist_to_river_m`` comes
from a jump-flooded distance field (see :class:`RiverIndex`): exact for most points, never
below the true distance (less 0.5 m), at worst ~2.8 far-grid pixels above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from geo.layers import Layers

PLACEMENT_COLUMNS: tuple[str, ...] = ("reach_id", "dist_to_river_m", "cell_id", "township",
                                      "zone_ids")
_WGS84 = "EPSG:4326"
_KEY_OFFSET = 1 << 30
_TIE_M = 1e-9


# ----------------------------------------------------------------------------------------------
# coordinates


@lru_cache(maxsize=32)
def _transformer(source: str, target: str) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


def to_metric(lon: np.ndarray, lat: np.ndarray, metric_crs: str) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 lon/lat (degrees) to ``(x_m, y_m)`` in ``metric_crs`` (cached transformer)."""
    x, y = _transformer(_WGS84, metric_crs).transform(np.asarray(lon, dtype=float),
                                                      np.asarray(lat, dtype=float))
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def to_lonlat(x_m: np.ndarray, y_m: np.ndarray, metric_crs: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x_m, y_m)`` in ``metric_crs`` to WGS-84 ``(lon, lat)`` in degrees."""
    lon, lat = _transformer(metric_crs, _WGS84).transform(np.asarray(x_m, dtype=float),
                                                          np.asarray(y_m, dtype=float))
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


# ----------------------------------------------------------------------------------------------
# building blocks: a layer's index, a grid, per-pixel candidate lists, straight edges


@dataclass(frozen=True, eq=False)
class FeatureIndex:
    """One layer ready for queries: prepared geometries, their ids and an STRtree over them."""

    geoms: np.ndarray
    ids: np.ndarray
    tree: shapely.STRtree

    @classmethod
    def of(cls, frame: gpd.GeoDataFrame, id_column: str) -> FeatureIndex:
        geoms = np.asarray(frame.geometry.array, dtype=object)
        shapely.prepare(geoms)
        return cls(geoms=geoms, ids=frame[id_column].to_numpy(dtype=object),
                   tree=shapely.STRtree(geoms))

    def __len__(self) -> int:
        return len(self.geoms)


@dataclass(frozen=True)
class Grid:
    """A regular grid of square pixels; ``pixel`` gives flat indices (-1 outside)."""

    x0: float
    y0: float
    size_m: float
    nx: int
    ny: int

    @classmethod
    def over(cls, extent: tuple[float, float, float, float], *, max_pixels: int,
             min_size_m: float) -> Grid:
        minx, miny, maxx, maxy = extent
        width, height = max(maxx - minx, 1.0), max(maxy - miny, 1.0)
        size = max(min_size_m, float(np.sqrt(width * height / max_pixels)))
        while (np.ceil(width / size) + 1) * (np.ceil(height / size) + 1) > max_pixels:
            size *= 1.05
        return cls(minx - size / 2, miny - size / 2, size, int(np.ceil(width / size)) + 1,
                   int(np.ceil(height / size)) + 1)

    def indices(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unbounded integer pixel indices (may fall outside the grid)."""
        ix = np.floor((x - self.x0) / self.size_m)
        iy = np.floor((y - self.y0) / self.size_m)
        limit = float(_KEY_OFFSET - 1)
        return (np.clip(ix, -limit, limit).astype(np.int64),
                np.clip(iy, -limit, limit).astype(np.int64))

    def pixel(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ix, iy = self.indices(x, y)
        inside = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        return np.where(inside, iy * self.nx + ix, -1)

    def centers(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        iy, ix = np.divmod(pixels, self.nx)
        return self.x0 + (ix + 0.5) * self.size_m, self.y0 + (iy + 0.5) * self.size_m

    def boxes(self, pixels: np.ndarray) -> np.ndarray:
        iy, ix = np.divmod(pixels, self.nx)
        x, y = self.x0 + ix * self.size_m, self.y0 + iy * self.size_m
        return shapely.box(x, y, x + self.size_m, y + self.size_m)

    def pixels_over(self, bounds: tuple[float, float, float, float]) -> np.ndarray:
        """Flat indices of the pixels overlapping ``bounds``."""
        (i0, i1), (j0, j1) = self.indices(np.array(bounds[::2]), np.array(bounds[1::2]))
        ix = np.arange(max(i0, 0), min(i1, self.nx - 1) + 1)
        iy = np.arange(max(j0, 0), min(j1, self.ny - 1) + 1)
        return (iy[:, None] * self.nx + ix[None, :]).ravel()


def _key(ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    return ((iy + _KEY_OFFSET) << 32) | (ix + _KEY_OFFSET)


@dataclass(frozen=True, eq=False)
class Lists:
    """Per key (a pixel) a list of items with a flag each, stored CSR-style.

    ``keys`` is ``None`` for dense lists (the key is the position); otherwise sorted unique keys.
    """

    offsets: np.ndarray
    items: np.ndarray
    flags: np.ndarray
    keys: np.ndarray | None = None

    @classmethod
    def build(cls, key: np.ndarray, item: np.ndarray, flag: np.ndarray,
              n_dense: int | None = None) -> Lists:
        order = np.lexsort((item, key))
        key, item, flag = key[order], item[order], flag[order]
        if n_dense is not None:
            counts = np.bincount(key, minlength=n_dense)
            return cls(np.concatenate([[0], np.cumsum(counts)]), item, flag)
        keys, counts = np.unique(key, return_counts=True)
        return cls(np.concatenate([[0], np.cumsum(counts)]), item, flag, keys)

    def expand(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, item, flag) for every item listed under every row's key, grouped by row."""
        slot, found = self._slots(keys)
        start = self.offsets[slot]
        count = np.where(found, self.offsets[slot + 1] - start, 0)
        total = int(count.sum())
        row = np.repeat(np.arange(len(keys)), count)
        at = np.arange(total) - np.repeat(np.cumsum(count) - count - start, count)
        return row, self.items[at], self.flags[at]

    def _slots(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.keys is None:
            found = keys >= 0
            return np.where(found, keys, 0), found
        if len(self.keys) == 0:
            return np.zeros(len(keys), dtype=np.int64), np.zeros(len(keys), dtype=bool)
        slot = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return slot, self.keys[slot] == keys


@dataclass(frozen=True, eq=False)
class Edges:
    """The straight edges of lines as contiguous arrays (``line`` is the owning line's index)."""

    ax: np.ndarray
    ay: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    inv_len2: np.ndarray
    line: np.ndarray

    @classmethod
    def of(cls, lines: np.ndarray, simplify_m: float = 0.0) -> Edges:
        parts, line_of = shapely.get_parts(lines, return_index=True)
        if simplify_m > 0 and len(parts):
            parts = shapely.simplify(parts, simplify_m, preserve_topology=False)
        xy, part_of = shapely.get_coordinates(parts, return_index=True)
        same = part_of[1:] == part_of[:-1]
        owner = line_of[part_of]
        a, b = xy[:-1][same], xy[1:][same]
        d = b - a
        len2 = (d * d).sum(axis=1)
        inv = np.divide(1.0, len2, out=np.zeros_like(len2), where=len2 > 0)
        return cls(a[:, 0].copy(), a[:, 1].copy(), d[:, 0].copy(), d[:, 1].copy(), inv,
                   owner[:-1][same])

    def __len__(self) -> int:
        return len(self.ax)

    @property
    def follows(self) -> np.ndarray:
        """``follows[i]``: edge ``i + 1`` starts where edge ``i`` ends (the river goes on)."""
        end_x, end_y = self.ax + self.dx, self.ay + self.dy
        out = np.zeros(len(self), dtype=bool)
        out[:-1] = (end_x[:-1] == self.ax[1:]) & (end_y[:-1] == self.ay[1:])
        return out

    def distance(self, edge: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        """Exact distance from each point to the given edge."""
        ax, ay, dx, dy = self.ax[edge], self.ay[edge], self.dx[edge], self.dy[edge]
        ux, uy = px - ax, py - ay
        t = np.clip((ux * dx + uy * dy) * self.inv_len2[edge], 0.0, 1.0)
        return np.hypot(ux - t * dx, uy - t * dy)

    def bounds(self) -> np.ndarray:
        x2, y2 = self.ax + self.dx, self.ay + self.dy
        return np.stack([np.minimum(self.ax, x2), np.minimum(self.ay, y2),
                         np.maximum(self.ax, x2), np.maximum(self.ay, y2)], axis=1)


def _expand_ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows with integer ranges [lo, hi] (inclusive), (row, value) for every value."""
    count = np.maximum(hi - lo + 1, 0)
    row = np.repeat(np.arange(len(lo)), count)
    return row, np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count - lo, count)


def _min_per_group(row: np.ndarray, value: np.ndarray,
                   tie: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For rows grouped contiguously: (row, min value, smallest ``tie`` among the minima)."""
    if len(row) == 0:
        empty = np.array([], dtype=np.int64)
        return empty, np.array([], dtype=float), empty
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    low = np.minimum.reduceat(value, starts)
    count = np.diff(np.r_[starts, len(row)])
    at_min = value <= np.repeat(low, count) + _TIE_M
    best = np.minimum.reduceat(np.where(at_min, tie, np.iinfo(np.int64).max), starts)
    return row[starts], low, best


# ----------------------------------------------------------------------------------------------
# polygons


class PolygonLookup:
    """Which polygons of a layer cover a point: per grid pixel, the polygons meeting it and whether
    each covers the whole pixel; only pixels on a boundary need the exact (prepared) test."""

    def __init__(self, index: FeatureIndex, grid: Grid, boxes: np.ndarray) -> None:
        self.index = index
        self._lists = self._build(index, grid, boxes)

    @staticmethod
    def _build(index: FeatureIndex, grid: Grid, all_boxes: np.ndarray) -> Lists:
        n_pixels = grid.nx * grid.ny
        if len(index) == 0:
            none = np.array([], dtype=np.int64)
            return Lists.build(none, none, none.astype(bool), n_dense=n_pixels)
        bounds = shapely.total_bounds(index.geoms)
        if not np.isfinite(bounds).all():
            none = np.array([], dtype=np.int64)
            return Lists.build(none, none, none.astype(bool), n_dense=n_pixels)
        pixels = grid.pixels_over(tuple(bounds))
        boxes = all_boxes[pixels]
        box, feature = index.tree.query(boxes)
        meets = shapely.intersects(index.geoms[feature], boxes[box])
        box, feature = box[meets], feature[meets]
        covers = shapely.covers(index.geoms[feature], boxes[box])
        return Lists.build(pixels[box], feature, covers, n_dense=n_pixels)

    def covering(self, x: np.ndarray, y: np.ndarray, pixel: np.ndarray) -> np.ndarray:
        """(point, feature) pairs, sorted, for every polygon covering a point (boundary counts)."""
        point, feature, covers = self._lists.expand(pixel)
        test = np.flatnonzero(~covers)
        hit = covers.copy()
        hit[test] = shapely.intersects_xy(self.index.geoms[feature[test]], x[point[test]],
                                          y[point[test]])
        return np.stack([point[hit], feature[hit]])


def _first_per_point(pairs: np.ndarray, n: int, ids: np.ndarray) -> np.ndarray:
    """The id of the first (lowest-index) feature of every point, else ``None``."""
    out = np.full(n, None, dtype=object)
    if pairs.shape[1]:
        first = np.r_[True, pairs[0, 1:] != pairs[0, :-1]]
        out[pairs[0, first]] = ids[pairs[1, first]]
    return out


def _joined_per_point(pairs: np.ndarray, n: int, ids: np.ndarray) -> np.ndarray:
    """Comma-joined ids of every feature of every point (layer order), else ``None``.

    Points in several features are grouped by their exact combination (``np.unique`` over rows),
    so the joining loop runs once per distinct combination, not per point.
    """
    out = _first_per_point(pairs, n, ids)
    counts = np.bincount(pairs[0], minlength=n) if pairs.shape[1] else np.zeros(n, dtype=int)
    multi = counts[pairs[0]] > 1 if pairs.shape[1] else np.zeros(0, dtype=bool)
    if not multi.any():
        return out
    point, feature = pairs[0, multi], pairs[1, multi]
    starts = np.flatnonzero(np.r_[True, point[1:] != point[:-1]])
    rank = np.arange(len(point)) - np.repeat(starts, np.diff(np.r_[starts, len(point)]))
    table = np.full((len(starts), rank.max() + 1), -1, dtype=np.int64)
    table[np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(point)])), rank] = feature
    combos, inverse = np.unique(table, axis=0, return_inverse=True)
    text = np.array([",".join(ids[c[c >= 0]]) for c in combos], dtype=object)
    out[point[starts]] = text[inverse.ravel()]
    return out


# ----------------------------------------------------------------------------------------------
# the river


#: above this bound, ``RiverIndex.nearest_within`` asks GEOS instead of building pixel lists
WIDE_BOUND_M = 250.0


class RiverIndex:
    """Nearest reach within a bound (exact), and distance to the river at any range.

    * Within ``bound_m`` (the largest sweep width of a call): every point of a fine pixel (side
      ``near_pixel_m``) can only be within the bound of the edges listed for that pixel; the
      exact point-to-edge distance over that short list gives the nearest reach. Lists are built
      per bound (rounded up to 25 m) on first use and kept. Bounds above ``WIDE_BOUND_M`` ask GEOS.
    * Beyond: a jump-flooding pass over the coarse grid stores, per pixel, the edge nearest to its
      centre; a point's distance is the exact distance to the edges of the 2x2 centres around it.
      It is never below the true distance (less ``simplify_m``), rarely above it, at most by
      ``2·√2`` coarse pixels. Outside the grid, GEOS ``query_nearest`` (slow, rare).

    ``simplify_m`` (default 0.5 m) simplifies the reaches first: answers are within that of exact.
    """

    def __init__(self, index: FeatureIndex, grid: Grid, *, simplify_m: float = 0.5,
                 near_pixel_m: float = 32.0) -> None:
        self.index = index
        self.grid = grid
        self.edges = Edges.of(index.geoms, simplify_m)
        self.simplify_m = simplify_m
        self.near = Grid(grid.x0, grid.y0, near_pixel_m, 0, 0)
        self._labels = _jump_flood(self.edges, grid) if len(self.edges) else None
        self._near_lists: dict[float, Lists] = {}

    def nearest_within(self, x: np.ndarray, y: np.ndarray,
                       bound_m: float) -> tuple[np.ndarray, np.ndarray]:
        """Per point the nearest line index (-1 when none within ``bound_m``) and its distance
        (exact when within the bound, else the smallest distance seen, possibly ``inf``)."""
        line = np.full(len(x), -1, dtype=np.int64)
        dist = np.full(len(x), np.inf)
        if len(self.edges) == 0:
            return line, dist
        if bound_m > WIDE_BOUND_M:
            return self._geos_within(x, y, bound_m, line, dist)
        lists = self._lists_for(bound_m)
        point, edge, _ = lists.expand(_key(*self.near.indices(x, y)))
        d = self.edges.distance(edge, x[point], y[point])
        row, low, best = _min_per_group(point, d, self.edges.line[edge])
        dist[row] = low
        line[row] = np.where(low <= bound_m, best, -1)
        return line, dist

    def _geos_within(self, x: np.ndarray, y: np.ndarray, bound_m: float, line: np.ndarray,
                     dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A wide bound (a report's 1 km) asks GEOS: pixel lists that wide would take seconds to
        build, for queries that come one point at a time."""
        pairs, d = self.index.tree.query_nearest(shapely.points(x, y), max_distance=bound_m,
                                                 return_distance=True, all_matches=False)
        line[pairs[0]] = pairs[1]
        dist[pairs[0]] = d
        return line, dist

    def distance_far(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance to the river at any range (see the class docs); NaN without reaches."""
        if self._labels is None:
            return np.full(len(x), np.nan)
        out = np.empty(len(x))
        inside = self.grid.pixel(x, y) >= 0
        out[inside] = self._from_labels(x[inside], y[inside])
        out[~inside] = self._geos_distance(x[~inside], y[~inside])
        return out

    def _from_labels(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Best of the edges stored at the 2x2 centres around each point, then refined by walking
        to the previous/next edge along the river while that is nearer."""
        g, labels = self.grid, self._labels
        assert labels is not None
        i0 = np.clip(np.floor((x - g.x0) / g.size_m - 0.5).astype(np.int64), 0, max(g.nx - 2, 0))
        j0 = np.clip(np.floor((y - g.y0) / g.size_m - 0.5).astype(np.int64), 0, max(g.ny - 2, 0))
        best = np.full(len(x), np.inf)
        edge = np.zeros(len(x), dtype=np.int64)
        for dj in (0, 1):
            for di in (0, 1):
                label = labels[np.minimum(j0 + dj, g.ny - 1), np.minimum(i0 + di, g.nx - 1)]
                d = _label_distance(self.edges, label, x, y)
                better = d < best
                best[better], edge[better] = d[better], label[better]
        return _descend(self.edges, edge, best, x, y)

    def _geos_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.empty(0)
        _, d = self.index.tree.query_nearest(shapely.points(x, y), return_distance=True,
                                             all_matches=False)
        return d

    def _lists_for(self, bound_m: float) -> Lists:
        key = float(max(25.0, np.ceil(bound_m / 25.0) * 25.0))
        if key not in self._near_lists:
            self._near_lists[key] = _near_lists(self.edges, self.near, key)
        return self._near_lists[key]


def _edge_pixel_pairs(edges: Edges, grid: Grid,
                      radius_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pixel key, edge, distance from the pixel centre) for every pixel whose centre may lie
    within ``radius_m`` of an edge (pixels over each edge's bounds grown by ``radius_m``), sorted
    by key."""
    b = edges.bounds()
    i0, j0 = grid.indices(b[:, 0] - radius_m, b[:, 1] - radius_m)
    i1, j1 = grid.indices(b[:, 2] + radius_m, b[:, 3] + radius_m)
    edge, ix = _expand_ranges(i0, i1)
    row, iy = _expand_ranges(j0[edge], j1[edge])
    edge, ix = edge[row], ix[row]
    cx, cy = grid.x0 + (ix + 0.5) * grid.size_m, grid.y0 + (iy + 0.5) * grid.size_m
    d = edges.distance(edge, cx, cy)
    key = _key(ix, iy)
    order = np.argsort(key, kind="stable")
    return key[order], edge[order], d[order]


def _near_lists(edges: Edges, grid: Grid, bound_m: float) -> Lists:
    """Per fine pixel (centre c, half-diagonal h) the edges that can be nearest to a point of the
    pixel lying within ``bound_m``: those with ``dist(c, e) <= min(bound, d_c + h) + h`` where
    ``d_c`` is the distance from c to the river; pixels with ``d_c > bound + h`` get no list."""
    h = grid.size_m / np.sqrt(2.0)
    key, edge, d = _edge_pixel_pairs(edges, grid, bound_m + 2 * h)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    d_c = np.repeat(np.minimum.reduceat(d, starts), np.diff(np.r_[starts, len(key)]))
    keep = (d_c <= bound_m + h) & (d <= np.minimum(bound_m, d_c + h) + h)
    return Lists.build(key[keep], edge[keep], np.zeros(int(keep.sum()), dtype=bool))


def _within_lists(edges: Edges, grid: Grid, radius_m: float) -> Lists:
    """Per pixel, every edge within ``radius_m`` of some point of the pixel."""
    h = grid.size_m / np.sqrt(2.0)
    key, edge, d = _edge_pixel_pairs(edges, grid, radius_m + h)
    keep = d <= radius_m + h
    return Lists.build(key[keep], edge[keep], np.zeros(int(keep.sum()), dtype=bool))


def _box_lists(geoms: np.ndarray, grid: Grid, margin_m: float) -> Lists:
    """Per pixel, every geometry whose bounds come within ``margin_m`` of the pixel."""
    b = shapely.bounds(geoms)
    ok = np.isfinite(b).all(axis=1)
    i0, j0 = grid.indices(b[ok, 0] - margin_m, b[ok, 1] - margin_m)
    i1, j1 = grid.indices(b[ok, 2] + margin_m, b[ok, 3] + margin_m)
    geom, ix = _expand_ranges(i0, i1)
    row, iy = _expand_ranges(j0[geom], j1[geom])
    geom, ix = np.flatnonzero(ok)[geom[row]], ix[row]
    return Lists.build(_key(ix, iy), geom, np.zeros(len(geom), dtype=bool))


def _descend(edges: Edges, edge: np.ndarray, dist: np.ndarray, x: np.ndarray, y: np.ndarray,
             max_steps: int = 64) -> np.ndarray:
    """Walk each point's edge to the previous/next connected edge while that is nearer; return the
    distances reached (a local minimum along the river, from a start that is nearly right)."""
    follows = edges.follows
    active = np.flatnonzero(np.isfinite(dist))
    for _ in range(max_steps):
        if len(active) == 0:
            break
        moved = np.zeros(len(active), dtype=bool)
        for step in (-1, 1):
            e = edge[active]
            ok = follows[e] if step == 1 else follows[np.maximum(e - 1, 0)] & (e > 0)
            cand = np.clip(e + step, 0, len(edges) - 1)
            d = edges.distance(cand, x[active], y[active])
            better = ok & (d < dist[active] - _TIE_M)
            edge[active[better]], dist[active[better]] = cand[better], d[better]
            moved |= better
        active = active[moved]
    return dist


def _jump_flood(edges: Edges, grid: Grid) -> np.ndarray:
    """Per pixel, the edge nearest to its centre (nearly always): seed the pixels that edges pass
    through, jump-flood with steps n/2, …, 1 and one more step of 1 (JFA+1), then walk each label
    along the river to the nearest edge (only one edge per pixel can be a seed)."""
    px, py = np.meshgrid(grid.x0 + (np.arange(grid.nx) + 0.5) * grid.size_m,
                         grid.y0 + (np.arange(grid.ny) + 0.5) * grid.size_m)
    labels = _seed(edges, grid)
    best = _label_distance(edges, labels, px, py)
    steps = [1 << k for k in range(int(np.ceil(np.log2(max(grid.nx, grid.ny, 2)))) - 1, -1, -1)]
    for s in [*steps, 1]:
        for dj in (-s, 0, s):
            for di in (-s, 0, s):
                if di or dj:
                    candidate = _shifted(labels, dj, di)
                    new = np.flatnonzero(((candidate != labels) & (candidate >= 0)).ravel())
                    d = edges.distance(candidate.ravel()[new], px.ravel()[new], py.ravel()[new])
                    better = d < best.ravel()[new]
                    labels.ravel()[new[better]] = candidate.ravel()[new[better]]
                    best.ravel()[new[better]] = d[better]
    flat = labels.reshape(-1)  # edges too short to seed a pixel: walk to them along the river
    _descend(edges, flat, best.reshape(-1), px.reshape(-1), py.reshape(-1))
    return labels


def _label_distance(edges: Edges, labels: np.ndarray, px: np.ndarray,
                    py: np.ndarray) -> np.ndarray:
    d = edges.distance(np.maximum(labels, 0), px, py)
    return np.where(labels >= 0, d, np.inf)


def _seed(edges: Edges, grid: Grid) -> np.ndarray:
    """Label the pixels each edge passes through (sampled every half pixel) with the edge nearest
    to the pixel centre among them."""
    labels = np.full((grid.ny, grid.nx), -1, dtype=np.int64)
    length = np.hypot(edges.dx, edges.dy)
    samples = np.ceil(length / (grid.size_m / 2)).astype(np.int64) + 1
    edge, k = _expand_ranges(np.zeros(len(edges), dtype=np.int64), samples - 1)
    t = k / np.maximum(samples[edge] - 1, 1)
    sx, sy = edges.ax[edge] + t * edges.dx[edge], edges.ay[edge] + t * edges.dy[edge]
    pixel = grid.pixel(sx, sy)
    inside = pixel >= 0
    edge, pixel = edge[inside], pixel[inside]
    cx, cy = grid.centers(pixel)
    order = np.argsort(-edges.distance(edge, cx, cy), kind="stable")  # nearest written last
    labels.reshape(-1)[pixel[order]] = edge[order]
    return labels


def _shifted(labels: np.ndarray, dj: int, di: int) -> np.ndarray:
    """``labels`` moved so that ``out[j, i] = labels[j + dj, i + di]`` (-1 outside)."""
    ny, nx = labels.shape
    out = np.full_like(labels, -1)
    if abs(dj) >= ny or abs(di) >= nx:
        return out
    out[max(-dj, 0):ny - max(dj, 0), max(-di, 0):nx - max(di, 0)] = \
        labels[max(dj, 0):ny - max(-dj, 0), max(di, 0):nx - max(-di, 0)]
    return out


# ----------------------------------------------------------------------------------------------
# the placer


@dataclass(frozen=True)
class PlacerOptions:
    """Tuning of a :class:`Placer` (defaults suit a county: ~10^5 km², 10^3 reaches)."""

    max_pixels: int = 1 << 18
    max_far_pixels: int = 1 << 18
    min_pixel_m: float = 20.0
    margin_m: float = 2_000.0
    simplify_m: float = 0.5
    near_pixel_m: float = 32.0
    sweep_pixel_m: float = 50.0
    sweep_simplify_m: float = 2.0


class Placer:
    """Places metric points against a :class:`Layers`: built once, ``place`` is vectorized."""

    def __init__(self, layers: Layers, options: PlacerOptions | None = None) -> None:
        opts = options or PlacerOptions()
        self.layers = layers
        self.grid = Grid.over(_extent(layers, opts.margin_m), max_pixels=opts.max_pixels,
                              min_size_m=opts.min_pixel_m)
        self.reaches = FeatureIndex.of(layers.reaches, "reach_id")
        self.cells = FeatureIndex.of(layers.cells, "cell_id")
        self.townships = FeatureIndex.of(layers.townships, "name")
        self.zones = FeatureIndex.of(layers.zones, "zone_id")
        far_grid = Grid.over(_extent(layers, opts.margin_m), max_pixels=opts.max_far_pixels,
                             min_size_m=opts.min_pixel_m)
        self.river = RiverIndex(self.reaches, far_grid, simplify_m=opts.simplify_m,
                                near_pixel_m=opts.near_pixel_m)
        boxes = self.grid.boxes(np.arange(self.grid.nx * self.grid.ny))
        self._polygons = {name: PolygonLookup(getattr(self, name), self.grid, boxes)
                          for name in ("cells", "townships", "zones")}
        self.sweep_grid = Grid(self.grid.x0, self.grid.y0, opts.sweep_pixel_m, 0, 0)
        self._sweep_simplify_m = opts.sweep_simplify_m
        self._sweep_edges: Edges | None = None
        self._sweep_lists: dict[tuple[str, float], Lists] = {}

    @property
    def sweep_edges(self) -> Edges:
        """The reaches' edges for coverage sweeps (simplified by ``sweep_simplify_m``)."""
        if self._sweep_edges is None:
            self._sweep_edges = Edges.of(self.reaches.geoms, self._sweep_simplify_m)
        return self._sweep_edges

    def sweep_candidates(self, kind: str, x: np.ndarray, y: np.ndarray,
                         within_m: float) -> tuple[np.ndarray, np.ndarray]:
        """(row, item) pairs: for ``kind="edge"`` every river edge (``self.sweep_edges``) within
        ``within_m`` of some point of the sweep pixel of (x, y); for ``kind="cell"`` every cell
        whose bounds come within ``within_m`` of it. A superset, for exact tests by the caller."""
        key = (kind, float(np.ceil(within_m)))
        if key not in self._sweep_lists:
            self._sweep_lists[key] = (
                _within_lists(self.sweep_edges, self.sweep_grid, key[1]) if kind == "edge"
                else _box_lists(self.cells.geoms, self.sweep_grid, key[1]))
        row, item, _ = self._sweep_lists[key].expand(_key(*self.sweep_grid.indices(x, y)))
        return row, item

    def place(self, x_m: np.ndarray, y_m: np.ndarray,
              sweep_width_m: np.ndarray | float) -> pd.DataFrame:
        """One row per input point: ``reach_id`` (nearest reach within that row's sweep width, else
        None), ``dist_to_river_m`` (any range; NaN without reaches or coordinates), ``cell_id``,
        ``township`` (name), ``zone_ids`` (comma-joined, else None)."""
        columns = self.place_arrays(x_m, y_m, sweep_width_m)
        return pd.DataFrame({name: pd.Series(values, dtype=values.dtype) for name, values in columns.items()})

    def place_arrays(self, x_m: np.ndarray, y_m: np.ndarray,
                     sweep_width_m: np.ndarray | float) -> dict[str, np.ndarray]:
        """``place`` as a column name → array mapping (no frame: a single report is placed a few times
        faster)."""
        x, y, width = _inputs(x_m, y_m, sweep_width_m)
        ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        xs, ys = x[ok], y[ok]
        pixel = self.grid.pixel(xs, ys)
        reach, dist = self._reach(xs, ys, width[ok])
        cell, town, zones = (self._polygons[name].covering(xs, ys, pixel)
                             for name in ("cells", "townships", "zones"))
        return _placement_columns(len(x), ok, reach, dist,
                                  _first_per_point(cell, len(ok), self.cells.ids),
                                  _first_per_point(town, len(ok), self.townships.ids),
                                  _joined_per_point(zones, len(ok), self.zones.ids))

    def _reach(self, x: np.ndarray, y: np.ndarray,
               width: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        reach = np.full(len(x), None, dtype=object)
        if len(self.reaches) == 0:
            return reach, np.full(len(x), np.nan)
        line, dist = self.river.nearest_within(x, y, float(width.max(initial=0.0)))
        within = (line >= 0) & (dist <= width)
        reach[within] = self.reaches.ids[line[within]]
        far = np.flatnonzero(line < 0)
        dist[far] = np.minimum(dist[far], self.river.distance_far(x[far], y[far]))
        return reach, dist


def _inputs(x_m: np.ndarray, y_m: np.ndarray,
            sweep_width_m: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(x_m, dtype=float).ravel()
    y = np.asarray(y_m, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x_m and y_m differ in length ({len(x)} != {len(y)})")
    width = np.broadcast_to(np.asarray(sweep_width_m, dtype=float), x.shape)
    return x, y, np.where(np.isfinite(width) & (width > 0), width, 0.0)


def _placement_columns(n: int, ok: np.ndarray, reach: np.ndarray, dist: np.ndarray,
                       cell: np.ndarray, town: np.ndarray, zones: np.ndarray) -> dict[str, np.ndarray]:
    def full(values: np.ndarray, fill: object, dtype: object) -> np.ndarray:
        out = np.full(n, fill, dtype=dtype)
        out[ok] = values
        return out

    return {"reach_id": full(reach, None, object), "dist_to_river_m": full(dist, np.nan, float),
            "cell_id": full(cell, None, object), "township": full(town, None, object),
            "zone_ids": full(zones, None, object)}


def _extent(layers: Layers, margin_m: float) -> tuple[float, float, float, float]:
    b = np.array([f.total_bounds for f in (layers.reaches, layers.cells, layers.townships,
                                           layers.zones) if not f.empty])
    b = b[np.isfinite(b).all(axis=1)] if len(b) else b
    if len(b) == 0:
        return (0.0, 0.0, 1.0, 1.0)
    return (b[:, 0].min() - margin_m, b[:, 1].min() - margin_m, b[:, 2].max() + margin_m,
            b[:, 3].max() + margin_m)


__all__ = ["PLACEMENT_COLUMNS", "FeatureIndex", "Grid", "Placer", "PlacerOptions", "RiverIndex",
           "to_lonlat", "to_metric"]
