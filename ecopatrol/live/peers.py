"""Live events from other API processes: PostgreSQL LISTEN/NOTIFY.

``append_change`` NOTIFYs the new ``live_events`` ids in the transaction that inserts them, so the
notification goes out exactly when the rows commit. Each process's hub runs one ``PeerListener``: a
thread holding its own autocommit connection that LISTENs and hands the ids on. After a lost
connection it reconnects with backoff and asks for the rows it may have missed (``on_reconnect``);
the hub drops ids it has already fanned out, so an event reaches each stream once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import URL

from ecopatrol.live.eventlog import NOTIFY_CHANNEL

log = logging.getLogger("ecopatrol.live")


def libpq_url(url: URL) -> str:
    """A SQLAlchemy PostgreSQL URL as psycopg itself takes it."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PeerListener:
    def __init__(self, url: str, on_ids: Callable[[list[int]], None],
                 on_reconnect: Callable[[], None], *, poll_s: float = 0.5) -> None:
        self.url = url
        self.on_ids = on_ids
        self.on_reconnect = on_reconnect
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="live-peers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.poll_s * 4)
        self._thread = None

    def _run(self) -> None:
        backoff, first = 0.5, True
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.connected.set()
                    if not first:
                        self.on_reconnect()
                    first, backoff = False, 0.5
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=self.poll_s):
                            self.on_ids([int(i) for i in note.payload.split(",") if i])
            except Exception as exc:  # the database restarted or the network dropped: listen again
                self.connected.clear()
                if self._stop.is_set():
                    return
                log.warning("live peer listener lost its connection (%s); retrying in %.1f s", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
