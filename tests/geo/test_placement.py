"""geo.placement: reaches within the sweep width, distance to the river, cells, townships, zones."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.layers import Layers
from geo.placement import PLACEMENT_COLUMNS, Placer, PlacerOptions, to_lonlat, to_metric
from geo.testing import METRIC_CRS, demo_layers, origin_m

X0, Y0 = origin_m()


@pytest.fixture(scope="module")
def placer() -> Placer:
    return Placer(demo_layers())


def test_point_exactly_at_sweep_width_is_on_the_reach(placer: Placer) -> None:
    x = np.array([X0 + 250.0, X0 + 250.0, X0 + 250.0])
    y = np.array([Y0 + 50.0, Y0 - 50.0, Y0 + 50.001])
    out = placer.place(x, y, 50.0)
    assert list(out.columns) == list(PLACEMENT_COLUMNS)
    assert out["reach_id"].tolist() == ["永安溪-0000", "永安溪-0000", None]
    np.testing.assert_allclose(out["dist_to_river_m"], [50.0, 50.0, 50.001], atol=1e-9)


def test_sweep_width_per_row(placer: Placer) -> None:
    x = np.full(3, X0 + 1_250.0)
    y = np.full(3, Y0 + 120.0)
    out = placer.place(x, y, np.array([100.0, 150.0, 0.0]))
    assert out["reach_id"].tolist() == [None, "永安溪-0002", None]
    np.testing.assert_allclose(out["dist_to_river_m"], 120.0)


def test_nearest_reach_wins_and_ties_go_to_the_first(placer: Placer) -> None:
    x = np.array([X0 + 990.0, X0 + 1_000.0, X0 + 1_010.0])
    out = placer.place(x, np.full(3, Y0 + 10.0), 30.0)
    assert out["reach_id"].tolist() == ["永安溪-0001", "永安溪-0001", "永安溪-0002"]


def test_distance_to_the_river_at_any_range(placer: Placer) -> None:
    x = np.array([X0 - 3_000.0, X0 + 2_500.0, X0 + 9_000.0, X0 + 500_000.0])
    y = np.array([Y0, Y0 - 1_700.0, Y0 + 4_000.0, Y0])
    out = placer.place(x, y, 100.0)
    expected = [3_000.0, 1_700.0, np.hypot(4_000, 4_000), 495_000.0]
    np.testing.assert_allclose(out["dist_to_river_m"], expected, rtol=1e-9)
    assert out["reach_id"].isna().all()


def test_cells_townships_and_overlapping_zones(placer: Placer) -> None:
    x = np.array([X0 + 100.0, X0 + 700.0, X0 + 1_200.0, X0 + 5_000.0, X0 + 4_500.0])
    y = np.array([Y0 + 1_100.0, Y0 + 100.0, Y0 + 100.0, Y0 + 2_000.0, Y0 + 9_000.0])
    out = placer.place(x, y, 10.0)
    ix = np.floor(x[0] / 500).astype(int)
    iy = np.floor(y[0] / 500).astype(int)
    assert out["cell_id"].tolist() == [f"C{ix}_{iy}", None, None, None, None]
    assert out["zone_ids"].tolist() == [None, "Z1,Z2", "Z2", None, None]
    assert out["township"].tolist() == ["镇0_0", "镇0_0", "镇0_0", "镇1_0", None]


def test_point_on_a_shared_cell_edge_gets_the_first_cell(placer: Placer) -> None:
    cells = placer.layers.cells
    edge_x = float(np.round(cells.bounds["maxx"].min()))
    out = placer.place(np.array([edge_x]), np.array([Y0 + 1_250.0]), 0.0)
    touching = cells[cells.intersects(shapely.Point(edge_x, Y0 + 1_250.0))]
    assert out["cell_id"].iloc[0] == touching["cell_id"].iloc[0]


def test_missing_coordinates_and_empty_input(placer: Placer) -> None:
    out = placer.place(np.array([np.nan, X0]), np.array([Y0, np.inf]), 50.0)
    assert out["reach_id"].isna().all() and out["dist_to_river_m"].isna().all()
    empty = placer.place(np.array([]), np.array([]), 50.0)
    assert len(empty) == 0 and list(empty.columns) == list(PLACEMENT_COLUMNS)
    with pytest.raises(ValueError, match="differ"):
        placer.place(np.array([1.0]), np.array([1.0, 2.0]), 1.0)


def test_empty_layers_place_nothing() -> None:
    out = Placer(Layers.empty(METRIC_CRS)).place(np.array([X0]), np.array([Y0]), 100.0)
    assert out["reach_id"].tolist() == [None]
    assert np.isnan(out["dist_to_river_m"].iloc[0])
    assert out[["cell_id", "township", "zone_ids"]].isna().all().all()


def _wiggly_layers() -> Layers:
    t = np.linspace(0, 1, 800)
    river = shapely.LineString(np.c_[X0 + 8_000 * t, Y0 + 1_500 * np.sin(9 * t)
                                     + 80 * np.sin(150 * t)])
    branch = shapely.LineString([(X0 + 3_000, Y0 - 2_000), (X0 + 3_500, Y0 + 400)])
    rivers = gpd.GeoDataFrame({"name": ["干流", "支流"]}, geometry=[river, branch], crs=METRIC_CRS)
    return Layers.build(metric_crs=METRIC_CRS, rivers=rivers, reach_length_m=300)


WIGGLY = _wiggly_layers()
WIGGLY_PLACER = Placer(WIGGLY, PlacerOptions(simplify_m=0.0, max_pixels=4_096,
                                             max_far_pixels=4_096))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), width=st.floats(1.0, 400.0))
def test_reach_and_distance_match_brute_force(seed: int, width: float) -> None:
    rng = np.random.default_rng(seed)
    near = rng.uniform(0, 1, 300)
    x = X0 + rng.uniform(-500, 8_500, 300)
    y = np.where(near < 0.7, Y0 + 1_500 * np.sin(9 * (x - X0) / 8_000) + rng.normal(0, 150, 300),
                 Y0 + rng.uniform(-3_000, 3_000, 300))
    out = WIGGLY_PLACER.place(x, y, width)
    geoms = WIGGLY.reaches.geometry.to_numpy()
    d = shapely.distance(geoms[None, :], shapely.points(x, y)[:, None])
    true = d.min(axis=1)
    nearest = WIGGLY.reaches["reach_id"].to_numpy()[d.argmin(axis=1)]
    expected = np.where(true <= width, nearest, None)
    clear = np.abs(true - width) > 1e-6
    assert (out["reach_id"].to_numpy()[clear] == expected[clear]).all()
    within = true <= width
    np.testing.assert_allclose(out["dist_to_river_m"].to_numpy()[within], true[within],
                               atol=1e-6)
    got = out["dist_to_river_m"].to_numpy()
    pixel = WIGGLY_PLACER.river.grid.size_m
    assert (got >= true - 1e-6).all()
    assert (got <= true + 2 * np.sqrt(2) * pixel).all()


def test_metric_round_trip() -> None:
    lon, lat = np.array([120.7, 121.1]), np.array([28.8, 29.2])
    x, y = to_metric(lon, lat, METRIC_CRS)
    assert x[0] == pytest.approx(X0, abs=600) and y[0] == pytest.approx(Y0, abs=600)
    back = to_lonlat(x, y, METRIC_CRS)
    np.testing.assert_allclose(back, (lon, lat), atol=1e-9)
