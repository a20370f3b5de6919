"""State changes made by people: ``POST /api/v1/alerts/{id}/{ack|en_route|on_scene|resolve}``
and a squad's decline, which reassigns.

Forward moves may skip steps (on scene without en route fills the earlier times); repeating the
current state is a no-op returning the same object (phones resend when the signal returns);
going back, or anything after resolved, raises ``TransitionError`` saying why.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum

from alerts.model import Alert, AlertState, Outcome, TimelineEvent, TimelineKind
from alerts.pipeline.context import Change, Item, PipelineContext, PipelineResult
from alerts.pipeline.run import REASSIGN_STAGES, run_items
from alerts.reasons import DeclineReason


class Action(StrEnum):
    ack = "ack"
    en_route = "en_route"
    on_scene = "on_scene"
    resolve = "resolve"


TARGET: dict[Action, AlertState] = {
    Action.ack: AlertState.acknowledged,
    Action.en_route: AlertState.en_route,
    Action.on_scene: AlertState.on_scene,
    Action.resolve: AlertState.resolved,
}
_KIND: dict[AlertState, TimelineKind] = {
    AlertState.acknowledged: TimelineKind.acknowledged,
    AlertState.en_route: TimelineKind.en_route,
    AlertState.on_scene: TimelineKind.on_scene,
    AlertState.resolved: TimelineKind.resolved,
}


class TransitionError(ValueError):
    """A state change that is not allowed; the message says why."""


def apply_action(alert: Alert, action: Action, actor: str, now_ms: int,
                 outcome: Outcome | None = None, note: str | None = None) -> Alert:
    target = TARGET[action]
    if action is Action.resolve and outcome is None:
        raise TransitionError("resolve needs an outcome (confirmed, not_found, false_report)")
    if target is alert.state:
        return alert
    if alert.state is AlertState.resolved:
        raise TransitionError(f"alert {alert.id} is already resolved")
    if target.rank < alert.state.rank:
        raise TransitionError(f"cannot go back to {target.value}: alert {alert.id} is "
                              f"{alert.state.value}")
    t = now_ms
    changes: dict[str, object] = {"state": target}
    if alert.acked_ms is None:
        changes["acked_ms"] = t
    if target.rank >= AlertState.en_route.rank and alert.en_route_ms is None:
        changes["en_route_ms"] = t
    if target.rank >= AlertState.on_scene.rank and alert.on_scene_ms is None:
        changes["on_scene_ms"] = t
    if target is AlertState.resolved:
        changes.update(resolved_ms=t, outcome=outcome)
    data = {"from": alert.state.value, **({"note": note} if note else {})}
    event = TimelineEvent(t, _KIND[target], actor, outcome if target is AlertState.resolved
                          else None, data)
    return alert.with_event(event, **changes)


def decline(ctx: PipelineContext, alert: Alert, squad_id: str, reason: DeclineReason,
            actor: str) -> PipelineResult:
    """The assigned squad declines: the alert goes back to open without a squad (acknowledgement
    cleared, escalation level kept), and is reassigned to the nearest other available squad — or,
    if none, stays unassigned and escalates at once."""
    if alert.squad_id != squad_id:
        raise TransitionError(f"squad {squad_id} is not assigned to alert {alert.id}")
    if alert.state not in (AlertState.open, AlertState.acknowledged, AlertState.en_route):
        raise TransitionError(f"alert {alert.id} is {alert.state.value}: too late to decline")
    event = TimelineEvent(ctx.now_ms, TimelineKind.declined, actor, reason,
                          {"squad_id": squad_id, "from": alert.state.value})
    released = alert.with_event(
        event, squad_id=None, state=AlertState.open, acked_ms=None, en_route_ms=None,
        declined_squads=(*alert.declined_squads, squad_id))
    item = dataclasses.replace(Item(released), change=Change.updated)
    return run_items(REASSIGN_STAGES, ctx, [item])
