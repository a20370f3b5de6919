"""geo.tracks.gpx on hand-written Garmin, GPSLogger (GPX 1.0) and OsmAnd files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.schema import ParseResult, check_fixes
from geo.tracks import parse_gpx

DATA = Path(__file__).resolve().parents[1] / "data"


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def test_garmin_reads_every_track_and_segment_and_names_the_untimed_point() -> None:
    result = parse_gpx((DATA / "garmin_etrex_gpx11.gpx").read_bytes(), unit_id="ranger-03",
                       mode="foot")
    fixes = check_fixes(result.fixes)
    assert len(fixes) == 7  # 3 + 2 points in track 0, 2 timed of 3 in track 1; no waypoint
    assert [str(e) for e in result.errors] == [
        "track 1 segment 0 point 1: time: missing or unreadable time"]
    assert fixes["time_ms"].tolist() == [
        ms(2024, 5, 1, 8, 0, 3), ms(2024, 5, 1, 8, 0, 13), ms(2024, 5, 1, 8, 0, 23),
        ms(2024, 5, 1, 8, 20, 41), ms(2024, 5, 1, 8, 20, 51),
        ms(2024, 5, 1, 9, 1, 10), ms(2024, 5, 1, 9, 1, 30)]
    assert fixes.loc[0, ["lon", "lat", "altitude_m"]].tolist() == [119.49, 29.501, 405.2]
    assert fixes["speed_mps"].tolist()[:2] == [1.21, 1.18]  # gpxtpx:speed, not gpxtpx:atemp
    assert fixes["bearing_deg"].tolist()[:2] == [45.0, 44.0]
    assert np.isnan(fixes.loc[2, "speed_mps"])
    assert set(fixes["unit_id"]) == {"ranger-03"}
    assert set(fixes["mode"]) == {"foot"} and set(fixes["source"]) == {"gpx"}


def test_gpx10_speed_course_and_zoned_times() -> None:
    result = parse_gpx((DATA / "gpslogger_gpx10.gpx").read_text(encoding="utf-8"),
                       unit_id="u", mode="vehicle", source="upload")
    fixes = result.fixes
    assert result.errors == []
    assert fixes["time_ms"].tolist() == [
        ms(2024, 5, 1, 0, 0, 5), ms(2024, 5, 1, 0, 0, 15) + 250,
        ms(2024, 5, 1, 0, 0, 25),  # 08:00:25+08:00
        ms(2024, 5, 1, 0, 10, 0)]  # from the second <trk>
    assert fixes["speed_mps"].tolist()[:3] == [1.4, 1.5, 1.3]
    assert fixes["bearing_deg"].tolist()[:2] == [270.0, 268.5]
    assert np.isnan(fixes.loc[2, "bearing_deg"])
    assert set(fixes["source"]) == {"upload"}


def test_osmand_extensions_give_speed_and_heading() -> None:
    fixes = parse_gpx((DATA / "osmand_gpx11.gpx").read_bytes(), unit_id="u", mode="boat").fixes
    assert fixes["speed_mps"].tolist() == [3.9, 4.1]
    assert fixes["bearing_deg"].tolist() == [121.0, 118.0]
    assert fixes["time_ms"].tolist() == [ms(2024, 5, 1, 23, 15, 2), ms(2024, 5, 1, 23, 15, 12)]


def test_gbk_declared_file_and_naive_times_read_as_utc() -> None:
    text = ('<?xml version="1.0" encoding="GBK"?>\n<gpx version="1.1" creator="两步路" '
            'xmlns="http://www.topografix.com/GPX/1/1"><trk><name>巡护</name><trkseg>'
            '<trkpt lat="29.5" lon="119.5"><time>2024-05-01T08:00:00</time></trkpt>'
            '</trkseg></trk></gpx>')
    result = parse_gpx(text.encode("gbk"), unit_id="u", mode="foot")
    assert result.errors == []
    assert result.fixes["time_ms"].tolist() == [ms(2024, 5, 1, 8, 0, 0)]


def test_timed_route_points_count_and_untimed_ones_are_silent() -> None:
    text = ('<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><rte>'
            '<rtept lat="29.5" lon="119.5"><time>2024-05-01T08:00:00Z</time></rtept>'
            '<rtept lat="29.6" lon="119.6"/></rte></gpx>')
    result = parse_gpx(text, unit_id="u", mode="foot")
    assert result.errors == []
    assert result.fixes["lat"].tolist() == [29.5]


def test_malformed_xml_is_one_error_with_its_line() -> None:
    text = (DATA / "garmin_etrex_gpx11.gpx").read_text(encoding="utf-8")
    broken = text.replace("</trkpt>", "</trkpoint>", 1)
    line = broken[: broken.index("</trkpoint>")].count("\n") + 1
    result = parse_gpx(broken, unit_id="u", mode="foot")
    assert len(result.fixes) == 0
    assert len(result.errors) == 1
    assert result.errors[0].where == f"line {line}"
    assert result.errors[0].field == "xml"


@pytest.mark.parametrize("text", ["", "not xml at all", "<html><body/></html>", "<gpx"])
def test_documents_that_are_not_gpx(text: str) -> None:
    result = parse_gpx(text, unit_id="u", mode="foot")
    assert len(result.fixes) == 0
    assert len(result.errors) == 1


def test_bad_coordinate_attribute_is_an_error_not_an_exception() -> None:
    text = ('<gpx version="1.1"><trk><trkseg><trkpt lat="north" lon="119.5">'
            '<time>2024-05-01T08:00:00Z</time></trkpt></trkseg></trk></gpx>')
    result = parse_gpx(text, unit_id="u", mode="foot")
    assert len(result.fixes) == 0 and len(result.errors) == 1


def test_unknown_mode_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="mode"):
        parse_gpx("<gpx/>", unit_id="u", mode="horse")  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300),
                 st.text(max_size=200).map(lambda t: f"<gpx><trk><trkseg>{t}</trkseg></trk></gpx>")))
def test_never_raises_on_arbitrary_input(data: bytes | str) -> None:
    result = parse_gpx(data, unit_id="u", mode="foot")
    assert isinstance(result, ParseResult)
    check_fixes(result.fixes)
