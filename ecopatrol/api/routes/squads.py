"""Squads of exactly 1 police officer + 2 auxiliary officers, their phones and duty rosters.

Anything else is refused with 422, one item per problem (``loc: ["body", "members"]``). ``GET``
shows each squad's state (``available | busy | off_duty``) and last known position.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection

from alerts.squads import DutyWindow, Roster, Shift, validate_squad_ids
from ecopatrol import audit
from ecopatrol.alerting import people, repo
from ecopatrol.alerting.views import SquadPublic, squads_public
from ecopatrol.api.deps import Commander, Reader, RuntimeDep
from ecopatrol.api.errors import ApiError, not_found

router = APIRouter(prefix="/api/v1/squads", tags=["squads"])
SquadId = Annotated[str, Path(min_length=1, max_length=64)]


class RosterIn(BaseModel):
    """Recurring shifts in local time (``end <= start`` runs overnight; equal: all day), extra duty
    windows and windows off (epoch ms)."""

    model_config = ConfigDict(extra="forbid")
    shifts: list[Shift] = Field(default_factory=list, max_length=50)
    extra: list[DutyWindow] = Field(default_factory=list, max_length=500)
    off: list[DutyWindow] = Field(default_factory=list, max_length=500)
    tz: str | None = Field(None, description="default: the deployment's time zone")


class SquadCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    members: list[str] = Field(description="person ids: exactly 1 police officer and 2 auxiliary officers")
    units: list[str] = Field(default_factory=list, max_length=20,
                             description="vehicles/phones that travel with the squad")
    roster: RosterIn | None = None
    id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[\w.\-]+$")


class SquadUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=100)
    members: list[str] | None = None
    units: list[str] | None = Field(None, max_length=20)
    roster: RosterIn | None = None


def _composition(conn: Connection, member_ids: list[str], squad_id: str | None) -> None:
    people_by_id = people.people_by_id(conn, member_ids)
    problems = validate_squad_ids(member_ids, people_by_id, people.memberships(conn), squad_id)
    if problems:
        raise _composition_error(problems)


def _composition_error(problems: list[str]) -> ApiError:
    """422 with one detail item per problem."""
    error = ApiError(422, ["body", "members"], problems[0], "squad_composition")
    error.detail = [{"loc": ["body", "members"], "msg": p, "type": "squad_composition"} for p in problems]
    return error


def _units(conn: Connection, unit_ids: list[str]) -> None:
    unknown = sorted(set(unit_ids) - people.known_units(conn, unit_ids))
    if unknown:
        raise ApiError(422, ["body", "units"], f"unknown unit(s) {', '.join(unknown)} (register them first: "
                       "POST /api/v1/units)", "unknown_unit")


def _roster(squad_id: str, body: RosterIn, default_tz: str) -> Roster:
    try:
        return Roster(squad_id=squad_id, shifts=tuple(body.shifts), extra=tuple(body.extra),
                      off=tuple(body.off), tz=body.tz or default_tz)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ApiError(422, ["body", "roster", *err["loc"]], str(err["msg"]), "value_error") from None


def _one(runtime, conn: Connection, squad_id: str) -> SquadPublic:  # type: ignore[no-untyped-def]
    records = people.load_squads(conn, [squad_id])
    if not records:
        raise not_found(["path", "squad_id"], f"no squad {squad_id!r}")
    return squads_public(conn, records, runtime.now_ms())[0]


@router.post("", status_code=201)
def create_squad(body: SquadCreate, runtime: RuntimeDep, who: Commander) -> SquadPublic:
    """Form a squad: exactly 1 police officer and 2 auxiliary officers, each in no other squad."""
    squad_id = body.id or f"sq-{uuid.uuid4().hex[:10]}"
    tz = runtime.settings.deployment.timezone
    now = runtime.now_ms()
    with runtime.store.write() as conn:
        if people.load_squads(conn, [squad_id]):
            raise ApiError(409, ["body", "id"], f"squad {squad_id!r} already exists", "conflict")
        _composition(conn, body.members, None)
        _units(conn, body.units)
        roster = _roster(squad_id, body.roster or RosterIn(), tz)
        actor = audit.actor_of(who)
        people.insert_squad(conn, squad_id=squad_id, name=body.name, tz=roster.tz, now_ms=now, actor=actor)
        people.set_members(conn, squad_id, body.members, actor=actor, at_ms=now)
        people.set_units(conn, squad_id, body.units, actor=actor, at_ms=now)
        people.set_roster(conn, squad_id, roster, actor=actor, at_ms=now)
        return _one(runtime, conn, squad_id)


@router.get("")
def list_squads(runtime: RuntimeDep, _: Reader) -> list[SquadPublic]:
    with runtime.store.read() as conn:
        return squads_public(conn, people.load_squads(conn), runtime.now_ms())


@router.get("/{squad_id}")
def get_squad(squad_id: SquadId, runtime: RuntimeDep, _: Reader) -> SquadPublic:
    with runtime.store.read() as conn:
        return _one(runtime, conn, squad_id)


@router.patch("/{squad_id}")
def update_squad(squad_id: SquadId, body: SquadUpdate, runtime: RuntimeDep, who: Commander) -> SquadPublic:
    """Rename, change members (the 1 + 2 rule again), phones or roster."""
    now = runtime.now_ms()
    actor = audit.actor_of(who)
    with runtime.store.write() as conn:
        records = people.load_squads(conn, [squad_id])
        if not records:
            raise not_found(["path", "squad_id"], f"no squad {squad_id!r}")
        if body.members is not None:
            _composition(conn, body.members, squad_id)
            people.set_members(conn, squad_id, body.members, actor=actor, at_ms=now)
        if body.units is not None:
            _units(conn, body.units)
            people.set_units(conn, squad_id, body.units, actor=actor, at_ms=now)
        if body.roster is not None:
            people.set_roster(conn, squad_id, _roster(squad_id, body.roster, records[0].tz), actor=actor,
                              at_ms=now)
        people.update_squad(conn, squad_id, {"name": body.name} if body.name else {}, now, actor=actor)
        return _one(runtime, conn, squad_id)


@router.delete("/{squad_id}", status_code=204)
def delete_squad(squad_id: SquadId, runtime: RuntimeDep, who: Commander) -> Response:
    """Disband a squad that has no open alert."""
    with runtime.store.write() as conn:
        if not people.load_squads(conn, [squad_id]):
            raise not_found(["path", "squad_id"], f"no squad {squad_id!r}")
        busy = [a.id for a in repo.open_alerts(conn, with_timeline=False) if a.squad_id == squad_id]
        if busy:
            raise ApiError(409, ["path", "squad_id"], f"squad {squad_id} has {len(busy)} open alert(s) "
                           f"({', '.join(busy[:5])}); resolve or reassign them first", "has_open_alerts")
        people.delete_squad(conn, squad_id, actor=audit.actor_of(who), at_ms=runtime.now_ms())
    return Response(status_code=204)


@router.get("/{squad_id}/roster")
def get_roster(squad_id: SquadId, runtime: RuntimeDep, _: Reader) -> dict:  # type: ignore[type-arg]
    with runtime.store.read() as conn:
        return _one(runtime, conn, squad_id).roster


@router.put("/{squad_id}/roster")
def put_roster(squad_id: SquadId, body: RosterIn, runtime: RuntimeDep, who: Commander) -> SquadPublic:
    """Replace the squad's duty roster."""
    with runtime.store.write() as conn:
        records = people.load_squads(conn, [squad_id])
        if not records:
            raise not_found(["path", "squad_id"], f"no squad {squad_id!r}")
        people.set_roster(conn, squad_id, _roster(squad_id, body, records[0].tz), actor=audit.actor_of(who),
                          at_ms=runtime.now_ms())
        people.update_squad(conn, squad_id, {}, runtime.now_ms())
        return _one(runtime, conn, squad_id)
