from alerts.model import Severity
from alerts.rules import RuleFacts, parse_rules
from tests.alerts.helpers import HOUR, NIGHT, feature

GAP = {"kind": "coverage_gap", "name": "gap-72h", "max_gap_hours": 72}


def _eval(features: list, now_ms: int = NIGHT, **change: object) -> list:
    (rule,) = parse_rules([{**GAP, **change}])
    return rule.evaluate(RuleFacts(features=features), now_ms)


def test_a_reach_unpatrolled_for_four_days_is_a_gap() -> None:
    (c,) = _eval([feature("R1", NIGHT - 96 * HOUR), feature("R2", NIGHT - 10 * HOUR)])
    assert c.evidence.reaches == ("R1",)
    assert c.fingerprint == "gap-72h/township/白塔镇"
    assert c.severity is Severity.medium  # the kind's default
    assert c.starts_ms == NIGHT - 96 * HOUR + 72 * HOUR


def test_exactly_at_the_limit_is_not_a_gap() -> None:
    assert _eval([feature("R1", NIGHT - 72 * HOUR)]) == []


def test_never_visited_is_a_gap() -> None:
    (c,) = _eval([feature("C1", None, kind="cell")])
    assert c.evidence.cells == ("C1",) and c.starts_ms == 0


def test_grouped_per_township_by_default() -> None:
    old = NIGHT - 100 * HOUR
    cands = _eval([feature("R1", old), feature("R2", old - HOUR), feature("C1", None, "cell"),
                   feature("R3", old, township="城关镇")])
    assert [c.labels["township"] for c in cands] == ["城关镇", "白塔镇"]
    baita = cands[1]
    assert baita.evidence.cells == ("C1",)
    assert baita.evidence.reaches == ("R2", "R1")  # stalest first
    assert "1 个林区网格" in baita.summary_zh and "2 段河道" in baita.summary_zh


def test_location_is_the_stalest_feature() -> None:
    (c,) = _eval([feature("R1", NIGHT - 80 * HOUR, x_m=1, y_m=1),
                  feature("R2", None, x_m=2, y_m=2),
                  feature("R3", NIGHT - 90 * HOUR, x_m=3, y_m=3)])
    assert (c.x_m, c.y_m) == (2, 2)


def test_per_feature_grouping() -> None:
    cands = _eval([feature("R1", None), feature("C1", None, "cell")], group_by="feature")
    assert sorted(c.fingerprint for c in cands) == ["gap-72h/cell/C1", "gap-72h/reach/R1"]
    assert {c.labels.get("reach") for c in cands} == {"R1", None}


def test_priority_and_kind_filters() -> None:
    feats = [feature("R1", None, priority=1), feature("R2", None, priority=3),
             feature("C1", None, "cell", priority=3)]
    (c,) = _eval(feats, min_priority=2, feature_kinds=["reach"])
    assert c.evidence.reaches == ("R2",) and c.evidence.cells == ()
    assert c.labels["priority"] == "3"


def test_no_features_no_candidates() -> None:
    assert _eval([]) == []
