"""The pipeline's shapes: the frozen context every stage reads, the items stages pass along, the
``Stage`` protocol and the result the app persists."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from alerts.assignment import DEFAULT_TIE_M
from alerts.escalation import DEFAULT_POLICIES, Escalation, EscalationPolicy
from alerts.inhibit import DEFAULT_INHIBIT_RULES, InhibitRule
from alerts.model import Alert, Candidate, Notification, to_plain
from alerts.reasons import SuppressReason
from alerts.routing import DEFAULT_ROUTE, Route
from alerts.silence import Silence
from alerts.squads import SquadStatus


@dataclass(frozen=True)
class PipelineContext:
    """Everything the stages may read, fixed for one run. ``open_alerts`` holds the unresolved
    alerts by fingerprint; ``resolved_alerts`` the newest resolved alert per fingerprint (at least
    for the rules' look-back), so a resolved condition does not fire again without news."""

    now_ms: int
    new_id: Callable[[], str]
    open_alerts: Mapping[str, Alert] = field(default_factory=dict)
    resolved_alerts: Mapping[str, Alert] = field(default_factory=dict)
    silences: Sequence[Silence] = ()
    inhibit_rules: Sequence[InhibitRule] = DEFAULT_INHIBIT_RULES
    squads: Sequence[SquadStatus] = ()
    routes: Sequence[Route] = ()
    default_route: Route = DEFAULT_ROUTE
    escalation_policies: Mapping[str, EscalationPolicy] = field(
        default_factory=lambda: dict(DEFAULT_POLICIES))
    tie_m: float = DEFAULT_TIE_M
    actor: str = "system"

    def route_named(self, name: str | None) -> Route:
        for route in self.routes:
            if route.name == name:
                return route
        return self.default_route

    def with_result(self, result: PipelineResult, now_ms: int | None = None) -> PipelineContext:
        """The context after the app persisted ``result`` (handy for ticks and tests)."""
        open_alerts = dict(self.open_alerts)
        resolved = dict(self.resolved_alerts)
        fingerprint_of = {a.id: fp for fp, a in open_alerts.items()}
        for alert in result.alerts:
            if alert.id in fingerprint_of:
                del open_alerts[fingerprint_of[alert.id]]
            if alert.is_open:
                open_alerts[alert.fingerprint] = alert
            else:
                resolved[alert.fingerprint] = alert
        return dataclasses.replace(self, open_alerts=open_alerts, resolved_alerts=resolved,
                                   now_ms=self.now_ms if now_ms is None else now_ms)


class Change(StrEnum):
    created = "created"
    updated = "updated"
    unchanged = "unchanged"


class Note(StrEnum):
    """What happened to an item in this run (stages further down read these)."""

    evidence_added = "evidence_added"
    assigned = "assigned"
    escalated = "escalated"


@dataclass(frozen=True, slots=True)
class Suppressed:
    """A candidate or alert that was stopped, and why (``by``: alert or silence id)."""

    fingerprint: str
    rule: str
    reason: SuppressReason
    by: str | None
    at_ms: int
    alert_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)


@dataclass(frozen=True, slots=True)
class Item:
    """One thing flowing through the stages: the alert as it stands (``None`` before dedupe),
    the candidate it came from, what changed, and what the stages produced for it."""

    alert: Alert | None
    candidate: Candidate | None = None
    change: Change = Change.unchanged
    notes: frozenset[Note] = frozenset()
    suppressed: Suppressed | None = None
    notifications: tuple[Notification, ...] = ()
    escalations: tuple[Escalation, ...] = ()

    @property
    def live(self) -> Alert:
        assert self.alert is not None, "stage ran before dedupe"
        return self.alert

    def with_alert(self, alert: Alert, *notes: Note) -> Item:
        """The item with a changed alert (an unchanged item becomes updated)."""
        change = Change.updated if self.change is Change.unchanged else self.change
        return dataclasses.replace(self, alert=alert, change=change,
                                   notes=self.notes | frozenset(notes))


class Stage(Protocol):
    def __call__(self, ctx: PipelineContext, items: list[Item]) -> list[Item]:
        """Return the items to pass on: changed, marked ``suppressed`` (recorded, then taken out
        of the flow) or left out (nothing to record)."""
        ...


@dataclass(frozen=True)
class PipelineResult:
    created: list[Alert] = field(default_factory=list)
    updated: list[Alert] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)

    @property
    def alerts(self) -> list[Alert]:
        """Everything to persist (insert the created, update the updated)."""
        return [*self.created, *self.updated]

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)
