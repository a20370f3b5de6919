"""The alert pipeline, shaped like Alertmanager's: stages over plain items, a frozen context,
early stop when nothing is left. ``run_pipeline(DEFAULT_STAGES, ctx, candidates)`` for rule output,
``run_tick(ctx)`` for escalation and reassignment of open alerts."""

from alerts.pipeline.assign import assign_stage
from alerts.pipeline.context import (
    Change,
    Item,
    Note,
    PipelineContext,
    PipelineResult,
    Stage,
    Suppressed,
)
from alerts.pipeline.dedupe import dedupe_decision, dedupe_stage
from alerts.pipeline.escalate import escalate_stage
from alerts.pipeline.inhibit import inhibit_stage
from alerts.pipeline.notify import notify_stage
from alerts.pipeline.route import route_stage
from alerts.pipeline.run import (
    DEFAULT_STAGES,
    REASSIGN_STAGES,
    TICK_STAGES,
    run_items,
    run_pipeline,
    run_tick,
)
from alerts.pipeline.silence import silence_stage

__all__ = [
    "DEFAULT_STAGES",
    "REASSIGN_STAGES",
    "TICK_STAGES",
    "Change",
    "Item",
    "Note",
    "PipelineContext",
    "PipelineResult",
    "Stage",
    "Suppressed",
    "assign_stage",
    "dedupe_decision",
    "dedupe_stage",
    "escalate_stage",
    "inhibit_stage",
    "notify_stage",
    "route_stage",
    "run_items",
    "run_pipeline",
    "run_tick",
    "silence_stage",
]
