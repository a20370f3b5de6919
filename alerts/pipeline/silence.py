"""Silence stage: alerts matching an active silence are muted (see ``alerts.pipeline.mute``)."""

from __future__ import annotations

from alerts.pipeline.context import Item, PipelineContext
from alerts.pipeline.mute import mute_items
from alerts.reasons import SuppressReason, UnmuteReason
from alerts.silence import Silencer

OWNED = frozenset({SuppressReason.silenced})


def silence_stage(ctx: PipelineContext, items: list[Item]) -> list[Item]:
    if not ctx.silences and not any(i.live.muted_by is not None for i in items):
        return items
    return mute_items(ctx, items, Silencer(ctx.silences, ctx.now_ms), OWNED,
                      UnmuteReason.silence_ended)
