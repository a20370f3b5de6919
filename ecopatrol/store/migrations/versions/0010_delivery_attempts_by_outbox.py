"""Delivery attempts indexed by their outbox row: a worker claiming a row reads which recipients it
already reached, and without the index that read scanned every attempt ever made.

Revision ID: 0010
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_delivery_attempts_outbox", "delivery_attempts", ["outbox_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_delivery_attempts_outbox", table_name="delivery_attempts")
