import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.escalation import EscalationPolicy
from alerts.model import AlertState, Candidate, Evidence, RecipientKind, Severity, TimelineKind
from alerts.pipeline import (
    DEFAULT_STAGES,
    PipelineContext,
    PipelineResult,
    run_items,
    run_pipeline,
    run_tick,
)
from alerts.pipeline.context import Item
from alerts.reasons import (
    AssignReason,
    EscalationReason,
    NotificationEvent,
    RouteReason,
    SuppressReason,
    UnmuteReason,
)
from alerts.routing import Route
from alerts.silence import Silence
from tests.alerts.helpers import HOUR, MIN, NIGHT, context, later, squad


def cand(report_id: str, fp: str | None = None, severity: Severity = Severity.critical,
         township: str = "白塔镇", x_m: float = 0.0) -> Candidate:
    return Candidate("fw", "report", severity, fp or f"fw/report/{report_id}",
                     {"rule": "fw", "kind": "report", "severity": severity.value,
                      "township": township},
                     Evidence(report_ids=(report_id,)), "枪声", "Gunshots", "摘要", "summary",
                     NIGHT, x_m, 0.0)


SQUADS = [squad("s1", 1000, 0), squad("s2", 5000, 0)]


def test_stops_early_when_nothing_is_left() -> None:
    calls: list[str] = []

    def drop_all(ctx: PipelineContext, items: list[Item]) -> list[Item]:
        calls.append("drop")
        return []

    def never(ctx: PipelineContext, items: list[Item]) -> list[Item]:
        calls.append("never")
        return items

    result = run_items([drop_all, never], context(), [Item(None, cand("r1"))])
    assert calls == ["drop"] and result.created == []


def test_a_report_becomes_an_assigned_notified_alert() -> None:
    result = run_pipeline(DEFAULT_STAGES, context(squads=SQUADS), [cand("r1")])
    (alert,) = result.created
    assert alert.squad_id == "s1" and alert.route == "default"
    assert alert.escalation_policy == "critical"
    kinds = [e.kind for e in alert.timeline]
    assert kinds == [TimelineKind.created, TimelineKind.routed, TimelineKind.assigned,
                     TimelineKind.notified]
    (n,) = result.notifications
    assert (n.channel, n.recipient.kind, n.recipient.id, n.event) == (
        "stream", RecipientKind.squad, "s1", NotificationEvent.assigned)
    assert n.payload["alert"]["squad_id"] == "s1" and n.payload["title"] == "枪声"
    assert alert.timeline[-1].data["notification_id"] == n.id


def test_routes_choose_channels_roles_and_policy() -> None:
    routes = [
        Route.model_validate({"name": "critical-baita",
                              "matchers": ['severity="critical"', 'township="白塔镇"'],
                              "channels": ["stream", "ntfy", "webhook"],
                              "escalation_policy": "fast", "also_notify": ["duty_commander"]}),
    ]
    ctx = context(squads=SQUADS, routes=routes,
                  escalation_policies={"fast": EscalationPolicy(ack_within_min=1, step_min=1)})
    result = run_pipeline(DEFAULT_STAGES, ctx, [cand("r1"), cand("r2", township="城关镇")])
    baita, chengguan = result.created
    assert baita.route == "critical-baita" and baita.escalation_policy == "fast"
    assert baita.last_event(TimelineKind.routed).reason is RouteReason.matched_route
    assert chengguan.route == "default"
    sent = sorted((n.alert_id, n.channel, n.recipient.id) for n in result.notifications)
    assert sent == [
        (baita.id, "ntfy", "duty_commander"), (baita.id, "ntfy", "s1"),
        (baita.id, "stream", "duty_commander"), (baita.id, "stream", "s1"),
        (baita.id, "webhook", "duty_commander"), (baita.id, "webhook", "s1"),
        (chengguan.id, "stream", "s1"),  # s2 is 4 km further: no tie, load does not matter
    ]


def test_batch_assignments_spread_over_tied_squads() -> None:
    squads = [squad("s1", 1000, 0), squad("s2", 1050, 0)]
    result = run_pipeline(DEFAULT_STAGES, context(squads=squads), [cand("r1"), cand("r2")])
    assert [a.squad_id for a in result.created] == ["s1", "s2"]
    assert result.created[1].last_event(TimelineKind.assigned).reason is \
        AssignReason.tie_least_busy


def _silence(**kw: object) -> Silence:
    data = {"id": "sil-1", "matchers": ['township="白塔镇"'], "starts_ms": NIGHT - HOUR,
            "ends_ms": NIGHT + HOUR, "created_by": "commander", "comment": "exercise"}
    data.update(kw)
    return Silence.model_validate(data)


def test_silenced_candidates_do_not_become_alerts() -> None:
    result = run_pipeline(DEFAULT_STAGES, context(squads=SQUADS, silences=[_silence()]),
                          [cand("r1"), cand("r2", township="城关镇")])
    assert [a.labels["township"] for a in result.created] == ["城关镇"]
    (s,) = result.suppressed
    assert (s.reason, s.by, s.alert_id) == (SuppressReason.silenced, "sil-1", None)


def test_a_silence_mutes_an_open_alert_and_its_end_unmutes_it() -> None:
    ctx = context(squads=SQUADS)
    first = run_pipeline(DEFAULT_STAGES, ctx, [cand("r1")])
    ctx = later(ctx, first, NIGHT + MIN, silences=[_silence()])
    muted = run_tick(ctx)
    (alert,) = muted.updated
    assert alert.muted_by.reason is SuppressReason.silenced
    assert alert.timeline[-1].kind is TimelineKind.silenced
    assert muted.notifications == [] and muted.escalations == []
    ctx = later(ctx, muted, NIGHT + 30 * MIN)
    quiet = run_tick(ctx)  # still silenced: nothing to persist, nothing escalated
    assert quiet.updated == [] and quiet.escalations == []
    ctx = later(ctx, quiet, NIGHT + 2 * HOUR)  # the silence has ended
    back = run_tick(ctx)
    (alert,) = back.updated
    assert alert.muted_by is None
    unmuted = alert.last_event(TimelineKind.unmuted)
    assert unmuted.reason is UnmuteReason.silence_ended
    assert [e.level for e in back.escalations] == [1, 2]  # long overdue by now


def test_tick_assigns_an_alert_once_a_squad_is_free() -> None:
    ctx = context(squads=[])
    first = run_pipeline(DEFAULT_STAGES, ctx, [cand("r1")])
    (alert,) = first.created
    assert alert.squad_id is None
    assert alert.last_event(TimelineKind.unassigned).reason is AssignReason.none_available
    assert [e.reason for e in first.escalations] == [EscalationReason.unassigned]
    ctx = later(ctx, first, NIGHT + 10)
    assert run_tick(ctx).updated == []  # still nobody: nothing new to say
    ctx = later(ctx, PipelineResult(), NIGHT + 20, squads=SQUADS)
    (assigned,) = run_tick(ctx).updated
    assert assigned.squad_id == "s1"


def test_escalation_notifies_the_role_and_records_it_once() -> None:
    ctx = context(squads=SQUADS)
    first = run_pipeline(DEFAULT_STAGES, ctx, [cand("r1")])
    ctx = later(ctx, first, NIGHT + 2 * MIN + 1)
    tick = run_tick(ctx)
    (alert,) = tick.updated
    assert alert.escalation_level == 1
    (n,) = tick.notifications
    assert (n.recipient.kind, n.recipient.id, n.event) == (
        RecipientKind.role, "duty_commander", NotificationEvent.escalated)
    assert n.payload["title"].startswith("【升级】") and n.payload["level"] == 1
    assert alert.last_event(TimelineKind.overdue).reason.value == "yellow"
    again = run_tick(later(ctx, tick))
    assert again.updated == [] and again.notifications == []


def test_acknowledged_alert_stops_ack_escalation() -> None:
    ctx = context(squads=SQUADS)
    (alert,) = run_pipeline(DEFAULT_STAGES, ctx, [cand("r1")]).created
    acked = dataclasses.replace(alert, state=AlertState.acknowledged, acked_ms=NIGHT + MIN)
    ctx = dataclasses.replace(ctx, open_alerts={acked.fingerprint: acked}, now_ms=NIGHT + 20 * MIN)
    assert run_tick(ctx).escalations == []


reports = st.lists(st.sampled_from([f"r{i}" for i in range(6)]), min_size=1, max_size=3)
candidates = st.lists(
    st.builds(lambda fp, rs, sev, x: dataclasses.replace(
        cand(rs[0], fp=fp, severity=sev, x_m=x), evidence=Evidence(report_ids=tuple(rs))),
        st.sampled_from(["f1", "f2", "f3", "f4"]), reports, st.sampled_from(list(Severity)),
        st.floats(0, 10_000)),
    max_size=8)


clusters = st.builds(
    lambda fp, rs: dataclasses.replace(
        cand(rs[0], fp=fp, severity=Severity.high), kind="cluster",
        labels={"kind": "cluster", "inhibits": "singles"}, merge_on_shared_reports=True,
        evidence=Evidence(report_ids=tuple(rs))),
    st.sampled_from(["c1", "c2"]), reports)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(candidates,
                          st.lists(clusters, max_size=2)), max_size=2), st.booleans())
def test_running_the_pipeline_twice_creates_nothing_new(batches: list, with_squads: bool) -> None:
    cands = [c for batch in batches for c in batch]
    ctx = context(squads=SQUADS if with_squads else [])
    first = run_pipeline(DEFAULT_STAGES, ctx, cands)
    assert len({a.fingerprint for a in first.created}) == len(first.created)
    second = run_pipeline(DEFAULT_STAGES, later(ctx, first), cands)
    assert second.created == []
    assert second.updated == []
    assert second.notifications == [] and second.escalations == []
