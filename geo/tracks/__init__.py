"""Track parsers: each turns one input (file or request) into a ``geo.schema.ParseResult``.

Parsers never raise for bad data, never read the clock, and leave coordinates in the input's
datum (``geo.datum.to_wgs84`` converts).
"""

from geo.tracks.csv import parse_csv
from geo.tracks.geojson import parse_geojson
from geo.tracks.gpx import parse_gpx
from geo.tracks.osmand import parse_osmand
from geo.tracks.owntracks import OwnTracksResult, is_location, parse_owntracks

__all__ = [
    "OwnTracksResult",
    "is_location",
    "parse_csv",
    "parse_geojson",
    "parse_gpx",
    "parse_osmand",
    "parse_owntracks",
]
