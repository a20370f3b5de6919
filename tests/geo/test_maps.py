"""The pure map builders: classification, tracks, compact geometry, risk, and pages with no external URL."""

from __future__ import annotations

import json
import re
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from folium.plugins import Fullscreen

from geo.maps import (
    FRESHNESS_COLORS,
    MapData,
    MapOptions,
    build_coverage_map,
    encode_geometries,
    freshness_class,
    incident_risk,
    track_lines,
    value_bins,
)
from geo.maps_offline import OfflineAssetError, external_resources, external_urls, self_contained_html

VENDOR = Path(__file__).resolve().parents[2] / "ecopatrol" / "web" / "static" / "vendor"
CRS = "EPSG:32650"
NOW_MS = 1_763_600_000_000
HOUR_MS = 3_600_000
X0, Y0 = 860_000.0, 3_190_000.0  # near the demo county (UTM 50N)


# --- classification --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours_ago", "expected"),
    [
        (0.5, "fresh"),
        (23.9, "fresh"),
        (24.0, "recent"),
        (71.9, "recent"),
        (72.0, "stale"),
        (500, "stale"),
        (None, "never"),
    ],
)
def test_freshness_by_default_thresholds(hours_ago: float | None, expected: str) -> None:
    last = np.nan if hours_ago is None else NOW_MS - hours_ago * HOUR_MS
    cls = freshness_class([last], NOW_MS, fresh_hours=24, stale_hours=72)
    assert ("fresh", "recent", "stale", "never")[int(cls[0])] == expected


def test_freshness_follows_configured_thresholds() -> None:
    last = [NOW_MS - h * HOUR_MS for h in (5, 7, 13)] + [np.nan]
    assert freshness_class(last, NOW_MS, fresh_hours=6, stale_hours=12).tolist() == [0, 1, 2, 3]


def test_value_bins() -> None:
    assert value_bins([0, np.nan, 0.1, 0.25, 2, 9], (0.25, 1.0, 4.0)).tolist() == [0, 0, 1, 2, 3, 4]


# --- tracks ---------------------------------------------------------------------------------------------


def _fixes(
    unit: str,
    xy_m: list[tuple[float, float]],
    times_ms: list[int],
    mode: str = "foot",
    outlier: list[bool] | None = None,
) -> pd.DataFrame:
    pts = gpd.GeoSeries(shapely.points(np.asarray(xy_m)), crs=CRS).to_crs(4326)
    return pd.DataFrame(
        {
            "unit_id": unit,
            "time_ms": np.asarray(times_ms, dtype="int64"),
            "lon": pts.x,
            "lat": pts.y,
            "mode": mode,
            "outlier": outlier or [False] * len(times_ms),
        }
    )


def test_track_lines_split_at_gaps_days_and_drop_outliers() -> None:
    base = 1_763_560_800_000  # 2025-11-19T14:00Z = 22:00 local
    xy = [(X0 + 100 * i, Y0) for i in range(5)]
    times = [base, base + 60_000, base + 120_000, base + 120_000 + 20 * 60_000, base + 121_000 + 20 * 60_000]
    day2 = [base + 3 * HOUR_MS, base + 3 * HOUR_MS + 60_000]  # 01:00 local the next day
    frame = pd.concat(
        [
            _fixes("F1", [*xy, (X0, Y0 + 5000)], [*times, base + 130000], outlier=[False] * 5 + [True]),
            _fixes("F1", [(X0, Y0), (X0, Y0 + 300)], day2),
        ],
        ignore_index=True,
    )
    tracks = track_lines(frame, metric_crs=CRS, max_gap_s=600, day_offset_hours=8)
    assert tracks["day"].tolist() == [20251119, 20251120]
    first = tracks.iloc[0]
    assert first["n_fixes"] == 5
    assert first["km"] == pytest.approx(0.3, rel=1e-3)  # the 20-minute gap is not travelled
    assert first["hours"] == pytest.approx((120 + 1) / 3600, rel=1e-3)
    assert len(shapely.get_parts(first.geometry)) == 2
    assert tracks.iloc[1]["km"] == pytest.approx(0.3, rel=1e-3)


def test_track_lines_of_nothing() -> None:
    empty = _fixes("F1", [(X0, Y0)], [NOW_MS]).iloc[:0]
    assert track_lines(empty, metric_crs=CRS).empty


# --- compact geometry -----------------------------------------------------------------------------------


def _decode_ring(text: str, factor: int) -> list[tuple[float, float]]:
    out, i, lat, lon = [], 0, 0, 0
    while i < len(text):
        values = []
        for _ in range(2):
            result, shift = 0, 0
            while True:
                b = ord(text[i]) - 63
                i += 1
                result |= (b & 31) << shift
                shift += 5
                if b < 32:
                    break
            values.append(~(result >> 1) if result & 1 else result >> 1)
        lat, lon = lat + values[0], lon + values[1]
        out.append((lon / factor, lat / factor))
    return out


@pytest.mark.parametrize(
    "wkt",
    [
        "LINESTRING (120.123456 28.5, 120.2 28.6, 120.2 28.6, 119.9 28.4)",
        "MULTILINESTRING ((120 28, 120.1 28.1), (121 29, 121.00001 29.00002))",
        "POLYGON ((120 28, 120.1 28, 120.1 28.1, 120 28), "
        "(120.02 28.02, 120.05 28.02, 120.05 28.05, 120.02 28.02))",
        "MULTIPOLYGON (((120 28, 120.1 28, 120.1 28.1, 120 28)), ((121 29, 121.1 29, 121.1 29.1, 121 29)))",
    ],
)
def test_encoded_geometries_decode_to_the_rounded_coordinates(wkt: str) -> None:
    geom = shapely.from_wkt(wkt)
    [text] = encode_geometries(np.array([geom], dtype=object), decimals=5)
    assert text[0] == ("#" if "POLYGON" in wkt else "!")
    decoded = [[_decode_ring(r, 100_000) for r in part.split(",")] for part in text[1:].split(";")]
    parts = list(shapely.get_parts(geom))
    assert len(decoded) == len(parts)
    for rings, part in zip(decoded, parts, strict=True):
        expected_rings = [part.exterior, *part.interiors] if part.geom_type == "Polygon" else [part]
        for ring, expected in zip(rings, expected_rings, strict=True):
            coords = np.round(np.asarray(expected.coords), 5)
            keep = np.r_[True, (np.diff(coords, axis=0) != 0).any(axis=1)]
            np.testing.assert_allclose(np.asarray(ring), coords[keep], atol=1e-9)


def test_empty_and_point_geometries_encode_to_nothing() -> None:
    geoms = np.array([shapely.from_wkt("LINESTRING EMPTY"), shapely.Point(1, 2), None], dtype=object)
    assert encode_geometries(geoms) == ["", "", ""]


# --- risk -----------------------------------------------------------------------------------------------


def test_incident_risk_per_patrol_km() -> None:
    cells = gpd.GeoDataFrame(
        {"cell_id": ["A", "B"], "km": [0.0, 10.0]},
        geometry=[shapely.box(X0, Y0, X0 + 500, Y0 + 500), shapely.box(X0 + 500, Y0, X0 + 1000, Y0 + 500)],
        crs=CRS,
    )
    reaches = gpd.GeoDataFrame(
        {"reach_id": ["R"], "km": [4.0]},
        geometry=[shapely.LineString([(X0, Y0 - 100), (X0 + 1000, Y0 - 100)])],
        crs=CRS,
    )
    pts = gpd.GeoSeries(
        shapely.points([(X0 + 250, Y0 + 50), (X0 + 750, Y0 + 250), (X0 + 800, Y0 + 300)]), crs=CRS
    ).to_crs(4326)
    risk = incident_risk(
        pd.DataFrame({"lon": pts.x, "lat": pts.y}), cells, reaches, near_river_m=200, min_km=0.5
    ).set_index("feature_id")
    assert risk.loc["A", "risk_per_km"] == pytest.approx(1 / 0.5)  # no patrol: effort floor
    assert risk.loc["B", "incidents"] == 2 and risk.loc["B", "risk_per_km"] == pytest.approx(0.2)
    assert risk.loc["R", "incidents"] == 1 and risk.loc["R", "kind"] == "reach"


# --- the page -------------------------------------------------------------------------------------------


def _data(with_points: bool = True) -> MapData:
    lines = [shapely.LineString([(X0 + 600 * i, Y0), (X0 + 600 * i + 500, Y0 + 50)]) for i in range(4)]
    reaches = gpd.GeoDataFrame(
        {
            "reach_id": [f"R{i}" for i in range(4)],
            "river_name": "演示溪",
            "length_m": 500.0,
            "priority": ["high", "normal", "normal", "normal"],
            "last_ms": [NOW_MS - 2 * HOUR_MS, NOW_MS - 30 * HOUR_MS, NOW_MS - 100 * HOUR_MS, np.nan],
            "km": [1.0, 0.5, 0.2, 0.0],
            "passes": [2, 1, 1, 0],
        },
        geometry=lines,
        crs=CRS,
    )
    cells = gpd.GeoDataFrame(
        {
            "cell_id": ["C0", "C1", "C2"],
            "forest_name": "演示林",
            "area_m2": 250_000.0,
            "priority": "normal",
            "last_ms": [NOW_MS - HOUR_MS, np.nan, NOW_MS - 50 * HOUR_MS],
            "hours": [2.0, 0.0, 0.1],
            "km": [3.0, 0.0, 0.2],
        },
        geometry=[shapely.box(X0 + 500 * i, Y0 + 500, X0 + 500 * (i + 1), Y0 + 1000) for i in range(3)],
        crs=CRS,
    )
    townships = gpd.GeoDataFrame(
        {"township_id": ["T"], "name": ["演示镇"]},
        geometry=[shapely.box(X0 - 500, Y0 - 500, X0 + 3000, Y0 + 1500)],
        crs=CRS,
    )
    base = NOW_MS - 5 * HOUR_MS
    fixes = pd.concat(
        [
            _fixes(
                "V01",
                [(X0 + 100 * i, Y0 + 20) for i in range(10)],
                [base + 10_000 * i for i in range(10)],
                mode="vehicle",
            ),
            _fixes(
                "F01",
                [(X0 + 50 * i, Y0 + 700) for i in range(10)],
                [base + 30_000 * i for i in range(10)],
                mode="foot",
            ),
        ],
        ignore_index=True,
    )
    tracks = track_lines(
        fixes.assign(squad_id=fixes["unit_id"].map({"V01": "一中队", "F01": "二中队"})), metric_crs=CRS
    )
    if not with_points:
        return MapData(reaches=reaches, cells=cells, townships=townships, tracks=tracks)
    pts = gpd.GeoSeries(shapely.points([(X0 + 200, Y0 + 700), (X0 + 1300, Y0 + 30)]), crs=CRS).to_crs(4326)
    reports = pd.DataFrame(
        {
            "lon": pts.x,
            "lat": pts.y,
            "category": ["snare", "illegal_fishing"],
            "status": ["received", "resolved"],
            "observed_ms": [NOW_MS - HOUR_MS] * 2,
            "id": [1, 2],
        }
    )
    alerts = pd.DataFrame(
        {
            "lon": pts.x[:1],
            "lat": pts.y[:1],
            "severity": ["high"],
            "state": ["open"],
            "created_ms": [NOW_MS - 600_000],
            "overdue": ["red"],
            "id": ["A1"],
            "rule": ["snare"],
        }
    )
    return MapData(
        reaches=reaches,
        cells=cells,
        townships=townships,
        tracks=tracks,
        reports=reports,
        alerts=alerts,
        fixes=fixes[["lon", "lat"]],
    )


def _layer_data(page: str, kind: str) -> dict:
    match = re.search(r'EP\.layer\("' + kind + r'", (\{.*?\})\);', page)
    assert match, f"no {kind} layer"
    return json.loads(match.group(1))


def test_raw_folium_would_load_from_cdns() -> None:
    """The reason for geo.maps_offline: folium's own page points at CDNs."""
    page = build_coverage_map(_data(), MapOptions(now_ms=NOW_MS)).get_root().render()
    assert any("cdn.jsdelivr.net" in u for u in external_urls(page))


def test_served_page_has_no_external_url_and_every_layer() -> None:
    page = self_contained_html(build_coverage_map(_data(), MapOptions(now_ms=NOW_MS)), assets="link")
    assert external_urls(page) == []
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert scripts[0] == "/static/vendor/leaflet/leaflet.js"  # before its plugins
    assert sorted(scripts[1:]) == [
        "/static/vendor/leaflet.heat/leaflet-heat.js",
        "/static/vendor/leaflet.markercluster/leaflet.markercluster.js",
    ]
    assert sorted(re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)) == [
        "/static/vendor/leaflet.markercluster/MarkerCluster.Default.css",
        "/static/vendor/leaflet.markercluster/MarkerCluster.css",
        "/static/vendor/leaflet/leaflet.css",
    ]
    for dropped in ("jquery", "bootstrap", "awesome-markers", "fontawesome", "glyphicons"):
        assert dropped not in page.lower()
    for kind in ("township", "cell", "track", "reach", "risk"):
        _layer_data(page, kind)
    for label in (
        "河段巡护时效",
        "林区网格巡护时长",
        "车巡轨迹",
        "步巡轨迹",
        "举报线索",
        "未结警情",
        "案事件热力图",
        "风险：案事件/巡护公里",
        "乡镇界",
        "定位点",
    ):
        assert label in page or json.dumps(label)[1:-1] in page  # layer names are JSON-escaped
    assert "EP.points(" in page and "L.heatLayer(" in page and "L.control.layers(" in page
    assert "EP.ready(" in page


def test_reaches_coloured_by_thresholds() -> None:
    page = self_contained_html(build_coverage_map(_data(False), MapOptions(now_ms=NOW_MS)), assets="link")
    reach = _layer_data(page, "reach")
    assert reach["c"]["c"] == [0, 1, 2, 3]  # fresh, recent, stale, never
    assert reach["c"]["h"][3] is None and reach["c"]["p"][0] == 1
    config = json.loads(re.search(r"var EP_CONFIG = (\{.*?\});", page).group(1))
    assert config["fresh"]["colors"] == list(FRESHNESS_COLORS)
    tight = self_contained_html(
        build_coverage_map(_data(False), MapOptions(now_ms=NOW_MS, fresh_hours=1, stale_hours=3)),
        assets="link",
    )
    assert _layer_data(tight, "reach")["c"]["c"] == [1, 2, 2, 3]
    cells = _layer_data(page, "cell")
    assert cells["c"]["b"] == [3, 0, 1]  # hours 2.0, none, 0.1


def test_standalone_page_inlines_every_asset() -> None:
    page = self_contained_html(
        build_coverage_map(_data(), MapOptions(now_ms=NOW_MS)), assets="inline", vendor_dir=VENDOR
    )
    assert "<script src=" not in page and 'rel="stylesheet"' not in page
    assert external_resources(page) == []
    assert "L.markerClusterGroup" in page and "data:image/png;base64," in page  # Leaflet's control images


def test_tile_url_is_the_only_url_allowed() -> None:
    tile = "http://10.1.2.3:8080/tiles/{z}/{x}/{y}.png"
    page = self_contained_html(
        build_coverage_map(_data(False), MapOptions(now_ms=NOW_MS, tile_url=tile)),
        assets="link",
        allowed_urls=[tile],
    )
    assert tile in page
    assert external_urls(page, allowed=[tile]) == []


def test_an_asset_without_a_self_hosted_copy_is_refused() -> None:
    m = build_coverage_map(_data(False), MapOptions(now_ms=NOW_MS))
    Fullscreen().add_to(m)
    with pytest.raises(OfflineAssetError, match="Fullscreen"):
        self_contained_html(m, assets="link")
    assert folium.Map.default_js[0][1].startswith("https://")  # class lists untouched


def test_english_page_and_empty_layers() -> None:
    empty = gpd.GeoDataFrame({"reach_id": [], "river_name": []}, geometry=gpd.GeoSeries([], crs=CRS), crs=CRS)
    cells = gpd.GeoDataFrame({"cell_id": [], "forest_name": []}, geometry=gpd.GeoSeries([], crs=CRS), crs=CRS)
    page = self_contained_html(
        build_coverage_map(MapData(reaches=empty, cells=cells), MapOptions(now_ms=NOW_MS, lang="en")),
        assets="link",
    )
    assert '"lang":"en"' in page and external_urls(page) == []
