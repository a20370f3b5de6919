"""Shared helpers for the report tests: a tiny county (a river, a forest, two townships, a no-fishing
zone around 120.7 E 28.8 N) imported through the real layer import, an app with the report routes,
tokens, and real image bytes (with EXIF when asked)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from PIL import Image

import ecopatrol.store.reports_schema  # noqa: F401  (the report tables on the shared metadata)
from ecopatrol.layer_import import import_layer
from ecopatrol.runtime import Runtime
from ecopatrol.store.tokens_repo import create_token
from tests.conftest import T0_MS

WEST_TOWNSHIP = "东溪乡"
EAST_TOWNSHIP = "西岭镇"
RIVER = "演示溪"
FOREST = "演示林"
RIVER_LAT = 28.80
#: a point 10 m north of the river, in the west township, inside the no-fishing zone
NEAR_RIVER = (120.695, 28.80009)
#: a point in the forest, in the east township, about 1.06 km from the river
IN_FOREST = (120.74, 28.8095)
T0 = datetime.fromtimestamp(T0_MS / 1000, UTC)


def _polygon(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _collection(features: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": p, "geometry": g} for p, g in features],
    }


COUNTY = {
    "townships": _collection(
        [
            ({"name": WEST_TOWNSHIP}, _polygon(120.68, 28.78, 120.72, 28.82)),
            ({"name": EAST_TOWNSHIP}, _polygon(120.72, 28.78, 120.76, 28.82)),
        ]
    ),
    "rivers": _collection(
        [({"name": RIVER}, {"type": "LineString", "coordinates": [[120.69, RIVER_LAT], [120.75, RIVER_LAT]]})]
    ),
    "forests": _collection([({"name": FOREST}, _polygon(120.73, 28.805, 120.75, 28.815))]),
    "zones": _collection(
        [({"name": "禁渔区", "kind": "no_fishing"}, _polygon(120.69, 28.795, 120.70, 28.805))]
    ),
}


def load_county(runtime: Runtime, folder: Path) -> None:
    """Write the tiny county as GeoJSON files and import them the way a user does."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind, collection in COUNTY.items():
        path = folder / f"{kind}.geojson"
        path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
        import_layer(runtime, kind, path)


def build_app(runtime: Runtime) -> FastAPI:
    """The whole app without the rule scheduler and delivery worker."""
    from ecopatrol.api.app import create_app

    return create_app(runtime, scheduler=False, delivery_worker=False)


def token(
    runtime: Runtime, role: str, *, org: str | None = None, squad_id: str | None = None, name: str = ""
) -> str:
    with runtime.store.write() as conn:
        return create_token(
            conn, role=role, name=name or f"test {role}", org=org, squad_id=squad_id, now_ms=runtime.now_ms()
        )


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def iso(moment: datetime, offset_hours: int = 8) -> str:
    from datetime import timezone

    return moment.astimezone(timezone(timedelta(hours=offset_hours))).isoformat()


def firearm_report(**overrides: Any) -> dict[str, Any]:
    """A valid firearm report near the river an hour before the test clock's now."""
    body: dict[str, Any] = {
        "category": "firearm",
        "observed_at": iso(T0 - timedelta(hours=1)),
        "location": {"type": "Point", "coordinates": list(NEAR_RIVER)},
        "datum": "wgs84",
        "details": {"shots_heard": 2, "bearing_deg": 120, "distance_m": 300, "weapon_seen": False},
        "description": "two shots from the ridge above the creek",
        "reporter": {"name": "王五", "phone": "13800000000"},
    }
    body.update(overrides)
    return body


def image_bytes(
    fmt: str = "JPEG",
    size: tuple[int, int] = (64, 48),
    *,
    gps: tuple[float, float] | None = None,
    taken: datetime | None = None,
    color: tuple[int, int, int] = (40, 120, 60),
) -> bytes:
    """A real image; with ``gps`` (lon, lat) and ``taken`` (aware) written into its EXIF."""
    img = Image.new("RGB", size, color)
    exif = Image.Exif()
    if gps is not None:
        lon, lat = gps
        ifd = exif.get_ifd(0x8825)
        ifd[1] = "N" if lat >= 0 else "S"
        ifd[2] = _dms(abs(lat))
        ifd[3] = "E" if lon >= 0 else "W"
        ifd[4] = _dms(abs(lon))
    if taken is not None:
        sub = exif.get_ifd(0x8769)
        local = taken.astimezone()
        sub[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")
        offset = taken.utcoffset() or local.utcoffset() or timedelta(0)
        minutes = int(offset.total_seconds() // 60)
        sub[0x9011] = f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    buffer = io.BytesIO()
    kwargs: dict[str, Any] = {"exif": exif.tobytes()} if (gps or taken) else {}
    img.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _dms(value: float) -> tuple[Fraction, Fraction, Fraction]:
    degrees = int(value)
    minutes_f = (value - degrees) * 60
    minutes = int(minutes_f)
    seconds = Fraction(round((minutes_f - minutes) * 60 * 10000), 10000)
    return Fraction(degrees), Fraction(minutes), seconds


@contextmanager
def serve(runtime: Runtime) -> Iterator[tuple[str, httpx.Client]]:
    """The app with the report routes on a real loopback uvicorn; yields (base URL, client)."""
    from tests.conftest import LiveServer

    server = LiveServer(runtime)
    server.server.config.app = build_app(runtime)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield server.url, client
    finally:
        server.stop()
