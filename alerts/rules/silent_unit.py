"""``silent_unit``: an on-duty unit (foot patrols by default) with no fix for ``silent_min``
minutes — officer safety. Silence counts from the later of its last fix and the start of its duty;
a unit with neither is skipped. Fingerprint: rule + unit; ``starts_ms`` = when it went silent, so
after a resolve only a new silence (a fix, then silence again) raises a new alert. The unit's
squad is named in the evidence so assignment sends a different squad.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from alerts import texts
from alerts.model import Candidate, Mode, Severity, UnitFact
from alerts.rules.base import RuleConfig, RuleFacts, unit_candidate

KIND = "silent_unit"


class SilentUnitRule(RuleConfig):
    kind: Literal["silent_unit"] = "silent_unit"
    severity: Severity = Severity.critical
    silent_min: float = Field(gt=0)
    modes: tuple[Mode, ...] = Field(default=("foot",), min_length=1)


def evaluate(rule: SilentUnitRule, facts: RuleFacts, now_ms: int) -> list[Candidate]:
    silent_ms = int(rule.silent_min * 60_000)
    out = []
    for unit in facts.units:
        if not unit.on_duty or unit.mode not in rule.modes:
            continue
        since = max((t for t in (unit.last_fix_ms, unit.on_duty_since_ms) if t is not None),
                    default=None)
        if since is not None and now_ms - since >= silent_ms:
            out.append(_candidate(rule, unit, since, now_ms))
    return out


def _candidate(rule: SilentUnitRule, unit: UnitFact, since_ms: int, now_ms: int) -> Candidate:
    title = texts.bilingual("silent_unit.title")
    summary = texts.bilingual("silent_unit.summary", unit=unit.unit_id,
                              mode=texts.MODE[unit.mode], minutes=(now_ms - since_ms) // 60_000)
    return unit_candidate(rule, KIND, unit, title=title, summary=summary,
                          starts_ms=since_ms + int(rule.silent_min * 60_000),
                          x_m=unit.last_x_m, y_m=unit.last_y_m)
