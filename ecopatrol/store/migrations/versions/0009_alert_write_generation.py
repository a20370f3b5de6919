"""Each alert row carries the write counter of its last write, so a process whose memory of the open
alerts is a few writes behind (another process ran the pipeline) reads only the alerts written since.

Revision ID: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("generation", sa.BigInteger))
    op.create_index("ix_alerts_generation", "alerts", ["generation"])


def downgrade() -> None:
    op.drop_index("ix_alerts_generation", table_name="alerts")
    op.drop_column("alerts", "generation")
