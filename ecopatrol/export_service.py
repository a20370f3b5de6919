"""Exports for analysts: ONE GeoPackage with the layers fixes, tracks, reaches, cells, reports and alerts
(``gpkg``), or the same layers as GeoJSON (RFC 7946) or CSV files in a folder or a zip.

Readable English field names, proper types (times as timezone-aware datetimes in the deployment's
zone, not epoch integers; booleans; reals), WGS-84 geometry; written through pyogrio so the files open
cleanly in QGIS. CSV files carry a UTF-8 byte-order mark (Chinese text in Excel) and the geometry as
WKT. Reporters' names and phone numbers are never exported.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from ecopatrol import review_data as rd
from ecopatrol.runtime import Runtime
from geo.maps import FRESHNESS, freshness_class, hours_since, track_lines

Format = Literal["gpkg", "geojson", "csv"]
FORMATS: tuple[str, ...] = ("gpkg", "geojson", "csv")
LAYERS: tuple[str, ...] = ("fixes", "tracks", "reaches", "cells", "reports", "alerts")
_GEOMETRY_TYPES = {
    "fixes": "Point",
    "tracks": "MultiLineString",
    "reaches": "MultiLineString",
    "cells": "MultiPolygon",
    "reports": "Point",
    "alerts": "Point",
}
_ALL_TIME = "36500d"


class ExportError(ValueError):
    """An export that cannot be made as asked."""


@dataclass
class ExportSummary:
    fmt: str
    path: Path
    counts: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        counts = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        return [f"{self.fmt}: {self.path} ({counts})"]


def export(runtime: Runtime, fmt: Format, path: Path | str, since: str | None = None) -> ExportSummary:
    """Write the export. ``gpkg``: one file at ``path``. ``geojson``/``csv``: a folder of one file per
    layer at ``path``, or a zip of them when ``path`` ends in ``.zip``. ``since``: the window (24h, 7d,
    30d, ISO-8601); None exports everything stored."""
    if fmt not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    frames = export_layers(runtime, since, timezone="UTC" if fmt == "gpkg" else None)
    target = Path(path)
    if fmt == "gpkg":
        _write_gpkg(frames, target)
    else:
        _write_files(frames, target, fmt)
    return ExportSummary(fmt=fmt, path=target, counts={k: len(v) for k, v in frames.items()})


def export_layers(
    runtime: Runtime, since: str | None = None, timezone: str | None = None
) -> dict[str, gpd.GeoDataFrame]:
    """The six layers as WGS-84 GeoDataFrames with readable, typed columns; times in ``timezone``
    (default: the deployment's; GeoPackage wants UTC)."""
    try:
        win = rd.window(runtime, since or _ALL_TIME)
    except rd.ReviewQueryError as exc:
        raise ExportError(str(exc)) from None
    index = runtime.layer_index()
    layers = index.layers
    with runtime.store.read() as conn:
        fixes = rd.load_fixes(conn, start_ms=win.start_ms, end_ms=win.end_ms, detail=True)
        squads = rd.unit_squads(conn)
        rows = rd.coverage_rows(conn, win)
        visits = rd.last_visits(conn)
        reports = rd.load_reports(conn, start_ms=win.start_ms, end_ms=win.end_ms)
        alerts = rd.load_alerts(conn, start_ms=win.start_ms, end_ms=win.end_ms)
    tz = timezone or win.timezone
    cov = runtime.settings.coverage
    usable = fixes[~fixes["outlier"]] if len(fixes) else fixes
    tracks = track_lines(
        usable.assign(squad_id=usable["unit_id"].map(squads)),
        metric_crs=layers.metric_crs,
        max_gap_s=runtime.settings.ingest.max_gap_s,
        max_jump_m=runtime.settings.ingest.max_jump_m,
        day_offset_hours=rd.day_offset_hours(runtime, win.end_ms),
    )
    features = {
        kind: _features(
            frame,
            kind,
            id_col,
            rows,
            visits,
            layers.townships,
            win.end_ms,
            tz,
            (cov.fresh_hours, cov.stale_hours),
        )
        for kind, frame, id_col in (("reach", layers.reaches, "reach_id"), ("cell", layers.cells, "cell_id"))
    }
    return {
        "fixes": _fixes(fixes, squads, tz),
        "tracks": _tracks(tracks, tz),
        "reaches": features["reach"],
        "cells": features["cell"],
        "reports": _reports(reports, tz),
        "alerts": _alerts(alerts, tz),
    }


# --- layers ---------------------------------------------------------------------------------------------


def _fixes(fixes: pd.DataFrame, squads: dict[str, str], tz: str) -> gpd.GeoDataFrame:
    f = fixes
    data = pd.DataFrame(
        {
            "unit_id": f["unit_id"].astype(str),
            "squad_id": f["unit_id"].map(squads).astype(object),
            "time": _time(f["time_ms"], tz),
            "mode": f["mode"].astype(str),
            "source": f["source"].astype(str),
            "outlier": f["outlier"].astype(bool),
            "accuracy_m": _real(f["accuracy_m"]),
            "speed_mps": _real(f["speed_mps"]),
            "bearing_deg": _real(f["bearing_deg"]),
            "altitude_m": _real(f["altitude_m"]),
            "battery_pct": _real(f["battery_pct"]),
            "reach_id": _text(f["reach_id"]),
            "cell_id": _text(f["cell_id"]),
            "township": _text(f["township"]),
            "received": _time(f["received_ms"], tz),
        }
    )
    return _points(data, f["lon"], f["lat"])


def _tracks(tracks: gpd.GeoDataFrame, tz: str) -> gpd.GeoDataFrame:
    t = tracks
    day = (
        pd.to_datetime(t["day"].astype(str), format="%Y%m%d").dt.tz_localize(tz) if len(t) else _time([], tz)
    )
    data = pd.DataFrame(
        {
            "unit_id": t["unit_id"].astype(str),
            "squad_id": _text(t["squad_id"]) if "squad_id" in t else None,
            "mode": t["mode"].astype(str),
            "day": day,
            "start_time": _time(t["first_ms"], tz),
            "end_time": _time(t["last_ms"], tz),
            "n_fixes": t["n_fixes"].astype("int64"),
            "km": _real(t["km"]).round(3),
            "hours": _real(t["hours"]).round(3),
        }
    )
    geometry = gpd.GeoSeries(shapely.force_2d(np.asarray(t.geometry.values, dtype=object)), crs=t.crs)
    return gpd.GeoDataFrame(data, geometry=geometry.to_crs(4326).values, crs=4326)


def _features(
    frame: gpd.GeoDataFrame,
    kind: str,
    id_col: str,
    rows: pd.DataFrame,
    visits: pd.DataFrame,
    townships: gpd.GeoDataFrame,
    now_ms: int,
    tz: str,
    thresholds: tuple[float, float],
) -> gpd.GeoDataFrame:
    effort = rd.feature_effort(rows, visits, kind, frame[id_col])
    name_col, size_col = ("river_name", "length_m") if kind == "reach" else ("forest_name", "area_m2")
    status = freshness_class(effort["last_ms"], now_ms, fresh_hours=thresholds[0], stale_hours=thresholds[1])
    data = pd.DataFrame(
        {
            id_col: frame[id_col].astype(str).to_numpy(),
            name_col: frame[name_col].astype(str).to_numpy(),
            "priority": frame["priority"].astype(str).to_numpy() if "priority" in frame else "normal",
            size_col: _real(frame[size_col]).round(1).to_numpy(),
            "township": rd.townships_of(frame, townships),
            "last_visit": _time(effort["last_ms"], tz).to_numpy(),
            "hours_since": np.round(hours_since(effort["last_ms"], now_ms), 2),
            "status": np.asarray(FRESHNESS, dtype=object)[status],
            "km": effort["km"].round(3).to_numpy(),
            "hours": effort["hours"].round(3).to_numpy(),
            "passes": effort["passes"].astype("int64").to_numpy(),
        }
    )
    return gpd.GeoDataFrame(data, geometry=frame.to_crs(4326).geometry.values, crs=4326)


def _reports(reports: pd.DataFrame, tz: str) -> gpd.GeoDataFrame:
    r = reports.dropna(subset=["lon", "lat"])
    data = pd.DataFrame(
        {
            "report_id": pd.to_numeric(r["id"]).astype("int64"),
            "tracking_code": _text(r["tracking_code"]),
            "category": _text(r["category"]),
            "status": _text(r["status"]),
            "observed": _time(r["observed_ms"], tz),
            "received": _time(r["created_ms"], tz),
            "updated": _time(r["updated_ms"], tz),
            "township": _text(r["township"]),
            "reach_id": _text(r["reach_id"]),
            "cell_id": _text(r["cell_id"]),
            "squad_id": _text(r["assigned_squad_id"]),
            "org": _text(r["org"]),
            "channel": _text(r["channel"]),
            "description": _text(r["description"]),
        }
    )
    return _points(data, r["lon"], r["lat"])


def _alerts(alerts: pd.DataFrame, tz: str) -> gpd.GeoDataFrame:
    a = alerts.dropna(subset=["lon", "lat"])
    created = pd.to_numeric(a["created_ms"], errors="coerce")

    def _minutes(column: str) -> pd.Series:
        return ((pd.to_numeric(a[column], errors="coerce") - created) / 60_000.0).round(2).astype(float)

    data = pd.DataFrame(
        {
            "alert_id": _text(a["id"]),
            "rule": _text(a["rule"]),
            "kind": _text(a["kind"]),
            "severity": _text(a["severity"]),
            "state": _text(a["state"]),
            "overdue": _text(a["overdue"]),
            "title_zh": _text(a["title_zh"]),
            "title_en": _text(a["title_en"]),
            "squad_id": _text(a["squad_id"]),
            "created": _time(a["created_ms"], tz),
            "acknowledged": _time(a["acked_ms"], tz),
            "en_route": _time(a["en_route_ms"], tz),
            "on_scene": _time(a["on_scene_ms"], tz),
            "resolved": _time(a["resolved_ms"], tz),
            "outcome": _text(a["outcome"]),
            "ack_min": _minutes("acked_ms"),
            "on_scene_min": _minutes("on_scene_ms"),
            "resolve_min": _minutes("resolved_ms"),
        }
    )
    return _points(data, a["lon"], a["lat"])


# --- writing --------------------------------------------------------------------------------------------


def _write_gpkg(frames: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    """All layers into a new file next to ``path``, then moved over it (no half-written export)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=path.parent) as tmp:
        part = Path(tmp) / "export.gpkg"
        for name in LAYERS:
            pyogrio.write_dataframe(
                frames[name],
                part,
                layer=name,
                driver="GPKG",
                geometry_type=_GEOMETRY_TYPES[name],
                promote_to_multi=_GEOMETRY_TYPES[name].startswith("Multi"),
            )
        part.replace(path)


def _write_files(frames: dict[str, gpd.GeoDataFrame], path: Path, fmt: str) -> None:
    as_zip = path.suffix.lower() == ".zip"
    with tempfile.TemporaryDirectory(prefix="ecopatrol-export-") as tmp:
        folder = Path(tmp) / "export"
        folder.mkdir()
        for name in LAYERS:
            _write_one(frames[name], folder / f"{name}.{fmt}", fmt, name)
        if as_zip:
            path.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
                for file in sorted(folder.iterdir()):
                    zf.write(file, arcname=file.name)
        else:
            path.mkdir(parents=True, exist_ok=True)
            for file in folder.iterdir():
                shutil.copy2(file, path / file.name)


def _write_one(frame: gpd.GeoDataFrame, file: Path, fmt: str, name: str) -> None:
    if fmt == "geojson":
        pyogrio.write_dataframe(
            frame,
            file,
            layer=name,
            driver="GeoJSON",
            geometry_type=_GEOMETRY_TYPES[name],
            promote_to_multi=_GEOMETRY_TYPES[name].startswith("Multi"),
            layer_options={"RFC7946": "YES", "WRITE_NAME": "YES"},
        )
    else:
        options = {
            "GEOMETRY": "AS_XY" if _GEOMETRY_TYPES[name] == "Point" else "AS_WKT",
            "WRITE_BOM": "YES",
            "CREATE_CSVT": "YES",
        }
        pyogrio.write_dataframe(
            frame,
            file,
            layer=name,
            driver="CSV",
            geometry_type=_GEOMETRY_TYPES[name],
            promote_to_multi=_GEOMETRY_TYPES[name].startswith("Multi"),
            layer_options=options,
        )


# --- columns --------------------------------------------------------------------------------------------


def _time(values: object, tz: str) -> pd.Series:
    """Epoch milliseconds → timezone-aware datetimes in ``tz`` (NaT where missing)."""
    ms = pd.to_numeric(pd.Series(values, dtype="float64"), errors="coerce")
    return pd.to_datetime(ms, unit="ms", utc=True).dt.tz_convert(tz).astype(f"datetime64[ms, {tz}]")


def _real(values: object) -> pd.Series:
    return pd.to_numeric(pd.Series(values), errors="coerce").astype(float)


def _text(values: object) -> pd.Series:
    series = pd.Series(values).astype(object)
    return series.where(series.notna(), None)


def _points(data: pd.DataFrame, lon: object, lat: object) -> gpd.GeoDataFrame:
    geometry = shapely.points(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return gpd.GeoDataFrame(data.reset_index(drop=True), geometry=geometry, crs=4326)
