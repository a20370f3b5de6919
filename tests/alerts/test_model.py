import json

import pytest

from alerts.model import (
    Alert,
    AlertState,
    Evidence,
    Mute,
    Notification,
    Outcome,
    Overdue,
    Recipient,
    RecipientKind,
    ReportFact,
    Severity,
    TimelineEvent,
    TimelineKind,
    parse_reason,
)
from alerts.reasons import REASON_ENUMS, AssignReason, DeclineReason, NotificationEvent, SuppressReason
from tests.alerts.helpers import NIGHT, report


def test_reason_values_are_unique_across_enums() -> None:
    values = [m.value for enum in (*REASON_ENUMS, Outcome, Overdue) for m in enum]
    assert len(values) == len(set(values))


@pytest.mark.parametrize("value, expected", [
    ("nearest_available", AssignReason.nearest_available),
    ("too_far", DeclineReason.too_far),
    ("alert.escalated", NotificationEvent.escalated),
    ("false_report", Outcome.false_report),
    ("red", Overdue.red),
    (None, None),
])
def test_parse_reason(value: str | None, expected: object) -> None:
    assert parse_reason(value) is expected


def test_parse_reason_refuses_unknown() -> None:
    with pytest.raises(ValueError, match="unknown reason 'bogus'"):
        parse_reason("bogus")


def test_severity_rank_and_most_severe() -> None:
    assert [s.rank for s in Severity] == [0, 1, 2, 3]
    assert Severity.most_severe(Severity.low, Severity.high) is Severity.high
    assert Severity.most_severe(Severity.critical, Severity.medium) is Severity.critical


def test_evidence_merge_keeps_order_and_adds_only_news() -> None:
    a = Evidence(report_ids=("r1", "r2"), reaches=("R1",))
    b = Evidence(report_ids=("r2", "r3"), cells=("C9",))
    merged = a.merged(b)
    assert merged.report_ids == ("r1", "r2", "r3")
    assert merged.reaches == ("R1",) and merged.cells == ("C9",)
    assert merged.covers(a) and merged.covers(b)
    assert not a.covers(b)
    assert a.covers(Evidence(report_ids=("r2",)))


def _alert() -> Alert:
    return Alert(
        id="a1", fingerprint="fw/report/r1", rule="fw", kind="report",
        severity=Severity.critical, labels={"township": "白塔镇"},
        evidence=Evidence(report_ids=("r1",)), state=AlertState.resolved, created_ms=NIGHT,
        updated_ms=NIGHT + 5, starts_ms=NIGHT, resolved_ms=NIGHT + 5,
        outcome=Outcome.confirmed, declined_squads=("s2",),
        muted_by=Mute(SuppressReason.silenced, "sil-1"),
        timeline=(
            TimelineEvent(NIGHT, TimelineKind.assigned, "system", AssignReason.tie_least_busy,
                          {"squad_id": "s1"}),
            TimelineEvent(NIGHT + 5, TimelineKind.resolved, "person:p1", Outcome.confirmed),
        ),
    )


def test_alert_round_trips_through_json() -> None:
    alert = _alert()
    text = json.dumps(alert.to_dict(), ensure_ascii=False)
    back = Alert.from_dict(json.loads(text))
    assert back == alert
    assert back.timeline[0].reason is AssignReason.tie_least_busy


def test_alert_to_dict_is_plain() -> None:
    d = _alert().to_dict()
    assert d["state"] == "resolved" and d["severity"] == "critical"
    assert d["evidence"]["report_ids"] == ["r1"]
    assert d["timeline"][0]["reason"] == "tie_least_busy"
    assert d["muted_by"] == {"reason": "silenced", "by": "sil-1"}


def test_with_event_moves_updated_and_applies_changes() -> None:
    alert = _alert()
    ev = TimelineEvent(NIGHT + 100, TimelineKind.updated, "system")
    after = alert.with_event(ev, squad_id="s9")
    assert after.timeline[-1] is ev and after.updated_ms == NIGHT + 100
    assert after.squad_id == "s9" and alert.squad_id is None
    assert after.last_event(TimelineKind.assigned).reason is AssignReason.tie_least_busy


def test_report_and_notification_round_trip() -> None:
    r = report("r1", details={"shots_heard": 2}, zone_ids=("Z1",))
    assert ReportFact.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    n = Notification("n1", "a1", "ntfy", Recipient(RecipientKind.role, "duty_commander"),
                     NotificationEvent.escalated, Severity.high, NIGHT, {"title": "x"})
    assert Notification.from_dict(json.loads(json.dumps(n.to_dict()))) == n
