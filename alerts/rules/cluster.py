"""``cluster``: at least N reports of given categories within R metres, in the last T hours.

Clustering is DBSCAN's (eps = ``radius_m``, min samples = ``min_reports``): a report with N reports
(itself included) within R metres is a core; cores within R of each other join one cluster, and
reports within R of a core join it. No chains of loose neighbours, and the result does not depend
on input order (reports are sorted by observed time, then id). The fingerprint is the rule plus the
cluster's earliest report, so it stays the same as later reports join; dedupe also treats an open
cluster alert sharing a report as the same cluster. The candidate carries ``inhibits=singles`` so
the default inhibit rule mutes single-report alerts whose reports are all in the cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import shapely
from pydantic import Field

from alerts import texts
from alerts.model import Candidate, Evidence, ReportCategory, ReportFact, ReportStatus
from alerts.rules.base import RuleConfig, RuleFacts, base_labels, fingerprint

KIND = "cluster"
INHIBITS_LABEL = "inhibits"
INHIBITS_SINGLES = "singles"


class ClusterRule(RuleConfig):
    kind: Literal["cluster"] = "cluster"
    categories: tuple[ReportCategory, ...] = Field(min_length=1)
    min_reports: int = Field(default=3, ge=2)
    radius_m: float = Field(gt=0)
    window_hours: float = Field(gt=0)
    inhibit_singles: bool = True


def evaluate(rule: ClusterRule, facts: RuleFacts, now_ms: int) -> list[Candidate]:
    reports = _window(rule, facts.reports, now_ms)
    if len(reports) < rule.min_reports:
        return []
    return [_candidate(rule, [reports[i] for i in members])
            for members in find_clusters(reports, rule.radius_m, rule.min_reports)]


def _window(rule: ClusterRule, reports: Sequence[ReportFact], now_ms: int) -> list[ReportFact]:
    start_ms = now_ms - int(rule.window_hours * 3_600_000)
    categories = frozenset(rule.categories)
    chosen = [
        r for r in reports
        if r.category in categories and start_ms < r.observed_ms <= now_ms
        and r.status is not ReportStatus.rejected
    ]
    chosen.sort(key=lambda r: (r.observed_ms, r.id))
    return chosen


def find_clusters(reports: Sequence[ReportFact], radius_m: float,
                  min_reports: int) -> list[list[int]]:
    """DBSCAN over the reports' (x_m, y_m): lists of indices, each sorted, clusters in the order
    of their first member. Noise is left out."""
    n = len(reports)
    xy = np.fromiter((v for r in reports for v in (r.x_m, r.y_m)), float, 2 * n).reshape(n, 2)
    points = shapely.points(xy)
    left, right = shapely.STRtree(points).query(points, predicate="dwithin", distance=radius_m)
    core = np.bincount(left, minlength=n) >= min_reports
    if not core.any():
        return []
    label = _core_components(n, core, left, right)
    border = ~core[left] & core[right]  # a non-core report within reach of a core one
    b_left, b_right = left[border], right[border]
    order = np.lexsort((b_right, b_left))  # per border report, its earliest core neighbour
    b_left, b_right = b_left[order], b_right[order]
    first = np.ones(len(b_left), bool)
    first[1:] = b_left[1:] != b_left[:-1]
    label[b_left[first]] = label[b_right[first]]
    groups: dict[int, list[int]] = {}
    for i in np.flatnonzero(label >= 0).tolist():
        groups.setdefault(int(label[i]), []).append(i)
    return sorted(groups.values(), key=lambda members: members[0])


def _core_components(n: int, core: np.ndarray, left: np.ndarray,
                     right: np.ndarray) -> np.ndarray:
    """Connected components of the core reports (label = smallest index in the component; -1 for
    the others): min-label propagation with pointer jumping, all in numpy."""
    label = np.where(core, np.arange(n), n)
    both = core[left] & core[right]
    a, b = left[both], right[both]
    while True:
        new = label.copy()
        np.minimum.at(new, a, label[b])
        new = np.where(core, new[np.minimum(new, n - 1)], n)  # pointer jumping
        if np.array_equal(new, label):
            break
        label = new
    return np.where(core, label, -1)


def _candidate(rule: ClusterRule, members: list[ReportFact]) -> Candidate:
    first = members[0]
    categories = sorted({r.category for r in members}, key=list(ReportCategory).index)
    category = texts.Bi("、".join(texts.CATEGORY[c].zh for c in categories),
                        " and ".join(texts.CATEGORY[c].en for c in categories))
    title = texts.bilingual("cluster.title", category=category)
    summary = texts.bilingual("cluster.summary", place=texts.place(first.township),
                              hours=f"{rule.window_hours:g}", radius_m=f"{rule.radius_m:g}",
                              n=len(members))
    extra = {INHIBITS_LABEL: INHIBITS_SINGLES} if rule.inhibit_singles else {}
    return Candidate(
        rule=rule.name,
        kind=KIND,
        severity=rule.severity,
        fingerprint=fingerprint(rule, "cluster", first.id),
        labels=base_labels(rule, KIND, category=",".join(c.value for c in categories),
                           township=first.township, cell=first.cell_id, reach=first.reach_id,
                           **extra),
        evidence=Evidence(
            report_ids=tuple(r.id for r in members),
            reaches=tuple(dict.fromkeys(r.reach_id for r in members if r.reach_id)),
            cells=tuple(dict.fromkeys(r.cell_id for r in members if r.cell_id)),
        ),
        title_zh=title.zh, title_en=title.en, summary_zh=summary.zh, summary_en=summary.en,
        starts_ms=first.observed_ms,
        x_m=sum(r.x_m for r in members) / len(members),
        y_m=sum(r.y_m for r in members) / len(members),
        lon=sum(r.lon for r in members) / len(members),
        lat=sum(r.lat for r in members) / len(members),
        merge_on_shared_reports=True,
    )
