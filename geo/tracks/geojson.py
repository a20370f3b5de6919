"""GeoJSON tracks to fixes: Point features with a time property, or LineString /
MultiLineString / MultiPoint features with per-vertex times in ``coordTimes`` or ``times`` (as
written by togeojson, gpx2geojson and many loggers)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from geo.schema import Mode, ParseResult, RecordError, empty_fixes
from geo.tracks._common import (
    FixRows,
    check_mode,
    decode_text,
    error,
    in_document_order,
    number,
    number_problem,
    short,
    too_many,
)
from geo.tracks._time import times_to_ms

TIME_PROPERTIES = ("time", "timestamp", "t", "datetime")
VERTEX_TIME_PROPERTIES = ("coordTimes", "times")
UNIT_PROPERTIES = ("unit_id", "device_id")
_MEASUREMENT_PROPERTIES = {
    "speed_mps": ("speed_mps", "speed"),
    "accuracy_m": ("accuracy_m", "accuracy", "acc"),
    "bearing_deg": ("bearing_deg", "bearing", "heading", "course"),
    "altitude_m": ("altitude_m", "altitude", "ele", "elevation"),
    "battery_pct": ("battery_pct", "battery", "batt"),
}


@dataclass(frozen=True)
class _Vertex:
    where: str
    unit_id: str
    lon: float
    lat: float
    time: Any
    measured: dict[str, float | None]


def parse_geojson(
    data: bytes | str | Mapping[str, Any] | list[Any],
    *,
    unit_id: str | None = None,
    mode: Mode,
    source: str = "geojson",
    max_fixes: int | None = None,
) -> ParseResult:
    """Parse a FeatureCollection (or one Feature, or a list of features), as text or already
    loaded. Errors name ``feature N`` (0-based) and, on lines, ``feature N point K``. The unit
    comes from property ``unit_id``/``device_id``, else the ``unit_id`` argument. Times:
    ISO-8601 (naive = UTC) or epoch seconds/milliseconds. A document with more than ``max_fixes``
    positions is one error, counted before any is read (a million-vertex line, a flood of features)."""
    check_mode(mode)
    document, problem = _load(data)
    if problem is not None:
        return ParseResult(empty_fixes(), [problem])
    features, problem = _features(document)
    problem = problem or too_many(sum(_positions(f) for f in features), "positions", max_fixes)
    if problem is not None:
        return ParseResult(empty_fixes(), [problem])
    errors: list[RecordError] = []
    vertices = [v for i, f in enumerate(features) for v in _vertices(i, f, unit_id, errors)]
    time_ms, ok = times_to_ms([v.time for v in vertices])
    rows = FixRows()
    for vertex, vertex_ms, vertex_ok in zip(vertices, time_ms, ok, strict=True):
        if vertex_ok:
            rows.add(vertex.unit_id, int(vertex_ms), vertex.lon, vertex.lat, **vertex.measured)
        else:
            reason = "missing" if vertex.time in (None, "") else f"unreadable: {short(vertex.time)}"
            errors.append(error(vertex.where, "time", reason))
    return ParseResult(rows.frame(source=source, mode=mode), in_document_order(errors))


def _load(data: bytes | str | Mapping[str, Any] | list[Any]) -> tuple[Any, RecordError | None]:
    if isinstance(data, Mapping | list):
        return data, None
    try:
        return json.loads(decode_text(data)), None
    except json.JSONDecodeError as exc:
        return None, error(f"line {exc.lineno}", "json", exc.msg)
    except (ValueError, RecursionError) as exc:
        return None, error("document", "json", str(exc) or type(exc).__name__)


def _features(document: Any) -> tuple[list[Any], RecordError | None]:
    if isinstance(document, Mapping) and document.get("type") == "FeatureCollection":
        features = document.get("features")
        if isinstance(features, list):
            return features, None
        return [], error("document", "features", "a FeatureCollection needs a features list")
    if isinstance(document, Mapping) and document.get("type") == "Feature":
        return [document], None
    if isinstance(document, list):
        return document, None
    return [], error("document", "type", "expected a FeatureCollection or a Feature")


def _positions(feature: Any) -> int:
    """How many positions a feature holds (at least 1: junk features count too), without reading them."""
    geometry = feature.get("geometry") if isinstance(feature, Mapping) else None
    coordinates = geometry.get("coordinates") if isinstance(geometry, Mapping) else None
    kind = geometry.get("type") if isinstance(geometry, Mapping) else None
    if kind in ("LineString", "MultiPoint") and isinstance(coordinates, list):
        return max(1, len(coordinates))
    if kind == "MultiLineString" and isinstance(coordinates, list):
        return max(1, sum(len(line) for line in coordinates if isinstance(line, list)))
    return 1


def _vertices(
    index: int, feature: Any, default_unit: str | None, errors: list[RecordError]
) -> Iterator[_Vertex]:
    where = f"feature {index}"
    if not isinstance(feature, Mapping) or not isinstance(feature.get("geometry"), Mapping):
        errors.append(error(where, "geometry", "not a feature with a geometry"))
        return
    properties = feature.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    unit = _unit(properties, default_unit)
    if unit is None:
        errors.append(error(where, "unit_id", "no unit_id/device_id property and no default"))
        return
    geometry = feature["geometry"]
    kind, coordinates = geometry.get("type"), geometry.get("coordinates")
    if kind == "Point":
        yield from _point_vertex(where, unit, coordinates, properties, errors)
    elif kind in ("LineString", "MultiPoint"):
        yield from _line_vertices(where, unit, coordinates, _vertex_times(properties), errors)
    elif kind == "MultiLineString" and isinstance(coordinates, list):
        times = _vertex_times(properties)
        for li, line in enumerate(coordinates):
            line_times = times[li] if isinstance(times, list) and li < len(times) else None
            yield from _line_vertices(f"{where} line {li}", unit, line, line_times, errors)
    else:
        errors.append(error(where, "geometry", f"unsupported geometry type {short(kind)}"))


def _point_vertex(where: str, unit: str, coordinates: Any, properties: Mapping[str, Any],
                  errors: list[RecordError]) -> Iterator[_Vertex]:
    position = _position(coordinates)
    if isinstance(position, str):
        errors.append(error(where, "coordinates", position))
        return
    lon, lat, altitude = position
    time = next((properties[k] for k in TIME_PROPERTIES if properties.get(k) is not None), None)
    measured = {column: next((number(properties[k]) for k in keys if k in properties), None)
                for column, keys in _MEASUREMENT_PROPERTIES.items()}
    if altitude is not None:
        measured["altitude_m"] = altitude
    yield _Vertex(where, unit, lon, lat, time, measured)


def _line_vertices(where: str, unit: str, coordinates: Any, times: Any,
                   errors: list[RecordError]) -> Iterator[_Vertex]:
    if not isinstance(coordinates, list):
        errors.append(error(where, "coordinates", "not a list of positions"))
        return
    if not isinstance(times, list) or len(times) != len(coordinates):
        found = f"{len(times)} times" if isinstance(times, list) else "none"
        errors.append(error(where, "coordTimes",
                            f"need one time per vertex ({len(coordinates)}), found {found}"))
        return
    for k, (coordinate, time) in enumerate(zip(coordinates, times, strict=True)):
        position = _position(coordinate)
        if isinstance(position, str):
            errors.append(error(f"{where} point {k}", "coordinates", position))
            continue
        lon, lat, altitude = position
        yield _Vertex(f"{where} point {k}", unit, lon, lat, time, {"altitude_m": altitude})


def _position(coordinates: Any) -> tuple[float, float, float | None] | str:
    """(lon, lat, altitude) of a GeoJSON position, or why it is not one."""
    if not isinstance(coordinates, list) or len(coordinates) < 2:
        return "not a [lon, lat] position"
    lon, lat = _json_number(coordinates[0]), _json_number(coordinates[1])
    if lon is None or lat is None:
        return "lon/lat " + number_problem(coordinates[0] if lon is None else coordinates[1])
    return lon, lat, _json_number(coordinates[2]) if len(coordinates) > 2 else None


def _json_number(value: Any) -> float | None:
    return number(value) if isinstance(value, int | float) else None


def _vertex_times(properties: Mapping[str, Any]) -> Any:
    return next((properties[k] for k in VERTEX_TIME_PROPERTIES if k in properties), None)


def _unit(properties: Mapping[str, Any], default_unit: str | None) -> str | None:
    for key in UNIT_PROPERTIES:
        value = properties.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return default_unit

