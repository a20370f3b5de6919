"""Sighting reports: reports, their photos (BLOBs), their timeline, idempotency keys; an index on
fixes by grid square and time for the "patrol passed nearby" question.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MS = sa.BigInteger
#: fixes by ~1 km grid square (0.01°) then time: "did a patrol pass near here lately?" seeks a few
#: squares instead of scanning a day of fixes (see ecopatrol.reports.context)
GRID_INDEX_COLUMNS = "(CAST(lat * 100 AS INTEGER)), (CAST(lon * 100 AS INTEGER)), time_ms"


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tracking_code", sa.String(16), nullable=False, unique=True),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("details", sa.Text, nullable=False, server_default="{}"),
        sa.Column("observed_ms", MS, nullable=False),
        sa.Column("observed_offset_min", sa.Integer, nullable=False, server_default="0"),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("datum", sa.String(16), nullable=False),
        sa.Column("location_source", sa.String(16), nullable=False),
        sa.Column("place_name", sa.String(100)),
        sa.Column("location_uncertainty_m", sa.Float, nullable=False, server_default="0"),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("reporter_name", sa.String(100)),
        sa.Column("reporter_phone", sa.String(40)),
        sa.Column("reporter_org", sa.String(200)),
        sa.Column("org", sa.String(200)),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("submitted_by", sa.String(200), nullable=False, server_default=""),
        sa.Column("submitted_token_id", sa.Integer),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assigned_squad_id", sa.String(64)),
        sa.Column("reject_reason", sa.Text),
        sa.Column("reach_id", sa.String(128)),
        sa.Column("river_name", sa.String(200)),
        sa.Column("dist_to_river_m", sa.Float),
        sa.Column("cell_id", sa.String(64)),
        sa.Column("township", sa.String(128)),
        sa.Column("zone_ids", sa.Text, nullable=False, server_default="[]"),
        sa.Column("patrol_within_1km_24h", sa.Boolean, nullable=False),
        sa.Column("nearest_patrol_m", sa.Float),
        sa.Column("last_patrol_unit_id", sa.String(64)),
        sa.Column("last_patrol_ms", MS),
        sa.Column("duplicate_of", sa.Integer, sa.ForeignKey("reports.id")),
        sa.Column("flags", sa.Text, nullable=False, server_default="[]"),
        sa.Column("photo_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_ms", MS, nullable=False),
        sa.Column("updated_ms", MS, nullable=False),
    )
    op.create_index("ix_reports_category_observed", "reports", ["category", "observed_ms"])
    op.create_index("ix_reports_org_created", "reports", ["org", "created_ms"])
    op.create_index("ix_reports_status_created", "reports", ["status", "created_ms"])
    op.create_index("ix_reports_created", "reports", ["created_ms"])
    op.create_table(
        "report_photos",
        sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("n", sa.Integer, primary_key=True),
        sa.Column("filename", sa.String(200), nullable=False, server_default=""),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("width_px", sa.Integer, nullable=False),
        sa.Column("height_px", sa.Integer, nullable=False),
        sa.Column("exif_lon", sa.Float),
        sa.Column("exif_lat", sa.Float),
        sa.Column("exif_time_ms", MS),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "report_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("at_ms", MS, nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("actor_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("actor_token_id", sa.Integer),
        sa.Column("reason", sa.Text),
        sa.Column("note", sa.Text),
        sa.Column("squad_id", sa.String(64)),
    )
    op.create_index("ix_report_events_report", "report_events", ["report_id", "id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response", sa.Text, nullable=False),
        sa.Column("report_id", sa.Integer),
        sa.Column("created_ms", MS, nullable=False),
    )
    op.create_index("ix_idempotency_keys_created", "idempotency_keys", ["created_ms"])
    op.execute(f"CREATE INDEX ix_fixes_grid_time ON fixes ({GRID_INDEX_COLUMNS})")
    if op.get_bind().dialect.name == "postgresql":
        _postgis_columns()


def _postgis_columns() -> None:
    """Generated PostGIS geometry and timestamptz columns for QGIS; the application never writes them."""
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute(
        "ALTER TABLE reports ADD COLUMN geom geometry(Point, 4326) GENERATED ALWAYS AS "
        "(ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED, "
        "ADD COLUMN observed_time timestamptz GENERATED ALWAYS AS (to_timestamp(observed_ms / 1000.0)) STORED"
    )
    op.execute("CREATE INDEX ix_reports_geom ON reports USING gist (geom)")


def downgrade() -> None:
    op.drop_index("ix_fixes_grid_time", table_name="fixes")
    for table in ("idempotency_keys", "report_events", "report_photos", "reports"):
        op.drop_table(table)
