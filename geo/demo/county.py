"""A synthetic demo county at the location of Xianju, Zhejiang (120.5–121.0 E, 28.6–29.0 N).

Everything here is invented: the layers are built from seeded random walks and blobs, every feature
carries ``source == SYNTHETIC_SOURCE``, and every name starts with 演示 ("demo"). Geometry is built
in the metric CRS (UTM 50N) and handed out in WGS-84.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon
from shapely.ops import substring

METRIC_CRS = "EPSG:32650"
WGS84 = "EPSG:4326"
SYNTHETIC_SOURCE = "synthetic demo — not real data"
CENTRE_LON_LAT = (120.75, 28.80)
#: Every generated feature lies inside this lon/lat box.
BOUNDS_LON_LAT = (120.5, 28.6, 121.0, 29.0)

ZoneKind = Literal["protected", "no_fishing"]
Priority = Literal["high", "normal"]

_STEP_M = 50.0  # vertex spacing of generated lines
_EDGE_MARGIN_M = 400.0  # rivers and roads stop this far inside the boundary
_RADIUS_X_M = 24_500.0
_RADIUS_Y_M = 22_000.0
_N_TRIBUTARIES = 9
_N_BRANCH_ROADS = 5
_N_TOWNSHIPS = 10
_FOREST_SHARE = 0.60
_RIVER_TARGET_M = 300_000.0

_TRIBUTARY_NAMES = ("枫", "竹", "杉", "松", "桂", "梅", "兰", "樟", "柳", "桃")
_TOWNSHIP_NAMES = ("城关", "东溪", "西岭", "南坑", "北山", "青石", "竹林", "云峰", "松岙", "梅岭",
                   "杉坑", "桂湾")


@dataclass(frozen=True, eq=False)
class DemoCounty:
    """The demo county's layers, each a WGS-84 GeoDataFrame with ``name`` and ``source`` columns."""

    boundary: gpd.GeoDataFrame
    rivers: gpd.GeoDataFrame  # name, kind (trunk|tributary|creek), priority
    forests: gpd.GeoDataFrame  # name, township
    townships: gpd.GeoDataFrame  # name
    roads: gpd.GeoDataFrame  # name, kind (main|branch), river (the tributary a branch follows)
    zones: gpd.GeoDataFrame  # name, kind (protected|no_fishing), priority
    villages: gpd.GeoDataFrame  # name, township

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """The layers by name, in a fixed order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def build_demo_county(seed: int = 7) -> DemoCounty:
    """Build the synthetic county; the same seed always gives the same layers."""
    rng = np.random.default_rng(seed)
    boundary = _boundary(rng)
    inner = boundary.buffer(-_EDGE_MARGIN_M)
    trunk = _trunk(rng, inner)
    tributaries = _tributaries(rng, trunk, inner)
    creeks = _creeks(rng, trunk, tributaries, inner)
    main_road = _main_road(rng, trunk, inner)
    branches = _branch_roads(tributaries, main_road)
    seats = _township_seats(rng, main_road, [b for _, b in branches])
    townships = _townships(seats, boundary)
    forest = _forest(rng, boundary, trunk, main_road, [b for _, b in branches], seats)
    return DemoCounty(
        boundary=_frame([boundary], name=["演示县（虚构）"]),
        rivers=_rivers_frame(trunk, tributaries, creeks),
        forests=_forests_frame(forest, townships),
        townships=_frame(townships, name=[f"演示{n}镇" for n in _TOWNSHIP_NAMES[:len(seats)]]),
        roads=_roads_frame(main_road, branches),
        zones=_zones_frame(rng, trunk, tributaries, forest, inner),
        villages=_frame([Point(p) for p in seats],
                        name=[f"演示{n}村" for n in _TOWNSHIP_NAMES[:len(seats)]],
                        township=[f"演示{n}镇" for n in _TOWNSHIP_NAMES[:len(seats)]]),
    )


def write_demo_county(county: DemoCounty, folder: Path) -> dict[str, Path]:
    """Write each layer as ``<folder>/<layer>.geojson`` (WGS-84); return the paths by layer."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, frame in county.layers().items():
        path = folder / f"{name}.geojson"
        path.unlink(missing_ok=True)
        frame.to_file(path, driver="GeoJSON", engine="pyogrio")
        paths[name] = path
    return paths


# --- generic shape helpers -------------------------------------------------------------------


def _gaussian_kernel(sigma_n: float) -> np.ndarray:
    half = max(1, int(3 * sigma_n))
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / max(sigma_n, 1e-9)) ** 2)
    return k / k.sum()


def _smooth(values: np.ndarray, sigma_n: float) -> np.ndarray:
    """Gaussian-smooth a 1-D array (edges padded with the end values)."""
    k = _gaussian_kernel(sigma_n)
    half = len(k) // 2
    padded = np.concatenate([np.full(half, values[0]), values, np.full(half, values[-1])])
    return np.convolve(padded, k, mode="valid")


def _correlated_noise(rng: np.random.Generator, n: int, sigma_n: float) -> np.ndarray:
    """``n`` samples of unit-variance Gaussian noise correlated over about ``sigma_n`` samples."""
    k = np.exp(-0.5 * (np.arange(-int(3 * sigma_n) - 1, int(3 * sigma_n) + 2) / sigma_n) ** 2)
    white = rng.standard_normal(n + len(k) - 1)
    return np.convolve(white, k / np.sqrt((k**2).sum()), mode="valid")


def _meander(rng: np.random.Generator, start_xy: tuple[float, float], heading_rad: float,
             length_m: float, *, wiggle_rad: float, corr_m: float,
             wave_m: float = 2500.0, wave_rad: float = 0.0) -> np.ndarray:
    """A smooth wandering line (n, 2): heading = mean + meander wave + correlated noise."""
    n = int(length_m / _STEP_M)
    wavenumber = 2 * np.pi / wave_m * np.exp(0.35 * _correlated_noise(rng, n, wave_m / _STEP_M))
    phase = rng.uniform(0, 2 * np.pi) + np.cumsum(wavenumber * _STEP_M)
    amplitude = wave_rad * (1 + 0.4 * np.tanh(_correlated_noise(rng, n, wave_m / _STEP_M)))
    wave = amplitude * np.sin(phase)
    heading = heading_rad + wave + wiggle_rad * _correlated_noise(rng, n, corr_m / _STEP_M)
    steps = _STEP_M * np.column_stack([np.cos(heading), np.sin(heading)])
    return np.vstack([start_xy, start_xy + np.cumsum(steps, axis=0)])


def _blob(rng: np.random.Generator, centre_xy: tuple[float, float], radius_x_m: float,
          radius_y_m: float, *, roughness: float = 0.12, n: int = 256) -> Polygon:
    """A smooth irregular closed shape: an ellipse with random low harmonics on the radius."""
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = np.ones(n)
    for k in range(2, 9):
        r += roughness / k * rng.standard_normal() * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    r /= r.max()
    x = centre_xy[0] + radius_x_m * r * np.cos(theta)
    y = centre_xy[1] + radius_y_m * r * np.sin(theta)
    return Polygon(np.column_stack([x, y])).buffer(0)


def _first_run_inside(xy: np.ndarray, area: shapely.Geometry) -> np.ndarray:
    """The longest run of consecutive vertices of ``xy`` inside ``area``."""
    inside = shapely.contains_xy(area, xy[:, 0], xy[:, 1])
    edges = np.flatnonzero(np.diff(np.concatenate([[0], inside.astype(np.int8), [0]])))
    starts, ends = edges[::2], edges[1::2]
    if len(starts) == 0:
        return xy[:0]
    best = int(np.argmax(ends - starts))
    return xy[starts[best]:ends[best]]


def _cut_at(xy: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """``xy`` up to (not including) the first vertex where ``stop`` is true."""
    return xy[: int(np.argmax(stop))] if stop.any() else xy


def _centre_xy() -> tuple[float, float]:
    x, y = Transformer.from_crs(WGS84, METRIC_CRS, always_xy=True).transform(*CENTRE_LON_LAT)
    return float(x), float(y)


# --- layer steps ----------------------------------------------------------------------------


def _boundary(rng: np.random.Generator) -> Polygon:
    """An irregular ellipse of ~1,200 km² centred on Xianju, shrunk until it fits the box."""
    shape = _blob(rng, _centre_xy(), _RADIUS_X_M, _RADIUS_Y_M, roughness=0.2)
    to_wgs = Transformer.from_crs(METRIC_CRS, WGS84, always_xy=True)
    lon_min, lat_min, lon_max, lat_max = BOUNDS_LON_LAT
    margin_deg = 0.01
    while True:
        lon, lat = to_wgs.transform(*np.asarray(shape.exterior.coords).T)
        if (lon.min() > lon_min + margin_deg and lon.max() < lon_max - margin_deg
                and lat.min() > lat_min + margin_deg and lat.max() < lat_max - margin_deg):
            return shape
        shape = affinity.scale(shape, 0.97, 0.97, origin=_centre_xy())


def _trunk(rng: np.random.Generator, inner: Polygon) -> np.ndarray:
    """The trunk river, west to east across the county, meandering, low-frequency drift removed."""
    cx, cy = _centre_xy()
    target_y = cy - rng.uniform(0, 3000)
    xy = _meander(rng, (cx - 30_000, target_y), 0.0, 75_000, wiggle_rad=0.45, corr_m=600,
                  wave_m=2800, wave_rad=0.55)
    xy[:, 1] -= 0.9 * _smooth(xy[:, 1] - target_y, 6000 / _STEP_M)
    return _first_run_inside(xy, inner)


def _tributaries(rng: np.random.Generator, trunk: np.ndarray,
                 inner: Polygon) -> list[np.ndarray]:
    """Tributaries from confluences along the trunk up to the hills (each confluence → source)."""
    trunk_line = LineString(trunk)
    fractions = np.linspace(0.06, 0.94, _N_TRIBUTARIES) + rng.uniform(-0.02, 0.02, _N_TRIBUTARIES)
    obstacles = [trunk_line.buffer(300)]
    result: list[np.ndarray] = []
    for i, fraction in enumerate(fractions):
        side = 1.0 if i % 2 == 0 else -1.0
        start = trunk_line.interpolate(fraction, normalized=True)
        best = np.empty((0, 2))
        for _ in range(6):
            tilt = np.deg2rad(rng.uniform(15, 45))  # upstream leans west (the trunk flows east)
            xy = _meander(rng, (start.x, start.y), side * (np.pi / 2 + tilt), 40_000,
                          wiggle_rad=0.45, corr_m=500, wave_m=1500, wave_rad=0.45)
            xy = _cut_at(xy, ~shapely.contains_xy(inner, xy[:, 0], xy[:, 1]))
            blocked = shapely.contains_xy(shapely.union_all(obstacles), xy[:, 0], xy[:, 1])
            blocked[: int(np.argmax(~blocked)) if (~blocked).any() else len(blocked)] = False
            xy = _cut_at(xy, blocked)
            if len(xy) > len(best):
                best = xy
            if len(xy) * _STEP_M > 12_000:
                break
        if len(best) * _STEP_M > 3_000:
            result.append(best)
            obstacles.append(LineString(best).buffer(400))
    return result


def _creeks(rng: np.random.Generator, trunk: np.ndarray, tributaries: list[np.ndarray],
            inner: Polygon) -> list[tuple[int, np.ndarray]]:
    """Side creeks off the tributaries, added until the network is about 300 km long."""
    obstacles = shapely.union_all([LineString(t).buffer(250) for t in [trunk, *tributaries]])
    total_m = sum(LineString(t).length for t in [trunk, *tributaries])
    creeks: list[tuple[int, np.ndarray]] = []
    order = rng.permutation(len(tributaries))
    for attempt in range(60):
        if total_m >= _RIVER_TARGET_M:
            break
        parent = int(order[attempt % len(order)])
        trib = tributaries[parent]
        start = trib[rng.integers(len(trib) // 5, 4 * len(trib) // 5)]
        direction = trib[-1] - trib[0]
        heading = np.arctan2(direction[1], direction[0]) + rng.choice([-1, 1]) * rng.uniform(
            0.6, 1.1)
        xy = _meander(rng, tuple(start), heading, rng.uniform(4000, 9000), wiggle_rad=0.4,
                      corr_m=400)
        xy = _cut_at(xy, ~shapely.contains_xy(inner, xy[:, 0], xy[:, 1]))
        blocked = shapely.contains_xy(obstacles, xy[:, 0], xy[:, 1])
        blocked[: int(np.argmax(~blocked)) if (~blocked).any() else len(blocked)] = False
        xy = _cut_at(xy, blocked)
        if len(xy) * _STEP_M < 1500:
            continue
        creeks.append((parent, xy))
        total_m += LineString(xy).length
        obstacles = shapely.union(obstacles, LineString(xy[5:]).buffer(250))
    return creeks


def _main_road(rng: np.random.Generator, trunk: np.ndarray, inner: Polygon) -> np.ndarray:
    """The valley road: the trunk smoothed over ~1.5 km and set off 150–350 m to the north side."""
    valley = np.column_stack([_smooth(trunk[:, 0], 1500 / _STEP_M),
                              _smooth(trunk[:, 1], 1500 / _STEP_M)])
    tangent = np.gradient(valley, axis=0)
    normal = np.column_stack([-tangent[:, 1], tangent[:, 0]])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    offset_m = 250 + 100 * np.tanh(_correlated_noise(rng, len(valley), 3000 / _STEP_M))
    road = valley + normal * offset_m[:, None]
    return _first_run_inside(road, inner)


def _branch_roads(tributaries: list[np.ndarray],
                  main_road: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Forest roads up the longest tributaries: from the main road along the lower ~60 %."""
    road_line = LineString(main_road)
    longest = sorted(range(len(tributaries)), key=lambda i: -len(tributaries[i]))
    result: list[tuple[int, np.ndarray]] = []
    for i in sorted(longest[:_N_BRANCH_ROADS]):
        trib = tributaries[i]
        lower = trib[: int(0.6 * len(trib))]
        lower = np.column_stack([_smooth(lower[:, 0], 8), _smooth(lower[:, 1], 8)])
        tangent = np.gradient(lower, axis=0)
        normal = np.column_stack([-tangent[:, 1], tangent[:, 0]])
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        path = lower[6:] + 60 * normal[6:]
        junction = road_line.interpolate(road_line.project(Point(path[0])))
        result.append((i, np.vstack([[junction.x, junction.y], path])))
    return result


def _township_seats(rng: np.random.Generator, main_road: np.ndarray,
                    branches: list[np.ndarray]) -> np.ndarray:
    """Township seats: most along the valley road, the rest part-way up the branch roads."""
    road = LineString(main_road)
    n_valley = _N_TOWNSHIPS - min(len(branches), 4)
    fractions = np.linspace(0.05, 0.95, n_valley) + rng.uniform(-0.03, 0.03, n_valley)
    valley = [road.interpolate(f, normalized=True) for f in fractions]
    hills = [LineString(b).interpolate(rng.uniform(0.35, 0.6), normalized=True)
             for b in branches[:4]]
    return np.array([(p.x, p.y) for p in valley + hills])


def _townships(seats: np.ndarray, boundary: Polygon) -> list[shapely.Geometry]:
    """Voronoi cells of the seats clipped to the boundary (a partition of the county)."""
    cells = shapely.voronoi_polygons(shapely.MultiPoint(seats), extend_to=boundary, ordered=True)
    return [cell.intersection(boundary) for cell in cells.geoms]


def _forest(rng: np.random.Generator, boundary: Polygon, trunk: np.ndarray,
            main_road: np.ndarray, branches: list[np.ndarray],
            seats: np.ndarray) -> shapely.Geometry:
    """Forest = county minus the farmed valley, clearings (tea and farmland in the low hills),
    road corridors and villages; the valley and clearing sizes are found by bisection so that the
    forest covers ~60 % of the county."""
    low_hills = boundary.buffer(-2000).intersection(LineString(main_road).buffer(9000))
    radii_m = rng.uniform(600, 1400, 14)
    centres = [_random_point(rng, low_hills) for _ in radii_m]
    clearings = [_blob(rng, c, r, 0.7 * r) for c, r in zip(centres, radii_m, strict=True)]
    fixed = shapely.union_all([
        shapely.MultiLineString([LineString(b).simplify(20) for b in branches]).buffer(
            250, quad_segs=4),
        shapely.MultiPoint(seats).buffer(700, quad_segs=8)])
    scaled = [(LineString(main_road).simplify(20), 1200.0), (LineString(trunk).simplify(20), 400.0)]

    def forest_for(scale: float) -> shapely.Geometry:
        open_land = shapely.union_all(
            [g.buffer(w * scale, quad_segs=4) for g, w in scaled]
            + [affinity.scale(c, scale, scale) for c in clearings] + [fixed])
        return boundary.difference(open_land)

    low, high = 0.1, 4.0
    for _ in range(14):
        mid = 0.5 * (low + high)
        if forest_for(mid).area / boundary.area > _FOREST_SHARE:
            low = mid
        else:
            high = mid
    return forest_for(0.5 * (low + high))


def _random_point(rng: np.random.Generator, area: shapely.Geometry) -> tuple[float, float]:
    """A uniform random point inside ``area`` (rejection sampling)."""
    minx, miny, maxx, maxy = area.bounds
    while True:
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if shapely.contains_xy(area, x, y):
            return float(x), float(y)


# --- frames ---------------------------------------------------------------------------------


def _frame(geometries: list[shapely.Geometry], **columns: list[object]) -> gpd.GeoDataFrame:
    """A WGS-84 GeoDataFrame from metric geometries, labelled synthetic."""
    data = {**columns, "source": [SYNTHETIC_SOURCE] * len(geometries)}
    metric = gpd.GeoDataFrame(data, geometry=list(geometries), crs=METRIC_CRS)
    return metric.to_crs(WGS84).reset_index(drop=True)


def _rivers_frame(trunk: np.ndarray, tributaries: list[np.ndarray],
                  creeks: list[tuple[int, np.ndarray]]) -> gpd.GeoDataFrame:
    """Rivers drawn downstream (source → mouth); the trunk is high priority."""
    trib_names = [f"演示{_TRIBUTARY_NAMES[i % len(_TRIBUTARY_NAMES)]}溪"
                  for i in range(len(tributaries))]
    lines = [LineString(trunk)] + [LineString(t[::-1]) for t in tributaries]
    names = ["演示溪", *trib_names]
    kinds = ["trunk"] + ["tributary"] * len(tributaries)
    for k, (parent, xy) in enumerate(creeks):
        lines.append(LineString(xy[::-1]))
        names.append(f"{trib_names[parent]}支沟{k + 1}")
        kinds.append("creek")
    priority = ["high" if kind == "trunk" else "normal" for kind in kinds]
    return _frame(lines, name=names, kind=kinds, priority=priority)


def _forests_frame(forest: shapely.Geometry, townships: list[shapely.Geometry]
                   ) -> gpd.GeoDataFrame:
    """Forest split by township into named polygons; slivers under 0.1 km² dropped."""
    pieces, names, towns = [], [], []
    for name, township in zip(_TOWNSHIP_NAMES, townships, strict=False):
        parts = [p for p in shapely.get_parts(forest.intersection(township))
                 if isinstance(p, Polygon) and p.area > 100_000]
        for k, part in enumerate(sorted(parts, key=lambda p: -p.area)):
            pieces.append(part)
            names.append(f"演示{name}镇林区{k + 1}")
            towns.append(f"演示{name}镇")
    return _frame(pieces, name=names, township=towns)


def _roads_frame(main_road: np.ndarray,
                 branches: list[tuple[int, np.ndarray]]) -> gpd.GeoDataFrame:
    lines = [LineString(main_road)] + [LineString(b) for _, b in branches]
    rivers = [f"演示{_TRIBUTARY_NAMES[i % len(_TRIBUTARY_NAMES)]}溪" for i, _ in branches]
    return _frame(lines, name=["演示县道（主线）"] + [f"{r}林道" for r in rivers],
                  kind=["main"] + ["branch"] * len(branches), river=["演示溪", *rivers])


def _zones_frame(rng: np.random.Generator, trunk: np.ndarray, tributaries: list[np.ndarray],
                 forest: shapely.Geometry, inner: Polygon) -> gpd.GeoDataFrame:
    """Two spawning reaches on the trunk, one on a tributary, and a nature reserve in the hills."""
    trunk_line = LineString(trunk)
    zones: list[shapely.Geometry] = []
    names: list[str] = []
    kinds: list[ZoneKind] = []
    for k, start in enumerate((rng.uniform(0.2, 0.3), rng.uniform(0.6, 0.7))):
        zones.append(substring(trunk_line, start, start + 0.08, normalized=True).buffer(120))
        names.append(f"演示溪鱼类产卵场{k + 1}（禁渔河段）")
        kinds.append("no_fishing")
    longest = int(np.argmax([len(t) for t in tributaries]))
    trib = LineString(tributaries[longest])
    zones.append(substring(trib, 0.1, 0.45, normalized=True).buffer(80))
    names.append(f"演示{_TRIBUTARY_NAMES[longest]}溪禁渔河段")
    kinds.append("no_fishing")
    largest = max(shapely.get_parts(forest), key=lambda p: p.area)
    centre = shapely.get_coordinates(largest.buffer(-1500).representative_point()
                                     if not largest.buffer(-1500).is_empty
                                     else largest.representative_point())[0]
    zones.append(_blob(rng, tuple(centre), 3500, 2800).intersection(inner))
    names.append("演示自然保护区（虚构）")
    kinds.append("protected")
    return _frame(zones, name=names, kind=kinds, priority=["high"] * len(zones))
