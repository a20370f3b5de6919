"""Dedupe: one alert per fingerprint while it is open. The decision is a pure function returning
a reason (``dedupe_decision``); the stage applies it: create, merge new evidence into the open
alert, or suppress."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from alerts.model import Alert, AlertState, Candidate, Severity, TimelineEvent, TimelineKind
from alerts.pipeline.context import Change, Item, Note, PipelineContext, Suppressed
from alerts.reasons import DedupeReason, SuppressReason

SUPPRESSING: dict[DedupeReason, SuppressReason] = {
    DedupeReason.duplicate: SuppressReason.duplicate_open,
    DedupeReason.resolved_no_new_evidence: SuppressReason.already_resolved,
}


def dedupe_decision(candidate: Candidate, existing: Alert | None) -> DedupeReason:
    """``existing``: the open alert with the candidate's fingerprint, else the newest resolved
    one, else ``None``. A resolved condition fires again only with new evidence or a new episode
    (``starts_ms`` after the resolve)."""
    if existing is None:
        return DedupeReason.new
    news = not existing.evidence.covers(candidate.evidence)
    if existing.state is not AlertState.resolved:
        return DedupeReason.new_evidence if news else DedupeReason.duplicate
    resolved_ms = existing.resolved_ms if existing.resolved_ms is not None else existing.updated_ms
    if news or candidate.starts_ms > resolved_ms:
        return DedupeReason.refire_after_resolve
    return DedupeReason.resolved_no_new_evidence


def new_alert(candidate: Candidate, alert_id: str, now_ms: int, reason: DedupeReason) -> Alert:
    c = candidate
    return Alert(
        id=alert_id, fingerprint=c.fingerprint, rule=c.rule, kind=c.kind, severity=c.severity,
        labels=dict(c.labels), evidence=c.evidence, state=AlertState.open,
        created_ms=now_ms, updated_ms=now_ms, starts_ms=c.starts_ms,
        title_zh=c.title_zh, title_en=c.title_en, summary_zh=c.summary_zh,
        summary_en=c.summary_en, x_m=c.x_m, y_m=c.y_m, lon=c.lon, lat=c.lat,
        timeline=(TimelineEvent(now_ms, TimelineKind.created, f"rule:{c.rule}", reason,
                                {"fingerprint": c.fingerprint}),),
    )


def merge_candidate(alert: Alert, candidate: Candidate, now_ms: int) -> Alert:
    """The open alert with the candidate's new evidence, texts and (if higher) severity."""
    evidence = alert.evidence.merged(candidate.evidence)
    before, after = alert.evidence.to_dict(), evidence.to_dict()
    added = {k: v[len(before[k]):] for k, v in after.items() if len(v) > len(before[k])}
    severity = Severity.most_severe(alert.severity, candidate.severity)
    data: dict[str, object] = {"added": added}
    if severity is not alert.severity:
        data["severity"] = severity.value
    event = TimelineEvent(now_ms, TimelineKind.updated, f"rule:{candidate.rule}",
                          DedupeReason.new_evidence, data)
    return alert.with_event(
        event, evidence=evidence, severity=severity, title_zh=candidate.title_zh,
        title_en=candidate.title_en, summary_zh=candidate.summary_zh,
        summary_en=candidate.summary_en)


def _shared_report_index(open_alerts: Mapping[str, Alert]) -> dict[tuple[str, str], Alert]:
    return {(a.rule, report_id): a for a in open_alerts.values()
            for report_id in a.evidence.report_ids}


def dedupe_stage(ctx: PipelineContext, items: list[Item]) -> list[Item]:
    out: list[Item] = []
    position: dict[str, int] = {}  # alert fingerprint → index in ``out`` (merges within a batch)
    shared: dict[tuple[str, str], Alert] | None = None
    for item in items:
        c = item.candidate
        if c is None:  # an existing alert on a tick: nothing to dedupe
            out.append(item)
            continue
        fp = c.fingerprint
        existing = out[position[fp]].alert if fp in position else ctx.open_alerts.get(fp)
        if existing is None and c.merge_on_shared_reports:
            if shared is None:
                shared = _shared_report_index(ctx.open_alerts)
            existing = next((shared[(c.rule, r)] for r in c.evidence.report_ids
                             if (c.rule, r) in shared), None)
            if existing is not None:
                fp = existing.fingerprint
                existing = out[position[fp]].alert if fp in position else existing
        previous = existing if existing is not None else ctx.resolved_alerts.get(fp)
        reason = dedupe_decision(c, previous)
        if reason in (DedupeReason.new, DedupeReason.refire_after_resolve):
            position[fp] = len(out)
            out.append(Item(new_alert(c, ctx.new_id(), ctx.now_ms, reason), c, Change.created))
        elif reason is DedupeReason.new_evidence:
            assert existing is not None
            merged = merge_candidate(existing, c, ctx.now_ms)
            if fp in position:
                out[position[fp]] = out[position[fp]].with_alert(merged, Note.evidence_added)
            else:
                position[fp] = len(out)
                out.append(Item(merged, c, Change.updated, frozenset({Note.evidence_added})))
        else:
            assert previous is not None
            stopped = Suppressed(fp, c.rule, SUPPRESSING[reason], previous.id, ctx.now_ms,
                                 previous.id)
            out.append(dataclasses.replace(item, alert=previous, suppressed=stopped))
    return out
