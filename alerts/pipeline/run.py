"""Running stages: a list of stages over items that stops early when nothing is left."""

from __future__ import annotations

from collections.abc import Sequence

from alerts.model import Alert, Candidate
from alerts.pipeline.assign import assign_stage
from alerts.pipeline.context import Change, Item, PipelineContext, PipelineResult, Stage
from alerts.pipeline.dedupe import dedupe_stage
from alerts.pipeline.escalate import escalate_stage
from alerts.pipeline.inhibit import inhibit_stage
from alerts.pipeline.notify import notify_stage
from alerts.pipeline.route import route_stage
from alerts.pipeline.silence import silence_stage

#: Candidates from rules → alerts assigned, notified and escalated.
DEFAULT_STAGES: tuple[Stage, ...] = (
    dedupe_stage, inhibit_stage, silence_stage, route_stage, assign_stage, notify_stage,
    escalate_stage,
)
#: Existing open alerts on a scheduled tick: mutes re-checked (a silence may have ended), retry
#: assignment of unassigned alerts, escalate the overdue.
TICK_STAGES: tuple[Stage, ...] = (
    inhibit_stage, silence_stage, route_stage, assign_stage, notify_stage, escalate_stage,
)
#: After a decline: reassign, notify, escalate.
REASSIGN_STAGES: tuple[Stage, ...] = (assign_stage, notify_stage, escalate_stage)


def run_items(stages: Sequence[Stage], ctx: PipelineContext, items: Sequence[Item]) -> PipelineResult:
    finished: list[Item] = []
    active = list(items)
    for stage in stages:
        if not active:
            break
        passed = stage(ctx, active)
        active = [i for i in passed if i.suppressed is None]
        finished.extend(i for i in passed if i.suppressed is not None)
    return _result([*finished, *active])


def run_pipeline(stages: Sequence[Stage], ctx: PipelineContext,
                 candidates: Sequence[Candidate]) -> PipelineResult:
    """Candidates through ``stages`` (``DEFAULT_STAGES`` for rules' output)."""
    return run_items(stages, ctx, [Item(None, c) for c in candidates])


def run_tick(ctx: PipelineContext, stages: Sequence[Stage] = TICK_STAGES,
             alerts: Sequence[Alert] | None = None) -> PipelineResult:
    """The open alerts (``ctx.open_alerts`` unless given) through the tick stages."""
    chosen = list(ctx.open_alerts.values()) if alerts is None else list(alerts)
    chosen.sort(key=lambda a: (a.created_ms, a.id))
    return run_items(stages, ctx, [Item(a) for a in chosen if a.is_open])


def _result(items: list[Item]) -> PipelineResult:
    result = PipelineResult()
    for item in items:
        if item.suppressed is not None:
            result.suppressed.append(item.suppressed)
        if item.alert is not None:
            if item.change is Change.created and item.suppressed is None:
                result.created.append(item.alert)
            elif item.change is Change.updated:
                result.updated.append(item.alert)
        result.notifications.extend(item.notifications)
        result.escalations.extend(item.escalations)
    return result
