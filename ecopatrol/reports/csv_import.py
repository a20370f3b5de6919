"""Partners' spreadsheets of reports (CSV, as Excel or WPS save them: UTF-8 with or without BOM, or GBK).

Every row goes through the same checks as the API. A dry run lists every row's problem (line number,
field, reason) and imports nothing; a real import with any bad row imports nothing either unless
``skip_bad``; the good rows are committed in one transaction. Re-importing a file skips the rows
already imported (each row's content is its idempotency key).

Columns (English or Chinese headers): category 类别, observed_at 时间 (a time without a zone is local
time of the deployment), lon 经度 and lat 纬度 (or place_name 地点), datum 坐标系, description 描述,
reporter_name 举报人, reporter_phone 电话, reporter_org 单位, and the categories' own fields by name or
Chinese label (e.g. shots_heard or 听到枪声次数).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from ecopatrol.reports import repo, service
from ecopatrol.reports.categories import (
    CATEGORY_LABELS,
    FIELD_LABELS,
    VALUE_LABELS,
    all_detail_fields,
)
from ecopatrol.reports.problems import ReportProblem
from ecopatrol.runtime import Runtime

MAX_ROWS = 20_000
_COMMON = {
    "category": ("类别", "类型", "举报类别"),
    "observed_at": ("时间", "发现时间", "观察时间", "observed_time"),
    "lon": ("经度", "longitude", "lng"),
    "lat": ("纬度", "latitude"),
    "datum": ("坐标系",),
    "place_name": ("地点", "地名", "place"),
    "description": ("描述", "情况描述", "说明"),
    "reporter_name": ("举报人", "姓名"),
    "reporter_phone": ("电话", "联系电话"),
    "reporter_org": ("单位", "组织"),
}
_TRUE = {"是", "有", "对", "y"}
_FALSE = {"否", "无", "没有", "n"}
_TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y.%m.%d %H:%M",
)


class CsvImportError(ValueError):
    """The file as a whole cannot be read (encoding, no header, missing columns)."""


@dataclass(frozen=True)
class RowProblem:
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


@dataclass
class ImportResult:
    rows: int = 0
    valid: int = 0
    imported: int = 0
    already_imported: int = 0
    dry_run: bool = False
    report_ids: list[int] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)

    def lines(self) -> list[str]:
        bad_lines = len({p.line for p in self.problems})
        head = (
            f"{self.rows} rows: {self.valid} valid, {bad_lines} with problems, "
            f"{self.already_imported} already imported"
        )
        if self.dry_run:
            return [head, "dry run: nothing imported"]
        if self.problems and not self.imported:
            return [head, "nothing imported (fix the rows, or use --skip-bad to import the valid ones)"]
        return [head, f"{self.imported} reports imported"]


def import_reports_csv(
    runtime: Runtime, path: Path, *, dry_run: bool = False, org: str | None = None, skip_bad: bool = False
) -> ImportResult:
    """Check every row of ``path``; unless a dry run (or bad rows without ``skip_bad``), import them."""
    rows, columns, problems = _read_rows(path)
    result = ImportResult(rows=len(rows), dry_run=dry_run, problems=problems)
    submitter = service.Submitter("csv", "partner", f"csv import {path.name}"[:200], org)
    good = _check_rows(runtime, rows, columns, submitter, result)
    result.valid = len(good)
    if dry_run or (result.problems and not skip_bad) or not good:
        return result
    _store(runtime, good, submitter, result)
    return result


@dataclass
class _Row:
    line: int
    key: str
    prepared: service.Prepared


def _read_rows(path: Path) -> tuple[list[tuple[int, dict[str, str]]], dict[str, str], list[RowProblem]]:
    text = _decode(path.read_bytes())
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel  # type: ignore[assignment]
    reader = csv.reader(io.StringIO(text), dialect)
    lines = _lines(reader)
    header = next(lines, None)
    if not header or not any(h.strip() for h in header):
        raise CsvImportError("the file is empty or has no header row")
    columns, problems = _map_header(header)
    missing = [c for c in ("category", "observed_at") if c not in columns.values()]
    has_place = {"lon", "lat"} <= set(columns.values()) or "place_name" in columns.values()
    if missing or not has_place:
        need = missing + ([] if has_place else ["lon and lat, or place_name"])
        raise CsvImportError(f"the header needs the column(s) {', '.join(need)}; found: {', '.join(header)}")
    rows = []
    for values in lines:
        if not any(v.strip() for v in values):
            continue
        if len(rows) >= MAX_ROWS:
            raise CsvImportError(f"more than {MAX_ROWS} rows; split the file")
        line = reader.line_num
        if len(values) > len(header):
            problems.append(RowProblem(line, "row", f"{len(values)} cells but {len(header)} columns"))
            continue
        rows.append((line, {h: v.strip() for h, v in zip(header, values, strict=False)}))
    return rows, columns, problems


def _lines(reader: Any) -> Iterator[list[str]]:
    """The reader's rows; what the csv module cannot read (a NUL byte, a 128 KiB cell) is a
    ``CsvImportError`` naming the line."""
    try:
        yield from reader
    except csv.Error as exc:
        raise CsvImportError(f"line {reader.line_num}: not readable as CSV: {exc}") from None


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CsvImportError("the file is neither UTF-8 nor GBK text")


def _map_header(header: list[str]) -> tuple[dict[str, str], list[RowProblem]]:
    """Header cell → canonical column name; unknown headers are problems (on line 1)."""
    names: dict[str, str] = {}
    for canonical, aliases in _COMMON.items():
        for alias in (canonical, *aliases):
            names[alias.casefold()] = canonical
    for name in all_detail_fields():
        names[name.casefold()] = name
        zh, en = FIELD_LABELS.get(name, (name, name))
        names.setdefault(zh.casefold(), name)
        names.setdefault(en.casefold(), name)
    columns, problems = {}, []
    for i, cell in enumerate(header):
        canonical = names.get(cell.strip().casefold())
        if canonical is None and not cell.strip():
            problems.append(RowProblem(1, f"column {i + 1}", "no name in the header (an extra delimiter?)"))
        elif canonical is None:
            problems.append(RowProblem(1, cell, "unknown column"))
        else:
            columns[cell] = canonical
    return columns, problems


def _check_rows(
    runtime: Runtime,
    rows: list[tuple[int, dict[str, str]]],
    columns: dict[str, str],
    submitter: service.Submitter,
    result: ImportResult,
) -> list[_Row]:
    good: list[_Row] = []
    seen: dict[str, int] = {}
    kinds = all_detail_fields()
    with runtime.store.read() as conn:
        for line, cells in rows:
            values = {columns[h]: v for h, v in cells.items() if h in columns and v != ""}
            key = hashlib.sha256(json.dumps(values, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
            if key in seen:
                result.problems.append(RowProblem(line, "row", f"repeats line {seen[key]}"))
                continue
            seen[key] = line
            if repo.get_idempotent(conn, submitter.idempotency_scope, key) is not None:
                result.already_imported += 1
                continue
            try:
                raw = _raw_report(values, kinds, runtime.settings.deployment.timezone)
                report = service.parse_report(raw)
                prepared = service.prepare(runtime, report, now_ms=runtime.now_ms())
            except ReportProblem as problem:
                result.problems += [
                    RowProblem(line, _field(item["loc"]), str(item["msg"])) for item in problem.items
                ]
                continue
            good.append(_Row(line, key, prepared))
    return good


def _raw_report(values: dict[str, str], kinds: dict[str, str], tz: str) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "category": _category(values.get("category")),
        "observed_at": _time(values.get("observed_at"), tz),
    }
    if "lon" in values or "lat" in values:
        raw["location"] = {
            "type": "Point",
            "coordinates": [_number(values.get("lon"), "lon"), _number(values.get("lat"), "lat")],
        }
    for name in ("datum", "place_name", "description"):
        if name in values:
            raw[name] = values[name]
    reporter = {k: values[f"reporter_{k}"] for k in ("name", "phone", "org") if f"reporter_{k}" in values}
    if reporter:
        raw["reporter"] = reporter
    raw["details"] = {name: _detail(v, kinds[name]) for name, v in values.items() if name in kinds}
    return raw


def _category(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip().casefold()
    for key, (zh, en) in CATEGORY_LABELS.items():
        if text in (key, zh.casefold(), en.casefold()):
            return key
    return value


def _time(value: str | None, tz: str) -> str | None:
    if value is None:
        return None
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
        for fmt in _TIME_FORMATS:
            try:
                moment = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if moment is None:
        raise ReportProblem.one(
            ["body", "observed_at"],
            f"not a time: {value!r} (e.g. 2026-11-20 22:40 or 2026-11-20T22:40:00+08:00)",
            "bad_time",
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return moment.isoformat()


def _number(value: str | None, name: str) -> float:
    if value is None:
        raise ReportProblem.one(["body", name], "lon and lat go together; this one is empty", "missing")
    try:
        return float(value)
    except ValueError:
        raise ReportProblem.one(["body", name], f"not a number: {value!r}", "bad_number") from None


def _detail(value: str, kind: str) -> object:
    text = value.strip()
    if kind == "bool":
        if text.casefold() in _TRUE:
            return True
        if text.casefold() in _FALSE:
            return False
    if kind == "enum":
        for key, (zh, en) in VALUE_LABELS.items():
            if text.casefold() in (zh.casefold(), en.casefold()):
                return key
    return text


def _field(loc: object) -> str:
    parts = [str(p) for p in loc if p != "body"] if isinstance(loc, list) else [str(loc)]  # type: ignore[union-attr]
    if parts[:1] == ["location"]:
        return "lon,lat"
    if parts[:1] == ["details"] and len(parts) > 1:
        return parts[1]
    return ".".join(parts) or "row"


def _store(runtime: Runtime, rows: list[_Row], submitter: service.Submitter, result: ImportResult) -> None:
    now = runtime.now_ms()
    try:
        with runtime.store.write() as conn:
            for row in rows:
                report_id = service.store_prepared(conn, row.prepared, submitter=submitter, now_ms=now).id
                repo.put_idempotent(
                    conn,
                    scope=submitter.idempotency_scope,
                    key=row.key,
                    request_sha256=row.key,
                    status_code=201,
                    response=json.dumps({"report_id": report_id}),
                    report_id=report_id,
                    now_ms=now,
                )
                result.report_ids.append(report_id)
    except IntegrityError:
        result.report_ids.clear()
        raise CsvImportError(
            "the same rows are being imported at this moment; run the import again"
        ) from None
    result.imported = len(result.report_ids)
    for row, report_id in zip(rows, result.report_ids, strict=True):
        service.publish_created(runtime, report_id, row.prepared)
