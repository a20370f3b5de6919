"""geo.tracks.csv: Chinese headers, delimiters, encodings, time forms, line-numbered errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.schema import ParseResult, check_fixes
from geo.tracks import parse_csv

DATA = Path(__file__).resolve().parents[1] / "data"
BEIJING = timezone(timedelta(hours=8))


def ms(*args: int, tz=UTC) -> int:
    return int(datetime(*args, tzinfo=tz).timestamp() * 1000)


def test_chinese_export_with_semicolons_bom_and_crlf() -> None:
    result = parse_csv((DATA / "ranger_export_zh.csv").read_bytes(), mode="foot",
                       timezone="Asia/Shanghai")
    fixes = check_fixes(result.fixes)
    assert [str(e) for e in result.errors] == [
        "line 4: lon: missing",
        "line 8: time: unreadable time: '2024/05/01 25:00:35'",
    ]
    assert fixes["unit_id"].tolist() == ["护林员-07"] * 3 + ["巡逻艇-2"] * 2
    assert fixes["time_ms"].tolist() == [
        ms(2024, 5, 1, 8, 0, 0, tz=BEIJING), ms(2024, 5, 1, 8, 0, 30, tz=BEIJING),
        ms(2024, 5, 1, 8, 1, 30, tz=BEIJING), ms(2024, 5, 1, 8, 0, 5, tz=BEIJING),
        ms(2024, 5, 1, 8, 1, 5, tz=BEIJING)]
    assert fixes["lon"].tolist()[:2] == [119.493201, 119.493650]
    assert fixes["speed_mps"].tolist()[0] == pytest.approx(1.0)  # 速度 is km/h: 3.6 km/h
    assert fixes["bearing_deg"].tolist()[0] == 90.0
    assert fixes["altitude_m"].tolist()[0] == 402.5
    assert fixes["battery_pct"].tolist()[0] == 88.0


def test_gb18030_encoded_export_reads_the_same() -> None:
    text = (DATA / "ranger_export_zh.csv").read_text(encoding="utf-8-sig")
    utf8 = parse_csv(text, mode="foot", timezone="Asia/Shanghai")
    gbk = parse_csv(text.encode("gb18030"), mode="foot", timezone="Asia/Shanghai")
    assert gbk.fixes.equals(utf8.fixes)
    assert gbk.errors == utf8.errors


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(sep: str) -> None:
    text = sep.join(["device", "timestamp", "latitude", "longitude"]) + "\n" + sep.join(
        ["d1", "2024-05-01T08:00:00Z", "29.5", "119.5"]) + "\n"
    result = parse_csv(text, mode="foot")
    assert result.errors == []
    assert result.fixes[["unit_id", "time_ms", "lat", "lon"]].values.tolist() == [
        ["d1", ms(2024, 5, 1, 8, 0, 0), 29.5, 119.5]]


def test_epoch_seconds_and_milliseconds_and_zoned_iso() -> None:
    text = ("lat,lng,time\n29.5,119.5,1714550400\n29.5,119.5,1714550400123\n"
            "29.5,119.5,2024-05-01T16:00:00+08:00\n29.5,119.5,2024-05-01T08:00:00.5Z\n")
    result = parse_csv(text, mode="foot", unit_id="u", timezone="Asia/Shanghai")
    base = ms(2024, 5, 1, 8, 0, 0)
    assert result.fixes["time_ms"].tolist() == [base, base + 123, base, base + 500]
    assert set(result.fixes["unit_id"]) == {"u"}


def test_columns_mapping_and_time_format() -> None:
    text = "X;Y;when;who;kmh\n119,5;29,5;01.05.2024 08:00;boat 1;36\n"
    result = parse_csv(text, mode="boat",
                       columns={"lon": "X", "lat": "Y", "time": "when", "unit_id": "who",
                                "speed_kmh": "kmh"},
                       time_format="%d.%m.%Y %H:%M", timezone="Asia/Shanghai")
    assert result.errors == []
    row = result.fixes.iloc[0]
    assert (row["lon"], row["lat"], row["unit_id"]) == (119.5, 29.5, "boat 1")
    assert row["time_ms"] == ms(2024, 5, 1, 8, 0, tz=BEIJING)
    assert row["speed_mps"] == pytest.approx(10.0)


def test_unit_cell_falls_back_to_the_argument() -> None:
    text = "unit,time,lat,lon\n,2024-05-01T08:00:00Z,29.5,119.5\nu2,2024-05-01T08:00:00Z,29.5,119.5\n"
    assert parse_csv(text, mode="foot", unit_id="u1").fixes["unit_id"].tolist() == ["u1", "u2"]
    result = parse_csv(text, mode="foot")
    assert [str(e) for e in result.errors] == ["line 2: unit_id: missing"]


def test_numeric_unit_ids_stay_text() -> None:
    text = "imei,time,lat,lon\n0086123456789012,1714550400,29.5,119.5\n"
    assert parse_csv(text, mode="foot").fixes["unit_id"].tolist() == ["0086123456789012"]


def test_missing_columns_are_header_errors() -> None:
    result = parse_csv("name,lat,lon\na,1,2\n", mode="foot", unit_id="u")
    assert [(e.where, e.field) for e in result.errors] == [("line 1", "time")]
    result = parse_csv("time,lat,lon\n1714550400,1,2\n", mode="foot")
    assert [(e.where, e.field) for e in result.errors] == [("line 1", "unit_id")]
    result = parse_csv("t,lat,lon\n", mode="foot", unit_id="u", columns={"time": "zeit"})
    assert [(e.where, e.field) for e in result.errors] == [("line 1", "time")]


def test_row_with_extra_fields_and_header_after_blank_lines() -> None:
    text = "\n\nunit,time,lat,lon\nu,1714550400,29.5,119.5\nu,1714550410,29.5,119.5,9\nu,1714550420,x,119.5\n"
    result = parse_csv(text, mode="foot")
    assert [str(e) for e in result.errors] == ["line 5: row: expected 4 fields, saw 5",
                                               "line 6: lat: unreadable lat: 'x'"]
    assert result.fixes["time_ms"].tolist() == [1_714_550_400_000]


def test_empty_and_header_only() -> None:
    assert [e.field for e in parse_csv("", mode="foot").errors] == ["header"]
    result = parse_csv("unit,time,lat,lon\n", mode="foot")
    assert result.errors == [] and len(result.fixes) == 0
    check_fixes(result.fixes)


def test_caller_errors_raise() -> None:
    with pytest.raises(ValueError, match="colour"):
        parse_csv("a\n", mode="foot", columns={"colour": "a"})
    with pytest.raises(ValueError, match="time zone"):
        parse_csv("a\n", mode="foot", timezone="Asia/Beijing")


def test_large_file_is_parsed_column_wise() -> None:
    n = 20_000
    times = 1_714_550_400 + np.arange(n)
    body = "\n".join(f"u{i % 7},{t},{29.5 + i * 1e-6:.6f},119.5" for i, t in enumerate(times))
    result = parse_csv("device,time,lat,lon\n" + body + "\n", mode="vehicle")
    assert len(result.fixes) == n and result.errors == []
    assert result.fixes["time_ms"].to_numpy().tolist() == (times * 1000).tolist()


CSV_ISH = st.text(alphabet='0123456789,;.-+:TZ /\n\r"x\t', max_size=400)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300),
                 st.text(max_size=300).map(lambda t: "unit;time;lat;lon\n" + t),
                 CSV_ISH.map(lambda t: "unit,time,lat,lon\n" + t), CSV_ISH))
def test_never_raises_on_arbitrary_input(data: bytes | str) -> None:
    result = parse_csv(data, mode="foot", unit_id="u")
    assert isinstance(result, ParseResult)
    check_fixes(result.fixes)


def test_compact_numeric_datetimes_from_platform_exports() -> None:
    text = "终端号,GPS时间,经度,纬度\n1001,20240501080000,119.5,29.5\n1001,20240501080010,119.5,29.5\n"
    result = parse_csv(text, mode="vehicle", timezone="Asia/Shanghai")
    base = ms(2024, 5, 1, 8, 0, 0, tz=BEIJING)
    assert result.fixes["time_ms"].tolist() == [base, base + 10_000]
    assert result.fixes["unit_id"].tolist() == ["1001", "1001"]


def test_excel_unicode_text_export_is_utf16_with_tabs() -> None:
    text = "设备\t时间\t纬度\t经度\r\nr1\t2024-05-01T08:00:00Z\t29.5\t119.5\r\n"
    result = parse_csv(text.encode("utf-16"), mode="foot")
    assert result.errors == []
    assert result.fixes[["unit_id", "lat", "lon"]].values.tolist() == [["r1", 29.5, 119.5]]
