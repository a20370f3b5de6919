"""Storage: SQLAlchemy 2 Core schema, Alembic migrations, repositories.

SQLite by default, PostgreSQL (with PostGIS) by URL."""

from ecopatrol.store.engine import Store, open_store

__all__ = ["Store", "open_store"]
