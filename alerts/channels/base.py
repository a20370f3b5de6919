"""The one interface every delivery channel implements, and what a delivery attempt gives back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from alerts.model import Notification, to_plain


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    status_code: int | None  # None: no HTTP answer (timeout, refused connection…)
    ok: bool
    latency_ms: float
    error: str | None = None

    @property
    def retryable(self) -> bool:
        """Worth another attempt: no answer, 408, 425, 429 or 5xx."""
        if self.ok:
            return False
        code = self.status_code
        return code is None or code in (408, 425, 429) or code >= 500

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)


class Channel(Protocol):
    name: str

    async def send(self, notification: Notification) -> DeliveryResult:
        """Deliver once (retries are the outbox's, see ``alerts.channels.retry``); never raises
        for delivery failures — they are in the result."""
        ...
