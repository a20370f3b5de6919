"""Inhibition: a live source alert mutes target alerts, as Alertmanager's ``inhibit_rules``.

A rule has source and target matchers, optional ``equal`` labels that must agree, and, our own
addition, ``evidence_subset``: the target's reports must all be among the source's (so a cluster
mutes exactly the single-report alerts inside it). ``DEFAULT_INHIBIT_RULES`` holds that one.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from alerts.matchers import Matcher, MatcherField, matches_all
from alerts.model import Alert, Mute
from alerts.reasons import SuppressReason
from alerts.rules.cluster import INHIBITS_LABEL, INHIBITS_SINGLES
from alerts.rules.cluster import KIND as CLUSTER_KIND
from alerts.rules.report import KIND as REPORT_KIND


class InhibitRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source_matchers: tuple[MatcherField, ...] = Field(min_length=1)
    target_matchers: tuple[MatcherField, ...] = Field(min_length=1)
    equal: tuple[str, ...] = ()
    evidence_subset: bool = False


DEFAULT_INHIBIT_RULES: tuple[InhibitRule, ...] = (
    InhibitRule(
        source_matchers=(Matcher.parse(f'{INHIBITS_LABEL}="{INHIBITS_SINGLES}"'),),
        target_matchers=(Matcher.parse(f'kind="{REPORT_KIND}"'),),
        evidence_subset=True,
    ),
)


class Inhibitor:
    """The ``Muter`` of ``rules`` given the live (unresolved) ``sources``."""

    def __init__(self, rules: Iterable[InhibitRule], sources: Iterable[Alert]) -> None:
        live = [a for a in sources if a.is_open]
        self._rules: list[tuple[InhibitRule, list[Alert], dict[str, list[Alert]] | None]] = []
        self.source_ids: set[str] = set()
        for rule in rules:
            found = [a for a in live if matches_all(rule.source_matchers, a.labels)]
            if not found:
                continue
            by_report: dict[str, list[Alert]] | None = None
            if rule.evidence_subset:
                by_report = {}
                for a in found:
                    for report_id in a.evidence.report_ids:
                        by_report.setdefault(report_id, []).append(a)
            self._rules.append((rule, found, by_report))
            self.source_ids.update(a.id for a in found)

    def mutes(self, alert: Alert) -> Mute | None:
        for rule, sources, by_report in self._rules:
            if by_report is not None:  # a source must hold the target's first report
                reports = alert.evidence.report_ids
                sources = by_report.get(reports[0], []) if reports else []
            if not sources or not matches_all(rule.target_matchers, alert.labels):
                continue
            for source in sources:
                if source.id != alert.id and _applies(rule, source, alert):
                    reason = (SuppressReason.inhibited_by_cluster if source.kind == CLUSTER_KIND
                              else SuppressReason.inhibited_by_rule)
                    return Mute(reason, source.id)
        return None

    def __bool__(self) -> bool:
        return bool(self._rules)


def _applies(rule: InhibitRule, source: Alert, target: Alert) -> bool:
    if any(source.labels.get(k, "") != target.labels.get(k, "") for k in rule.equal):
        return False
    if rule.evidence_subset:
        reports = target.evidence.report_ids
        return bool(reports) and set(reports) <= set(source.evidence.report_ids)
    return True
