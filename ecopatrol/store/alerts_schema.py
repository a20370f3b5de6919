"""Tables of personnel, squads, rosters, alerts, their timelines, silences and the notification outbox,
on the shared ``metadata`` (migration ``0003_alerts``).

A person is in one squad at a time (``uq_squad_members_person``); one open alert per fingerprint
(``uq_alerts_open_fingerprint``, partial). Every notification the pipeline decides on is a row in
``outbox`` (``pending`` → ``sent`` | ``dead``): this module only writes them, the delivery worker sends
them. Times are UTC epoch milliseconds (``*_ms``); JSON columns are JSONB on PostgreSQL. On PostgreSQL
the migration adds a generated PostGIS ``geom`` point to ``alerts`` for QGIS.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from ecopatrol.store.schema import metadata

Json = JSON().with_variant(JSONB(), "postgresql")
OPEN_ALERT = "state <> 'resolved'"

personnel = Table(
    "personnel", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("role", String(16), nullable=False),  # police | auxiliary
    Column("phone", String(40), nullable=False, server_default=""),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("unit_id", String(64)),  # the phone (unit) this person carries, if any
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

squads = Table(
    "squads", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("tz", String(64), nullable=False, server_default="Asia/Shanghai"),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

squad_members = Table(
    "squad_members", metadata,
    Column("squad_id", String(64), ForeignKey("squads.id", ondelete="CASCADE"), primary_key=True),
    Column("person_id", String(64), ForeignKey("personnel.id"), primary_key=True),
    UniqueConstraint("person_id", name="uq_squad_members_person"),
)

squad_shifts = Table(
    "squad_shifts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("squad_id", String(64), ForeignKey("squads.id", ondelete="CASCADE"), nullable=False),
    Column("start_hhmm", String(5), nullable=False),
    Column("end_hhmm", String(5), nullable=False),
    Column("weekdays", String(16), nullable=False, server_default="0123456"),
    Index("ix_squad_shifts_squad", "squad_id"),
)

squad_duty_windows = Table(
    "squad_duty_windows", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("squad_id", String(64), ForeignKey("squads.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(8), nullable=False),  # extra | off
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    Index("ix_squad_duty_windows_squad", "squad_id"),
)

alerts = Table(
    "alerts", metadata,
    Column("id", String(64), primary_key=True),
    Column("fingerprint", String(300), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("labels", Json, nullable=False),
    Column("evidence", Json, nullable=False),
    Column("title_zh", Text, nullable=False, server_default=""),
    Column("title_en", Text, nullable=False, server_default=""),
    Column("summary_zh", Text, nullable=False, server_default=""),
    Column("summary_en", Text, nullable=False, server_default=""),
    Column("x_m", Float),
    Column("y_m", Float),
    Column("lon", Float),
    Column("lat", Float),
    Column("squad_id", String(64)),
    Column("route", String(64)),
    Column("escalation_policy", String(64)),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("starts_ms", BigInteger, nullable=False),
    Column("acked_ms", BigInteger),
    Column("en_route_ms", BigInteger),
    Column("on_scene_ms", BigInteger),
    Column("resolved_ms", BigInteger),
    Column("outcome", String(16)),
    Column("escalation_level", Integer, nullable=False, server_default="0"),
    Column("declined_squads", Json, nullable=False),
    Column("muted_by", Json),  # {"reason", "by"} or null
    Column("overdue", String(8)),  # yellow | red as of the last write (the API computes it live)
    Column("next_check_ms", BigInteger),  # when escalation or the overdue code changes next
    Column("generation", BigInteger),  # migration 0009: alert_generation.n of the alert's last write
    Index("ix_alerts_state_created", "state", "created_ms"),
    Index("ix_alerts_generation", "generation"),
    Index("ix_alerts_squad_state", "squad_id", "state"),
    Index("ix_alerts_fingerprint", "fingerprint"),
    Index("uq_alerts_open_fingerprint", "fingerprint", unique=True,
          sqlite_where=text(OPEN_ALERT), postgresql_where=text(OPEN_ALERT)),
)

alert_events = Table(
    "alert_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(64), ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", String(40)),
    Column("data", Json, nullable=False),
    UniqueConstraint("alert_id", "seq", name="uq_alert_events_seq"),
)

silences = Table(
    "silences", metadata,
    Column("id", String(64), primary_key=True),
    Column("matchers", Json, nullable=False),  # ["township=\"…\"", …]
    Column("starts_ms", BigInteger, nullable=False),
    Column("ends_ms", BigInteger, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Index("ix_silences_ends", "ends_ms"),
)

outbox = Table(
    "outbox", metadata,
    Column("id", String(64), primary_key=True),  # the notification id (delivery id for webhooks)
    Column("alert_id", String(64), ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("recipient_kind", String(16), nullable=False),  # squad | person | role
    Column("recipient", String(100), nullable=False),
    Column("event", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("payload", Json, nullable=False),
    Column("state", String(8), nullable=False, server_default="pending"),  # pending | sent | dead
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_ms", BigInteger, nullable=False),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("latency_ms", Float),
    Column("created_ms", BigInteger, nullable=False),
    Column("sent_ms", BigInteger),
    Index("ix_outbox_state_next", "state", "next_attempt_ms"),
    Index("ix_outbox_alert", "alert_id"),
)

ALERT_TABLES = (personnel, squads, squad_members, squad_shifts, squad_duty_windows, alerts,
                alert_events, silences, outbox)

alert_photos = Table(  # migration 0007: photos taken when an alert is resolved
    "alert_photos",
    metadata,
    Column("alert_id", String(64), primary_key=True),
    Column("n", Integer, primary_key=True),
    Column("filename", String(200), nullable=False),
    Column("content_type", String(32), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
)

alert_generation = Table(  # migration 0008: one row, bumped by every transaction that writes alerts
    "alert_generation",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("n", BigInteger, nullable=False),
)

squad_generation = Table(  # migration 0012: one row, moved by triggers when what load_squads reads changes
    "squad_generation",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("n", BigInteger, nullable=False),
)
