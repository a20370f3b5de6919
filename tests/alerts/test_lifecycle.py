import dataclasses

import pytest

from alerts.lifecycle import Action, TransitionError, apply_action, decline
from alerts.model import Alert, AlertState, Evidence, Outcome, Severity, TimelineKind
from alerts.reasons import AssignReason, DeclineReason, EscalationReason, NotificationEvent
from tests.alerts.helpers import MIN, NIGHT, context, squad


def _alert(state: AlertState = AlertState.open, **kw: object) -> Alert:
    base = Alert("a1", "fp", "fw", "report", Severity.critical, {}, Evidence(), state, NIGHT,
                 NIGHT, NIGHT, x_m=0.0, y_m=0.0, squad_id="s1", route="default",
                 escalation_policy="critical")
    return dataclasses.replace(base, **kw)


@pytest.mark.parametrize("state, action, after", [
    (AlertState.open, Action.ack, AlertState.acknowledged),
    (AlertState.acknowledged, Action.en_route, AlertState.en_route),
    (AlertState.en_route, Action.on_scene, AlertState.on_scene),
    (AlertState.open, Action.on_scene, AlertState.on_scene),  # skipping steps is allowed
])
def test_forward_transitions(state: AlertState, action: Action, after: AlertState) -> None:
    alert = apply_action(_alert(state), action, "person:p1", NIGHT + MIN)
    assert alert.state is after
    assert alert.acked_ms == NIGHT + MIN
    assert alert.timeline[-1].kind.value == after.value
    assert alert.timeline[-1].actor == "person:p1"


def test_skipping_fills_the_earlier_times() -> None:
    alert = apply_action(_alert(), Action.on_scene, "p", NIGHT + 9 * MIN)
    assert alert.acked_ms == alert.en_route_ms == alert.on_scene_ms == NIGHT + 9 * MIN


def test_repeating_a_state_is_a_no_op() -> None:
    alert = _alert(AlertState.acknowledged, acked_ms=NIGHT)
    assert apply_action(alert, Action.ack, "p", NIGHT + MIN) is alert


@pytest.mark.parametrize("state, action, outcome, message", [
    (AlertState.on_scene, Action.ack, None, "cannot go back to acknowledged"),
    (AlertState.resolved, Action.on_scene, None, "already resolved"),
    (AlertState.on_scene, Action.resolve, None, "resolve needs an outcome"),
])
def test_refused_transitions(state: AlertState, action: Action, outcome: Outcome | None,
                             message: str) -> None:
    with pytest.raises(TransitionError, match=message):
        apply_action(_alert(state), action, "p", NIGHT, outcome)


def test_resolve_records_the_outcome() -> None:
    alert = apply_action(_alert(AlertState.on_scene), Action.resolve, "p", NIGHT + 40 * MIN,
                         Outcome.false_report, note="kids with firecrackers")
    assert alert.outcome is Outcome.false_report and alert.resolved_ms == NIGHT + 40 * MIN
    assert alert.timeline[-1].reason is Outcome.false_report
    assert alert.timeline[-1].data["note"] == "kids with firecrackers"


def test_decline_reassigns_to_the_next_nearest() -> None:
    ctx = context(squads=[squad("s1", 100, 0), squad("s2", 2000, 0), squad("s3", 9000, 0)])
    acked = _alert(AlertState.acknowledged, acked_ms=NIGHT)
    result = decline(ctx, acked, "s1", DeclineReason.busy_other_incident, "squad:s1")
    (alert,) = result.updated
    assert alert.squad_id == "s2" and alert.state is AlertState.open and alert.acked_ms is None
    assert alert.declined_squads == ("s1",)
    kinds = [(e.kind, e.reason) for e in alert.timeline]
    assert (TimelineKind.declined, DeclineReason.busy_other_incident) in kinds
    assert (TimelineKind.assigned, AssignReason.nearest_available) in kinds
    assert [(n.recipient.id, n.event) for n in result.notifications] == [
        ("s2", NotificationEvent.assigned)]
    # s2 declines too: s3 is next, s1 stays excluded
    again = decline(ctx, alert, "s2", DeclineReason.too_far, "squad:s2").updated[0]
    assert again.squad_id == "s3" and again.declined_squads == ("s1", "s2")


def test_decline_with_nobody_left_escalates_at_once() -> None:
    ctx = context(squads=[squad("s1", 100, 0)])
    result = decline(ctx, _alert(), "s1", DeclineReason.unsafe_conditions, "squad:s1")
    (alert,) = result.updated
    assert alert.squad_id is None
    assert alert.last_event(TimelineKind.unassigned).reason is AssignReason.none_available
    (e,) = result.escalations
    assert (e.target, e.reason) == ("duty_commander", EscalationReason.unassigned)
    assert [n.recipient.id for n in result.notifications] == ["duty_commander"]


@pytest.mark.parametrize("alert, squad_id, message", [
    (_alert(), "s9", "squad s9 is not assigned"),
    (_alert(AlertState.on_scene), "s1", "too late to decline"),
])
def test_refused_declines(alert: Alert, squad_id: str, message: str) -> None:
    with pytest.raises(TransitionError, match=message):
        decline(context(), alert, squad_id, DeclineReason.other, "x")
