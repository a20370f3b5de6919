"""Hypothesis strategies for hostile track input (shared by the parser tests and the HTTP tests):
odd scalars (NaN, inf, huge integers, odd unicode), structured-but-wrong documents for each format,
byte-level mutations of real files, and the parsers' contract as an assertion."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
from hypothesis import strategies as st

from geo.schema import ParseResult, check_fixes
from geo.tracks.csv import COLUMN_GUESSES

#: where an error may point: the parts of a document each parser names
WHERE = re.compile(r"^(document|request|line \d+|(feature|message|location|track|route) \d+|location)"
                   r"( (segment|line|point) \d+)*$")


# --- values and documents ------------------------------------------------------------------------------

HUGE_INTS = st.sampled_from([2**63, -(2**63) - 1, 10**30, 10**400, -(10**400)])
ODD_FLOATS = st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0])
ODD_TEXT = st.sampled_from(["", " ", "NaN", "inf", "-Infinity", "1e400", "0x1F", "١٢٣", "１２３", "\ufeff12",
                            "12,5", "2024-13-45T25:61:00Z", "9999-12-31T23:59:59+14:00", "0001-01-01",
                            "\x00", "🐟", "北纬29度", "null", "true", "[]", "{}", "1" * 400, "-", "."])
SCALARS = st.one_of(HUGE_INTS, ODD_FLOATS, ODD_TEXT, st.none(), st.booleans(), st.integers(), st.floats(),
                    st.text(max_size=20))
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)
#: a wrong value for a known field: mostly scalars (where the parsers' number and time reading is hit)
WILD = st.one_of(SCALARS, JSON_VALUES)


def _record(keys: list[str], good: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A record with each key kept (good value), dropped, or given a wild value."""
    return st.fixed_dictionaries({}, optional={
        k: st.one_of(st.just(good[k]), WILD) if k in good else WILD for k in keys})


GOOD_POINT_PROPS = {"device_id": "GT-1", "time": "2024-05-01T08:00:00+08:00", "speed": 1.2, "battery": 70}
POSITIONS = st.one_of(st.just([119.5, 29.5]), st.lists(SCALARS, max_size=4), SCALARS,
                      st.tuples(ODD_FLOATS | HUGE_INTS, st.floats()).map(list))
GEOMETRIES = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["Point", "LineString", "MultiPoint", "MultiLineString", "Polygon", 5, None]),
    "coordinates": st.one_of(POSITIONS, st.lists(POSITIONS, max_size=4),
                             st.lists(st.lists(POSITIONS, max_size=3), max_size=3)),
})
FEATURES = st.one_of(JSON_VALUES, st.fixed_dictionaries({}, optional={
    "type": st.just("Feature"),
    "geometry": st.one_of(GEOMETRIES, JSON_VALUES),
    "properties": st.one_of(_record(["device_id", "unit_id", "time", "timestamp", "t", "speed",
                                     "battery", "coordTimes", "times", "accuracy"], GOOD_POINT_PROPS),
                            JSON_VALUES),
}))
GEOJSON_DOCUMENTS = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["FeatureCollection", "Feature", "Point", 7])},
                          optional={"features": st.one_of(st.lists(FEATURES, max_size=5), JSON_VALUES)}),
    st.lists(FEATURES, max_size=5), JSON_VALUES)

GOOD_OSMAND = {"id": "862345", "timestamp": "1714550400", "lat": "29.5", "lon": "119.5", "speed": "3",
               "valid": "true", "location": "29.5,119.5"}
GOOD_OWNTRACKS = {"_type": "location", "lat": 29.5, "lon": 119.5, "tst": 1714550400, "tid": "p1",
                  "topic": "owntracks/user/phone", "vel": 4, "acc": 10, "batt": 80, "cog": 90, "alt": 300}


def osmand_params(good: dict[str, str] = GOOD_OSMAND) -> st.SearchStrategy[dict[str, str]]:
    """Query or form fields of Traccar Client: each kept, dropped or odd text, plus stray ones."""
    odd = st.one_of(ODD_TEXT, st.text(max_size=30))
    keys = [*good, "deviceid", "batt", "bearing", "altitude", "accuracy", "heading"]
    return st.fixed_dictionaries({}, optional={k: st.one_of(st.just(good[k]), odd) if k in good else odd
                                               for k in keys})


def osmand_bodies(device: str = "862345", lon: float = 119.5, lat: float = 29.5,
                  timestamp: str = "2024-05-01T08:00:00Z") -> st.SearchStrategy[Any]:
    """Traccar Client 9 JSON bodies: one location or a list, fields kept, dropped or wild."""
    locations = st.one_of(JSON_VALUES, st.fixed_dictionaries({}, optional={
        "timestamp": st.one_of(st.just(timestamp), SCALARS),
        "coords": st.one_of(_record(["latitude", "longitude", "speed", "heading", "accuracy", "altitude"],
                                    {"latitude": lat, "longitude": lon, "speed": -1}), JSON_VALUES),
        "battery": st.one_of(_record(["level"], {"level": 0.5}), JSON_VALUES),
    }))
    return st.one_of(JSON_VALUES, st.fixed_dictionaries({}, optional={
        "device_id": st.one_of(st.just(device), SCALARS),
        "location": st.one_of(locations, st.lists(locations, max_size=4)),
    }))


def owntracks_bodies(good: dict[str, Any] = GOOD_OWNTRACKS) -> st.SearchStrategy[Any]:
    """OwnTracks payloads: one message or a list, each a location with fields kept, dropped or wild."""
    messages = st.one_of(JSON_VALUES, _record(list(good), good))
    return st.one_of(messages, st.lists(messages, max_size=5))


@st.composite
def mutated(draw: st.DrawFn, documents: list[bytes]) -> bytes:
    """A real document with a few byte-level edits: flips, deletions, insertions, truncation, a BOM."""
    data = bytearray(draw(st.sampled_from(documents)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "duplicate"]))
        if edit == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif edit == "delete":
            del data[at:at + draw(st.integers(1, 40))]
        elif edit == "insert":
            data[at:at] = draw(st.one_of(st.binary(max_size=8), st.sampled_from(
                [b'"', b"<", b">", b"</trkpt>", b"<trkpt lat=\"NaN\" lon=\"1e999\">", b";", b",", b"\t",
                 b"\r", b"\n", b"{", b"]", b"\\u0000", b"\xef\xbb\xbf", "经度".encode()])))
        elif edit == "truncate":
            del data[at:]
        elif edit == "duplicate":
            data[at:at] = data[max(0, at - 60):at]
    if draw(st.booleans()):
        data[:0] = draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00"]))
    return bytes(data)


@st.composite
def gpx_documents(draw: st.DrawFn) -> str:
    """Well-formed GPX whose points carry wrong values: odd coordinates, times, elevations, extensions."""
    version = draw(st.sampled_from(["1.0", "1.1"]))
    points = []
    for _ in range(draw(st.integers(0, 4))):
        lat, lon = draw(st.one_of(st.just("29.5"), ODD_TEXT)), draw(st.one_of(st.just("119.5"), ODD_TEXT))
        time = draw(st.one_of(st.just("2024-05-01T08:00:00Z"), ODD_TEXT, st.none()))
        ele = draw(st.one_of(st.none(), ODD_TEXT))
        speed = draw(st.one_of(st.none(), ODD_TEXT))
        body = "".join([f"<ele>{_xml(ele)}</ele>" if ele is not None else "",
                        f"<time>{_xml(time)}</time>" if time is not None else "",
                        f"<speed>{_xml(speed)}</speed>" if speed is not None and version == "1.0" else "",
                        f"<extensions><speed>{_xml(speed)}</speed></extensions>"
                        if speed is not None and version == "1.1" else ""])
        points.append(f'<trkpt lat="{_xml(lat)}" lon="{_xml(lon)}">{body}</trkpt>')
    track = f"<trk><trkseg>{''.join(points)}</trkseg></trk>"
    route = "".join(p.replace("trkpt", "rtept") for p in points) if draw(st.booleans()) else ""
    route = f"<rte>{route}</rte>" if route else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><gpx version="{version}" creator="fuzz" '
            f'xmlns="http://www.topografix.com/GPX/{version.replace(".", "/")}">{track}{route}</gpx>')


def _xml(text: str) -> str:
    cleaned = "".join(c for c in text if c in "\t\n\r" or (c >= " " and c not in "\ufffe\uffff"))
    return cleaned.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


CSV_HEADERS = st.lists(st.one_of(st.sampled_from([g for guesses in COLUMN_GUESSES.values() for g in guesses]),
                                 st.text(max_size=10)), min_size=1, max_size=8)


@st.composite
def csv_documents(draw: st.DrawFn) -> bytes:
    """A header of real or odd column names, rows of odd cells, any delimiter, BOM and encoding."""
    header = draw(CSV_HEADERS)
    sep = draw(st.sampled_from([",", ";", "\t", "|", " ", ":"]))
    cell = st.one_of(st.sampled_from(["119.5", "29.5", "2024-05-01 08:00:00", "1714550400", "护林员-07"]),
                     ODD_TEXT, st.text(max_size=12), st.integers().map(str), st.floats().map(repr))
    rows = draw(st.lists(st.lists(cell, max_size=len(header) + 2), max_size=6))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(sep.join(line) for line in [header, *rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "gb18030"]))
    return text.encode(encoding, errors="replace")


# --- the contract ----------------------------------------------------------------------------------------

def assert_contract(result: ParseResult) -> None:
    """Well-typed fixes with finite positions; every error says where, which field and why."""
    check_fixes(result.fixes)
    assert np.isfinite(result.fixes["lon"].to_numpy()).all()
    assert np.isfinite(result.fixes["lat"].to_numpy()).all()
    assert result.fixes["unit_id"].map(lambda u: isinstance(u, str) and u != "").all()
    for e in result.errors:
        assert WHERE.match(e.where), e
        assert e.field and e.reason and isinstance(e.reason, str), e
