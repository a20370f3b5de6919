"""The live layer: the alert stream's event log, the outbox's delivery attempts, phone sign-in codes.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MS = sa.BigInteger
EVENT_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "live_events",
        sa.Column("id", EVENT_ID, primary_key=True, autoincrement=True),
        sa.Column("at_ms", MS, nullable=False),
        sa.Column("topic", sa.String(32), nullable=False),
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("squad_id", sa.String(64)),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_live_events_squad", "live_events", ["squad_id", "id"])
    op.create_index("ix_live_events_alert", "live_events", ["alert_id", "id"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", EVENT_ID, primary_key=True, autoincrement=True),
        sa.Column("outbox_id", sa.String(64), nullable=False),
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(140), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("at_ms", MS, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("outcome", sa.String(16), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_delivery_attempts_alert", "delivery_attempts", ["alert_id", "id"])
    op.create_table(
        "phone_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("squad_id", sa.String(64)),
        sa.Column("unit_id", sa.String(64)),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("issued_by", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_ms", MS, nullable=False),
        sa.Column("expires_ms", MS, nullable=False),
        sa.Column("used_ms", MS),
        sa.Column("token_id", sa.Integer),
    )


def downgrade() -> None:
    for table in ("phone_codes", "delivery_attempts", "live_events"):
        op.drop_table(table)
