"""Failed authentications by client address, in the database: every API process adds its failures and
reads back the client's count, so the brake on guessing credentials holds across processes and
restarts (the check itself stays in memory).

Revision ID: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_failures",
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_auth_failures_client", "auth_failures", ["client", "at_ms"])
    op.create_index("ix_auth_failures_at", "auth_failures", ["at_ms"])


def downgrade() -> None:
    op.drop_index("ix_auth_failures_at", table_name="auth_failures")
    op.drop_index("ix_auth_failures_client", table_name="auth_failures")
    op.drop_table("auth_failures")
