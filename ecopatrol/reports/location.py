"""Where a report is: a point in any supported datum converted to WGS-84, or — without GPS — the
named township, river or reach (its representative point, with an uncertainty about its size);
then the county check (the working area plus the configured margin)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from ecopatrol.reports.problems import ReportProblem
from geo.datum import to_wgs84
from geo.placement import to_lonlat

_M_PER_DEG_LAT = 111_320.0
_SUFFIXES = ("街道", "乡", "镇", "村")  # 东溪乡 and 东溪 name the same township
_cache: dict[str, tuple[object, pd.DataFrame]] = {}


@dataclass(frozen=True)
class ResolvedLocation:
    lon: float
    lat: float
    source: str  # point | township | reach | river
    uncertainty_m: float
    place_name: str | None


def resolve_location(
    *, coordinates: list[float] | None, datum: str, place_name: str | None, layers: object, metric_crs: str
) -> ResolvedLocation:
    """The WGS-84 position of a report from its point, else from its place name."""
    if coordinates is not None:
        lon, lat = to_wgs84(np.array([coordinates[0]]), np.array([coordinates[1]]), datum)
        return ResolvedLocation(float(lon[0]), float(lat[0]), "point", 0.0, place_name)
    if not place_name or not place_name.strip():
        raise ReportProblem.one(
            ["body", "location"],
            "give a location (a GeoJSON Point) or a "
            "place_name (a township, river or reach) when there is no GPS",
            "missing",
        )
    return _named_place(place_name.strip(), layers, metric_crs)


def check_in_area(
    loc: ResolvedLocation, bounds_lonlat: tuple[float, float, float, float], margin_m: float
) -> None:
    """Refuse a place farther than ``margin_m`` outside the working area."""
    outside_m = distance_outside_m(loc.lon, loc.lat, bounds_lonlat)
    if outside_m > margin_m:
        b = bounds_lonlat
        raise ReportProblem.one(
            ["body", "location"],
            f"the place ({loc.lon:.5f}, {loc.lat:.5f}) is {outside_m / 1000:.1f} km outside the county "
            f"(lon {b[0]:.3f}..{b[2]:.3f}, lat {b[1]:.3f}..{b[3]:.3f}, margin {margin_m:.0f} m); "
            "coordinates are [longitude, latitude]",
            "outside_area",
        )


def distance_outside_m(lon: float, lat: float, bounds: tuple[float, float, float, float]) -> float:
    """Approximate distance in metres from a point to a lon/lat box (0 inside)."""
    min_lon, min_lat, max_lon, max_lat = bounds
    dlat = max(min_lat - lat, 0.0, lat - max_lat) * _M_PER_DEG_LAT
    dlon = max(min_lon - lon, 0.0, lon - max_lon) * _M_PER_DEG_LAT * math.cos(math.radians(lat))
    return math.hypot(dlat, dlon)


def _named_place(name: str, layers: object, metric_crs: str) -> ResolvedLocation:
    candidates = _candidates(layers)
    matches = candidates[candidates["key"] == _key(name)]
    if matches.empty:
        stem = _stem(name)
        matches = candidates[candidates["stem"] == stem] if stem else matches
    kinds = matches["source"].unique().tolist()
    if matches.empty:
        known = candidates.loc[candidates["source"] != "reach", "label"].drop_duplicates().head(30).tolist()
        raise ReportProblem.one(
            ["body", "place_name"],
            f"no township, river or reach is called {name!r}"
            + (f"; known places: {', '.join(known)}" if known else "; no layers are loaded, send a location"),
            "unknown_place",
        )
    if len(matches) > 1 and len(kinds) > 1:
        raise ReportProblem.one(
            ["body", "place_name"],
            f"{name!r} is ambiguous: it names a "
            f"{' and a '.join(kinds)}; add 乡/镇 or 河/溪, or send a location",
            "ambiguous",
        )
    first = matches.iloc[0]
    x, y = shapely.get_x(first["point"]), shapely.get_y(first["point"])
    lon, lat = to_lonlat(np.array([x]), np.array([y]), metric_crs)
    return ResolvedLocation(
        float(lon[0]), float(lat[0]), str(first["source"]), float(first["uncertainty_m"]), str(first["label"])
    )


def _candidates(layers: object) -> pd.DataFrame:
    """Every nameable place with a representative point (metric) and a size (cached per layers)."""
    cached = _cache.get("last")
    if cached is not None and cached[0] is layers:
        return cached[1]
    frame = _build_candidates(layers)
    _cache["last"] = (layers, frame)
    return frame


def _build_candidates(layers: object) -> pd.DataFrame:
    townships = layers.townships  # type: ignore[attr-defined]
    reaches = layers.reaches  # type: ignore[attr-defined]
    parts = []
    if len(townships):
        geoms = np.asarray(townships.geometry.array, dtype=object)
        parts.append(
            pd.DataFrame(
                {
                    "label": townships["name"].astype(str).to_numpy(),
                    "source": "township",
                    "point": shapely.point_on_surface(geoms),
                    "uncertainty_m": np.sqrt(shapely.area(geoms) / np.pi),
                }
            )
        )
    if len(reaches):
        geoms = np.asarray(reaches.geometry.array, dtype=object)
        parts.append(
            pd.DataFrame(
                {
                    "label": reaches["reach_id"].astype(str).to_numpy(),
                    "source": "reach",
                    "point": shapely.line_interpolate_point(geoms, 0.5, normalized=True),
                    "uncertainty_m": shapely.length(geoms) / 2,
                }
            )
        )
        parts.append(_rivers(reaches))
    if not parts:
        return pd.DataFrame(columns=["label", "source", "point", "uncertainty_m", "key", "stem"])
    out = pd.concat(parts, ignore_index=True)
    out["key"] = out["label"].map(_key)
    out["stem"] = out["label"].map(_stem)
    return out


def _rivers(reaches: pd.DataFrame) -> pd.DataFrame:
    """One row per river: the middle of its middle reach; uncertainty half its length."""
    frame = pd.DataFrame(
        {
            "river": reaches["river_name"].astype(str).to_numpy(),
            "reach": reaches["reach_id"].astype(str).to_numpy(),
            "geom": np.asarray(reaches.geometry.array, dtype=object),
        }
    )
    frame["length"] = shapely.length(frame["geom"].to_numpy())
    rows = []
    for river, group in frame.sort_values("reach").groupby("river", sort=False):
        middle = group.iloc[len(group) // 2]["geom"]
        rows.append(
            {
                "label": river,
                "source": "river",
                "point": shapely.line_interpolate_point(middle, 0.5, normalized=True),
                "uncertainty_m": float(group["length"].sum()) / 2,
            }
        )
    return pd.DataFrame(rows)


def _key(text: str) -> str:
    return "".join(str(text).split()).casefold()


def _stem(text: str) -> str:
    key = _key(text)
    for suffix in _SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    return key
