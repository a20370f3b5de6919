"""Escalate stage: climbs each live alert's escalation ladder to the level due now (each level
once), notifying the role of every level reached, and records overdue codes as they worsen."""

from __future__ import annotations

import dataclasses

from alerts import texts
from alerts.escalation import EscalationPolicy, escalations_for, overdue, policy_for
from alerts.model import Alert, Overdue, Recipient, RecipientKind, TimelineEvent, TimelineKind
from alerts.pipeline.context import Item, Note, PipelineContext
from alerts.pipeline.notify import send
from alerts.reasons import NotificationEvent


def escalate_stage(ctx: PipelineContext, items: list[Item]) -> list[Item]:
    return [_escalate_one(ctx, item) for item in items]


def _escalate_one(ctx: PipelineContext, item: Item) -> Item:
    alert = item.live
    if not alert.is_open or alert.muted_by is not None:
        return item
    policy = policy_for(alert, ctx.escalation_policies)
    escalations = escalations_for(alert, policy, ctx.now_ms)
    notifications = []
    for e in escalations:
        event = TimelineEvent(ctx.now_ms, TimelineKind.escalated, ctx.actor, e.reason,
                              {"level": e.level, "target": e.target})
        alert = alert.with_event(event, escalation_level=e.level)
        channels = policy.channels or ctx.route_named(alert.route).channels
        title = texts.bilingual("escalated.title", title=texts.Bi(alert.title_zh, alert.title_en))
        alert, sent = send(ctx, alert, channels,
                           [(Recipient(RecipientKind.role, e.target), NotificationEvent.escalated)],
                           {"title": title.zh, "title_en": title.en, "level": e.level,
                            "reason": e.reason.value})
        notifications.extend(sent)
    alert = _record_overdue(ctx, alert, policy)
    if alert is item.alert:
        return item
    changed = item.with_alert(alert, *((Note.escalated,) if escalations else ()))
    return dataclasses.replace(changed, notifications=(*item.notifications, *notifications),
                               escalations=(*item.escalations, *escalations))


def _record_overdue(ctx: PipelineContext, alert: Alert, policy: EscalationPolicy) -> Alert:
    """An ``overdue`` event when the code worsens within a phase (awaiting ack / on scene)."""
    code = overdue(alert, policy, ctx.now_ms)
    if code is None:
        return alert
    phase = "ack" if alert.acked_ms is None else "on_scene"
    recorded = [e.reason for e in alert.timeline
                if e.kind is TimelineKind.overdue and e.data.get("phase") == phase]
    if code in recorded or (code is Overdue.yellow and Overdue.red in recorded):
        return alert
    return alert.with_event(TimelineEvent(ctx.now_ms, TimelineKind.overdue, ctx.actor, code,
                                          {"phase": phase}))
