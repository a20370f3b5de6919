"""``immobile_unit``: an on-duty unit that has stayed within ``radius_m`` of its latest position
for ``immobile_min`` minutes, by default only in a remote area (``UnitFact.remote``, computed by
the app from the distance to villages and roads).

The stationary run is the longest tail of the unit's track within ``radius_m`` of its latest fix;
it needs at least two fixes (a single old fix is the silent-unit rule's business). When the whole
track given is stationary the run starts at its first fix: give the rule a few hours of track
(e.g. 3 × ``immobile_min``). Fingerprint: rule + unit.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from alerts import texts
from alerts.model import Candidate, Mode, Severity, UnitFact
from alerts.rules.base import RuleConfig, RuleFacts, unit_candidate

KIND = "immobile_unit"


class ImmobileUnitRule(RuleConfig):
    kind: Literal["immobile_unit"] = "immobile_unit"
    severity: Severity = Severity.high
    radius_m: float = Field(gt=0)
    immobile_min: float = Field(gt=0)
    modes: tuple[Mode, ...] = Field(default=("foot", "vehicle", "boat"), min_length=1)
    remote_only: bool = True


def evaluate(rule: ImmobileUnitRule, facts: RuleFacts, now_ms: int) -> list[Candidate]:
    out = []
    for unit in facts.units:
        if not unit.on_duty or unit.mode not in rule.modes or (rule.remote_only and
                                                                not unit.remote):
            continue
        since = stationary_since(unit, rule.radius_m, now_ms)
        if since is not None and now_ms - since >= int(rule.immobile_min * 60_000):
            out.append(_candidate(rule, unit, since, now_ms))
    return out


def stationary_since(unit: UnitFact, radius_m: float, now_ms: int) -> int | None:
    """When the unit's current stationary run began (``None``: fewer than two fixes in it)."""
    if len(unit.track) < 2:
        return None
    track = np.asarray(unit.track, dtype=float)
    track = track[track[:, 0] <= now_ms]
    if len(track) < 2:
        return None
    track = track[np.argsort(track[:, 0], kind="stable")]
    x_last, y_last = track[-1, 1], track[-1, 2]
    moved = np.hypot(track[:, 1] - x_last, track[:, 2] - y_last) > radius_m
    outside = np.flatnonzero(moved)
    first = int(outside[-1]) + 1 if len(outside) else 0
    if len(track) - first < 2:
        return None
    return int(track[first, 0])


def _candidate(rule: ImmobileUnitRule, unit: UnitFact, since_ms: int, now_ms: int) -> Candidate:
    title = texts.bilingual("immobile_unit.title")
    remote = texts.MESSAGES["immobile_unit.remote"] if unit.remote else texts.Bi("", "")
    summary = texts.bilingual("immobile_unit.summary", unit=unit.unit_id,
                              mode=texts.MODE[unit.mode], minutes=(now_ms - since_ms) // 60_000,
                              radius_m=f"{rule.radius_m:g}", remote=remote)
    x_m, y_m = (unit.track[-1][1], unit.track[-1][2]) if unit.track else (unit.last_x_m,
                                                                          unit.last_y_m)
    return unit_candidate(rule, KIND, unit, title=title, summary=summary,
                          starts_ms=since_ms + int(rule.immobile_min * 60_000), x_m=x_m, y_m=y_m)
