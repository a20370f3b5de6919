"""Alerts, their timelines, silences and the outbox in the store (SQLAlchemy Core).

``persist`` writes a ``PipelineResult`` inside the caller's transaction: created alerts inserted,
updated ones rewritten, only the new timeline events appended (``alert_events.seq`` continues the
stored timeline), and one ``outbox`` row per notification.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, insert, select, text, update

from alerts.escalation import EscalationPolicy, next_check_ms, overdue, policy_for
from alerts.model import Alert, AlertState, Notification, TimelineEvent, TimelineKind, parse_reason
from alerts.pipeline import PipelineResult
from alerts.silence import Silence
from ecopatrol import audit
from ecopatrol.store.alerts_schema import (
    alert_events,
    alert_generation,
    alert_photos,
    alerts,
    outbox,
    silences,
)

_NOT_ALERT_FIELDS = ("overdue", "next_check_ms", "generation")
_ALERT_FIELDS = [c.name for c in alerts.columns if c.name not in _NOT_ALERT_FIELDS]
_UPDATABLE = [c for c in _ALERT_FIELDS if c not in ("id", "created_ms")] + ["overdue", "next_check_ms",
                                                                          "generation"]
Policies = Mapping[str, EscalationPolicy]
#: The timeline events pipeline decisions read (last assignment attempt, overdue codes recorded): the
#: pipeline's context loads only these; ``seq_offsets`` then place new events after the stored ones.
DECISION_KINDS = frozenset({TimelineKind.assigned, TimelineKind.unassigned, TimelineKind.overdue})


def lock_alerts(conn: Connection) -> None:
    """PostgreSQL: one pipeline run at a time across processes (SQLite writers are serialized)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('ecopatrol.alerts'))"))


def generation(conn: Connection) -> int:
    """The alerts' write counter: it moves with every transaction that writes alerts."""
    return int(conn.execute(select(func.coalesce(func.max(alert_generation.c.n), 0))).scalar_one())


def _bump_generation(conn: Connection) -> int:
    """Move the counter on (under ``lock_alerts``); its new value. The row may be gone from an emptied
    database: it comes back at a random count, so a process's memory from before never matches it."""
    moved = conn.execute(update(alert_generation).where(alert_generation.c.id == 1)
                         .values(n=alert_generation.c.n + 1).returning(alert_generation.c.n)).scalar()
    if moved is None:
        moved = secrets.randbits(53)
        conn.execute(insert(alert_generation).values(id=1, n=moved))
    return int(moved)


# ---------------------------------------------------------------------------------------- writing


def alert_row(alert: Alert, policies: Policies, now_ms: int, generation: int | None = None) -> dict[str, Any]:
    d = alert.to_dict()
    row = {k: d[k] for k in _ALERT_FIELDS if k in d}
    policy = policy_for(alert, policies)
    code = overdue(alert, policy, now_ms)
    row.update(evidence=alert.evidence.to_dict(), labels=dict(alert.labels),
               declined_squads=list(alert.declined_squads), overdue=code.value if code else None,
               next_check_ms=next_check_ms(alert, policy, now_ms), generation=generation)
    return row


def _event_rows(alert: Alert, start: int, offset: int = 0) -> list[dict[str, Any]]:
    """Events ``start…`` of the alert's timeline in memory, stored as ``seq = offset + index``."""
    return [{"alert_id": alert.id, "seq": offset + i, "at_ms": e.at_ms, "kind": e.kind.value,
             "actor": e.actor[:200], "reason": e.reason.value if e.reason is not None else None,
             "data": e.to_dict()["data"]}
            for i, e in enumerate(alert.timeline[start:], start)]


def stored_event_counts(conn: Connection, alert_ids: Iterable[str]) -> dict[str, int]:
    ids = list(alert_ids)
    if not ids:
        return {}
    rows = conn.execute(select(alert_events.c.alert_id, func.count()).where(alert_events.c.alert_id.in_(ids))
                        .group_by(alert_events.c.alert_id)).all()
    return {r[0]: int(r[1]) for r in rows}


def persist(conn: Connection, result: PipelineResult, *, stored_events: Mapping[str, int], policies: Policies,
            now_ms: int, seq_offsets: Mapping[str, int] | None = None) -> int | None:
    """Insert the created alerts, rewrite the updated ones, append new events, queue notifications.
    ``stored_events``: how many events of each alert's timeline in memory are stored already. Returns
    the write counter it moved the alerts to (None: no alert written)."""
    unknown = [a.id for a in result.updated if a.id not in stored_events]
    counts = {**stored_events, **stored_event_counts(conn, unknown)}
    written = save_alerts(conn, created=result.created, updated=result.updated, stored_events=counts,
                          policies=policies, now_ms=now_ms, seq_offsets=seq_offsets)
    queue_notifications(conn, result.notifications)
    return written


def save_alerts(conn: Connection, *, created: Sequence[Alert] = (), updated: Sequence[Alert] = (),
                stored_events: Mapping[str, int], policies: Policies, now_ms: int,
                seq_offsets: Mapping[str, int] | None = None) -> int | None:
    """Insert ``created``, rewrite ``updated`` and append their new events; the rows carry the write
    counter this transaction moved on to, which is returned (None: nothing to write)."""
    if not created and not updated:
        return None
    generation_now = _bump_generation(conn)
    created_rows = [alert_row(a, policies, now_ms, generation_now) for a in created]
    if created_rows:
        conn.execute(insert(alerts), created_rows)
    before = audit.alert_states(conn, [a.id for a in updated])  # the evidence trail's "before"
    rows = []
    if updated:
        for a in updated:
            row = alert_row(a, policies, now_ms, generation_now)
            rows.append({"b_id": a.id, **{k: row[k] for k in _UPDATABLE}})
        stmt = update(alerts).where(alerts.c.id == bindparam("b_id")).values(
            {k: bindparam(k) for k in _UPDATABLE})
        conn.execute(stmt, rows)
    events = [e for a in created for e in _event_rows(a, 0)]
    offsets = seq_offsets or {}
    for a in updated:
        events += _event_rows(a, stored_events.get(a.id, 0), offsets.get(a.id, 0))
    if events:
        conn.execute(insert(alert_events), events)
    audit.alerts_saved(conn, created=created_rows, updated={r["b_id"]: r for r in rows},
                       before=before, events=events, at_ms=now_ms)
    return generation_now


def queue_notifications(conn: Connection, notifications: Sequence[Notification]) -> None:
    if not notifications:
        return
    conn.execute(insert(outbox), [
        {"id": n.id, "alert_id": n.alert_id, "channel": n.channel, "recipient_kind": n.recipient.kind.value,
         "recipient": n.recipient.id, "event": n.event.value, "severity": n.severity.value,
         "payload": n.to_dict()["payload"], "state": "pending", "attempts": 0,
         "next_attempt_ms": n.created_ms, "created_ms": n.created_ms} for n in notifications])


# ---------------------------------------------------------------------------------------- reading


def _alert(row: Any, timeline: Sequence[TimelineEvent] = ()) -> Alert:
    d = row._asdict()
    for extra in _NOT_ALERT_FIELDS:
        d.pop(extra, None)
    d["timeline"] = ()
    alert = Alert.from_dict(d)
    return dataclasses.replace(alert, timeline=tuple(timeline)) if timeline else alert


_EVENT_COLUMNS = [alert_events.c.alert_id, alert_events.c.at_ms, alert_events.c.kind, alert_events.c.actor,
                  alert_events.c.reason, alert_events.c.data]


def _timelines(conn: Connection, alert_ids: Sequence[str],
               kinds: Collection[TimelineKind] | None = None) -> dict[str, list[TimelineEvent]]:
    out: dict[str, list[TimelineEvent]] = {i: [] for i in alert_ids}
    for chunk_start in range(0, len(alert_ids), 500):
        chunk = list(alert_ids[chunk_start:chunk_start + 500])
        query = select(*_EVENT_COLUMNS).where(alert_events.c.alert_id.in_(chunk))
        if kinds is not None:
            query = query.where(alert_events.c.kind.in_(sorted(k.value for k in kinds)))
        for alert_id, at_ms, kind, actor, reason, data in conn.execute(
                query.order_by(alert_events.c.alert_id, alert_events.c.seq)):
            out[alert_id].append(TimelineEvent(at_ms, TimelineKind(kind), actor, parse_reason(reason), data))
    return out


def _with_timelines(conn: Connection, rows: Sequence[Any],
                    kinds: Collection[TimelineKind] | None = None) -> list[Alert]:
    timelines = _timelines(conn, [r.id for r in rows], kinds)
    return [_alert(r, timelines[r.id]) for r in rows]


def open_alerts(conn: Connection, *, with_timeline: bool = True,
                kinds: Collection[TimelineKind] | None = None) -> list[Alert]:
    """Every unresolved alert, oldest first, with its timeline (only events of ``kinds`` if given;
    none with ``with_timeline=False``)."""
    rows = conn.execute(select(alerts).where(alerts.c.state != AlertState.resolved.value)
                        .order_by(alerts.c.created_ms, alerts.c.id)).fetchall()
    return _with_timelines(conn, rows, kinds) if with_timeline else [_alert(r) for r in rows]


def written_since(conn: Connection, generation_before: int,
                  kinds: Collection[TimelineKind] | None = None) -> tuple[list[Alert], list[Alert]]:
    """The alerts written after the counter stood at ``generation_before``: (open ones with their
    timelines, only events of ``kinds`` if given; resolved ones without)."""
    rows = conn.execute(select(alerts).where(alerts.c.generation > generation_before)
                        .order_by(alerts.c.created_ms, alerts.c.id)).fetchall()
    open_rows = [r for r in rows if r.state != AlertState.resolved.value]
    return (_with_timelines(conn, open_rows, kinds),
            [_alert(r) for r in rows if r.state == AlertState.resolved.value])


def recent_resolved(conn: Connection, since_ms: int) -> dict[str, Alert]:
    """The newest alert resolved since ``since_ms`` per fingerprint (timelines left out)."""
    rows = conn.execute(select(alerts).where(alerts.c.state == AlertState.resolved.value,
                                             alerts.c.resolved_ms >= since_ms)
                        .order_by(alerts.c.resolved_ms, alerts.c.id)).fetchall()
    return {r.fingerprint: _alert(r) for r in rows}


def get_alert(conn: Connection, alert_id: str) -> Alert | None:
    row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
    return None if row is None else _with_timelines(conn, [row])[0]


def get_alerts(conn: Connection, alert_ids: Sequence[str]) -> list[Alert]:
    if not alert_ids:
        return []
    rows = conn.execute(select(alerts).where(alerts.c.id.in_(list(alert_ids)))).fetchall()
    return _with_timelines(conn, rows)


def list_alerts(conn: Connection, *, states: Sequence[str] | None = None,
                severities: Sequence[str] | None = None, squad_id: str | None = None,
                rule: str | None = None, since_ms: int | None = None, limit: int = 100,
                offset: int = 0) -> tuple[list[Alert], int]:
    """Newest first, with timelines; and the total matching."""
    query = select(alerts)
    if states:
        query = query.where(alerts.c.state.in_(list(states)))
    if severities:
        query = query.where(alerts.c.severity.in_(list(severities)))
    if squad_id is not None:
        query = query.where(alerts.c.squad_id == squad_id)
    if rule is not None:
        query = query.where(alerts.c.rule == rule)
    if since_ms is not None:
        query = query.where(alerts.c.created_ms >= since_ms)
    total = int(conn.execute(select(func.count()).select_from(query.subquery())).scalar_one())
    rows = conn.execute(query.order_by(alerts.c.created_ms.desc(), alerts.c.id.desc())
                        .limit(limit).offset(offset)).fetchall()
    return _with_timelines(conn, rows), total


def outbox_of(conn: Connection, alert_id: str) -> list[Any]:
    return list(conn.execute(select(outbox).where(outbox.c.alert_id == alert_id)
                             .order_by(outbox.c.created_ms, outbox.c.id)).fetchall())


# --------------------------------------------------------------------------------------- silences


def _silence(row: Any) -> Silence:
    return Silence(id=row.id, matchers=tuple(row.matchers), starts_ms=row.starts_ms, ends_ms=row.ends_ms,
                   created_by=row.created_by, comment=row.comment)


def insert_silence(conn: Connection, silence: Silence, now_ms: int) -> None:
    conn.execute(insert(silences).values(
        id=silence.id, matchers=[str(m) for m in silence.matchers], starts_ms=silence.starts_ms,
        ends_ms=silence.ends_ms, created_by=silence.created_by, comment=silence.comment,
        created_ms=now_ms, updated_ms=now_ms))


def get_silence(conn: Connection, silence_id: str) -> Silence | None:
    row = conn.execute(select(silences).where(silences.c.id == silence_id)).first()
    return None if row is None else _silence(row)


def list_silences(conn: Connection, *, live_at_ms: int | None = None) -> list[Silence]:
    """All silences, or those not yet ended at ``live_at_ms``; newest first."""
    query = select(silences)
    if live_at_ms is not None:
        query = query.where(silences.c.ends_ms > live_at_ms)
    return [_silence(r) for r in conn.execute(query.order_by(silences.c.created_ms.desc(),
                                                             silences.c.id)).fetchall()]


def expire_silence(conn: Connection, silence_id: str, now_ms: int) -> bool:
    """End a silence now (kept for the record; a pending one ends before it starts: its span becomes
    the last millisecond); False when it had already ended."""
    starts = case((silences.c.starts_ms >= now_ms, now_ms - 1), else_=silences.c.starts_ms)
    result = conn.execute(update(silences).where(silences.c.id == silence_id, silences.c.ends_ms > now_ms)
                          .values(starts_ms=starts, ends_ms=now_ms, updated_ms=now_ms))
    return result.rowcount == 1


def add_photos(conn: Connection, alert_id: str, photos: Sequence[Any], *, actor: str, now_ms: int) -> None:
    """Keep photos (``CheckedPhoto``) taken on the alert, numbered after those it already has."""
    if not photos:
        return
    first = conn.execute(select(func.coalesce(func.max(alert_photos.c.n), 0))
                         .where(alert_photos.c.alert_id == alert_id)).scalar_one()
    conn.execute(insert(alert_photos), [
        {"alert_id": alert_id, "n": int(first) + k + 1, "filename": p.filename,
         "content_type": p.content_type, "size_bytes": p.size_bytes, "sha256": p.sha256,
         "actor": actor[:200], "created_ms": now_ms, "data": p.data}
        for k, p in enumerate(photos)])


def alert_photo_list(conn: Connection, alert_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(alert_photos.c.n, alert_photos.c.filename, alert_photos.c.content_type,
                               alert_photos.c.size_bytes, alert_photos.c.sha256, alert_photos.c.actor,
                               alert_photos.c.created_ms)
                        .where(alert_photos.c.alert_id == alert_id).order_by(alert_photos.c.n))
    return [dict(r._mapping) for r in rows]


def alert_photo(conn: Connection, alert_id: str, n: int) -> tuple[str, bytes] | None:
    row = conn.execute(select(alert_photos.c.content_type, alert_photos.c.data)
                       .where(alert_photos.c.alert_id == alert_id, alert_photos.c.n == n)).first()
    return None if row is None else (str(row[0]), bytes(row[1]))
