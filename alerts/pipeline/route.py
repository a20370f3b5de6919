"""Route stage: an alert without a route gets the first matching one (else the default), which
fixes its channels and its escalation policy (the route's, else the one named by severity)."""

from __future__ import annotations

from alerts.model import TimelineEvent, TimelineKind
from alerts.pipeline.context import Item, PipelineContext
from alerts.reasons import RouteReason
from alerts.routing import match_route


def route_stage(ctx: PipelineContext, items: list[Item]) -> list[Item]:
    out = []
    for item in items:
        alert = item.live
        if alert.route is not None:
            out.append(item)
            continue
        found = match_route(ctx.routes, alert.labels)
        chosen = found or ctx.default_route
        reason = RouteReason.matched_route if found else RouteReason.default_route
        policy = chosen.escalation_policy or alert.severity.value
        event = TimelineEvent(ctx.now_ms, TimelineKind.routed, ctx.actor, reason,
                              {"route": chosen.name, "escalation_policy": policy})
        out.append(item.with_alert(alert.with_event(event, route=chosen.name,
                                                    escalation_policy=policy)))
    return out
