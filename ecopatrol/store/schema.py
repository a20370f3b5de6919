"""The relational schema (SQLAlchemy Core). Times are UTC epoch milliseconds (``*_ms``); geometries are
WGS-84 WKB. On PostgreSQL, migrations add generated PostGIS ``geom`` and ``timestamptz`` columns with GiST
indexes so analysts can open the tables in QGIS; the application never writes them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

units = Table(
    "units", metadata,
    Column("unit_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False, server_default=""),
    Column("mode", String(16), nullable=False),
    Column("datum", String(16), nullable=False, server_default="wgs84"),
    Column("squad_id", String(64), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
)

devices = Table(
    "devices", metadata,
    Column("device_id", String(128), primary_key=True),
    Column("unit_id", String(64), nullable=False, index=True),
    Column("key_hash", String(128), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("key_expires_ms", BigInteger, nullable=True),
    Column("revoked_ms", BigInteger, nullable=True),
)

fixes = Table(
    "fixes", metadata,
    Column("unit_id", String(64), primary_key=True),
    Column("time_ms", BigInteger, primary_key=True),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("accuracy_m", Float),
    Column("speed_mps", Float),
    Column("bearing_deg", Float),
    Column("altitude_m", Float),
    Column("battery_pct", Float),
    Column("source", String(32), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("outlier", Boolean, nullable=False),
    Column("reach_id", String(128)),
    Column("cell_id", String(64)),
    Column("township", String(128)),
    Column("received_ms", BigInteger, nullable=False),
)

rejected_fixes = Table(
    "rejected_fixes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("unit_id", String(64), nullable=False),
    Column("time_ms", BigInteger),
    Column("lon", Float),
    Column("lat", Float),
    Column("source", String(32), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    Index("ix_rejected_fixes_unit", "unit_id", "received_ms"),
)

layer_features = Table(
    "layer_features", metadata,
    Column("kind", String(16), primary_key=True),
    Column("feature_id", String(128), primary_key=True),
    Column("name", String(200), nullable=False, server_default=""),
    Column("priority", String(16), nullable=False, server_default="normal"),
    Column("size", Float, nullable=False, server_default="0"),
    Column("props", Text, nullable=False, server_default="{}"),
    Column("wkb", LargeBinary, nullable=False),
)

layer_versions = Table(
    "layer_versions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("source", String(500), nullable=False),
    Column("feature_count", Integer, nullable=False),
    Column("imported_ms", BigInteger, nullable=False),
)

coverage = Table(
    "coverage", metadata,
    Column("kind", String(8), primary_key=True),
    Column("feature_id", String(128), primary_key=True),
    Column("unit_id", String(64), primary_key=True),
    Column("mode", String(16), primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("km", Float, nullable=False),
    Column("hours", Float, nullable=False),
    Column("passes", Integer, nullable=False),
    Column("first_ms", BigInteger, nullable=False),
    Column("last_ms", BigInteger, nullable=False),
    Index("ix_coverage_day", "day"),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("name", String(200), nullable=False, server_default=""),
    Column("org", String(200)),
    Column("unit_id", String(64)),
    Column("squad_id", String(64)),
    Column("person_id", String(64)),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger),
    Column("revoked_ms", BigInteger),
)

#: failed authentications by client address, shared by every API process (``ecopatrol.api.auth_guard``);
#: rows older than ``auth.window_s`` are deleted now and then, so the table stays small
auth_failures = Table(
    "auth_failures", metadata,
    Column("client", String(64), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Index("ix_auth_failures_client", "client", "at_ms"),
    Index("ix_auth_failures_at", "at_ms"),
)
