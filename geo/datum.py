"""Datum conversion of fixes to WGS-84: GCJ-02 (the obfuscated datum of Chinese phone maps and
AMap/Tencent SDKs) and CGCS2000 (the national datum, within centimetres of WGS-84).

GCJ-02 uses the widely published forward formula (Krasovsky ellipsoid constants); the inverse
is a fixed-point iteration on it, to well under a millimetre. Points outside the rough China
box are left unchanged, as the official transform does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from geo.schema import DATUMS

_A_M = 6378245.0  # semi-major axis used by GCJ-02 (Krasovsky 1940)
_EE = 0.00669342162296594323  # first eccentricity squared of that ellipsoid
#: (min_lon, min_lat, max_lon, max_lat): the box inside which GCJ-02 differs from WGS-84.
CHINA_BOX_LONLAT = (72.004, 0.8293, 137.8347, 55.8271)
#: Residual below which the inverse stops; the step just taken leaves ~1/100 of it (~0.1 mm).
_INVERSE_TOL_DEG = 1e-7
_INVERSE_MAX_ITER = 10
_CHUNK = 16384  # points per vectorized pass: temporaries stay in cache


def to_wgs84(lon: Any, lat: Any, datum: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert lon/lat in ``datum`` (wgs84 | gcj02 | cgcs2000) to WGS-84 float arrays."""
    lon_deg, lat_deg = _as_arrays(lon, lat)
    if datum == "gcj02":
        return gcj02_to_wgs84(lon_deg, lat_deg)
    if datum in DATUMS:  # wgs84, cgcs2000: identical at tracking accuracy
        return lon_deg.copy(), lat_deg.copy()
    raise ValueError(f"unknown datum {datum!r}; expected one of {', '.join(DATUMS)}")


def in_china(lon: Any, lat: Any) -> np.ndarray:
    """True where a point is inside the rough China box (where GCJ-02 shifts coordinates)."""
    lon_deg, lat_deg = _as_arrays(lon, lat)
    min_lon, min_lat, max_lon, max_lat = CHINA_BOX_LONLAT
    return (lon_deg >= min_lon) & (lon_deg <= max_lon) & (lat_deg >= min_lat) & (lat_deg <= max_lat)


def wgs84_to_gcj02(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """The forward GCJ-02 obfuscation; identity outside the China box and for NaN."""
    wgs_lon, wgs_lat = _as_arrays(lon, lat)
    shape, wgs_lon, wgs_lat = wgs_lon.shape, wgs_lon.ravel(), wgs_lat.ravel()
    gcj_lon, gcj_lat = wgs_lon.copy(), wgs_lat.copy()
    for part in _chunks(in_china(wgs_lon, wgs_lat)):
        dlon_deg, dlat_deg = _gcj_offset_deg(wgs_lon[part], wgs_lat[part])
        gcj_lon[part] += dlon_deg
        gcj_lat[part] += dlat_deg
    return gcj_lon.reshape(shape), gcj_lat.reshape(shape)


def gcj02_to_wgs84(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Invert :func:`wgs84_to_gcj02` by fixed-point iteration (round trip error < 1 mm)."""
    gcj_lon, gcj_lat = _as_arrays(lon, lat)
    shape, gcj_lon, gcj_lat = gcj_lon.shape, gcj_lon.ravel(), gcj_lat.ravel()
    wgs_lon, wgs_lat = gcj_lon.copy(), gcj_lat.copy()
    for part in _chunks(in_china(gcj_lon, gcj_lat)):
        wgs_lon[part], wgs_lat[part] = _invert_offset(gcj_lon[part], gcj_lat[part])
    return wgs_lon.reshape(shape), wgs_lat.reshape(shape)


def _invert_offset(gcj_lon: np.ndarray, gcj_lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve w + offset(w) = g. The offset's derivative is ~1e-2, so each step gains two digits."""
    wgs_lon, wgs_lat = gcj_lon.copy(), gcj_lat.copy()
    active = slice(None)
    for _ in range(_INVERSE_MAX_ITER):
        dlon_deg, dlat_deg = _gcj_offset_deg(wgs_lon[active], wgs_lat[active])
        err_lon = wgs_lon[active] + dlon_deg - gcj_lon[active]
        err_lat = wgs_lat[active] + dlat_deg - gcj_lat[active]
        wgs_lon[active] -= err_lon
        wgs_lat[active] -= err_lat
        left = (np.abs(err_lon) > _INVERSE_TOL_DEG) | (np.abs(err_lat) > _INVERSE_TOL_DEG)
        if not left.any():
            break
        active = np.flatnonzero(left) if isinstance(active, slice) else active[left]
    return wgs_lon, wgs_lat


def _chunks(mask: np.ndarray) -> list[np.ndarray | slice]:
    """Index sets of the True entries, in cache-sized pieces (slices when all are True)."""
    if mask.all():
        return [slice(i, i + _CHUNK) for i in range(0, len(mask), _CHUNK)]
    index = np.flatnonzero(mask)
    return [index[i:i + _CHUNK] for i in range(0, len(index), _CHUNK)]


def _as_arrays(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    lon_deg, lat_deg = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.array(lon_deg, dtype=float), np.array(lat_deg, dtype=float)


def _gcj_offset_deg(lon_deg: np.ndarray, lat_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 shift (dlon, dlat) in degrees at WGS-84 points: the published formula, with its
    sines taken as powers of two unit complex numbers (four ``sin``/``cos`` calls, not sixteen)."""
    x, y = lon_deg - 105.0, lat_deg - 35.0
    sx = _x_sines(x)
    sy, sin_lat, cos_lat = _y_sines(y)
    common = (20.0 * sx[360] + 20.0 * sx[120]) * (2.0 / 3.0) + 0.1 * x * y
    abs_x = np.sqrt(np.abs(x))
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.2 * abs_x + common
            + (20.0 * sy[180] + 40.0 * sy[60] + 160.0 * sy[15] + 320.0 * sy[6]) * (2.0 / 3.0))
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * abs_x + common
            + (20.0 * sx[60] + 40.0 * sx[20] + 150.0 * sx[5] + 300.0 * sx[2]) * (2.0 / 3.0))
    magic = 1.0 - _EE * sin_lat * sin_lat
    sqrt_magic = np.sqrt(magic)
    dlat_deg = dlat * (180.0 / np.pi) * (magic * sqrt_magic) / (_A_M * (1.0 - _EE))
    dlon_deg = dlon * (180.0 / np.pi) * sqrt_magic / (_A_M * cos_lat)
    return dlon_deg, dlat_deg


def _x_sines(x: np.ndarray) -> dict[int, np.ndarray]:
    """sin(k*pi*x/60) for the multiples k the formula uses (pi*x/30 ... 6*pi*x)."""
    angle = x * (np.pi / 60.0)
    z1 = np.cos(angle) + 1j * np.sin(angle)
    z2 = z1 * z1
    z5 = z2 * z2 * z1
    z20 = _square(_square(z5))
    z60 = z20 * z20 * z20
    z120 = z60 * z60
    z360 = z120 * z120 * z120
    return {k: z.imag for k, z in ((2, z2), (5, z5), (20, z20), (60, z60), (120, z120), (360, z360))}


def _y_sines(y: np.ndarray) -> tuple[dict[int, np.ndarray], np.ndarray, np.ndarray]:
    """sin(k*pi*y/180) for the multiples used (pi*y/30 ... pi*y), and sin/cos of the latitude."""
    angle = y * (np.pi / 180.0)
    z1 = np.cos(angle) + 1j * np.sin(angle)
    z3 = z1 * z1 * z1
    z6 = z3 * z3
    z15 = z6 * z6 * z3
    z60 = _square(_square(z15))
    z180 = z60 * z60 * z60
    z_lat = z1 * _ROTATE_35_DEG
    return {k: z.imag for k, z in ((6, z6), (15, z15), (60, z60), (180, z180))}, z_lat.imag, z_lat.real


def _square(z: np.ndarray) -> np.ndarray:
    return z * z


_ROTATE_35_DEG = complex(np.cos(np.radians(35.0)), np.sin(np.radians(35.0)))
