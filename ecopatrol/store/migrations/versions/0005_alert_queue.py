"""Reports remember when their report rules ran (``alerted_ms``): a report committed but not yet
evaluated (the process died in between) is picked up again when the alert worker starts.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reports", sa.Column("alerted_ms", sa.BigInteger))
    # Reports stored before this revision were evaluated at commit, as the code then did.
    op.execute("UPDATE reports SET alerted_ms = created_ms")
    op.create_index("ix_reports_pending_alert", "reports", ["created_ms"],
                    sqlite_where=sa.text("alerted_ms IS NULL"),
                    postgresql_where=sa.text("alerted_ms IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_reports_pending_alert", table_name="reports")
    op.drop_column("reports", "alerted_ms")
