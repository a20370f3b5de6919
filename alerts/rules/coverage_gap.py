"""``coverage_gap``: reaches and cells (optionally only from a priority up) not patrolled within
``max_gap_hours``; never-visited features count as gaps.

``group_by = "township"`` (the default) raises one alert per township listing its stale features,
so a county that was not patrolled over a holiday raises a handful of alerts, not thousands;
``group_by = "feature"`` raises one per reach or cell. Fingerprints: rule + township, or rule +
feature. The alert's location is its stalest feature (never visited first, then the oldest visit,
then the highest priority), which is where assignment sends a squad.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field

from alerts import texts
from alerts.model import Candidate, Evidence, FeatureKind, FeatureVisit, Severity
from alerts.rules.base import RuleConfig, RuleFacts, base_labels, fingerprint

KIND = "coverage_gap"
_NEVER = np.iinfo(np.int64).min
NO_TOWNSHIP = "-"


class CoverageGapRule(RuleConfig):
    kind: Literal["coverage_gap"] = "coverage_gap"
    severity: Severity = Severity.medium
    max_gap_hours: float = Field(gt=0)
    feature_kinds: tuple[FeatureKind, ...] = Field(
        default=(FeatureKind.reach, FeatureKind.cell), min_length=1)
    min_priority: int | None = None
    group_by: Literal["township", "feature"] = "township"


def evaluate(rule: CoverageGapRule, facts: RuleFacts, now_ms: int) -> list[Candidate]:
    features = facts.features
    stale = _stale_indices(rule, features, now_ms)
    if not stale:
        return []
    if rule.group_by == "feature":
        return [_candidate(rule, [features[i]], features[i].kind.value, features[i].feature_id)
                for i in stale]
    by_township: dict[str, list[FeatureVisit]] = {}
    for i in stale:
        by_township.setdefault(features[i].township or NO_TOWNSHIP, []).append(features[i])
    return [_candidate(rule, group, "township", township)
            for township, group in sorted(by_township.items())]


def _stale_indices(rule: CoverageGapRule, features: Sequence[FeatureVisit],
                   now_ms: int) -> list[int]:
    """Indices of stale features, stalest first (never visited, oldest visit, priority, id)."""
    n = len(features)
    if n == 0:
        return []
    kinds = frozenset(rule.feature_kinds)
    wanted = np.fromiter((f.kind in kinds for f in features), bool, n)
    last = np.fromiter((_NEVER if f.last_visit_ms is None else f.last_visit_ms for f in features),
                       np.int64, n)
    stale = wanted & ((last == _NEVER) | (now_ms - last > int(rule.max_gap_hours * 3_600_000)))
    if rule.min_priority is not None:
        priority = np.fromiter((f.priority for f in features), np.int64, n)
        stale &= priority >= rule.min_priority
    chosen = np.flatnonzero(stale).tolist()
    chosen.sort(key=lambda i: (int(last[i]), -features[i].priority, features[i].feature_id))
    return chosen


def _candidate(rule: CoverageGapRule, group: list[FeatureVisit], key: str,
               value: str) -> Candidate:
    gap_ms = int(rule.max_gap_hours * 3_600_000)
    stalest = group[0]
    reaches = tuple(f.feature_id for f in group if f.kind is FeatureKind.reach)
    cells = tuple(f.feature_id for f in group if f.kind is FeatureKind.cell)
    visited = [f.last_visit_ms + gap_ms for f in group if f.last_visit_ms is not None]
    township = stalest.township if key != "township" else (None if value == NO_TOWNSHIP else value)
    title = texts.bilingual("coverage_gap.title")
    where = texts.place(township, value if key != "township" else None)
    summary = texts.bilingual("coverage_gap.summary", place=where, reaches=len(reaches),
                              cells=len(cells), hours=f"{rule.max_gap_hours:g}")
    feature_labels = {key: value} if key != "township" else {}
    return Candidate(
        rule=rule.name,
        kind=KIND,
        severity=rule.severity,
        fingerprint=fingerprint(rule, key, value),
        labels=base_labels(rule, KIND, township=township,
                           priority=str(max(f.priority for f in group)), **feature_labels),
        evidence=Evidence(reaches=reaches, cells=cells),
        title_zh=title.zh, title_en=title.en, summary_zh=summary.zh, summary_en=summary.en,
        starts_ms=max(visited, default=0),
        x_m=stalest.x_m, y_m=stalest.y_m, lon=stalest.lon, lat=stalest.lat,
    )
