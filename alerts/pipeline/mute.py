"""Applying a ``Muter`` to items: shared by the inhibit and silence stages.

A muted *new* candidate does not become an alert (it is recorded in ``PipelineResult.suppressed``
with the muting silence or alert id). A muted *existing* alert keeps its state but records the
mute in ``muted_by`` and its timeline once, and is neither notified nor escalated; when the mute
ends its timeline says so and it is live again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from alerts.model import TimelineEvent, TimelineKind
from alerts.mute import Muter
from alerts.pipeline.context import Change, Item, PipelineContext, Suppressed
from alerts.reasons import SuppressReason, UnmuteReason

_KIND = {
    SuppressReason.silenced: TimelineKind.silenced,
    SuppressReason.inhibited_by_cluster: TimelineKind.inhibited,
    SuppressReason.inhibited_by_rule: TimelineKind.inhibited,
}


def apply_mute(ctx: PipelineContext, item: Item, muter: Muter, owned: Collection[SuppressReason],
               unmute: UnmuteReason) -> Item | None:
    """The item after ``muter``; ``owned`` are the reasons this stage sets and clears."""
    alert = item.live
    mute = muter.mutes(alert)
    if mute is None:
        if alert.muted_by is not None and alert.muted_by.reason in owned:
            event = TimelineEvent(ctx.now_ms, TimelineKind.unmuted, ctx.actor, unmute,
                                  {"was": alert.muted_by.by})
            return item.with_alert(alert.with_event(event, muted_by=None))
        return item
    stopped = Suppressed(alert.fingerprint, alert.rule, mute.reason, mute.by, ctx.now_ms,
                         None if item.change is Change.created else alert.id)
    if item.change is Change.created:
        return dataclasses.replace(item, suppressed=stopped)
    if alert.muted_by == mute:
        # already recorded: an evidence update is persisted quietly, a tick item is dropped
        return dataclasses.replace(item, suppressed=stopped) if item.change is Change.updated \
            else None
    event = TimelineEvent(ctx.now_ms, _KIND[mute.reason], ctx.actor, mute.reason, {"by": mute.by})
    muted = item.with_alert(alert.with_event(event, muted_by=mute))
    return dataclasses.replace(muted, suppressed=stopped)


def mute_items(ctx: PipelineContext, items: list[Item], muter: Muter,
               owned: Collection[SuppressReason], unmute: UnmuteReason) -> list[Item]:
    out = []
    for item in items:
        after = apply_mute(ctx, item, muter, owned, unmute)
        if after is not None:
            out.append(after)
    return out
