"""Rule kinds: each a config model (pydantic, unknown keys refused) and a pure
``evaluate(config, facts, now_ms) -> list[Candidate]``.

``parse_rules`` turns config.toml's ``[[rules]]`` tables into ``Rule``s or raises
``RuleConfigError`` naming ``rules[i].key`` and the reason; ``evaluate_rules`` runs them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from pydantic import ValidationError

from alerts.model import Candidate, ReportFact
from alerts.rules import cluster, coverage_gap, immobile_unit, silent_unit
from alerts.rules import report as report_kind
from alerts.rules.base import RuleConfig, RuleFacts

__all__ = [
    "REPORT_TRIGGERED_KINDS",
    "RULE_KINDS",
    "Rule",
    "RuleConfig",
    "RuleConfigError",
    "RuleFacts",
    "RuleKind",
    "evaluate_report_committed",
    "evaluate_rules",
    "parse_rules",
]

Evaluate = Callable[[Any, RuleFacts, int], list[Candidate]]


class RuleKind(NamedTuple):
    config: type[RuleConfig]
    evaluate: Evaluate


RULE_KINDS: dict[str, RuleKind] = {
    report_kind.KIND: RuleKind(report_kind.ReportRule, report_kind.evaluate),
    cluster.KIND: RuleKind(cluster.ClusterRule, cluster.evaluate),
    coverage_gap.KIND: RuleKind(coverage_gap.CoverageGapRule, coverage_gap.evaluate),
    silent_unit.KIND: RuleKind(silent_unit.SilentUnitRule, silent_unit.evaluate),
    immobile_unit.KIND: RuleKind(immobile_unit.ImmobileUnitRule, immobile_unit.evaluate),
}

#: Kinds the app runs the moment a report commits (scheduled kinds run on their interval).
REPORT_TRIGGERED_KINDS = frozenset({report_kind.KIND, cluster.KIND})


@dataclass(frozen=True)
class Rule:
    config: RuleConfig
    kind: str
    evaluate_fn: Evaluate

    @property
    def name(self) -> str:
        return self.config.name

    def evaluate(self, facts: RuleFacts, now_ms: int) -> list[Candidate]:
        return self.evaluate_fn(self.config, facts, now_ms)


class RuleConfigError(ValueError):
    """Invalid rule config. ``problems`` lists every (key, reason); ``key``/``reason`` the first."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        self.key, self.reason = problems[0]
        super().__init__("; ".join(f"{k}: {r}" for k, r in problems))


def parse_rules(tables: Sequence[Mapping[str, Any]], *, prefix: str = "rules") -> list[Rule]:
    """Validate every rule table (all problems are collected, then raised together)."""
    rules: list[Rule] = []
    problems: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for i, table in enumerate(tables):
        where = f"{prefix}[{i}]"
        try:
            rule = _parse_one(table, where)
        except RuleConfigError as e:
            problems.extend(e.problems)
            continue
        if rule.name in seen:
            problems.append((f"{where}.name",
                             f"duplicate rule name {rule.name!r} (also {prefix}[{seen[rule.name]}])"))
            continue
        seen[rule.name] = i
        rules.append(rule)
    if problems:
        raise RuleConfigError(problems)
    return rules


def _parse_one(table: Mapping[str, Any], where: str) -> Rule:
    if not isinstance(table, Mapping):
        raise RuleConfigError([(where, "a rule is a table of keys")])
    kind = table.get("kind")
    if kind not in RULE_KINDS:
        expected = ", ".join(sorted(RULE_KINDS))
        reason = "missing" if kind is None else f"unknown kind {kind!r}"
        raise RuleConfigError([(f"{where}.kind", f"{reason} (expected one of: {expected})")])
    model, evaluate = RULE_KINDS[kind]
    try:
        config = model.model_validate(dict(table))
    except ValidationError as e:
        raise RuleConfigError([(_key(where, err["loc"]), _reason(err))
                               for err in e.errors()]) from None
    return Rule(config, kind, evaluate)


def _key(where: str, loc: tuple[int | str, ...]) -> str:
    out = where
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _reason(err: Mapping[str, Any]) -> str:
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "missing":
        return "required key missing"
    return msg.removeprefix("Value error, ")


def evaluate_rules(rules: Sequence[Rule], facts: RuleFacts, now_ms: int,
                   kinds: Collection[str] | None = None) -> list[Candidate]:
    """Candidates of every enabled rule (of ``kinds`` if given), in rule order."""
    out: list[Candidate] = []
    for rule in rules:
        if rule.config.enabled and (kinds is None or rule.kind in kinds):
            out.extend(rule.evaluate(facts, now_ms))
    return out


def evaluate_report_committed(rules: Sequence[Rule], report: ReportFact,
                              recent_reports: Sequence[ReportFact], now_ms: int) -> list[Candidate]:
    """The report-triggered rules the moment ``report`` commits: ``report`` rules see only the new
    report, ``cluster`` rules the recent ones (give at least the longest cluster window; the new
    report is added if missing)."""
    window = recent_reports if any(r.id == report.id for r in recent_reports) \
        else [*recent_reports, report]
    out: list[Candidate] = []
    for rule in rules:
        if not rule.config.enabled or rule.kind not in REPORT_TRIGGERED_KINDS:
            continue
        reports = (report,) if rule.kind == report_kind.KIND else window
        out.extend(rule.evaluate(RuleFacts(reports=reports), now_ms))
    return out
