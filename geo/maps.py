"""Coverage maps: pure folium builders from GeoDataFrames (no database, no clock, no network).

``build_coverage_map(data, options)`` returns a ``folium.Map`` with, as toggleable layers: river reaches
coloured by hours since their last patrol, forest cells shaded by patrol hours (or km) in the window,
tracks per mode (lines per unit and day, simplified), reports by category (clustered), open alerts,
an incident heat map, a risk layer (incidents per patrol-km per cell and reach), townships and zones;
a legend, a title and a 中文/English switch. Nothing is loaded from the internet by the map itself;
``geo.maps_offline`` replaces folium's CDN links with self-hosted (or inlined) assets.

Every text is bilingual: both languages are in the page and the switch only flips a class on
``<html>`` (``ep-lang-zh`` / ``ep-lang-en``), so it also works in a standalone file. Geometries are
simplified in the metric CRS and coordinates rounded (``coordinate_decimals``, 1e-5° ≈ 1 m) to keep
the page small. When the page has drawn every layer it sets ``window.ecopatrolMapReady = true`` and
``window.ecopatrolMapCounts`` (features drawn per kind).
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Literal

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.elements import ElementAddToElement, MacroElement
from folium.map import Layer
from folium.plugins import HeatMap, MarkerCluster
from folium.utilities import JsCode
from pyproj import Transformer

from geo.maps_offline import verbatim

Lang = Literal["zh", "en"]
CellMetric = Literal["hours", "km"]
Bilingual = tuple[str, str]  # (Simplified Chinese, English)

FRESHNESS: tuple[str, ...] = ("fresh", "recent", "stale", "never")
FRESHNESS_COLORS: tuple[str, ...] = ("#1a9850", "#f29e0c", "#d73027", "#8c8c8c")
CELL_COLORS: tuple[str, ...] = ("#dcd8cc", "#c6e3ef", "#7fb8da", "#3b85c0", "#08468c")
CELL_BREAKS: dict[str, tuple[float, ...]] = {"hours": (0.25, 1.0, 4.0), "km": (1.0, 4.0, 15.0)}
RISK_COLORS: tuple[str, ...] = ("#fecc5c", "#fd8d3c", "#e31a1c", "#800026")
RISK_BREAKS_PER_KM: tuple[float, ...] = (0.25, 1.0, 2.0)
MODE_COLORS: dict[str, str] = {"vehicle": "#3b3f8f", "foot": "#9c27b0", "boat": "#00838f"}
SQUAD_COLORS: tuple[str, ...] = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)
CATEGORY_COLORS: dict[str, str] = {
    "illegal_fishing": "#1f78b4",
    "electrofishing": "#00acc1",
    "poisoning": "#7b1fa2",
    "illegal_hunting": "#6d4c41",
    "snare": "#b08d00",
    "firearm": "#c62828",
    "other": "#616161",
}
SEVERITY_COLORS: dict[str, str] = {
    "critical": "#b71c1c",
    "high": "#e65100",
    "medium": "#c79100",
    "low": "#1565c0",
}
OVERDUE: tuple[str, ...] = ("", "yellow", "red")

CATEGORY_LABELS: dict[str, Bilingual] = {
    "illegal_fishing": ("非法捕捞", "Illegal fishing"),
    "electrofishing": ("电鱼", "Electrofishing"),
    "poisoning": ("毒鱼", "Fish poisoning"),
    "illegal_hunting": ("非法狩猎", "Illegal hunting"),
    "snare": ("发现猎套", "Snares found"),
    "firearm": ("枪声或枪支", "Shots or a firearm"),
    "other": ("其他", "Other"),
}
STATUS_LABELS: dict[str, Bilingual] = {
    "received": ("已受理", "Received"),
    "triaged": ("已研判", "Triaged"),
    "assigned": ("已派警", "Assigned"),
    "on_scene": ("已到达现场", "On scene"),
    "resolved": ("已处置", "Resolved"),
    "rejected": ("不予立案", "Rejected"),
}
SEVERITY_LABELS: dict[str, Bilingual] = {
    "critical": ("特急", "Critical"),
    "high": ("紧急", "High"),
    "medium": ("较急", "Medium"),
    "low": ("一般", "Low"),
}
STATE_LABELS: dict[str, Bilingual] = {
    "open": ("待响应", "Open"),
    "acknowledged": ("已确认", "Acknowledged"),
    "en_route": ("出警途中", "En route"),
    "on_scene": ("已到达现场", "On scene"),
    "resolved": ("已处置", "Resolved"),
}
MODE_LABELS: dict[str, Bilingual] = {
    "vehicle": ("车巡", "Vehicle"),
    "foot": ("步巡", "Foot"),
    "boat": ("船巡", "Boat"),
}

#: Texts of the page (the JS runtime reads them by key).
TEXTS: dict[str, Bilingual] = {
    "reaches": ("河段巡护时效", "River reaches: time since patrol"),
    "cells_hours": ("林区网格巡护时长", "Forest cells: patrol hours"),
    "cells_km": ("林区网格巡护里程", "Forest cells: patrol km"),
    "tracks": ("轨迹", "tracks"),
    "tracks_title": ("巡护轨迹", "Patrol tracks"),
    "reports": ("举报线索", "Reports"),
    "alerts": ("未结警情", "Open alerts"),
    "heat": ("案事件热力图", "Incident heat map"),
    "risk": ("风险：案事件/巡护公里", "Risk: incidents per patrol-km"),
    "townships": ("乡镇界", "Townships"),
    "zones": ("保护区与禁渔区", "Protected and no-fishing zones"),
    "fixes": ("定位点（放大后显示）", "GPS fixes (when zoomed in)"),
    "never": ("无巡护记录", "never patrolled"),
    "not_in_window": ("窗口内未巡护", "not patrolled in window"),
    "hours": ("小时", "h"),
    "hours_ago": ("小时前", "h ago"),
    "since_patrol": ("距上次巡护", "Since last patrol"),
    "in_window": ("窗口内", "In window"),
    "duration": ("巡护时长", "Patrol time"),
    "passes": ("巡护次数", "Passes"),
    "reach": ("河段", "Reach"),
    "cell": ("网格", "Cell"),
    "unit": ("巡护单元", "Unit"),
    "squad": ("中队", "Squad"),
    "no_squad": ("未编组", "no squad"),
    "mode": ("方式", "Mode"),
    "day": ("日期", "Day"),
    "observed": ("发现时间", "Observed"),
    "status": ("状态", "Status"),
    "created": ("发起时间", "Created"),
    "severity": ("等级", "Severity"),
    "state": ("处置状态", "State"),
    "overdue": ("超时", "Overdue"),
    "overdue_yellow": ("黄色超时", "yellow overdue"),
    "overdue_red": ("红色超时", "red overdue"),
    "incidents": ("案事件数", "Incidents"),
    "patrol_km": ("巡护里程", "Patrol km"),
    "risk_value": ("每公里案事件", "Incidents per km"),
    "colour_by": ("轨迹着色", "Colour tracks by"),
    "by_mode": ("方式", "mode"),
    "by_squad": ("中队", "squad"),
    "legend": ("图例", "Legend"),
    "switch": ("English", "中文"),
    "rule": ("规则", "Rule"),
}


@dataclass(frozen=True)
class MapOptions:
    """How to draw: the moment "now" is (epoch ms), thresholds, language, tiles and size knobs."""

    now_ms: int
    fresh_hours: float = 24.0
    stale_hours: float = 72.0
    lang: Lang = "zh"
    cell_metric: CellMetric = "hours"
    cell_breaks: tuple[float, ...] | None = None  # three breaks; default by metric
    tile_url: str | None = None
    tile_attribution: str = ""
    title: Bilingual = ("巡护覆盖图", "Patrol coverage")
    subtitle: Bilingual = ("", "")
    timezone: str = "Asia/Shanghai"
    coordinate_decimals: int = 5
    layer_simplify_m: float = 5.0
    track_simplify_m: float = 15.0
    max_track_vertices: int = 120_000
    risk_min_km: float = 0.5
    near_river_m: float = 200.0
    renderer: Literal["svg", "canvas"] = "svg"
    category_labels: Mapping[str, Bilingual] = field(default_factory=lambda: dict(CATEGORY_LABELS))
    status_labels: Mapping[str, Bilingual] = field(default_factory=lambda: dict(STATUS_LABELS))


@dataclass(frozen=True, eq=False)
class MapData:
    """What to draw. Layer frames are in a metric CRS; points are WGS-84 lon/lat columns.

    - ``reaches``: reach_id, river_name, priority, geometry, last_ms (NaN: never), km, passes (window)
    - ``cells``: cell_id, forest_name, priority, geometry, last_ms, km, hours (window)
    - ``tracks``: from :func:`track_lines` (unit_id, mode, day, km, hours; ``squad_id`` optional)
    - ``reports``: lon, lat, category, status, observed_ms (``id`` optional)
    - ``alerts``: lon, lat, severity, state, created_ms, overdue (``id``, ``rule`` optional); open ones
    - ``fixes``: lon, lat — drawn only when given (and only when zoomed in)
    """

    reaches: gpd.GeoDataFrame
    cells: gpd.GeoDataFrame
    townships: gpd.GeoDataFrame | None = None
    zones: gpd.GeoDataFrame | None = None
    tracks: gpd.GeoDataFrame | None = None
    reports: pd.DataFrame | None = None
    alerts: pd.DataFrame | None = None
    fixes: pd.DataFrame | None = None


# ----------------------------------------------------------------------------------------------
# classification (pure, vectorized)


def hours_since(last_ms: object, now_ms: int) -> np.ndarray:
    """Hours from each ``last_ms`` to ``now_ms`` (NaN where never)."""
    last = np.asarray(pd.to_numeric(pd.Series(last_ms, dtype="float64")), dtype=float)
    return (now_ms - last) / 3_600_000.0


def freshness_class(last_ms: object, now_ms: int, *, fresh_hours: float, stale_hours: float) -> np.ndarray:
    """Index into :data:`FRESHNESS` per feature: < fresh_hours → 0 (fresh), < stale_hours → 1 (recent),
    older → 2 (stale), never (NaN) → 3."""
    hours = hours_since(last_ms, now_ms)
    out = np.full(hours.shape, 3, dtype=np.int8)
    seen = ~np.isnan(hours)
    out[seen] = np.where(hours[seen] < fresh_hours, 0, np.where(hours[seen] < stale_hours, 1, 2))
    return out


def value_bins(values: object, breaks: Sequence[float]) -> np.ndarray:
    """0 where the value is 0 or NaN, else 1 + the number of ``breaks`` it reaches."""
    v = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)
    return np.where(v > 0, 1 + np.searchsorted(np.asarray(breaks, dtype=float), v, side="right"), 0)


# ----------------------------------------------------------------------------------------------
# tracks and risk (pure, vectorized)


def track_lines(
    fixes: pd.DataFrame,
    *,
    metric_crs: str,
    max_gap_s: float = 600.0,
    max_jump_m: float = 2000.0,
    day_offset_hours: float = 8.0,
) -> gpd.GeoDataFrame:
    """One (multi)line per unit and local day from fixes (unit_id, time_ms, lon, lat, mode; outliers
    dropped when an ``outlier`` column says so). A gap longer than ``max_gap_s`` or a jump longer than
    ``max_jump_m`` starts a new part. Columns: unit_id, mode, day (YYYYMMDD), first_ms, last_ms,
    n_fixes, km, hours (moving time along the parts), geometry (metric CRS), plus squad_id if given."""
    frame = _sorted_fixes(fixes)
    if frame.empty:
        return _empty_tracks(metric_crs, "squad_id" in fixes.columns)
    xy = np.column_stack(_project(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float), metric_crs))
    frame["day"] = _local_days(frame["time_ms"].to_numpy("int64"), day_offset_hours)
    key = _block_ids(frame["unit_id"].astype(str).to_numpy(), frame["day"].to_numpy())
    seg_m, seg_s, same = _segments(frame, xy, key)
    joined = same & (seg_s <= max_gap_s) & (seg_m <= max_jump_m)
    part = np.concatenate([[0], np.cumsum(~joined)])
    lines, part_key = _part_lines(xy, part, key)
    return _track_frame(frame, key, joined, seg_m, seg_s, lines, part_key, metric_crs)


def _sorted_fixes(fixes: pd.DataFrame) -> pd.DataFrame:
    frame = fixes
    if "outlier" in frame.columns:
        frame = frame[~frame["outlier"].fillna(False).astype(bool)]
    return frame.sort_values(["unit_id", "time_ms"], kind="stable").reset_index(drop=True)


def _project(lon: np.ndarray, lat: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = _to_metric(crs).transform(lon, lat)
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


@functools.lru_cache(maxsize=8)
def _to_metric(crs: str) -> Transformer:
    return Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def _block_ids(*columns: np.ndarray) -> np.ndarray:
    """0, 1, 2 … per run of equal values across ``columns`` (rows are sorted, so a run is a group)."""
    n = len(columns[0])
    change = np.zeros(n, dtype=bool)
    for column in columns:
        change[1:] |= column[1:] != column[:-1]
    return np.cumsum(change)


def _local_days(time_ms: np.ndarray, day_offset_hours: float) -> np.ndarray:
    """YYYYMMDD of each instant in local time (UTC + ``day_offset_hours``)."""
    local = pd.to_datetime(time_ms + int(day_offset_hours * 3_600_000), unit="ms")
    return np.asarray(local.year * 10000 + local.month * 100 + local.day, dtype=np.int64)


def _segments(frame: pd.DataFrame, xy: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, ...]:
    seg_m = np.hypot(*np.diff(xy, axis=0).T)
    seg_s = np.diff(frame["time_ms"].to_numpy("int64")) / 1000.0
    return seg_m, seg_s, key[1:] == key[:-1]


def _part_lines(xy: np.ndarray, part: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    counts = np.bincount(part)
    long_enough = counts[part] >= 2
    lines = shapely.linestrings(xy[long_enough], indices=pd.factorize(part[long_enough])[0])
    first = np.unique(part[long_enough], return_index=True)[1]
    return np.asarray(lines, dtype=object), key[long_enough][first]


def _track_frame(
    frame: pd.DataFrame,
    key: np.ndarray,
    joined: np.ndarray,
    seg_m: np.ndarray,
    seg_s: np.ndarray,
    lines: np.ndarray,
    part_key: np.ndarray,
    crs: str,
) -> gpd.GeoDataFrame:
    """One row per key (unit and day; keys are consecutive blocks of the sorted fixes)."""
    n_keys = int(key.max()) + 1
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    last = np.r_[first[1:] - 1, len(key) - 1]
    time_ms = frame["time_ms"].to_numpy("int64")
    table = pd.DataFrame(
        {
            "unit_id": frame["unit_id"].to_numpy(dtype=object)[first],
            "mode": frame["mode"].to_numpy(dtype=object)[first],
            "day": frame["day"].to_numpy()[first],
            "first_ms": time_ms[first],
            "last_ms": time_ms[last],
            "n_fixes": last - first + 1,
            "km": _sum_by(key[1:][joined], seg_m[joined], n_keys) / 1000.0,
            "hours": _sum_by(key[1:][joined], seg_s[joined], n_keys) / 3600.0,
        }
    )
    if "squad_id" in frame.columns:
        table["squad_id"] = frame["squad_id"].to_numpy(dtype=object)[first]
    geoms = np.full(n_keys, None, dtype=object)
    if len(lines):
        multi = shapely.multilinestrings(lines, indices=pd.factorize(part_key, sort=True)[0])
        geoms[np.unique(part_key)] = np.asarray(multi, dtype=object)
    out = gpd.GeoDataFrame(table, geometry=geoms, crs=crs)
    return out[out.geometry.notna()].reset_index(drop=True)


def _sum_by(keys: np.ndarray, values: np.ndarray, n_keys: int) -> np.ndarray:
    return np.bincount(keys, weights=values, minlength=n_keys)


def _empty_tracks(crs: str, with_squad: bool) -> gpd.GeoDataFrame:
    cols = {
        "unit_id": "object",
        "mode": "object",
        "first_ms": "int64",
        "last_ms": "int64",
        "n_fixes": "int64",
        "km": "float64",
        "hours": "float64",
        "day": "int64",
    }
    if with_squad:
        cols["squad_id"] = "object"
    data = {c: pd.Series(dtype=t) for c, t in cols.items()}
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def incident_risk(
    incidents: pd.DataFrame,
    cells: gpd.GeoDataFrame,
    reaches: gpd.GeoDataFrame,
    *,
    near_river_m: float = 200.0,
    min_km: float = 0.5,
) -> gpd.GeoDataFrame:
    """Incidents per patrol-km for every cell holding an incident and every reach within
    ``near_river_m`` of one. ``incidents``: lon, lat; ``cells``/``reaches``: metric CRS with ``km``
    patrolled in the window. Effort below ``min_km`` counts as ``min_km`` (no division by zero).
    Columns: kind (cell|reach), feature_id, incidents, km, risk_per_km, geometry (metric CRS)."""
    crs = cells.crs or reaches.crs
    if incidents is None or incidents.empty or crs is None:
        return _empty_risk(crs)
    x, y = _project(incidents["lon"].to_numpy(float), incidents["lat"].to_numpy(float), str(crs))
    points = gpd.GeoDataFrame(geometry=shapely.points(x, y), crs=crs)
    parts = [
        _risk_part(_count_within(points, cells), cells, "cell", "cell_id"),
        _risk_part(_count_near(points, reaches, near_river_m), reaches, "reach", "reach_id"),
    ]
    out = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else None
    if out is None:
        return _empty_risk(crs)
    out["risk_per_km"] = out["incidents"] / np.maximum(out["km"].to_numpy(float), min_km)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=crs)


def _count_within(points: gpd.GeoDataFrame, polygons: gpd.GeoDataFrame) -> pd.Series:
    if polygons.empty:
        return pd.Series(dtype="int64")
    hit_points, hit_polys = polygons.sindex.query(points.geometry.values, predicate="within")
    del hit_points
    return pd.Series(hit_polys).value_counts()


def _count_near(points: gpd.GeoDataFrame, lines: gpd.GeoDataFrame, distance_m: float) -> pd.Series:
    if lines.empty:
        return pd.Series(dtype="int64")
    _, nearest = lines.sindex.nearest(points.geometry.values, max_distance=distance_m, return_all=False)
    return pd.Series(nearest).value_counts()


def _risk_part(counts: pd.Series, features: gpd.GeoDataFrame, kind: str, id_column: str) -> pd.DataFrame:
    if counts.empty:
        return pd.DataFrame()
    rows = features.iloc[counts.index.to_numpy()]
    km = rows["km"].to_numpy(float) if "km" in rows.columns else np.zeros(len(rows))
    return pd.DataFrame(
        {
            "kind": kind,
            "feature_id": rows[id_column].astype(str).to_numpy(),
            "incidents": counts.to_numpy(dtype=np.int64),
            "km": np.nan_to_num(km),
            "geometry": rows.geometry.to_numpy(),
        }
    )


def _empty_risk(crs: object) -> gpd.GeoDataFrame:
    data = {
        "kind": pd.Series(dtype=object),
        "feature_id": pd.Series(dtype=object),
        "incidents": pd.Series(dtype="int64"),
        "km": pd.Series(dtype=float),
        "risk_per_km": pd.Series(dtype=float),
    }
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


# ----------------------------------------------------------------------------------------------
# the map


def build_coverage_map(data: MapData, options: MapOptions) -> folium.Map:
    """The coverage map: a recipe of ``_add_*`` steps, each adding one toggleable layer."""
    squads = _squad_palette(data.tracks)
    m = _base_map(data, options)
    _Runtime(_runtime_config(options, squads)).add_to(m)
    _add_context(m, data, options)
    _add_cells(m, data, options)
    _add_tracks(m, data, options)
    _add_reaches(m, data, options)
    _add_risk(m, data, options)
    _add_heat(m, data, options)
    _add_reports(m, data, options)
    _add_alerts(m, data, options)
    _add_fixes(m, data)
    folium.LayerControl(position="topright", collapsed=JsCode("window.innerWidth < 720")).add_to(m)
    _Control(_title_html(options), "topleft", "ep-title").add_to(m)
    _Control(_legend_html(data, options, squads), "bottomright", "ep-legend").add_to(m)
    _Ready().add_to(m)
    return m


def _base_map(data: MapData, options: MapOptions) -> folium.Map:
    m = folium.Map(
        location=None,
        tiles=None,
        zoom_start=10,
        control_scale=True,
        prefer_canvas=False,
        attribution_control=bool(options.tile_url),
        renderer=JsCode("L.canvas()") if options.renderer == "canvas" else None,
    )
    m.options.update(max_zoom=18, min_zoom=7)  # the cluster layer needs a maxZoom even without tiles
    if options.tile_url:
        folium.TileLayer(
            tiles=options.tile_url,
            attr=options.tile_attribution or " ",
            name="basemap",
            control=False,
            max_zoom=18,
        ).add_to(m)
    m.get_root().title = f"{options.title[0]} · {options.title[1]}"
    bounds = _bounds_lonlat(data)
    if bounds is not None:
        m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    return m


def _bounds_lonlat(data: MapData) -> tuple[float, float, float, float] | None:
    frames = [f for f in (data.reaches, data.cells) if f is not None and len(f)]
    if not frames and data.townships is not None and len(data.townships):
        frames = [data.townships]
    if not frames:
        return None
    boxes = np.array([f.to_crs(4326).total_bounds for f in frames])
    return (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max())


def _add_context(m: folium.Map, data: MapData, options: MapOptions) -> None:
    if data.townships is not None and len(data.townships):
        t = data.townships
        _layer(
            m,
            "township",
            t,
            {"n": _texts(t["name"])},
            options,
            options.layer_simplify_m * 4,
            TEXTS["townships"],
        )
    if data.zones is not None and len(data.zones):
        z = data.zones
        _layer(
            m,
            "zone",
            z,
            {"n": _texts(z["name"]), "k": _texts(_col(z, "kind", ""))},
            options,
            options.layer_simplify_m * 2,
            TEXTS["zones"],
        )


def _add_reaches(m: folium.Map, data: MapData, options: MapOptions) -> None:
    r = data.reaches
    last = _col(r, "last_ms", np.nan)
    cls = freshness_class(
        last, options.now_ms, fresh_hours=options.fresh_hours, stale_hours=options.stale_hours
    )
    columns = {
        "i": _texts(r["reach_id"]),
        "n": _texts(r["river_name"]),
        "c": cls.tolist(),
        "h": _nums(hours_since(last, options.now_ms), 1),
        "k": _nums(_col(r, "km", 0.0), 2),
        "s": [int(v) for v in np.nan_to_num(np.asarray(_col(r, "passes", 0), dtype=float))],
        "p": [int(p == "high") for p in _col(r, "priority", "normal")],
    }
    _layer(m, "reach", r, columns, options, options.layer_simplify_m, TEXTS["reaches"])


def _add_cells(m: folium.Map, data: MapData, options: MapOptions) -> None:
    c = data.cells
    values = np.nan_to_num(np.asarray(_col(c, options.cell_metric, 0.0), dtype=float))
    columns = {
        "i": _texts(c["cell_id"]),
        "n": _texts(c["forest_name"]),
        "b": value_bins(values, _cell_breaks(options)).tolist(),
        "v": _nums(values, 2),
        "h": _nums(hours_since(_col(c, "last_ms", np.nan), options.now_ms), 1),
    }
    _layer(m, "cell", c, columns, options, options.layer_simplify_m, TEXTS[f"cells_{options.cell_metric}"])


def _add_tracks(m: folium.Map, data: MapData, options: MapOptions) -> None:
    t = data.tracks
    if t is None or t.empty:
        return
    t = t.assign(geometry=_within_budget(t.geometry, options.track_simplify_m, options.max_track_vertices))
    modes = [md for md in MODE_LABELS if md in set(t["mode"])] + sorted(set(t["mode"]) - set(MODE_LABELS))
    for mode in modes:
        part = t[t["mode"] == mode]
        columns = {
            "u": _texts(part["unit_id"]),
            "s": _texts(_col(part, "squad_id", "")),
            "m": _texts(part["mode"]),
            "d": [int(d) for d in part["day"]],
            "k": _nums(part["km"], 1),
            "h": _nums(part["hours"], 1),
        }
        label = MODE_LABELS.get(mode, (mode, mode))
        name = (label[0] + TEXTS["tracks"][0], f"{label[1]} {TEXTS['tracks'][1]}")
        _layer(m, "track", part, columns, options, 0.0, name)


def _within_budget(geoms: gpd.GeoSeries, tolerance_m: float, max_vertices: int) -> gpd.GeoSeries:
    """Simplify at ``tolerance_m``, doubling it until the lines hold at most ``max_vertices`` vertices."""
    values = np.asarray(geoms.values, dtype=object)
    simplified = shapely.simplify(values, tolerance_m, preserve_topology=False)
    while shapely.get_num_coordinates(simplified).sum() > max_vertices and tolerance_m < 2000:
        tolerance_m *= 2
        simplified = shapely.simplify(values, tolerance_m, preserve_topology=False)
    return gpd.GeoSeries(simplified, index=geoms.index, crs=geoms.crs)


def _add_risk(m: folium.Map, data: MapData, options: MapOptions) -> None:
    risk = incident_risk(
        _incidents(data),
        data.cells,
        data.reaches,
        near_river_m=options.near_river_m,
        min_km=options.risk_min_km,
    )
    if risk.empty:
        return
    bins = np.searchsorted(np.asarray(RISK_BREAKS_PER_KM), risk["risk_per_km"].to_numpy(float), side="right")
    columns = {
        "t": _texts(risk["kind"]),
        "i": _texts(risk["feature_id"]),
        "n": [int(n) for n in risk["incidents"]],
        "k": _nums(risk["km"], 1),
        "r": _nums(risk["risk_per_km"], 2),
        "b": bins.tolist(),
    }
    _layer(m, "risk", risk, columns, options, options.layer_simplify_m, TEXTS["risk"], show=False)


def _layer(
    m: folium.Map,
    kind: str,
    frame: gpd.GeoDataFrame,
    columns: Mapping[str, Sequence[object]],
    options: MapOptions,
    simplify_m: float,
    name: Bilingual,
    *,
    show: bool = True,
) -> None:
    data = encode_layer(frame, columns, simplify_m=simplify_m, decimals=options.coordinate_decimals)
    _GeoLayer(kind, _json(data), name=_bi(name), show=show).add_to(m)


def _add_heat(m: folium.Map, data: MapData, options: MapOptions) -> None:
    incidents = _incidents(data)
    if incidents.empty:
        return
    d = options.coordinate_decimals
    rows = [
        [round(float(lat), d), round(float(lon), d), float(w)]
        for lat, lon, w in zip(incidents["lat"], incidents["lon"], incidents["weight"], strict=True)
    ]
    HeatMap(
        rows, name=_bi(TEXTS["heat"]), radius=22, blur=18, min_opacity=0.35, max_zoom=13, show=False
    ).add_to(m)


def _add_reports(m: folium.Map, data: MapData, options: MapOptions) -> None:
    r = data.reports
    if r is None or r.empty:
        return
    cats, stats = list(CATEGORY_COLORS), list(STATUS_LABELS)
    rows = [
        [_round(lat, options), _round(lon, options), _index(cats, c), _index(stats, s), t, str(i)]
        for lat, lon, c, s, t, i in zip(
            r["lat"],
            r["lon"],
            r["category"],
            r["status"],
            _local_times(r["observed_ms"], options.timezone),
            _col(r, "id", ""),
            strict=True,
        )
    ]
    cluster = MarkerCluster(
        name=_bi(TEXTS["reports"]),
        icon_create_function=_CLUSTER_ICON,
        options={"maxClusterRadius": 45, "showCoverageOnHover": False},
    )
    cluster.add_child(_Points("report", rows))
    cluster.add_to(m)


def _add_alerts(m: folium.Map, data: MapData, options: MapOptions) -> None:
    a = data.alerts
    if a is None or a.empty:
        return
    sevs, states = list(SEVERITY_COLORS), list(STATE_LABELS)
    rows = [
        [
            _round(lat, options),
            _round(lon, options),
            _index(sevs, s),
            _index(states, st),
            _index(list(OVERDUE), o or ""),
            t,
            str(i),
            str(rule),
        ]
        for lat, lon, s, st, o, t, i, rule in zip(
            a["lat"],
            a["lon"],
            a["severity"],
            a["state"],
            _col(a, "overdue", ""),
            _local_times(a["created_ms"], options.timezone),
            _col(a, "id", ""),
            _col(a, "rule", ""),
            strict=True,
        )
    ]
    group = folium.FeatureGroup(name=_bi(TEXTS["alerts"]))
    group.add_child(_Points("alert", rows))
    group.add_to(m)


def _add_fixes(m: folium.Map, data: MapData, max_points: int = 20_000) -> None:
    f = data.fixes
    if f is None or f.empty:
        return
    if len(f) > max_points:
        f = f.iloc[np.linspace(0, len(f) - 1, max_points).astype(int)]
    rows = np.round(f[["lat", "lon"]].to_numpy(float), 5).tolist()
    group = folium.FeatureGroup(name=_bi(TEXTS["fixes"]), show=False)
    group.add_child(_Points("fix", rows))
    group.add_to(m)


def _incidents(data: MapData) -> pd.DataFrame:
    parts = []
    if data.reports is not None and len(data.reports):
        parts.append(data.reports[["lon", "lat"]].assign(weight=1.0))
    if data.alerts is not None and len(data.alerts):
        parts.append(data.alerts[["lon", "lat"]].assign(weight=1.0))
    if not parts:
        return pd.DataFrame({"lon": [], "lat": [], "weight": []})
    return pd.concat(parts, ignore_index=True).dropna()


# ----------------------------------------------------------------------------------------------
# compact layer data: encoded polylines and columnar properties


def encode_layer(
    frame: gpd.GeoDataFrame,
    columns: Mapping[str, Sequence[object]],
    *,
    simplify_m: float = 0.0,
    decimals: int = 5,
) -> dict[str, object]:
    """A layer as compact JSON-ready data the map's runtime decodes into GeoJSON features:
    ``g`` one string per feature (see :func:`encode_geometries`; geometries simplified in the metric
    CRS first, empty ones dropped), ``c`` the properties by column (text columns with few distinct
    values dictionary-coded as ``{"d": values, "x": indices}``), ``f`` the coordinate factor."""
    geoms = np.asarray(frame.geometry.values, dtype=object)
    if simplify_m > 0 and frame.crs is not None and not frame.crs.is_geographic:
        geoms = shapely.simplify(geoms, simplify_m, preserve_topology=True)
    wgs = np.asarray(gpd.GeoSeries(geoms, crs=frame.crs).to_crs(4326).values, dtype=object)
    encoded = encode_geometries(wgs, decimals=decimals)
    keep = np.array([bool(g) for g in encoded], dtype=bool)
    cols = {
        k: _column([v for v, ok in zip(values, keep, strict=True) if ok]) for k, values in columns.items()
    }
    return {"f": 10**decimals, "g": [g for g, ok in zip(encoded, keep, strict=True) if ok], "c": cols}


def encode_geometries(geoms: np.ndarray, *, decimals: int = 5) -> list[str]:
    """Each (multi)line or (multi)polygon as text: ``#`` (polygonal) or ``!`` (lineal), then its parts
    joined by ``;`` and each part's rings by ``,``; a ring is a Google encoded polyline (lat, lon at
    10^-decimals°; repeated points dropped). Empty and point geometries give ''."""
    parts, part_geom = shapely.get_parts(geoms, return_index=True)
    type_ids = shapely.get_type_id(parts)
    rings, ring_part = _rings(parts, type_ids)
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    texts = _encode_rings(xy, ring_of, len(rings), decimals)
    return _assemble(texts, ring_part, part_geom, type_ids == 3, len(geoms))


def _assemble(
    ring_texts: list[str], ring_part: np.ndarray, part_geom: np.ndarray, part_poly: np.ndarray, n_geoms: int
) -> list[str]:
    """Rings (sorted by part, parts sorted by geometry) joined into one text per geometry."""
    out = [""] * n_geoms
    parts: dict[int, list[str]] = {}
    for text, part in zip(ring_texts, ring_part.tolist(), strict=True):
        parts.setdefault(part, []).append(text)
    geoms: dict[int, list[str]] = {}
    for part, rings in parts.items():
        geoms.setdefault(int(part_geom[part]), []).append(",".join(rings))
    for g, texts in geoms.items():
        out[g] = ";".join(texts)
    poly_of_geom = np.zeros(n_geoms, dtype=bool)
    poly_of_geom[part_geom[part_poly]] = True
    return [("#" if poly_of_geom[g] else "!") + t if t else "" for g, t in enumerate(out)]


def _rings(parts: np.ndarray, type_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Polygon parts → their rings (exterior first); line parts → themselves; with the part index."""
    poly = np.flatnonzero(type_ids == 3)
    line = np.flatnonzero(np.isin(type_ids, (1, 2)))
    poly_rings, poly_of = shapely.get_rings(parts[poly], return_index=True)
    rings = np.concatenate([np.asarray(poly_rings, dtype=object), parts[line]])
    part_of = np.concatenate([poly[poly_of], line]).astype(np.int64)
    order = np.argsort(part_of, kind="stable")
    return rings[order], part_of[order]


def _encode_rings(xy: np.ndarray, ring_of: np.ndarray, n_rings: int, decimals: int) -> list[str]:
    q = np.round(xy[:, ::-1] * 10**decimals).astype(np.int64)  # lat, lon
    first = np.r_[True, ring_of[1:] != ring_of[:-1]] if len(q) else np.zeros(0, bool)
    delta = np.where(first[:, None], q, q - np.roll(q, 1, axis=0))
    keep = first | (delta != 0).any(axis=1)
    delta, ring_of = delta[keep], ring_of[keep]
    chars, n_chars = _polyline_chars(delta.ravel())
    per_ring = np.bincount(np.repeat(ring_of, 2), weights=n_chars, minlength=n_rings).astype(np.int64)
    ends = np.cumsum(per_ring)
    text = chars.tobytes().decode("ascii")
    return [text[e - n : e] for e, n in zip(ends, per_ring, strict=True)]


def _polyline_chars(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Google polyline encoding of integers, vectorized: the characters (uint8) and the count per value."""
    z = ((values << 1) ^ (values >> 63)).astype(np.uint64)  # zig-zag: small magnitudes → small codes
    shifts = np.arange(8, dtype=np.uint64) * np.uint64(5)
    chunks = (z[:, None] >> shifts[None, :]) & np.uint64(31)
    n = 1 + ((z[:, None] >> shifts[None, 1:]) > 0).sum(axis=1)
    slot = np.arange(8)[None, :]
    codes = chunks + np.where(slot < (n[:, None] - 1), 32, 0).astype(np.uint64) + np.uint64(63)
    return codes[slot < n[:, None]].astype(np.uint8), n


def _column(values: list[object]) -> object:
    """A property column; text with few distinct values as a dictionary and indices."""
    if len(values) >= 8 and all(isinstance(v, str) for v in values):
        uniques, index = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
        if len(uniques) * 4 <= len(values):
            return {"d": uniques.tolist(), "x": index.astype(int).tolist()}
    return values


def _json(value: object) -> str:
    """Compact JSON safe inside a <script> element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _col(frame: pd.DataFrame, name: str, default: object) -> np.ndarray:
    if name in frame.columns:
        return frame[name].to_numpy()
    return np.full(len(frame), default, dtype=float if isinstance(default, float) else object)


def _texts(values: object) -> list[str]:
    return ["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in values]  # type: ignore[attr-defined]


def _nums(values: object, digits: int) -> list[float | None]:
    return [_num(v, digits) for v in values]  # type: ignore[attr-defined]


def _num(value: object, digits: int) -> float | None:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if not np.isfinite(v) else round(v, digits)


def _round(value: object, options: MapOptions) -> float:
    return round(float(value), options.coordinate_decimals)  # type: ignore[arg-type]


def _index(values: list[str], value: object) -> int:
    return values.index(value) if value in values else len(values) - 1 if values else 0


def _local_times(time_ms: object, timezone: str) -> list[str]:
    """``MM-DD HH:MM`` local times ('' when missing)."""
    ms = pd.to_numeric(pd.Series(time_ms, dtype="float64"))
    stamps = pd.to_datetime(ms, unit="ms", utc=True).dt.tz_convert(timezone)
    return [("" if pd.isna(s) else s.strftime("%m-%d %H:%M")) for s in stamps]


def _cell_breaks(options: MapOptions) -> tuple[float, ...]:
    return tuple(options.cell_breaks or CELL_BREAKS[options.cell_metric])


def _squad_palette(tracks: gpd.GeoDataFrame | None) -> dict[str, str]:
    if tracks is None or "squad_id" not in tracks.columns:
        return {}
    names = sorted({str(s) for s in tracks["squad_id"].dropna() if str(s)})
    return {s: SQUAD_COLORS[i % len(SQUAD_COLORS)] for i, s in enumerate(names)}


def _bi(pair: Bilingual) -> str:
    """Both languages as spans; CSS shows the one of the page's language."""
    zh, en = (html.escape(p) for p in pair)
    return f'<span class="ep-zh">{zh}</span><span class="ep-en">{en}</span>'


# ----------------------------------------------------------------------------------------------
# title and legend (HTML built here, placed by the runtime as Leaflet controls)


def _title_html(options: MapOptions) -> str:
    sub = f'<div class="ep-sub">{_bi(options.subtitle)}</div>' if any(options.subtitle) else ""
    switch = (
        f'<button type="button" class="ep-switch" onclick="EP.toggleLang()">{_bi(TEXTS["switch"])}</button>'
    )
    return f"<h1>{_bi(options.title)}</h1>{sub}{switch}"


def _legend_html(data: MapData, options: MapOptions, squads: Mapping[str, str]) -> str:
    parts = [
        _legend_reaches(data, options),
        _legend_cells(data, options),
        _legend_tracks(data, squads),
        _legend_points(data, options),
        _legend_risk(data),
    ]
    return f"<details open><summary>{_bi(TEXTS['legend'])}</summary>{''.join(parts)}</details>"


def _row(swatch: str, label: str, count: int | None = None) -> str:
    n = f'<span class="ep-n">{count}</span>' if count is not None else ""
    return f'<div class="ep-row">{swatch}<span class="ep-lbl">{label}</span>{n}</div>'


def _swatch(color: str, kind: str = "box", dashed: bool = False) -> str:
    if kind == "line":
        style = (
            f"background:repeating-linear-gradient(90deg,{color} 0 5px,transparent 5px 9px)"
            if dashed
            else f"background:{color}"
        )
        return f'<i class="ep-sw ep-sw-line" style="{style}"></i>'
    if kind == "ring":
        return f'<i class="ep-sw ep-sw-ring" style="border-color:{color}"></i>'
    if kind == "dot":
        return f'<i class="ep-sw ep-sw-dot" style="background:{color}"></i>'
    return f'<i class="ep-sw" style="background:{color}"></i>'


def _legend_reaches(data: MapData, options: MapOptions) -> str:
    cls = freshness_class(
        _col(data.reaches, "last_ms", np.nan),
        options.now_ms,
        fresh_hours=options.fresh_hours,
        stale_hours=options.stale_hours,
    )
    counts = np.bincount(cls, minlength=4)
    f, s = _fmt(options.fresh_hours), _fmt(options.stale_hours)
    labels = [
        (f"< {f} 小时", f"< {f} h"),
        (f"{f}–{s} 小时", f"{f}–{s} h"),
        (f"> {s} 小时", f"> {s} h"),
        TEXTS["never"],
    ]
    rows = "".join(
        _row(_swatch(FRESHNESS_COLORS[i], "line", dashed=i == 3), _bi(labels[i]), int(counts[i]))
        for i in range(4)
    )
    return f"<h2>{_bi(TEXTS['reaches'])}</h2>{rows}"


def _legend_cells(data: MapData, options: MapOptions) -> str:
    breaks = _cell_breaks(options)
    bins = value_bins(_col(data.cells, options.cell_metric, 0.0), breaks)
    counts = np.bincount(bins, minlength=len(CELL_COLORS))
    unit = ("小时", "h") if options.cell_metric == "hours" else ("公里", "km")
    edges = [_fmt(b) for b in breaks]
    labels = [TEXTS["not_in_window"], (f"< {edges[0]} {unit[0]}", f"< {edges[0]} {unit[1]}")]
    labels += [(f"{a}–{b} {unit[0]}", f"{a}–{b} {unit[1]}") for a, b in pairwise(edges)]
    labels.append((f"≥ {edges[-1]} {unit[0]}", f"≥ {edges[-1]} {unit[1]}"))
    rows = "".join(_row(_swatch(CELL_COLORS[i]), _bi(labels[i]), int(counts[i])) for i in range(len(labels)))
    return f"<h2>{_bi(TEXTS['cells_' + options.cell_metric])}</h2>{rows}"


def _legend_tracks(data: MapData, squads: Mapping[str, str]) -> str:
    if data.tracks is None or data.tracks.empty:
        return ""
    present = [m for m in MODE_LABELS if m in set(data.tracks["mode"])]
    modes = "".join(_row(_swatch(MODE_COLORS[m], "line"), _bi(MODE_LABELS[m])) for m in present)
    out = f'<h2>{_bi(TEXTS["tracks_title"])}</h2><div class="ep-modes">{modes}</div>'
    if squads:
        radios = "".join(
            f'<label><input type="radio" name="ep-colour" value="{v}"{" checked" if v == "mode" else ""} '
            f'onchange="EP.colourTracks(this.value)"> {_bi(TEXTS["by_" + v])}</label>'
            for v in ("mode", "squad")
        )
        rows = "".join(_row(_swatch(c, "line"), html.escape(s)) for s, c in squads.items())
        out += (
            f'<div class="ep-switches">{_bi(TEXTS["colour_by"])}: {radios}</div>'
            f'<div class="ep-squads">{rows}</div>'
        )
    return out


def _legend_points(data: MapData, options: MapOptions) -> str:
    out = ""
    if data.reports is not None and len(data.reports):
        counts = data.reports["category"].value_counts()
        rows = "".join(
            _row(
                _swatch(CATEGORY_COLORS.get(c, "#616161"), "dot"),
                _bi(options.category_labels.get(c, (c, c))),
                int(counts[c]),
            )
            for c in CATEGORY_COLORS
            if c in counts.index
        )
        out += f"<h2>{_bi(TEXTS['reports'])}</h2>{rows}"
    if data.alerts is not None and len(data.alerts):
        counts = data.alerts["severity"].value_counts()
        rows = "".join(
            _row(_swatch(SEVERITY_COLORS[s], "ring"), _bi(SEVERITY_LABELS[s]), int(counts[s]))
            for s in SEVERITY_COLORS
            if s in counts.index
        )
        red = int((pd.Series(_col(data.alerts, "overdue", "")) == "red").sum())
        rows += _row('<i class="ep-sw ep-sw-ring ep-blink"></i>', _bi(TEXTS["overdue_red"]), red)
        out += f"<h2>{_bi(TEXTS['alerts'])}</h2>{rows}"
    return out


def _legend_risk(data: MapData) -> str:
    if _incidents(data).empty:
        return ""
    edges = [_fmt(b) for b in RISK_BREAKS_PER_KM]
    labels = [f"< {edges[0]}"] + [f"{a}–{b}" for a, b in pairwise(edges)] + [f"≥ {edges[-1]}"]
    rows = "".join(_row(_swatch(RISK_COLORS[i]), f"{label} /km") for i, label in enumerate(labels))
    return f"<h2>{_bi(TEXTS['risk'])}</h2>{rows}"


def _fmt(value: float) -> str:
    return f"{value:g}"


# ----------------------------------------------------------------------------------------------
# folium elements


class _Verbatim(MacroElement):
    """An element whose head and script code go into the page as they are. (branca would re-parse a
    rendered macro as a Jinja template: slow for megabytes of data, and wrong if the data held ``{{``.)"""

    def head_code(self) -> str:
        return ""

    def script_code(self) -> str:
        return ""

    def render(self, **kwargs: object) -> None:
        figure = self.get_root()
        if isinstance(self, Layer) and self.show:  # what folium.map.Layer.render does
            self.add_child(
                ElementAddToElement(
                    element_name=self.get_name(), element_parent_name=self._parent.get_name()
                ),
                name=self.get_name() + "_add",
            )
        if head := self.head_code():
            figure.header.add_child(verbatim(head), name=self.get_name())
        if script := self.script_code():
            figure.script.add_child(verbatim(script), name=self.get_name())
        for child in self._children.values():
            child.render(**kwargs)


class _Runtime(_Verbatim):
    """The page's CSS and the small ``EP`` JavaScript runtime, once, in the head."""

    def __init__(self, config: dict[str, object]) -> None:
        super().__init__()
        self._name = "EcopatrolRuntime"
        self.config = config

    def head_code(self) -> str:
        css, js = _runtime_assets()
        return f"<style>{css}</style><script>var EP_CONFIG = {_json(self.config)};\n{js}</script>"


class _GeoLayer(_Verbatim, Layer):
    """A GeoJSON overlay drawn by the runtime (styles and bilingual tooltips by ``kind``)."""

    def __init__(self, kind: str, data_json: str, *, name: str, show: bool = True) -> None:
        Layer.__init__(self, name=name, overlay=True, control=True, show=show)
        self._name = "EcopatrolGeoLayer"
        self.kind = kind
        self.data = data_json

    def script_code(self) -> str:
        return f"var {self.get_name()} = EP.layer({_json(self.kind)}, {self.data});"


class _Points(_Verbatim):
    """Point rows added by the runtime to the parent group (a marker cluster or a feature group)."""

    def __init__(self, kind: str, rows: list[list[object]]) -> None:
        super().__init__()
        self._name = "EcopatrolPoints"
        self.kind = kind
        self.rows = _json(rows)

    def script_code(self) -> str:
        return f"EP.points({self._parent.get_name()}, {_json(self.kind)}, {self.rows});"


class _Control(_Verbatim):
    """A fixed HTML box (title, legend) as a Leaflet control."""

    def __init__(self, body_html: str, position: str, css_class: str) -> None:
        super().__init__()
        self._name = "EcopatrolControl"
        self.body = body_html
        self.position = position
        self.css_class = css_class

    def script_code(self) -> str:
        return (
            f"EP.control({self._parent.get_name()}, {_json(self.body)}, {_json(self.position)}, "
            f"{_json(self.css_class)});"
        )


class _Ready(_Verbatim):
    """Last element of the map: flags the page as drawn (``window.ecopatrolMapReady``)."""

    def __init__(self) -> None:
        super().__init__()
        self._name = "EcopatrolReady"

    def script_code(self) -> str:
        return f"EP.ready({self._parent.get_name()});"


@functools.cache
def _runtime_assets() -> tuple[str, str]:
    """The map's CSS and JavaScript (``geo/maps_runtime.css`` and ``.js``, shipped as package data)."""
    here = Path(__file__).resolve().parent
    return (
        (here / "maps_runtime.css").read_text(encoding="utf-8"),
        (here / "maps_runtime.js").read_text(encoding="utf-8"),
    )


def _runtime_config(options: MapOptions, squads: Mapping[str, str]) -> dict[str, object]:
    return {
        "lang": options.lang,
        "t": TEXTS,
        "metric": options.cell_metric,
        "fresh": {"colors": FRESHNESS_COLORS, "keys": FRESHNESS},
        "cells": CELL_COLORS,
        "risk": RISK_COLORS,
        "modes": MODE_COLORS,
        "modeLabels": MODE_LABELS,
        "squads": dict(squads),
        "categories": {
            "colors": list(CATEGORY_COLORS.values()),
            "labels": [options.category_labels.get(k, (k, k)) for k in CATEGORY_COLORS],
        },
        "statuses": [options.status_labels.get(k, (k, k)) for k in STATUS_LABELS],
        "severities": {"colors": list(SEVERITY_COLORS.values()), "labels": list(SEVERITY_LABELS.values())},
        "states": list(STATE_LABELS.values()),
        "overdue": OVERDUE,
    }


_CLUSTER_ICON = """function (cluster) {
    var n = cluster.getChildCount(), s = n < 10 ? 28 : n < 100 ? 34 : 42;
    return L.divIcon({html: '<div><span>' + n + '</span></div>', className: 'ep-cluster',
                      iconSize: L.point(s, s)});
}"""
