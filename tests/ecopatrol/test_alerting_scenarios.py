"""The field scenarios of issue 4, end to end through the report API, the store, the scheduler's tick
and the alert API, on SQLite and PostgreSQL, with the shipped default rules."""

from __future__ import annotations

from collections.abc import Iterator
from math import asin, cos, radians, sin, sqrt
from pathlib import Path

import pytest
import sqlalchemy as sa

from ecopatrol.alerting import service
from ecopatrol.alerting.facts import feature_table
from ecopatrol.runtime import Runtime
from ecopatrol.store.alerts_schema import alert_events
from tests.ecopatrol.helpers_alerting import (
    DAY_MS,
    MIN_MS,
    NIGHT_MS,
    SNARE_SPOTS,
    SQUAD_SPOTS,
    Field,
    add_unit,
    field_setup,
    hours,
    insert_fixes,
    minutes,
    visit,
    visit_everything,
)
from tests.ecopatrol.helpers_reports import NEAR_RIVER


@pytest.fixture
def night(runtime: Runtime, tmp_path: Path) -> Iterator[Field]:
    yield from field_setup(runtime, tmp_path / "layers", NIGHT_MS)


@pytest.fixture
def day(runtime: Runtime, tmp_path: Path) -> Iterator[Field]:
    yield from field_setup(runtime, tmp_path / "layers", DAY_MS)


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lon1, lat1), (lon2, lat2) = (map(radians, a), map(radians, b))
    h = sin((lat2 - lat1) / 2) ** 2 + cos(lat1) * cos(lat2) * sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * asin(sqrt(h))


def _nearest_squad(spot: tuple[float, float], exclude: tuple[str, ...] = ()) -> str:
    return min((s for s in SQUAD_SPOTS if s not in exclude), key=lambda s: _metres(spot, SQUAD_SPOTS[s]))


# --- a night firearm report near a river ------------------------------------------------------------


def test_a_night_firearm_by_the_river_is_critical_and_assigned_in_the_same_request(night: Field) -> None:
    report = night.report("firearm")
    # no tick has run: the report rules ran when the report was committed
    (alert,) = night.alerts()
    assert alert["severity"] == "critical"
    assert alert["rule"] == "firearm-night-river"
    assert alert["evidence"]["report_ids"] == [str(report["id"])]
    assert alert["state"] == "open" and alert["overdue"] is None
    assert alert["squad"]["id"] == _nearest_squad(NEAR_RIVER)
    roles = sorted(m["role"] for m in alert["squad"]["members"])
    assert roles == ["auxiliary", "auxiliary", "police"]
    assert alert["title_zh"] and alert["title_en"]
    kinds = [e["kind"] for e in alert["timeline"]]
    assert kinds[0] == "created" and "assigned" in kinds and "notified" in kinds
    assigned = next(e for e in alert["timeline"] if e["kind"] == "assigned")
    assert assigned["reason"] == "nearest_available"
    # the squad and the duty commander are told, through the outbox
    told = {(r.recipient_kind, r.recipient) for r in night.outbox()}
    assert ("squad", alert["squad"]["id"]) in told and ("role", "duty_commander") in told
    # the report moved on with it
    got = night.client.get(f"/api/v1/reports/{report['id']}", headers=night.commander).json()
    assert got["status"] == "assigned"


def test_a_second_report_of_the_same_shots_joins_the_first_alert(night: Field) -> None:
    first = night.report("firearm")
    night.advance_to(night.runtime.now_ms() + 4 * MIN_MS)
    second = night.report("firearm", spot=(NEAR_RIVER[0] + 0.0005, NEAR_RIVER[1]))  # ≈50 m away
    (alert,) = night.alerts()
    assert alert["evidence"]["report_ids"] == [str(first["id"]), str(second["id"])]
    assert [e["kind"] for e in alert["timeline"]].count("updated") == 1
    updated = [r for r in night.outbox() if r.event == "alert.updated"]
    assert [(r.recipient_kind, r.recipient) for r in updated] == [("squad", alert["squad"]["id"])]
    statuses = {night.client.get(f"/api/v1/reports/{r['id']}", headers=night.commander).json()["status"]
                for r in (first, second)}
    assert statuses == {"assigned"}


def test_a_firearm_by_day_is_critical_under_the_generic_rule(day: Field) -> None:
    day.report("firearm")
    (alert,) = day.alerts()
    assert (alert["rule"], alert["severity"]) == ("firearm", "critical")


def test_a_night_firearm_far_from_water_is_still_critical_but_not_the_river_rule(night: Field) -> None:
    far = (120.745, 28.814)  # top of the forest, ≈1.5 km from the river
    night.report("firearm", spot=far)
    (alert,) = night.alerts()
    assert (alert["rule"], alert["severity"]) == ("firearm", "critical")
    assert alert["squad"]["id"] == _nearest_squad(far)


def test_night_fishing_on_the_river_is_high(night: Field) -> None:
    night.report("electrofishing")
    (alert,) = night.alerts()
    assert (alert["rule"], alert["severity"]) == ("fishing-night-river", "high")


# --- three snare reports in one forest block over two days ------------------------------------------


def test_three_snares_in_a_forest_block_over_two_days_raise_one_cluster_that_mutes_the_singles(
        day: Field) -> None:
    start = day.runtime.now_ms()
    for i, spot in enumerate(SNARE_SPOTS):
        day.advance_to(start + hours(20 * i))
        day.report("snare", spot=spot)
    alerts = day.alerts()
    clusters = [a for a in alerts if a["rule"] == "hunting-cluster"]
    singles = [a for a in alerts if a["rule"] == "hunting-report"]
    assert len(clusters) == 1 and clusters[0]["severity"] == "high"
    assert len(clusters[0]["evidence"]["report_ids"]) == 3
    # the first two reports had raised single alerts; the cluster now mutes them; the third's single
    # alert was never created
    assert len(singles) == 2
    assert all(s["muted_by"] == {"reason": "inhibited_by_cluster", "by": clusters[0]["id"]} for s in singles)
    assert clusters[0]["squad"] is not None and clusters[0]["muted_by"] is None

    # nothing fires twice: a scheduled round and a later one raise nothing new
    visit_everything(day.runtime, start + hours(40))
    for later in (hours(1), hours(2)):
        day.advance_to(start + hours(40) + later)
        assert service.tick(day.runtime).created == []
    assert len(day.alerts()) == 3


# --- a reach left unpatrolled for four days ----------------------------------------------------------


def test_a_priority_reach_unpatrolled_for_four_days_raises_a_coverage_gap_on_the_tick(day: Field) -> None:
    now = day.runtime.now_ms()
    features = feature_table(day.runtime.layer_index())
    reaches = sorted(features.loc[features["kind"] == "reach", "feature_id"])
    assert len(reaches) > 3
    forgotten = reaches[len(reaches) // 2]
    visit(day.runtime, "reach", [r for r in reaches if r != forgotten], now - hours(3))
    visit(day.runtime, "reach", [forgotten], now - hours(4 * 24 + 1))
    assert day.alerts() == []  # scheduled rules wait for their tick
    result = service.tick(day.runtime)
    (gap,) = [a for a in result.created if a.rule == "priority-coverage-gap"]
    assert gap.severity.value == "medium"
    assert list(gap.evidence.reaches) == [forgotten]
    assert gap.squad_id is not None
    # patrolled recently enough: no gap
    assert service.tick(day.runtime).created == []


def test_a_reach_seen_within_four_days_is_no_gap(day: Field) -> None:
    now = day.runtime.now_ms()
    features = feature_table(day.runtime.layer_index())
    reaches = list(features.loc[features["kind"] == "reach", "feature_id"])
    visit(day.runtime, "reach", reaches, now - hours(4 * 24 - 1))
    assert [a for a in service.tick(day.runtime).created if a.kind == "coverage_gap"] == []


# --- a foot patrol gone silent ------------------------------------------------------------------------


def test_a_foot_patrol_gone_silent_raises_a_critical_alert_sent_to_another_squad(day: Field) -> None:
    now = day.runtime.now_ms()
    add_unit(day.runtime, "F-west", "foot")
    walk = [(now - minutes(60) + minutes(k), NEAR_RIVER[0] + 0.0002 * k, NEAR_RIVER[1])
            for k in range(0, 29, 2)]
    insert_fixes(day.runtime, "F-west", walk, mode="foot")  # last fix 32 minutes ago
    response = day.client.patch("/api/v1/squads/sq-west", json={"units": ["V-sq-west", "F-west"]},
                                headers=day.commander)
    assert response.status_code == 200, response.text
    created = service.tick(day.runtime).created
    (silent,) = [a for a in created if a.kind == "silent_unit"]
    assert silent.severity.value == "critical" and silent.rule == "foot-patrol-silent"
    assert silent.evidence.unit_ids == ("F-west",)
    assert silent.squad_id is not None and silent.squad_id != "sq-west"  # someone else goes to look
    assert silent.squad_id == _nearest_squad((walk[-1][1], walk[-1][2]), exclude=("sq-west",))
    # the next ticks do not raise it again
    for _ in range(3):
        day.advance_to(day.runtime.now_ms() + MIN_MS)
        assert [a for a in service.tick(day.runtime).created if a.kind == "silent_unit"] == []


def test_a_foot_patrol_still_reporting_is_not_silent(day: Field) -> None:
    now = day.runtime.now_ms()
    add_unit(day.runtime, "F-west", "foot")
    insert_fixes(day.runtime, "F-west", [(now - minutes(5), *NEAR_RIVER)], mode="foot")
    day.client.patch("/api/v1/squads/sq-west", json={"units": ["V-sq-west", "F-west"]}, headers=day.commander)
    assert [a for a in service.tick(day.runtime).created if a.kind == "silent_unit"] == []


# --- a unit that stopped moving in a remote place ------------------------------------------------------


@pytest.mark.parametrize(("spot", "remote"), [(SNARE_SPOTS[0], True), (NEAR_RIVER, False)])
def test_a_unit_immobile_for_an_hour_in_the_forest_raises_a_high_alert(day: Field, spot: tuple[float, float],
                                                                       remote: bool) -> None:
    now = day.runtime.now_ms()
    add_unit(day.runtime, "F-east", "foot")
    still = [(now - minutes(75) + minutes(k), spot[0] + 0.00005 * (k % 2), spot[1]) for k in range(0, 75, 3)]
    insert_fixes(day.runtime, "F-east", still, mode="foot")  # within ≈5 m for 72 minutes, last 3 min ago
    day.client.patch("/api/v1/squads/sq-east", json={"units": ["V-sq-east", "F-east"]}, headers=day.commander)
    immobile = [a for a in service.tick(day.runtime).created if a.kind == "immobile_unit"]
    if not remote:  # by the river near the road: no alert
        assert immobile == []
        return
    (alert,) = immobile
    assert (alert.rule, alert.severity.value) == ("unit-immobile-remote", "high")
    assert alert.evidence.unit_ids == ("F-east",) and alert.squad_id not in (None, "sq-east")


# --- escalation on time ----------------------------------------------------------------------------


def test_an_unacknowledged_critical_alert_escalates_on_time_each_level_once(night: Field) -> None:
    visit_everything(night.runtime, night.runtime.now_ms())
    night.report("firearm")
    (alert,) = night.alerts()
    created = night.runtime.now_ms()
    seen: list[tuple[int, str]] = []
    codes: dict[int, str | None] = {}
    for minute in range(1, 16):
        night.advance_to(created + minute * MIN_MS)
        result = service.tick(night.runtime)
        seen += [(minute, e.target) for e in result.escalation.escalations + result.rules.escalations]
        codes[minute] = night.alert(alert["id"])["overdue"]
    # critical: acknowledge within 2 min, else the duty commander; 5 min later the station chief
    assert seen == [(2, "duty_commander"), (7, "station_chief")]
    assert codes[1] is None and codes[2] == "yellow" and codes[3] == "yellow" and codes[4] == "red"
    escalated = [(r.recipient, r.event) for r in night.outbox() if r.event == "alert.escalated"]
    assert escalated == [("duty_commander", "alert.escalated"), ("station_chief", "alert.escalated")]
    timeline = night.alert(alert["id"])["timeline"]
    assert [e["data"]["level"] for e in timeline if e["kind"] == "escalated"] == [1, 2]
    assert [e["reason"] for e in timeline if e["kind"] == "overdue"] == ["yellow", "red"]
    with night.runtime.store.read() as conn:  # every event stored once, in order, none lost
        seqs = conn.execute(sa.select(alert_events.c.seq).where(alert_events.c.alert_id == alert["id"])
                            .order_by(alert_events.c.seq)).scalars().all()
    assert seqs == list(range(len(timeline)))
    assert [e["at_ms"] for e in timeline] == sorted(e["at_ms"] for e in timeline)


def test_acknowledged_in_time_then_on_scene_nothing_escalates(night: Field) -> None:
    visit_everything(night.runtime, night.runtime.now_ms())
    night.report("firearm")
    (alert,) = night.alerts()
    squad = alert["squad"]["id"]
    headers = night.squad_tokens[squad]
    created = night.runtime.now_ms()
    night.advance_to(created + MIN_MS)
    acked = night.client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=headers)
    assert acked.json()["state"] == "acknowledged"
    night.advance_to(created + 20 * MIN_MS)
    body = night.client.post(f"/api/v1/alerts/{alert['id']}/on_scene", headers=headers).json()
    assert body["state"] == "on_scene" and body["overdue"] is None
    for minute in (25, 35, 60):
        night.advance_to(created + minute * MIN_MS)
        assert service.tick(night.runtime).escalation.escalations == []
    resolved = night.client.post(f"/api/v1/alerts/{alert['id']}/resolve",
                                 json={"outcome": "confirmed", "note": "two hunters, one shotgun"},
                                 headers=headers)
    assert resolved.status_code == 200 and resolved.json()["outcome"] == "confirmed"
    report_id = int(alert["evidence"]["report_ids"][0])
    got = night.client.get(f"/api/v1/reports/{report_id}", headers=night.commander).json()
    assert got["status"] == "resolved"
    # resolved: the report is still within the rules' look-back, yet nothing fires again
    night.advance_to(created + 90 * MIN_MS)
    assert service.tick(night.runtime).created == []
    assert len(night.alerts()) == 1


def test_nothing_fires_twice_on_re_tick(night: Field) -> None:
    visit_everything(night.runtime, night.runtime.now_ms() - hours(1))
    night.report("firearm")
    outbox_before = len(night.outbox())
    for _ in range(3):
        result = service.tick(night.runtime)
        assert result.created == []
    assert len(night.alerts()) == 1
    assert len(night.outbox()) == outbox_before  # and nobody is told again (no escalation due yet)


def test_a_tick_that_moves_many_alerts_writes_them_in_chunks_and_misses_none(
        night: Field, monkeypatch: pytest.MonkeyPatch) -> None:
    visit_everything(night.runtime, night.runtime.now_ms())
    for spot in (NEAR_RIVER, *SQUAD_SPOTS.values(), SNARE_SPOTS[0]):  # five places kilometres apart
        night.report("firearm", spot=spot)
    alerts = night.alerts()
    assert len(alerts) == 5
    runs: list[int] = []
    real_run = service._run
    monkeypatch.setattr(service, "TICK_CHUNK", 2)
    monkeypatch.setattr(service, "_run", lambda *a, **k: runs.append(1) or real_run(*a, **k))
    night.advance_to(night.runtime.now_ms() + 3 * MIN_MS)  # every one of them is due at once
    result = service.escalation_tick(night.runtime)
    assert len(runs) == 3  # 2 + 2 + 1 alerts, each chunk its own transaction
    assert sorted(a.id for a in result.updated) == sorted(a["id"] for a in alerts)
    assert [e.target for e in result.escalations] == ["duty_commander"] * 5
    for alert in alerts:
        got = night.alert(alert["id"])
        assert got["escalation_level"] == 1 and got["overdue"] == "yellow"
    escalated = [r.alert_id for r in night.outbox() if r.event == "alert.escalated"]
    assert sorted(escalated) == sorted(a["id"] for a in alerts)
    runs.clear()
    assert service.escalation_tick(night.runtime).updated == [] and len(runs) == 1  # nothing twice
