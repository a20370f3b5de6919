"""GPX 1.0 / 1.1 tracks (Garmin units, phone loggers) to fixes.

Every track and segment is read; timed route points too (some apps save recordings as routes);
waypoints are points of interest, not a track, and are ignored. Speed and course come from the
GPX 1.0 ``<speed>``/``<course>`` elements or, in 1.1, from extensions such as Garmin's
TrackPointExtension (``gpxtpx:speed``, ``gpxtpx:course``) or OsmAnd's ``osmand:speed``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree.ElementTree import Element

import gpxpy
import gpxpy.gpx

from geo.schema import Mode, ParseResult, RecordError, empty_fixes
from geo.tracks._common import FixRows, check_mode, decode_text, error, number, too_many

_GPX_ROOT = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?gpx[\s>/]")
_POINT_TAG = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?(?:trk|rte)pt[\s>/]")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
#: Extension element local names (lower case) -> fix column.
_EXTENSION_FIELDS = {
    "speed": "speed_mps",
    "course": "bearing_deg",
    "bearing": "bearing_deg",
    "heading": "bearing_deg",
    "accuracy": "accuracy_m",
    "hacc": "accuracy_m",
    "battery": "battery_pct",
}


def parse_gpx(data: bytes | str, *, unit_id: str, mode: Mode, source: str = "gpx",
              max_fixes: int | None = None) -> ParseResult:
    """Parse a GPX document; points lacking a time are errors (``track i segment j point k``,
    0-based). Malformed XML gives one error at ``line N``. Coordinates are left in the file's
    datum (run ``geo.datum.to_wgs84`` after). More than ``max_fixes`` track and route points is
    one error, counted before the XML is parsed."""
    check_mode(mode)
    document, problem = _read_document(data, max_fixes)
    if document is None:
        return ParseResult(empty_fixes(), [problem] if problem else [])
    rows, errors = FixRows(), []
    for where, point in _timed_points(document, errors):
        _add_point(rows, unit_id, point, where, errors)
    return ParseResult(rows.frame(source=source, mode=mode), errors)


def _read_document(data: bytes | str,
                   max_fixes: int | None) -> tuple[gpxpy.gpx.GPX | None, RecordError | None]:
    text = decode_text(data)
    if not _GPX_ROOT.search(text):
        return None, error("document", "gpx", "not a GPX document (no <gpx> element)")
    problem = too_many(len(_POINT_TAG.findall(text)), "track and route points", max_fixes)
    if problem is not None:
        return None, problem
    try:
        return gpxpy.parse(text), None
    except gpxpy.gpx.GPXXMLSyntaxException as exc:
        position = getattr(exc.__cause__, "position", None)
        where = f"line {position[0]}" if position else "document"
        return None, error(where, "xml", str(exc.__cause__ or exc))
    except Exception as exc:  # gpxpy raises bare Exception/ValueError for bad attribute values
        return None, error("document", "gpx", str(exc) or type(exc).__name__)


def _timed_points(
    document: gpxpy.gpx.GPX, errors: list[RecordError]
) -> Iterator[tuple[str, Any]]:
    """(where, point) for every track point (errors for untimed ones) and timed route point."""
    for ti, track in enumerate(document.tracks):
        for si, segment in enumerate(track.segments):
            for pi, point in enumerate(segment.points):
                where = f"track {ti} segment {si} point {pi}"
                if point.time is None:
                    errors.append(error(where, "time", "missing or unreadable time"))
                else:
                    yield where, point
    for ri, route in enumerate(document.routes):
        for pi, point in enumerate(route.points):
            if point.time is not None:
                yield f"route {ri} point {pi}", point


def _add_point(rows: FixRows, unit_id: str, point: Any, where: str,
               errors: list[RecordError]) -> None:
    lon, lat = number(point.longitude), number(point.latitude)
    if lon is None or lat is None:
        errors.append(error(where, "lon" if lon is None else "lat", "missing or not a number"))
        return
    time = point.time if point.time.tzinfo else point.time.replace(tzinfo=UTC)
    try:
        time_ms = (time - _EPOCH) // _ONE_MS
    except (OverflowError, ValueError) as exc:
        errors.append(error(where, "time", str(exc)))
        return
    measured = dict(_extension_values(getattr(point, "extensions", None) or []))
    speed = getattr(point, "speed", None)
    course = getattr(point, "course", None)
    rows.add(
        unit_id, time_ms, lon, lat,
        speed_mps=number(speed) if speed is not None else measured.get("speed_mps"),
        bearing_deg=number(course) if course is not None else measured.get("bearing_deg"),
        altitude_m=number(point.elevation),
        accuracy_m=measured.get("accuracy_m"),
        battery_pct=measured.get("battery_pct"),
    )


def _extension_values(extensions: Iterable[Element]) -> Iterator[tuple[str, float]]:
    """(fix column, value) for known leaf elements anywhere under a point's extensions."""
    for root in extensions:
        for element in root.iter():
            tag = element.tag if isinstance(element.tag, str) else ""
            column = _EXTENSION_FIELDS.get(tag.rsplit("}", 1)[-1].split(":")[-1].lower())
            value = number(element.text)
            if column is not None and value is not None:
                yield column, value
