"""How the live layer reads alerts: the seam between the stream and the alerting service's store.

The hub sends the alert as the phone needs it (the same shape as ``GET /api/v1/alerts``); it reads
it when it sends, so a replay always shows the alert's current state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import Connection


class AlertViews(Protocol):
    def get_many(self, conn: Connection, alert_ids: Sequence[str], now_ms: int) -> dict[str, dict[str, Any]]:
        """The public view of each alert that exists, by id."""
        ...

    def open_for(self, conn: Connection, squad_id: str | None, now_ms: int) -> list[dict[str, Any]]:
        """The open (not resolved) alerts of a squad; ``None``: every open alert."""
        ...
