"""Alerts: personnel, squads (members, shifts, duty windows), alerts and their timeline events,
silences, and the notification outbox; a generated PostGIS point on alerts.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MS = sa.BigInteger
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
OPEN_ALERT = "state <> 'resolved'"


def upgrade() -> None:
    _people()
    _alerts()
    _silences_and_outbox()
    if op.get_bind().dialect.name == "postgresql":
        _postgis_columns()


def _people() -> None:
    op.create_table(
        "personnel",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("phone", sa.String(40), nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("unit_id", sa.String(64)),
        sa.Column("created_ms", MS, nullable=False),
        sa.Column("updated_ms", MS, nullable=False),
    )
    op.create_table(
        "squads",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("tz", sa.String(64), nullable=False, server_default="Asia/Shanghai"),
        sa.Column("created_ms", MS, nullable=False),
        sa.Column("updated_ms", MS, nullable=False),
    )
    op.create_table(
        "squad_members",
        sa.Column("squad_id", sa.String(64), sa.ForeignKey("squads.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("person_id", sa.String(64), sa.ForeignKey("personnel.id"), primary_key=True),
        sa.UniqueConstraint("person_id", name="uq_squad_members_person"),
    )
    op.create_table(
        "squad_shifts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("squad_id", sa.String(64), sa.ForeignKey("squads.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("start_hhmm", sa.String(5), nullable=False),
        sa.Column("end_hhmm", sa.String(5), nullable=False),
        sa.Column("weekdays", sa.String(16), nullable=False, server_default="0123456"),
    )
    op.create_index("ix_squad_shifts_squad", "squad_shifts", ["squad_id"])
    op.create_table(
        "squad_duty_windows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("squad_id", sa.String(64), sa.ForeignKey("squads.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("start_ms", MS, nullable=False),
        sa.Column("end_ms", MS, nullable=False),
    )
    op.create_index("ix_squad_duty_windows_squad", "squad_duty_windows", ["squad_id"])


def _alerts() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("fingerprint", sa.String(300), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("title_zh", sa.Text, nullable=False, server_default=""),
        sa.Column("title_en", sa.Text, nullable=False, server_default=""),
        sa.Column("summary_zh", sa.Text, nullable=False, server_default=""),
        sa.Column("summary_en", sa.Text, nullable=False, server_default=""),
        sa.Column("x_m", sa.Float),
        sa.Column("y_m", sa.Float),
        sa.Column("lon", sa.Float),
        sa.Column("lat", sa.Float),
        sa.Column("squad_id", sa.String(64)),
        sa.Column("route", sa.String(64)),
        sa.Column("escalation_policy", sa.String(64)),
        sa.Column("created_ms", MS, nullable=False),
        sa.Column("updated_ms", MS, nullable=False),
        sa.Column("starts_ms", MS, nullable=False),
        sa.Column("acked_ms", MS),
        sa.Column("en_route_ms", MS),
        sa.Column("on_scene_ms", MS),
        sa.Column("resolved_ms", MS),
        sa.Column("outcome", sa.String(16)),
        sa.Column("escalation_level", sa.Integer, nullable=False, server_default="0"),
        sa.Column("declined_squads", JSON, nullable=False),
        sa.Column("muted_by", JSON),
        sa.Column("overdue", sa.String(8)),
        sa.Column("next_check_ms", MS),
    )
    op.create_index("ix_alerts_state_created", "alerts", ["state", "created_ms"])
    op.create_index("ix_alerts_squad_state", "alerts", ["squad_id", "state"])
    op.create_index("ix_alerts_fingerprint", "alerts", ["fingerprint"])
    op.create_index("uq_alerts_open_fingerprint", "alerts", ["fingerprint"], unique=True,
                    sqlite_where=sa.text(OPEN_ALERT), postgresql_where=sa.text(OPEN_ALERT))
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(64), sa.ForeignKey("alerts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at_ms", MS, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(40)),
        sa.Column("data", JSON, nullable=False),
        sa.UniqueConstraint("alert_id", "seq", name="uq_alert_events_seq"),
    )


def _silences_and_outbox() -> None:
    op.create_table(
        "silences",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("matchers", JSON, nullable=False),
        sa.Column("starts_ms", MS, nullable=False),
        sa.Column("ends_ms", MS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_ms", MS, nullable=False),
        sa.Column("updated_ms", MS, nullable=False),
    )
    op.create_index("ix_silences_ends", "silences", ["ends_ms"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("alert_id", sa.String(64), sa.ForeignKey("alerts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("recipient_kind", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(100), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("state", sa.String(8), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_ms", MS, nullable=False),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("latency_ms", sa.Float),
        sa.Column("created_ms", MS, nullable=False),
        sa.Column("sent_ms", MS),
    )
    op.create_index("ix_outbox_state_next", "outbox", ["state", "next_attempt_ms"])
    op.create_index("ix_outbox_alert", "outbox", ["alert_id"])


def _postgis_columns() -> None:
    """A generated PostGIS point and timestamptz on alerts for QGIS; the application never writes them."""
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute(
        "ALTER TABLE alerts ADD COLUMN geom geometry(Point, 4326) GENERATED ALWAYS AS "
        "(ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED, "
        "ADD COLUMN created_time timestamptz GENERATED ALWAYS AS (to_timestamp(created_ms / 1000.0)) STORED"
    )
    op.execute("CREATE INDEX ix_alerts_geom ON alerts USING gist (geom)")


def downgrade() -> None:
    for table in ("outbox", "silences", "alert_events", "alerts", "squad_duty_windows", "squad_shifts",
                  "squad_members", "squads", "personnel"):
        op.drop_table(table)
