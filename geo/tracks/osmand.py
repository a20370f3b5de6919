"""The OsmAnd protocol as spoken by Traccar Client (and OsmAnd's live tracking).

Two shapes: query-string/form fields (``id``, ``timestamp``, ``lat``, ``lon``, ``speed`` in
knots, ...) and, from Traccar Client 9, a JSON body ``{"device_id", "location": {"timestamp",
"coords": {...}, "battery": {...}}}`` with speed in m/s. The unit is the device id (the app
maps devices to units) and the mode is left blank for the app to fill.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geo.schema import ParseResult, RecordError
from geo.tracks._common import KNOTS_TO_MPS, FixRows, error, number, number_problem, short
from geo.tracks._time import time_to_ms

_FALSE = {"false", "0", "no"}


def parse_osmand(
    params: Mapping[str, str] | None = None,
    json_body: Mapping[str, Any] | list[Any] | None = None,
    *,
    source: str = "osmand",
) -> ParseResult:
    """Parse one request: ``json_body`` if given (its ``location`` may be a list), else
    ``params``. Errors name ``request`` or ``location N``. Naive times are read as UTC."""
    rows, errors = FixRows(), []
    params = params or {}
    if json_body is not None:
        for where, location, device in _json_locations(json_body, params, errors):
            _add_json(rows, errors, where, location, device)
    elif params:
        _add_params(rows, errors, params)
    else:
        errors.append(error("request", "body", "no parameters and no JSON body"))
    return ParseResult(rows.frame(source=source, mode=""), errors)


def _add_params(rows: FixRows, errors: list[RecordError], params: Mapping[str, str]) -> None:
    where = "request"
    device = _text(params.get("id")) or _text(params.get("deviceid"))
    lat_raw, lon_raw = params.get("lat"), params.get("lon")
    if (lat_raw is None or lon_raw is None) and isinstance(params.get("location"), str):
        lat_raw, _, lon_raw = params["location"].partition(",")
    problems = _required(where, device, params.get("timestamp"), lat_raw, lon_raw)
    if str(params.get("valid", "true")).strip().lower() in _FALSE:
        problems.append(error(where, "valid", "the device marks this fix invalid"))
    if problems:
        errors.extend(problems)
        return
    speed_knots = number(params.get("speed"))
    rows.add(
        device, time_to_ms(params["timestamp"]), number(lon_raw), number(lat_raw),
        speed_mps=None if speed_knots is None else speed_knots * KNOTS_TO_MPS,
        bearing_deg=_first_number(params, "bearing", "heading", "course"),
        altitude_m=number(params.get("altitude")),
        accuracy_m=number(params.get("accuracy")),
        battery_pct=_first_number(params, "batt", "battery"),
    )


def _json_locations(
    body: Any, params: Mapping[str, str], errors: list[RecordError]
) -> list[tuple[str, Any, str | None]]:
    """(where, location, device id) for each location in the body."""
    if not isinstance(body, Mapping):
        errors.append(error("request", "body", "JSON body is not an object"))
        return []
    device = (_text(body.get("device_id")) or _text(params.get("id"))
              or _text(params.get("deviceid")))
    location = body.get("location")
    if location == []:
        errors.append(error("request", "location", "an empty list of locations"))
    if isinstance(location, list):
        return [(f"location {i}", item, device) for i, item in enumerate(location)]
    return [("location", location, device)]


def _add_json(rows: FixRows, errors: list[RecordError], where: str, location: Any,
              device: str | None) -> None:
    if not isinstance(location, Mapping) or not isinstance(location.get("coords"), Mapping):
        errors.append(error(where, "coords", "location lacks a coords object"))
        return
    coords = location["coords"]
    timestamp = location.get("timestamp")
    problems = _required(where, device, timestamp, coords.get("latitude"), coords.get("longitude"))
    if problems:
        errors.extend(problems)
        return
    battery = location.get("battery")
    level = number(battery.get("level")) if isinstance(battery, Mapping) else None
    rows.add(
        device, time_to_ms(timestamp), number(coords["longitude"]), number(coords["latitude"]),
        speed_mps=_non_negative(coords.get("speed")),
        bearing_deg=_non_negative(coords.get("heading")),
        altitude_m=number(coords.get("altitude")),
        accuracy_m=_non_negative(coords.get("accuracy")),
        battery_pct=None if level is None or level < 0 else level * 100.0,
    )


def _required(where: str, device: str | None, timestamp: Any, lat: Any,
              lon: Any) -> list[RecordError]:
    problems = []
    if not device:
        problems.append(error(where, "id", "missing device id"))
    if time_to_ms(timestamp) is None:
        reason = "missing" if timestamp in (None, "") else f"unreadable: {short(timestamp)}"
        problems.append(error(where, "timestamp", reason))
    for name, value in (("lat", lat), ("lon", lon)):
        if number(value) is None:
            problems.append(error(where, name, number_problem(value)))
    return problems


def _first_number(params: Mapping[str, str], *keys: str) -> float | None:
    return next((number(params[k]) for k in keys if number(params.get(k)) is not None), None)


def _non_negative(value: Any) -> float | None:
    """Background-geolocation SDKs send -1 for 'unknown' speed, heading and accuracy."""
    result = number(value)
    return None if result is None or result < 0 else result


def _text(value: Any) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()
    return None
