"""The field scenarios from issue 4, end to end through rules and pipeline, driven the way the app
drives them: a report committed → report-triggered rules → pipeline; a scheduled tick → scheduled
rules → pipeline, then open alerts through the tick stages."""

from __future__ import annotations

import dataclasses

from alerts.lifecycle import Action, apply_action
from alerts.model import Alert, Outcome, ReportFact, TimelineKind, UnitFact
from alerts.pipeline import DEFAULT_STAGES, PipelineContext, PipelineResult, run_pipeline, run_tick
from alerts.reasons import AssignReason, EscalationReason, SuppressReason
from alerts.rules import RuleFacts, evaluate_report_committed, evaluate_rules, parse_rules
from alerts.squads import Person, Role, validate_squad
from tests.alerts.helpers import HOUR, MIN, NIGHT, Ids, feature, report, squad, unit

RULES = parse_rules([
    {"kind": "report", "name": "firearm-night", "severity": "critical", "categories": ["firearm"],
     "local_time_from": "22:00", "local_time_to": "05:00", "max_dist_to_river_m": 500},
    {"kind": "report", "name": "snare", "severity": "medium", "categories": ["snare"]},
    {"kind": "cluster", "name": "snare-cluster", "severity": "high", "categories": ["snare"],
     "min_reports": 3, "radius_m": 500, "window_hours": 72},
    {"kind": "coverage_gap", "name": "reach-gap", "max_gap_hours": 72,
     "feature_kinds": ["reach"]},
    {"kind": "silent_unit", "name": "silent-foot", "silent_min": 30},
])

SQUADS = [squad("sq-1", 1000, 1000), squad("sq-2", 6000, 1000), squad("sq-3", 20_000, 0)]


class FakeApp:
    """What the app does around the pure functions: load, call, persist."""

    def __init__(self) -> None:
        self.alerts: dict[str, Alert] = {}
        self.reports: list[ReportFact] = []
        self.units: list[UnitFact] = []
        self.features: list = []
        self.ids = Ids()
        self.results: list[PipelineResult] = []

    def ctx(self, now_ms: int) -> PipelineContext:
        open_ = {a.fingerprint: a for a in self.alerts.values() if a.is_open}
        resolved = {a.fingerprint: a for a in sorted(self.alerts.values(),
                                                     key=lambda a: a.created_ms)
                    if not a.is_open}
        return PipelineContext(now_ms=now_ms, new_id=self.ids, open_alerts=open_,
                               resolved_alerts=resolved, squads=SQUADS)

    def persist(self, result: PipelineResult) -> PipelineResult:
        for alert in result.alerts:
            self.alerts[alert.id] = alert
        self.results.append(result)
        return result

    def commit_report(self, r: ReportFact) -> PipelineResult:
        self.reports.append(r)
        now = r.received_ms
        recent = [x for x in self.reports if x.observed_ms > now - 72 * HOUR]
        candidates = evaluate_report_committed(RULES, r, recent, now)
        return self.persist(run_pipeline(DEFAULT_STAGES, self.ctx(now), candidates))

    def tick(self, now_ms: int) -> tuple[PipelineResult, PipelineResult]:
        facts = RuleFacts(reports=self.reports, units=self.units, features=self.features)
        candidates = evaluate_rules(RULES, facts, now_ms)
        from_rules = self.persist(run_pipeline(DEFAULT_STAGES, self.ctx(now_ms), candidates))
        return from_rules, self.persist(run_tick(self.ctx(now_ms)))

    def act(self, alert_id: str, action: Action, now_ms: int, **kw: object) -> None:
        self.alerts[alert_id] = apply_action(self.alerts[alert_id], action, "person:p1", now_ms,
                                             **kw)  # type: ignore[arg-type]


def test_the_demo_squads_are_valid() -> None:
    members = [Person("p1", "张警官", Role.police), Person("p2", "李辅警", Role.auxiliary),
               Person("p3", "王辅警", Role.auxiliary)]
    assert validate_squad(members) == []


def test_night_firearm_near_a_river() -> None:
    app = FakeApp()
    result = app.commit_report(report("r1", "firearm", NIGHT, x_m=1200, y_m=900,
                                      dist_to_river_m=150.0))
    (alert,) = result.created
    assert alert.severity.value == "critical" and alert.rule == "firearm-night"
    assert alert.squad_id == "sq-1"
    assert alert.last_event(TimelineKind.assigned).reason is AssignReason.nearest_available
    assert [n.recipient.id for n in result.notifications] == ["sq-1"]

    # nobody acknowledges: at +2 min the duty commander, at +7 min the station chief
    escalated = []
    for minute in range(1, 15):
        _, tick = app.tick(NIGHT + minute * MIN)
        escalated += [(minute, e.target) for e in tick.escalations]
        assert tick.created == []
    assert escalated == [(2, "duty_commander"), (7, "station_chief")]


def test_acknowledged_in_time_no_escalation_then_resolved() -> None:
    app = FakeApp()
    (alert,) = app.commit_report(report("r1", "firearm", NIGHT)).created
    app.act(alert.id, Action.ack, NIGHT + MIN)
    app.act(alert.id, Action.on_scene, NIGHT + 20 * MIN)
    for minute in range(2, 60, 5):
        _, tick = app.tick(NIGHT + minute * MIN)
        assert tick.escalations == []
    app.act(alert.id, Action.resolve, NIGHT + 70 * MIN, outcome=Outcome.confirmed)
    # the report is still within the report rule's look-back: it must not fire again
    created, _ = app.tick(NIGHT + 80 * MIN)
    assert created.created == []
    assert {s.reason for s in created.suppressed} == {SuppressReason.already_resolved}


def test_three_snares_in_a_forest_block_over_two_days() -> None:
    app = FakeApp()
    t1, t2, t3 = NIGHT - 40 * HOUR, NIGHT - 20 * HOUR, NIGHT
    (single1,) = app.commit_report(report("s1", "snare", t1, x_m=5000, y_m=8000)).created
    (single2,) = app.commit_report(report("s2", "snare", t2, x_m=5150, y_m=8050)).created
    assert single1.rule == single2.rule == "snare"

    third = app.commit_report(report("s3", "snare", t3, x_m=5080, y_m=7900))
    (cluster,) = third.created
    assert cluster.rule == "snare-cluster" and cluster.severity.value == "high"
    assert cluster.evidence.report_ids == ("s1", "s2", "s3")
    # the single alert of the third report is never created, the first two are muted
    inhibited = {(s.fingerprint, s.alert_id) for s in third.suppressed
                 if (s.reason, s.by) == (SuppressReason.inhibited_by_cluster, cluster.id)}
    assert inhibited == {("snare/report/s3", None), ("snare/report/s1", single1.id),
                         ("snare/report/s2", single2.id)}
    assert [a.rule for a in third.created] == ["snare-cluster"]
    muted = {a.id: a for a in third.updated}
    assert set(muted) == {single1.id, single2.id}
    assert all(a.muted_by.by == cluster.id for a in muted.values())
    assert all(a.timeline[-1].kind is TimelineKind.inhibited for a in muted.values())

    # re-evaluation fires nothing; the muted singles never escalate, the cluster does
    for minute in (1, 10, 30, 60):
        created, tick = app.tick(NIGHT + minute * MIN)
        assert created.created == [] and tick.created == []
        assert {e.alert_id for e in tick.escalations} <= {cluster.id}


def test_a_fourth_snare_grows_the_same_cluster() -> None:
    app = FakeApp()
    for i, hours in enumerate((40, 20, 0)):
        app.commit_report(report(f"s{i}", "snare", NIGHT - hours * HOUR, x_m=5000 + i * 50,
                                 y_m=8000))
    fourth = app.commit_report(report("s3", "snare", NIGHT + HOUR, x_m=5010, y_m=8010))
    assert fourth.created == []
    (cluster,) = [a for a in fourth.updated if a.rule == "snare-cluster"]
    assert cluster.evidence.report_ids == ("s0", "s1", "s2", "s3")
    assert cluster.last_event(TimelineKind.updated).data["added"] == {"report_ids": ["s3"]}


def test_a_reach_unpatrolled_for_four_days() -> None:
    app = FakeApp()
    app.features = [feature("R-17", NIGHT - 96 * HOUR, x_m=6100, y_m=1000),
                    feature("R-18", NIGHT - 5 * HOUR)]
    created, _ = app.tick(NIGHT)
    (gap,) = created.created
    assert gap.rule == "reach-gap" and gap.evidence.reaches == ("R-17",)
    assert gap.squad_id == "sq-2"  # nearest to the stale reach
    for hour in range(1, 24):
        again, _ = app.tick(NIGHT + hour * HOUR)
        assert again.created == [] and again.updated == []
    # resolved by the commander while still unpatrolled: stays quiet
    app.act(gap.id, Action.resolve, NIGHT + 25 * HOUR, outcome=Outcome.not_found)
    quiet, _ = app.tick(NIGHT + 26 * HOUR)
    assert quiet.created == []
    # patrolled, then left again for over 72 h: a new episode, a new alert
    app.features = [dataclasses.replace(app.features[0], last_visit_ms=NIGHT + 27 * HOUR)]
    lapse, _ = app.tick(NIGHT + 100 * HOUR)
    (new_gap,) = lapse.created
    assert new_gap.id != gap.id and new_gap.fingerprint == gap.fingerprint


def test_a_foot_patrol_gone_silent() -> None:
    app = FakeApp()
    app.units = [unit("phone-sq1", "foot", last_fix_ms=NIGHT - 20 * MIN, last_x_m=1000,
                      last_y_m=1000, squad_id="sq-1")]
    created, _ = app.tick(NIGHT)
    assert created.created == []  # 20 min: not yet
    created, _ = app.tick(NIGHT + 15 * MIN)
    (alert,) = created.created
    assert alert.rule == "silent-foot" and alert.severity.value == "critical"
    assert alert.squad_id == "sq-2"  # the nearest squad other than the silent one
    _, tick = app.tick(NIGHT + 18 * MIN)
    assert [(e.target, e.reason) for e in tick.escalations] == [
        ("duty_commander", EscalationReason.ack_overdue)]
    again, _ = app.tick(NIGHT + 19 * MIN)
    assert again.created == []
