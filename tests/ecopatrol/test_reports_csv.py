"""Partners' spreadsheets: every row's problem with line, field and reason; a dry run or a file with bad
rows imports nothing (unless --skip-bad); re-importing never duplicates; Excel's encodings."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from ecopatrol.cli_reports import reports_app
from ecopatrol.reports.csv_import import CsvImportError, RowProblem, import_reports_csv
from ecopatrol.runtime import Runtime
from ecopatrol.store.reports_schema import reports
from tests.ecopatrol.helpers_reports import NEAR_RIVER, WEST_TOWNSHIP, load_county

HEADER = "category,observed_at,lon,lat,place_name,description,shots_heard,method,boat,reporter_name"
GOOD = [
    f"firearm,2025-11-20 07:30,{NEAR_RIVER[0]},{NEAR_RIVER[1]},,枪声两响,2,,,李四",
    f"illegal_fishing,2025-11-19T22:10:00+08:00,{NEAR_RIVER[0]},{NEAR_RIVER[1]},,夜里拉网,,net,是,",
    f"snare,2025/11/18 16:00,,,{WEST_TOWNSHIP},山脚发现猎套,,,,",
]
BAD = [
    (f"firearm,2025-11-20 07:30,{NEAR_RIVER[0]},{NEAR_RIVER[1]},,,2,net,,", "method", "does not belong"),
    (f"littering,2025-11-20 07:30,{NEAR_RIVER[0]},{NEAR_RIVER[1]},,,,,,", "category", "unknown category"),
    (f"firearm,next tuesday,{NEAR_RIVER[0]},{NEAR_RIVER[1]},,,1,,,", "observed_at", "not a time"),
    ("firearm,2025-11-20 07:30,116.4,39.9,,,1,,,", "lon,lat", "outside the county"),
    (f"firearm,2031-01-01 00:00,{NEAR_RIVER[0]},{NEAR_RIVER[1]},,,1,,,", "observed_at", "future"),
    (f"firearm,2025-11-20 07:30,{NEAR_RIVER[0]},,,,1,,,", "lat", "empty"),
    ("firearm,2025-11-20 07:30,,,火星,,1,,,", "place_name", "no township"),
    (f"illegal_fishing,2025-11-20 07:30,{NEAR_RIVER[0]},{NEAR_RIVER[1]},,,,,,", "method", "Field required"),
]


@pytest.fixture
def county(runtime: Runtime, tmp_path: Path) -> Runtime:
    load_county(runtime, tmp_path / "layers")
    return runtime


def _write(path: Path, rows: list[str], encoding: str = "utf-8", header: str = HEADER) -> Path:
    path.write_bytes(("\n".join([header, *rows]) + "\n").encode(encoding))
    return path


def _stored(runtime: Runtime) -> list[str]:
    with runtime.store.read() as conn:
        return [r.category for r in conn.execute(sa.select(reports.c.category).order_by(reports.c.id))]


def test_good_rows_are_imported_in_one_go(county: Runtime, tmp_path: Path) -> None:
    result = import_reports_csv(county, _write(tmp_path / "ok.csv", GOOD), org="县林业站")
    assert result.problems == []
    assert (result.rows, result.valid, result.imported) == (3, 3, 3)
    assert _stored(county) == ["firearm", "illegal_fishing", "snare"]
    with county.store.read() as conn:
        rows = conn.execute(sa.select(reports).order_by(reports.c.id)).fetchall()
    assert {r.org for r in rows} == {"县林业站"} and {r.channel for r in rows} == {"csv"}
    assert rows[1].details == '{"method": "net", "boat": true}'
    assert rows[0].reporter_name == "李四"
    assert rows[0].observed_offset_min == 8 * 60  # a time without a zone is the deployment's local time
    assert rows[2].location_source == "township"


def test_a_dry_run_lists_every_problem_and_imports_nothing(county: Runtime, tmp_path: Path) -> None:
    path = _write(tmp_path / "mixed.csv", GOOD + [row for row, _, _ in BAD])
    result = import_reports_csv(county, path, dry_run=True)
    assert _stored(county) == []
    assert result.imported == 0 and result.valid == 3
    by_line = {p.line: p for p in result.problems}
    first_bad_line = 2 + len(GOOD)  # line 1 is the header
    for i, (_, field, reason) in enumerate(BAD):
        problem = by_line[first_bad_line + i]
        assert problem.field == field, problem
        assert reason in problem.reason, problem
    assert "dry run" in result.lines()[-1]


def test_a_real_import_with_a_bad_row_imports_nothing_unless_skip_bad(
    county: Runtime, tmp_path: Path
) -> None:
    path = _write(tmp_path / "mixed.csv", [*GOOD, BAD[0][0]])
    result = import_reports_csv(county, path)
    assert result.imported == 0 and _stored(county) == []
    assert result.problems == [RowProblem(5, "method", result.problems[0].reason)]
    result = import_reports_csv(county, path, skip_bad=True)
    assert result.imported == 3 and len(_stored(county)) == 3


def test_reimporting_a_file_skips_what_is_already_in(county: Runtime, tmp_path: Path) -> None:
    path = _write(tmp_path / "ok.csv", GOOD)
    import_reports_csv(county, path, org="县林业站")
    more = _write(
        tmp_path / "more.csv", [*GOOD, f"firearm,2025-11-20 08:00,{NEAR_RIVER[0]},{NEAR_RIVER[1]},,,3,,,"]
    )
    result = import_reports_csv(county, more, org="县林业站")
    assert (result.already_imported, result.imported) == (3, 1)
    assert len(_stored(county)) == 4


def test_repeated_rows_in_one_file_are_a_problem(county: Runtime, tmp_path: Path) -> None:
    result = import_reports_csv(county, _write(tmp_path / "twice.csv", [GOOD[0], GOOD[0]]))
    assert result.problems == [RowProblem(3, "row", "repeats line 2")]


def test_gbk_files_with_chinese_headers_and_values(county: Runtime, tmp_path: Path) -> None:
    header = "类别,时间,经度,纬度,描述,捕捞方式,使用船只"
    row = f"非法捕捞,2025-11-20 06:00,{NEAR_RIVER[0]},{NEAR_RIVER[1]},用网捕鱼,网具,否"
    result = import_reports_csv(county, _write(tmp_path / "gbk.csv", [row], "gbk", header))
    assert result.problems == [] and result.imported == 1
    with county.store.read() as conn:
        stored = conn.execute(sa.select(reports)).one()
    assert stored.category == "illegal_fishing" and stored.details == '{"method": "net", "boat": false}'


def test_excel_utf8_with_bom_and_semicolons(county: Runtime, tmp_path: Path) -> None:
    rows = [r.replace(",", ";") for r in GOOD[:1]]
    result = import_reports_csv(
        county, _write(tmp_path / "bom.csv", rows, "utf-8-sig", HEADER.replace(",", ";"))
    )
    assert result.problems == [] and result.imported == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"category,lon,lat\nfirearm,1,2\n", "observed_at"),
        (b"category,observed_at\nfirearm,2025-11-20 07:00\n", "lon and lat, or place_name"),
        (b"\xff\xfe\x00\x00garbage\x81\x82", "neither UTF-8 nor GBK"),
    ],
)
def test_unusable_files_are_refused_as_a_whole(
    county: Runtime, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(CsvImportError, match=message):
        import_reports_csv(county, path)


def test_an_unknown_column_is_a_problem_on_line_1(county: Runtime, tmp_path: Path) -> None:
    result = import_reports_csv(county, _write(tmp_path / "x.csv", GOOD[:1], header=HEADER + ",colour"))
    assert RowProblem(1, "colour", "unknown column") in result.problems


def test_the_cli_dry_run_prints_problems_and_exits_1(
    county: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ecopatrol.cli as cli

    monkeypatch.setattr(cli, "_runtime", lambda _config: county)
    monkeypatch.setattr(county, "close", lambda: None)
    path = _write(tmp_path / "mixed.csv", [*GOOD, BAD[1][0]])
    runner = CliRunner()
    dry = runner.invoke(reports_app, ["import", str(path), "--dry-run"])
    assert dry.exit_code == 1, dry.output
    assert "line 5: category: unknown category 'littering'" in dry.stderr
    assert "dry run: nothing imported" in dry.stdout
    assert _stored(county) == []
    real = runner.invoke(reports_app, ["import", str(path), "--org", "县林业站", "--skip-bad"])
    assert real.exit_code == 0, real.output
    assert "3 reports imported" in real.stdout
    missing = runner.invoke(reports_app, ["import", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "no such file" in missing.stderr
