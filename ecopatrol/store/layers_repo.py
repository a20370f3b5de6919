"""Layer features (reaches, cells, townships, zones) stored as WGS-84 WKB, replaced whole per kind."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Connection, func, insert, select

from ecopatrol.store.schema import layer_features, layer_versions

KINDS = ("reach", "cell", "township", "zone")


def replace_features(conn: Connection, kind: str, frame: gpd.GeoDataFrame, *, id_column: str,
                     name_column: str, size_column: str | None, source: str, now_ms: int) -> int:
    """Replace every feature of ``kind`` with ``frame`` (any CRS; stored as WGS-84)."""
    if kind not in KINDS:
        raise ValueError(f"unknown layer kind {kind!r}")
    wgs = frame.to_crs(4326)
    extra = [c for c in wgs.columns if c not in {id_column, name_column, "priority", "geometry"}]
    rows = []
    for i, record in enumerate(wgs.itertuples(index=False)):
        values = record._asdict()
        props = {c: _jsonable(values[c]) for c in extra}
        rows.append({
            "kind": kind, "feature_id": str(values[id_column]),
            "name": "" if values.get(name_column) is None else str(values[name_column]),
            "priority": str(values.get("priority") or "normal"),
            "size": float(frame[size_column].iloc[i]) if size_column else 0.0,
            "props": json.dumps(props, ensure_ascii=False),
            "wkb": shapely.to_wkb(values["geometry"]),
        })
    conn.execute(layer_features.delete().where(layer_features.c.kind == kind))
    if rows:
        conn.execute(insert(layer_features), rows)
    conn.execute(insert(layer_versions).values(kind=kind, source=source, feature_count=len(rows),
                                               imported_ms=now_ms))
    return len(rows)


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, str | int | float | bool):
        return None if isinstance(value, float) and value != value else value
    if hasattr(value, "item"):
        return value.item()  # type: ignore[union-attr]
    return str(value)


def load_features(conn: Connection, kind: str) -> gpd.GeoDataFrame:
    """All features of a kind as a WGS-84 GeoDataFrame (feature_id, name, priority, size, props...)."""
    rows = conn.execute(select(layer_features).where(layer_features.c.kind == kind)
                        .order_by(layer_features.c.feature_id)).fetchall()
    frame = pd.DataFrame(rows, columns=[c.name for c in layer_features.columns])
    props = [json.loads(p) for p in frame["props"]] if len(frame) else []
    extra = pd.DataFrame(props, index=frame.index)
    geometry = shapely.from_wkb(frame["wkb"].to_numpy()) if len(frame) else []
    base = frame.drop(columns=["wkb", "props", "kind"])
    out = pd.concat([base, extra.drop(columns=[c for c in extra.columns if c in base.columns])], axis=1)
    return gpd.GeoDataFrame(out, geometry=geometry, crs=4326)


def layers_version(conn: Connection) -> int:
    """A number that changes whenever any layer is imported."""
    return int(conn.execute(select(func.coalesce(func.max(layer_versions.c.id), 0))).scalar_one())
