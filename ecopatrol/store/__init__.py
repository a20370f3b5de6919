"""Storage: SQLAlchemy 2 Core schema, Alembic migrations, repositories.

SQLite by default, PostgreSQL (with PostGIS) by URL."""

import ecopatrol.store.alerts_schema
import ecopatrol.store.audit_schema
import ecopatrol.store.live_schema
import ecopatrol.store.reports_schema  # noqa: F401  (report tables on the shared metadata)
from ecopatrol.store.engine import Store, open_store

__all__ = ["Store", "open_store"]
