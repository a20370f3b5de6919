"""The live event log (``live_events``): append, replay, prune. Plain SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select, text

from ecopatrol.store import Store
from ecopatrol.store.live_schema import live_events

NOTIFY_CHANNEL = "ecopatrol_live"  # PostgreSQL LISTEN/NOTIFY: the payload is the new rows' ids


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    topic: str
    alert_id: str
    squad_id: str | None
    at_ms: int


def append_change(store: Store, alert_id: str, squad_id: str | None, *, now_ms: int) -> list[Row]:
    """Log a change of ``alert_id`` for ``squad_id``, and a ``alert.reassigned`` row for the squad it
    was last shown to when that differs (its phones then drop it). Returns the rows, in id order."""
    with store.write() as conn:
        previous = last_squad(conn, alert_id)
        rows = []
        if previous is not None and previous != squad_id:
            rows.append(_insert(conn, "alert.reassigned", alert_id, previous, now_ms))
        rows.append(_insert(conn, "alert.changed", alert_id, squad_id, now_ms))
        if conn.dialect.name == "postgresql":  # other processes' hubs hear it when this commits
            conn.execute(text("SELECT pg_notify(:channel, :ids)"),
                         {"channel": NOTIFY_CHANNEL, "ids": ",".join(str(r.id) for r in rows)})
    return rows


def by_ids(conn: Connection, ids: Sequence[int]) -> list[Row]:
    """The rows with these ids that are still held, in id order."""
    if not ids:
        return []
    rows = conn.execute(select(live_events).where(live_events.c.id.in_([int(i) for i in ids]))
                        .order_by(live_events.c.id)).fetchall()
    return [Row(int(r.id), r.topic, r.alert_id, r.squad_id, int(r.at_ms)) for r in rows]


def _insert(conn: Connection, topic: str, alert_id: str, squad_id: str | None, now_ms: int) -> Row:
    new_id = conn.execute(insert(live_events).values(at_ms=now_ms, topic=topic, alert_id=alert_id,
                                                     squad_id=squad_id)
                          .returning(live_events.c.id)).scalar_one()
    return Row(int(new_id), topic, alert_id, squad_id, now_ms)


def last_squad(conn: Connection, alert_id: str) -> str | None:
    """The squad the alert's newest ``alert.changed`` row went to."""
    return conn.execute(select(live_events.c.squad_id)
                        .where(live_events.c.alert_id == alert_id, live_events.c.topic == "alert.changed")
                        .order_by(live_events.c.id.desc()).limit(1)).scalar()


def id_range(conn: Connection) -> tuple[int | None, int]:
    """(smallest id still held or None when empty, largest id ever given or 0)."""
    first, last = conn.execute(select(func.min(live_events.c.id), func.max(live_events.c.id))).one()
    return (None if first is None else int(first)), int(last or 0)


def since(conn: Connection, after_id: int, squad_id: str | None, limit: int = 10_000) -> list[Row]:
    """Rows after ``after_id`` for a squad (``None``: every row, for commanders)."""
    query = select(live_events).where(live_events.c.id > after_id)
    if squad_id is not None:
        query = query.where(live_events.c.squad_id == squad_id)
    rows = conn.execute(query.order_by(live_events.c.id).limit(limit)).fetchall()
    return [Row(int(r.id), r.topic, r.alert_id, r.squad_id, int(r.at_ms)) for r in rows]


def prune(store: Store, *, before_ms: int) -> int:
    """Forget rows older than ``before_ms``, keeping the newest row (ids are never reused anyway)."""
    with store.write() as conn:
        newest = conn.execute(select(func.max(live_events.c.id))).scalar()
        if newest is None:
            return 0
        result = conn.execute(delete(live_events).where(live_events.c.at_ms < before_ms,
                                                        live_events.c.id != newest))
    return int(result.rowcount or 0)
