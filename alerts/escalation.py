"""Escalation policies, overdue codes and the escalations due now.

A policy (one per severity by default, named in config) says: acknowledge within
``ack_within_min`` or the alert goes to ``levels[0]`` (the duty commander), then every further
``step_min`` to the next level (the station chief…); be on scene within ``on_scene_within_min``
or the same ladder is climbed from that limit. Clocks run from the alert's creation. An alert that
no squad could take goes to ``levels[0]`` at once. Each level is reached once
(``Alert.escalation_level`` remembers), so ``escalate`` is idempotent.

Overdue codes: ``yellow`` once a limit is reached, ``red`` at the red limit (2 × the limit unless
given). ``next_escalation_ms`` tells the app's scheduler when to look again, to the millisecond.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.model import (
    Alert,
    AlertState,
    Overdue,
    ReportFact,
    ReportStatus,
    Severity,
    TimelineKind,
    to_plain,
)
from alerts.reasons import AssignReason, EscalationReason

_MIN = 60_000


class EscalationPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ack_within_min: float = Field(gt=0)
    ack_red_min: float | None = Field(default=None, gt=0)
    step_min: float = Field(gt=0)
    levels: tuple[str, ...] = Field(default=("duty_commander", "station_chief"), min_length=1)
    on_scene_within_min: float | None = Field(default=None, gt=0)
    on_scene_red_min: float | None = Field(default=None, gt=0)
    channels: tuple[str, ...] | None = None  # None: the alert's route channels

    @model_validator(mode="after")
    def _red_after_yellow(self) -> EscalationPolicy:
        if self.ack_red_min is not None and self.ack_red_min <= self.ack_within_min:
            raise ValueError("ack_red_min must be greater than ack_within_min")
        if self.on_scene_red_min is not None:
            if self.on_scene_within_min is None:
                raise ValueError("on_scene_red_min needs on_scene_within_min")
            if self.on_scene_red_min <= self.on_scene_within_min:
                raise ValueError("on_scene_red_min must be greater than on_scene_within_min")
        return self


DEFAULT_POLICIES: dict[str, EscalationPolicy] = {
    Severity.critical: EscalationPolicy(ack_within_min=2, step_min=5, on_scene_within_min=30),
    Severity.high: EscalationPolicy(ack_within_min=5, step_min=10, on_scene_within_min=60),
    Severity.medium: EscalationPolicy(ack_within_min=15, step_min=30, on_scene_within_min=240),
    Severity.low: EscalationPolicy(ack_within_min=60, step_min=120),
}


class ReportTargets(BaseModel):
    """The field standard for reports: triaged within 3 min, assigned within 5."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    triage_min: float = Field(default=3, gt=0)
    assign_min: float = Field(default=5, gt=0)


@dataclass(frozen=True, slots=True)
class Escalation:
    alert_id: str
    level: int  # 1-based: levels[level - 1] is the target
    target: str  # a role, e.g. "duty_commander"
    reason: EscalationReason
    at_ms: int

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)


def policy_for(alert: Alert, policies: Mapping[str, EscalationPolicy]) -> EscalationPolicy:
    """The alert's named policy, else the one for its severity, else the built-in default."""
    for name in (alert.escalation_policy, alert.severity.value):
        if name is not None and name in policies:
            return policies[name]
    return DEFAULT_POLICIES[alert.severity]


def overdue_code(elapsed_ms: int, limit_min: float, red_min: float | None = None) -> Overdue | None:
    """``yellow`` from ``limit_min`` on, ``red`` from ``red_min`` on (default 2 × the limit)."""
    red = red_min if red_min is not None else 2 * limit_min
    if elapsed_ms >= red * _MIN:
        return Overdue.red
    if elapsed_ms >= limit_min * _MIN:
        return Overdue.yellow
    return None


def worst(*codes: Overdue | None) -> Overdue | None:
    if Overdue.red in codes:
        return Overdue.red
    return Overdue.yellow if Overdue.yellow in codes else None


def overdue(alert: Alert, policy: EscalationPolicy, now_ms: int) -> Overdue | None:
    """The alert's overdue code now: against the ack limit while unacknowledged, against the
    on-scene limit until on scene; ``None`` once on scene or resolved."""
    if alert.state in (AlertState.on_scene, AlertState.resolved):
        return None
    elapsed = now_ms - alert.created_ms
    ack = (overdue_code(elapsed, policy.ack_within_min, policy.ack_red_min)
           if alert.acked_ms is None else None)
    scene = (overdue_code(elapsed, policy.on_scene_within_min, policy.on_scene_red_min)
             if policy.on_scene_within_min is not None else None)
    return worst(ack, scene)


def report_overdue(report: ReportFact, now_ms: int,
                   targets: ReportTargets | None = None) -> Overdue | None:
    """A report's overdue code: triage while ``received``, assignment until ``assigned``."""
    targets = targets or ReportTargets()
    elapsed = now_ms - report.received_ms
    triage = (overdue_code(elapsed, targets.triage_min)
              if report.status is ReportStatus.received else None)
    assign = (overdue_code(elapsed, targets.assign_min)
              if report.status in (ReportStatus.received, ReportStatus.triaged) else None)
    return worst(triage, assign)


def due_level(alert: Alert, policy: EscalationPolicy,
              now_ms: int) -> tuple[int, EscalationReason | None]:
    """How far up the ladder the alert should be now, and why."""
    if not alert.is_open or alert.muted_by is not None:
        return 0, None
    elapsed = now_ms - alert.created_ms
    step = policy.step_min * _MIN
    level, reason = 0, None
    if alert.acked_ms is None and elapsed >= policy.ack_within_min * _MIN:
        level = 1 + int((elapsed - policy.ack_within_min * _MIN) // step)
        reason = EscalationReason.ack_overdue
    if policy.on_scene_within_min is not None and alert.on_scene_ms is None:
        limit = policy.on_scene_within_min * _MIN
        if elapsed >= limit and 1 + int((elapsed - limit) // step) > level:
            level, reason = 1 + int((elapsed - limit) // step), EscalationReason.on_scene_overdue
    if level == 0 and unassignable(alert):
        level, reason = 1, EscalationReason.unassigned
    return min(level, len(policy.levels)), reason


def unassignable(alert: Alert) -> bool:
    """No squad, and the last assignment attempt found none available."""
    if alert.squad_id is not None or alert.state is not AlertState.open:
        return False
    last = alert.last_event(TimelineKind.assigned, TimelineKind.unassigned)
    return last is not None and last.reason is AssignReason.none_available


def escalations_for(alert: Alert, policy: EscalationPolicy, now_ms: int) -> list[Escalation]:
    """The levels due now that the alert has not reached yet (each level exactly once)."""
    level, reason = due_level(alert, policy, now_ms)
    if reason is None:
        return []
    return [Escalation(alert.id, k, policy.levels[k - 1], reason, now_ms)
            for k in range(alert.escalation_level + 1, level + 1)]


def escalate(alerts: Iterable[Alert], policies: Mapping[str, EscalationPolicy],
             now_ms: int) -> list[Escalation]:
    """Escalations due now over ``alerts`` (record them — ``escalation_level`` — to stay
    idempotent; the pipeline's escalate stage does that)."""
    return [e for a in alerts for e in escalations_for(a, policy_for(a, policies), now_ms)]


def next_check_ms(alert: Alert, policy: EscalationPolicy, now_ms: int) -> int | None:
    """The next moment the alert's escalation level or overdue code changes by itself (for the
    app's scheduler: a date trigger instead of polling); ``now_ms`` if an escalation is already
    due; ``None`` when nothing is pending."""
    if not alert.is_open or alert.muted_by is not None:
        return None
    start, step = alert.created_ms, int(policy.step_min * _MIN)
    limits: list[tuple[float, float | None]] = []
    if alert.acked_ms is None:
        limits.append((policy.ack_within_min, policy.ack_red_min))
    if policy.on_scene_within_min is not None and alert.on_scene_ms is None:
        limits.append((policy.on_scene_within_min, policy.on_scene_red_min))
    times: list[int] = []
    for limit, red in limits:
        if alert.escalation_level < len(policy.levels):
            times.append(max(now_ms, start + int(limit * _MIN) + alert.escalation_level * step))
        times.extend(t for t in (start + int(limit * _MIN),
                                 start + int((red if red is not None else 2 * limit) * _MIN))
                     if t > now_ms)
    return min(times, default=None)
