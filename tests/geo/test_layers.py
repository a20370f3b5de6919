"""geo.layers: reading any OGR format, repair, reaches and cells."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from geo.layers import (
    CELL_COLUMNS,
    REACH_COLUMNS,
    LayerError,
    Layers,
    make_cells,
    make_reaches,
    prepare_townships,
    prepare_zones,
    read_layer,
    read_layer_report,
    repair_geometries,
)
from geo.testing import (
    METRIC_CRS,
    assert_layers_valid,
    awkward_geometries,
    demo_layers,
    origin_m,
    shifted,
    square_forest,
    straight_river,
)

FORMATS = [("GeoJSON", "rivers.geojson"), ("GPKG", "rivers.gpkg"),
           ("ESRI Shapefile", "rivers.shp")]


def _rivers_lonlat() -> gpd.GeoDataFrame:
    lines = [shapely.LineString([(120.70, 28.80), (120.72, 28.81), (120.75, 28.80)]),
             shapely.LineString([(120.69, 28.85), (120.70, 28.86)])]
    return gpd.GeoDataFrame({"name": ["永安溪", "大溪"], "priority": ["high", None]},
                            geometry=lines, crs="EPSG:4326")


@pytest.mark.parametrize(("driver", "filename"), FORMATS)
def test_layer_written_by_pyogrio_reads_back(tmp_path: Path, driver: str, filename: str) -> None:
    path = tmp_path / filename
    pyogrio.write_dataframe(_rivers_lonlat(), path, driver=driver)
    frame = read_layer(path)
    assert frame.crs.to_epsg() == 4326
    assert frame["name"].tolist() == ["永安溪", "大溪"]
    assert frame.attrs["errors"] == []
    reaches = make_reaches(frame, metric_crs=METRIC_CRS, reach_length_m=500)
    expected_m = _rivers_lonlat().to_crs(METRIC_CRS).length.sum()
    assert reaches["length_m"].sum() == pytest.approx(expected_m, rel=1e-6)


def test_layer_read_from_bytes(tmp_path: Path) -> None:
    path = tmp_path / "r.geojson"
    pyogrio.write_dataframe(_rivers_lonlat(), path, driver="GeoJSON")
    frame = read_layer(path.read_bytes())
    assert len(frame) == 2


def test_layer_without_crs_is_refused_unless_given(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.shp"
    frame = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.LineString([(0, 0), (1000, 0)])])
    with pytest.warns(UserWarning, match="crs"):
        pyogrio.write_dataframe(frame, path, driver="ESRI Shapefile")
    with pytest.raises(LayerError, match="no CRS"):
        read_layer(path)
    assert read_layer(path, crs="EPSG:32650").crs.to_epsg() == 32650


def test_projected_coordinates_declared_as_lonlat_are_refused() -> None:
    x0, y0 = origin_m()
    frame = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.Point(x0, y0)], crs="EPSG:4326")
    path_bytes = frame.to_json().encode()
    with pytest.raises(LayerError, match="not lon/lat"):
        read_layer(path_bytes)


def test_unreadable_source_raises_layer_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.geojson"
    path.write_text("not json at all")
    with pytest.raises(LayerError):
        read_layer(path)


def test_invalid_geometry_repaired_and_empty_reported_by_index(tmp_path: Path) -> None:
    bowtie = awkward_geometries()["bowtie"]
    frame = gpd.GeoDataFrame(
        {"name": ["ok", "bowtie", "empty", "none"]},
        geometry=[shapely.box(0, 0, 10, 10), bowtie, shapely.Polygon(), None], crs=METRIC_CRS)
    path = tmp_path / "forests.gpkg"
    pyogrio.write_dataframe(frame, path, driver="GPKG")
    report = read_layer_report(path)
    assert report.frame["name"].tolist() == ["ok", "bowtie"]
    assert shapely.is_valid(np.asarray(report.frame.geometry.array)).all()
    assert report.repaired == (1,)
    assert [e.where for e in report.errors] == ["feature 2", "feature 3"]
    assert report.frame.loc[1, "geometry"].area == pytest.approx(bowtie.buffer(0).area * 2)


def test_nothing_usable_raises() -> None:
    frame = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.Polygon()], crs=METRIC_CRS)
    with pytest.raises(LayerError, match="no usable geometry"):
        read_layer(frame.to_json(to_wgs84=False).encode(), crs=METRIC_CRS)


def test_repair_drops_z_and_keeps_index_labels() -> None:
    geoms = awkward_geometries()
    frame = gpd.GeoDataFrame({"name": list(geoms)}, geometry=list(geoms.values()),
                             crs=METRIC_CRS, index=range(10, 10 + len(geoms)))
    report = repair_geometries(frame)
    assert not shapely.has_z(np.asarray(report.frame.geometry.array)).any()
    dropped = {e.where for e in report.errors}
    names = list(geoms)
    assert dropped == {f"feature {10 + names.index(n)}"
                       for n in ("none", "empty_polygon", "empty_line")}


# ----------------------------------------------------------------------------------------------
# reaches


def test_reaches_cover_the_river_with_stable_ids() -> None:
    reaches = make_reaches(straight_river(5_000), metric_crs=METRIC_CRS, reach_length_m=500)
    assert tuple(reaches.columns) == REACH_COLUMNS
    assert reaches["reach_id"].tolist() == [f"永安溪-{k:04d}" for k in range(10)]
    np.testing.assert_allclose(reaches["length_m"], 500.0)
    union = shapely.line_merge(shapely.union_all(np.asarray(reaches.geometry.array)))
    assert union.length == pytest.approx(5_000)
    x0, _ = origin_m()
    starts = shapely.get_x(shapely.get_point(np.asarray(reaches.geometry.array), 0))
    np.testing.assert_allclose(starts - x0, np.arange(10) * 500.0)


def test_reach_pieces_are_equal_and_near_the_target_length() -> None:
    reaches = make_reaches(straight_river(1_240), metric_crs=METRIC_CRS, reach_length_m=500)
    assert len(reaches) == 2
    np.testing.assert_allclose(reaches["length_m"], 620.0)


def test_reach_ids_stable_on_reimport(tmp_path: Path) -> None:
    path = tmp_path / "rivers.gpkg"
    pyogrio.write_dataframe(_rivers_lonlat(), path, driver="GPKG")
    first = make_reaches(read_layer(path), metric_crs=METRIC_CRS, reach_length_m=300)
    second = make_reaches(read_layer(path), metric_crs=METRIC_CRS, reach_length_m=300)
    assert first["reach_id"].tolist() == second["reach_id"].tolist()
    assert first.geometry.geom_equals_exact(second.geometry, tolerance=1e-6).all()
    assert first["reach_id"].is_unique
    assert set(first.loc[first["river_name"] == "永安溪", "priority"]) == {"high"}
    assert set(first.loc[first["river_name"] == "大溪", "priority"]) == {"normal"}


def test_features_of_one_river_are_merged_and_numbered_along_it() -> None:
    x0, y0 = origin_m()
    parts = [shapely.LineString([(x0 + 1000, y0), (x0 + 2000, y0)]),
             shapely.MultiLineString([[(x0, y0), (x0 + 1000, y0)]])]
    rivers = gpd.GeoDataFrame({"name": ["溪", "溪"]}, geometry=parts, crs=METRIC_CRS)
    reaches = make_reaches(rivers, metric_crs=METRIC_CRS, reach_length_m=500)
    assert reaches["reach_id"].tolist() == ["溪-0000", "溪-0001", "溪-0002", "溪-0003"]
    assert shapely.line_merge(shapely.union_all(reaches.geometry.to_numpy())).length == \
        pytest.approx(2000)


def test_reaches_from_awkward_geometries() -> None:
    x0, y0 = origin_m()
    geoms = {k: shifted(g, x0, y0) for k, g in awkward_geometries().items()}
    rivers = gpd.GeoDataFrame({"id": list(geoms)}, geometry=list(geoms.values()), crs=METRIC_CRS)
    reaches = make_reaches(rivers, metric_crs=METRIC_CRS, reach_length_m=5)
    assert set(reaches["river_name"]) == {"multi_line", "line_3d", "collection"}
    assert not shapely.has_z(reaches.geometry.to_numpy()).any()
    bad = {e.where for e in reaches.attrs["errors"]}
    assert "feature 7" in bad  # the zero-length line
    assert reaches.loc[reaches["river_name"] == "multi_line", "length_m"].sum() == \
        pytest.approx(20)


def test_reaches_without_name_use_id_then_feature_index() -> None:
    rivers = straight_river(1_000)
    rivers["name"] = [None]
    rivers["id"] = [42]
    assert make_reaches(rivers, metric_crs=METRIC_CRS)["reach_id"].tolist() == ["42-0000",
                                                                                  "42-0001"]
    no_props = rivers[["geometry"]]
    assert make_reaches(no_props, metric_crs=METRIC_CRS)["reach_id"].iloc[0] == "river0-0000"


# ----------------------------------------------------------------------------------------------
# cells


def test_cells_are_grid_aligned_squares_clipped_to_the_forest() -> None:
    x0, y0 = origin_m()
    forest = square_forest(1_250, x_m=100, y_m=0)
    cells = make_cells(forest, metric_crs=METRIC_CRS, cell_size_m=500)
    assert tuple(cells.columns) == CELL_COLUMNS
    assert cells["area_m2"].sum() == pytest.approx(1_250 ** 2)
    assert len(cells) == 9
    assert cells["cell_id"].is_unique
    bounds = cells.bounds
    ix = np.floor((bounds["minx"] + 1e-6) / 500).astype(int)
    iy = np.floor((bounds["miny"] + 1e-6) / 500).astype(int)
    assert cells["cell_id"].tolist() == [f"C{a}_{b}" for a, b in zip(ix, iy, strict=True)]
    full = cells[np.isclose(cells["area_m2"], 250_000)]
    assert len(full) == 2  # x in [500, 1000) by y in [0, 500) and [500, 1000) from the origin
    assert set(np.round(full.bounds["minx"] - x0)) == {500.0}
    assert set(np.round(full.bounds["miny"] - y0)) == {0.0, 500.0}


def test_overlapping_forests_make_one_cell_per_square() -> None:
    a = square_forest(1_000, x_m=0, y_m=0, name="甲", priority="normal")
    b = square_forest(1_000, x_m=600, y_m=0, name="乙", priority="high")
    forests = gpd.GeoDataFrame(pd.concat([a, b], ignore_index=True), crs=METRIC_CRS)
    cells = make_cells(forests, metric_crs=METRIC_CRS, cell_size_m=500)
    assert cells["cell_id"].is_unique
    assert len(cells) == 8
    assert cells["area_m2"].sum() == pytest.approx(1_600 * 1_000)
    by_x = cells.assign(x=np.round(cells.bounds["minx"] - origin_m()[0]))
    assert set(by_x.loc[by_x["x"] == 0, "priority"]) == {"normal"}
    assert set(by_x.loc[by_x["x"] == 0, "forest_name"]) == {"甲"}
    assert set(by_x.loc[by_x["x"] >= 500, "priority"]) == {"high"}
    assert set(by_x.loc[by_x["x"] == 500, "forest_name"]) == {"甲"}  # 400 m of 甲 beat 100 m of 乙


def test_cells_from_awkward_geometries_and_holes() -> None:
    x0, y0 = origin_m()
    geoms = {k: shifted(g, x0, y0) for k, g in awkward_geometries().items()}
    forests = gpd.GeoDataFrame({"name": list(geoms)}, geometry=list(geoms.values()),
                               crs=METRIC_CRS)
    forests = repair_geometries(forests).frame
    cells = make_cells(forests, metric_crs=METRIC_CRS, cell_size_m=10)
    assert shapely.is_valid(cells.geometry.to_numpy()).all()
    assert cells["cell_id"].is_unique
    assert cells["area_m2"].sum() == pytest.approx(
        shapely.union_all(forests.geometry.to_numpy()).area, rel=1e-9)
    hole = shapely.box(x0 + 10, y0 + 10, x0 + 20, y0 + 20)
    assert shapely.intersection(shapely.union_all(cells.geometry.to_numpy()), hole).area == 0


def test_cells_refuse_a_size_that_would_explode() -> None:
    with pytest.raises(LayerError, match="too small"):
        make_cells(square_forest(100_000), metric_crs=METRIC_CRS, cell_size_m=1)


# ----------------------------------------------------------------------------------------------
# townships, zones and the bundle


def test_townships_and_zones_columns_and_ids() -> None:
    layers = demo_layers()
    assert_layers_valid(layers)
    assert layers.townships["name"].tolist()[0] == "镇0_0"
    assert layers.zones["zone_id"].tolist() == ["Z1", "Z2"]
    assert layers.zones["kind"].tolist() == ["protected", "no_fishing"]
    assert layers.zones["priority"].tolist() == ["high", "high"]


def test_zone_defaults_and_duplicate_ids() -> None:
    frame = gpd.GeoDataFrame({"code": ["A", "A"]},
                             geometry=[shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)],
                             crs=METRIC_CRS)
    zones = prepare_zones(frame, metric_crs=METRIC_CRS)
    assert zones["zone_id"].tolist() == ["A", "A~2"]
    assert zones["kind"].tolist() == ["protected", "protected"]
    assert zones["priority"].tolist() == ["normal", "normal"]
    towns = prepare_townships(frame.drop(columns="code"), metric_crs=METRIC_CRS)
    assert towns["township_id"].tolist() == ["T0000", "T0001"]


def test_layer_functions_need_a_crs() -> None:
    frame = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.LineString([(0, 0), (1, 1)])])
    with pytest.raises(LayerError):
        make_reaches(frame, metric_crs=METRIC_CRS)


def test_empty_layers() -> None:
    layers = Layers.empty(METRIC_CRS)
    assert_layers_valid(layers)
    assert layers.reaches.empty and layers.cells.empty
