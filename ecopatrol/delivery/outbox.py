"""The outbox as the delivery worker sees it: due rows, leases, results, the delivery log, resends.

A due row is ``pending`` with ``next_attempt_ms`` ≤ now. Claiming moves ``next_attempt_ms`` a lease
ahead with a compare-and-set, so two workers never send the same row at once and a worker that dies
mid-delivery leaves the row to be retried when the lease ends. Every attempt is one
``delivery_attempts`` row; a row holding several deliveries (a role: one per person) skips, on a
retry, the people already reached since the row was last (re)queued.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, and_, func, insert, select, tuple_, update

from alerts.model import Notification, Recipient, RecipientKind, Severity
from alerts.reasons import NotificationEvent
from ecopatrol.store import Store
from ecopatrol.store.alerts_schema import outbox
from ecopatrol.store.live_schema import delivery_attempts

Outcome = Literal["delivered", "retry", "dead", "skipped", "requeued"]
RowState = Literal["pending", "sent", "dead"]


@dataclass(frozen=True, slots=True)
class Claimed:
    notification: Notification
    attempts: int  # failed attempts so far
    already_reached: frozenset[str]  # target keys delivered since the last (re)queue


@dataclass(frozen=True, slots=True)
class Attempt:
    target: str
    channel: str
    ok: bool
    status_code: int | None
    latency_ms: float
    error: str | None
    outcome: Outcome


def to_notification(row: Any) -> Notification:
    return Notification(id=row.id, alert_id=row.alert_id, channel=row.channel,
                        recipient=Recipient(RecipientKind(row.recipient_kind), row.recipient),
                        event=NotificationEvent(row.event), severity=Severity(row.severity),
                        created_ms=int(row.created_ms), payload=dict(row.payload or {}))


def claim_due(store: Store, *, now_ms: int, lease_ms: int, limit: int,
              exclude: Sequence[str] = ()) -> list[Claimed]:
    """Lease up to ``limit`` due rows (oldest due first) to this worker: one compare-and-set UPDATE for
    them all (a row another worker leased meanwhile has moved its ``next_attempt_ms`` and is left out)
    and one read of whom each has reached already."""
    skip = set(exclude)
    with store.read() as conn:
        query = (select(outbox).where(outbox.c.state == "pending", outbox.c.next_attempt_ms <= now_ms)
                 .order_by(outbox.c.next_attempt_ms, outbox.c.created_ms).limit(limit + len(skip)))
        rows = [r for r in conn.execute(query).fetchall() if r.id not in skip][:limit]
    if not rows:
        return []
    with store.write() as conn:
        won = set(conn.execute(
            update(outbox).where(outbox.c.state == "pending",
                                 tuple_(outbox.c.id, outbox.c.next_attempt_ms).in_(
                                     [(r.id, r.next_attempt_ms) for r in rows]))
            .values(next_attempt_ms=now_ms + lease_ms).returning(outbox.c.id)).scalars())
        reached = _reached(conn, [r.id for r in rows if r.id in won])
    return [Claimed(to_notification(r), int(r.attempts), reached.get(r.id, frozenset()))
            for r in rows if r.id in won]


def _reached(conn: Connection, outbox_ids: Sequence[str]) -> dict[str, frozenset[str]]:
    """Per outbox row, the targets delivered since it was last (re)queued."""
    if not outbox_ids:
        return {}
    requeue = delivery_attempts.alias("requeue")
    last_requeue = (select(func.max(requeue.c.id))
                    .where(requeue.c.outbox_id == delivery_attempts.c.outbox_id,
                           requeue.c.outcome == "requeued")
                    .scalar_subquery())
    found: dict[str, set[str]] = {}
    for outbox_id, recipient in conn.execute(
            select(delivery_attempts.c.outbox_id, delivery_attempts.c.recipient).where(
                delivery_attempts.c.outbox_id.in_(list(outbox_ids)), delivery_attempts.c.ok.is_(True),
                delivery_attempts.c.id > func.coalesce(last_requeue, 0))):
        found.setdefault(outbox_id, set()).add(recipient)
    return {k: frozenset(v) for k, v in found.items()}


def finish(store: Store, claimed: Claimed, attempts: Sequence[Attempt], *, now_ms: int,
           state: RowState, next_attempt_ms: int) -> None:
    """Record the attempts and the row's new state (``attempts`` counts every finished try)."""
    n = claimed.notification
    last = attempts[-1] if attempts else None
    failed = [a for a in attempts if not a.ok and a.outcome != "skipped"]
    shown = failed[-1] if failed else last
    with store.write() as conn:
        if attempts:
            conn.execute(insert(delivery_attempts), [{
                "outbox_id": n.id, "alert_id": n.alert_id, "channel": a.channel, "recipient": a.target,
                "attempt": claimed.attempts + 1, "at_ms": now_ms, "ok": a.ok, "status_code": a.status_code,
                "latency_ms": a.latency_ms, "error": a.error, "outcome": a.outcome} for a in attempts])
        conn.execute(update(outbox).where(outbox.c.id == n.id).values(
            state=state, attempts=claimed.attempts + 1, next_attempt_ms=next_attempt_ms,
            last_status_code=shown.status_code if shown else None,
            last_error=shown.error if shown else None,
            latency_ms=max((a.latency_ms for a in attempts), default=None),
            sent_ms=now_ms if state == "sent" else None))


def requeue(store: Store, alert_id: str, *, now_ms: int, channel: str | None = None) -> int:
    """Make every outbox row of the alert (or of one channel) due now with a fresh attempt count."""
    condition = and_(outbox.c.alert_id == alert_id, *([outbox.c.channel == channel] if channel else []))
    with store.write() as conn:
        rows = conn.execute(select(outbox.c.id, outbox.c.channel, outbox.c.recipient_kind,
                                   outbox.c.recipient).where(condition)).fetchall()
        if not rows:
            return 0
        conn.execute(insert(delivery_attempts), [{
            "outbox_id": r.id, "alert_id": alert_id, "channel": r.channel,
            "recipient": f"{r.recipient_kind}:{r.recipient}", "attempt": 0, "at_ms": now_ms, "ok": False,
            "status_code": None, "latency_ms": 0.0, "error": None, "outcome": "requeued"} for r in rows])
        conn.execute(update(outbox).where(condition).values(
            state="pending", attempts=0, next_attempt_ms=now_ms, sent_ms=None))
    return len(rows)


def delivery_log(conn: Connection, alert_id: str) -> list[dict[str, Any]]:
    """The alert's outbox rows, each with its attempts, oldest first."""
    rows = conn.execute(select(outbox).where(outbox.c.alert_id == alert_id)
                        .order_by(outbox.c.created_ms, outbox.c.id)).fetchall()
    attempts = conn.execute(select(delivery_attempts).where(delivery_attempts.c.alert_id == alert_id)
                            .order_by(delivery_attempts.c.id)).fetchall()
    by_row: dict[str, list[dict[str, Any]]] = {}
    for a in attempts:
        by_row.setdefault(a.outbox_id, []).append({
            "attempt": a.attempt, "at_ms": a.at_ms, "recipient": a.recipient, "ok": bool(a.ok),
            "status_code": a.status_code, "latency_ms": a.latency_ms, "error": a.error,
            "outcome": a.outcome})
    return [{"id": r.id, "channel": r.channel, "recipient_kind": r.recipient_kind, "recipient": r.recipient,
             "event": r.event, "severity": r.severity, "state": r.state, "attempts": r.attempts,
             "next_attempt_ms": r.next_attempt_ms if r.state == "pending" else None,
             "last_status_code": r.last_status_code, "last_error": r.last_error,
             "latency_ms": r.latency_ms, "created_ms": r.created_ms, "sent_ms": r.sent_ms,
             "log": by_row.get(r.id, [])} for r in rows]
