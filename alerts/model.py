"""The alert domain's data: states, the facts rules read, candidates, alerts and their timelines.

Everything is a frozen dataclass of plain values (str, int, float, tuples, small dicts); ``to_dict``
gives JSON-ready dicts and ``from_dict`` reads them back, so the app can persist alerts as rows or
JSON without knowing more. Times are UTC epoch milliseconds (``*_ms``), distances metres (``*_m``)
in the deployment's metric CRS.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any

from alerts.reasons import (
    REASON_ENUMS,
    AssignReason,
    DeclineReason,
    DedupeReason,
    EscalationReason,
    NotificationEvent,
    RouteReason,
    SuppressReason,
    UnmuteReason,
)
from geo.schema import Mode

__all__ = [
    "Alert",
    "AlertState",
    "Candidate",
    "Evidence",
    "FeatureKind",
    "FeatureVisit",
    "Mode",
    "Mute",
    "Notification",
    "Outcome",
    "Overdue",
    "Reason",
    "Recipient",
    "RecipientKind",
    "ReportCategory",
    "ReportFact",
    "ReportStatus",
    "Severity",
    "TimelineEvent",
    "TimelineKind",
    "UnitFact",
    "parse_reason",
    "to_plain",
]


class Severity(StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"

    @property
    def rank(self) -> int:
        """0 for critical … 3 for low: smaller is more severe."""
        return _SEVERITY_ORDER.index(self)

    @staticmethod
    def most_severe(a: Severity, b: Severity) -> Severity:
        return a if a.rank <= b.rank else b


_SEVERITY_ORDER = tuple(Severity)


class ReportCategory(StrEnum):
    illegal_fishing = "illegal_fishing"
    electrofishing = "electrofishing"
    poisoning = "poisoning"
    illegal_hunting = "illegal_hunting"
    snare = "snare"
    firearm = "firearm"
    other = "other"


class ReportStatus(StrEnum):
    received = "received"
    triaged = "triaged"
    assigned = "assigned"
    on_scene = "on_scene"
    resolved = "resolved"
    rejected = "rejected"


class FeatureKind(StrEnum):
    reach = "reach"
    cell = "cell"


class AlertState(StrEnum):
    """An alert's life. A decline is not a state: it sends the alert back to ``open`` unassigned
    and reassigns it (see ``alerts.lifecycle.decline``)."""

    open = "open"
    acknowledged = "acknowledged"
    en_route = "en_route"
    on_scene = "on_scene"
    resolved = "resolved"

    @property
    def rank(self) -> int:
        return _STATE_ORDER.index(self)


_STATE_ORDER = tuple(AlertState)


class Outcome(StrEnum):
    confirmed = "confirmed"
    not_found = "not_found"
    false_report = "false_report"


class Overdue(StrEnum):
    """Overdue code of an alert or report past its limit; ``None`` when on time."""

    yellow = "yellow"
    red = "red"


class TimelineKind(StrEnum):
    created = "created"
    updated = "updated"
    suppressed = "suppressed"
    inhibited = "inhibited"
    silenced = "silenced"
    unmuted = "unmuted"
    routed = "routed"
    assigned = "assigned"
    unassigned = "unassigned"
    notified = "notified"
    acknowledged = "acknowledged"
    en_route = "en_route"
    on_scene = "on_scene"
    resolved = "resolved"
    declined = "declined"
    escalated = "escalated"
    overdue = "overdue"


class RecipientKind(StrEnum):
    squad = "squad"
    person = "person"
    role = "role"  # e.g. "duty_commander", "station_chief": the app resolves who holds it now


Reason = (
    DedupeReason
    | SuppressReason
    | UnmuteReason
    | RouteReason
    | AssignReason
    | DeclineReason
    | EscalationReason
    | NotificationEvent
    | Outcome
    | Overdue
)

_REASONS_BY_VALUE: dict[str, Reason] = {
    member.value: member  # type: ignore[misc]
    for enum in (*REASON_ENUMS, Outcome, Overdue)
    for member in enum
}


def parse_reason(value: str | None) -> Reason | None:
    """The reason enum member whose value is ``value`` (values are unique across reason enums)."""
    if value is None:
        return None
    try:
        return _REASONS_BY_VALUE[value]
    except KeyError:
        raise ValueError(f"unknown reason {value!r}") from None


def to_plain(value: Any) -> Any:
    """Dataclasses, enums, tuples and dicts → JSON-ready dicts, strings and lists."""
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if hasattr(value, "model_dump"):  # a pydantic model (routes, silences…)
        return value.model_dump(mode="json")
    return value


# --------------------------------------------------------------------------------------- facts


@dataclass(frozen=True, slots=True)
class ReportFact:
    """A placed sighting report as the rules see it (the app builds it from its store)."""

    id: str
    category: ReportCategory
    observed_ms: int
    received_ms: int
    lon: float
    lat: float
    x_m: float
    y_m: float
    reach_id: str | None = None
    dist_to_river_m: float | None = None
    cell_id: str | None = None
    township: str | None = None
    zone_ids: tuple[str, ...] = ()
    zone_priority: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    status: ReportStatus = ReportStatus.received

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReportFact:
        d = dict(data)
        d["category"] = ReportCategory(d["category"])
        d["status"] = ReportStatus(d.get("status", "received"))
        d["zone_ids"] = tuple(d.get("zone_ids", ()))
        d["details"] = dict(d.get("details", {}))
        return cls(**d)


Position = tuple[int, float, float]  # (t_ms, x_m, y_m)


@dataclass(frozen=True, slots=True)
class UnitFact:
    """A patrol unit (a phone or a vehicle GPS) as the unit rules see it.

    ``track`` holds its recent positions (t_ms, x_m, y_m), oldest first, for immobility; ``remote``
    is computed by the app (far from villages and roads).
    """

    unit_id: str
    mode: Mode
    on_duty: bool
    last_fix_ms: int | None = None
    last_x_m: float | None = None
    last_y_m: float | None = None
    track: tuple[Position, ...] = ()
    remote: bool = False
    squad_id: str | None = None
    on_duty_since_ms: int | None = None
    last_lon: float | None = None
    last_lat: float | None = None
    township: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UnitFact:
        d = dict(data)
        d["track"] = tuple((int(t), float(x), float(y)) for t, x, y in d.get("track", ()))
        return cls(**d)


@dataclass(frozen=True, slots=True)
class FeatureVisit:
    """A river reach or forest cell with its last patrol visit and a representative point."""

    kind: FeatureKind
    feature_id: str
    priority: int
    last_visit_ms: int | None
    x_m: float
    y_m: float
    township: str | None = None
    lon: float | None = None
    lat: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureVisit:
        d = dict(data)
        d["kind"] = FeatureKind(d["kind"])
        return cls(**d)


# ------------------------------------------------------------------------- candidates, alerts


def _union(a: tuple[str, ...], b: Iterable[str]) -> tuple[str, ...]:
    seen = set(a)
    extra: list[str] = []
    for x in b:
        if x not in seen:
            seen.add(x)
            extra.append(x)
    return a + tuple(extra) if extra else a


@dataclass(frozen=True, slots=True)
class Evidence:
    """What an alert rests on: ids of reports, reaches, cells, units and (unit alerts) squads."""

    report_ids: tuple[str, ...] = ()
    reaches: tuple[str, ...] = ()
    cells: tuple[str, ...] = ()
    unit_ids: tuple[str, ...] = ()
    squad_ids: tuple[str, ...] = ()

    def merged(self, other: Evidence) -> Evidence:
        """The union, in order: ours first, then what ``other`` adds."""
        return Evidence(*(_union(getattr(self, f), getattr(other, f)) for f in _EVIDENCE_FIELDS))

    def covers(self, other: Evidence) -> bool:
        """True when ``other`` adds nothing to this evidence."""
        return all(set(getattr(other, f)) <= set(getattr(self, f)) for f in _EVIDENCE_FIELDS)

    def to_dict(self) -> dict[str, list[str]]:
        return {f: list(getattr(self, f)) for f in _EVIDENCE_FIELDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Iterable[str]]) -> Evidence:
        return cls(**{f: tuple(data.get(f, ())) for f in _EVIDENCE_FIELDS})


_EVIDENCE_FIELDS = tuple(f.name for f in dataclasses.fields(Evidence))


@dataclass(frozen=True, slots=True)
class Candidate:
    """What a rule says should be alerted. ``fingerprint`` identifies "the same thing" across
    evaluations (rule + report, cluster seed, feature, township or unit); ``labels`` are what
    silences and routes match; ``starts_ms`` is when the condition began (a new episode after a
    resolve has a later ``starts_ms``)."""

    rule: str
    kind: str
    severity: Severity
    fingerprint: str
    labels: Mapping[str, str]
    evidence: Evidence
    title_zh: str
    title_en: str
    summary_zh: str
    summary_en: str
    starts_ms: int
    x_m: float | None = None
    y_m: float | None = None
    lon: float | None = None
    lat: float | None = None
    merge_on_shared_reports: bool = False  # cluster: an open alert sharing a report is the same

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)


@dataclass(frozen=True, slots=True)
class Mute:
    """Why an alert is muted: the reason and the silence id or inhibiting alert id."""

    reason: SuppressReason
    by: str


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    at_ms: int
    kind: TimelineKind
    actor: str  # "system", "rule:<name>", "person:<id>", "squad:<id>"
    reason: Reason | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TimelineEvent:
        return cls(
            at_ms=int(data["at_ms"]),
            kind=TimelineKind(data["kind"]),
            actor=str(data["actor"]),
            reason=parse_reason(data.get("reason")),
            data=dict(data.get("data", {})),
        )


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    fingerprint: str
    rule: str
    kind: str
    severity: Severity
    labels: Mapping[str, str]
    evidence: Evidence
    state: AlertState
    created_ms: int
    updated_ms: int
    starts_ms: int
    title_zh: str = ""
    title_en: str = ""
    summary_zh: str = ""
    summary_en: str = ""
    x_m: float | None = None
    y_m: float | None = None
    lon: float | None = None
    lat: float | None = None
    squad_id: str | None = None
    route: str | None = None
    escalation_policy: str | None = None
    acked_ms: int | None = None
    en_route_ms: int | None = None
    on_scene_ms: int | None = None
    resolved_ms: int | None = None
    outcome: Outcome | None = None
    escalation_level: int = 0
    declined_squads: tuple[str, ...] = ()
    muted_by: Mute | None = None
    timeline: tuple[TimelineEvent, ...] = ()

    @property
    def is_open(self) -> bool:
        """Not resolved (whatever its progress)."""
        return self.state is not AlertState.resolved

    @property
    def location(self) -> tuple[float, float] | None:
        if self.x_m is None or self.y_m is None:
            return None
        return (self.x_m, self.y_m)

    def with_event(self, event: TimelineEvent, **changes: Any) -> Alert:
        """A copy with ``event`` appended to the timeline, ``updated_ms`` moved and ``changes``."""
        return dataclasses.replace(
            self,
            timeline=(*self.timeline, event),
            updated_ms=max(self.updated_ms, event.at_ms),
            **changes,
        )

    def last_event(self, *kinds: TimelineKind) -> TimelineEvent | None:
        for event in reversed(self.timeline):
            if event.kind in kinds:
                return event
        return None

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        d = dict(data)
        d["severity"] = Severity(d["severity"])
        d["state"] = AlertState(d["state"])
        d["labels"] = dict(d.get("labels", {}))
        d["evidence"] = Evidence.from_dict(d.get("evidence", {}))
        d["outcome"] = Outcome(d["outcome"]) if d.get("outcome") else None
        d["declined_squads"] = tuple(d.get("declined_squads", ()))
        muted = d.get("muted_by")
        d["muted_by"] = Mute(SuppressReason(muted["reason"]), muted["by"]) if muted else None
        d["timeline"] = tuple(TimelineEvent.from_dict(e) for e in d.get("timeline", ()))
        return cls(**d)


# --------------------------------------------------------------------------------- notifications


@dataclass(frozen=True, slots=True)
class Recipient:
    kind: RecipientKind
    id: str


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to deliver on one channel to one recipient. The pipeline only records these;
    the app puts them in its outbox and a ``Channel`` delivers them."""

    id: str
    alert_id: str
    channel: str
    recipient: Recipient
    event: NotificationEvent
    severity: Severity
    created_ms: int
    payload: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notification:
        r = data["recipient"]
        return cls(
            id=data["id"],
            alert_id=data["alert_id"],
            channel=data["channel"],
            recipient=Recipient(RecipientKind(r["kind"]), r["id"]),
            event=NotificationEvent(data["event"]),
            severity=Severity(data["severity"]),
            created_ms=int(data["created_ms"]),
            payload=dict(data["payload"]),
        )
