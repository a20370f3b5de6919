"""Coverage questions answered from the stored per-day coverage rows and the layer index."""

from __future__ import annotations

import math

import pandas as pd

from ecopatrol.runtime import Runtime
from ecopatrol.store import coverage_repo
from ecopatrol.windows import WindowError, local_day, since_ms
from geo.coverage import coverage_gaps, coverage_summary


class CoverageQueryError(ValueError):
    """A coverage question that cannot be answered as asked (a bad window)."""


def coverage_report(runtime: Runtime, *, since: str) -> dict:
    """Share of river length and forest area patrolled since ``since``, by mode, unit and township."""
    now = runtime.now_ms()
    try:
        start = since_ms(since, now_ms=now)
    except WindowError as exc:
        raise CoverageQueryError(str(exc)) from None
    day = local_day(start, runtime.settings.deployment.timezone)
    with runtime.store.read() as conn:
        contributions = coverage_repo.load_contributions(conn, since_day=day)
    contributions = contributions[contributions["last_ms"] >= start]
    summary = coverage_summary(contributions, runtime.layer_index().layers, since_day=day, now_ms=now)
    return {"since": pd.Timestamp(start, unit="ms", tz="UTC").isoformat(), **_plain(summary)}


def gaps_report(runtime: Runtime, *, older_than_hours: float, only_priority: bool = False,
                limit: int = 500) -> dict:
    """Reaches and cells not patrolled for ``older_than_hours``, most overdue (never visited) first."""
    now = runtime.now_ms()
    with runtime.store.read() as conn:
        visits = coverage_repo.last_visits(conn)
    gaps = coverage_gaps(visits, runtime.layer_index().layers, now_ms=now,
                         older_than_hours=older_than_hours, only_priority=only_priority)
    rows = gaps.head(limit).to_dict("records")
    return {"older_than_hours": older_than_hours, "count": len(gaps), "gaps": [_plain(r) for r in rows]}


def _plain(value: object) -> object:
    """JSON-safe: numpy scalars to Python, NaN and infinities to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()  # type: ignore[union-attr]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def format_coverage(report: dict) -> str:
    """A short text table of a coverage report for the terminal."""
    lines = [f"coverage since {report['since']}"]
    for key in ("river", "forest"):
        if key in report:
            lines.append(f"  {key}: {report[key]}")
    for group in ("by_mode", "by_unit", "by_township"):
        if group in report:
            lines.append(f"  {group}:")
            for name, value in report[group].items():
                lines.append(f"    {name}: {value}")
    return "\n".join(lines)
