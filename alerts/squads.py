"""Personnel, squads of exactly 1 police officer + 2 auxiliary officers, duty rosters and the
state and position of a squad at a moment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerts.localtime import DEFAULT_TZ, in_daily_window, local_datetime, parse_hhmm, resolve_tz
from alerts.model import Alert, AlertState, Position, to_plain

POLICE_PER_SQUAD = 1
AUXILIARY_PER_SQUAD = 2
#: the last epoch millisecond of 9999-12-31 UTC: later (or negative) times are no duty window, and
#: would not fit a datetime or, far out, a database integer
MAX_EPOCH_MS = 253_402_300_799_999


class Role(StrEnum):
    police = "police"
    auxiliary = "auxiliary"


class PersonStatus(StrEnum):
    active = "active"
    on_leave = "on_leave"
    inactive = "inactive"


class SquadState(StrEnum):
    available = "available"
    busy = "busy"  # en route to or on scene of an alert
    off_duty = "off_duty"


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    name: str
    role: Role
    phone: str = ""
    status: PersonStatus = PersonStatus.active

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)


@dataclass(frozen=True, slots=True)
class Squad:
    id: str
    name: str
    member_ids: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)


# ------------------------------------------------------------------------------- composition


def _who(people: Iterable[Person]) -> str:
    return ", ".join(p.name for p in people)


def validate_squad(members: Sequence[Person], memberships: Mapping[str, str] | None = None,
                   squad_id: str | None = None) -> list[str]:
    """Problems with a squad made of ``members`` (empty when valid). ``memberships`` maps a
    person id to the squad they are in now; ``squad_id`` is the squad being edited, if any."""
    memberships = memberships or {}
    problems: list[str] = []
    counted: dict[str, int] = {}
    for p in members:
        counted[p.id] = counted.get(p.id, 0) + 1
    for p in dict((p.id, p) for p in members).values():
        if counted[p.id] > 1:
            problems.append(f"{p.name} ({p.id}) is listed {counted[p.id]} times")
    unique = list(dict((p.id, p) for p in members).values())
    police = [p for p in unique if p.role is Role.police]
    auxiliary = [p for p in unique if p.role is Role.auxiliary]
    if len(police) != POLICE_PER_SQUAD:
        problems.append(f"a squad needs exactly 1 police officer, got {len(police)}"
                        + (f": {_who(police)}" if police else ""))
    if len(auxiliary) != AUXILIARY_PER_SQUAD:
        problems.append(f"a squad needs exactly 2 auxiliary officers, got {len(auxiliary)}"
                        + (f": {_who(auxiliary)}" if auxiliary else ""))
    for p in unique:
        current = memberships.get(p.id)
        if current is not None and current != squad_id:
            problems.append(f"{p.name} ({p.id}) is already in squad {current}")
        if p.status is not PersonStatus.active:
            problems.append(f"{p.name} ({p.id}) is not active ({p.status.value})")
    return problems


def validate_squad_ids(member_ids: Sequence[str], people: Mapping[str, Person],
                       memberships: Mapping[str, str] | None = None,
                       squad_id: str | None = None) -> list[str]:
    """As ``validate_squad``, from person ids (unknown ids are problems too)."""
    unknown = [i for i in dict.fromkeys(member_ids) if i not in people]
    problems = [f"unknown person id {i!r}" for i in unknown]
    known = [people[i] for i in member_ids if i in people]
    return problems + validate_squad(known, memberships, squad_id)


# ---------------------------------------------------------------------------------- rosters


class Shift(BaseModel):
    """A recurring duty shift in local time; ``end <= start`` runs overnight into the next day.
    ``weekdays`` (0 = Monday) are the days the shift starts on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: str
    end: str
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        parse_hhmm(value)
        return value

    @field_validator("weekdays")
    @classmethod
    def _days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        bad = [d for d in value if not 0 <= d <= 6]
        if bad:
            raise ValueError(f"weekdays are 0 (Monday) … 6 (Sunday), got {bad}")
        return value


class DutyWindow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start_ms: int = Field(ge=0, le=MAX_EPOCH_MS)
    end_ms: int = Field(ge=0, le=MAX_EPOCH_MS)

    @model_validator(mode="after")
    def _span(self) -> DutyWindow:
        if self.end_ms <= self.start_ms:
            raise ValueError("end_ms must be after start_ms")
        return self

    def contains(self, t_ms: int) -> bool:
        return self.start_ms <= t_ms < self.end_ms


class Roster(BaseModel):
    """A squad's duty: recurring shifts, extra one-off windows, and windows off (leave wins)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    squad_id: str
    shifts: tuple[Shift, ...] = ()
    extra: tuple[DutyWindow, ...] = ()
    off: tuple[DutyWindow, ...] = ()
    tz: str = DEFAULT_TZ

    @field_validator("tz")
    @classmethod
    def _tz(cls, value: str) -> str:
        resolve_tz(value)
        return value


def on_duty(roster: Roster | None, now_ms: int) -> bool:
    if roster is None or any(w.contains(now_ms) for w in roster.off):
        return False
    if any(w.contains(now_ms) for w in roster.extra):
        return True
    local = local_datetime(now_ms, resolve_tz(roster.tz))
    minute, today = local.hour * 60 + local.minute, local.weekday()
    yesterday = (local - timedelta(days=1)).weekday()
    for shift in roster.shifts:
        start, end = parse_hhmm(shift.start), parse_hhmm(shift.end)
        if start < end:
            if today in shift.weekdays and in_daily_window(minute, start, end):
                return True
        elif (today in shift.weekdays and minute >= start) or (
                yesterday in shift.weekdays and minute < end):
            return True
    return False


# ------------------------------------------------------------------------------ squad status

BUSY_STATES = frozenset({AlertState.en_route, AlertState.on_scene})


@dataclass(frozen=True, slots=True)
class SquadStatus:
    """What assignment needs to know of a squad now."""

    squad_id: str
    state: SquadState
    x_m: float | None = None
    y_m: float | None = None
    position_ms: int | None = None
    load: int = 0  # open alerts assigned to it

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)


def squad_load(squad_id: str, open_alerts: Iterable[Alert]) -> int:
    return sum(1 for a in open_alerts if a.squad_id == squad_id and a.is_open)


def squad_state(squad: Squad, roster: Roster | None, open_alerts: Iterable[Alert],
                now_ms: int) -> SquadState:
    """off_duty outside its roster; busy while en route to or on scene of an alert; else
    available (unacknowledged or acknowledged alerts only add to its load)."""
    if not on_duty(roster, now_ms):
        return SquadState.off_duty
    if any(a.squad_id == squad.id and a.state in BUSY_STATES for a in open_alerts):
        return SquadState.busy
    return SquadState.available


def last_known_position(member_fixes: Iterable[Position]) -> Position | None:
    """The freshest (t_ms, x_m, y_m) among the members' latest fixes."""
    return max(member_fixes, key=lambda p: p[0], default=None)


def squad_status(squad: Squad, roster: Roster | None, open_alerts: Sequence[Alert],
                 member_fixes: Iterable[Position], now_ms: int) -> SquadStatus:
    position = last_known_position(member_fixes)
    return SquadStatus(
        squad_id=squad.id,
        state=squad_state(squad, roster, open_alerts, now_ms),
        x_m=position[1] if position else None,
        y_m=position[2] if position else None,
        position_ms=position[0] if position else None,
        load=squad_load(squad.id, open_alerts),
    )
