"""Fixes: bulk insert (idempotent on unit + time), neighbour windows for incremental coverage, reads."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import Connection, func, insert, select

from ecopatrol.store.schema import fixes, rejected_fixes

STORED_COLUMNS = [c.name for c in fixes.columns]


_WINDOW_COLUMNS = ["unit_id", "time_ms", "lon", "lat", "mode", "outlier"]
_WINDOW_CHUNK = 2_000  # units per query: 5 parameters each, well under SQLite's limit of 32,766


def stored_window(conn: Connection, ranges: pd.DataFrame, *, pad_ms: int) -> pd.DataFrame:
    """The stored fixes a batch can share a segment with. ``ranges``: per unit, its batch's first and
    last time (unit_id, t0_ms, t1_ms). Per unit: every stored fix in [t0, t1], and its stored
    neighbours just outside: the last before t0 and the first after t1, when within ``pad_ms``.

    Segments join consecutive fixes only, so nothing further out can change; and one query serves
    every unit of the batch (a batch of single fixes from 500 phones is 500 units)."""
    rows: list[tuple] = []  # type: ignore[type-arg]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    postgres = conn.dialect.name == "postgresql"
    try:
        for start in range(0, len(ranges), _WINDOW_CHUNK):
            part = ranges.iloc[start:start + _WINDOW_CHUNK]
            units = part["unit_id"].astype(str).tolist()
            t0 = part["t0_ms"].astype("int64")
            t1 = part["t1_ms"].astype("int64")
            cols = [units, (t0 - pad_ms).tolist(), t0.tolist(), t1.tolist(), (t1 + pad_ms).tolist()]
            if postgres:
                ranges_sql = ("SELECT * FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::bigint[], "
                              "%s::bigint[])")
                params: tuple = tuple(cols)  # type: ignore[type-arg]
            else:
                ranges_sql = "VALUES " + ", ".join(["(?, ?, ?, ?, ?)"] * len(units))
                params = tuple(v for row in zip(*cols, strict=True) for v in row)
            cursor.execute((_WINDOW_SQL_PG if postgres else _WINDOW_SQL).format(ranges=ranges_sql), params)
            rows += cursor.fetchall()
    finally:
        cursor.close()
    out = pd.DataFrame.from_records(rows, columns=_WINDOW_COLUMNS)
    return out.astype({"unit_id": object, "time_ms": "int64", "lon": float, "lat": float, "mode": object,
                       "outlier": bool})


# r: (unit, lo, t0, t1, hi). CROSS JOIN keeps SQLite walking the ranges and seeking each unit in the
# primary key; max()/min() over the key are single seeks on both databases.
_WINDOW_SQL = """WITH r(u, lo, a, b, hi) AS ({ranges})
SELECT f.unit_id, f.time_ms, f.lon, f.lat, f.mode, f.outlier FROM r CROSS JOIN fixes f
 WHERE f.unit_id = r.u AND f.time_ms BETWEEN r.a AND r.b
UNION ALL
SELECT f.unit_id, f.time_ms, f.lon, f.lat, f.mode, f.outlier FROM r CROSS JOIN fixes f
 WHERE f.unit_id = r.u AND f.time_ms = (SELECT max(g.time_ms) FROM fixes g
                                        WHERE g.unit_id = r.u AND g.time_ms >= r.lo AND g.time_ms < r.a)
UNION ALL
SELECT f.unit_id, f.time_ms, f.lon, f.lat, f.mode, f.outlier FROM r CROSS JOIN fixes f
 WHERE f.unit_id = r.u AND f.time_ms = (SELECT min(g.time_ms) FROM fixes g
                                        WHERE g.unit_id = r.u AND g.time_ms > r.b AND g.time_ms <= r.hi)"""

# PostgreSQL: one index walk per range row, whatever the statistics say. The plain joins above were
# planned as hash joins over a sequential scan of the whole fixes table whenever its statistics lagged
# behind its growth (three scans per batch: 250 ms at 116,000 fixes, growing with the table, under
# benchmarks/load.py). LATERAL with LIMIT, and OFFSET 0 to keep the range subquery from being flattened
# into a join, leave the planner only the primary-key walk (17 ms).
_WINDOW_SQL_PG = """WITH r(u, lo, a, b, hi) AS ({ranges})
SELECT w.* FROM r CROSS JOIN LATERAL (SELECT f.unit_id, f.time_ms, f.lon, f.lat, f.mode, f.outlier
 FROM fixes f
 WHERE f.unit_id = r.u AND f.time_ms BETWEEN r.a AND r.b OFFSET 0) w
UNION ALL
SELECT w.* FROM r CROSS JOIN LATERAL (SELECT f.unit_id, f.time_ms, f.lon, f.lat, f.mode, f.outlier
 FROM fixes f
 WHERE f.unit_id = r.u AND f.time_ms >= r.lo AND f.time_ms < r.a ORDER BY f.time_ms DESC LIMIT 1) w
UNION ALL
SELECT w.* FROM r CROSS JOIN LATERAL (SELECT f.unit_id, f.time_ms, f.lon, f.lat, f.mode, f.outlier
 FROM fixes f
 WHERE f.unit_id = r.u AND f.time_ms > r.b AND f.time_ms <= r.hi ORDER BY f.time_ms LIMIT 1) w"""


def latest_fixes(conn: Connection, unit_ids: Sequence[str], *, until_ms: int | None = None
                 ) -> dict[str, tuple[int, float, float]]:
    """Each unit's newest non-outlier fix at or before ``until_ms``: (time_ms, lon, lat). One query
    for all units; each unit is a backward walk of its primary key that stops at the first fix."""
    until = _FAR_FUTURE_MS if until_ms is None else int(until_ms)
    out: dict[str, tuple[int, float, float]] = {}
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    postgres = conn.dialect.name == "postgresql"
    ids = list(dict.fromkeys(str(u) for u in unit_ids))
    try:
        for start in range(0, len(ids), _WINDOW_CHUNK):
            part = ids[start:start + _WINDOW_CHUNK]
            if postgres:
                sql = _LATEST_SQL_PG
                params: tuple = (part, until)  # type: ignore[type-arg]
            else:
                sql = _LATEST_SQL.format(units="VALUES " + ", ".join(["(?)"] * len(part)), until="?")
                params = (*part, until)
            cursor.execute(sql, params)
            for unit_id, time_ms, lon, lat in cursor.fetchall():
                out[unit_id] = (int(time_ms), float(lon), float(lat))
    finally:
        cursor.close()
    return out


_FAR_FUTURE_MS = 2**62
_LATEST_SQL = """WITH r(u) AS ({units})
SELECT f.unit_id, f.time_ms, f.lon, f.lat FROM r CROSS JOIN fixes f
 WHERE f.unit_id = r.u AND f.time_ms = (SELECT g.time_ms FROM fixes g
                                        WHERE g.unit_id = r.u AND g.time_ms <= {until} AND NOT g.outlier
                                        ORDER BY g.time_ms DESC LIMIT 1)"""
# PostgreSQL: a LATERAL walk per unit (see _WINDOW_SQL_PG): 120 → 17 ms for 500 units at 116,000 fixes
_LATEST_SQL_PG = """WITH r(u) AS (SELECT * FROM unnest(%s::text[]))
SELECT w.* FROM r CROSS JOIN LATERAL (SELECT g.unit_id, g.time_ms, g.lon, g.lat FROM fixes g
 WHERE g.unit_id = r.u AND g.time_ms <= %s AND NOT g.outlier ORDER BY g.time_ms DESC LIMIT 1) w"""


def insert_fixes(conn: Connection, frame: pd.DataFrame) -> int:
    """Insert new fixes (the caller has removed stored duplicates; a race is still ignored)."""
    if frame.empty:
        return 0
    frame = frame[STORED_COLUMNS]
    if conn.dialect.name == "postgresql":
        return _insert_postgres(conn, frame)
    return _executemany_sqlite(conn, frame)


def _executemany_sqlite(conn: Connection, frame: pd.DataFrame) -> int:
    """One ``executemany`` per pattern of missing values, each naming only the columns it has, with
    the values shared by every row written into the statement. Binding is most of the cost of a row
    (a ``None`` goes through the sqlite3 module's slow adapter path; every string is copied): a
    typical batch binds 9 values a row instead of 16."""
    missing = frame.isna().to_numpy()
    codes = missing @ (1 << np.arange(missing.shape[1], dtype=np.int64))
    _, first, group = np.unique(codes, return_index=True, return_inverse=True)
    patterns = missing[first]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    count = 0
    try:
        for k, pattern in enumerate(patterns):
            names = [n for n, gone in zip(STORED_COLUMNS, pattern, strict=True) if not gone]
            rows = frame.iloc[np.flatnonzero(group.ravel() == k)] if len(patterns) > 1 else frame
            constant = {n: _literal(rows[n]) for n in names}
            bound = [n for n in names if constant[n] is None]
            values = ",".join(constant[n] or "?" for n in names)
            cursor.executemany(f"INSERT OR IGNORE INTO fixes ({','.join(names)}) VALUES ({values})",
                               _rows(rows, bound))
            count += cursor.rowcount
    finally:
        cursor.close()
    return int(count)


def _literal(col: pd.Series) -> str | None:
    """The SQL literal of a column holding one value in every row (source, mode, received time…:
    written once into the statement instead of bound per row), else None."""
    first = col.iat[0]
    if col.dtype.kind in "iub":
        values = col.to_numpy()
        return str(int(first)) if (values == values[0]).all() else None
    if (col.dtype.kind == "O" and isinstance(first, str) and "\x00" not in first
            and (col.to_numpy() == first).all()):
        return "'" + first.replace("'", "''") + "'"
    return None


def _rows(frame: pd.DataFrame, names: list[str]) -> list[tuple]:
    """Plain Python values (no NaN, no None: the caller left missing columns out), row by row."""
    cols = []
    for name in names:
        col = frame[name]
        if col.dtype.kind == "f":
            cols.append(col.to_numpy(dtype=float).tolist())
        elif col.dtype.kind == "b":
            cols.append(col.to_numpy(dtype=bool).astype(int).tolist())
        else:
            cols.append(col.tolist())
    return list(zip(*cols, strict=True))


#: Batches up to this many rows go in as one INSERT of arrays; larger ones (file imports) by COPY.
_ARRAY_INSERT_ROWS = 10_000


def _insert_postgres(conn: Connection, frame: pd.DataFrame) -> int:
    """One ``INSERT … SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING`` (an upload's batch: no
    temporary table, no DDL), or COPY for large batches."""
    if len(frame) > _ARRAY_INSERT_ROWS:
        return _copy_postgres(conn, frame)
    arrays = []
    for name in STORED_COLUMNS:
        col = frame[name]
        values = col.astype(object).where(col.notna(), None).tolist()
        arrays.append(values)
    cols = ",".join(STORED_COLUMNS)
    casts = ", ".join(f"%s::{_PG_ARRAY_TYPES[n]}[]" for n in STORED_COLUMNS)
    raw = conn.connection.driver_connection  # psycopg connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(f"INSERT INTO fixes ({cols}) SELECT * FROM unnest({casts}) "
                    "ON CONFLICT (unit_id, time_ms) DO NOTHING", arrays)
        return int(cur.rowcount)


def _pg_type(column: object) -> str:
    kind = type(column.type).__name__  # type: ignore[attr-defined]
    return {"BigInteger": "bigint", "Float": "float8", "Boolean": "boolean"}.get(kind, "text")


_PG_ARRAY_TYPES = {c.name: _pg_type(c) for c in fixes.columns}


def _copy_postgres(conn: Connection, frame: pd.DataFrame) -> int:
    """COPY through a temporary table (made once per connection, emptied after use), then one
    INSERT … ON CONFLICT DO NOTHING."""
    buf = io.StringIO()
    out = frame.copy()
    out["outlier"] = out["outlier"].map({True: "t", False: "f"})
    out.to_csv(buf, index=False, header=False, na_rep="\\N", sep="\t", float_format="%.17g")
    cols = ",".join(STORED_COLUMNS)
    raw = conn.connection.driver_connection  # psycopg connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS fixes_in ON COMMIT DELETE ROWS AS "
                    f"SELECT {cols} FROM fixes WITH NO DATA")
        with cur.copy(f"COPY fixes_in ({cols}) FROM STDIN") as copy:
            copy.write(buf.getvalue())
        cur.execute(f"INSERT INTO fixes ({cols}) SELECT {cols} FROM fixes_in "
                    "ON CONFLICT (unit_id, time_ms) DO NOTHING")
        count = cur.rowcount
        cur.execute("DELETE FROM fixes_in")
    return int(count)


def insert_rejected(conn: Connection, rejected: pd.DataFrame, received_ms: int) -> None:
    """Keep a record of every refused fix and why (commanders look for phones with bad clocks)."""
    if rejected.empty:
        return
    rows = [
        {"unit_id": str(r.unit_id), "time_ms": None if pd.isna(r.time_ms) else int(r.time_ms),
         "lon": None if pd.isna(r.lon) else float(r.lon),
         "lat": None if pd.isna(r.lat) else float(r.lat),
         "source": str(r.source), "reason": str(r.reason), "received_ms": received_ms}
        for r in rejected.itertuples(index=False)
    ]
    conn.execute(insert(rejected_fixes), rows)


def unit_fixes(conn: Connection, unit_id: str, *, since_ms: int, until_ms: int | None = None,
               limit: int = 10_000) -> pd.DataFrame:
    """A unit's stored fixes in time order."""
    query = select(fixes).where(fixes.c.unit_id == unit_id, fixes.c.time_ms >= since_ms)
    if until_ms is not None:
        query = query.where(fixes.c.time_ms <= until_ms)
    rows = conn.execute(query.order_by(fixes.c.time_ms).limit(limit)).fetchall()
    return pd.DataFrame(rows, columns=STORED_COLUMNS)


def count_fixes(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(fixes)).scalar_one())
