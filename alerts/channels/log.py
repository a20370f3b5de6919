"""A channel that keeps what it is sent (tests, demos, dry runs); it can be told to fail."""

from __future__ import annotations

from alerts.channels.base import DeliveryResult
from alerts.model import Notification


class LogChannel:
    def __init__(self, name: str = "log", *, fail_first: int = 0,
                 status_code: int = 200) -> None:
        self.name = name
        self.sent: list[Notification] = []
        self.attempts = 0
        self._fail_first = fail_first
        self._status_code = status_code

    async def send(self, notification: Notification) -> DeliveryResult:
        self.attempts += 1
        if self.attempts <= self._fail_first:
            return DeliveryResult(503, False, 0.0, "HTTP 503: failing on purpose")
        self.sent.append(notification)
        ok = 200 <= self._status_code < 300
        return DeliveryResult(self._status_code, ok, 0.0,
                              None if ok else f"HTTP {self._status_code}")
