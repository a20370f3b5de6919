"""Coverage rows per (feature, unit, mode, local day): added to as fixes arrive, never recomputed."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import postgresql, sqlite

from ecopatrol.store.schema import coverage

KEY = ["kind", "feature_id", "unit_id", "mode", "day"]
VALUES = ["km", "hours", "passes", "first_ms", "last_ms"]


def add_contributions(conn: Connection, contributions: pd.DataFrame) -> int:
    """Upsert: km, hours and passes add; first_ms is the min, last_ms the max."""
    if contributions.empty:
        return 0
    rows = [
        {"kind": r.kind, "feature_id": str(r.feature_id), "unit_id": str(r.unit_id),
         "mode": str(r.mode), "day": int(r.day), "km": float(r.km), "hours": float(r.hours),
         "passes": int(r.passes), "first_ms": int(r.first_ms), "last_ms": int(r.last_ms)}
        for r in contributions[KEY + VALUES].itertuples(index=False)
    ]
    pg = conn.dialect.name == "postgresql"
    stmt = (postgresql.insert if pg else sqlite.insert)(coverage)
    least, greatest = (func.least, func.greatest) if pg else (func.min, func.max)
    stmt = stmt.on_conflict_do_update(
        index_elements=KEY,
        set_={
            "km": coverage.c.km + stmt.excluded.km,
            "hours": coverage.c.hours + stmt.excluded.hours,
            "passes": coverage.c.passes + stmt.excluded.passes,
            "first_ms": least(coverage.c.first_ms, stmt.excluded.first_ms),
            "last_ms": greatest(coverage.c.last_ms, stmt.excluded.last_ms),
        },
    )
    conn.execute(stmt, rows)
    return len(rows)


def load_contributions(conn: Connection, *, since_day: int | None = None) -> pd.DataFrame:
    """Coverage rows from ``since_day`` (local YYYYMMDD) on; all rows when None."""
    query = select(coverage)
    if since_day is not None:
        query = query.where(coverage.c.day >= since_day)
    rows = conn.execute(query).fetchall()
    frame = pd.DataFrame(rows, columns=KEY + VALUES)
    return frame.astype({"day": "int64", "km": float, "hours": float, "passes": "int64",
                         "first_ms": "int64", "last_ms": "int64"})


def last_visits(conn: Connection) -> pd.DataFrame:
    """Per feature: the last time any unit covered it (kind, feature_id, last_ms)."""
    rows = conn.execute(
        select(coverage.c.kind, coverage.c.feature_id, func.max(coverage.c.last_ms))
        .group_by(coverage.c.kind, coverage.c.feature_id)
    ).fetchall()
    return pd.DataFrame(rows, columns=["kind", "feature_id", "last_ms"]).astype({"last_ms": "int64"})
