"""Fixes: bulk insert (idempotent on unit + time), neighbour windows for incremental coverage, reads."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from sqlalchemy import Connection, and_, func, insert, select

from ecopatrol.store.schema import fixes, rejected_fixes

STORED_COLUMNS = [c.name for c in fixes.columns]


def stored_window(conn: Connection, ranges: pd.DataFrame) -> pd.DataFrame:
    """Stored fixes of each unit within [t0_ms, t1_ms] (``ranges``: unit_id, t0_ms, t1_ms)."""
    frames = []
    cols = [fixes.c.unit_id, fixes.c.time_ms, fixes.c.lon, fixes.c.lat, fixes.c.mode, fixes.c.outlier]
    for unit_id, t0, t1 in ranges[["unit_id", "t0_ms", "t1_ms"]].itertuples(index=False):
        rows = conn.execute(
            select(*cols).where(and_(fixes.c.unit_id == unit_id,
                                     fixes.c.time_ms >= int(t0), fixes.c.time_ms <= int(t1)))
        ).fetchall()
        if rows:
            frames.append(pd.DataFrame(rows, columns=[c.name for c in cols]))
    if not frames:
        return pd.DataFrame({"unit_id": pd.Series(dtype=object), "time_ms": pd.Series(dtype="int64"),
                             "lon": pd.Series(dtype=float), "lat": pd.Series(dtype=float),
                             "mode": pd.Series(dtype=object), "outlier": pd.Series(dtype=bool)})
    out = pd.concat(frames, ignore_index=True)
    out["outlier"] = out["outlier"].astype(bool)
    out["time_ms"] = out["time_ms"].astype("int64")
    return out


def insert_fixes(conn: Connection, frame: pd.DataFrame) -> int:
    """Insert new fixes (the caller has removed stored duplicates; a race is still ignored)."""
    if frame.empty:
        return 0
    frame = frame[STORED_COLUMNS]
    if conn.dialect.name == "postgresql":
        return _copy_postgres(conn, frame)
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


def _copy_postgres(conn: Connection, frame: pd.DataFrame) -> int:
    """COPY through a temporary table, then one INSERT … ON CONFLICT DO NOTHING."""
    buf = io.StringIO()
    out = frame.copy()
    out["outlier"] = out["outlier"].map({True: "t", False: "f"})
    out.to_csv(buf, index=False, header=False, na_rep="\\N", sep="\t", float_format="%.17g")
    cols = ",".join(STORED_COLUMNS)
    raw = conn.connection.driver_connection  # psycopg connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS fixes_in (LIKE fixes INCLUDING DEFAULTS) "
                    "ON COMMIT DELETE ROWS")
        cur.execute("ALTER TABLE fixes_in DROP COLUMN IF EXISTS geom, DROP COLUMN IF EXISTS fix_time")
        with cur.copy(f"COPY fixes_in ({cols}) FROM STDIN") as copy:
            copy.write(buf.getvalue())
        cur.execute(f"INSERT INTO fixes ({cols}) SELECT {cols} FROM fixes_in "
                    "ON CONFLICT (unit_id, time_ms) DO NOTHING")
        count = cur.rowcount
        cur.execute("TRUNCATE fixes_in")
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
