"""Personnel: police and auxiliary officers (commanders manage them; squads may read)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from ecopatrol import audit
from ecopatrol.alerting import people
from ecopatrol.api.deps import Commander, Reader, RuntimeDep
from ecopatrol.api.errors import ApiError, not_found, unprocessable

router = APIRouter(prefix="/api/v1/personnel", tags=["personnel"])

Role = Literal["police", "auxiliary"]
Status = Literal["active", "on_leave", "inactive"]
PersonId = Annotated[str, Path(min_length=1, max_length=64)]
_ID = r"^[\w.\-]+$"
_PHONE = r"^[0-9+()\- ]*$"


class PersonCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    role: Role
    phone: str = Field("", max_length=40, pattern=_PHONE)
    status: Status = "active"
    unit_id: str | None = Field(None, max_length=64, description="the phone (unit) this person carries")
    id: str | None = Field(None, min_length=1, max_length=64, pattern=_ID, description="default: generated")


class PersonUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=100)
    role: Role | None = None
    phone: str | None = Field(None, max_length=40, pattern=_PHONE)
    status: Status | None = None
    unit_id: str | None = Field(None, max_length=64)


class PersonPublic(BaseModel):
    id: str
    name: str
    role: Role
    phone: str
    status: Status
    unit_id: str | None
    squad_id: str | None
    created_ms: int
    updated_ms: int


def _public(row, squad_id: str | None) -> PersonPublic:  # type: ignore[no-untyped-def]
    return PersonPublic(id=row.id, name=row.name, role=row.role, phone=row.phone, status=row.status,
                        unit_id=row.unit_id, squad_id=squad_id, created_ms=row.created_ms,
                        updated_ms=row.updated_ms)


def _check_unit(conn, unit_id: str | None) -> None:  # type: ignore[no-untyped-def]
    if unit_id and not people.known_units(conn, [unit_id]):
        raise unprocessable(["body", "unit_id"],
                            f"no unit {unit_id!r} (register it first: POST /api/v1/units)", "unknown_unit")


@router.post("", status_code=201)
def create_person(body: PersonCreate, runtime: RuntimeDep, who: Commander) -> PersonPublic:
    """Add a police or auxiliary officer."""
    person_id = body.id or f"p-{uuid.uuid4().hex[:12]}"
    now = runtime.now_ms()
    with runtime.store.write() as conn:
        if people.get_person_row(conn, person_id) is not None:
            raise ApiError(409, ["body", "id"], f"person {person_id!r} already exists", "conflict")
        _check_unit(conn, body.unit_id)
        people.insert_person(conn, person_id=person_id, name=body.name, role=body.role, phone=body.phone,
                             status=body.status, unit_id=body.unit_id, now_ms=now, actor=audit.actor_of(who))
        return _public(people.get_person_row(conn, person_id), None)


@router.get("")
def list_personnel(runtime: RuntimeDep, _: Reader, role: Role | None = None) -> list[PersonPublic]:
    with runtime.store.read() as conn:
        squad_of = people.memberships(conn)
        return [_public(r, squad_of.get(r.id)) for r in people.list_person_rows(conn, role=role)]


@router.get("/{person_id}")
def get_person(person_id: PersonId, runtime: RuntimeDep, _: Reader) -> PersonPublic:
    with runtime.store.read() as conn:
        row = people.get_person_row(conn, person_id)
        if row is None:
            raise not_found(["path", "person_id"], f"no person {person_id!r}")
        return _public(row, people.memberships(conn).get(person_id))


@router.patch("/{person_id}")
def update_person(person_id: PersonId, body: PersonUpdate, runtime: RuntimeDep,
                  who: Commander) -> PersonPublic:
    """Change a person; a squad member keeps their role (a squad is exactly 1 police + 2 auxiliary)."""
    changes = body.model_dump(exclude_unset=True)
    with runtime.store.write() as conn:
        row = people.get_person_row(conn, person_id)
        if row is None:
            raise not_found(["path", "person_id"], f"no person {person_id!r}")
        squad_id = people.memberships(conn).get(person_id)
        if "role" in changes and changes["role"] != row.role and squad_id is not None:
            raise unprocessable(["body", "role"],
                                f"{row.name} is in squad {squad_id}: changing the role would break its "
                                "1 police + 2 auxiliary; change the squad's members first",
                                "squad_composition")
        if None in (changes.get("name", ""), changes.get("role", ""), changes.get("phone", ""),
                    changes.get("status", "")):
            raise unprocessable(["body"], "name, role, phone and status cannot be null", "null")
        _check_unit(conn, changes.get("unit_id"))
        if changes:
            people.update_person(conn, person_id, changes, runtime.now_ms(), actor=audit.actor_of(who))
        return _public(people.get_person_row(conn, person_id), squad_id)


@router.delete("/{person_id}", status_code=204)
def delete_person(person_id: PersonId, runtime: RuntimeDep, who: Commander) -> Response:
    """Remove a person who is in no squad."""
    with runtime.store.write() as conn:
        if people.get_person_row(conn, person_id) is None:
            raise not_found(["path", "person_id"], f"no person {person_id!r}")
        squad_id = people.memberships(conn).get(person_id)
        if squad_id is not None:
            raise ApiError(409, ["path", "person_id"],
                           f"{person_id} is in squad {squad_id}; take them out of the squad first",
                           "in_squad")
        people.delete_person(conn, person_id, actor=audit.actor_of(who), at_ms=runtime.now_ms())
    return Response(status_code=204)
