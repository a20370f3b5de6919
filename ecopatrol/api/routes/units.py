"""Units and their devices (commanders register them; phones are then known by device id).

A device registered with a key keeps it for ``auth.token_days`` days (or ``device_key_days``);
commanders list a unit's devices (never a key's digest) and revoke one, as ``ecopatrol units devices``
and ``ecopatrol units revoke-device`` do. Registering a device again renews its key and lifts a revoke.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from ecopatrol import audit
from ecopatrol.api.deps import Commander, Reader, RuntimeDep
from ecopatrol.api.errors import not_found
from ecopatrol.config import MAX_TOKEN_DAYS
from ecopatrol.store import units_repo
from ecopatrol.store.tokens_repo import digest
from ecopatrol.store.units_repo import DeviceRecord

router = APIRouter(prefix="/api/v1/units", tags=["units"])


class UnitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit_id: str = Field(min_length=1, max_length=64, pattern=r"^[\w.\-]+$")
    mode: Literal["vehicle", "foot", "boat"]
    datum: Literal["wgs84", "gcj02", "cgcs2000"] = "wgs84"
    name: str = Field("", max_length=200)
    devices: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(default_factory=list,
                                                                               max_length=20)
    device_key: str | None = Field(None, min_length=8, max_length=200,
                                   description="HTTP Basic password required from the devices (OwnTracks)")
    device_key_days: float | None = Field(None, gt=0, le=MAX_TOKEN_DAYS, allow_inf_nan=False,
                                          description="the key expires after this many days "
                                                      "(default: auth.token_days)")


class UnitPublic(BaseModel):
    unit_id: str
    mode: str
    datum: str
    name: str
    squad_id: str | None


@router.post("", status_code=201)
def create_unit(body: UnitCreate, runtime: RuntimeDep, principal: Commander) -> UnitPublic:
    """Register (or update) a unit and its devices; a device key expires after ``auth.token_days``
    days (``device_key_days``). Registering a device again renews its key and lifts a revoke."""
    now = runtime.now_ms()
    key_hash = digest(body.device_key) if body.device_key else None
    days = body.device_key_days if body.device_key_days is not None else runtime.settings.auth.token_days
    expires_ms = units_repo.key_expiry_ms(now, days) if key_hash else None
    with runtime.store.write() as conn:
        unit = units_repo.upsert_unit(conn, body.unit_id, mode=body.mode, datum=body.datum,
                                      name=body.name, now_ms=now)
        for device in body.devices:
            units_repo.add_device(conn, device, unit.unit_id, key_hash=key_hash, key_expires_ms=expires_ms,
                                  now_ms=now, actor=audit.actor_of(principal))
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


@router.get("/{unit_id}/devices")
def unit_devices(unit_id: str, runtime: RuntimeDep, _: Commander) -> list[DeviceRecord]:
    """The unit's devices: whether each has a key, when it expires, whether it is revoked (state: live,
    expired, revoked). Never a key or its digest."""
    with runtime.store.read() as conn:
        _known_unit(conn, unit_id)
        return units_repo.list_devices(conn, now_ms=runtime.now_ms(), unit_id=unit_id)


@router.post("/{unit_id}/devices/{device_id}/revoke")
def revoke_device(unit_id: str, device_id: str, runtime: RuntimeDep, principal: Commander) -> DeviceRecord:
    """Revoke a device: every phone protocol refuses it from the next request on, in every process,
    until it is registered again. Revoking a revoked device changes nothing (its first revoke stands);
    written to the audit log."""
    now = runtime.now_ms()
    with runtime.store.write() as conn:
        _known_unit(conn, unit_id)
        found = units_repo.get_device(conn, device_id, now_ms=now)
        if found is None or found.unit_id != unit_id:
            raise not_found(["path", "device_id"], f"unit {unit_id!r} has no device {device_id!r} "
                            f"(GET /api/v1/units/{unit_id}/devices lists them)")
        units_repo.revoke_device(conn, device_id, now, actor=audit.actor_of(principal))
        record = units_repo.get_device(conn, device_id, now_ms=now)
    assert record is not None
    return record


def _known_unit(conn: Connection, unit_id: str) -> None:
    if units_repo.get_unit(conn, unit_id) is None:
        raise not_found(["path", "unit_id"], f"no unit {unit_id!r}")
