"""Live tokens seen lately, so a phone posting a fix a second is not one database lookup (and one
worker-thread hop) a request.

An entry is trusted for ``auth.token_cache_s`` seconds (0: no cache), never past the token's expiry
(by the runtime's clock), and not at all once this process has revoked any token. A token revoked by
another process (another API worker, the CLI) is refused there at once and here within
``token_cache_s``. Refusals are never cached: a token that starts working (or a typo corrected) is
seen at once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from ecopatrol.store.tokens_repo import Principal, digest, revocations


class TokenCache:
    def __init__(self, ttl_s: float, *, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[Principal, float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str, now_ms: int) -> Principal | None:
        """The cached principal of a live token, else None (look it up)."""
        if self.ttl_s <= 0:
            return None
        key = digest(token)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            principal, fetched, generation = entry
            fresh = (generation == revocations() and time.monotonic() - fetched < self.ttl_s
                     and (principal.expires_ms is None or principal.expires_ms > now_ms))
            if not fresh:
                del self._entries[key]
                return None
            return principal

    def put(self, token: str, principal: Principal, *, generation: int) -> None:
        """Remember a principal looked up when ``revocations()`` was ``generation``."""
        if self.ttl_s <= 0:
            return
        with self._lock:
            self._entries[digest(token)] = (principal, time.monotonic(), generation)
            self._entries.move_to_end(digest(token))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
