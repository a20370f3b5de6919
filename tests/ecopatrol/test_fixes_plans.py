"""The fix queries of every ingest batch walk the primary key on PostgreSQL even when the table's
statistics lag far behind its growth (they were planned as sequential scans of the whole table)."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from ecopatrol.store import fixes_repo
from ecopatrol.store.engine import Store

UNITS = [f"u{i:03d}" for i in range(200)]
T0 = 1_790_000_000_000


def _grown_after_analyze(store: Store) -> None:
    """ANALYZE a small table, then grow it 200-fold (autovacuum off for it: the statistics stay old)."""
    with store.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE fixes SET (autovacuum_enabled = false)"))
        _insert(conn, per_unit=1)
        conn.execute(sa.text("ANALYZE fixes"))
        _insert(conn, per_unit=200, start=1)


def _insert(conn: sa.Connection, *, per_unit: int, start: int = 0) -> None:
    conn.execute(sa.text(
        "INSERT INTO fixes (unit_id, time_ms, lon, lat, source, mode, outlier, received_ms) "
        "SELECT u, CAST(:t0 AS bigint) + k * 1000, 117.0, 29.0, 'test', 'foot', false, 0 "
        "FROM unnest(CAST(:units AS text[])) AS u, generate_series(CAST(:a AS int), CAST(:b AS int)) AS k"),
        {"t0": T0, "units": UNITS, "a": start, "b": start + per_unit - 1})


def _plan(conn: sa.Connection, sql: str, params: tuple) -> str:  # type: ignore[type-arg]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())
    finally:
        cursor.close()


def test_window_and_latest_walk_the_index_on_stale_statistics(pg_store: Store) -> None:
    store = pg_store
    with store.engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE fixes"))
    try:
        _grown_after_analyze(store)
        t = T0 + 100_000
        cols = [UNITS, [t - 600_000] * 200, [t] * 200, [t + 5_000] * 200, [t + 605_000] * 200]
        ranges = "SELECT * FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])"
        with store.read() as conn:
            window_plan = _plan(conn, fixes_repo._WINDOW_SQL_PG.format(ranges=ranges), tuple(cols))
            latest_plan = _plan(conn, fixes_repo._LATEST_SQL_PG, (UNITS, t))
        assert "Seq Scan on fixes" not in window_plan, window_plan
        assert "Seq Scan on fixes" not in latest_plan, latest_plan
        # and they answer what the batch needs: the fixes in range and one neighbour on each side
        with store.read() as conn:
            window = fixes_repo.stored_window(conn, pd.DataFrame(
                {"unit_id": UNITS[:2], "t0_ms": [t, t], "t1_ms": [t + 5_000] * 2}), pad_ms=600_000)
            latest = fixes_repo.latest_fixes(conn, UNITS[:3], until_ms=t)
        got = sorted(zip(window["unit_id"], window["time_ms"] - T0, strict=True))
        assert got == [(u, s * 1000) for u in UNITS[:2] for s in range(99, 107)]
        assert latest == {u: (t, 117.0, 29.0) for u in UNITS[:3]}
    finally:
        with store.engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE fixes"))
            conn.execute(sa.text("ALTER TABLE fixes RESET (autovacuum_enabled)"))
