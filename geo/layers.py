"""Layers: read any OGR source, repair geometries, project to the metric CRS, and cut rivers into
reaches and forests into grid cells.

Every public function is a short recipe of ``_step`` helpers. Work is vectorized with shapely 2:
no Python loop per vertex, reach or cell (only per duplicated grid square where forests overlap).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from geo.schema import RecordError

#: Column contracts of the frames held by :class:`Layers` (all in the metric CRS).
REACH_COLUMNS: tuple[str, ...] = ("reach_id", "river_name", "length_m", "priority", "geometry")
CELL_COLUMNS: tuple[str, ...] = ("cell_id", "area_m2", "forest_name", "priority", "geometry")
TOWNSHIP_COLUMNS: tuple[str, ...] = ("township_id", "name", "geometry")
ZONE_COLUMNS: tuple[str, ...] = ("zone_id", "name", "kind", "priority", "geometry")
PRIORITIES: tuple[str, ...] = ("high", "normal")

#: Attribute names looked up, in order, for a feature's name, id, priority and zone kind.
NAME_FIELDS: tuple[str, ...] = ("name", "NAME", "Name", "river_name", "forest_name", "名称", "mc", "MC")
ID_FIELDS: tuple[str, ...] = ("id", "ID", "Id", "code", "CODE", "编码", "dm", "DM")
KIND_FIELDS: tuple[str, ...] = ("kind", "KIND", "type", "TYPE", "类型")
_HIGH_WORDS = frozenset({"high", "高", "重点", "1", "true", "yes"})

_LINE_TYPES = (1, 5)  # LineString, MultiLineString (LinearRing parts are cast to lines)
_POLYGON_TYPES = (3, 6)
_MAX_CANDIDATE_CELLS = 20_000_000

Source = str | PathLike[str] | bytes | io.BytesIO


class LayerError(ValueError):
    """A layer that cannot be used at all (no CRS, unreadable, nothing valid left)."""


@dataclass(frozen=True, eq=False)
class LayerReport:
    """A read layer: the usable features (original index kept) and one error per dropped feature.

    ``repaired`` lists the feature indices whose geometry was invalid and fixed by ``make_valid``.
    """

    frame: gpd.GeoDataFrame
    errors: list[RecordError] = field(default_factory=list)
    repaired: tuple[int, ...] = ()


# ----------------------------------------------------------------------------------------------
# reading and repairing


def read_layer(path_or_bytes: Source, *, crs: str | None = None,
               layer: str | None = None) -> gpd.GeoDataFrame:
    """Read any OGR layer; repair invalid geometries, drop unusable ones.

    Errors for dropped features are in ``frame.attrs["errors"]`` (a list of ``RecordError``);
    use :func:`read_layer_report` to get them as a :class:`LayerReport`.
    """
    report = read_layer_report(path_or_bytes, crs=crs, layer=layer)
    frame = report.frame
    frame.attrs["errors"] = list(report.errors)
    frame.attrs["repaired"] = list(report.repaired)
    return frame


def read_layer_report(path_or_bytes: Source, *, crs: str | None = None,
                      layer: str | None = None) -> LayerReport:
    """Read, set the CRS and repair: the recipe behind :func:`read_layer`.

    ``crs`` is the layer's CRS when the file has none, and overrides a declared one (for files that
    declare it wrongly). A layer without any CRS raises :class:`LayerError`.
    """
    frame = _read_frame(path_or_bytes, layer)
    frame = _assign_crs(frame, crs)
    _check_geographic_range(frame)
    report = repair_geometries(frame)
    _require_usable(report, len(frame))
    return report


def repair_geometries(frame: gpd.GeoDataFrame) -> LayerReport:
    """Drop Z, repair invalid geometries with ``make_valid``; report empty/unrepairable ones by
    feature index (the frame's integer index, else the position). Never raises for data."""
    geoms = _flat_2d(np.asarray(frame.geometry.array, dtype=object))
    where = _feature_labels(frame)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    invalid = ~missing & ~shapely.is_valid(geoms)
    reasons = np.asarray(shapely.is_valid_reason(np.where(invalid, geoms, None)), dtype=object)
    geoms[invalid] = shapely.make_valid(geoms[invalid])
    broken = invalid & shapely.is_empty(geoms)
    errors = _geometry_errors(where, missing, broken, reasons)
    keep = ~(missing | broken)
    out = frame.loc[keep].copy()
    out[frame.geometry.name] = gpd.GeoSeries(geoms[keep], index=out.index, crs=frame.crs)
    repaired = tuple(int(w) for w in where[invalid & ~broken])
    return LayerReport(frame=out, errors=errors, repaired=repaired)


def _read_frame(source: Source, layer: str | None) -> gpd.GeoDataFrame:
    data = source.getvalue() if isinstance(source, io.BytesIO) else source
    try:
        frame = pyogrio.read_dataframe(data, layer=layer)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise LayerError(f"cannot read layer: {exc}") from exc
    if not isinstance(frame, gpd.GeoDataFrame):
        raise LayerError("layer has no geometry column")
    return frame


def _assign_crs(frame: gpd.GeoDataFrame, crs: str | None) -> gpd.GeoDataFrame:
    if crs is not None:
        try:
            return frame.set_crs(CRS.from_user_input(crs), allow_override=True)
        except Exception as exc:  # pyproj.CRSError and friends
            raise LayerError(f"unknown crs {crs!r}: {exc}") from exc
    if frame.crs is None:
        raise LayerError("layer has no CRS (no .prj / SRS); pass crs='EPSG:…' to say which")
    return frame


def _check_geographic_range(frame: gpd.GeoDataFrame) -> None:
    if frame.crs is None or not frame.crs.is_geographic or frame.empty:
        return
    minx, miny, maxx, maxy = frame.total_bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise LayerError(f"coordinates ({minx:.0f}, {miny:.0f}, {maxx:.0f}, {maxy:.0f}) are not "
                         f"lon/lat although the layer says {frame.crs.to_string()}; pass crs=")


def _require_usable(report: LayerReport, n_read: int) -> None:
    if n_read and report.frame.empty:
        first = "; ".join(str(e) for e in report.errors[:3])
        raise LayerError(f"no usable geometry in {n_read} feature(s): {first}")


def _feature_labels(frame: pd.DataFrame) -> np.ndarray:
    if pd.api.types.is_integer_dtype(frame.index.dtype):
        return frame.index.to_numpy(dtype=np.int64)
    return np.arange(len(frame), dtype=np.int64)


def _geometry_errors(where: np.ndarray, missing: np.ndarray, broken: np.ndarray,
                     reasons: np.ndarray) -> list[RecordError]:
    errors = [RecordError(f"feature {w}", "geometry", "empty or missing geometry")
              for w in where[missing]]
    errors += [RecordError(f"feature {w}", "geometry", f"invalid and not repairable ({r})")
               for w, r in zip(where[broken], reasons[broken], strict=True)]
    return sorted(errors, key=lambda e: int(e.where.split()[1]))


def _flat_2d(geoms: np.ndarray) -> np.ndarray:
    out = geoms.copy()
    has_z = ~shapely.is_missing(out) & shapely.has_z(out)
    out[has_z] = shapely.force_2d(out[has_z])
    return out


# ----------------------------------------------------------------------------------------------
# attributes


def _to_metric(frame: gpd.GeoDataFrame, metric_crs: str) -> gpd.GeoDataFrame:
    if frame.crs is None:
        raise LayerError("layer has no CRS; read it with read_layer(..., crs=...) first")
    return frame.to_crs(metric_crs)


def _text_field(frame: pd.DataFrame, candidates: Sequence[str]) -> np.ndarray:
    """Per row, the first non-blank value among ``candidates`` columns (``None`` when none)."""
    out = np.full(len(frame), None, dtype=object)
    for column in candidates:
        if column not in frame.columns or column == frame.geometry.name:
            continue
        values = frame[column].to_numpy(dtype=object)
        text = np.array([None if _blank(v) else _as_text(v) for v in values], dtype=object)
        fill = np.equal(out, None) & ~np.equal(text, None)
        out[fill] = text[fill]
    return out


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == ""


def _as_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _priorities(frame: pd.DataFrame) -> np.ndarray:
    raw = _text_field(frame, ("priority", "PRIORITY", "优先级"))
    return np.array(["high" if v is not None and v.lower() in _HIGH_WORDS else "normal"
                     for v in raw], dtype=object)


def _names_or_ids(frame: pd.DataFrame, fallback_prefix: str) -> np.ndarray:
    names = _text_field(frame, NAME_FIELDS)
    ids = _text_field(frame, ID_FIELDS)
    labels = _feature_labels(frame)
    fallback = np.array([f"{fallback_prefix}{w}" for w in labels], dtype=object)
    return np.where(np.equal(names, None), np.where(np.equal(ids, None), fallback, ids), names)


def _ids_or_positions(frame: pd.DataFrame, prefix: str) -> np.ndarray:
    ids = _text_field(frame, ID_FIELDS)
    fallback = np.array([f"{prefix}{w:04d}" for w in _feature_labels(frame)], dtype=object)
    out = np.where(np.equal(ids, None), fallback, ids)
    return _deduplicate(out)


def _deduplicate(ids: np.ndarray) -> np.ndarray:
    """Make ids unique by suffixing ``~2``, ``~3``… to repeats (file order kept)."""
    series = pd.Series(ids, dtype=object)
    rank = series.groupby(series, sort=False).cumcount().to_numpy()
    suffix = np.array(["" if r == 0 else f"~{r + 1}" for r in rank], dtype=object)
    return (series.to_numpy(dtype=object) + suffix).astype(object)


# ----------------------------------------------------------------------------------------------
# geometry kinds


def _flat_parts(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Single-part members of every geometry (collections flattened twice) with their owner."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    parts2, owner2 = shapely.get_parts(parts, return_index=True)
    return parts2, owner[owner2]


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Per geometry its polygonal part as a (Multi)Polygon, or ``None``."""
    parts, owner = _flat_parts(_flat_2d(geoms))
    keep = (shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)
    out = np.full(len(geoms), None, dtype=object)
    if keep.any():
        shapely.multipolygons(parts[keep], indices=owner[keep], out=out)
    return _single_if_one(out)


def _lineal(geoms: np.ndarray) -> np.ndarray:
    """Per geometry its lineal part as a (Multi)LineString, or ``None``."""
    parts, owner = _flat_parts(_flat_2d(geoms))
    keep = (shapely.get_type_id(parts) == 1) & ~shapely.is_empty(parts)
    keep[keep] = shapely.length(parts[keep]) > 0
    out = np.full(len(geoms), None, dtype=object)
    if keep.any():
        shapely.multilinestrings(parts[keep], indices=owner[keep], out=out)
    return _single_if_one(out)


def _single_if_one(geoms: np.ndarray) -> np.ndarray:
    present = ~np.equal(geoms, None)
    one = np.zeros(len(geoms), dtype=bool)
    one[present] = shapely.get_num_geometries(geoms[present]) == 1
    geoms[one] = shapely.get_geometry(geoms[one], 0)
    return geoms


def _geo_frame(columns: dict[str, object], geometry: np.ndarray, crs: str,
               order: Sequence[str]) -> gpd.GeoDataFrame:
    data = {name: columns[name] for name in order if name != "geometry"}
    frame = gpd.GeoDataFrame(pd.DataFrame(data), geometry=gpd.GeoSeries(geometry, crs=crs), crs=crs)
    return frame[list(order)]


# ----------------------------------------------------------------------------------------------
# reaches


def make_reaches(rivers: gpd.GeoDataFrame, *, metric_crs: str,
                 reach_length_m: float = 500) -> gpd.GeoDataFrame:
    """Cut rivers into reaches of about ``reach_length_m`` (equal pieces per merged line).

    Features sharing a name (and priority) are merged with ``line_merge`` first; reaches are
    numbered along each river from 0 in digitizing order, e.g. ``永安溪-0003``, so re-importing the
    same file gives the same ids. Features without a usable line are listed in
    ``attrs["errors"]``.
    """
    if reach_length_m <= 0:
        raise ValueError(f"reach_length_m must be > 0, got {reach_length_m}")
    frame = _to_metric(rivers, metric_crs)
    lines = _lineal(np.asarray(frame.geometry.array, dtype=object))
    errors = _dropped(frame, lines, "no line of non-zero length")
    merged, names, priorities = _merge_rivers(lines, _names_or_ids(frame, "river"),
                                             _priorities(frame))
    pieces, owner = _split_lines(merged, _piece_counts(merged, reach_length_m))
    out = _reach_frame(pieces, names[owner], priorities[owner], metric_crs)
    out.attrs["errors"] = errors
    return out


def _dropped(frame: pd.DataFrame, geoms: np.ndarray, reason: str) -> list[RecordError]:
    missing = np.equal(geoms, None)
    return [RecordError(f"feature {w}", "geometry", reason)
            for w in _feature_labels(frame)[missing]]


def _merge_rivers(lines: np.ndarray, names: np.ndarray,
                  priorities: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge the lines of each (name, priority) group; return lines ordered by river then group
    (first appearance) then part, with their name and priority."""
    ok = ~np.equal(lines, None)
    if not ok.any():
        empty = np.array([], dtype=object)
        return empty, empty, empty
    keys = pd.MultiIndex.from_arrays([names[ok], priorities[ok]])
    group, uniques = pd.factorize(keys, sort=False)
    parts, owner = _flat_parts(lines[ok])
    by_group = np.argsort(group[owner], kind="stable")
    multi = np.empty(len(uniques), dtype=object)
    shapely.multilinestrings(parts[by_group], indices=group[owner][by_group], out=multi)
    parts, owner = shapely.get_parts(shapely.line_merge(multi), return_index=True)
    g_names = np.asarray(uniques.get_level_values(0), dtype=object)
    g_prios = np.asarray(uniques.get_level_values(1), dtype=object)
    order = np.lexsort((np.arange(len(parts)), owner, pd.factorize(g_names[owner])[0]))
    return parts[order], g_names[owner][order], g_prios[owner][order]


def _piece_counts(lines: np.ndarray, reach_length_m: float) -> np.ndarray:
    return np.maximum(1, np.rint(shapely.length(lines) / reach_length_m)).astype(np.int64)


def _split_lines(lines: np.ndarray, n_pieces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut each line into ``n_pieces`` equal-length pieces, vectorized over all vertices.

    Returns the pieces (in order along each line) and the index of their line.
    """
    if len(lines) == 0:
        return np.array([], dtype=object), np.array([], dtype=np.int64)
    xy, line_of = shapely.get_coordinates(lines, return_index=True)
    measure = _measures(xy, line_of)
    step = shapely.length(lines) / n_pieces
    base = np.concatenate([[0], np.cumsum(n_pieces)[:-1]])
    vertex_piece = base[line_of] + np.minimum(measure // step[line_of], n_pieces[line_of] - 1)
    cut_line = np.repeat(np.arange(len(lines)), n_pieces - 1)
    cut_k = np.arange(len(cut_line)) - np.repeat(base - np.arange(len(lines)), n_pieces - 1) + 1
    cut_m = cut_k * step[cut_line]
    cut_xy = shapely.get_coordinates(shapely.line_interpolate_point(lines[cut_line], cut_m))
    cut_piece = base[cut_line] + cut_k
    piece = np.concatenate([vertex_piece, cut_piece - 1, cut_piece]).astype(np.int64)
    m = np.concatenate([measure, cut_m, cut_m])
    coords = np.concatenate([xy, cut_xy, cut_xy])
    order = np.lexsort((m, piece))
    pieces = shapely.linestrings(coords[order], indices=piece[order])
    return pieces, np.repeat(np.arange(len(lines)), n_pieces)


def _measures(xy: np.ndarray, line_of: np.ndarray) -> np.ndarray:
    """Distance along its line of every vertex."""
    step = np.zeros(len(xy))
    step[1:] = np.hypot(*(xy[1:] - xy[:-1]).T)
    first = np.r_[True, line_of[1:] != line_of[:-1]]
    step[first] = 0.0
    total = np.cumsum(step)
    return total - np.maximum.accumulate(np.where(first, total, 0.0))


def _reach_frame(pieces: np.ndarray, names: np.ndarray, priorities: np.ndarray,
                 crs: str) -> gpd.GeoDataFrame:
    """Number reaches per river, across all its merged parts in order."""
    number = pd.Series(names, dtype=object).groupby(names, sort=False).cumcount().to_numpy()
    reach_id = np.array([f"{n}-{k:04d}" for n, k in zip(names, number, strict=True)], dtype=object)
    columns = {"reach_id": reach_id, "river_name": names, "length_m": shapely.length(pieces),
               "priority": priorities}
    return _geo_frame(columns, pieces, crs, REACH_COLUMNS)


# ----------------------------------------------------------------------------------------------
# cells


def make_cells(forests: gpd.GeoDataFrame, *, metric_crs: str,
               cell_size_m: float = 500) -> gpd.GeoDataFrame:
    """Cut forests into grid squares aligned to multiples of ``cell_size_m``, clipped to the forest.

    ``cell_id`` is ``C{ix}_{iy}`` (grid indices, so stable). Where forests overlap, a square's
    pieces are united; it takes the name of the forest covering most of it and the highest
    priority.
    """
    if cell_size_m <= 0:
        raise ValueError(f"cell_size_m must be > 0, got {cell_size_m}")
    frame = _to_metric(forests, metric_crs)
    polys = _polygonal(np.asarray(frame.geometry.array, dtype=object))
    ok = ~np.equal(polys, None)
    ix, iy = _candidate_squares(polys[ok], cell_size_m)
    square_of, forest_of, pieces = _clip_squares(ix, iy, polys[ok], cell_size_m)
    names = _names_or_ids(frame, "forest")[ok]
    cells = _dissolve_squares(square_of, forest_of, pieces, names, _priorities(frame)[ok])
    out = _cell_frame(cells, ix, iy, metric_crs)
    out.attrs["errors"] = _dropped(frame, polys, "no polygon of non-zero area")
    return out


def _candidate_squares(polys: np.ndarray, size_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Grid indices of every square overlapping some polygon's bounds (unique, sorted)."""
    if len(polys) == 0:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    b = shapely.bounds(polys)
    ix0, iy0 = np.floor(b[:, 0] / size_m), np.floor(b[:, 1] / size_m)
    nx = np.maximum(np.ceil(b[:, 2] / size_m) - ix0, 1).astype(np.int64)
    ny = np.maximum(np.ceil(b[:, 3] / size_m) - iy0, 1).astype(np.int64)
    count = nx * ny
    if count.sum() > _MAX_CANDIDATE_CELLS:
        raise LayerError(f"{count.sum()} candidate cells: cell_size_m={size_m} is too small")
    owner = np.repeat(np.arange(len(polys)), count)
    local = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    ix = ix0[owner].astype(np.int64) + local % nx[owner]
    iy = iy0[owner].astype(np.int64) + local // nx[owner]
    unique = np.unique(np.stack([iy, ix], axis=1), axis=0)
    return unique[:, 1], unique[:, 0]


def _squares(ix: np.ndarray, iy: np.ndarray, size_m: float) -> np.ndarray:
    return shapely.box(ix * size_m, iy * size_m, (ix + 1) * size_m, (iy + 1) * size_m)


def _clip_squares(ix: np.ndarray, iy: np.ndarray, polys: np.ndarray,
                  size_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(square, forest, piece) for every square intersecting a forest, with positive area.

    Squares inside a forest are kept whole; only boundary squares are intersected.
    """
    squares = _squares(ix, iy, size_m)
    square_of, forest_of = shapely.STRtree(polys).query(squares, predicate="intersects")
    shapely.prepare(polys)
    inside = shapely.contains_properly(polys[forest_of], squares[square_of])
    pieces = squares[square_of].copy()
    edge = ~inside
    pieces[edge] = _polygonal(shapely.intersection(squares[square_of[edge]], polys[forest_of[edge]]))
    area = np.where(np.equal(pieces, None), 0.0, shapely.area(pieces))
    keep = area > 0
    return square_of[keep], forest_of[keep], pieces[keep]


def _dissolve_squares(square_of: np.ndarray, forest_of: np.ndarray, pieces: np.ndarray,
                      names: np.ndarray, priorities: np.ndarray) -> pd.DataFrame:
    """One row per square: united pieces, name of the forest with the largest piece, top priority."""
    table = pd.DataFrame({"square": square_of, "area": shapely.area(pieces),
                          "name": names[forest_of], "high": priorities[forest_of] == "high",
                          "geometry": pieces})
    table = table.sort_values(["square", "area"], ascending=[True, False], kind="stable")
    groups = table.groupby("square", sort=True)
    first = groups.first()
    first["high"] = groups["high"].any()
    rank = groups.cumcount().to_numpy()
    if rank.max(initial=0) > 0:
        first["geometry"] = _union_by_group(table, rank, first.index)
    return first


def _union_by_group(table: pd.DataFrame, rank: np.ndarray, squares: pd.Index) -> np.ndarray:
    """Union of the pieces of every square, vectorized with ``union_all`` along a padded axis."""
    padded = np.full((len(squares), rank.max() + 1), None, dtype=object)
    padded[squares.get_indexer(table["square"]), rank] = table["geometry"].to_numpy(dtype=object)
    single = np.equal(padded[:, 1], None)
    out = padded[:, 0].copy()
    out[~single] = _polygonal(shapely.union_all(padded[~single], axis=1))
    return out


def _cell_frame(cells: pd.DataFrame, ix: np.ndarray, iy: np.ndarray,
                crs: str) -> gpd.GeoDataFrame:
    square = cells.index.to_numpy(dtype=np.int64)
    geoms = cells["geometry"].to_numpy(dtype=object)
    columns = {
        "cell_id": np.array([f"C{a}_{b}" for a, b in zip(ix[square], iy[square], strict=True)],
                            dtype=object),
        "area_m2": shapely.area(geoms) if len(geoms) else np.array([], dtype=float),
        "forest_name": cells["name"].to_numpy(dtype=object),
        "priority": np.where(cells["high"].to_numpy(dtype=bool), "high", "normal").astype(object),
    }
    return _geo_frame(columns, geoms, crs, CELL_COLUMNS)


# ----------------------------------------------------------------------------------------------
# townships and zones


def prepare_townships(gdf: gpd.GeoDataFrame, *, metric_crs: str) -> gpd.GeoDataFrame:
    """Townships in the metric CRS: ``township_id`` (id property or ``T0003``), name, polygon."""
    frame, polys = _polygon_layer(gdf, metric_crs)
    ids = _ids_or_positions(frame, "T")
    names = _text_field(frame, NAME_FIELDS)
    columns = {"township_id": ids, "name": np.where(np.equal(names, None), ids, names)}
    return _geo_frame(columns, polys, metric_crs, TOWNSHIP_COLUMNS)


def prepare_zones(gdf: gpd.GeoDataFrame, *, metric_crs: str) -> gpd.GeoDataFrame:
    """Zones in the metric CRS: ``zone_id`` (id property or ``Z0003``), name, kind (``kind``/``type``
    property, default ``protected``, e.g. ``no_fishing``), priority ``high|normal``, polygon."""
    frame, polys = _polygon_layer(gdf, metric_crs)
    ids = _ids_or_positions(frame, "Z")
    names = _text_field(frame, NAME_FIELDS)
    kinds = _text_field(frame, KIND_FIELDS)
    columns = {"zone_id": ids, "name": np.where(np.equal(names, None), ids, names),
               "kind": np.where(np.equal(kinds, None), "protected", kinds).astype(object),
               "priority": _priorities(frame)}
    return _geo_frame(columns, polys, metric_crs, ZONE_COLUMNS)


def _polygon_layer(gdf: gpd.GeoDataFrame, metric_crs: str) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    frame = _to_metric(gdf, metric_crs)
    polys = _polygonal(np.asarray(frame.geometry.array, dtype=object))
    keep = ~np.equal(polys, None)
    return frame.loc[keep], polys[keep]


# ----------------------------------------------------------------------------------------------
# the bundle


def _empty_frame(columns: Sequence[str], crs: str) -> gpd.GeoDataFrame:
    data = {c: pd.Series(dtype="float64" if c in ("length_m", "area_m2") else object)
            for c in columns if c != "geometry"}
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)[list(columns)]


@dataclass(frozen=True, eq=False)
class Layers:
    """The four layers of a deployment, in the metric CRS (hashable by identity)."""

    reaches: gpd.GeoDataFrame
    cells: gpd.GeoDataFrame
    townships: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    metric_crs: str

    @classmethod
    def empty(cls, metric_crs: str) -> Layers:
        """Layers with no features (every placement is ``None``)."""
        return cls(reaches=_empty_frame(REACH_COLUMNS, metric_crs),
                   cells=_empty_frame(CELL_COLUMNS, metric_crs),
                   townships=_empty_frame(TOWNSHIP_COLUMNS, metric_crs),
                   zones=_empty_frame(ZONE_COLUMNS, metric_crs), metric_crs=metric_crs)

    @classmethod
    def build(cls, *, metric_crs: str, rivers: gpd.GeoDataFrame | None = None,
              forests: gpd.GeoDataFrame | None = None,
              townships: gpd.GeoDataFrame | None = None, zones: gpd.GeoDataFrame | None = None,
              reach_length_m: float = 500, cell_size_m: float = 500) -> Layers:
        """Build every layer given from source frames (any CRS); missing ones stay empty."""
        empty = cls.empty(metric_crs)
        return cls(
            reaches=empty.reaches if rivers is None else make_reaches(
                rivers, metric_crs=metric_crs, reach_length_m=reach_length_m),
            cells=empty.cells if forests is None else make_cells(
                forests, metric_crs=metric_crs, cell_size_m=cell_size_m),
            townships=empty.townships if townships is None else prepare_townships(
                townships, metric_crs=metric_crs),
            zones=empty.zones if zones is None else prepare_zones(zones, metric_crs=metric_crs),
            metric_crs=metric_crs)
