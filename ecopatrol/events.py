"""A small in-process event bus: the store commits, then subscribers run (e.g. report rules at once).

Subscribers run synchronously after the commit in the publishing thread; one failing subscriber is
logged and never blocks the others or the caller (the data is already durable). Cross-process fan-out
(PostgreSQL LISTEN/NOTIFY) plugs in as one more subscriber.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

log = logging.getLogger("ecopatrol.events")
Handler = Callable[[str, dict[str, Any]], None]


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._lock = threading.Lock()

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Call ``handler(topic, payload)`` for every event on ``topic`` (``*`` for all topics)."""
        with self._lock:
            self._handlers[topic].append(handler)

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        with self._lock:
            handlers = [*self._handlers.get(topic, []), *self._handlers.get("*", [])]
        for handler in handlers:
            try:
                handler(topic, payload)
            except Exception:
                log.exception("event handler failed for %s", topic)
