"""Tables of the evidence trail, on the shared ``metadata`` (migration ``0006_audit``).

- ``audit_log``: append-only and hash-chained. One row per change of a report, alert, squad, person
  or token: who (``actor``), when (``at_ms``), what (``action`` on ``entity``/``entity_id``) and the
  state before and after as canonical JSON text (never JSONB: the stored bytes are what is hashed).
  ``seq`` is gapless from 1; ``hash = HMAC-SHA256(audit key, prev_hash + canonical row)`` with
  ``key_id`` naming the key (migration ``0014_audit_key``), or ``sha256(prev_hash + canonical row)``
  with ``key_id`` NULL for entries written before a key existed (``ecopatrol.audit.chain``).
- ``audit_head``: one row (``id = 1``), the newest ``seq`` and ``hash``, moved by a trigger with every
  insert into the log, so a log cut short at the tail no longer matches its head.

The migration adds triggers on both backends that move the head, refuse UPDATE and DELETE of
``audit_log`` rows and refuse moving ``audit_head`` backwards or deleting it (``verify`` still catches
tampering made after disabling them).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, Integer, String, Table, Text

from ecopatrol.store.schema import metadata

audit_log = Table(
    "audit_log", metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(120), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("entity_id", String(64), nullable=False),
    Column("before_json", Text),
    Column("after_json", Text),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("key_id", String(16)),
    Index("ix_audit_log_entity", "entity", "entity_id", "seq"),
)

audit_head = Table(
    "audit_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    CheckConstraint("id = 1", name="ck_audit_head_one_row"),
)

AUDIT_TABLES = (audit_log, audit_head)
