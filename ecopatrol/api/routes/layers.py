"""The county's layers as simplified GeoJSON for browser maps (the report form draws townships and rivers
as vector layers, so it is useful offline and without any tile server)."""

from __future__ import annotations

import hashlib
import threading
from typing import Literal

import geopandas as gpd
import numpy as np
import shapely
from fastapi import APIRouter, Request
from fastapi.responses import Response

from ecopatrol.api.deps import RuntimeDep

router = APIRouter(prefix="/api/v1/layers", tags=["layers"])

LayerKind = Literal["townships", "reaches", "zones"]
#: simplification tolerance in metres per kind (a phone map needs no more)
_TOLERANCE_M = {"townships": 25.0, "reaches": 10.0, "zones": 15.0}
_PRECISION_DEG = 1e-5  # about a metre
_cache: dict[str, tuple[object, bytes, str]] = {}  # kind → (the layers it was made from, body, etag)
_lock = threading.Lock()


@router.get(
    "/{kind}.geojson", response_class=Response, responses={200: {"content": {"application/geo+json": {}}}}
)
def layer_geojson(kind: LayerKind, request: Request, runtime: RuntimeDep) -> Response:
    """Townships (``name``), river reaches (``reach_id``, ``river_name``) or zones (``name``, ``kind``)
    as an RFC 7946 FeatureCollection in WGS-84, simplified for display. No token needed."""
    index = runtime.layer_index()
    body, etag = _geojson(index.layers, kind)
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(
        body,
        media_type="application/geo+json",
        headers={"ETag": etag, "Cache-Control": "public, max-age=300"},
    )


def _geojson(layers: object, kind: str) -> tuple[bytes, str]:
    """The encoded layer, cached for as long as the same layers object is current."""
    with _lock:
        cached = _cache.get(kind)
        if cached is not None and cached[0] is layers:
            return cached[1], cached[2]
    body = _encode(layers, kind)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    with _lock:
        _cache[kind] = (layers, body, etag)
    return body, etag


def _encode(layers: object, kind: str) -> bytes:
    frame = {
        "townships": layers.townships,
        "reaches": layers.reaches,  # type: ignore[attr-defined]
        "zones": layers.zones,
    }[kind]  # type: ignore[attr-defined]
    columns = {"townships": ["name"], "reaches": ["reach_id", "river_name"], "zones": ["name", "kind"]}[kind]
    if frame.empty:
        return b'{"type": "FeatureCollection", "features": []}'
    geoms = shapely.simplify(
        np.asarray(frame.geometry.array, dtype=object), _TOLERANCE_M[kind], preserve_topology=True
    )
    out = gpd.GeoDataFrame(
        frame[columns].astype(str).reset_index(drop=True),
        geometry=gpd.GeoSeries(geoms, crs=frame.crs),
        crs=frame.crs,
    ).to_crs(4326)
    out = out.set_geometry(
        shapely.set_precision(np.asarray(out.geometry.array, dtype=object), _PRECISION_DEG)
    )
    out = out[~out.geometry.is_empty]
    return out.to_json(drop_id=True, ensure_ascii=False).encode("utf-8")
