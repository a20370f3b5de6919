"""A small in-memory token bucket per client (the public form's abuse brake; one process only)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

#: defaults (config keys ``reports.public_burst`` and ``reports.public_per_minute``)
PUBLIC_BURST = 10
PUBLIC_PER_MINUTE = 10.0


class TokenBuckets:
    """``allow(client)`` spends one token of that client's bucket; buckets refill continuously."""

    def __init__(
        self,
        *,
        burst: int = PUBLIC_BURST,
        per_minute: float = PUBLIC_PER_MINUTE,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.rate_per_s = per_minute / 60.0
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, client: str) -> tuple[bool, float]:
        """(allowed, seconds until the next token when refused)."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate_per_s)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        wait_s = 0.0 if allowed else (1.0 - tokens) / self.rate_per_s if self.rate_per_s > 0 else 3600.0
        return allowed, wait_s
