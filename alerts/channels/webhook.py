"""Generic webhook: the notification as JSON, signed with HMAC-SHA256 over the exact body bytes.

Headers: ``X-Ecopatrol-Signature: sha256=<hex>``, ``X-Ecopatrol-Event: alert.assigned`` (etc.),
``X-Ecopatrol-Delivery: <notification id>`` (receivers dedupe on it: the outbox may resend).
"""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

from alerts.channels.base import DeliveryResult
from alerts.channels.http import post
from alerts.model import Notification

SIGNATURE_HEADER = "X-Ecopatrol-Signature"
EVENT_HEADER = "X-Ecopatrol-Event"
DELIVERY_HEADER = "X-Ecopatrol-Delivery"


def encode_body(notification: Notification) -> bytes:
    return json.dumps(notification.to_dict(), ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode("utf-8")


def sign(secret: str | bytes, body: bytes) -> str:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(secret: str | bytes, body: bytes, signature: str | None) -> bool:
    """For receivers and tests: does ``signature`` sign ``body``? (constant-time compare)"""
    return signature is not None and hmac.compare_digest(sign(secret, body), signature)


class WebhookChannel:
    def __init__(self, url: str, secret: str | bytes, client: httpx.AsyncClient, *,
                 timeout_s: float = 5.0, name: str = "webhook") -> None:
        self.name = name
        self.url = url
        self._secret = secret
        self._client = client
        self.timeout_s = timeout_s

    async def send(self, notification: Notification) -> DeliveryResult:
        body = encode_body(notification)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(self._secret, body),
            EVENT_HEADER: notification.event.value,
            DELIVERY_HEADER: notification.id,
        }
        return await post(self._client, self.url, body, headers, self.timeout_s)
