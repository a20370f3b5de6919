"""The coverage map for a window and filters: load from the store, draw with ``geo.maps``, make it
self-contained with ``geo.maps_offline`` (self-hosted links for the server, inlined for a file)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from ecopatrol import review_data as rd
from ecopatrol.runtime import Runtime
from geo.maps import MapData, MapOptions, track_lines
from geo.maps import build_coverage_map as draw_coverage_map
from geo.maps_offline import self_contained_html

VENDOR_DIR = Path(__file__).resolve().parent / "web" / "static" / "vendor"
STATIC_VENDOR_URL = "/static/vendor"


@dataclass(frozen=True)
class MapInputs:
    data: MapData
    options: MapOptions


def build_coverage_map(
    runtime: Runtime,
    since: str,
    township: str | None = None,
    squad: str | None = None,
    mode: str | None = None,
    lang: str = "zh",
    *,
    assets: Literal["link", "inline"] = "link",
    include_fixes: bool = False,
    cell_metric: Literal["hours", "km"] = "hours",
    tile_url: str | None = None,
) -> str:
    """The coverage map page as HTML. ``assets="link"`` points at ``/static/vendor`` (served by the app);
    ``"inline"`` embeds every asset so the file opens from disk with no server and no internet.
    Raises :class:`ecopatrol.review_data.ReviewQueryError` for a bad window or filter."""
    tile_url = tile_url if tile_url is not None else configured_tile_url(runtime)
    inputs = map_inputs(
        runtime,
        since,
        rd.Filters(township, squad, mode),
        lang=lang,
        include_fixes=include_fixes,
        cell_metric=cell_metric,
        tile_url=tile_url,
    )
    folium_map = draw_coverage_map(inputs.data, inputs.options)
    return self_contained_html(
        folium_map,
        assets=assets,
        base_url=STATIC_VENDOR_URL,
        vendor_dir=VENDOR_DIR,
        allowed_urls=[tile_url] if tile_url else [],
    )


def configured_tile_url(runtime: Runtime) -> str | None:
    """``[maps] tile_url`` from the config when the settings have that section (else no basemap)."""
    maps = getattr(runtime.settings, "maps", None)
    url = getattr(maps, "tile_url", None)
    return str(url) if url else None


def map_inputs(
    runtime: Runtime,
    since: str,
    filters: rd.Filters,
    *,
    lang: str = "zh",
    include_fixes: bool = False,
    cell_metric: Literal["hours", "km"] = "hours",
    tile_url: str | None = None,
) -> MapInputs:
    """Everything the map draws, loaded for the window and filters."""
    win = rd.window(runtime, since)
    filters = rd.check_filters(filters)
    layers = runtime.layer_index().layers
    with runtime.store.read() as conn:
        effort = rd.load_effort(conn, win, filters)
        rows, visits, fixes = effort.rows, effort.visits, effort.fixes
        squads = _squad_labels(conn)
        reports = rd.load_reports(conn, start_ms=win.start_ms, end_ms=win.end_ms)
        alerts = rd.load_alerts(conn, open_only=True)
    reaches = _with_effort(layers.reaches, "reach", "reach_id", rows, visits, layers.townships, filters)
    cells = _with_effort(layers.cells, "cell", "cell_id", rows, visits, layers.townships, filters)
    settings = runtime.settings
    tracks = track_lines(
        fixes.assign(squad_id=fixes["unit_id"].map(squads)),
        metric_crs=layers.metric_crs,
        max_gap_s=settings.ingest.max_gap_s,
        max_jump_m=settings.ingest.max_jump_m,
        day_offset_hours=rd.day_offset_hours(runtime, win.end_ms),
    )
    data = MapData(
        reaches=reaches,
        cells=cells,
        townships=layers.townships,
        zones=layers.zones,
        tracks=tracks,
        reports=_reports_in(reports, win, layers.townships, filters.township),
        alerts=_alerts_in(alerts, layers.townships, filters.township),
        fixes=fixes[["lon", "lat"]] if include_fixes else None,
    )
    return MapInputs(data=data, options=_options(runtime, win, filters, lang, cell_metric, tile_url))


def _squad_labels(conn) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """unit_id → its squad's name (or id)."""
    names = rd.squad_names(conn)
    return {u: names.get(s, s) for u, s in rd.unit_squads(conn).items()}


def _with_effort(
    features: gpd.GeoDataFrame,
    kind: str,
    id_column: str,
    rows: pd.DataFrame,
    visits: pd.DataFrame,
    townships: gpd.GeoDataFrame,
    filters: rd.Filters,
) -> gpd.GeoDataFrame:
    out = features.copy()
    effort = rd.feature_effort(rows, visits, kind, out[id_column])
    out[effort.columns] = effort
    out["township"] = rd.townships_of(out, townships)
    if filters.township:
        out = out[out["township"] == filters.township]
    return out


def _reports_in(
    reports: pd.DataFrame, win: rd.Window, townships: gpd.GeoDataFrame, township: str | None
) -> pd.DataFrame:
    observed = pd.to_numeric(reports["observed_ms"], errors="coerce")
    frame = reports[(observed >= win.start_ms) & (observed <= win.end_ms)].dropna(subset=["lon", "lat"])
    return _in_township(frame, townships, township)


def _alerts_in(alerts: pd.DataFrame, townships: gpd.GeoDataFrame, township: str | None) -> pd.DataFrame:
    frame = alerts.dropna(subset=["lon", "lat"])
    return _in_township(frame, townships, township)


def _in_township(frame: pd.DataFrame, townships: gpd.GeoDataFrame, township: str | None) -> pd.DataFrame:
    if not township or frame.empty:
        return frame
    inside = rd.in_township(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float), townships, township)
    return frame[np.asarray(inside, dtype=bool)]


def _options(
    runtime: Runtime,
    win: rd.Window,
    filters: rd.Filters,
    lang: str,
    cell_metric: Literal["hours", "km"],
    tile_url: str | None,
) -> MapOptions:
    name = runtime.settings.deployment.name
    window_zh, window_en = win.label()
    filter_zh, filter_en = filters.describe()
    coverage = runtime.settings.coverage
    return MapOptions(
        now_ms=win.end_ms,
        fresh_hours=coverage.fresh_hours,
        stale_hours=coverage.stale_hours,
        lang="en" if lang == "en" else "zh",
        cell_metric=cell_metric,
        tile_url=tile_url,
        title=(f"{name} 巡护覆盖图", f"Patrol coverage · {name}"),
        subtitle=(
            window_zh + (f"｜{filter_zh}" if filter_zh else ""),
            window_en + (f" | {filter_en}" if filter_en else ""),
        ),
        timezone=win.timezone,
        **_labels(),
    )


def _labels() -> dict[str, object]:
    """The reports part's own category and status labels, when it is installed."""
    try:
        from ecopatrol.reports.categories import CATEGORY_LABELS
        from ecopatrol.reports.lifecycle import STATUS_LABELS
    except ImportError:
        return {}
    return {"category_labels": CATEGORY_LABELS, "status_labels": STATUS_LABELS}
