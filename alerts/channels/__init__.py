"""Delivery channels: the I/O edge of ``alerts``. Each takes an injected ``httpx.AsyncClient``."""

from alerts.channels.base import Channel, DeliveryResult
from alerts.channels.log import LogChannel
from alerts.channels.ntfy import NtfyChannel, ntfy_message
from alerts.channels.retry import backoff_cap_s, next_attempt_ms
from alerts.channels.webhook import WebhookChannel, encode_body, sign, verify

__all__ = [
    "Channel",
    "DeliveryResult",
    "LogChannel",
    "NtfyChannel",
    "WebhookChannel",
    "backoff_cap_s",
    "encode_body",
    "next_attempt_ms",
    "ntfy_message",
    "sign",
    "verify",
]
