"""Units and their devices (commanders register them; phones are then known by device id)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ecopatrol.api.deps import Commander, Reader, RuntimeDep
from ecopatrol.api.errors import not_found
from ecopatrol.store import units_repo
from ecopatrol.store.tokens_repo import digest

router = APIRouter(prefix="/api/v1/units", tags=["units"])


class UnitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit_id: str = Field(min_length=1, max_length=64, pattern=r"^[\w.\-]+$")
    mode: Literal["vehicle", "foot", "boat"]
    datum: Literal["wgs84", "gcj02", "cgcs2000"] = "wgs84"
    name: str = Field("", max_length=200)
    devices: list[str] = Field(default_factory=list, max_length=20)
    device_key: str | None = Field(None, min_length=8, max_length=200,
                                   description="HTTP Basic password required from the devices (OwnTracks)")


class UnitPublic(BaseModel):
    unit_id: str
    mode: str
    datum: str
    name: str
    squad_id: str | None


@router.post("", status_code=201)
def create_unit(body: UnitCreate, runtime: RuntimeDep, _: Commander) -> UnitPublic:
    """Register (or update) a unit and its devices."""
    now = runtime.now_ms()
    with runtime.store.write() as conn:
        unit = units_repo.upsert_unit(conn, body.unit_id, mode=body.mode, datum=body.datum,
                                      name=body.name, now_ms=now)
        for device in body.devices:
            units_repo.add_device(conn, device, unit.unit_id,
                                  key_hash=digest(body.device_key) if body.device_key else None, now_ms=now)
    return UnitPublic(**unit.__dict__)


@router.get("")
def list_units(runtime: RuntimeDep, _: Reader) -> list[UnitPublic]:
    with runtime.store.read() as conn:
        return [UnitPublic(**u.__dict__) for u in units_repo.list_units(conn)]


@router.get("/{unit_id}")
def get_unit(unit_id: str, runtime: RuntimeDep, _: Reader) -> UnitPublic:
    with runtime.store.read() as conn:
        unit = units_repo.get_unit(conn, unit_id)
    if unit is None:
        raise not_found(["path", "unit_id"], f"no unit {unit_id!r}")
    return UnitPublic(**unit.__dict__)
