from typing import Any

import pytest

from alerts.rules import (
    REPORT_TRIGGERED_KINDS,
    RULE_KINDS,
    RuleConfigError,
    RuleFacts,
    evaluate_report_committed,
    evaluate_rules,
    parse_rules,
)
from tests.alerts.helpers import NIGHT, report

OK_REPORT = {"kind": "report", "name": "fw", "severity": "critical", "categories": ["firearm"]}


@pytest.mark.parametrize("table, key, reason", [
    ({**OK_REPORT, "colour": "red"}, "rules[0].colour", "unknown key"),
    ({k: v for k, v in OK_REPORT.items() if k != "severity"}, "rules[0].severity",
     "required key missing"),
    ({**OK_REPORT, "severity": "urgent"}, "rules[0].severity", "'critical', 'high'"),
    ({**OK_REPORT, "categories": ["poaching"]}, "rules[0].categories[0]", "'illegal_fishing'"),
    ({**OK_REPORT, "categories": []}, "rules[0].categories", "at least 1 item"),
    ({**OK_REPORT, "local_time_from": "22:00"}, "rules[0]", "go together"),
    ({**OK_REPORT, "local_time_from": "25:00", "local_time_to": "05:00"},
     "rules[0].local_time_from", "HH:MM"),
    ({**OK_REPORT, "tz": "Mars/Olympus"}, "rules[0].tz", "unknown time zone"),
    ({**OK_REPORT, "name": "Bad Name"}, "rules[0].name", "should match pattern"),
    ({**OK_REPORT, "labels": {"severity": "low"}}, "rules[0].labels", "reserved"),
    ({"kind": "cluster", "name": "c", "severity": "high", "categories": ["snare"],
      "radius_m": 0, "window_hours": 48}, "rules[0].radius_m", "greater than 0"),
    ({"kind": "cluster", "name": "c", "severity": "high", "categories": ["snare"],
      "radius_m": 500, "window_hours": 48, "min_reports": 1}, "rules[0].min_reports",
     "greater than or equal to 2"),
    ({"kind": "coverage_gap", "name": "g"}, "rules[0].max_gap_hours", "required key missing"),
    ({"kind": "silent_unit", "name": "s", "silent_min": 30, "modes": ["horse"]},
     "rules[0].modes[0]", "'foot'"),
    ({"kind": "teleport", "name": "t"}, "rules[0].kind", "unknown kind 'teleport'"),
    ({"name": "t"}, "rules[0].kind", "missing"),
])
def test_invalid_rules_name_the_key_and_the_reason(table: dict[str, Any], key: str,
                                                   reason: str) -> None:
    with pytest.raises(RuleConfigError) as info:
        parse_rules([table])
    assert info.value.key == key
    assert reason in info.value.reason
    assert key in str(info.value)


def test_every_problem_is_reported_with_its_index() -> None:
    with pytest.raises(RuleConfigError) as info:
        parse_rules([OK_REPORT, {**OK_REPORT, "name": "b", "bogus": 1}, OK_REPORT])
    keys = [k for k, _ in info.value.problems]
    assert keys == ["rules[1].bogus", "rules[2].name"]
    assert "duplicate rule name 'fw' (also rules[0])" in info.value.problems[1][1]


def test_valid_rules_of_every_kind_parse() -> None:
    rules = parse_rules([
        OK_REPORT,
        {"kind": "cluster", "name": "c", "severity": "high", "categories": ["snare"],
         "radius_m": 500, "window_hours": 48},
        {"kind": "coverage_gap", "name": "g", "max_gap_hours": 72, "interval_min": 15},
        {"kind": "silent_unit", "name": "s", "silent_min": 30},
        {"kind": "immobile_unit", "name": "i", "radius_m": 50, "immobile_min": 45},
    ])
    assert [r.kind for r in rules] == list(RULE_KINDS)
    assert rules[2].config.interval_min == 15


def test_evaluate_rules_filters_kinds_and_skips_disabled() -> None:
    rules = parse_rules([OK_REPORT, {**OK_REPORT, "name": "off", "enabled": False},
                         {"kind": "silent_unit", "name": "s", "silent_min": 30}])
    facts = RuleFacts(reports=[report("r1")])
    assert [c.rule for c in evaluate_rules(rules, facts, NIGHT)] == ["fw"]
    assert evaluate_rules(rules, facts, NIGHT, kinds={"silent_unit"}) == []
    assert "report" in REPORT_TRIGGERED_KINDS and "coverage_gap" not in REPORT_TRIGGERED_KINDS


def test_report_committed_runs_report_rules_on_the_new_report_only() -> None:
    rules = parse_rules([OK_REPORT, {"kind": "cluster", "name": "c", "severity": "high",
                                     "categories": ["firearm"], "radius_m": 500,
                                     "window_hours": 48},
                         {"kind": "silent_unit", "name": "s", "silent_min": 30}])
    old = [report("r1", t_ms=NIGHT - 2), report("r2", t_ms=NIGHT - 1)]
    new = report("r3")
    cands = evaluate_report_committed(rules, new, old, NIGHT)
    assert [(c.rule, c.evidence.report_ids) for c in cands] == [
        ("fw", ("r3",)), ("c", ("r1", "r2", "r3"))]
