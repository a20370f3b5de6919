"""A tiny county for app tests: one river along 28.80 N, a forest square, two townships (WGS-84 files)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
from shapely.geometry import LineString, Polygon, box

from ecopatrol.layer_import import import_layer
from ecopatrol.runtime import Runtime

RIVER_LAT = 28.80
RIVER_LON0, RIVER_LON1 = 120.70, 120.75
FOREST = box(120.76, 28.81, 120.78, 28.83)


def write_layers(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    frames = {
        "rivers": gpd.GeoDataFrame({"name": ["测试溪"]},
                                   geometry=[LineString([(RIVER_LON0, RIVER_LAT), (RIVER_LON1, RIVER_LAT)])],
                                   crs=4326),
        "forests": gpd.GeoDataFrame({"name": ["测试林"]}, geometry=[FOREST], crs=4326),
        "townships": gpd.GeoDataFrame({"name": ["西乡", "东乡"]},
                                      geometry=[box(120.68, 28.76, 120.74, 28.86),
                                                box(120.74, 28.76, 120.80, 28.86)], crs=4326),
        "zones": gpd.GeoDataFrame({"name": ["产卵场"], "kind": ["protected"], "priority": ["high"]},
                                  geometry=[Polygon([(120.70, 28.79), (120.72, 28.79), (120.72, 28.81),
                                                     (120.70, 28.81)])], crs=4326),
    }
    paths = {}
    for kind, frame in frames.items():
        paths[kind] = folder / f"{kind}.geojson"
        frame.to_file(paths[kind], driver="GeoJSON")
    return paths


def load_small_county(runtime: Runtime, folder: Path) -> None:
    for kind, path in write_layers(folder).items():
        import_layer(runtime, kind, path)


def drive_along_river(unit_id: str, *, start_ms: int, step_m: float = 150, speed_mps: float = 10,
                      lat_offset_deg: float = 0.0003) -> dict[str, np.ndarray]:
    """Fixes of a vehicle driving the river bank (≈33 m north of it) from west to east."""
    length_m = (RIVER_LON1 - RIVER_LON0) * 111_320 * np.cos(np.radians(RIVER_LAT))
    n = int(length_m // step_m) + 1
    lon = np.linspace(RIVER_LON0, RIVER_LON0 + (n - 1) * step_m / length_m * (RIVER_LON1 - RIVER_LON0), n)
    time_ms = start_ms + (np.arange(n) * step_m / speed_mps * 1000).astype(np.int64)
    return {"unit_id": np.full(n, unit_id, dtype=object), "time_ms": time_ms, "lon": lon,
            "lat": np.full(n, RIVER_LAT + lat_offset_deg)}
