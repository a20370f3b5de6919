"""Importing a layer file: read (any OGR format) → repair → split (reaches, cells) → store."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd

from ecopatrol.runtime import Runtime
from ecopatrol.store.layers_repo import replace_features
from geo.layers import LayerError, make_cells, make_reaches, prepare_townships, prepare_zones, read_layer
from geo.schema import RecordError

#: user-facing kind → (stored kind, id column, name column, size column)
KINDS = {
    "rivers": ("reach", "reach_id", "river_name", "length_m"),
    "forests": ("cell", "cell_id", "forest_name", "area_m2"),
    "townships": ("township", "township_id", "name", None),
    "zones": ("zone", "zone_id", "name", None),
}


class LayerImportError(ValueError):
    """The file could not be imported; nothing was stored."""


@dataclass
class LayerImportSummary:
    kind: str
    source: str
    features_in: int
    stored: int
    problems: list[RecordError] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{self.kind}: {self.features_in} features read from {self.source}, "
               f"{self.stored} {KINDS[self.kind][0]} features stored"]
        out += [f"  skipped {p}" for p in self.problems]
        return out


def import_layer(runtime: Runtime, kind: str, source: Path | bytes, *, crs: str | None = None,
                 name: str | None = None) -> LayerImportSummary:
    """Replace the stored layer of ``kind`` with the features of ``source``."""
    if kind not in KINDS:
        raise LayerImportError(f"unknown layer kind {kind!r}; use one of {', '.join(KINDS)}")
    try:
        raw, problems = _read(source, crs)
    except LayerError as exc:
        raise LayerImportError(str(exc)) from None
    features = _derive(runtime, kind, raw)
    stored_kind, id_col, name_col, size_col = KINDS[kind]
    label = name or (str(source) if isinstance(source, Path) else "upload")
    with runtime.store.write() as conn:
        stored = replace_features(conn, stored_kind, features, id_column=id_col, name_column=name_col,
                                  size_column=size_col, source=label, now_ms=runtime.now_ms())
    runtime.layers_changed()
    return LayerImportSummary(kind, label, len(raw) + len(problems), stored, problems)


def _read(source: Path | bytes, crs: str | None) -> tuple[gpd.GeoDataFrame, list[RecordError]]:
    result = read_layer(source, crs=crs)
    if isinstance(result, tuple):
        return result
    return result, []


def _derive(runtime: Runtime, kind: str, raw: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    metric_crs = runtime.settings.deployment.metric_crs
    layer_cfg = runtime.settings.layers
    if kind == "rivers":
        return make_reaches(raw, metric_crs=metric_crs, reach_length_m=layer_cfg.reach_length_m)
    if kind == "forests":
        return make_cells(raw, metric_crs=metric_crs, cell_size_m=layer_cfg.cell_size_m)
    if kind == "townships":
        return prepare_townships(raw, metric_crs=metric_crs)
    return prepare_zones(raw, metric_crs=metric_crs)
