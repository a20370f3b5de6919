"""Notify stage: records ``Notification``s (one per channel and recipient) and a ``notified``
timeline event for each. Delivery is not done here: the app queues them in its outbox and the
channels (``alerts.channels``) deliver.

Who is told: the assigned squad when it is assigned (``alert.assigned``) or when its alert gains
evidence (``alert.updated``); the route's ``also_notify`` roles when an alert is created. The
escalate stage uses ``send`` for the roles on the escalation ladder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from alerts.model import (
    Alert,
    Notification,
    Recipient,
    RecipientKind,
    TimelineEvent,
    TimelineKind,
)
from alerts.pipeline.context import Change, Item, Note, PipelineContext
from alerts.reasons import NotificationEvent

Send = tuple[Recipient, NotificationEvent]


def alert_summary(alert: Alert) -> dict[str, Any]:
    """The part of an alert a phone or webhook needs (the full alert is the API's business)."""
    return {
        "id": alert.id, "fingerprint": alert.fingerprint, "rule": alert.rule,
        "kind": alert.kind, "severity": alert.severity.value, "state": alert.state.value,
        "squad_id": alert.squad_id, "labels": dict(alert.labels),
        "evidence": alert.evidence.to_dict(), "title_zh": alert.title_zh,
        "title_en": alert.title_en, "summary_zh": alert.summary_zh,
        "summary_en": alert.summary_en, "lon": alert.lon, "lat": alert.lat,
        "created_ms": alert.created_ms, "escalation_level": alert.escalation_level,
    }


def send(ctx: PipelineContext, alert: Alert, channels: Sequence[str], sends: Iterable[Send],
         extra: Mapping[str, Any] | None = None) -> tuple[Alert, list[Notification]]:
    """Notifications for every (recipient, event) on every channel, and the alert with a
    ``notified`` event per notification."""
    notifications: list[Notification] = []
    for recipient, event in sends:
        payload = {
            "event": event.value,
            "title": alert.title_zh, "message": alert.summary_zh,
            "title_en": alert.title_en, "message_en": alert.summary_en,
            "alert": alert_summary(alert), **(extra or {}),
        }
        for channel in channels:
            n = Notification(ctx.new_id(), alert.id, channel, recipient, event, alert.severity,
                             ctx.now_ms, payload)
            notifications.append(n)
            alert = alert.with_event(TimelineEvent(
                ctx.now_ms, TimelineKind.notified, ctx.actor, event,
                {"notification_id": n.id, "channel": channel, "recipient_kind": recipient.kind.value,
                 "recipient": recipient.id}))
    return alert, notifications


def notify_stage(ctx: PipelineContext, items: list[Item]) -> list[Item]:
    out = []
    for item in items:
        alert = item.live
        route = ctx.route_named(alert.route)
        sends: list[Send] = []
        if alert.squad_id is not None:
            squad = Recipient(RecipientKind.squad, alert.squad_id)
            if Note.assigned in item.notes:
                sends.append((squad, NotificationEvent.assigned))
            elif Note.evidence_added in item.notes:
                sends.append((squad, NotificationEvent.updated))
        if item.change is Change.created:
            sends.extend((Recipient(RecipientKind.role, role), NotificationEvent.created)
                         for role in route.also_notify)
        if not sends:
            out.append(item)
            continue
        alert, notifications = send(ctx, alert, route.channels, sends)
        out.append(dataclasses.replace(item.with_alert(alert),
                                       notifications=(*item.notifications, *notifications)))
    return out
