"""geo.datum: GCJ-02 against a published pair, an independent plain implementation of the
textbook formula, and round trips; WGS-84/CGCS2000 pass through."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.datum import CHINA_BOX_LONLAT, gcj02_to_wgs84, in_china, to_wgs84, wgs84_to_gcj02

M_PER_DEG_LAT = 111_195.0


def _textbook_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """The widely copied scalar reference (math.sin on each term), written out independently."""
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    pi = math.pi
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
            + (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
            + (20.0 * math.sin(y * pi) + 40.0 * math.sin(y / 3.0 * pi)) * 2.0 / 3.0
            + (160.0 * math.sin(y / 12.0 * pi) + 320.0 * math.sin(y * pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
            + (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
            + (20.0 * math.sin(x * pi) + 40.0 * math.sin(x / 3.0 * pi)) * 2.0 / 3.0
            + (150.0 * math.sin(x / 12.0 * pi) + 300.0 * math.sin(x / 30.0 * pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * pi
    magic = 1 - ee * math.sin(rad) ** 2
    dlat = dlat * 180.0 / ((a * (1 - ee)) / (magic * math.sqrt(magic)) * pi)
    dlon = dlon * 180.0 / (a / math.sqrt(magic) * math.cos(rad) * pi)
    return lon + dlon, lat + dlat


def _distance_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    dy = (np.asarray(lat2) - lat1) * M_PER_DEG_LAT
    dx = (np.asarray(lon2) - lon1) * M_PER_DEG_LAT * np.cos(np.radians(lat1))
    return np.hypot(dx, dy)


# Inside the box, away from its edges (where the forward and inverse boxes disagree).
china_lon = st.floats(CHINA_BOX_LONLAT[0] + 0.05, CHINA_BOX_LONLAT[2] - 0.05)
china_lat = st.floats(CHINA_BOX_LONLAT[1] + 0.05, CHINA_BOX_LONLAT[3] - 0.05)


def test_forward_matches_published_beijing_pair() -> None:
    # wandergis/coordtransform README: wgs84togcj02(116.404, 39.915)
    lon, lat = wgs84_to_gcj02(116.404, 39.915)
    assert lon == pytest.approx(116.41024449916938, abs=1e-10)
    assert lat == pytest.approx(39.91640428150164, abs=1e-10)


def test_inverse_recovers_the_published_pair_to_a_millimetre() -> None:
    lon, lat = to_wgs84(116.41024449916938, 39.91640428150164, "gcj02")
    assert _distance_m(116.404, 39.915, lon, lat) < 1e-3


@settings(max_examples=300, deadline=None)
@given(lon=china_lon, lat=china_lat)
def test_forward_equals_textbook_formula(lon: float, lat: float) -> None:
    expected = _textbook_gcj02(lon, lat)
    got = wgs84_to_gcj02(lon, lat)
    assert _distance_m(expected[0], expected[1], got[0], got[1]) < 1e-6


@settings(max_examples=300, deadline=None)
@given(lon=china_lon, lat=china_lat)
def test_round_trip_under_a_millimetre(lon: float, lat: float) -> None:
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    back_lon, back_lat = to_wgs84(gcj_lon, gcj_lat, "gcj02")
    assert _distance_m(lon, lat, back_lon, back_lat) < 1e-3


def test_round_trip_vectorized_over_many_points() -> None:
    rng = np.random.default_rng(7)
    lon = rng.uniform(73.0, 135.0, 20_000)
    lat = rng.uniform(18.0, 53.5, 20_000)
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert _distance_m(lon, lat, *back).max() < 1e-3


def test_shift_has_the_known_size_in_mainland_china() -> None:
    # GCJ-02 moves mainland points by a few hundred metres, never by kilometres.
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(98.0, 122.0, 5000), rng.uniform(22.0, 45.0, 5000)
    shift_m = _distance_m(lon, lat, *wgs84_to_gcj02(lon, lat))
    assert shift_m.min() > 20.0
    assert shift_m.max() < 1200.0


@pytest.mark.parametrize(("lon", "lat"), [(-0.1276, 51.5072), (139.69, 35.69), (151.2, -33.9),
                                          (70.0, 30.0), (120.0, 60.0)])
def test_outside_china_is_unchanged(lon: float, lat: float) -> None:
    assert not in_china(lon, lat)
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert to_wgs84(lon, lat, "gcj02") == (lon, lat)


@pytest.mark.parametrize("datum", ["wgs84", "cgcs2000"])
def test_wgs84_and_cgcs2000_pass_through_as_new_arrays(datum: str) -> None:
    lon, lat = np.array([119.5, 120.1]), np.array([29.5, 30.2])
    out_lon, out_lat = to_wgs84(lon, lat, datum)
    np.testing.assert_array_equal(out_lon, lon)
    np.testing.assert_array_equal(out_lat, lat)
    out_lon[0] = 0.0
    assert lon[0] == 119.5


def test_unknown_datum_is_refused() -> None:
    with pytest.raises(ValueError, match="bd09"):
        to_wgs84(119.5, 29.5, "bd09")


def test_shapes_nan_and_mixed_inside_outside() -> None:
    lon = np.array([[119.5, np.nan], [10.0, 116.404]])
    lat = np.array([[29.5, 29.5], [50.0, 39.915]])
    out_lon, out_lat = to_wgs84(*wgs84_to_gcj02(lon, lat), "gcj02")
    assert out_lon.shape == (2, 2)
    assert np.isnan(out_lon[0, 1])
    assert (out_lon[1, 0], out_lat[1, 0]) == (10.0, 50.0)
    assert _distance_m(lon[1, 1], lat[1, 1], out_lon[1, 1], out_lat[1, 1]) < 1e-3
    scalar = to_wgs84(119.5, 29.5, "gcj02")[0]
    assert np.ndim(scalar) == 0


def test_vectorized_equals_pointwise() -> None:
    rng = np.random.default_rng(11)
    lon, lat = rng.uniform(100, 125, 50), rng.uniform(20, 45, 50)
    vector = gcj02_to_wgs84(lon, lat)
    for i in range(50):
        single = gcj02_to_wgs84(lon[i], lat[i])
        assert single[0] == pytest.approx(vector[0][i], abs=1e-12)
        assert single[1] == pytest.approx(vector[1][i], abs=1e-12)
