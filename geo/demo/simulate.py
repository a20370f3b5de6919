"""Patrol and sighting-report simulator for the demo county (pure: start time and seed are inputs).

Each patrol is a route (a list of legs along road, river or trail polylines) walked out and back by
a speed profile; positions come from ``np.interp`` along the legs, so a patrol is a handful of
array operations whatever its length. Vehicles drive roads and river banks, foot patrols walk from
a road end up a tributary and into the forest, the boat runs the trunk river.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from geo.demo.county import METRIC_CRS, WGS84, DemoCounty, build_demo_county
from geo.schema import MODES, Mode, empty_fixes, fix_frame

ReportCategory = Literal["illegal_fishing", "electrofishing", "poisoning", "illegal_hunting",
                         "snare", "firearm", "other"]
REPORT_CATEGORIES: tuple[str, ...] = get_args(ReportCategory)
SIMULATOR_SOURCE = "simulator"
#: Start of the benchmark data: 2024-06-01 00:00 China Standard Time.
BENCHMARK_START_MS = 1_717_171_200_000

_DAY_MS = 86_400_000
_HOUR_S = 3600.0
_CST_OFFSET_MS = 8 * 3_600_000  # China Standard Time, UTC+8, no DST
_PATROL_GAP_S = 1800.0
_LAST_DAY_START_MS = 17 * 3_600_000  # local time after which day patrols are not started
_LAST_NIGHT_START_MS = 28 * 3_600_000  # nor night patrols (04:00 the next morning)
_MAX_APPROACH_M = 800.0  # foot teams walk at most this far up a stream to reach the forest


@dataclass(frozen=True)
class UnitSpec:
    """A patrol unit: its id, how it moves, and its base (lon, lat); ``None`` picks one."""

    unit_id: str
    mode: Mode
    home: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unit {self.unit_id!r}: mode must be one of {MODES}, got {self.mode!r}")


@dataclass(frozen=True)
class _Motion:
    """How a mode moves and reports."""

    speed_mps: tuple[float, float]
    fix_interval_ms: tuple[int, int]
    patrols_per_day: tuple[int, int]
    duration_h: tuple[float, float]
    stops_per_hour: float
    stop_s: tuple[float, float]
    accuracy_m: tuple[float, float]
    wander_m: float
    battery_pct_per_h: float | None


_MOTION: dict[str, _Motion] = {
    "vehicle": _Motion((20 / 3.6, 60 / 3.6), (5000, 10000), (1, 3), (2.0, 5.0), 1.5, (180, 1200),
                       (3.0, 8.0), 0.0, None),
    "foot": _Motion((1.0, 1.5), (10000, 30000), (1, 2), (2.0, 4.0), 1.0, (300, 900),
                    (5.0, 15.0), 35.0, 7.0),
    "boat": _Motion((2.0, 5.0), (5000, 10000), (1, 2), (2.0, 4.0), 1.0, (300, 900),
                    (3.0, 8.0), 0.0, None),
}


@dataclass(frozen=True)
class _Line:
    """A polyline in metres with cumulative along-line distance."""

    xy: np.ndarray
    cum_m: np.ndarray

    @classmethod
    def of(cls, xy: np.ndarray) -> _Line:
        xy = np.asarray(xy, dtype=float)
        seg = np.hypot(*np.diff(xy, axis=0).T)
        return cls(xy, np.concatenate([[0.0], np.cumsum(seg)]))

    @property
    def length_m(self) -> float:
        return float(self.cum_m[-1])

    def at(self, along_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.interp(along_m, self.cum_m, self.xy[:, 0]),
                np.interp(along_m, self.cum_m, self.xy[:, 1]))

    def point(self, along_m: float) -> np.ndarray:
        x, y = self.at(np.array([along_m]))
        return np.array([x[0], y[0]])

    def locate(self, xy: np.ndarray) -> float:
        """Along-line distance of the vertex nearest ``xy``."""
        return float(self.cum_m[np.argmin(np.hypot(*(self.xy - xy).T))])


@dataclass(frozen=True)
class _Leg:
    """Part of a route: ``line`` from ``start_m`` to ``end_m`` (either direction)."""

    line: _Line
    start_m: float
    end_m: float

    @property
    def length_m(self) -> float:
        return abs(self.end_m - self.start_m)


@dataclass(frozen=True)
class _Trailhead:
    """Where foot patrols leave the road: a road point and the tributary they walk up."""

    xy: np.ndarray
    river: _Line
    river_m: float  # along-line position on the river nearest the trailhead
    forest_m: tuple[float, float]  # the river's stretch through forest, upstream of river_m
    forest_gap_m: float  # straight-line distance from the road end to the forest


@dataclass(frozen=True)
class _Network:
    """The county in metres, as the simulator needs it."""

    boundary: shapely.Geometry
    interior: shapely.Geometry  # the county less a 500 m margin
    forest: shapely.Geometry
    main_road: _Line
    branches: list[tuple[_Line, float]]  # branch road and its junction position on the main road
    trunk: _Line
    rivers: list[tuple[_Line, str]]
    trailheads: list[_Trailhead]
    forest_points: np.ndarray  # (n, 2) sample points inside the forest, away from the edge
    villages: np.ndarray


def default_units(county: DemoCounty) -> list[UnitSpec]:
    """6 vehicle crews based at valley villages, 8 foot teams at villages, 1 boat."""
    villages = county.villages.sort_values("name").geometry
    homes = [(float(p.x), float(p.y)) for p in villages]
    units = [UnitSpec(f"V{i + 1:02d}", "vehicle", homes[i % len(homes)]) for i in range(6)]
    units += [UnitSpec(f"F{i + 1:02d}", "foot", homes[(i + 3) % len(homes)]) for i in range(8)]
    units.append(UnitSpec("B01", "boat", homes[len(homes) // 2]))
    return units


def simulate_patrols(county: DemoCounty, units: list[UnitSpec], *, start_ms: int, days: float,
                     seed: int = 7, night_share: float = 0.2) -> pd.DataFrame:
    """Fixes of every unit's patrols in ``[start_ms, start_ms + days)``: a fix frame (source
    ``simulator``) grouped by unit in the given order, each unit in time order. The same inputs
    always give the same frame, and a unit's fixes do not depend on the other units."""
    if not 0.0 <= night_share <= 1.0:
        raise ValueError(f"night_share must be within [0, 1], got {night_share}")
    net = _network(county)
    end_ms = start_ms + round(days * _DAY_MS)
    parts = [(unit, _simulate_unit(net, unit, _unit_rng(seed, unit.unit_id), start_ms, end_ms,
                                   night_share)) for unit in units]
    return _to_frame([(unit, arrays) for unit, arrays in parts if arrays is not None])


def simulate_reports(county: DemoCounty, *, start_ms: int, days: float, seed: int = 7,
                     rate_per_day: float = 3.0) -> pd.DataFrame:
    """Demo sighting reports (no ids): category, observed_ms, lon, lat, description (Chinese, marked
    【演示】) and a details dict. Fishing happens near rivers, mostly at night; snares, hunting and
    firearms in the forest."""
    rng = np.random.default_rng([seed, 0x5EB0])
    net = _network(county)
    n = int(rng.poisson(rate_per_day * max(days, 0.0)))
    weights = np.array([0.28, 0.18, 0.07, 0.12, 0.2, 0.05, 0.1])
    categories = rng.choice(REPORT_CATEGORIES, size=n, p=weights / weights.sum())
    rows = [_report(rng, net, str(c), start_ms, days) for c in categories]
    frame = pd.DataFrame(rows, columns=["category", "observed_ms", "x_m", "y_m", "description",
                                        "details"])
    lon, lat = _TO_WGS.transform(frame["x_m"].to_numpy(float), frame["y_m"].to_numpy(float))
    frame = frame.assign(lon=np.asarray(lon, float), lat=np.asarray(lat, float),
                         observed_ms=frame["observed_ms"].astype("int64"))
    observed_ms = frame["observed_ms"]
    frame = frame[(observed_ms >= start_ms) & (observed_ms < start_ms + round(days * _DAY_MS))]
    columns = ["category", "observed_ms", "lon", "lat", "description", "details"]
    return frame.sort_values("observed_ms", kind="stable")[columns].reset_index(drop=True)


def benchmark_fixes(n: int, seed: int = 7) -> pd.DataFrame:
    """Exactly ``n`` simulated county fixes in arrival (time) order, for the ingest benchmark."""
    if n <= 0:
        return empty_fixes()
    county = build_demo_county(seed)
    units = default_units(county)
    days = n / 25_000 + 1.0
    while True:
        fixes = simulate_patrols(county, units, start_ms=BENCHMARK_START_MS, days=days, seed=seed)
        if len(fixes) >= n:
            break
        days *= 1.5
    order = np.argsort(fixes["time_ms"].to_numpy(), kind="stable")[:n]
    return fixes.iloc[order].reset_index(drop=True)


# --- network ----------------------------------------------------------------------------------

_TO_WGS = Transformer.from_crs(METRIC_CRS, WGS84, always_xy=True)


def _network(county: DemoCounty) -> _Network:
    """The county's layers in metres, with roads, rivers and trailheads as polylines."""
    metric = {name: frame.to_crs(METRIC_CRS) for name, frame in county.layers().items()}
    boundary = shapely.union_all(metric["boundary"].geometry.to_numpy())
    forest = shapely.union_all(metric["forests"].geometry.to_numpy())
    interior = boundary.buffer(-500)
    for area in (boundary, forest, interior):
        shapely.prepare(area)
    roads, rivers = metric["roads"], metric["rivers"]
    main_road = _Line.of(shapely.get_coordinates(roads[roads["kind"] == "main"].geometry.iloc[0]))
    river_lines = {name: _Line.of(shapely.get_coordinates(g))
                   for name, g in zip(rivers["name"], rivers.geometry, strict=True)}
    branch_roads = roads[roads["kind"] == "branch"]
    branches = [_Line.of(shapely.get_coordinates(g)) for g in branch_roads.geometry]
    return _Network(
        boundary=boundary, interior=interior, forest=forest, main_road=main_road,
        branches=[(b, main_road.locate(b.xy[0])) for b in branches],
        trunk=river_lines[rivers.loc[rivers["kind"] == "trunk", "name"].iloc[0]],
        rivers=[(line, name) for name, line in river_lines.items()],
        trailheads=[_trailhead(b, river_lines[name], forest)
                    for b, name in zip(branches, branch_roads["river"], strict=True)],
        forest_points=_points_in(np.random.default_rng(0), forest.buffer(-150), 4000),
        villages=shapely.get_coordinates(metric["villages"].geometry.to_numpy()))


def _trailhead(road: _Line, river: _Line, forest: shapely.Geometry) -> _Trailhead:
    """The end of a branch road and how the stream beside it reaches the forest."""
    river_m = river.locate(road.xy[-1])
    return _Trailhead(road.xy[-1], river, river_m, _forest_reach_m(river, river_m, forest),
                      float(shapely.distance(shapely.Point(road.xy[-1]), forest)))


def _forest_reach_m(river: _Line, from_m: float,
                    forest: shapely.Geometry) -> tuple[float, float]:
    """Going upstream (towards along-line 0) from ``from_m``: where the river enters the forest
    for at least a kilometre (or its longest forest stretch), and where it leaves it again;
    ``(from_m, from_m)`` when it never does."""
    upstream = np.flatnonzero(river.cum_m <= from_m)[::-1]
    in_forest = shapely.contains_xy(forest, river.xy[upstream, 0], river.xy[upstream, 1])
    edges = np.flatnonzero(np.diff(np.concatenate([[0], in_forest.astype(np.int8), [0]])))
    if len(edges) == 0:
        return from_m, from_m
    entry_m = river.cum_m[upstream[edges[::2]]]
    exit_m = river.cum_m[upstream[edges[1::2] - 1]]
    long_enough = np.flatnonzero(entry_m - exit_m >= 1000)
    best = int(long_enough[0]) if len(long_enough) else int(np.argmax(entry_m - exit_m))
    return float(entry_m[best]), float(exit_m[best])


def _points_in(rng: np.random.Generator, area: shapely.Geometry, n: int) -> np.ndarray:
    """``n`` uniform random points inside ``area`` (vectorized rejection sampling)."""
    found = np.empty((0, 2))
    if area.is_empty:
        return found
    minx, miny, maxx, maxy = area.bounds
    while len(found) < n:
        xy = rng.uniform([minx, miny], [maxx, maxy], size=(4 * n, 2))
        found = np.vstack([found, xy[shapely.contains_xy(area, xy[:, 0], xy[:, 1])]])
    return found[:n]


# --- one unit -----------------------------------------------------------------------------------


def _unit_rng(seed: int, unit_id: str) -> np.random.Generator:
    """A generator per unit, so adding a unit leaves the others' patrols unchanged."""
    return np.random.default_rng([seed, zlib.crc32(unit_id.encode())])


def _simulate_unit(net: _Network, unit: UnitSpec, rng: np.random.Generator, start_ms: int,
                   end_ms: int, night_share: float) -> dict[str, np.ndarray] | None:
    """All of one unit's patrols in the window, as concatenated arrays (or None)."""
    motion = _MOTION[unit.mode]
    home = _home_xy(net, unit, rng)
    patrols = []
    for patrol_start_ms, duration_s, night in _schedule(rng, motion, start_ms, end_ms,
                                                        night_share):
        legs = _route(rng, net, unit.mode, home, night)
        patrols.append(_patrol(rng, motion, legs, patrol_start_ms, duration_s))
    if not patrols:
        return None
    arrays = {k: np.concatenate([p[k] for p in patrols]) for k in patrols[0]}
    keep = (arrays["time_ms"] >= start_ms) & (arrays["time_ms"] < end_ms)
    return {k: v[keep] for k, v in arrays.items()}


def _home_xy(net: _Network, unit: UnitSpec, rng: np.random.Generator) -> np.ndarray:
    if unit.home is None:
        return net.villages[rng.integers(len(net.villages))]
    x, y = Transformer.from_crs(WGS84, METRIC_CRS, always_xy=True).transform(*unit.home)
    return np.array([x, y])


def _schedule(rng: np.random.Generator, motion: _Motion, start_ms: int, end_ms: int,
              night_share: float) -> list[tuple[int, float, bool]]:
    """Patrols (start_ms, duration_s, night) per local day, never overlapping."""
    first_day_ms = (start_ms + _CST_OFFSET_MS) // _DAY_MS * _DAY_MS - _CST_OFFSET_MS - _DAY_MS
    plans: list[tuple[int, float, bool]] = []
    free_from_ms = first_day_ms
    for day_ms in range(first_day_ms, end_ms, _DAY_MS):
        count = int(rng.integers(motion.patrols_per_day[0], motion.patrols_per_day[1] + 1))
        night = rng.random(count) < night_share
        hour = np.where(night, rng.uniform(19.0, 26.0, count), rng.uniform(6.5, 15.5, count))
        duration_s = rng.uniform(*motion.duration_h, count) * _HOUR_S
        for i in np.argsort(hour):
            begin_ms = max(day_ms + int(hour[i] * 3_600_000), free_from_ms)
            if begin_ms > day_ms + (_LAST_NIGHT_START_MS if night[i] else _LAST_DAY_START_MS):
                continue  # earlier patrols ran too long to start this one
            free_from_ms = begin_ms + int((duration_s[i] + _PATROL_GAP_S) * 1000)
            if begin_ms < end_ms:
                plans.append((begin_ms, float(duration_s[i]), bool(night[i])))
    return plans


def _route(rng: np.random.Generator, net: _Network, mode: str, home: np.ndarray,
           night: bool) -> list[_Leg]:
    if mode == "vehicle":
        return _vehicle_route(rng, net, home, night)
    if mode == "foot":
        return _foot_route(rng, net, home)
    return _along(net.trunk, net.trunk.locate(home), rng)


def _along(line: _Line, from_m: float, rng: np.random.Generator) -> list[_Leg]:
    """From ``from_m`` to one end of ``line``: the longer way, sometimes the shorter."""
    ends = [0.0, line.length_m]
    longer = int(line.length_m - from_m > from_m)
    end = ends[longer] if rng.random() < 0.7 else ends[1 - longer]
    return [_Leg(line, from_m, end)]


def _connector(a: np.ndarray, b: np.ndarray) -> _Leg:
    line = _Line.of(np.vstack([a, b]))
    return _Leg(line, 0.0, line.length_m)


def _vehicle_route(rng: np.random.Generator, net: _Network, home: np.ndarray,
                   night: bool) -> list[_Leg]:
    """Along the valley road, up a branch road, or along the trunk's bank (mostly at night)."""
    home_m = net.main_road.locate(home)
    kind = rng.choice(["road", "branch", "bank"], p=[0.2, 0.3, 0.5] if night else [0.3, 0.5, 0.2])
    if kind == "branch" and net.branches:
        distance_m = np.array([abs(junction_m - home_m) for _, junction_m in net.branches])
        weights = np.exp(-distance_m / 10_000)
        branch, junction_m = net.branches[rng.choice(len(net.branches), p=weights / weights.sum())]
        return [_Leg(net.main_road, home_m, junction_m), _Leg(branch, 0.0, branch.length_m)]
    if kind == "bank":
        road_xy = net.main_road.point(home_m)
        bank_m = net.trunk.locate(road_xy)
        return [_connector(road_xy, net.trunk.point(bank_m)), *_along(net.trunk, bank_m, rng)]
    return _along(net.main_road, home_m, rng)


def _foot_route(rng: np.random.Generator, net: _Network, home: np.ndarray) -> list[_Leg]:
    """From a nearby road end up its tributary into the forest, then off the stream through it
    (straight into the forest when the stream reaches it only far upstream)."""
    if not net.trailheads:
        start_xy = net.main_road.point(net.main_road.locate(home))
        return _into_forest(rng, net, start_xy, 3) or _along(net.main_road, 0.0, rng)
    heads = [t for t in net.trailheads if t.forest_gap_m <= _MAX_APPROACH_M] or net.trailheads
    distance_m = np.array([np.hypot(*(t.xy - home)) for t in heads])
    nearest = np.argsort(distance_m)[:2]
    head = heads[int(nearest[0] if rng.random() < 0.7 else nearest[-1])]
    entry_m, exit_m = head.forest_m
    if entry_m > exit_m and head.river_m - entry_m <= _MAX_APPROACH_M:
        leave_m = max(exit_m, entry_m - rng.uniform(1500, 5000))
        legs = [_connector(head.xy, head.river.point(head.river_m)),
                _Leg(head.river, head.river_m, leave_m)]
        return legs + _into_forest(rng, net, head.river.point(leave_m), 2)
    return _into_forest(rng, net, head.xy, 3, nearest_first=True) or _along(net.main_road, 0.0, rng)


def _into_forest(rng: np.random.Generator, net: _Network, start_xy: np.ndarray, n_legs: int,
                 *, nearest_first: bool = False) -> list[_Leg]:
    """Straight legs between forest points 0.8–2.5 km apart (the nearest one if none is, or
    first when ``nearest_first``)."""
    legs: list[_Leg] = []
    here = start_xy
    for i in range(n_legs if len(net.forest_points) else 0):
        reach_m = np.hypot(*(net.forest_points - here).T)
        in_reach = (reach_m > 800) & (reach_m < 2500) & (not nearest_first or i > 0)
        candidates = np.flatnonzero(in_reach)
        there = net.forest_points[rng.choice(candidates) if len(candidates)
                                  else int(np.argmin(reach_m))]
        legs.append(_connector(here, there))
        here = there
    return legs


# --- one patrol ---------------------------------------------------------------------------------


def _patrol(rng: np.random.Generator, motion: _Motion, legs: list[_Leg], start_ms: int,
            duration_s: float) -> dict[str, np.ndarray]:
    """Fix arrays for one out-and-back patrol along ``legs``."""
    dt_ms = rng.integers(motion.fix_interval_ms[0], motion.fix_interval_ms[1] + 1,
                         size=int(duration_s * 1000 / np.mean(motion.fix_interval_ms)))
    t_s = np.concatenate([[0], np.cumsum(dt_ms)]) / 1000.0
    speed_mps = _speed_profile(rng, motion, t_s)
    path_m = np.concatenate([[0.0], np.cumsum(speed_mps[:-1] * np.diff(t_s))])
    x, y = _positions(legs, _out_and_back(path_m, sum(leg.length_m for leg in legs)))
    if motion.wander_m > 0:
        x, y = x + _wander(rng, path_m, motion.wander_m), y + _wander(rng, path_m, motion.wander_m)
    accuracy_m = rng.uniform(*motion.accuracy_m, len(t_s))
    noise = np.clip(rng.standard_normal((2, len(t_s))), -3, 3) * accuracy_m / np.sqrt(2)
    battery = (np.full(len(t_s), np.nan) if motion.battery_pct_per_h is None else
               rng.uniform(85, 100) - motion.battery_pct_per_h * t_s / _HOUR_S)
    return {
        "time_ms": start_ms + np.concatenate([[0], np.cumsum(dt_ms)]),
        "x_m": x + noise[0], "y_m": y + noise[1], "accuracy_m": accuracy_m,
        "speed_mps": np.maximum(0.0, speed_mps + rng.normal(0, 0.1, len(t_s))) * (speed_mps > 0),
        "bearing_deg": _bearing_deg(x, y, speed_mps),
        "battery_pct": battery,
    }


def _speed_profile(rng: np.random.Generator, motion: _Motion, t_s: np.ndarray) -> np.ndarray:
    """Speed at each fix: smooth variation within the mode's range, zero during stops."""
    low, high = motion.speed_mps
    n = len(t_s)
    fix_s = max(float(t_s[-1]) / max(n - 1, 1), 1.0)
    variation = 0.5 + 0.5 * np.tanh(_noise(rng, n, 300.0 / fix_s))
    speed = low + (high - low) * variation
    n_stops = rng.poisson(motion.stops_per_hour * t_s[-1] / _HOUR_S)
    stop_start_s = rng.uniform(0, t_s[-1], n_stops)
    stop_end_s = stop_start_s + rng.uniform(*motion.stop_s, n_stops)
    stopped = np.zeros(n, dtype=bool)
    for begin, end in zip(stop_start_s, stop_end_s, strict=True):
        stopped[np.searchsorted(t_s, begin):np.searchsorted(t_s, end)] = True
    return np.where(stopped, 0.0, speed)


def _noise(rng: np.random.Generator, n: int, sigma_n: float) -> np.ndarray:
    """Unit-variance Gaussian noise correlated over ~``sigma_n`` samples."""
    sigma_n = max(sigma_n, 0.5)
    k = np.exp(-0.5 * (np.arange(-int(3 * sigma_n) - 1, int(3 * sigma_n) + 2) / sigma_n) ** 2)
    return np.convolve(rng.standard_normal(n + len(k) - 1), k / np.sqrt((k**2).sum()), "valid")


def _out_and_back(path_m: np.ndarray, route_m: float) -> np.ndarray:
    """Position along the route for distance travelled: out and back, as many laps as needed,
    ending where it started."""
    total_m = float(path_m[-1])
    if total_m <= 0 or route_m <= 0:
        return np.zeros_like(path_m)
    turn_m = total_m / (2 * np.ceil(total_m / (2 * route_m)))
    phase = np.mod(path_m, 2 * turn_m)
    return np.where(phase <= turn_m, phase, 2 * turn_m - phase)


def _positions(legs: list[_Leg], route_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x, y along a route of legs for each along-route distance."""
    lengths = np.array([leg.length_m for leg in legs])
    offsets = np.concatenate([[0.0], np.cumsum(lengths)])
    which = np.clip(np.searchsorted(offsets, route_m, side="right") - 1, 0, len(legs) - 1)
    x = np.empty_like(route_m)
    y = np.empty_like(route_m)
    for i, leg in enumerate(legs):
        mask = which == i
        along = leg.start_m + np.sign(leg.end_m - leg.start_m) * (route_m[mask] - offsets[i])
        x[mask], y[mask] = leg.line.at(along)
    return x, y


def _wander(rng: np.random.Generator, path_m: np.ndarray, amplitude_m: float) -> np.ndarray:
    """A correlated sideways wander (bounded to 2.5 amplitudes) as a function of distance walked,
    so it stays put during rests."""
    grid_m = np.arange(0.0, float(path_m[-1]) + 20.0, 20.0)
    offset = np.clip(amplitude_m * _noise(rng, len(grid_m), 10.0), -2.5 * amplitude_m,
                     2.5 * amplitude_m)
    return np.interp(path_m, grid_m, offset)


def _bearing_deg(x: np.ndarray, y: np.ndarray, speed_mps: np.ndarray) -> np.ndarray:
    """Course over ground from true north (NaN when stopped), from the noise-free track."""
    dx = np.append(np.diff(x), np.nan)
    dy = np.append(np.diff(y), np.nan)
    dx[-1:], dy[-1:] = dx[-2:-1], dy[-2:-1]
    grid_deg = np.degrees(np.arctan2(dx, dy))
    bearing = np.mod(grid_deg - _TRUE_NORTH_GRID_DEG, 360.0)
    return np.where(speed_mps > 0, bearing, np.nan)


def _true_north_grid_deg() -> float:
    """Grid bearing of true north at the county centre (the same across the county to ~0.2°)."""
    to_metric = Transformer.from_crs(WGS84, METRIC_CRS, always_xy=True)
    x0, y0 = to_metric.transform(120.75, 28.80)
    x1, y1 = to_metric.transform(120.75, 28.81)
    return float(np.degrees(np.arctan2(x1 - x0, y1 - y0)))


_TRUE_NORTH_GRID_DEG = _true_north_grid_deg()


# --- frames ---------------------------------------------------------------------------------


def _to_frame(parts: list[tuple[UnitSpec, dict[str, np.ndarray]]]) -> pd.DataFrame:
    """One fix frame from every unit's arrays (metres projected to WGS-84 in one call)."""
    if not parts:
        return empty_fixes()
    columns = {k: np.concatenate([arrays[k] for _, arrays in parts]) for k in parts[0][1]}
    sizes = [len(arrays["time_ms"]) for _, arrays in parts]
    lon, lat = _TO_WGS.transform(columns.pop("x_m"), columns.pop("y_m"))
    return fix_frame(
        unit_id=np.repeat(np.array([u.unit_id for u, _ in parts], dtype=object), sizes),
        mode=np.repeat(np.array([u.mode for u, _ in parts], dtype=object), sizes),
        lon=lon, lat=lat, source=SIMULATOR_SOURCE, **columns)


# --- reports --------------------------------------------------------------------------------

_NIGHT_SHARE: dict[str, float] = {"illegal_fishing": 0.75, "electrofishing": 0.85,
                                  "poisoning": 0.5, "illegal_hunting": 0.6, "snare": 0.1,
                                  "firearm": 0.5, "other": 0.2}
_RIVER_CATEGORIES = ("illegal_fishing", "electrofishing", "poisoning")
_FOREST_CATEGORIES = ("illegal_hunting", "snare", "firearm")


def _report(rng: np.random.Generator, net: _Network, category: str, start_ms: int,
            days: float) -> tuple[object, ...]:
    """One report row: category, observed_ms, x_m, y_m, description, details."""
    moment_ms = start_ms + int(rng.uniform(0, days) * _DAY_MS)
    midnight_ms = (moment_ms + _CST_OFFSET_MS) // _DAY_MS * _DAY_MS - _CST_OFFSET_MS
    night = rng.random() < _NIGHT_SHARE[category]
    hour = rng.uniform(19.0, 28.0) if night else rng.uniform(6.0, 18.0)
    observed_ms = midnight_ms + int(hour * 3_600_000)
    river = ""
    if category in _RIVER_CATEGORIES:
        lengths = np.array([line.length_m for line, _ in net.rivers])
        line, river = net.rivers[rng.choice(len(lengths), p=lengths / lengths.sum())]
        xy = line.point(rng.uniform(0, line.length_m)) + rng.uniform(-40, 40, 2)
    elif category in _FOREST_CATEGORIES:
        xy = net.forest_points[rng.integers(len(net.forest_points))] + rng.uniform(-50, 50, 2)
    else:
        xy = _points_in(rng, net.interior, 1)[0]
    description, details = _describe(rng, category, river)
    return category, observed_ms, float(xy[0]), float(xy[1]), description, details


def _describe(rng: np.random.Generator, category: str,
              river: str) -> tuple[str, dict[str, object]]:
    """A Chinese description marked 【演示】 and the category's details (the same fields as the
    report API's per-category detail models)."""
    people = int(rng.integers(1, 5))
    boat = bool(rng.random() < 0.3)
    by_boat = "，有小船" if boat else ""
    if category == "illegal_fishing":
        method, gear = [("net", "拦河网"), ("net", "地笼"), ("rod", "钓竿"), ("other", "鱼叉")][
            int(rng.integers(4))]
        return f"【演示】{river}边有人用{gear}捕鱼，约{people}人{by_boat}", {"method": method,
                                                                      "boat": boat}
    if category == "electrofishing":
        return (f"【演示】{river}听到电鱼机声响，疑似电鱼，约{people}人{by_boat}",
                {"boat": boat, "people_seen": people})
    if category == "poisoning":
        kg = round(float(rng.uniform(2, 80)), 1)
        return (f"【演示】{river}发现大量死鱼（约{kg}公斤），疑似投毒",
                {"dead_fish_seen": True, "estimated_kg": kg})
    if category == "illegal_hunting":
        species = str(rng.choice(["野猪", "小麂", "野兔", "白鹇", "竹鸡"]))
        traps = int(rng.integers(0, 6))
        return (f"【演示】林区发现{people}人带猎狗和夹子，疑似猎捕{species}",
                {"snares_count": None, "traps_count": traps, "species": species})
    if category == "snare":
        count = int(rng.integers(3, 30))
        return f"【演示】林中发现钢丝猎套{count}个", {"snares_count": count}
    if category == "firearm":
        shots = int(rng.integers(1, 6))
        return (f"【演示】山林中听到枪声{shots}次，疑似土枪",
                {"shots_heard": shots, "bearing_deg": round(float(rng.uniform(0, 360)), 0),
                 "distance_m": round(float(rng.uniform(200, 2000)), -1), "weapon_seen": False})
    note = str(rng.choice(["发现可疑人员在林区徘徊", "河边发现遗弃渔具", "山上发现野外用火痕迹",
                           "河滩发现倾倒垃圾"]))
    return f"【演示】{note}", {}
