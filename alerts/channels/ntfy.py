"""ntfy-compatible push: JSON published to the server's root URL (ntfy's "publish as JSON"),
one topic per squad (``ecopatrol-{squad_id}``); roles and people get their own topics from the
same template (``{squad_id}`` is then the role or person id)."""

from __future__ import annotations

import json

import httpx

from alerts.channels.base import DeliveryResult
from alerts.channels.http import post
from alerts.model import Notification, Severity

PRIORITY: dict[Severity, int] = {Severity.critical: 5, Severity.high: 4, Severity.medium: 3,
                                 Severity.low: 2}
TAGS: dict[Severity, tuple[str, ...]] = {
    Severity.critical: ("rotating_light",), Severity.high: ("warning",),
    Severity.medium: ("triangular_flag_on_post",), Severity.low: ("information_source",),
}


def ntfy_message(notification: Notification, topic_template: str,
                 click_template: str | None = None) -> dict[str, object]:
    r = notification.recipient
    payload = notification.payload
    message: dict[str, object] = {
        "topic": topic_template.format(squad_id=r.id, recipient_id=r.id,
                                       recipient_kind=r.kind.value),
        "title": str(payload.get("title", "")),
        "message": str(payload.get("message", "")),
        "priority": PRIORITY[notification.severity],
        "tags": list(TAGS[notification.severity]),
    }
    if click_template:
        message["click"] = click_template.format(alert_id=notification.alert_id)
    return message


class NtfyChannel:
    def __init__(self, base_url: str, client: httpx.AsyncClient, *,
                 topic_template: str = "ecopatrol-{squad_id}", token: str | None = None,
                 click_template: str | None = None, timeout_s: float = 5.0,
                 name: str = "ntfy") -> None:
        self.name = name
        self.base_url = base_url.rstrip("/") + "/"
        self.topic_template = topic_template
        self.click_template = click_template
        self._client = client
        self._token = token
        self.timeout_s = timeout_s

    async def send(self, notification: Notification) -> DeliveryResult:
        message = ntfy_message(notification, self.topic_template, self.click_template)
        body = json.dumps(message, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return await post(self._client, self.base_url, body, headers, self.timeout_s)
