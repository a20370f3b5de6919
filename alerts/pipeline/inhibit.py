"""Inhibit stage: live alerts (open ones and this batch's) mute the alerts their inhibit rules
target. When this batch brings a new or grown source (a cluster), open alerts outside the batch
that it now covers are muted too. With evidence-based rules only (the default), only open alerts
sharing a report with the batch are looked at, so the report path stays fast with many open
alerts."""

from __future__ import annotations

from alerts.inhibit import Inhibitor
from alerts.model import Alert
from alerts.pipeline.context import Change, Item, PipelineContext
from alerts.pipeline.mute import apply_mute, mute_items
from alerts.reasons import SuppressReason, UnmuteReason

OWNED = frozenset({SuppressReason.inhibited_by_cluster, SuppressReason.inhibited_by_rule})


def inhibit_stage(ctx: PipelineContext, items: list[Item]) -> list[Item]:
    if not ctx.inhibit_rules:
        return items
    batch = {item.live.id: item.live for item in items}
    related = _related_open_alerts(ctx, batch)
    inhibitor = Inhibitor(ctx.inhibit_rules, [*related, *batch.values()])
    if not inhibitor and not any(a.muted_by is not None for a in batch.values()):
        return items
    out = mute_items(ctx, items, inhibitor, OWNED, UnmuteReason.inhibition_ended)
    if any(i.change is not Change.unchanged and i.live.id in inhibitor.source_ids
           for i in items):
        for alert in related:
            if alert.muted_by is None and inhibitor.mutes(alert):
                muted = apply_mute(ctx, Item(alert), inhibitor, OWNED,
                                   UnmuteReason.inhibition_ended)
                if muted is not None:
                    out.append(muted)
    return out


def _related_open_alerts(ctx: PipelineContext, batch: dict[str, Alert]) -> list[Alert]:
    """Open alerts outside the batch that could inhibit, or be inhibited by, the batch."""
    others = [a for a in ctx.open_alerts.values() if a.id not in batch]
    if not all(rule.evidence_subset for rule in ctx.inhibit_rules):
        return others
    reports = {r for a in batch.values() for r in a.evidence.report_ids}
    return [a for a in others if not reports.isdisjoint(a.evidence.report_ids)]
