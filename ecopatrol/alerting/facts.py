"""What the rules read (``alerts.rules.RuleFacts``), loaded from the store and the layer index.

- reports: placed reports in a window (near-duplicates linked by the report service left out: the
  first report stands for them), in metric coordinates, with their zones' priority;
- units: every phone or vehicle of a squad on duty now — last fix, recent track, remote or not (in a
  forest cell or a protected zone: away from roads and villages), duty start;
- features: every reach and cell with its last visit (``coverage_repo.last_visits``), a representative
  point and a priority (2 = high: the feature's own priority or a high-priority zone it lies in).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from sqlalchemy import Connection, or_, select

from alerts.model import FeatureKind, FeatureVisit, ReportCategory, ReportFact, ReportStatus, UnitFact
from alerts.rules import Rule, RuleFacts
from alerts.squads import Roster, on_duty
from ecopatrol.alerting.people import SquadRecord, last_fixes
from ecopatrol.store import coverage_repo
from ecopatrol.store.reports_schema import reports
from ecopatrol.store.schema import units
from geo.placement import to_lonlat, to_metric

HIGH, NORMAL = 2, 1
PRIORITY_LEVEL = {"high": HIGH, "normal": NORMAL}
HOUR_MS = 3_600_000
DUTY_STEP_MS = 5 * 60_000
DUTY_LOOKBACK_MS = 24 * HOUR_MS
REPORT_KINDS = frozenset({"report", "cluster"})
UNIT_KINDS = frozenset({"silent_unit", "immobile_unit"})
_REPORT_COLUMNS = [reports.c.id, reports.c.category, reports.c.details, reports.c.observed_ms,
                   reports.c.created_ms, reports.c.lon, reports.c.lat, reports.c.reach_id,
                   reports.c.dist_to_river_m, reports.c.cell_id, reports.c.township, reports.c.zone_ids,
                   reports.c.status]


@dataclass(frozen=True)
class FactNeeds:
    """Which facts a set of rules reads, and how far back."""

    report_age_ms: int = 0  # report rules: received within this
    cluster_window_ms: int = 0  # cluster rules: observed within this
    units: bool = False
    track_ms: int = 0  # immobile rules: this much track
    features: bool = False
    track_modes: frozenset[str] = frozenset()  # of units of these modes
    track_remote_only: bool = True  # of units in remote places only (every immobile rule's remote_only)

    @classmethod
    def of(cls, rules: Iterable[Rule]) -> FactNeeds:
        age = window = track = 0
        unit = feature = False
        modes: set[str] = set()
        remote_only = True
        for rule in rules:
            c = rule.config
            if rule.kind == "report":
                age = max(age, int(c.max_age_hours * HOUR_MS))  # type: ignore[attr-defined]
            elif rule.kind == "cluster":
                window = max(window, int(c.window_hours * HOUR_MS))  # type: ignore[attr-defined]
            elif rule.kind in UNIT_KINDS:
                unit = True
                if rule.kind == "immobile_unit":
                    track = max(track, int(3 * c.immobile_min * 60_000))  # type: ignore[attr-defined]
                    modes.update(str(m) for m in c.modes)  # type: ignore[attr-defined]
                    remote_only = remote_only and c.remote_only  # type: ignore[attr-defined]
            elif rule.kind == "coverage_gap":
                feature = True
        return cls(age, window, unit, track, feature, frozenset(modes), remote_only)


def load_facts(conn: Connection, layer_index: object, metric_crs: str, rules: Sequence[Rule],
               squads: Sequence[SquadRecord], now_ms: int) -> RuleFacts:
    """The facts ``rules`` read at ``now_ms``."""
    needs = FactNeeds.of(rules)
    facts_reports: list[ReportFact] = []
    if needs.report_age_ms or needs.cluster_window_ms:
        facts_reports = load_reports(conn, layer_index, metric_crs, now_ms=now_ms,
                                     received_within_ms=needs.report_age_ms,
                                     observed_within_ms=needs.cluster_window_ms)
    facts_units = unit_facts(conn, squads, layer_index, metric_crs, now_ms, needs.track_ms,
                             track_modes=needs.track_modes, track_remote_only=needs.track_remote_only) \
        if needs.units else []
    features = feature_visits(conn, layer_index) if needs.features else []
    return RuleFacts(reports=facts_reports, units=facts_units, features=features)


# ------------------------------------------------------------------------------------------ reports


def load_reports(conn: Connection, layer_index: object, metric_crs: str, *, now_ms: int,
                 received_within_ms: int = 0, observed_within_ms: int = 0,
                 categories: Iterable[str] | None = None) -> list[ReportFact]:
    """Reports received within ``received_within_ms`` or observed within ``observed_within_ms`` of
    ``now_ms`` (and received by then)."""
    windows = []
    if received_within_ms:
        windows.append(reports.c.created_ms >= now_ms - received_within_ms)
    if observed_within_ms:
        windows.append(reports.c.observed_ms >= now_ms - observed_within_ms)
    if not windows:
        return []
    query = select(*_REPORT_COLUMNS).where(or_(*windows), reports.c.created_ms <= now_ms,
                                           reports.c.duplicate_of.is_(None))
    if categories is not None:
        query = query.where(reports.c.category.in_(sorted(set(categories))))
    rows = conn.execute(query.order_by(reports.c.observed_ms, reports.c.id)).fetchall()
    return report_facts(rows, layer_index, metric_crs)


def load_report(conn: Connection, report_id: int, layer_index: object,
                metric_crs: str) -> tuple[ReportFact, int | None] | None:
    """One report as a fact, and the earlier report it is a near-duplicate of (if any)."""
    return load_reports_by_id(conn, [report_id], layer_index, metric_crs).get(int(report_id))


def load_reports_by_id(conn: Connection, report_ids: Sequence[int], layer_index: object,
                       metric_crs: str) -> dict[int, tuple[ReportFact, int | None]]:
    """Reports as facts with the earlier report each is a near-duplicate of (one query; missing ids
    left out)."""
    ids = sorted({int(i) for i in report_ids})
    if not ids:
        return {}
    query = select(*_REPORT_COLUMNS, reports.c.duplicate_of).where(reports.c.id.in_(ids))
    rows = conn.execute(query).fetchall()
    return {int(r.id): (fact, r.duplicate_of)
            for r, fact in zip(rows, report_facts(rows, layer_index, metric_crs), strict=True)}


def report_facts(rows: Sequence, layer_index: object, metric_crs: str) -> list[ReportFact]:  # type: ignore[type-arg]
    """Report rows → ``ReportFact``s (one vectorized projection for all)."""
    if not rows:
        return []
    x, y = to_metric(np.array([r.lon for r in rows], float), np.array([r.lat for r in rows], float),
                     metric_crs)
    priority = zone_priorities(layer_index)
    out = []
    for r, xi, yi in zip(rows, x.tolist(), y.tolist(), strict=True):
        zone_ids = tuple(json.loads(r.zone_ids or "[]"))
        levels = [priority[z] for z in zone_ids if z in priority]
        out.append(ReportFact(
            id=str(r.id), category=ReportCategory(r.category), observed_ms=int(r.observed_ms),
            received_ms=int(r.created_ms), lon=float(r.lon), lat=float(r.lat), x_m=xi, y_m=yi,
            reach_id=r.reach_id, dist_to_river_m=r.dist_to_river_m, cell_id=r.cell_id,
            township=r.township, zone_ids=zone_ids, zone_priority=max(levels, default=None),
            details=json.loads(r.details or "{}"), status=ReportStatus(r.status)))
    return out


def zone_priorities(layer_index: object) -> dict[str, int]:
    zones = layer_index.layers.zones  # type: ignore[attr-defined]
    if zones.empty:
        return {}
    return {str(z): PRIORITY_LEVEL.get(str(p), NORMAL)
            for z, p in zip(zones["zone_id"], zones["priority"], strict=True)}


# ------------------------------------------------------------------------------------------- units


def duty_since_ms(roster: Roster, now_ms: int) -> int | None:
    """When the squad's current duty began (to 5 minutes; at most 24 h back); ``None`` off duty.

    The search steps back on the 5-minute grid from the grid point at or before ``now_ms`` and is
    remembered per (roster, grid point): every rule of every tick in those 5 minutes reuses it. A
    round-the-clock squad costs 288 ``on_duty`` calls once per 5 minutes instead of at each call."""
    if not on_duty(roster, now_ms):
        return None
    grid = now_ms - now_ms % DUTY_STEP_MS
    if grid != now_ms and not on_duty(roster, grid):  # the duty began after the grid point
        return now_ms
    return _duty_since_on_grid(roster, grid)


@lru_cache(maxsize=1024)
def _duty_since_on_grid(roster: Roster, grid_ms: int) -> int:
    t = grid_ms
    while grid_ms - t < DUTY_LOOKBACK_MS and on_duty(roster, t - DUTY_STEP_MS):
        t -= DUTY_STEP_MS
    return t


def unit_facts(conn: Connection, squads: Sequence[SquadRecord], layer_index: object, metric_crs: str,
               now_ms: int, track_ms: int = 0, *, track_modes: Iterable[str] | None = None,
               track_remote_only: bool = False) -> list[UnitFact]:
    """The units of the squads on duty at ``now_ms`` (units of off-duty squads are not on duty), with
    ``track_ms`` of track for those the rules can look at (of ``track_modes``; remote ones only when
    ``track_remote_only``)."""
    duty = {s.id: since for s in squads if (since := duty_since_ms(s.roster, now_ms)) is not None}
    squad_of = {u: s.id for s in squads if s.id in duty for u in s.unit_ids}
    if not squad_of:
        return []
    modes = dict(conn.execute(select(units.c.unit_id, units.c.mode)
                              .where(units.c.unit_id.in_(list(squad_of)))).all())
    latest = last_fixes(conn, modes, until_ms=now_ms)
    ids = [u for u in modes if u in latest]
    placed = _place_lonlat(layer_index, metric_crs, [latest[u][1] for u in ids], [latest[u][2] for u in ids])
    where_of = {u: placed[i] for i, u in enumerate(ids)}
    wanted = set(modes.values() if track_modes is None else track_modes)
    tracked = [u for u in ids if modes[u] in wanted and (not track_remote_only or where_of[u]["remote"])]
    tracks = _tracks(conn, tracked, now_ms - track_ms, now_ms, metric_crs) if track_ms and tracked else {}
    out = []
    for unit_id, mode in sorted(modes.items()):
        fix = latest.get(unit_id)
        where = where_of.get(unit_id)
        out.append(UnitFact(
            unit_id=unit_id, mode=mode, on_duty=True, squad_id=squad_of[unit_id],
            on_duty_since_ms=duty[squad_of[unit_id]], last_fix_ms=fix[0] if fix else None,
            last_lon=fix[1] if fix else None, last_lat=fix[2] if fix else None,
            last_x_m=where["x_m"] if where else None, last_y_m=where["y_m"] if where else None,
            track=tracks.get(unit_id, ()), remote=bool(where and where["remote"]),
            township=where["township"] if where else None))
    return out


def _tracks(conn: Connection, unit_ids: list[str], since_ms: int, until_ms: int,
            metric_crs: str) -> dict[str, tuple[tuple[int, float, float], ...]]:
    """Each unit's non-outlier fixes in [since, until], oldest first, in metric coordinates (read with
    the driver's cursor: a minute's rules may read tens of thousands of fixes)."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    rows: list[tuple] = []  # type: ignore[type-arg]
    try:
        for start in range(0, len(unit_ids), 2_000):
            part = unit_ids[start:start + 2_000]
            if conn.dialect.name == "postgresql":
                where, params = "unit_id = ANY(%s) AND time_ms BETWEEN %s AND %s", (part, since_ms, until_ms)
            else:
                where = f"unit_id IN ({', '.join(['?'] * len(part))}) AND time_ms BETWEEN ? AND ?"
                params = (*part, since_ms, until_ms)
            cursor.execute(f"SELECT unit_id, time_ms, lon, lat FROM fixes WHERE {where} AND NOT outlier "
                           "ORDER BY unit_id, time_ms", params)
            rows += cursor.fetchall()
    finally:
        cursor.close()
    if not rows:
        return {}
    unit, t, lon, lat = zip(*rows, strict=True)
    x, y = to_metric(np.array(lon, float), np.array(lat, float), metric_crs)
    points = list(zip(t, x.tolist(), y.tolist(), strict=True))
    out: dict[str, tuple[tuple[int, float, float], ...]] = {}
    start = 0
    for k in range(1, len(unit) + 1):
        if k == len(unit) or unit[k] != unit[start]:
            out[unit[start]] = tuple(points[start:k])
            start = k
    return out


def _place_lonlat(layer_index: object, metric_crs: str, lon: list[float],
                  lat: list[float]) -> dict[int, dict[str, object]]:
    if not lon:
        return {}
    x, y = to_metric(np.array(lon), np.array(lat), metric_crs)
    placed = layer_index.placer.place(x, y, 0.0)  # type: ignore[attr-defined]
    remote = remote_mask(layer_index, placed)
    return {i: {"x_m": float(x[i]), "y_m": float(y[i]), "remote": bool(remote[i]),
                "township": _text(placed["township"].iat[i])} for i in range(len(lon))}


def remote_mask(layer_index: object, placed: pd.DataFrame) -> np.ndarray:
    """Placed points that are remote: in a forest cell or a protected zone (a no-fishing reach by a
    village is not remote)."""
    zones = layer_index.layers.zones  # type: ignore[attr-defined]
    protected = set() if zones.empty else set(zones.loc[zones["kind"] == "protected", "zone_id"].astype(str))
    in_protected = [isinstance(v, str) and bool(protected.intersection(v.split(",")))
                    for v in placed["zone_ids"]]
    return placed["cell_id"].notna().to_numpy() | np.array(in_protected, dtype=bool)


def _text(value: object) -> str | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


# ---------------------------------------------------------------------------------------- features

_feature_cache: dict[str, tuple[object, pd.DataFrame]] = {}
_feature_lock = threading.Lock()


def feature_table(layer_index: object) -> pd.DataFrame:
    """Every reach and cell: kind, feature_id, priority, x_m, y_m, lon, lat, township (cached per
    layer version: reaches by their midpoint, cells by a point inside)."""
    layers = layer_index.layers  # type: ignore[attr-defined]
    with _feature_lock:
        cached = _feature_cache.get("table")
        if cached is not None and cached[0] is layers:
            return cached[1]
    table = _build_feature_table(layer_index)
    with _feature_lock:
        _feature_cache["table"] = (layers, table)
    return table


def _build_feature_table(layer_index: object) -> pd.DataFrame:
    layers = layer_index.layers  # type: ignore[attr-defined]
    parts = []
    for kind, frame, id_col in ((FeatureKind.reach, layers.reaches, "reach_id"),
                                (FeatureKind.cell, layers.cells, "cell_id")):
        if frame.empty:
            continue
        points = (frame.geometry.interpolate(0.5, normalized=True) if kind is FeatureKind.reach
                  else frame.geometry.representative_point())
        parts.append(pd.DataFrame({
            "kind": kind.value, "feature_id": frame[id_col].astype(str).to_numpy(),
            "own_priority": frame["priority"].map(PRIORITY_LEVEL).fillna(NORMAL).astype(int).to_numpy(),
            "x_m": points.x.to_numpy(float), "y_m": points.y.to_numpy(float)}))
    if not parts:
        return pd.DataFrame(columns=["kind", "feature_id", "priority", "x_m", "y_m", "lon", "lat",
                                     "township"])
    table = pd.concat(parts, ignore_index=True)
    x, y = table["x_m"].to_numpy(), table["y_m"].to_numpy()
    placed = layer_index.placer.place(x, y, 0.0)  # type: ignore[attr-defined]
    zone_level = zone_priorities(layer_index)
    in_zone = [max((zone_level.get(z, NORMAL) for z in str(v).split(",")), default=NORMAL)
               if isinstance(v, str) and v else NORMAL for v in placed["zone_ids"]]
    table["priority"] = np.maximum(table["own_priority"].to_numpy(), np.array(in_zone, int))
    table["lon"], table["lat"] = to_lonlat(x, y, layers.metric_crs)
    table["township"] = [_text(v) for v in placed["township"]]
    return table.drop(columns=["own_priority"])


def feature_visits(conn: Connection, layer_index: object, *,
                   visits: pd.DataFrame | None = None) -> list[FeatureVisit]:
    """Reaches and cells with their last visit (from ``coverage_repo.last_visits`` unless given)."""
    table = feature_table(layer_index)
    if table.empty:
        return []
    if visits is None:
        visits = coverage_repo.last_visits(conn)
    last = dict(zip(zip(visits["kind"], visits["feature_id"].astype(str), strict=True),
                    visits["last_ms"].astype("int64"), strict=True)) if len(visits) else {}
    out = []
    columns = ["kind", "feature_id", "priority", "x_m", "y_m", "lon", "lat", "township"]
    for kind, fid, priority, x_m, y_m, lon, lat, township in table[columns].itertuples(index=False):
        seen = last.get((kind, fid))
        out.append(FeatureVisit(FeatureKind(kind), fid, int(priority), None if seen is None else int(seen),
                                float(x_m), float(y_m), township, float(lon), float(lat)))
    return out
