"""Alert persistence on both backends (round trip, timelines appended, outbox, one open alert per
fingerprint), the demo squads, and the replay of stored history."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from alerts.model import (
    Alert,
    AlertState,
    Evidence,
    Mute,
    Notification,
    Outcome,
    Recipient,
    RecipientKind,
    Severity,
    TimelineEvent,
    TimelineKind,
)
from alerts.pipeline import PipelineResult
from alerts.reasons import AssignReason, DeclineReason, NotificationEvent, SuppressReason
from alerts.squads import Role, validate_squad
from ecopatrol.alerting import people, repo, service
from ecopatrol.alerting.backtest import replay
from ecopatrol.alerting.demo import seed_demo_squads
from ecopatrol.runtime import Runtime
from ecopatrol.store.alerts_schema import alert_events, outbox
from ecopatrol.store.tokens_repo import verify_token
from tests.ecopatrol.helpers_alerting import (
    DAY_MS,
    HOUR_MS,
    MIN_MS,
    SNARE_SPOTS,
    add_unit,
    field_setup,
)

T = 1_763_600_000_000


def _alert(**changes: object) -> Alert:
    base = Alert(
        id="a1", fingerprint="rule-x/report/1", rule="rule-x", kind="report", severity=Severity.high,
        labels={"rule": "rule-x", "township": "东溪乡"},
        evidence=Evidence(report_ids=("1",), reaches=("R1",)),
        state=AlertState.open, created_ms=T, updated_ms=T, starts_ms=T - 5000, title_zh="标题",
        title_en="Title", summary_zh="摘要", summary_en="Summary", x_m=1.5, y_m=2.5, lon=120.7, lat=28.8,
        squad_id="sq-1", route="default", escalation_policy="high", escalation_level=1,
        declined_squads=("sq-9",), muted_by=Mute(SuppressReason.silenced, "s1"),
        timeline=(TimelineEvent(T, TimelineKind.created, "rule:rule-x", None, {"fingerprint": "f"}),
                  TimelineEvent(T, TimelineKind.assigned, "system", AssignReason.nearest_available,
                                {"squad_id": "sq-1", "distance_m": 12.5})))
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _note(alert_id: str = "a1") -> Notification:
    return Notification("n1", alert_id, "stream", Recipient(RecipientKind.squad, "sq-1"),
                        NotificationEvent.assigned, Severity.high, T,
                        {"title": "标题", "alert": {"id": alert_id}})


def test_an_alert_round_trips_through_the_store(runtime: Runtime) -> None:
    alert = _alert()
    with runtime.store.write() as conn:
        repo.persist(conn, PipelineResult(created=[alert], notifications=[_note()]), stored_events={},
                     policies={}, now_ms=T)
    with runtime.store.read() as conn:
        assert repo.get_alert(conn, "a1") == alert
        (row,) = conn.execute(sa.select(outbox)).fetchall()
    assert (row.channel, row.recipient_kind, row.recipient, row.state, row.attempts) == \
        ("stream", "squad", "sq-1", "pending", 0)
    assert row.payload["alert"] == {"id": "a1"} and row.next_attempt_ms == T


def test_updates_append_only_the_new_timeline_events(runtime: Runtime) -> None:
    alert = _alert(muted_by=None)
    with runtime.store.write() as conn:
        repo.persist(conn, PipelineResult(created=[alert]), stored_events={}, policies={}, now_ms=T)
    later = alert.with_event(TimelineEvent(T + MIN_MS, TimelineKind.declined, "squad:sq-1",
                                           DeclineReason.too_far, {"squad_id": "sq-1"}),
                             state=AlertState.open, squad_id=None)
    resolved = later.with_event(TimelineEvent(T + 2 * MIN_MS, TimelineKind.resolved, "person:p1",
                                              Outcome.not_found, {}), state=AlertState.resolved,
                                resolved_ms=T + 2 * MIN_MS, outcome=Outcome.not_found)
    with runtime.store.write() as conn:
        repo.persist(conn, PipelineResult(updated=[resolved]), stored_events={"a1": 2}, policies={}, now_ms=T)
    with runtime.store.read() as conn:
        assert repo.get_alert(conn, "a1") == resolved
        seqs = conn.execute(sa.select(alert_events.c.seq).where(alert_events.c.alert_id == "a1")
                            .order_by(alert_events.c.seq)).scalars().all()
        assert seqs == [0, 1, 2, 3]
        assert repo.open_alerts(conn) == []
        assert list(repo.recent_resolved(conn, T)) == [alert.fingerprint]


def test_one_open_alert_per_fingerprint_is_enforced_by_the_store(runtime: Runtime) -> None:
    with runtime.store.write() as conn:
        repo.persist(conn, PipelineResult(created=[_alert()]), stored_events={}, policies={}, now_ms=T)
    with pytest.raises(IntegrityError), runtime.store.write() as conn:
        repo.persist(conn, PipelineResult(created=[_alert(id="a2")]), stored_events={}, policies={}, now_ms=T)
    # a resolved alert frees its fingerprint for a new episode
    with runtime.store.write() as conn:
        repo.save_alerts(conn, updated=[_alert(state=AlertState.resolved, resolved_ms=T)],
                         stored_events={"a1": 2}, policies={}, now_ms=T)
        repo.persist(conn, PipelineResult(created=[_alert(id="a3")]), stored_events={}, policies={}, now_ms=T)


def test_the_demo_squads_are_valid_round_the_clock_and_have_tokens(runtime: Runtime) -> None:
    add_unit(runtime, "V01", "vehicle")
    tokens = seed_demo_squads(runtime)
    again = seed_demo_squads(runtime)  # idempotent: the same squads, new tokens
    assert set(tokens) == set(again) and len(tokens) >= 4
    with runtime.store.read() as conn:
        squads = people.load_squads(conn)
        assert [s.id for s in squads] == sorted(tokens)
        for s in squads:
            assert validate_squad(list(s.members)) == []
            assert [p.role for p in s.members] == [Role.police, Role.auxiliary, Role.auxiliary]
            assert all("演示" in p.name for p in s.members)
            principal = verify_token(conn, again[s.id], now_ms=runtime.now_ms())
            assert principal is not None and (principal.role, principal.squad_id) == ("squad", s.id)
        assert squads[0].unit_ids == ("V01",)
    for hour in range(24):  # at every hour of a day, at least three squads are on duty
        at = DAY_MS + hour * HOUR_MS
        statuses = people.squad_statuses(squads, [], {}, runtime.settings.deployment.metric_crs, at)
        assert sum(s.state.value == "available" for s in statuses) >= 3, hour


def test_replay_lists_what_would_have_fired_once(runtime: Runtime, tmp_path: Path) -> None:
    gen = field_setup(runtime, tmp_path / "layers", DAY_MS)
    f = next(gen)
    start = f.runtime.now_ms()
    for i, spot in enumerate(SNARE_SPOTS):
        f.advance_to(start + 20 * i * HOUR_MS)
        f.report("snare", spot=spot)
    f.advance_to(start + 3 * 24 * HOUR_MS)
    fired = replay(f.runtime, service.alerting_config(f.runtime), since_ms=start - HOUR_MS)
    by_rule: dict[str, int] = {}
    for item in fired:
        by_rule[item.alert.rule] = by_rule.get(item.alert.rule, 0) + 1
    assert by_rule["hunting-cluster"] == 1
    assert by_rule["hunting-report"] == 2  # the third single is inside the cluster already
    assert by_rule["priority-coverage-gap"] >= 1  # nobody patrolled the priority river in the test
    cluster = next(i for i in fired if i.alert.rule == "hunting-cluster")
    assert start + 40 * HOUR_MS <= cluster.at_ms <= start + 41 * HOUR_MS
    # replaying writes nothing
    with f.runtime.store.read() as conn:
        assert len(repo.open_alerts(conn)) == 3
    gen.close()

