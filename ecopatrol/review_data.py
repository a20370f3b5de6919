"""What the commander's review reads from the store: a window, filters, fixes, coverage, squads,
reports and alerts — shared by the map, the statistics and the exports.

Reports and alerts live in tables other parts of the app own; each is read through one small
function here that answers an empty frame when the table does not exist (yet), so the review works
before and after those parts land.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, Table, and_, func, inspect, or_, select

from ecopatrol.runtime import Runtime
from ecopatrol.store.schema import coverage, fixes, units
from ecopatrol.windows import WindowError, local_day, since_ms, utc_offset_hours

Mode = Literal["vehicle", "foot", "boat"]
MODES: tuple[str, ...] = get_args(Mode)
REPORT_COLUMNS = [
    "id",
    "tracking_code",
    "category",
    "status",
    "observed_ms",
    "created_ms",
    "updated_ms",
    "lon",
    "lat",
    "township",
    "reach_id",
    "cell_id",
    "assigned_squad_id",
    "org",
    "channel",
    "description",
]
ALERT_COLUMNS = [
    "id",
    "rule",
    "kind",
    "severity",
    "state",
    "title_zh",
    "title_en",
    "lon",
    "lat",
    "squad_id",
    "created_ms",
    "acked_ms",
    "en_route_ms",
    "on_scene_ms",
    "resolved_ms",
    "outcome",
    "overdue",
]
_PRESETS: dict[str, tuple[str, str]] = {
    "24h": ("近 24 小时", "last 24 hours"),
    "7d": ("近 7 天", "last 7 days"),
    "30d": ("近 30 天", "last 30 days"),
}


class ReviewQueryError(ValueError):
    """A review question that cannot be answered as asked (a bad window or filter)."""


@dataclass(frozen=True)
class Window:
    """``[start_ms, end_ms]`` with the local day the coverage rows start on and labels for people."""

    since: str
    start_ms: int
    end_ms: int
    start_day: int
    timezone: str

    def local(self, time_ms: int, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return datetime.fromtimestamp(time_ms / 1000, tz=ZoneInfo(self.timezone)).strftime(fmt)

    def label(self) -> tuple[str, str]:
        """("近 7 天 · 11-13 09:33 至 11-20 09:33", "last 7 days · 11-13 09:33 to 11-20 09:33")."""
        zh, en = _PRESETS.get(self.since.strip(), ("自定义时段", "custom window"))
        a, b = self.local(self.start_ms, "%m-%d %H:%M"), self.local(self.end_ms, "%m-%d %H:%M")
        return f"{zh} · {a} 至 {b}", f"{en} · {a} to {b}"

    def iso(self, time_ms: int) -> str:
        return datetime.fromtimestamp(time_ms / 1000, tz=UTC).isoformat()


@dataclass(frozen=True)
class Filters:
    """Township filters everything spatially; squad and mode filter the patrol effort (fixes, tracks,
    coverage), never the reports and alerts."""

    township: str | None = None
    squad: str | None = None
    mode: str | None = None

    def describe(self) -> tuple[str, str]:
        zh, en = [], []
        if self.township:
            zh.append(f"乡镇：{self.township}")
            en.append(f"township: {self.township}")
        if self.squad:
            zh.append(f"中队：{self.squad}")
            en.append(f"squad: {self.squad}")
        if self.mode:
            zh.append(f"方式：{_MODE_ZH.get(self.mode, self.mode)}")
            en.append(f"mode: {self.mode}")
        return "，".join(zh), ", ".join(en)


_MODE_ZH = {"vehicle": "车巡", "foot": "步巡", "boat": "船巡"}


def window(runtime: Runtime, since: str) -> Window:
    """The window ``since`` (24h, 7d, 30d or ISO-8601) up to now."""
    now = runtime.now_ms()
    try:
        start = since_ms(since, now_ms=now)
    except WindowError as exc:
        raise ReviewQueryError(str(exc)) from None
    tz = runtime.settings.deployment.timezone
    return Window(since=since, start_ms=start, end_ms=now, start_day=local_day(start, tz), timezone=tz)


def check_filters(filters: Filters) -> Filters:
    if filters.mode is not None and filters.mode not in MODES:
        raise ReviewQueryError(f"mode must be one of {', '.join(MODES)}, got {filters.mode!r}")
    return Filters(township=filters.township or None, squad=filters.squad or None, mode=filters.mode or None)


def day_offset_hours(runtime: Runtime, at_ms: int) -> float:
    return utc_offset_hours(runtime.settings.deployment.timezone, at_ms)


# --- squads -------------------------------------------------------------------------------------------


def unit_squads(conn: Connection) -> dict[str, str]:
    """unit_id → squad id: ``units.squad_id``, else the squad of a member carrying the unit."""
    out = {
        r.unit_id: r.squad_id for r in conn.execute(select(units.c.unit_id, units.c.squad_id)) if r.squad_id
    }
    tables = _tables(conn, "personnel", "squad_members")
    if tables:
        personnel, members = tables
        rows = conn.execute(
            select(personnel.c.unit_id, members.c.squad_id)
            .join(members, members.c.person_id == personnel.c.id)
            .where(personnel.c.unit_id.is_not(None))
        )
        for r in rows:
            out.setdefault(r.unit_id, r.squad_id)
    return out


def squad_names(conn: Connection) -> dict[str, str]:
    """squad id → name (empty when the squads table does not exist yet)."""
    tables = _tables(conn, "squads")
    if not tables:
        return {}
    return {r.id: r.name for r in conn.execute(select(tables[0].c.id, tables[0].c.name))}


def all_unit_ids(conn: Connection) -> list[str]:
    return [r.unit_id for r in conn.execute(select(units.c.unit_id).order_by(units.c.unit_id))]


def units_of(conn: Connection, squad: str | None) -> list[str] | None:
    """The units of ``squad`` (by id or name), or None for no squad filter."""
    if not squad:
        return None
    names = squad_names(conn)
    ids = {squad} | {sid for sid, name in names.items() if name == squad}
    return sorted(u for u, s in unit_squads(conn).items() if s in ids)


# --- fixes and coverage --------------------------------------------------------------------------------


def load_fixes(
    conn: Connection,
    *,
    start_ms: int,
    end_ms: int,
    unit_ids: list[str] | None = None,
    mode: str | None = None,
    township: str | None = None,
    detail: bool = False,
) -> pd.DataFrame:
    """Stored fixes in the window, sorted by unit and time: unit_id, time_ms, lon, lat, mode of the
    usable (non-outlier) ones; with ``detail`` every stored column of every fix."""
    cols = (
        list(fixes.c)
        if detail
        else [fixes.c.unit_id, fixes.c.time_ms, fixes.c.lon, fixes.c.lat, fixes.c.mode]
    )
    query = select(*cols).where(fixes.c.time_ms >= start_ms, fixes.c.time_ms <= end_ms)
    if not detail:
        query = query.where(fixes.c.outlier.is_(False))
    if unit_ids is not None:
        query = query.where(fixes.c.unit_id.in_(unit_ids or ["\x00"]))
    if mode:
        query = query.where(fixes.c.mode == mode)
    if township:
        query = query.where(fixes.c.township == township)
    frame = _result_frame(conn, query.order_by(fixes.c.unit_id, fixes.c.time_ms))
    if frame.empty:
        frame = pd.DataFrame({c.name: pd.Series(dtype=object) for c in cols})
    frame = frame.astype({"time_ms": "int64", "lon": float, "lat": float})
    if "outlier" in frame.columns:
        frame["outlier"] = frame["outlier"].astype(bool)
    return frame


def coverage_rows(
    conn: Connection, win: Window, *, unit_ids: list[str] | None = None, mode: str | None = None
) -> pd.DataFrame:
    """The per-(feature, unit, mode, day) coverage rows touching the window."""
    query = select(coverage).where(coverage.c.day >= win.start_day, coverage.c.last_ms >= win.start_ms)
    frame = _result_frame(conn, _effort_filter(query, coverage, unit_ids, mode))
    if frame.empty:
        frame = pd.DataFrame({c.name: pd.Series(dtype=object) for c in coverage.c})
    return frame.astype(
        {
            "day": "int64",
            "km": float,
            "hours": float,
            "passes": "int64",
            "first_ms": "int64",
            "last_ms": "int64",
        }
    )


def last_visits(
    conn: Connection,
    *,
    unit_ids: list[str] | None = None,
    mode: str | None = None,
    until_ms: int | None = None,
) -> pd.DataFrame:
    """Per feature, the last time it was covered (by the given units / mode): kind, feature_id, last_ms."""
    query = select(coverage.c.kind, coverage.c.feature_id, func.max(coverage.c.last_ms).label("last_ms"))
    query = _effort_filter(query, coverage, unit_ids, mode)
    if until_ms is not None:
        query = query.where(coverage.c.first_ms <= until_ms)
    frame = _result_frame(conn, query.group_by(coverage.c.kind, coverage.c.feature_id))
    return frame.astype({"last_ms": "int64"})


@dataclass(frozen=True)
class Effort:
    """Patrol effort in a window under the filters: coverage rows, last visits and the fixes."""

    rows: pd.DataFrame
    visits: pd.DataFrame
    fixes: pd.DataFrame


def load_effort(conn: Connection, win: Window, filters: Filters) -> Effort:
    """The effort the map and the review numbers both read (one query each, the same filters)."""
    unit_ids = units_of(conn, filters.squad)
    return Effort(
        rows=coverage_rows(conn, win, unit_ids=unit_ids, mode=filters.mode),
        visits=last_visits(conn, unit_ids=unit_ids, mode=filters.mode),
        fixes=load_fixes(conn, start_ms=win.start_ms, end_ms=win.end_ms, unit_ids=unit_ids,
                         mode=filters.mode, township=filters.township),
    )


def _effort_filter(query, table: Table, unit_ids: list[str] | None, mode: str | None):  # type: ignore[no-untyped-def]
    if unit_ids is not None:
        query = query.where(table.c.unit_id.in_(unit_ids or ["\x00"]))
    if mode:
        query = query.where(table.c.mode == mode)
    return query


def feature_effort(rows: pd.DataFrame, visits: pd.DataFrame, kind: str, ids: pd.Series) -> pd.DataFrame:
    """Per feature of ``kind`` (in the order of ``ids``): last_ms (all time, NaN never), and km, hours and
    passes within the window."""
    mine = rows[rows["kind"] == kind]
    sums = mine.groupby("feature_id")[["km", "hours", "passes"]].sum()
    last = visits[visits["kind"] == kind].set_index("feature_id")["last_ms"]
    key = ids.astype(str)
    return pd.DataFrame(
        {
            "last_ms": key.map(last).astype(float).to_numpy(),
            "km": key.map(sums["km"]).fillna(0.0).to_numpy(float),
            "hours": key.map(sums["hours"]).fillna(0.0).to_numpy(float),
            "passes": key.map(sums["passes"]).fillna(0).to_numpy(np.int64),
        },
        index=ids.index,
    )


def townships_of(features: gpd.GeoDataFrame, townships: gpd.GeoDataFrame) -> np.ndarray:
    """The township holding each feature's representative point ('' outside every township)."""
    out = np.full(len(features), "", dtype=object)
    if len(features) == 0 or len(townships) == 0:
        return out
    points = shapely.point_on_surface(np.asarray(features.geometry.values, dtype=object))
    hit, tw = townships.sindex.query(points, predicate="within")
    out[hit] = townships["name"].to_numpy(dtype=object)[tw]
    return out


def in_township(lon: np.ndarray, lat: np.ndarray, townships: gpd.GeoDataFrame, name: str) -> np.ndarray:
    """Which lon/lat points fall in the township ``name``."""
    area = townships[townships["name"] == name]
    if area.empty or len(lon) == 0:
        return np.zeros(len(lon), dtype=bool)
    shape = shapely.union_all(np.asarray(area.to_crs(4326).geometry.values, dtype=object))
    return shapely.contains_xy(shape, np.asarray(lon, float), np.asarray(lat, float))


# --- reports and alerts (other parts' tables, read defensively) ------------------------------------------


def load_reports(
    conn: Connection, *, start_ms: int | None = None, end_ms: int | None = None, open_only: bool = False
) -> pd.DataFrame:
    """Reports observed (or still open) in the window; an empty frame without the reports table."""
    tables = _tables(conn, "reports")
    if not tables:
        return _empty(REPORT_COLUMNS)
    table = tables[0]
    cols = [table.c[c] for c in REPORT_COLUMNS if c in table.c]
    query = select(*cols)
    open_states = table.c.status.in_(["received", "triaged", "assigned", "on_scene"])
    if start_ms is not None:
        in_window = and_(table.c.observed_ms >= start_ms, table.c.observed_ms <= (end_ms or 2**62))
        query = query.where(or_(in_window, open_states) if not open_only else open_states)
    elif open_only:
        query = query.where(open_states)
    return _frame(conn, query.order_by(table.c.id), REPORT_COLUMNS)


def load_report_events(conn: Connection, report_ids: list[int]) -> pd.DataFrame:
    """report_id, status, at_ms of the given reports' status changes."""
    tables = _tables(conn, "report_events")
    cols = ["report_id", "status", "at_ms"]
    if not tables or not report_ids:
        return _empty(cols)
    t = tables[0]
    frames = []
    for start in range(0, len(report_ids), 1000):
        chunk = report_ids[start : start + 1000]
        frames.append(
            _frame(conn, select(t.c.report_id, t.c.status, t.c.at_ms).where(t.c.report_id.in_(chunk)), cols)
        )
    return pd.concat(frames, ignore_index=True)


def load_alerts(
    conn: Connection, *, start_ms: int | None = None, end_ms: int | None = None, open_only: bool = False
) -> pd.DataFrame:
    """Alerts created in the window or still open; an empty frame without the alerts table."""
    tables = _tables(conn, "alerts")
    if not tables:
        return _empty(ALERT_COLUMNS)
    table = tables[0]
    cols = [table.c[c] for c in ALERT_COLUMNS if c in table.c]
    query = select(*cols)
    is_open = table.c.state != "resolved"
    if open_only:
        query = query.where(is_open)
    elif start_ms is not None:
        query = query.where(
            or_(and_(table.c.created_ms >= start_ms, table.c.created_ms <= (end_ms or 2**62)), is_open)
        )
    return _frame(conn, query.order_by(table.c.created_ms), ALERT_COLUMNS)


def _tables(conn: Connection, *names: str) -> list[Table]:
    """The named tables if they all exist in the database (and in the app's metadata), else []."""
    from ecopatrol.store.schema import metadata

    _import_schemas()
    found = [metadata.tables.get(n) for n in names]
    if any(t is None for t in found):
        return []
    inspector = inspect(conn)
    if not all(inspector.has_table(n) for n in names):
        return []
    return found  # type: ignore[return-value]


def _import_schemas() -> None:
    """Register the tables of the parts that exist so far on the shared metadata."""
    for module in ("ecopatrol.store.reports_schema", "ecopatrol.store.alerts_schema"):
        try:
            __import__(module)
        except ImportError:
            continue


def _result_frame(conn: Connection, query) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """A query's rows as a frame, fetched with the driver's own cursor and built column by column
    (SQLAlchemy Row objects make a 1-million-fix window several times slower)."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    args = tuple(params[k] for k in compiled.positiontup) if compiled.positional else params
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), args)
        keys = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        cursor.close()
    if not rows:
        return pd.DataFrame({k: pd.Series(dtype=object) for k in keys})
    return pd.DataFrame.from_records(rows, columns=keys)


def _frame(conn: Connection, query, columns: list[str]) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    frame = _result_frame(conn, query)
    for c in columns:
        if c not in frame.columns:
            frame[c] = None
    return frame[columns]


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
