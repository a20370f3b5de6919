import dataclasses

import pytest
from pydantic import ValidationError

from alerts.escalation import (
    DEFAULT_POLICIES,
    EscalationPolicy,
    ReportTargets,
    escalate,
    next_check_ms,
    overdue,
    overdue_code,
    policy_for,
    report_overdue,
)
from alerts.model import (
    Alert,
    AlertState,
    Evidence,
    Mute,
    Overdue,
    ReportStatus,
    Severity,
    TimelineEvent,
    TimelineKind,
)
from alerts.reasons import AssignReason, EscalationReason, SuppressReason
from tests.alerts.helpers import MIN, NIGHT, report

CRITICAL = EscalationPolicy(ack_within_min=2, step_min=5, on_scene_within_min=30)


def _alert(**kw: object) -> Alert:
    base = Alert("a1", "fp", "fw", "report", Severity.critical, {}, Evidence(),
                 AlertState.open, NIGHT, NIGHT, NIGHT, squad_id="s1")
    return dataclasses.replace(base, **kw)


@pytest.mark.parametrize("elapsed_min, limit, red, code", [
    (1.99, 2, None, None),
    (2.0, 2, None, Overdue.yellow),  # the limit reached: late
    (3.99, 2, None, Overdue.yellow),
    (4.0, 2, None, Overdue.red),  # 2 × the limit
    (2.99, 2, 3, Overdue.yellow),
    (3.0, 2, 3, Overdue.red),  # explicit red limit
])
def test_overdue_code(elapsed_min: float, limit: float, red: float | None,
                      code: Overdue | None) -> None:
    assert overdue_code(int(elapsed_min * MIN), limit, red) is code


@pytest.mark.parametrize("kw, minutes, code", [
    ({}, 1, None),
    ({}, 3, Overdue.yellow),  # not acknowledged within 2 min
    ({}, 5, Overdue.red),
    ({"acked_ms": NIGHT + MIN, "state": AlertState.acknowledged}, 5, None),
    ({"acked_ms": NIGHT + MIN, "state": AlertState.en_route}, 31, Overdue.yellow),
    ({"acked_ms": NIGHT + MIN, "state": AlertState.en_route}, 61, Overdue.red),
    ({"acked_ms": NIGHT + MIN, "on_scene_ms": NIGHT + 20 * MIN, "state": AlertState.on_scene},
     90, None),
    ({"state": AlertState.resolved}, 90, None),
])
def test_alert_overdue(kw: dict, minutes: int, code: Overdue | None) -> None:
    assert overdue(_alert(**kw), CRITICAL, NIGHT + minutes * MIN) is code


@pytest.mark.parametrize("status, minutes, code", [
    (ReportStatus.received, 2, None),
    (ReportStatus.received, 4, Overdue.yellow),  # triage target 3 min
    (ReportStatus.triaged, 4, None),
    (ReportStatus.triaged, 6, Overdue.yellow),  # assignment target 5 min
    (ReportStatus.received, 7, Overdue.red),  # past 2 × triage
    (ReportStatus.triaged, 11, Overdue.red),
    (ReportStatus.assigned, 60, None),
])
def test_report_overdue(status: ReportStatus, minutes: int, code: Overdue | None) -> None:
    r = report("r1", status=status)
    assert report_overdue(r, r.received_ms + minutes * MIN) is code


def test_report_targets_are_configurable() -> None:
    r = report("r1")
    assert report_overdue(r, r.received_ms + 90_000, ReportTargets(triage_min=1)) is \
        Overdue.yellow


def _climb(alert: Alert, policy: EscalationPolicy, minutes: range) -> list[tuple[int, int, str]]:
    """Tick every minute, recording escalations as the pipeline would."""
    seen = []
    for m in minutes:
        for e in escalate([alert], {"critical": policy}, NIGHT + m * MIN):
            seen.append((m, e.level, e.target))
            alert = dataclasses.replace(alert, escalation_level=e.level)
    return seen


def test_unacknowledged_critical_climbs_each_level_once() -> None:
    assert _climb(_alert(), CRITICAL, range(0, 60)) == [
        (2, 1, "duty_commander"), (7, 2, "station_chief")]


def test_acknowledged_in_time_does_not_escalate_until_on_scene_is_late() -> None:
    acked = _alert(acked_ms=NIGHT + MIN, state=AlertState.en_route)
    assert _climb(acked, CRITICAL, range(0, 40)) == [(30, 1, "duty_commander"),
                                                     (35, 2, "station_chief")]


def test_on_scene_alert_never_escalates() -> None:
    done = _alert(acked_ms=NIGHT + MIN, on_scene_ms=NIGHT + 10 * MIN, state=AlertState.on_scene)
    assert _climb(done, CRITICAL, range(0, 120)) == []


def test_a_late_tick_jumps_levels_but_reports_each() -> None:
    (first, second) = escalate([_alert()], {"critical": CRITICAL}, NIGHT + 60 * MIN)
    assert (first.level, second.level) == (1, 2)
    assert first.reason is EscalationReason.ack_overdue  # never acknowledged: the deeper cause


def test_unassignable_alert_escalates_at_once() -> None:
    alert = _alert(squad_id=None, timeline=(
        TimelineEvent(NIGHT, TimelineKind.unassigned, "system", AssignReason.none_available),))
    (e,) = escalate([alert], {"critical": CRITICAL}, NIGHT)
    assert (e.level, e.target, e.reason) == (1, "duty_commander", EscalationReason.unassigned)


def test_muted_and_resolved_alerts_do_not_escalate() -> None:
    muted = _alert(muted_by=Mute(SuppressReason.silenced, "s1"))
    resolved = _alert(state=AlertState.resolved)
    assert escalate([muted, resolved], {"critical": CRITICAL}, NIGHT + 60 * MIN) == []


def test_policy_lookup_order() -> None:
    named = EscalationPolicy(ack_within_min=1, step_min=1)
    policies = {"night-desk": named, "critical": CRITICAL}
    assert policy_for(_alert(escalation_policy="night-desk"), policies) is named
    assert policy_for(_alert(), policies) is CRITICAL
    assert policy_for(_alert(severity=Severity.low), policies) is DEFAULT_POLICIES["low"]


@pytest.mark.parametrize("kw, message", [
    ({"ack_within_min": 2, "ack_red_min": 2, "step_min": 5}, "ack_red_min must be greater"),
    ({"ack_within_min": 2, "step_min": 5, "on_scene_red_min": 9}, "needs on_scene_within_min"),
    ({"ack_within_min": 0, "step_min": 5}, "greater than 0"),
    ({"ack_within_min": 2, "step_min": 5, "levels": []}, "at least 1 item"),
    ({"ack_within_min": 2, "step_min": 5, "leader": "x"}, "Extra inputs"),
])
def test_policy_validation(kw: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EscalationPolicy(**kw)


@pytest.mark.parametrize("kw, now_min, expected_min", [
    ({}, 0, 2),  # the ack limit
    ({"escalation_level": 1}, 3, 4),  # red overdue at 2 × 2 min comes before level 2 at 7
    ({"escalation_level": 1}, 5, 7),  # then level 2
    ({"escalation_level": 2}, 8, 30),  # ladder done; the on-scene limit is next
    ({"acked_ms": NIGHT + MIN, "state": AlertState.en_route}, 5, 30),
    ({"acked_ms": NIGHT, "on_scene_ms": NIGHT + MIN, "state": AlertState.on_scene}, 5, None),
    ({}, 9, 9),  # level 1 missed (due at 2): due now
])
def test_next_check(kw: dict, now_min: int, expected_min: int | None) -> None:
    got = next_check_ms(_alert(**kw), CRITICAL, NIGHT + now_min * MIN)
    assert got == (None if expected_min is None else NIGHT + expected_min * MIN)
