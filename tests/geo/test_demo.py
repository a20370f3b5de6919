"""The synthetic demo county and the patrol simulator (short durations, so the run stays fast)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from geo.demo import SYNTHETIC_SOURCE, DemoCounty, build_demo_county, write_demo_county
from geo.demo.simulate import (
    REPORT_CATEGORIES,
    UnitSpec,
    benchmark_fixes,
    default_units,
    simulate_patrols,
    simulate_reports,
)
from geo.schema import check_fixes

METRIC_CRS = "EPSG:32650"
START_MS = 1_717_171_200_000  # 2024-06-01 00:00 China Standard Time
DAY_MS = 86_400_000
PATROL_BREAK_MS = 15 * 60_000  # consecutive fixes further apart than this are different patrols
TO_METRIC = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
#: The report API's detail fields per category (ecopatrol.reports.categories, which forbids extras).
DETAIL_FIELDS: dict[str, set[str]] = {
    "illegal_fishing": {"method", "boat"},
    "electrofishing": {"boat", "people_seen"},
    "poisoning": {"dead_fish_seen", "estimated_kg"},
    "illegal_hunting": {"snares_count", "traps_count", "species"},
    "snare": {"snares_count"},
    "firearm": {"shots_heard", "bearing_deg", "distance_m", "weapon_seen"},
    "other": set(),
}


@pytest.fixture(scope="module")
def county() -> DemoCounty:
    return build_demo_county(7)


@pytest.fixture(scope="module")
def metric(county: DemoCounty) -> dict[str, gpd.GeoDataFrame]:
    return {name: frame.to_crs(METRIC_CRS) for name, frame in county.layers().items()}


@pytest.fixture(scope="module")
def fixes(county: DemoCounty) -> pd.DataFrame:
    return simulate_patrols(county, default_units(county), start_ms=START_MS, days=2, seed=7)


def _xy(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    x, y = TO_METRIC.transform(frame["lon"].to_numpy(), frame["lat"].to_numpy())
    return np.asarray(x), np.asarray(y)


def _union(frame: gpd.GeoDataFrame) -> shapely.Geometry:
    area = shapely.union_all(frame.geometry.to_numpy())
    shapely.prepare(area)
    return area


def _share_inside(frame: pd.DataFrame, area: shapely.Geometry) -> float:
    return float(shapely.contains_xy(area, *_xy(frame)).mean())


# --- county ---------------------------------------------------------------------------------


def test_same_seed_gives_identical_layers(county: DemoCounty) -> None:
    again = build_demo_county(7)
    for name, frame in county.layers().items():
        assert_geodataframe_equal(frame, again.layers()[name])
    other = build_demo_county(8)
    assert not county.boundary.geometry.iloc[0].equals(other.boundary.geometry.iloc[0])


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_county_fits_xianju_box_with_300_km_of_river(seed: int) -> None:
    county = build_demo_county(seed)
    for name, frame in county.layers().items():
        lon_min, lat_min, lon_max, lat_max = frame.total_bounds
        assert lon_min >= 120.5 and lon_max <= 121.0, name
        assert lat_min >= 28.6 and lat_max <= 29.0, name
    river_km = county.rivers.to_crs(METRIC_CRS).length.sum() / 1000
    assert 250 <= river_km <= 350


def test_rivers_are_a_trunk_flowing_east_with_tributaries(metric: dict) -> None:
    rivers = metric["rivers"]
    trunk = rivers[rivers["kind"] == "trunk"].geometry
    assert len(trunk) == 1
    (x_start, _), (x_end, _) = trunk.iloc[0].coords[0], trunk.iloc[0].coords[-1]
    assert x_end - x_start > 20_000
    assert 6 <= (rivers["kind"] == "tributary").sum() <= 10
    assert rivers["name"].is_unique
    assert set(rivers["priority"]) <= {"high", "normal"}


def test_forest_covers_about_60_percent(metric: dict) -> None:
    share = _union(metric["forests"]).area / _union(metric["boundary"]).area
    assert 0.5 <= share <= 0.7
    assert (metric["forests"].geometry.geom_type == "Polygon").all()


def test_townships_partition_the_county(metric: dict) -> None:
    townships = metric["townships"]
    boundary_m2 = _union(metric["boundary"]).area
    assert 8 <= len(townships) <= 12
    assert townships["name"].is_unique
    assert _union(townships).area == pytest.approx(boundary_m2, rel=1e-6)
    assert townships.area.sum() - _union(townships).area < 1e-6 * boundary_m2
    assert len(metric["villages"]) == len(townships)
    seats_in = shapely.contains_xy(_union(townships), *shapely.get_coordinates(
        metric["villages"].geometry.to_numpy()).T)
    assert seats_in.all()


def test_every_layer_is_labelled_synthetic(county: DemoCounty) -> None:
    for name, frame in county.layers().items():
        assert len(frame) > 0, name
        assert frame.crs.to_epsg() == 4326, name
        assert (frame["source"] == SYNTHETIC_SOURCE).all(), name
        assert frame["name"].str.startswith("演示").all(), name


def test_roads_and_zones(metric: dict) -> None:
    roads, zones = metric["roads"], metric["zones"]
    assert (roads["kind"] == "main").sum() == 1
    assert (roads["kind"] == "branch").sum() >= 3
    main_road = roads[roads["kind"] == "main"].geometry.iloc[0]
    trunk = metric["rivers"].query("kind == 'trunk'").geometry.iloc[0]
    assert main_road.hausdorff_distance(trunk) < 2_000  # the road follows the valley
    assert set(zones["kind"]) == {"protected", "no_fishing"}
    assert (zones["priority"] == "high").all()
    assert zones.geometry.within(_union(metric["boundary"]).buffer(1)).all()


def test_write_demo_county_round_trips(county: DemoCounty, tmp_path: Path) -> None:
    paths = write_demo_county(county, tmp_path / "demo")
    assert set(paths) == set(county.layers())
    for name, path in paths.items():
        back = gpd.read_file(path)
        assert back.crs.to_epsg() == 4326
        assert list(back["name"]) == list(county.layers()[name]["name"])
        assert (back["source"] == SYNTHETIC_SOURCE).all()
    write_demo_county(county, tmp_path / "demo")  # writing again replaces the files


# --- patrols --------------------------------------------------------------------------------


def test_same_seed_gives_identical_fixes(county: DemoCounty, fixes: pd.DataFrame) -> None:
    units = default_units(county)
    again = simulate_patrols(county, units, start_ms=START_MS, days=2, seed=7)
    pd.testing.assert_frame_equal(fixes, again)
    other = simulate_patrols(county, units, start_ms=START_MS, days=2, seed=8)
    assert not fixes["lon"].equals(other["lon"])


def test_fixes_are_a_fix_frame_from_every_unit(county: DemoCounty, fixes: pd.DataFrame) -> None:
    check_fixes(fixes)
    units = default_units(county)
    assert set(fixes["unit_id"]) == {u.unit_id for u in units}
    assert (fixes["source"] == "simulator").all()
    modes = dict(zip(fixes["unit_id"], fixes["mode"], strict=True))
    assert all(modes[u.unit_id] == u.mode for u in units)
    assert fixes["time_ms"].between(START_MS, START_MS + 2 * DAY_MS - 1).all()
    assert fixes["accuracy_m"].between(1, 30).all()


def test_times_increase_per_unit(fixes: pd.DataFrame) -> None:
    assert (fixes.groupby("unit_id")["time_ms"].diff().dropna() > 0).all()


@pytest.mark.parametrize(("mode", "low_ms", "high_ms"),
                         [("vehicle", 5_000, 10_000), ("boat", 5_000, 10_000),
                          ("foot", 10_000, 30_000)])
def test_fix_intervals_within_a_patrol(fixes: pd.DataFrame, mode: str, low_ms: int,
                                       high_ms: int) -> None:
    gaps = fixes.groupby("unit_id")["time_ms"].diff()[fixes["mode"] == mode]
    within = gaps[gaps < PATROL_BREAK_MS]
    assert len(within) > 1000
    assert within.between(low_ms, high_ms).all()


def test_vehicles_and_boat_stay_near_roads_and_rivers(metric: dict, fixes: pd.DataFrame) -> None:
    lines = pd.concat([metric["roads"].geometry, metric["rivers"].geometry])
    corridor = shapely.union_all(lines.to_numpy()).buffer(150)
    shapely.prepare(corridor)
    assert _share_inside(fixes[fixes["mode"] == "vehicle"], corridor) > 0.98
    trunk = metric["rivers"].query("kind == 'trunk'").geometry.iloc[0].buffer(50)
    assert _share_inside(fixes[fixes["mode"] == "boat"], trunk) > 0.98


def test_foot_fixes_mostly_in_forest(metric: dict, fixes: pd.DataFrame) -> None:
    assert _share_inside(fixes[fixes["mode"] == "foot"], _union(metric["forests"])) > 0.8


def test_no_fix_leaves_the_county(metric: dict, fixes: pd.DataFrame) -> None:
    assert _share_inside(fixes, _union(metric["boundary"])) == 1.0


def test_speeds_and_bearings(fixes: pd.DataFrame) -> None:
    moving = fixes[fixes["speed_mps"] > 0]
    vehicle = moving[moving["mode"] == "vehicle"]["speed_mps"]
    foot = moving[moving["mode"] == "foot"]["speed_mps"]
    assert vehicle.between(20 / 3.6 - 0.5, 60 / 3.6 + 0.5).mean() > 0.99
    assert foot.between(0.8, 1.7).mean() > 0.99
    assert moving["bearing_deg"].between(0, 360).all()
    assert fixes.loc[fixes["speed_mps"] == 0, "bearing_deg"].isna().all()


def test_bearing_follows_the_track(fixes: pd.DataFrame) -> None:
    """On a straight-ish eastbound stretch the reported bearing matches the track's direction."""
    vehicle = fixes[fixes["unit_id"] == "V01"]
    x, y = _xy(vehicle)
    track_deg = np.degrees(np.arctan2(np.diff(x), np.diff(y))) % 360
    reported = vehicle["bearing_deg"].to_numpy()[:-1]
    moving = (vehicle["speed_mps"].to_numpy()[:-1] > 8) & (np.hypot(np.diff(x), np.diff(y)) > 60)
    error = (track_deg[moving] - reported[moving] + 180) % 360 - 180
    assert np.median(np.abs(error)) < 15


@pytest.mark.parametrize("night_share", [0.0, 1.0])
def test_night_share(county: DemoCounty, night_share: float) -> None:
    frame = simulate_patrols(county, default_units(county)[:4], start_ms=START_MS, days=2,
                             night_share=night_share)
    starts = frame.groupby("unit_id")["time_ms"].diff().fillna(PATROL_BREAK_MS + 1)
    hour = (frame.loc[starts > PATROL_BREAK_MS, "time_ms"] + 8 * 3_600_000) % DAY_MS / 3_600_000
    night = (hour >= 19) | (hour < 4)
    assert night.mean() == pytest.approx(night_share, abs=0.15)


def test_a_unit_patrols_the_same_whoever_else_is_out(county: DemoCounty,
                                                     fixes: pd.DataFrame) -> None:
    alone = simulate_patrols(county, default_units(county)[:1], start_ms=START_MS, days=2)
    together = fixes[fixes["unit_id"] == alone["unit_id"].iloc[0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, together)


def test_units_without_home_and_bad_input(county: DemoCounty) -> None:
    units = [UnitSpec("X1", "foot"), UnitSpec("X2", "vehicle"), UnitSpec("X3", "boat")]
    frame = simulate_patrols(county, units, start_ms=START_MS, days=0.5)
    assert set(frame["unit_id"]) == {"X1", "X2", "X3"}
    assert len(simulate_patrols(county, units, start_ms=START_MS, days=0)) == 0
    with pytest.raises(ValueError, match="mode"):
        UnitSpec("X4", "horse")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="night_share"):
        simulate_patrols(county, units, start_ms=START_MS, days=1, night_share=1.5)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31), start_ms=st.integers(1_600_000_000_000, 1_900_000_000_000),
       days=st.floats(0.05, 1.0), night_share=st.floats(0.0, 1.0))
def test_invariants_hold_for_any_window(county: DemoCounty, metric: dict, seed: int,
                                        start_ms: int, days: float, night_share: float) -> None:
    units = default_units(county)[::3]
    frame = simulate_patrols(county, units, start_ms=start_ms, days=days, seed=seed,
                             night_share=night_share)
    check_fixes(frame)
    assert frame["time_ms"].between(start_ms, start_ms + round(days * DAY_MS) - 1).all()
    assert (frame.groupby("unit_id")["time_ms"].diff().dropna() > 0).all()
    if len(frame):
        assert _share_inside(frame, _union(metric["boundary"])) == 1.0


# --- reports and benchmark ------------------------------------------------------------------


def test_reports(county: DemoCounty, metric: dict) -> None:
    reports = simulate_reports(county, start_ms=START_MS, days=60, seed=7, rate_per_day=3)
    assert 120 <= len(reports) <= 240
    assert list(reports.columns) == ["category", "observed_ms", "lon", "lat", "description",
                                     "details"]
    assert set(reports["category"]) <= set(REPORT_CATEGORIES)
    assert reports["observed_ms"].is_monotonic_increasing
    assert reports["observed_ms"].between(START_MS, START_MS + 60 * DAY_MS - 1).all()
    assert reports["description"].str.startswith("【演示】").all()
    for category, details in zip(reports["category"], reports["details"], strict=True):
        assert set(details) == DETAIL_FIELDS[category], category
    fishing = reports[reports["category"].isin(["illegal_fishing", "electrofishing",
                                                 "poisoning"])]
    near_river = shapely.union_all(metric["rivers"].geometry.to_numpy()).buffer(150)
    assert _share_inside(fishing, near_river) == 1.0
    hour = (fishing["observed_ms"] + 8 * 3_600_000) % DAY_MS / 3_600_000
    assert ((hour >= 19) | (hour < 4)).mean() > 0.5
    woods = reports[reports["category"].isin(["snare", "illegal_hunting"])]
    assert _share_inside(woods, _union(metric["forests"])) > 0.9
    again = simulate_reports(county, start_ms=START_MS, days=60, seed=7, rate_per_day=3)
    pd.testing.assert_frame_equal(reports, again)


@pytest.mark.parametrize("n", [0, 1, 5_000])
def test_benchmark_fixes_gives_exactly_n(n: int) -> None:
    frame = benchmark_fixes(n)
    check_fixes(frame)
    assert len(frame) == n
    assert frame["time_ms"].is_monotonic_increasing
