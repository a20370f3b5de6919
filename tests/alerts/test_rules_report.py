from typing import Any

import pytest

from alerts.model import ReportStatus, Severity
from alerts.rules import RuleFacts, parse_rules
from tests.alerts.helpers import DAY, HOUR, NIGHT, local_ms, report

NIGHT_FIREARM = {
    "kind": "report", "name": "firearm-night", "severity": "critical",
    "categories": ["firearm"], "local_time_from": "22:00", "local_time_to": "05:00",
    "max_dist_to_river_m": 500,
}


def _fire(rule: dict[str, Any], *reports: Any, now_ms: int | None = None) -> list:
    (parsed,) = parse_rules([rule])
    now = now_ms if now_ms is not None else max(r.received_ms for r in reports)
    return parsed.evaluate(RuleFacts(reports=reports), now)


def test_night_firearm_near_a_river_is_critical() -> None:
    (c,) = _fire(NIGHT_FIREARM, report("r1", "firearm", NIGHT, dist_to_river_m=120.0))
    assert c.severity is Severity.critical
    assert c.fingerprint == "firearm-night/report/r1"
    assert c.evidence.report_ids == ("r1",)
    assert c.labels["category"] == "firearm" and c.labels["township"] == "白塔镇"
    assert (c.x_m, c.y_m) == (1000.0, 1000.0)
    assert "枪声" in c.title_zh and "firearm" in c.title_en.lower()


@pytest.mark.parametrize("change, fires", [
    ({}, True),
    ({"t_ms": DAY}, False),  # daylight
    ({"t_ms": local_ms(2026, 11, 21, 4, 59)}, True),  # after midnight, still night
    ({"t_ms": local_ms(2026, 11, 21, 5, 0)}, False),  # the window ends at 05:00
    ({"t_ms": local_ms(2026, 11, 20, 22, 0)}, True),
    ({"dist_to_river_m": 501.0}, False),
    ({"dist_to_river_m": None}, False),  # unknown distance is not "near"
    ({"category": "snare"}, False),
    ({"status": ReportStatus.rejected}, False),
    ({"status": ReportStatus.triaged}, True),
])
def test_night_firearm_filters(change: dict[str, Any], fires: bool) -> None:
    r = report("r1", **{"category": "firearm", "t_ms": NIGHT, **change})
    assert bool(_fire(NIGHT_FIREARM, r)) is fires


@pytest.mark.parametrize("extra, report_kw, fires", [
    ({"min_details": {"shots_heard": 1}}, {"details": {"shots_heard": 2}}, True),
    ({"min_details": {"shots_heard": 3}}, {"details": {"shots_heard": 2}}, False),
    ({"min_details": {"shots_heard": 1}}, {"details": {}}, False),
    ({"min_details": {"weapon_seen": 1}}, {"details": {"weapon_seen": True}}, True),
    ({"min_details": {"shots_heard": 1}}, {"details": {"shots_heard": "two"}}, False),
    ({"zones": ["Z1"]}, {"zone_ids": ("Z0", "Z1")}, True),
    ({"zones": ["Z1"]}, {"zone_ids": ()}, False),
    ({"min_zone_priority": 2}, {"zone_priority": 3}, True),
    ({"min_zone_priority": 2}, {"zone_priority": 1}, False),
    ({"min_zone_priority": 2}, {"zone_priority": None}, False),
    ({"townships": ["城关镇"]}, {}, False),
    ({"townships": ["白塔镇"]}, {}, True),
])
def test_other_filters(extra: dict[str, Any], report_kw: dict[str, Any], fires: bool) -> None:
    rule = {"kind": "report", "name": "any-firearm", "severity": "critical",
            "categories": ["firearm"], **extra}
    assert bool(_fire(rule, report("r1", **report_kw))) is fires


def test_old_reports_do_not_fire_on_a_replay() -> None:
    rule = {"kind": "report", "name": "any", "severity": "high", "categories": ["firearm"],
            "max_age_hours": 24}
    old = report("r-old", t_ms=NIGHT - 25 * HOUR)
    new = report("r-new", t_ms=NIGHT - HOUR)
    assert [c.evidence.report_ids for c in _fire(rule, old, new, now_ms=NIGHT)] == [("r-new",)]


def test_time_zone_is_honoured() -> None:
    rule = {**NIGHT_FIREARM, "tz": "+00:00"}  # 22:40 in Shanghai is 14:40 UTC: not night
    assert _fire(rule, report("r1")) == []


def test_group_by_reach_merges_reports_of_one_reach() -> None:
    rule = {"kind": "report", "name": "fishing", "severity": "medium",
            "categories": ["illegal_fishing"], "group_by": ["reach"]}
    cands = _fire(rule, report("r1", "illegal_fishing", reach_id="R7"),
                  report("r2", "illegal_fishing", reach_id="R7"),
                  report("r3", "illegal_fishing", reach_id=None))
    assert [c.fingerprint for c in cands] == ["fishing/reach=R7", "fishing/reach=R7",
                                              "fishing/report/r3"]


def test_rule_labels_are_added() -> None:
    rule = {**NIGHT_FIREARM, "labels": {"team": "forest"}}
    (c,) = _fire(rule, report("r1"))
    assert c.labels["team"] == "forest" and c.labels["rule"] == "firearm-night"
