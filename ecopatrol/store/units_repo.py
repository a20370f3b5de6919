"""Units (a vehicle, a foot patrol, a boat) and the devices that report for them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from ecopatrol.store.schema import devices, units


@dataclass(frozen=True)
class Unit:
    unit_id: str
    name: str
    mode: str
    datum: str
    squad_id: str | None


@dataclass(frozen=True)
class Device:
    device_id: str
    unit: Unit
    key_hash: str | None


def _unit(row) -> Unit:  # type: ignore[no-untyped-def]
    return Unit(row.unit_id, row.name, row.mode, row.datum, row.squad_id)


def upsert_unit(conn: Connection, unit_id: str, *, mode: str, datum: str = "wgs84", name: str = "",
                now_ms: int) -> Unit:
    """Create the unit, or update its mode/datum/name if it exists."""
    if get_unit(conn, unit_id) is None:
        conn.execute(insert(units).values(unit_id=unit_id, mode=mode, datum=datum, name=name,
                                          created_ms=now_ms))
    else:
        conn.execute(update(units).where(units.c.unit_id == unit_id)
                     .values(mode=mode, datum=datum, name=name))
    unit = get_unit(conn, unit_id)
    assert unit is not None
    return unit


def get_unit(conn: Connection, unit_id: str) -> Unit | None:
    row = conn.execute(select(units).where(units.c.unit_id == unit_id)).first()
    return _unit(row) if row else None


def get_units(conn: Connection, unit_ids: list[str]) -> dict[str, Unit]:
    rows = conn.execute(select(units).where(units.c.unit_id.in_(unit_ids))).fetchall()
    return {r.unit_id: _unit(r) for r in rows}


def list_units(conn: Connection) -> list[Unit]:
    return [_unit(r) for r in conn.execute(select(units).order_by(units.c.unit_id)).fetchall()]


def set_unit_squad(conn: Connection, unit_id: str, squad_id: str | None) -> None:
    conn.execute(update(units).where(units.c.unit_id == unit_id).values(squad_id=squad_id))


def add_device(conn: Connection, device_id: str, unit_id: str, *, key_hash: str | None,
               now_ms: int) -> None:
    """Register (or move) a device to a unit."""
    conn.execute(devices.delete().where(devices.c.device_id == device_id))
    conn.execute(insert(devices).values(device_id=device_id, unit_id=unit_id, key_hash=key_hash,
                                        created_ms=now_ms))


def find_device(conn: Connection, device_id: str) -> Device | None:
    row = conn.execute(
        select(devices.c.device_id, devices.c.key_hash, units)
        .join(units, units.c.unit_id == devices.c.unit_id)
        .where(devices.c.device_id == device_id)
    ).first()
    return Device(row.device_id, _unit(row), row.key_hash) if row else None
