"""Typed alerting configuration: rules, escalation, routes and inhibitions, read strictly at start.

Each part comes from the settings (``config.toml``) when given there, else from the shipped
``default_rules.toml``. Every problem is collected and raised together as ``AlertingConfigError``
(a ``ConfigError``) naming the key and the reason, e.g. ``rules[2].radius_m: Input should be
greater than 0`` — so ``ecopatrol serve`` refuses to start with a broken rule.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alerts.escalation import DEFAULT_POLICIES, EscalationPolicy, ReportTargets
from alerts.inhibit import DEFAULT_INHIBIT_RULES, InhibitRule
from alerts.routing import DEFAULT_ROUTE, Route
from alerts.rules import REPORT_TRIGGERED_KINDS, Rule, RuleConfigError, parse_rules
from ecopatrol.config import ConfigError, Settings

DEFAULT_RULES_FILE = Path(__file__).with_name("default_rules.toml")
#: Interval of a scheduled rule that sets neither ``interval_min`` nor ``cron``.
DEFAULT_INTERVAL_MIN: dict[str, float] = {"silent_unit": 1.0, "immobile_unit": 1.0, "coverage_gap": 30.0}
Source = Literal["config", "defaults"]


class AlertingConfigError(ConfigError):
    """Invalid alerting configuration; ``problems`` lists every (key, reason)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("invalid alerting configuration:\n" + "\n".join(f"  {k}: {r}" for k, r in problems))


class EscalationSection(BaseModel):
    """``[escalation]``: policies by name (a severity names its default policy), report limits and the
    scheduler's pace."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policies: dict[str, EscalationPolicy] = Field(default_factory=dict)
    reports: ReportTargets = ReportTargets()
    tick_s: float = Field(15.0, ge=1, le=600)
    lock_retry_s: float = Field(10.0, ge=0.2, le=600)
    tie_m: float = Field(100.0, ge=0)
    move_reports: bool = True  # reports follow their alert: triaged, assigned, on scene, resolved


@dataclass(frozen=True)
class Schedule:
    """When a scheduled rule runs: every ``interval_min`` minutes, or on a crontab line."""

    interval_min: float | None = None
    cron: str | None = None


@dataclass(frozen=True)
class AlertingConfig:
    rules: tuple[Rule, ...]
    policies: Mapping[str, EscalationPolicy]
    report_targets: ReportTargets
    routes: tuple[Route, ...]
    inhibit_rules: tuple[InhibitRule, ...]
    tick_s: float = 15.0
    lock_retry_s: float = 10.0
    tie_m: float = 100.0
    move_reports: bool = True
    timezone: str = "Asia/Shanghai"
    default_route: Route = DEFAULT_ROUTE
    sources: Mapping[str, Source] = field(default_factory=dict)

    @property
    def report_rules(self) -> tuple[Rule, ...]:
        """Rules run the moment a report commits."""
        return tuple(r for r in self.rules if r.config.enabled and r.kind in REPORT_TRIGGERED_KINDS)

    @property
    def scheduled_rules(self) -> tuple[Rule, ...]:
        """Rules run by the scheduler: every non-report kind, and report kinds given a schedule."""
        return tuple(r for r in self.rules if r.config.enabled and self.schedule_of(r) is not None)

    def schedule_of(self, rule: Rule) -> Schedule | None:
        c = rule.config
        if c.cron is not None:
            return Schedule(cron=c.cron)
        if c.interval_min is not None:
            return Schedule(interval_min=c.interval_min)
        if rule.kind in REPORT_TRIGGERED_KINDS:
            return None
        return Schedule(interval_min=DEFAULT_INTERVAL_MIN.get(rule.kind, 5.0))

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)


def load_alerting(settings: Settings, overrides: Mapping[str, Any] | None = None) -> AlertingConfig:
    """The alerting configuration of ``settings`` (``overrides`` — e.g. a rule-test file's own
    ``rules`` — win; defaults for the parts left out); raises ``AlertingConfigError`` naming every bad
    key and why."""
    defaults = _read_defaults()
    parts: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for name in ("rules", "escalation", "routes", "inhibit"):
        given = (overrides or {}).get(name) or _given(settings, name)
        parts[name], sources[name] = (given, "config") if given else (defaults.get(name, _EMPTY[name]),
                                                                     "defaults")
    problems: list[tuple[str, str]] = []
    rules = _rules(parts["rules"], settings.deployment.timezone, problems)
    escalation = _model(EscalationSection, parts["escalation"], "escalation", problems)
    routes = [r for i, t in enumerate(parts["routes"])
              if (r := _model(Route, t, f"routes[{i}]", problems)) is not None]
    inhibit = [r for i, t in enumerate(parts["inhibit"])
               if (r := _model(InhibitRule, t, f"inhibit[{i}]", problems)) is not None]
    escalation = escalation or EscalationSection()
    policies = {**{s.value: p for s, p in DEFAULT_POLICIES.items()}, **escalation.policies}
    _check_routes(routes, policies, problems)
    if problems:
        raise AlertingConfigError(problems)
    return AlertingConfig(
        rules=tuple(rules), policies=policies, report_targets=escalation.reports, routes=tuple(routes),
        inhibit_rules=(*DEFAULT_INHIBIT_RULES, *inhibit), tick_s=escalation.tick_s,
        lock_retry_s=escalation.lock_retry_s, tie_m=escalation.tie_m, move_reports=escalation.move_reports,
        timezone=settings.deployment.timezone, sources=sources)


_EMPTY: dict[str, Any] = {"rules": [], "escalation": {}, "routes": [], "inhibit": []}


def _given(settings: Settings, name: str) -> Any:
    """A part from the settings: a field of its own, else (routes, inhibit) a key of [escalation]."""
    value = getattr(settings, name, None)
    if not value and name in ("routes", "inhibit"):
        value = settings.escalation.get(name)
    if name == "escalation" and value:
        value = {k: v for k, v in value.items() if k not in ("routes", "inhibit")}
    return value


def _read_defaults() -> dict[str, Any]:
    return tomllib.loads(DEFAULT_RULES_FILE.read_text(encoding="utf-8"))


def _rules(tables: Sequence[Mapping[str, Any]], tz: str, problems: list[tuple[str, str]]) -> list[Rule]:
    if not isinstance(tables, Sequence) or isinstance(tables, str | bytes):
        problems.append(("rules", "rules are a list of [[rules]] tables"))
        return []
    try:
        rules = parse_rules(tables)
    except RuleConfigError as exc:
        problems.extend(exc.problems)
        return []
    for i, rule in enumerate(rules):
        problems.extend(_schedule_problems(rule, f"rules[{_index(tables, rule.name, i)}]", tz))
    return rules


def _index(tables: Sequence[Mapping[str, Any]], name: str, fallback: int) -> int:
    return next((i for i, t in enumerate(tables) if isinstance(t, Mapping) and t.get("name") == name),
                fallback)


def _schedule_problems(rule: Rule, where: str, tz: str) -> list[tuple[str, str]]:
    c = rule.config
    if c.cron is not None and c.interval_min is not None:
        return [(f"{where}.cron", "give interval_min or cron, not both")]
    if c.cron is not None:
        try:
            CronTrigger.from_crontab(c.cron, timezone=tz)
        except ValueError as exc:
            return [(f"{where}.cron", f"not a crontab line (minute hour day month weekday): {exc}")]
    return []


def _model(model: type[BaseModel], data: Any, where: str, problems: list[tuple[str, str]]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            key = where + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
            problems.append((key, _reason(err)))
    return None


def _reason(err: Mapping[str, Any]) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "missing":
        return "required key missing"
    return str(err["msg"]).removeprefix("Value error, ")


def _check_routes(routes: Sequence[Route], policies: Mapping[str, EscalationPolicy],
                  problems: list[tuple[str, str]]) -> None:
    seen: set[str] = set()
    for i, route in enumerate(routes):
        if route.name in seen:
            problems.append((f"routes[{i}].name", f"duplicate route name {route.name!r}"))
        seen.add(route.name)
        policy = route.escalation_policy
        if policy is not None and policy not in policies:
            known = ", ".join(sorted(policies))
            problems.append((f"routes[{i}].escalation_policy",
                             f"no escalation policy {policy!r} (known: {known})"))
