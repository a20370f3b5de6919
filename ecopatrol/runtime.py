"""The application's wiring: settings, store, clock and the in-memory layer index, built once and injected."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ecopatrol.audit.chain import AuditKey
from ecopatrol.config import Settings
from ecopatrol.events import EventBus
from ecopatrol.store import Store, open_store

LAYERS_CHECK_S = 1.0


def system_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Runtime:
    """Everything a request handler, a job or a CLI command needs. ``clock`` is injectable for tests.

    The audit key travels with the store (``Store.with_audit_key``): ``build_runtime`` loads it, a
    runtime built by hand on a store without one writes plain SHA-256 audit entries."""

    settings: Settings
    store: Store
    clock: Callable[[], int] = system_clock_ms
    events: EventBus = field(default_factory=EventBus)
    _layers: object = field(default=None, repr=False)
    _layers_version: int = -1
    _checked_at: float = -1e9
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def now_ms(self) -> int:
        return self.clock()

    @property
    def audit_key(self) -> AuditKey | None:
        """The key this runtime's audit entries are keyed with."""
        return self.store.audit_key

    def layer_index(self):  # type: ignore[no-untyped-def]
        """The layers and their placer, reloaded when an import changed them (any process: the
        version is looked up at most once a second)."""
        from ecopatrol.layer_index import load_layer_index
        from ecopatrol.store.layers_repo import layers_version

        now = time.monotonic()
        if self._layers is not None and now - self._checked_at < LAYERS_CHECK_S:
            return self._layers
        with self.store.read() as conn:
            version = layers_version(conn)
        self._checked_at = now
        with self._lock:
            if self._layers is None or version != self._layers_version:
                self._layers = load_layer_index(self.store, self.settings)
                self._layers_version = version
            return self._layers

    def layers_changed(self) -> None:
        """This process imported layers: look at the version on the next ``layer_index()``."""
        self._checked_at = -1e9

    def close(self) -> None:
        self.store.dispose()


def build_runtime(settings: Settings, *, clock: Callable[[], int] | None = None) -> Runtime:
    """Open (and migrate) the database and load the audit key, making it at the first start
    (``AuditKeyError``, a ``ConfigError`` naming the file, when it is unusable)."""
    from ecopatrol.audit.keys import open_audit_key

    store = open_store(settings.database_url, sqlite_synchronous=settings.database.sqlite_synchronous)
    try:
        key = open_audit_key(settings.audit_key_path, store)
    except Exception:
        store.dispose()
        raise
    return Runtime(settings=settings, store=store.with_audit_key(key), clock=clock or system_clock_ms)
