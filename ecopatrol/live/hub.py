"""The Server-Sent-Events hub: alert changes fanned out to squads' phones and commanders.

Every alert change (``alerts.changed``, published by the alerting service in a worker thread after
its commit, with every alert the commit changed) is first appended to ``live_events`` in one
transaction — its row id is the SSE event id — and then handed to the event
loop with ``loop.call_soon_threadsafe``. One pump task fans events out in id order to the
subscribers of the alert's squad and to commanders (who see every squad). A reassigned alert also
gets a row for the squad it left, so that squad's phones drop it.

Each subscriber has a bounded queue: a client that cannot keep up is dropped (its stream ends);
it reconnects with ``Last-Event-ID`` and replays from the log. Because the log is in the store,
replay also works across a server restart. On PostgreSQL, rows logged by other API processes arrive
through LISTEN/NOTIFY (``ecopatrol.live.peers``); ids already fanned out are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ecopatrol.live import eventlog as event_log
from ecopatrol.live.peers import PeerListener, libpq_url
from ecopatrol.live.views import AlertViews
from ecopatrol.runtime import Runtime

log = logging.getLogger("ecopatrol.live")

Topic = Literal["alert.changed", "alert.reassigned"]
HEARTBEAT_S = 15.0
QUEUE_SIZE = 256
RETRY_MS = 1000
PRUNE_EVERY_S = 3600.0
_REMEMBER_IDS = 50_000


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One event as sent: ``data`` is the JSON text (``{"alert_id", "squad_id", "alert"}``)."""

    id: int
    topic: str
    alert_id: str
    squad_id: str | None
    data: str

    def frame(self) -> bytes:
        return f"id: {self.id}\nevent: {self.topic}\ndata: {self.data}\n\n".encode()


@dataclass(eq=False)
class Subscriber:
    """One open stream: a squad's phone (``squad_id``) or a commander (``squad_id`` None: all)."""

    squad_id: str | None
    queue: asyncio.Queue[LiveEvent] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: asyncio.Event = field(default_factory=asyncio.Event)

    def wants(self, event: LiveEvent) -> bool:
        return self.squad_id is None or event.squad_id == self.squad_id


class LiveHub:
    """Owns the subscribers; ``start()``/``stop()`` from the app's lifespan (in the event loop)."""

    def __init__(self, runtime: Runtime, views: AlertViews, *, heartbeat_s: float = HEARTBEAT_S,
                 queue_size: int = QUEUE_SIZE, keep_days: float = 7.0) -> None:
        self.runtime = runtime
        self.views = views
        self.heartbeat_s = heartbeat_s
        self.queue_size = queue_size
        self.keep_days = keep_days
        self.subscribers: set[Subscriber] = set()
        self.dropped_total = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._incoming: asyncio.Queue[list[event_log.Row]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._write_lock = threading.Lock()
        self._subscribed = False
        self._fanned: set[int] = set()  # ids already fanned out (local and peers' copies meet here)
        self._fanned_order: deque[int] = deque()
        self._peers: PeerListener | None = None

    # ------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._incoming = asyncio.Queue()
        if not self._subscribed:  # the bus has no unsubscribe: a stopped hub ignores events
            self.runtime.events.subscribe("alerts.changed", self._on_alerts_changed)
            self._subscribed = True
        self._tasks = [asyncio.create_task(self._pump(), name="live-pump"),
                       asyncio.create_task(self._prune_loop(), name="live-prune")]
        if self.runtime.store.dialect == "postgresql":
            self._peers = PeerListener(libpq_url(self.runtime.store.engine.url), self._from_peers,
                                       self._peers_missed)
            self._peers.start()

    async def stop(self) -> None:
        self._loop = None
        if self._peers is not None:
            await asyncio.to_thread(self._peers.stop)
            self._peers = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for sub in list(self.subscribers):
            sub.dropped.set()
        self.subscribers.clear()

    # ------------------------------------------------------------------ from the alerting service

    def _on_alerts_changed(self, _topic: str, payload: dict[str, Any]) -> None:
        """Runs in the publisher's thread, after its commit: persist (also while the hub is stopped,
        so a later replay has it), then hand over to the loop."""
        self.record_many([(str(c["alert_id"]), c.get("squad_id")) for c in payload["changes"]])

    def record(self, alert_id: str, squad_id: str | None) -> list[event_log.Row]:
        """Append one change to the log and schedule its fan-out (thread-safe)."""
        return self.record_many([(alert_id, squad_id)])

    def record_many(self, changes: Sequence[tuple[str, str | None]]) -> list[event_log.Row]:
        """Append changes to the log in one transaction and schedule their fan-out (thread-safe; ids
        in fan-out order)."""
        with self._write_lock:
            rows = event_log.append_changes(self.runtime.store, [
                (alert_id, None if squad_id is None else str(squad_id)) for alert_id, squad_id in changes],
                now_ms=self.runtime.now_ms())
            loop, incoming = self._loop, self._incoming
            if rows and loop is not None and incoming is not None:
                with contextlib.suppress(RuntimeError):  # the loop closed: the rows wait in the log
                    loop.call_soon_threadsafe(incoming.put_nowait, rows)
        return rows

    def _from_peers(self, ids: list[int]) -> None:
        """Listener thread: rows logged by any process (this one's too: they are dropped as seen)."""
        with self.runtime.store.read() as conn:
            self._hand_over(event_log.by_ids(conn, ids))

    def _peers_missed(self) -> None:
        """After the listener reconnected: the recent rows, in case a notification was lost."""
        after = max(self._fanned_order, default=0) - 1000
        with self.runtime.store.read() as conn:
            self._hand_over(event_log.since(conn, max(after, 0), None))

    def _hand_over(self, rows: list[event_log.Row]) -> None:
        loop, incoming = self._loop, self._incoming
        if rows and loop is not None and incoming is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(incoming.put_nowait, rows)

    # ------------------------------------------------------------------------------- fan-out

    async def _pump(self) -> None:
        assert self._incoming is not None
        while True:
            rows = await self._incoming.get()
            while not self._incoming.empty():
                rows = rows + self._incoming.get_nowait()
            rows = self._unseen(rows)
            if not rows:
                continue
            try:
                events = await asyncio.to_thread(self._materialize, rows)
            except Exception:
                log.exception("could not read the alerts of %d live events", len(rows))
                continue
            for event in events:
                self._fan_out(event)

    def _unseen(self, rows: list[event_log.Row]) -> list[event_log.Row]:
        fresh = []
        for row in sorted(rows, key=lambda r: r.id):
            if row.id in self._fanned:
                continue
            fresh.append(row)
            self._fanned.add(row.id)
            self._fanned_order.append(row.id)
        while len(self._fanned_order) > _REMEMBER_IDS:
            self._fanned.discard(self._fanned_order.popleft())
        return fresh

    def _materialize(self, rows: Sequence[event_log.Row]) -> list[LiveEvent]:
        with self.runtime.store.read() as conn:
            views = self.views.get_many(conn, sorted({r.alert_id for r in rows}), self.runtime.now_ms())
        return [to_event(r, views.get(r.alert_id)) for r in rows]

    def _fan_out(self, event: LiveEvent) -> None:
        for sub in list(self.subscribers):
            if not sub.wants(event):
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                self._drop(sub)

    def _drop(self, sub: Subscriber) -> None:
        log.warning("dropping a slow live client (squad %s): it will reconnect and replay", sub.squad_id)
        self.subscribers.discard(sub)
        self.dropped_total += 1
        sub.dropped.set()

    async def _prune_loop(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_EVERY_S)
            cutoff = self.runtime.now_ms() - int(self.keep_days * 86_400_000)
            try:
                await asyncio.to_thread(event_log.prune, self.runtime.store, before_ms=cutoff)
            except Exception:
                log.exception("pruning live events failed")

    # -------------------------------------------------------------------------------- streams

    async def stream(self, squad_id: str | None, last_event_id: int | None,
                     still_allowed: Callable[[], Awaitable[bool]] | None = None) -> AsyncIterator[bytes]:
        """The SSE byte stream of one client: replay (or a snapshot), then live events and heartbeats.
        ``still_allowed`` is asked at every heartbeat (a revoked token ends the stream)."""
        sub = Subscriber(squad_id, asyncio.Queue(self.queue_size))
        self.subscribers.add(sub)  # before reading the log: nothing falls between the two
        try:
            yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
            sent_up_to = 0
            for event in await asyncio.to_thread(self._catch_up, squad_id, last_event_id):
                sent_up_to = max(sent_up_to, event.id)
                yield event.frame()
            while not sub.dropped.is_set():
                try:
                    event = await asyncio.wait_for(sub.queue.get(), timeout=self.heartbeat_s)
                except TimeoutError:
                    if still_allowed is not None and not await still_allowed():
                        break
                    yield b": heartbeat\n\n"
                    continue
                if sub.dropped.is_set():
                    break
                if event.id > sent_up_to:
                    yield event.frame()
        finally:
            self.subscribers.discard(sub)

    def _catch_up(self, squad_id: str | None, last_event_id: int | None) -> list[LiveEvent]:
        """Events after ``last_event_id`` (the newest state of each alert, in id order), or a snapshot
        of the open alerts when the client is new or asks for more than the log still holds."""
        now = self.runtime.now_ms()
        with self.runtime.store.read() as conn:
            first, last = event_log.id_range(conn)
            replayable = (last_event_id is not None and last_event_id <= last
                          and (first is None or last_event_id >= first - 1))
            if not replayable:
                alerts = self.views.open_for(conn, squad_id, now)
                data = json.dumps({"squad_id": squad_id, "alerts": alerts}, ensure_ascii=False,
                                  separators=(",", ":"))
                return [LiveEvent(last, "snapshot", "", squad_id, data)]
            rows = event_log.since(conn, last_event_id or 0, squad_id)
            newest = {r.alert_id: r for r in rows}  # later rows win
            rows = sorted(newest.values(), key=lambda r: r.id)
            views = self.views.get_many(conn, [r.alert_id for r in rows], now)
        return [to_event(r, views.get(r.alert_id)) for r in rows]


def to_event(row: event_log.Row, view: dict[str, Any] | None) -> LiveEvent:
    data = json.dumps({"alert_id": row.alert_id, "squad_id": row.squad_id, "alert": view},
                      ensure_ascii=False, separators=(",", ":"), default=str)
    return LiveEvent(row.id, row.topic, row.alert_id, row.squad_id, data)
