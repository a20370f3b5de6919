"""Keyed audit entries: ``audit_log.key_id`` names the audit key an entry's HMAC was made with (the
first 16 hex digits of ``sha256(b"ecopatrol-audit-key-id" + key)``); NULL for the plain-SHA-256
entries written before a key existed, which keep verifying as they are.

Adding a nullable column rewrites no row, so the ``0006`` triggers are untouched and still apply:
they name only ``seq`` and ``hash`` (the head) and refuse any UPDATE or DELETE of a row, the new
column included, on SQLite and PostgreSQL alike.

Revision ID: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("key_id", sa.String(16), nullable=True))


def downgrade() -> None:
    # Plain ALTER on both backends (SQLite 3.35+): a batch copy of the table would drop its triggers.
    op.execute("ALTER TABLE audit_log DROP COLUMN key_id")
