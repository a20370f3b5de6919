"""The one capability silences and inhibitions share (Alertmanager's ``Muter``)."""

from __future__ import annotations

from typing import Protocol

from alerts.model import Alert, Mute


class Muter(Protocol):
    def mutes(self, alert: Alert) -> Mute | None:
        """Why ``alert`` is muted now (reason and silence/alert id), or ``None``."""
        ...
