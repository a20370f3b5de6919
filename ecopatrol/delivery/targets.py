"""From an outbox row to the concrete deliveries it stands for: which channel object, to whom.

A squad row is one delivery; a role row (an escalation to ``duty_commander``…) is one delivery per
person holding the role (``[channels.roles]``), each through that person's own topic or webhook
(``[channels.people]``), falling back to the endpoint's own address.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from alerts.channels import Channel, LogChannel, NtfyChannel, WebhookChannel
from alerts.model import Notification, Recipient, RecipientKind
from ecopatrol.delivery.config import (
    STREAM,
    DeliverySettings,
    LogEndpoint,
    NtfyEndpoint,
    PersonAddress,
    WebhookEndpoint,
    secret_from_env,
)


class TargetProblem(Exception):
    """The row cannot be delivered as configured (not retried: fix the config, then resend)."""


@dataclass(frozen=True, slots=True)
class Target:
    key: str  # "squad:s-1", "person:p-zhang", "role:duty_commander"
    endpoint: str  # the endpoint name (one concurrency pool per endpoint)
    channel: Channel | None  # None: ``error`` says why it cannot be sent (retried)
    notification: Notification
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """What a row becomes: deliveries, or why none (``skipped``: streamed or disabled)."""

    targets: tuple[Target, ...] = ()
    skipped: str | None = None


def plan(settings: DeliverySettings, notification: Notification, client: httpx.AsyncClient,
         log_channels: dict[str, LogChannel], environ: Mapping[str, str] | None = None) -> Plan:
    if notification.channel == STREAM:
        return Plan(skipped="streamed to the squad's phones by the live hub")
    base = settings.endpoints.get(notification.channel)
    if base is None:
        raise TargetProblem(f"channel {notification.channel!r} is not configured in [channels.endpoints]")
    endpoint = effective(base, squad_id=_squad_of(notification), severity=notification.severity.value)
    if not endpoint.enabled:
        return Plan(skipped=f"channel {notification.channel!r} is disabled for this squad or severity")
    name = notification.channel
    if isinstance(endpoint, LogEndpoint):
        log = log_channels.setdefault(name, LogChannel(name))
        return Plan((Target(_key(notification.recipient), name, log, notification),))
    recipients = _people(settings, notification.recipient)
    targets = []
    for recipient, address in recipients:
        n = dataclasses.replace(notification, recipient=recipient)
        targets.append(_target(name, endpoint, n, address, client, environ))
    return Plan(tuple(targets))


def effective(endpoint: Any, *, squad_id: str | None, severity: str) -> Any:
    """The endpoint with its severity override, then its squad override (more specific) applied."""
    changes: dict[str, Any] = {}
    for override in (endpoint.by_severity.get(severity),
                     endpoint.by_squad.get(squad_id) if squad_id else None):
        if override is not None:
            changes.update({k: v for k, v in override.model_dump().items() if v is not None})
    return endpoint.model_copy(update=changes) if changes else endpoint


def _squad_of(notification: Notification) -> str | None:
    if notification.recipient.kind is RecipientKind.squad:
        return notification.recipient.id
    alert = notification.payload.get("alert")
    return alert.get("squad_id") if isinstance(alert, Mapping) else None


def _people(settings: DeliverySettings,
            recipient: Recipient) -> list[tuple[Recipient, PersonAddress | None]]:
    if recipient.kind is RecipientKind.person:
        return [(recipient, settings.people.get(recipient.id))]
    if recipient.kind is RecipientKind.role and settings.roles.get(recipient.id):
        holders = settings.roles[recipient.id]
        return [(Recipient(RecipientKind.person, p), settings.people[p]) for p in holders]
    return [(recipient, None)]


def _target(name: str, endpoint: WebhookEndpoint | NtfyEndpoint, n: Notification,
            address: PersonAddress | None, client: httpx.AsyncClient,
            environ: Mapping[str, str] | None) -> Target:
    key = _key(n.recipient)
    if isinstance(endpoint, NtfyEndpoint):
        topic = address.ntfy_topic if address and address.ntfy_topic else endpoint.topic_template
        token = secret_from_env(endpoint.token_env, environ) if endpoint.token_env else None
        channel = NtfyChannel(endpoint.base_url, client, topic_template=topic, token=token,
                              click_template=endpoint.click_template, timeout_s=endpoint.timeout_s, name=name)
        return Target(key, name, channel, n)
    url = address.webhook_url if address and address.webhook_url else endpoint.url
    env_name = (address.webhook_secret_env if address and address.webhook_secret_env
                else endpoint.secret_env)
    secret = secret_from_env(env_name, environ)
    if secret is None:
        return Target(key, name, None, n, f"environment variable {env_name} (the webhook secret) is not set")
    return Target(key, name, WebhookChannel(url, secret, client, timeout_s=endpoint.timeout_s, name=name), n)


def _key(recipient: Recipient) -> str:
    return f"{recipient.kind.value}:{recipient.id}"
