"""Assign stage: an open alert without a squad gets the nearest available one
(``alerts.assignment``); none available → it stays unassigned with reason ``none_available``
(recorded once, not on every tick) and the escalate stage tells the commander at once."""

from __future__ import annotations

from collections import Counter

from alerts.assignment import assign_alert
from alerts.model import AlertState, TimelineEvent, TimelineKind
from alerts.pipeline.context import Change, Item, Note, PipelineContext
from alerts.reasons import AssignReason


def assign_stage(ctx: PipelineContext, items: list[Item]) -> list[Item]:
    batch_load: Counter[str] = Counter()
    out = []
    for item in items:
        alert = item.live
        if (alert.squad_id is not None or alert.state is not AlertState.open
                or not ctx.route_named(alert.route).assign):
            out.append(item)
            continue
        decision = assign_alert(alert, ctx.squads, extra_load=batch_load, tie_m=ctx.tie_m)
        if decision.squad_id is None:
            last = alert.last_event(TimelineKind.assigned, TimelineKind.unassigned)
            if item.change is Change.unchanged and last is not None \
                    and last.reason is AssignReason.none_available:
                out.append(item)  # still nobody: already recorded and escalated
                continue
            event = TimelineEvent(ctx.now_ms, TimelineKind.unassigned, ctx.actor,
                                  decision.reason, {"excluded": sorted(alert.declined_squads)})
            out.append(item.with_alert(alert.with_event(event)))
            continue
        batch_load[decision.squad_id] += 1
        event = TimelineEvent(ctx.now_ms, TimelineKind.assigned, ctx.actor, decision.reason,
                              {"squad_id": decision.squad_id, "distance_m": decision.distance_m,
                               "considered": decision.considered})
        out.append(item.with_alert(alert.with_event(event, squad_id=decision.squad_id),
                                   Note.assigned))
    return out
