"""``report``: fires when a matching report arrives (run by the app the moment a report commits).

Filters: categories, a local time-of-day window on the observed time (``22:00``–``05:00`` crosses
midnight), distance to the river, zones and their priority, townships, minimum details
(``shots_heard >= 1``). Only reports received within ``max_age_hours`` of ``now`` count, so a
scheduled replay does not re-raise last month's reports. One alert per report, or per place when
``group_by`` is set (several reports on one reach then merge into one alert).
"""

from __future__ import annotations

from numbers import Real
from typing import Literal

from pydantic import Field, field_validator, model_validator

from alerts import texts
from alerts.localtime import (
    DEFAULT_TZ,
    in_daily_window,
    local_datetime,
    minute_of_day,
    parse_hhmm,
    resolve_tz,
)
from alerts.model import Candidate, Evidence, ReportCategory, ReportFact, ReportStatus
from alerts.rules.base import RuleConfig, RuleFacts, base_labels, fingerprint

KIND = "report"
GroupKey = Literal["reach", "cell", "township"]
_LIVE_STATUSES = frozenset(ReportStatus) - {ReportStatus.rejected}


class ReportRule(RuleConfig):
    kind: Literal["report"] = "report"
    categories: tuple[ReportCategory, ...] = Field(min_length=1)
    local_time_from: str | None = None
    local_time_to: str | None = None
    tz: str = DEFAULT_TZ
    max_dist_to_river_m: float | None = Field(default=None, ge=0)
    zones: tuple[str, ...] | None = None
    min_zone_priority: int | None = None
    townships: tuple[str, ...] | None = None
    min_details: dict[str, float] = Field(default_factory=dict)
    max_age_hours: float = Field(default=24.0, gt=0)
    group_by: tuple[GroupKey, ...] = ()

    @field_validator("local_time_from", "local_time_to")
    @classmethod
    def _hhmm(cls, value: str | None) -> str | None:
        if value is not None:
            parse_hhmm(value)
        return value

    @field_validator("tz")
    @classmethod
    def _tz(cls, value: str) -> str:
        resolve_tz(value)
        return value

    @model_validator(mode="after")
    def _window_pair(self) -> ReportRule:
        if (self.local_time_from is None) != (self.local_time_to is None):
            raise ValueError("local_time_from and local_time_to go together (e.g. 22:00 and 05:00)")
        return self


def evaluate(rule: ReportRule, facts: RuleFacts, now_ms: int) -> list[Candidate]:
    """One candidate per matching report (or per place with ``group_by``)."""
    oldest_ms = now_ms - int(rule.max_age_hours * 3_600_000)
    categories = frozenset(rule.categories)
    return [
        _candidate(rule, r)
        for r in facts.reports
        if r.category in categories and oldest_ms <= r.received_ms <= now_ms and _matches(rule, r)
    ]


def _matches(rule: ReportRule, r: ReportFact) -> bool:
    return (
        r.status in _LIVE_STATUSES
        and _in_window(rule, r)
        and _near_river(rule, r)
        and _in_zones(rule, r)
        and (rule.townships is None or r.township in rule.townships)
        and _details_ok(rule, r)
    )


def _in_window(rule: ReportRule, r: ReportFact) -> bool:
    if rule.local_time_from is None or rule.local_time_to is None:
        return True
    minute = minute_of_day(r.observed_ms, resolve_tz(rule.tz))
    return in_daily_window(minute, parse_hhmm(rule.local_time_from),
                           parse_hhmm(rule.local_time_to))


def _near_river(rule: ReportRule, r: ReportFact) -> bool:
    if rule.max_dist_to_river_m is None:
        return True
    return r.dist_to_river_m is not None and r.dist_to_river_m <= rule.max_dist_to_river_m


def _in_zones(rule: ReportRule, r: ReportFact) -> bool:
    if rule.zones is not None and not set(rule.zones) & set(r.zone_ids):
        return False
    if rule.min_zone_priority is not None:
        return r.zone_priority is not None and r.zone_priority >= rule.min_zone_priority
    return True


def _details_ok(rule: ReportRule, r: ReportFact) -> bool:
    for key, minimum in rule.min_details.items():
        value = r.details.get(key)
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, Real) or value < minimum:
            return False
    return True


def _group_key(rule: ReportRule, r: ReportFact) -> str:
    values = {"reach": r.reach_id, "cell": r.cell_id, "township": r.township}
    if not rule.group_by or any(values[k] is None for k in rule.group_by):
        return f"report/{r.id}"
    return "/".join(f"{k}={values[k]}" for k in rule.group_by)


def _candidate(rule: ReportRule, r: ReportFact) -> Candidate:
    category = texts.CATEGORY[r.category]
    if rule.local_time_from is not None:
        window = f"{rule.local_time_from}–{rule.local_time_to}"
        title = texts.bilingual("report.title_window", category=category, window=window)
    else:
        title = texts.bilingual("report.title", category=category)
    river = (
        texts.bilingual("report.river", dist_m=round(r.dist_to_river_m))
        if r.dist_to_river_m is not None
        else texts.Bi("", "")
    )
    when = local_datetime(r.observed_ms, resolve_tz(rule.tz)).strftime("%m-%d %H:%M")
    summary = texts.bilingual("report.summary", place=texts.place(r.township, r.reach_id or
                                                                   r.cell_id),
                              category=category, time=when, river=river)
    return Candidate(
        rule=rule.name,
        kind=KIND,
        severity=rule.severity,
        fingerprint=fingerprint(rule, _group_key(rule, r)),
        labels=base_labels(rule, KIND, category=r.category.value, township=r.township,
                           reach=r.reach_id, cell=r.cell_id),
        evidence=Evidence(report_ids=(r.id,), reaches=(r.reach_id,) if r.reach_id else (),
                          cells=(r.cell_id,) if r.cell_id else ()),
        title_zh=title.zh, title_en=title.en, summary_zh=summary.zh, summary_en=summary.en,
        starts_ms=r.observed_ms,
        x_m=r.x_m, y_m=r.y_m, lon=r.lon, lat=r.lat,
    )
