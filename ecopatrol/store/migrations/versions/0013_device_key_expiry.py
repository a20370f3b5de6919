"""Device keys expire and can be revoked, like tokens: ``key_expires_ms`` (NULL: never, for devices
registered before this revision and for keyless Traccar / OsmAnd devices) and ``revoked_ms`` (NULL: in
use; a revoked device id is refused on every phone protocol until it is registered again).

Revision ID: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("devices", sa.Column("key_expires_ms", sa.BigInteger, nullable=True))
    op.add_column("devices", sa.Column("revoked_ms", sa.BigInteger, nullable=True))


def downgrade() -> None:
    op.drop_column("devices", "revoked_ms")
    op.drop_column("devices", "key_expires_ms")
