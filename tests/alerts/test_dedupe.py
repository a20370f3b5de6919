import dataclasses

import pytest

from alerts.model import Alert, AlertState, Candidate, Evidence, Severity, TimelineKind
from alerts.pipeline import DEFAULT_STAGES, dedupe_decision, dedupe_stage, run_pipeline
from alerts.pipeline.context import Change, Item
from alerts.reasons import DedupeReason, SuppressReason
from tests.alerts.helpers import HOUR, MIN, NIGHT, context, later


def cand(*report_ids: str, fp: str = "fw/x", starts_ms: int = NIGHT,
         severity: Severity = Severity.high, rule: str = "fw", **kw: object) -> Candidate:
    return Candidate(rule, kw.pop("kind", "report"), severity, fp,  # type: ignore[arg-type]
                     {"rule": rule}, Evidence(report_ids=report_ids), "t", "t", "s", "s",
                     starts_ms, **kw)  # type: ignore[arg-type]


def alert(*report_ids: str, state: AlertState = AlertState.open,
          resolved_ms: int | None = None) -> Alert:
    return Alert("a0", "fw/x", "fw", "report", Severity.high, {}, Evidence(report_ids=report_ids),
                 state, NIGHT - HOUR, NIGHT - HOUR, NIGHT - HOUR, resolved_ms=resolved_ms)


@pytest.mark.parametrize("candidate, existing, reason", [
    (cand("r1"), None, DedupeReason.new),
    (cand("r1"), alert("r1"), DedupeReason.duplicate),
    (cand("r1", "r2"), alert("r1"), DedupeReason.new_evidence),
    (cand("r2"), alert("r1", "r2", state=AlertState.acknowledged), DedupeReason.duplicate),
    (cand("r3"), alert("r1", state=AlertState.on_scene), DedupeReason.new_evidence),
    (cand("r1", starts_ms=NIGHT - 2 * HOUR),
     alert("r1", state=AlertState.resolved, resolved_ms=NIGHT - MIN),
     DedupeReason.resolved_no_new_evidence),
    (cand("r1", "r2", starts_ms=NIGHT - 2 * HOUR),
     alert("r1", state=AlertState.resolved, resolved_ms=NIGHT - MIN),
     DedupeReason.refire_after_resolve),
    (cand("r1", starts_ms=NIGHT),  # a new episode: began after the resolve
     alert("r1", state=AlertState.resolved, resolved_ms=NIGHT - MIN),
     DedupeReason.refire_after_resolve),
])
def test_dedupe_decision(candidate: Candidate, existing: Alert | None,
                         reason: DedupeReason) -> None:
    assert dedupe_decision(candidate, existing) is reason


def _stage(ctx, *candidates: Candidate) -> list[Item]:
    return dedupe_stage(ctx, [Item(None, c) for c in candidates])


def test_stage_creates_new_alerts() -> None:
    (item,) = _stage(context(), cand("r1"))
    assert item.change is Change.created and item.alert.id == "a1"
    assert item.alert.timeline[0].kind is TimelineKind.created
    assert item.alert.timeline[0].reason is DedupeReason.new


def test_stage_updates_an_open_alert_with_new_evidence() -> None:
    ctx = context(open_alerts={"fw/x": alert("r1")})
    (item,) = _stage(ctx, cand("r1", "r2", severity=Severity.critical))
    assert item.change is Change.updated
    assert item.alert.id == "a0" and item.alert.evidence.report_ids == ("r1", "r2")
    assert item.alert.severity is Severity.critical  # raised, never lowered
    event = item.alert.timeline[-1]
    assert event.kind is TimelineKind.updated and event.data["added"] == {"report_ids": ["r2"]}
    assert item.alert.updated_ms == NIGHT


def test_stage_suppresses_duplicates_with_the_reason() -> None:
    ctx = context(open_alerts={"fw/x": alert("r1")})
    (item,) = _stage(ctx, cand("r1"))
    assert item.suppressed is not None
    assert item.suppressed.reason is SuppressReason.duplicate_open
    assert item.suppressed.by == "a0" and item.change is Change.unchanged


def test_stage_merges_candidates_within_one_batch() -> None:
    items = _stage(context(), cand("r1"), cand("r2"), cand("r2"))
    assert [i.change for i in items] == [Change.created, Change.unchanged]
    assert items[0].alert.evidence.report_ids == ("r1", "r2")
    assert items[1].suppressed.reason is SuppressReason.duplicate_open


def test_cluster_alert_found_by_shared_report_keeps_its_fingerprint() -> None:
    existing = dataclasses.replace(alert("s0", "s1", "s2"), fingerprint="cl/cluster/s0",
                                   rule="cl", kind="cluster")
    ctx = context(open_alerts={existing.fingerprint: existing})
    # s0 aged out of the window: the seed moved to s1, the fingerprint with it
    (item,) = _stage(ctx, cand("s1", "s2", "s3", fp="cl/cluster/s1", rule="cl",
                               merge_on_shared_reports=True))
    assert item.change is Change.updated and item.alert.fingerprint == "cl/cluster/s0"
    assert item.alert.evidence.report_ids == ("s0", "s1", "s2", "s3")


def test_resolved_alerts_do_not_fire_again_without_news() -> None:
    done = alert("r1", state=AlertState.resolved, resolved_ms=NIGHT - MIN)
    ctx = context(resolved_alerts={"fw/x": done})
    (item,) = _stage(ctx, cand("r1", starts_ms=NIGHT - HOUR))
    assert item.suppressed.reason is SuppressReason.already_resolved


def test_running_twice_creates_nothing_new() -> None:
    ctx = context()
    candidates = [cand("r1"), cand("r2", fp="fw/y")]
    first = run_pipeline(DEFAULT_STAGES, ctx, candidates)
    assert len(first.created) == 2
    second = run_pipeline(DEFAULT_STAGES, later(ctx, first), candidates)
    assert second.created == [] and second.updated == [] and second.notifications == []
    assert {s.reason for s in second.suppressed} == {SuppressReason.duplicate_open}
