"""Writing and reading the evidence trail.

``record`` queues an entry on the caller's transaction; the entries are appended when that
transaction commits (a ``commit`` listener, just before the database commit), so

- nothing is audited that did not commit (a rollback drops the queue) and nothing commits unaudited
  (a failed append fails the commit);
- the chain's lock is the *last* lock a transaction takes and is held only while it commits, so it
  never waits inside a transaction that still holds other locks (no deadlock with the report and
  alert locks). On PostgreSQL it is the row lock of ``audit_head`` (``SELECT … FOR UPDATE``: lock and
  read in one round trip), or ``pg_advisory_xact_lock`` with a fixed key while there is no head row
  yet; SQLite writers are serialized already;
- one transaction costs one read of the head and one INSERT (of all its entries); a trigger moves the
  head.

Entries are keyed with the audit key of the store the connection came from (``Store.audit_key``,
carried as the ``AUDIT_KEY_OPTION`` execution option: ``build_runtime`` loads it from the settings and
every ``runtime.store.write()`` hands it on); a connection without one appends plain SHA-256 entries.

Appends continue from ``audit_head`` (not from the last row of the log), so a tail cut off the log
stays a visible gap after later appends. ``flush(conn)`` appends what is queued at once. Savepoints
are not tracked (the code base uses none): an entry queued inside a savepoint that is rolled back
would still be appended with the outer transaction.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Row, event, insert, select, text

from ecopatrol.audit.chain import GENESIS, AuditKey, Entry, link
from ecopatrol.store.audit_schema import audit_head, audit_log
from ecopatrol.store.engine import AUDIT_KEY_OPTION

_LOCK_SQL = text("SELECT pg_advisory_xact_lock(hashtext('ecopatrol.audit'))")
_HEAD = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
_HEAD_FOR_UPDATE = _HEAD.with_for_update()
_LAST = select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
_NEWEST = select(audit_log.c.seq, audit_log.c.key_id).order_by(audit_log.c.seq.desc()).limit(1)
_INSERT = insert(audit_log)

_queues: weakref.WeakKeyDictionary[object, list[Entry]] = weakref.WeakKeyDictionary()
_queues_lock = threading.Lock()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# ------------------------------------------------------------------------------------------ writing


def record(conn: Connection, *, actor: str, action: str, entity: str, entity_id: object,
           before: Any = None, after: Any = None, at_ms: int | None = None) -> None:
    """Record one change in the caller's transaction (appended when it commits); ``at_ms`` defaults
    to the wall clock."""
    record_many(conn, [Entry(actor, action, entity, str(entity_id), before, after,
                             now_ms() if at_ms is None else at_ms)])


def record_change(conn: Connection, *, actor: str, action: str, entity: str, entity_id: object,
                  before: Mapping[str, Any] | None, after: Mapping[str, Any],
                  at_ms: int | None = None) -> bool:
    """Record only the fields whose values differ (``before`` None: all of ``after``); nothing when
    none does. True when something was recorded."""
    old, new = changed_fields(before, after)
    if before is not None and not new and not old:
        return False
    record(conn, actor=actor, action=action, entity=entity, entity_id=entity_id,
           before=old if before is not None else None, after=new, at_ms=at_ms)
    return True


def changed_fields(before: Mapping[str, Any] | None, after: Mapping[str, Any]
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(old values, new values) of the keys of ``after`` whose values differ from ``before``."""
    if before is None:
        return {}, dict(after)
    keys = [k for k in after if _comparable(before.get(k)) != _comparable(after[k])]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def _comparable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_comparable(v) for v in value]
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    return getattr(value, "value", value)  # enums compare by value


def record_many(conn: Connection, entries: Sequence[Entry]) -> None:
    """Queue ``entries`` on the caller's transaction; without one, append them now."""
    if not entries:
        return
    txn = conn.get_transaction()
    if txn is None:
        _append(conn, entries)
        return
    with _queues_lock:
        _queues.setdefault(txn, []).extend(entries)


def flush(conn: Connection) -> int:
    """Append what this transaction has queued now; the head ``seq`` after it (0: empty trail)."""
    txn = conn.get_transaction()
    with _queues_lock:
        queued = _queues.pop(txn, []) if txn is not None else []
    return _append(conn, queued)


def _append(conn: Connection, entries: Sequence[Entry]) -> int:
    """Lock the chain and read its head, insert the rows linked after it (the trigger moves the head)."""
    seq, prev = _locked_head(conn)
    if not entries:
        return seq
    rows = list(link(entries, after_seq=seq, after_hash=prev, key=connection_key(conn)))
    conn.execute(_INSERT, rows if len(rows) > 1 else rows[0])
    return int(rows[-1]["seq"])


def connection_key(conn: Connection) -> AuditKey | None:
    """The audit key this connection's appends are keyed with (its store's), if any."""
    return conn.get_execution_options().get(AUDIT_KEY_OPTION)


def _locked_head(conn: Connection) -> tuple[int, str]:
    """The head, locked against other appends until commit (SQLite: the write lock already is)."""
    if conn.dialect.name == "postgresql":
        row = conn.execute(_HEAD_FOR_UPDATE).first()
        if row is None:  # no head row yet: the first appends queue on the advisory lock, then look again
            conn.execute(_LOCK_SQL)
            row = conn.execute(_HEAD_FOR_UPDATE).first()
        if row is not None:
            return int(row.seq), str(row.hash)
    return _current_head(conn)


def _current_head(conn: Connection) -> tuple[int, str]:
    row = conn.execute(_HEAD).first() or conn.execute(_LAST).first()
    return (int(row.seq), str(row.hash)) if row is not None else (0, GENESIS)


@event.listens_for(Engine, "commit")
def _append_on_commit(conn: Connection) -> None:
    txn = conn.get_transaction()
    if txn is None or not _queues:
        return
    with _queues_lock:
        queued = _queues.pop(txn, None)
    if queued:
        _append(conn, queued)


@event.listens_for(Engine, "rollback")
def _drop_on_rollback(conn: Connection) -> None:
    txn = conn.get_transaction()
    if txn is not None and _queues:
        with _queues_lock:
            _queues.pop(txn, None)


# ------------------------------------------------------------------------------------------ reading


def head(conn: Connection) -> tuple[int, str] | None:
    """The stored head (``seq``, ``hash``); None before the first entry."""
    row = conn.execute(_HEAD).first()
    return None if row is None else (int(row.seq), str(row.hash))


def newest(conn: Connection) -> tuple[int, str | None]:
    """The newest entry's ``seq`` (0: empty trail) and ``key_id`` (None: unkeyed)."""
    row = conn.execute(_NEWEST).first()
    return (0, None) if row is None else (int(row.seq), row.key_id)


def entries(conn: Connection, *, entity: str | None = None, entity_id: str | None = None,
            action: str | None = None, since_seq: int | None = None, limit: int = 100) -> list[Row]:
    """The newest ``limit`` entries matching, oldest first."""
    query = select(audit_log)
    if entity is not None:
        query = query.where(audit_log.c.entity == entity)
    if entity_id is not None:
        query = query.where(audit_log.c.entity_id == str(entity_id))
    if action is not None:
        query = query.where(audit_log.c.action.like(f"{action}%"))
    if since_seq is not None:
        query = query.where(audit_log.c.seq > since_seq)
    rows = conn.execute(query.order_by(audit_log.c.seq.desc()).limit(limit)).fetchall()
    return list(reversed(rows))


def iter_rows(conn: Connection, *, batch: int = 5000) -> Iterable[Row]:
    """Every entry in ``seq`` order, read in keyset pages (constant memory on any backend)."""
    after = 0
    while True:
        rows = conn.execute(select(audit_log).where(audit_log.c.seq > after)
                            .order_by(audit_log.c.seq).limit(batch)).fetchall()
        yield from rows
        if len(rows) < batch:
            return
        after = int(rows[-1].seq)
