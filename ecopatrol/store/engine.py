"""Opening the database: engine, SQLite pragmas, migrations to head."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event

if TYPE_CHECKING:
    from ecopatrol.audit.chain import AuditKey

MIGRATIONS = Path(__file__).parent / "migrations"
#: the execution option that carries a store's audit key to the trail's append (``ecopatrol.audit.trail``)
AUDIT_KEY_OPTION = "ecopatrol_audit_key"


class Store:
    """The database handle the application passes around: an engine and a write lock.

    SQLite allows one writer: writes in this process are serialized by ``write_lock`` so that a busy
    ingest never fails with ``database is locked``. PostgreSQL writers run concurrently.

    PostgreSQL reads run in autocommit: at READ COMMITTED every statement sees its own snapshot anyway,
    and a read then costs one round trip instead of three (BEGIN, the query, ROLLBACK). SQLite reads
    keep their transaction (one snapshot for the whole read).

    ``audit_key`` (``with_audit_key``) rides on every connection of ``write`` and ``read`` as the
    ``AUDIT_KEY_OPTION`` execution option: the evidence trail keys the entries those transactions
    append with it (None: plain SHA-256 entries).
    """

    def __init__(self, engine: Engine, *, audit_key: AuditKey | None = None,
                 write_lock: AbstractContextManager[object] | None = None) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.audit_key = audit_key
        self.write_lock: AbstractContextManager[object] = write_lock if write_lock is not None \
            else threading.RLock() if self.dialect == "sqlite" else _NoLock()
        keyed = {AUDIT_KEY_OPTION: audit_key} if audit_key is not None else {}
        self._write_engine = engine.execution_options(**keyed) if keyed else engine
        self._read_engine = engine.execution_options(isolation_level="AUTOCOMMIT", **keyed) \
            if self.dialect == "postgresql" else self._write_engine

    def with_audit_key(self, key: AuditKey | None) -> Store:
        """This database with its audit entries keyed with ``key``: the same engine, pool and write
        lock (the store itself is left as it is)."""
        return Store(self.engine, audit_key=key, write_lock=self.write_lock)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that commits on success (durable before the caller acknowledges)."""
        with self.write_lock, self._write_engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self._read_engine.connect() as conn:
            yield conn

    def migrate(self) -> None:
        """Bring the schema to the newest migration."""
        with self.write_lock, self.engine.begin() as conn:
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def dispose(self) -> None:
        self.engine.dispose()


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def open_store(url: str, *, migrate: bool = True, sqlite_synchronous: str = "FULL") -> Store:
    """Create the engine for ``url`` (creating a SQLite file's folder) and migrate to head."""
    if url.startswith("sqlite:///") and ":memory:" not in url:
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    kwargs: dict[str, object] = {"future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        # No pre-ping (a round trip per checkout): a connection found dead raises, which invalidates
        # the whole pool, so after a database restart one request answers 503 and is resent.
        kwargs.update(pool_size=10, max_overflow=20)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _sqlite_pragmas(engine, sqlite_synchronous)
    store = Store(engine)
    if migrate:
        store.migrate()
    return store


def _sqlite_pragmas(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        # 64 MiB of page cache per connection (the default is 2 MiB): the fixes table's two b-trees
        # stay in memory while a large batch goes in, which halves its insert time.
        cur.execute("PRAGMA cache_size=-65536")
        cur.close()
