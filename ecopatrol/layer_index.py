"""The in-memory spatial index of the stored layers: metric-CRS frames, a placer, the working area."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

from ecopatrol.config import Settings
from ecopatrol.store import Store
from ecopatrol.store.layers_repo import load_features
from geo.layers import Layers
from geo.placement import Placer

DEFAULT_BOUNDS = (73.0, 18.0, 135.0, 54.0)  # China, when no layer and no configured bounds exist

# Stored columns → the column names geo.layers uses, per kind.
_RENAMES = {
    "reach": {"feature_id": "reach_id", "name": "river_name", "size": "length_m"},
    "cell": {"feature_id": "cell_id", "name": "forest_name", "size": "area_m2"},
    "township": {"feature_id": "township_id"},
    "zone": {"feature_id": "zone_id"},
}


@dataclass(frozen=True)
class LayerIndex:
    layers: Layers
    placer: Placer
    bounds_lonlat: tuple[float, float, float, float]


def load_layer_index(store: Store, settings: Settings) -> LayerIndex:
    """Read every layer once, project to the metric CRS and build the STRtrees."""
    crs = settings.deployment.metric_crs
    with store.read() as conn:
        frames = {kind: load_features(conn, kind) for kind in _RENAMES}
    metric = {kind: _metric(frame, kind, crs) for kind, frame in frames.items()}
    layers = Layers(reaches=metric["reach"], cells=metric["cell"], townships=metric["township"],
                    zones=metric["zone"], metric_crs=crs)
    bounds = settings.deployment.bounds_lonlat or _extent(frames) or DEFAULT_BOUNDS
    return LayerIndex(layers=layers, placer=Placer(layers), bounds_lonlat=tuple(bounds))  # type: ignore[arg-type]


def _metric(frame: gpd.GeoDataFrame, kind: str, crs: str) -> gpd.GeoDataFrame:
    out = frame.rename(columns=_RENAMES[kind])
    out = out.loc[:, ~out.columns.duplicated(keep="first")].to_crs(crs)  # stored columns win over props
    if "kind" not in out.columns and kind == "zone":
        out["kind"] = "protected"
    return out


def _extent(frames: dict[str, gpd.GeoDataFrame]) -> tuple[float, float, float, float] | None:
    present = [f for f in frames.values() if len(f)]
    if not present:
        return None
    b = pd.DataFrame([f.total_bounds for f in present], columns=["x0", "y0", "x1", "y1"])
    return (float(b.x0.min()), float(b.y0.min()), float(b.x1.max()), float(b.y1.max()))
