"""Test helpers for ``geo``: deterministic fixture builders in metric coordinates around 120.7°E
28.8°N, a catalogue of awkward geometries, and assertion helpers (like ``geopandas.testing``)."""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.layers import CELL_COLUMNS, REACH_COLUMNS, TOWNSHIP_COLUMNS, ZONE_COLUMNS, Layers
from geo.placement import to_metric

METRIC_CRS = "EPSG:32650"
ORIGIN_LONLAT = (120.7, 28.8)


def origin_m(metric_crs: str = METRIC_CRS) -> tuple[float, float]:
    """The metric coordinates of 120.7°E 28.8°N, rounded to whole kilometres (grid-aligned)."""
    x, y = to_metric(np.array([ORIGIN_LONLAT[0]]), np.array([ORIGIN_LONLAT[1]]), metric_crs)
    return float(np.round(x[0], -3)), float(np.round(y[0], -3))


def _frame(columns: dict[str, Sequence[object]], geoms: Sequence[BaseGeometry | None],
           crs: str) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(pd.DataFrame(columns), geometry=list(geoms), crs=crs)


def straight_river(length_m: float = 5_000, *, name: str = "永安溪", priority: str = "normal",
                   dy_m: float = 0.0, crs: str = METRIC_CRS) -> gpd.GeoDataFrame:
    """One river running due east from the origin (shifted north by ``dy_m``)."""
    x0, y0 = origin_m(crs)
    line = shapely.LineString([(x0, y0 + dy_m), (x0 + length_m, y0 + dy_m)])
    return _frame({"name": [name], "priority": [priority]}, [line], crs)


def square_forest(size_m: float = 2_000, *, x_m: float = 0.0, y_m: float = 1_000.0,
                  name: str = "北山林场", priority: str = "normal",
                  crs: str = METRIC_CRS) -> gpd.GeoDataFrame:
    """One square forest whose south-west corner is (x_m, y_m) from the origin."""
    x0, y0 = origin_m(crs)
    square = shapely.box(x0 + x_m, y0 + y_m, x0 + x_m + size_m, y0 + y_m + size_m)
    return _frame({"name": [name], "priority": [priority]}, [square], crs)


def township_grid(nx: int = 2, ny: int = 2, *, size_m: float = 5_000, x_m: float = -1_000,
                  y_m: float = -2_500, crs: str = METRIC_CRS) -> gpd.GeoDataFrame:
    """``nx * ny`` square townships named ``镇{i}_{j}`` tiling a block from (x_m, y_m)."""
    x0, y0 = origin_m(crs)
    names, ids, boxes = [], [], []
    for j in range(ny):
        for i in range(nx):
            names.append(f"镇{i}_{j}")
            ids.append(f"T{i}{j}")
            bx, by = x0 + x_m + i * size_m, y0 + y_m + j * size_m
            boxes.append(shapely.box(bx, by, bx + size_m, by + size_m))
    return _frame({"id": ids, "name": names}, boxes, crs)


def zone(x_m: float, y_m: float, size_m: float, *, zone_id: str, kind: str = "protected",
         priority: str = "high", crs: str = METRIC_CRS) -> gpd.GeoDataFrame:
    """One square zone with its south-west corner at (x_m, y_m) from the origin."""
    x0, y0 = origin_m(crs)
    square = shapely.box(x0 + x_m, y0 + y_m, x0 + x_m + size_m, y0 + y_m + size_m)
    return _frame({"id": [zone_id], "name": [zone_id], "kind": [kind], "priority": [priority]},
                  [square], crs)


def demo_layers(*, reach_length_m: float = 500, cell_size_m: float = 500,
                crs: str = METRIC_CRS) -> Layers:
    """A 5 km river (10 reaches), a 2 km forest north of it (16 cells), 2x2 townships, two
    overlapping zones on the river."""
    zones = pd.concat([zone(0, -200, 1_000, zone_id="Z1"),
                       zone(500, -200, 1_000, zone_id="Z2", kind="no_fishing")], ignore_index=True)
    return Layers.build(metric_crs=crs, rivers=straight_river(crs=crs),
                        forests=square_forest(crs=crs), townships=township_grid(crs=crs),
                        zones=gpd.GeoDataFrame(zones, crs=crs), reach_length_m=reach_length_m,
                        cell_size_m=cell_size_m)


def meandering_river(length_m: float = 300_000, *, vertex_spacing_m: float = 10.0,
                     crs: str = METRIC_CRS, seed: int = 0) -> gpd.GeoDataFrame:
    """A long meandering river (for benchmarks): a main trunk with sinuous bends."""
    rng = np.random.default_rng(seed)
    x0, y0 = origin_m(crs)
    n = int(length_m / vertex_spacing_m) + 1
    t = np.linspace(0.0, 1.0, n)
    phase = rng.uniform(0, np.pi)
    x = x0 + 60_000 * t + 4_000 * np.sin(t * 30 + phase)
    y = y0 + 30_000 * np.sin(t * 7) + 600 * np.sin(t * 700)
    line = shapely.LineString(np.c_[x, y])
    line = shapely.line_interpolate_point(line, np.linspace(0, min(length_m, line.length), n))
    return _frame({"name": ["楠溪江"]}, [shapely.LineString(shapely.get_coordinates(line))], crs)


# ----------------------------------------------------------------------------------------------
# awkward geometries


def awkward_geometries() -> dict[str, BaseGeometry | None]:
    """A catalogue of awkward inputs every layer function must survive (cf. shapely's tests)."""
    return {
        "none": None,
        "empty_polygon": shapely.Polygon(),
        "empty_line": shapely.LineString(),
        "bowtie": shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10), (0, 0)]),
        "multi_part": shapely.MultiPolygon([shapely.box(0, 0, 10, 10), shapely.box(20, 0, 30, 10)]),
        "with_hole": shapely.Polygon([(0, 0), (30, 0), (30, 30), (0, 30)],
                                     [[(10, 10), (20, 10), (20, 20), (10, 20)]]),
        "three_d": shapely.Polygon([(0, 0, 5), (10, 0, 5), (10, 10, 6), (0, 10, 6)]),
        "zero_length_line": shapely.LineString([(5, 5), (5, 5)]),
        "multi_line": shapely.MultiLineString([[(0, 0), (10, 0)], [(10, 0), (20, 0)]]),
        "line_3d": shapely.LineString([(0, 0, 1), (10, 0, 2)]),
        "collection": shapely.GeometryCollection([shapely.box(0, 0, 5, 5),
                                                  shapely.LineString([(0, 0), (9, 9)])]),
    }


def shifted(geom: BaseGeometry | None, dx_m: float, dy_m: float) -> BaseGeometry | None:
    """``geom`` moved by (dx_m, dy_m), keeping None and empties as they are."""
    if geom is None or geom.is_empty:
        return geom
    return shapely.transform(geom, lambda xy: xy + np.array([dx_m, dy_m]), include_z=False)


# ----------------------------------------------------------------------------------------------
# assertions


_LAYER_COLUMNS = {"reaches": REACH_COLUMNS, "cells": CELL_COLUMNS, "townships": TOWNSHIP_COLUMNS,
                  "zones": ZONE_COLUMNS}


def assert_layers_valid(layers: Layers) -> None:
    """Every frame has its contract columns, the metric CRS, unique ids and valid geometry."""
    for name, columns in _LAYER_COLUMNS.items():
        frame = getattr(layers, name)
        assert tuple(frame.columns) == columns, f"{name}: columns {tuple(frame.columns)}"
        assert frame.crs is not None and frame.crs.equals(layers.metric_crs), f"{name}: crs"
        ids = frame[columns[0]]
        assert ids.is_unique, f"{name}: duplicate ids {ids[ids.duplicated()].tolist()[:5]}"
        geoms = np.asarray(frame.geometry.array, dtype=object)
        assert shapely.is_valid(geoms).all(), f"{name}: invalid geometry"
        assert not shapely.is_empty(geoms).any(), f"{name}: empty geometry"


def assert_contributions_equal(left: pd.DataFrame, right: pd.DataFrame, *,
                               rtol: float = 1e-9, atol: float = 1e-9,
                               check_passes: bool = True) -> None:
    """Same keys; km/hours close; first/last equal; passes equal when ``check_passes``."""
    keys = ["kind", "feature_id", "unit_id", "mode", "day"]
    a = left.sort_values(keys, ignore_index=True)
    b = right.sort_values(keys, ignore_index=True)
    assert a[keys].astype(str).equals(b[keys].astype(str)), "different contribution keys"
    for column in ("km", "hours"):
        np.testing.assert_allclose(a[column].to_numpy(float), b[column].to_numpy(float),
                                   rtol=rtol, atol=atol, err_msg=column)
    for column in ("first_ms", "last_ms") + (("passes",) if check_passes else ()):
        np.testing.assert_array_equal(a[column].to_numpy(), b[column].to_numpy(), err_msg=column)


def assert_shares_in_unit_interval(summary: dict[str, object]) -> None:
    """Every ``share`` anywhere in a coverage summary lies in [0, 1]."""
    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "share":
                    assert 0.0 <= float(value) <= 1.0, f"{path}.share = {value}"
                walk(value, f"{path}.{key}")

    walk(summary, "summary")
