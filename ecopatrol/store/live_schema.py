"""Tables of the live layer, on the shared ``metadata`` (migration ``0004_live``).

- ``live_events``: the compact, append-only log behind the alert stream. Its ``id`` is the SSE event
  id: monotonically increasing (never reused, also on SQLite), so ``Last-Event-ID`` replays across
  reconnects and restarts. A row points at an alert; the alert itself is read when sent.
- ``delivery_attempts``: every outbox delivery attempt (status code, latency, error) — the alert's
  delivery log.
- ``phone_codes``: short one-time sign-in codes for squad phones (stored as digests).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, String, Table, Text

from ecopatrol.store.schema import metadata

EventId = BigInteger().with_variant(Integer, "sqlite")  # SQLite: INTEGER PRIMARY KEY AUTOINCREMENT

live_events = Table(
    "live_events", metadata,
    Column("id", EventId, primary_key=True, autoincrement=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("topic", String(32), nullable=False),
    Column("alert_id", String(64), nullable=False),
    Column("squad_id", String(64)),  # the squad told; NULL: commanders only
    Index("ix_live_events_squad", "squad_id", "id"),
    Index("ix_live_events_alert", "alert_id", "id"),
    sqlite_autoincrement=True,
)

delivery_attempts = Table(
    "delivery_attempts", metadata,
    Column("id", EventId, primary_key=True, autoincrement=True),
    Column("outbox_id", String(64), nullable=False),
    Column("alert_id", String(64), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("recipient", String(140), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("status_code", Integer),
    Column("latency_ms", Float, nullable=False),
    Column("error", Text),
    Column("outcome", String(16), nullable=False),  # delivered | retry | dead | skipped
    Index("ix_delivery_attempts_alert", "alert_id", "id"),
    Index("ix_delivery_attempts_outbox", "outbox_id", "id"),  # migration 0010
    sqlite_autoincrement=True,
)

phone_codes = Table(
    "phone_codes", metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("person_id", String(64), nullable=False),
    Column("squad_id", String(64)),
    Column("unit_id", String(64)),
    Column("name", String(200), nullable=False, server_default=""),
    Column("issued_by", String(200), nullable=False, server_default=""),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("used_ms", BigInteger),
    Column("token_id", Integer),
)
