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
    return append_changes(store, [(alert_id, squad_id)], now_ms=now_ms)


def append_changes(store: Store, changes: Sequence[tuple[str, str | None]], *, now_ms: int) -> list[Row]:
    """``append_change`` for several alerts in one transaction (an escalation tick moves dozens)."""
    if not changes:
        return []
    with store.write() as conn:
        previous = last_squads(conn, [a for a, _ in changes])
        wanted: list[tuple[str, str, str | None]] = []
        for alert_id, squad_id in changes:
            shown_to = previous.get(alert_id)
            if shown_to is not None and shown_to != squad_id:
                wanted.append(("alert.reassigned", alert_id, shown_to))
            wanted.append(("alert.changed", alert_id, squad_id))
            previous[alert_id] = squad_id
        ids = conn.execute(insert(live_events).returning(live_events.c.id, sort_by_parameter_order=True),
                           [{"at_ms": now_ms, "topic": t, "alert_id": a, "squad_id": s}
                            for t, a, s in wanted]).scalars().all()
        rows = [Row(int(i), t, a, s, now_ms) for i, (t, a, s) in zip(ids, wanted, strict=True)]
        if conn.dialect.name == "postgresql":  # other processes' hubs hear it when this commits
            for start in range(0, len(rows), _IDS_PER_NOTIFY):
                conn.execute(text("SELECT pg_notify(:channel, :ids)"), {
                    "channel": NOTIFY_CHANNEL,
                    "ids": ",".join(str(r.id) for r in rows[start:start + _IDS_PER_NOTIFY])})
    return rows


_IDS_PER_NOTIFY = 500  # a NOTIFY payload holds at most 8,000 bytes


def by_ids(conn: Connection, ids: Sequence[int]) -> list[Row]:
    """The rows with these ids that are still held, in id order."""
    if not ids:
        return []
    rows = conn.execute(select(live_events).where(live_events.c.id.in_([int(i) for i in ids]))
                        .order_by(live_events.c.id)).fetchall()
    return [Row(int(r.id), r.topic, r.alert_id, r.squad_id, int(r.at_ms)) for r in rows]


def last_squads(conn: Connection, alert_ids: Sequence[str]) -> dict[str, str | None]:
    """The squad each alert's newest ``alert.changed`` row went to (alerts never logged left out)."""
    ids = sorted(set(alert_ids))
    newest = (select(func.max(live_events.c.id))
              .where(live_events.c.alert_id.in_(ids), live_events.c.topic == "alert.changed")
              .group_by(live_events.c.alert_id))
    rows = conn.execute(select(live_events.c.alert_id, live_events.c.squad_id)
                        .where(live_events.c.id.in_(newest.scalar_subquery())))
    return {r.alert_id: r.squad_id for r in rows}



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
