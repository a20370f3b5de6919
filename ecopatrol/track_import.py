"""Importing a track file (GPX 1.0/1.1, GeoJSON, CSV) for one unit: all or nothing unless ``skip_bad``.

A file holding more positions than ``ingest.max_batch_fixes`` is refused whole, counted before the
positions are read (a million-vertex line or a flood of features costs nothing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ecopatrol.ingest import ingest_fixes
from ecopatrol.runtime import Runtime
from ecopatrol.store import units_repo
from geo.cleaning import clean_fixes
from geo.datum import to_wgs84
from geo.schema import ParseResult, RecordError
from geo.tracks import parse_csv, parse_geojson, parse_gpx

FORMATS = {".gpx": "gpx", ".geojson": "geojson", ".json": "geojson", ".csv": "csv", ".txt": "csv"}


class TrackImportError(ValueError):
    """The file has bad records (or none); nothing was imported."""

    def __init__(self, summary: str, errors: list[RecordError] | None = None) -> None:
        super().__init__(summary)
        self.summary = summary
        self.errors = errors or []


def import_track_file(runtime: Runtime, path: Path, *, unit_id: str, mode: str, datum: str | None = None,
                      fmt: str | None = None, delimiter: str | None = None, time_format: str | None = None,
                      columns: dict[str, str] | None = None, timezone: str = "UTC",
                      skip_bad: bool = False) -> list[str]:
    """Parse, check and ingest; return lines describing what was stored and skipped. Nothing is
    written (not even the unit) unless every record is good, or ``skip_bad``."""
    max_fixes = runtime.settings.ingest.max_batch_fixes
    result = parse_track(path.read_bytes(), fmt=fmt or _format(path), unit_id=unit_id, mode=mode,
                         delimiter=delimiter, time_format=time_format, columns=columns, timezone=timezone,
                         max_fixes=max_fixes)
    _check_parsed(result, skip_bad=skip_bad, max_fixes=max_fixes)
    with runtime.store.read() as conn:
        unit = units_repo.get_unit(conn, unit_id)
    fixes = result.fixes.assign(unit_id=unit_id, mode=mode)
    refused = _would_refuse(runtime, fixes, datum or (unit.datum if unit else "wgs84"))
    if refused and not skip_bad:
        raise TrackImportError(f"{len(refused)} fixes would be refused, nothing imported "
                               "(--skip-bad imports the rest)", refused)
    if unit is None:
        with runtime.store.write() as conn:
            units_repo.upsert_unit(conn, unit_id, mode=mode, datum=datum or "wgs84", now_ms=runtime.now_ms())
    outcome = ingest_fixes(runtime, fixes, datum=datum or (unit.datum if unit else None))
    lines = [f"{path}: {outcome.accepted} fixes stored, {outcome.duplicates} already stored, "
             f"{outcome.outliers} speed outliers kept out of coverage, {len(outcome.rejected)} refused"]
    lines += [f"  skipped {e}" for e in result.errors]
    lines += [f"  refused fix {r['index']}: {r['reason']}" for r in outcome.rejected[:200]]
    return lines


def _check_parsed(result: ParseResult, *, skip_bad: bool, max_fixes: int) -> None:
    """Raise for a file over the size limit, with bad records (unless ``skip_bad``) or with no fix."""
    too_big = [e for e in result.errors if e.field == "max_fixes"]
    if too_big:
        raise TrackImportError(f"{too_big[0].reason} (ingest.max_batch_fixes = {max_fixes}); "
                               "nothing imported", too_big)
    if result.errors and not skip_bad:
        raise TrackImportError(f"{len(result.errors)} bad records, nothing imported "
                               "(--skip-bad imports the rest)", result.errors)
    if result.fixes.empty:
        raise TrackImportError("no fixes with a time and a position in the file", result.errors)


def _would_refuse(runtime: Runtime, fixes: pd.DataFrame, datum: str) -> list[RecordError]:
    """The fixes ingest would refuse (outside the area, in the future, before 2000 ...), found with the
    same cleaning before anything is written, named by their 0-based index among the file's fixes."""
    lon, lat = fixes["lon"].to_numpy(), fixes["lat"].to_numpy()
    if datum != "wgs84":
        lon, lat = to_wgs84(lon, lat, datum)
    ingest = runtime.settings.ingest
    checked = clean_fixes(fixes.assign(lon=lon, lat=lat, fix_index=np.arange(len(fixes))),
                          now_ms=runtime.now_ms(), bounds_lonlat=runtime.layer_index().bounds_lonlat,
                          margin_m=runtime.settings.deployment.margin_m, max_future_s=ingest.max_future_s)
    rejected = checked.rejected.sort_values("fix_index")
    return [RecordError(f"fix {i}", "fix", str(reason))
            for i, reason in zip(rejected["fix_index"], rejected["reason"], strict=True)]


def parse_track(data: bytes, *, fmt: str, unit_id: str, mode: str, delimiter: str | None = None,
                time_format: str | None = None, columns: dict[str, str] | None = None,
                timezone: str = "UTC", max_fixes: int | None = None) -> ParseResult:
    if fmt == "gpx":
        return parse_gpx(data, unit_id=unit_id, mode=mode, max_fixes=max_fixes)
    if fmt == "geojson":
        return parse_geojson(data, unit_id=unit_id, mode=mode, max_fixes=max_fixes)
    if fmt == "csv":
        return parse_csv(data, unit_id=unit_id, mode=mode, columns=columns, delimiter=delimiter,
                         time_format=time_format, timezone=timezone, max_fixes=max_fixes)
    raise TrackImportError(f"unknown format {fmt!r}; use gpx, geojson or csv")


def _format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise TrackImportError(f"cannot tell the format of {path.name}; give --format gpx|geojson|csv")
    return fmt
