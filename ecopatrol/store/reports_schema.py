"""Tables of the sighting reports, on the shared ``metadata`` (migration ``0002_reports``).

Photos are BLOBs in ``report_photos`` so that a report and its photos commit in one transaction: a
report is acknowledged only when both are durable. Times are UTC epoch milliseconds (``*_ms``).

The migration also adds ``ix_fixes_grid_time`` on ``fixes`` (an expression index: ~1 km grid square,
then time) for the "did a patrol pass near here" question of ``ecopatrol.reports.context``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    text,
)

from ecopatrol.store.schema import metadata

reports = Table(
    "reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tracking_code", String(16), nullable=False, unique=True),
    Column("category", String(32), nullable=False),
    Column("details", Text, nullable=False, server_default="{}"),
    Column("observed_ms", BigInteger, nullable=False),
    Column("observed_offset_min", Integer, nullable=False, server_default="0"),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("datum", String(16), nullable=False),
    Column("location_source", String(16), nullable=False),
    Column("place_name", String(100)),
    Column("location_uncertainty_m", Float, nullable=False, server_default="0"),
    Column("description", Text, nullable=False, server_default=""),
    Column("reporter_name", String(100)),
    Column("reporter_phone", String(40)),
    Column("reporter_org", String(200)),
    Column("org", String(200)),
    Column("channel", String(16), nullable=False),
    Column("submitted_by", String(200), nullable=False, server_default=""),
    Column("submitted_token_id", Integer),
    Column("status", String(16), nullable=False),
    Column("assigned_squad_id", String(64)),
    Column("reject_reason", Text),
    Column("reach_id", String(128)),
    Column("river_name", String(200)),
    Column("dist_to_river_m", Float),
    Column("cell_id", String(64)),
    Column("township", String(128)),
    Column("zone_ids", Text, nullable=False, server_default="[]"),
    Column("patrol_within_1km_24h", Boolean, nullable=False),
    Column("nearest_patrol_m", Float),
    Column("last_patrol_unit_id", String(64)),
    Column("last_patrol_ms", BigInteger),
    Column("duplicate_of", Integer, ForeignKey("reports.id")),
    Column("flags", Text, nullable=False, server_default="[]"),
    Column("photo_count", Integer, nullable=False, server_default="0"),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("alerted_ms", BigInteger),  # when its report rules ran; NULL: still to run
    Index("ix_reports_category_observed", "category", "observed_ms"),
    Index("ix_reports_org_created", "org", "created_ms"),
    Index("ix_reports_status_created", "status", "created_ms"),
    Index("ix_reports_created", "created_ms"),
    Index("ix_reports_pending_alert", "created_ms", sqlite_where=text("alerted_ms IS NULL"),
          postgresql_where=text("alerted_ms IS NULL")),
)

report_photos = Table(
    "report_photos",
    metadata,
    Column("report_id", Integer, ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
    Column("n", Integer, primary_key=True),
    Column("filename", String(200), nullable=False, server_default=""),
    Column("content_type", String(32), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("width_px", Integer, nullable=False),
    Column("height_px", Integer, nullable=False),
    Column("exif_lon", Float),
    Column("exif_lat", Float),
    Column("exif_time_ms", BigInteger),
    Column("data", LargeBinary, nullable=False),
)

report_events = Table(
    "report_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("report_id", Integer, ForeignKey("reports.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor_role", String(16), nullable=False),
    Column("actor_name", String(200), nullable=False, server_default=""),
    Column("actor_token_id", Integer),
    Column("reason", Text),
    Column("note", Text),
    Column("squad_id", String(64)),
    Index("ix_report_events_report", "report_id", "id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_sha256", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("report_id", Integer),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_idempotency_keys_created", "created_ms"),
)
