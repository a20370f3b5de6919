"""The numbers of the commander's review (``/review`` and ``GET /api/v1/stats``) for a window and
filters: river length and forest area covered by mode, squad and township; km and hours patrolled;
reports by category and status; response times against the targets (p50/p90); the yellow/red overdue
list; the most overdue reaches and cells.

Covered means: at least one coverage row in the window (a pass within the sweep width of a reach, a
track through a cell). km and hours are measured along the tracks (usable fixes, split at gaps), so a
km is counted once however many reaches it passed.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from alerts.escalation import ReportTargets, overdue_code
from ecopatrol import review_data as rd
from ecopatrol.runtime import Runtime
from geo.maps import track_lines

NO_SQUAD = "—"
OPEN_REPORT = ("received", "triaged", "assigned", "on_scene")
MIN_MS = 60_000


def review_stats(
    runtime: Runtime,
    since: str = "7d",
    township: str | None = None,
    squad: str | None = None,
    mode: str | None = None,
    *,
    top: int = 10,
) -> dict[str, Any]:
    """Every number of the review, JSON-ready. Raises ``ReviewQueryError`` for a bad window or filter."""
    win = rd.window(runtime, since)
    filters = rd.check_filters(rd.Filters(township, squad, mode))
    layers = runtime.layer_index().layers
    targets = ReportTargets()
    with runtime.store.read() as conn:
        effort = rd.load_effort(conn, win, filters)
        rows, visits, fixes = effort.rows, effort.visits, effort.fixes
        names = rd.squad_names(conn)
        squads = {u: names.get(s, s) for u, s in rd.unit_squads(conn).items()}
        reports = _in_area(
            rd.load_reports(conn, start_ms=win.start_ms, end_ms=win.end_ms),
            layers.townships,
            filters.township,
        )
        events = rd.load_report_events(conn, [int(i) for i in reports["id"]])
        alerts = _in_area(
            rd.load_alerts(conn, start_ms=win.start_ms, end_ms=win.end_ms), layers.townships, filters.township
        )
    features = _features(layers, filters.township)
    rows = rows[rows["feature_id"].isin(set(features["feature_id"]))]
    tracks = track_lines(
        fixes,
        metric_crs=layers.metric_crs,
        max_gap_s=runtime.settings.ingest.max_gap_s,
        max_jump_m=runtime.settings.ingest.max_jump_m,
        day_offset_hours=rd.day_offset_hours(runtime, win.end_ms),
    )
    window_zh, window_en = win.label()
    return _plain(
        {
            "since": win.iso(win.start_ms),
            "until": win.iso(win.end_ms),
            "window": {"zh": window_zh, "en": window_en},
            "filters": {"township": filters.township, "squad": filters.squad, "mode": filters.mode},
            "targets": {"triage_min": targets.triage_min, "assign_min": targets.assign_min},
            "coverage": coverage_section(rows, features, squads),
            "effort": effort_section(tracks, squads),
            "reports": reports_section(reports, win),
            "response": response_section(reports, events, alerts, win, targets),
            "overdue": overdue_list(reports, alerts, now_ms=win.end_ms, targets=targets),
            "most_overdue": most_overdue(features, visits, now_ms=win.end_ms, top=top),
        }
    )


# --- coverage -------------------------------------------------------------------------------------------


def _features(layers: Any, township: str | None) -> pd.DataFrame:
    """kind, feature_id, name, priority, size (m or m²), township of every reach and cell."""
    parts = []
    for kind, frame, id_col, name_col, size_col in (
        ("reach", layers.reaches, "reach_id", "river_name", "length_m"),
        ("cell", layers.cells, "cell_id", "forest_name", "area_m2"),
    ):
        parts.append(
            pd.DataFrame(
                {
                    "kind": kind,
                    "feature_id": frame[id_col].astype(str).to_numpy(dtype=object),
                    "name": frame[name_col].astype(str).to_numpy(dtype=object),
                    "priority": (
                        frame["priority"]
                        if "priority" in frame.columns
                        else pd.Series("normal", index=frame.index)
                    )
                    .astype(str)
                    .to_numpy(dtype=object),
                    "size": frame[size_col].to_numpy(dtype=float),
                    "township": rd.townships_of(frame, layers.townships),
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    return out[out["township"] == township] if township else out


def coverage_section(rows: pd.DataFrame, features: pd.DataFrame, squads: dict[str, str]) -> dict[str, Any]:
    """Share covered overall and by mode, squad and township."""
    rows = rows.assign(squad=rows["unit_id"].map(squads).fillna(NO_SQUAD))
    by_township = {}
    for name, feats in features.groupby("township", sort=True):
        label = str(name) or NO_SQUAD
        by_township[label] = shares(rows[rows["feature_id"].isin(set(feats["feature_id"]))], feats)
    return {
        **shares(rows, features),
        "by_mode": {m: shares(g, features) for m, g in rows.groupby("mode", sort=True)},
        "by_squad": {s: shares(g, features) for s, g in rows.groupby("squad", sort=True)},
        "by_township": by_township,
    }


def shares(rows: pd.DataFrame, features: pd.DataFrame) -> dict[str, Any]:
    """River km and forest km² covered by ``rows`` out of ``features``."""
    covered = set(zip(rows["kind"], rows["feature_id"].astype(str), strict=True))
    is_covered = np.array(
        [(k, f) in covered for k, f in zip(features["kind"], features["feature_id"], strict=True)], dtype=bool
    )
    out: dict[str, Any] = {}
    for kind, key, unit, label in (("reach", "river", 1000.0, "km"), ("cell", "forest", 1e6, "km2")):
        mine = (features["kind"] == kind).to_numpy()
        total = float(features.loc[mine, "size"].sum()) / unit
        done = float(features.loc[mine & is_covered, "size"].sum()) / unit
        out[key] = {
            f"total_{label}": round(total, 2),
            f"covered_{label}": round(done, 2),
            "covered_pct": round(100.0 * done / total, 1) if total > 0 else None,
            "features": int(mine.sum()),
            "covered_features": int((mine & is_covered).sum()),
        }
    return out


# --- effort ---------------------------------------------------------------------------------------------


def effort_section(tracks: gpd.GeoDataFrame, squads: dict[str, str]) -> dict[str, Any]:
    """km and hours along the tracks: total, by mode, squad and unit."""
    t = pd.DataFrame(tracks.drop(columns="geometry")).assign(
        squad=tracks["unit_id"].map(squads).fillna(NO_SQUAD)
    )

    def _sum(frame: pd.DataFrame) -> dict[str, Any]:
        return {
            "km": round(float(frame["km"].sum()), 1),
            "hours": round(float(frame["hours"].sum()), 1),
            "unit_days": len(frame),
        }

    by_unit = []
    for unit, g in t.groupby("unit_id", sort=True):
        by_unit.append(
            {
                "unit_id": str(unit),
                "squad": str(g["squad"].iloc[0]),
                "mode": str(g["mode"].iloc[0]),
                "days_active": int(g["day"].nunique()),
                **_sum(g),
            }
        )
    return {
        **_sum(t),
        "by_mode": {str(m): _sum(g) for m, g in t.groupby("mode", sort=True)},
        "by_squad": {str(s): _sum(g) for s, g in t.groupby("squad", sort=True)},
        "by_unit": by_unit,
    }


# --- reports and response times -------------------------------------------------------------------------


def reports_section(reports: pd.DataFrame, win: rd.Window) -> dict[str, Any]:
    """Reports observed in the window, by category and by status."""
    observed = pd.to_numeric(reports["observed_ms"], errors="coerce")
    mine = reports[(observed >= win.start_ms) & (observed <= win.end_ms)]
    return {
        "total": len(mine),
        "by_category": _counts(mine["category"]),
        "by_status": _counts(mine["status"]),
        "open": int(mine["status"].isin(OPEN_REPORT).sum()),
    }


def response_section(
    reports: pd.DataFrame, events: pd.DataFrame, alerts: pd.DataFrame, win: rd.Window, targets: ReportTargets
) -> dict[str, Any]:
    """Minutes from receipt (reports) or creation (alerts) to each step, for those received in the window."""
    created = pd.to_numeric(reports["created_ms"], errors="coerce")
    mine = reports[(created >= win.start_ms) & (created <= win.end_ms)]
    first = (
        events.assign(at_ms=pd.to_numeric(events["at_ms"])).groupby(["report_id", "status"])["at_ms"].min()
    )
    report_steps = {}
    for step, status, target in (
        ("triage", "triaged", targets.triage_min),
        ("assign", "assigned", targets.assign_min),
        ("on_scene", "on_scene", None),
        ("resolve", "resolved", None),
    ):
        reached = [first.get((int(i), status)) for i in mine["id"]]
        minutes = [
            (t - c) / MIN_MS for t, c in zip(reached, mine["created_ms"], strict=True) if t is not None
        ]
        report_steps[step] = timing(minutes, target, waiting=len(mine) - len(minutes))
    a_created = pd.to_numeric(alerts["created_ms"], errors="coerce")
    a_mine = alerts[(a_created >= win.start_ms) & (a_created <= win.end_ms)]
    alert_steps = {}
    for step, column, target in (
        ("ack", "acked_ms", targets.triage_min),
        ("on_scene", "on_scene_ms", None),
        ("resolve", "resolved_ms", None),
    ):
        done = pd.to_numeric(a_mine[column], errors="coerce")
        minutes = ((done - pd.to_numeric(a_mine["created_ms"])) / MIN_MS).dropna().tolist()
        alert_steps[step] = timing(minutes, target, waiting=int(done.isna().sum()))
    return {
        "reports": {"received": len(mine), **report_steps},
        "alerts": {"created": len(a_mine), **alert_steps},
    }


def timing(minutes: list[float], target_min: float | None, *, waiting: int = 0) -> dict[str, Any]:
    """n, p50 and p90 (minutes), the target and the share within it, and how many have not got there."""
    values = np.asarray(minutes, dtype=float)
    p50 = float(np.percentile(values, 50)) if len(values) else None
    p90 = float(np.percentile(values, 90)) if len(values) else None
    within = (
        round(100.0 * float((values <= target_min).mean()), 1)
        if target_min is not None and len(values)
        else None
    )
    return {
        "n": len(values),
        "p50_min": _round(p50),
        "p90_min": _round(p90),
        "target_min": target_min,
        "within_target_pct": within,
        "p90_meets_target": (p90 <= target_min) if target_min and p90 is not None else None,
        "waiting": waiting,
    }


# --- overdue --------------------------------------------------------------------------------------------


def overdue_list(
    reports: pd.DataFrame, alerts: pd.DataFrame, *, now_ms: int, targets: ReportTargets
) -> list[dict[str, Any]]:
    """Open alerts marked yellow/red and open reports past the triage (3 min) or assign (5 min) target;
    red first, then the oldest."""
    items = []
    for a in alerts[alerts["state"] != "resolved"].itertuples(index=False):
        if a.overdue in ("yellow", "red"):
            items.append(
                {
                    "kind": "alert",
                    "id": str(a.id),
                    "level": a.overdue,
                    "severity": a.severity,
                    "state": a.state,
                    "title": {"zh": a.title_zh or a.rule, "en": a.title_en or a.rule},
                    "squad": a.squad_id,
                    "age_min": _round((now_ms - int(a.created_ms)) / MIN_MS),
                }
            )
    for r in reports.itertuples(index=False):
        level = _report_overdue(str(r.status), now_ms - int(r.created_ms), targets)
        if level:
            items.append(
                {
                    "kind": "report",
                    "id": str(r.id),
                    "tracking_code": r.tracking_code,
                    "level": level,
                    "category": r.category,
                    "status": r.status,
                    "township": r.township,
                    "age_min": _round((now_ms - int(r.created_ms)) / MIN_MS),
                }
            )
    return sorted(items, key=lambda i: (i["level"] != "red", -(i["age_min"] or 0)))


def _report_overdue(status: str, elapsed_ms: int, targets: ReportTargets) -> str | None:
    triage = overdue_code(elapsed_ms, targets.triage_min) if status == "received" else None
    assign = overdue_code(elapsed_ms, targets.assign_min) if status in ("received", "triaged") else None
    codes = {str(c.value) for c in (triage, assign) if c is not None}
    return "red" if "red" in codes else ("yellow" if codes else None)


def most_overdue(features: pd.DataFrame, visits: pd.DataFrame, *, now_ms: int, top: int) -> dict[str, Any]:
    """The ``top`` reaches and cells longest without a patrol (never patrolled first, high priority first)."""
    merged = features.merge(visits, on=["kind", "feature_id"], how="left")
    merged["hours_since"] = (now_ms - merged["last_ms"].astype(float)) / 3_600_000.0
    merged["never"] = merged["last_ms"].isna()
    merged["high"] = merged["priority"] == "high"
    out: dict[str, Any] = {}
    for kind, key in (("reach", "reaches"), ("cell", "cells")):
        mine = merged[merged["kind"] == kind].sort_values(
            ["never", "high", "hours_since"], ascending=[False, False, False]
        )
        out[key] = [
            {
                "id": r.feature_id,
                "name": r.name,
                "priority": r.priority,
                "township": r.township or None,
                "last_visit": None
                if r.never
                else pd.Timestamp(int(r.last_ms), unit="ms", tz="UTC").isoformat(),
                "hours_since": None if r.never else _round(r.hours_since),
            }
            for r in mine.head(top).itertuples(index=False)
        ]
        out[f"never_{key}"] = int(mine["never"].sum())
    return out


# --- helpers --------------------------------------------------------------------------------------------


def _in_area(frame: pd.DataFrame, townships: gpd.GeoDataFrame, township: str | None) -> pd.DataFrame:
    if not township or frame.empty:
        return frame
    located = frame.dropna(subset=["lon", "lat"])
    inside = rd.in_township(
        located["lon"].to_numpy(float), located["lat"].to_numpy(float), townships, township
    )
    return located[np.asarray(inside, dtype=bool)]


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts().sort_index().items()}


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def _plain(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA:
        return None
    return value
