import dataclasses

import pytest

from alerts.inhibit import DEFAULT_INHIBIT_RULES, Inhibitor, InhibitRule
from alerts.model import Alert, AlertState, Evidence, Severity
from alerts.reasons import SuppressReason
from tests.alerts.helpers import NIGHT


def _alert(id: str, kind: str, reports: tuple[str, ...], **labels: str) -> Alert:
    return Alert(id, f"fp-{id}", f"rule-{kind}", kind, Severity.high, {"kind": kind, **labels},
                 Evidence(report_ids=reports), AlertState.open, NIGHT, NIGHT, NIGHT)


CLUSTER = _alert("c1", "cluster", ("s0", "s1", "s2"), inhibits="singles")


@pytest.mark.parametrize("target, muted", [
    (_alert("a1", "report", ("s1",)), True),
    (_alert("a2", "report", ("s9",)), False),  # not in the cluster
    (_alert("a3", "report", ("s1", "s9")), False),  # only partly
    (_alert("a4", "report", ()), False),  # no reports at all
    (_alert("a5", "coverage_gap", ("s1",)), False),  # not a single-report alert
])
def test_default_rule_cluster_inhibits_its_singles(target: Alert, muted: bool) -> None:
    mute = Inhibitor(DEFAULT_INHIBIT_RULES, [CLUSTER]).mutes(target)
    assert (mute is not None) is muted
    if mute:
        assert mute.reason is SuppressReason.inhibited_by_cluster and mute.by == "c1"


def test_resolved_sources_do_not_inhibit() -> None:
    resolved = dataclasses.replace(CLUSTER, state=AlertState.resolved)
    assert Inhibitor(DEFAULT_INHIBIT_RULES, [resolved]).mutes(
        _alert("a1", "report", ("s1",))) is None


def test_cluster_without_inhibit_label_does_not_inhibit() -> None:
    plain = dataclasses.replace(CLUSTER, labels={"kind": "cluster"})
    assert Inhibitor(DEFAULT_INHIBIT_RULES, [plain]).mutes(_alert("a1", "report", ("s1",))) \
        is None


LABEL_RULE = InhibitRule.model_validate({
    "source_matchers": ['severity="critical"'], "target_matchers": ['severity=~"low|medium"'],
    "equal": ["township"]})


@pytest.mark.parametrize("source_labels, target_labels, muted", [
    ({"severity": "critical", "township": "A"}, {"severity": "low", "township": "A"}, True),
    ({"severity": "critical", "township": "A"}, {"severity": "low", "township": "B"}, False),
    ({"severity": "high", "township": "A"}, {"severity": "low", "township": "A"}, False),
    ({"severity": "critical", "township": "A"}, {"severity": "high", "township": "A"}, False),
])
def test_label_inhibit_rules(source_labels: dict, target_labels: dict, muted: bool) -> None:
    source = _alert("src", "report", (), **source_labels)
    target = _alert("tgt", "report", (), **target_labels)
    mute = Inhibitor([LABEL_RULE], [source]).mutes(target)
    assert (mute is not None) is muted
    if mute:
        assert mute.reason is SuppressReason.inhibited_by_rule


def test_an_alert_does_not_inhibit_itself() -> None:
    rule = InhibitRule.model_validate({"source_matchers": ['kind="report"'],
                                       "target_matchers": ['kind="report"']})
    a = _alert("a1", "report", ("r1",))
    assert Inhibitor([rule], [a]).mutes(a) is None
