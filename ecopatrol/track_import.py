"""Importing a track file (GPX 1.0/1.1, GeoJSON, CSV) for one unit: all or nothing unless ``skip_bad``."""

from __future__ import annotations

from pathlib import Path

from ecopatrol.ingest import ingest_fixes
from ecopatrol.runtime import Runtime
from ecopatrol.store import units_repo
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
    """Parse, check and ingest; return lines describing what was stored and skipped."""
    result = parse_track(path.read_bytes(), fmt=fmt or _format(path), unit_id=unit_id, mode=mode,
                         delimiter=delimiter, time_format=time_format, columns=columns, timezone=timezone)
    if result.errors and not skip_bad:
        raise TrackImportError(f"{len(result.errors)} bad records, nothing imported "
                               "(--skip-bad imports the rest)", result.errors)
    if result.fixes.empty:
        raise TrackImportError("no fixes with a time and a position in the file", result.errors)
    with runtime.store.write() as conn:
        unit = units_repo.get_unit(conn, unit_id)
        if unit is None:
            units_repo.upsert_unit(conn, unit_id, mode=mode, datum=datum or "wgs84", now_ms=runtime.now_ms())
    fixes = result.fixes.assign(unit_id=unit_id, mode=mode)
    outcome = ingest_fixes(runtime, fixes, datum=datum or (unit.datum if unit else None))
    lines = [f"{path}: {outcome.accepted} fixes stored, {outcome.duplicates} already stored, "
             f"{outcome.outliers} speed outliers kept out of coverage, {len(outcome.rejected)} refused"]
    lines += [f"  skipped {e}" for e in result.errors]
    lines += [f"  refused fix {r['index']}: {r['reason']}" for r in outcome.rejected[:200]]
    return lines


def parse_track(data: bytes, *, fmt: str, unit_id: str, mode: str, delimiter: str | None = None,
                time_format: str | None = None, columns: dict[str, str] | None = None,
                timezone: str = "UTC") -> ParseResult:
    if fmt == "gpx":
        return parse_gpx(data, unit_id=unit_id, mode=mode)
    if fmt == "geojson":
        return parse_geojson(data, unit_id=unit_id, mode=mode)
    if fmt == "csv":
        return parse_csv(data, unit_id=unit_id, mode=mode, columns=columns, delimiter=delimiter,
                         time_format=time_format, timezone=timezone)
    raise TrackImportError(f"unknown format {fmt!r}; use gpx, geojson or csv")


def _format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise TrackImportError(f"cannot tell the format of {path.name}; give --format gpx|geojson|csv")
    return fmt
