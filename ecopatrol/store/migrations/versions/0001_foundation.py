"""Foundation: units, devices, fixes, layers, coverage, tokens.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MS = sa.BigInteger


def upgrade() -> None:
    op.create_table(
        "units",
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("datum", sa.String(16), nullable=False, server_default="wgs84"),
        sa.Column("squad_id", sa.String(64), nullable=True),
        sa.Column("created_ms", MS, nullable=False),
    )
    op.create_table(
        "devices",
        sa.Column("device_id", sa.String(128), primary_key=True),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(128), nullable=True),
        sa.Column("created_ms", MS, nullable=False),
    )
    op.create_index("ix_devices_unit_id", "devices", ["unit_id"])
    op.create_table(
        "fixes",
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("time_ms", MS, primary_key=True),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("accuracy_m", sa.Float),
        sa.Column("speed_mps", sa.Float),
        sa.Column("bearing_deg", sa.Float),
        sa.Column("altitude_m", sa.Float),
        sa.Column("battery_pct", sa.Float),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("outlier", sa.Boolean, nullable=False),
        sa.Column("reach_id", sa.String(128)),
        sa.Column("cell_id", sa.String(64)),
        sa.Column("township", sa.String(128)),
        sa.Column("received_ms", MS, nullable=False),
    )
    op.create_table(
        "rejected_fixes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("time_ms", MS),
        sa.Column("lon", sa.Float),
        sa.Column("lat", sa.Float),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("received_ms", MS, nullable=False),
    )
    op.create_index("ix_rejected_fixes_unit", "rejected_fixes", ["unit_id", "received_ms"])
    op.create_table(
        "layer_features",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("feature_id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("priority", sa.String(16), nullable=False, server_default="normal"),
        sa.Column("size", sa.Float, nullable=False, server_default="0"),
        sa.Column("props", sa.Text, nullable=False, server_default="{}"),
        sa.Column("wkb", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "layer_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("feature_count", sa.Integer, nullable=False),
        sa.Column("imported_ms", MS, nullable=False),
    )
    op.create_table(
        "coverage",
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("feature_id", sa.String(128), primary_key=True),
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("mode", sa.String(16), primary_key=True),
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("km", sa.Float, nullable=False),
        sa.Column("hours", sa.Float, nullable=False),
        sa.Column("passes", sa.Integer, nullable=False),
        sa.Column("first_ms", MS, nullable=False),
        sa.Column("last_ms", MS, nullable=False),
    )
    op.create_index("ix_coverage_day", "coverage", ["day"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("org", sa.String(200)),
        sa.Column("unit_id", sa.String(64)),
        sa.Column("squad_id", sa.String(64)),
        sa.Column("person_id", sa.String(64)),
        sa.Column("created_ms", MS, nullable=False),
        sa.Column("expires_ms", MS),
        sa.Column("revoked_ms", MS),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgis_columns()


def _postgis_columns() -> None:
    """Generated PostGIS geometry and timestamptz columns for QGIS; the application never writes them."""
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute(
        "ALTER TABLE fixes ADD COLUMN geom geometry(Point, 4326) GENERATED ALWAYS AS "
        "(ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED, "
        "ADD COLUMN fix_time timestamptz GENERATED ALWAYS AS (to_timestamp(time_ms / 1000.0)) STORED"
    )
    op.execute("CREATE INDEX ix_fixes_geom ON fixes USING gist (geom)")
    op.execute(
        "ALTER TABLE layer_features ADD COLUMN geom geometry(Geometry, 4326) GENERATED ALWAYS AS "
        "(ST_GeomFromWKB(wkb, 4326)) STORED"
    )
    op.execute("CREATE INDEX ix_layer_features_geom ON layer_features USING gist (geom)")
