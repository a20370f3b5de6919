"""Units (a vehicle, a foot patrol, a boat) and the devices that report for them.

A device's key (its HTTP Basic password, stored as a digest) expires at ``key_expires_ms`` (NULL:
never, e.g. registered before keys expired) and a device can be revoked (``revoked_ms``); registering
the device again gives it a new key and expiry and clears the revoke. Registrations and revokes are in
the audit trail (``device.registered``, ``device.revoked``; never a key or its digest)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ecopatrol import audit
from ecopatrol.store.schema import devices, units
from ecopatrol.store.tokens_repo import TokenState, token_state

DAY_MS = 86_400_000


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
    key_expires_ms: int | None = None
    revoked_ms: int | None = None


@dataclass(frozen=True)
class DeviceRecord:
    """What may be shown about a device: everything but its key's digest."""

    device_id: str
    unit_id: str
    has_key: bool
    created_ms: int
    key_expires_ms: int | None
    revoked_ms: int | None
    state: TokenState  # live, expired (its key), revoked


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
               now_ms: int, key_expires_ms: int | None = None, actor: str = "system") -> None:
    """Register (or move) a device to a unit: a new key and expiry, and any revoke cleared."""
    if key_hash is None and key_expires_ms is not None:
        raise ValueError(f"device {device_id!r}: a keyless device has no key to expire")
    before = _audited(get_device(conn, device_id, now_ms=now_ms))
    conn.execute(devices.delete().where(devices.c.device_id == device_id))
    conn.execute(insert(devices).values(device_id=device_id, unit_id=unit_id, key_hash=key_hash,
                                        created_ms=now_ms, key_expires_ms=key_expires_ms))
    after = {"device_id": device_id, "unit_id": unit_id, "has_key": key_hash is not None,
             "key_expires_ms": key_expires_ms}
    audit.record(conn, actor=actor, action="device.registered", entity="device",
                 entity_id=audit_entity_id(device_id), before=before, after=after, at_ms=now_ms)


def key_expiry_ms(now_ms: int, days: float) -> int:
    """When a key issued at ``now_ms`` for ``days`` days expires."""
    return now_ms + int(days * DAY_MS)


def find_device(conn: Connection, device_id: str) -> Device | None:
    """The device and its unit, revoked or expired ones too (the caller says why it refuses)."""
    row = conn.execute(
        select(devices.c.device_id, devices.c.key_hash, devices.c.key_expires_ms, devices.c.revoked_ms, units)
        .join(units, units.c.unit_id == devices.c.unit_id)
        .where(devices.c.device_id == device_id)
    ).first()
    if row is None:
        return None
    return Device(row.device_id, _unit(row), row.key_hash, row.key_expires_ms, row.revoked_ms)


def get_device(conn: Connection, device_id: str, *, now_ms: int) -> DeviceRecord | None:
    row = conn.execute(select(*_SHOWN).where(devices.c.device_id == device_id)).first()
    return None if row is None else _record(row, now_ms)


def list_devices(conn: Connection, *, now_ms: int, unit_id: str | None = None) -> list[DeviceRecord]:
    """Every device (of one unit when given), by unit then id, with its state."""
    query = select(*_SHOWN).order_by(devices.c.unit_id, devices.c.device_id)
    if unit_id is not None:
        query = query.where(devices.c.unit_id == unit_id)
    return [_record(row, now_ms) for row in conn.execute(query)]


def revoke_device(conn: Connection, device_id: str, now_ms: int, *, actor: str = "system") -> bool:
    """Revoke a device not yet revoked, with its audit entry; False when there is no such device or
    it was revoked already. Every phone protocol refuses it from the next request on (device lookups
    are never cached), in every process."""
    result = conn.execute(update(devices).where(devices.c.device_id == device_id,
                                                devices.c.revoked_ms.is_(None))
                          .values(revoked_ms=now_ms))
    if result.rowcount > 0:
        audit.record(conn, actor=actor, action="device.revoked", entity="device",
                     entity_id=audit_entity_id(device_id), before={"revoked_ms": None},
                     after={"revoked_ms": now_ms, "device_id": device_id}, at_ms=now_ms)
    return result.rowcount > 0


_SHOWN = [devices.c[name] for name in ("device_id", "unit_id", "key_hash", "created_ms", "key_expires_ms",
                                       "revoked_ms")]


def _record(row: Any, now_ms: int) -> DeviceRecord:
    state = token_state(revoked_ms=row.revoked_ms, expires_ms=row.key_expires_ms if row.key_hash else None,
                        now_ms=now_ms)
    return DeviceRecord(row.device_id, row.unit_id, row.key_hash is not None, row.created_ms,
                        row.key_expires_ms, row.revoked_ms, state)


def audit_entity_id(device_id: str) -> str:
    """The device's id in the audit trail, whose ids hold 64 characters (device ids 128): a longer id is
    cut to 47 and followed by ``~`` and 16 hex digits of its SHA-256 (the entry holds the whole id)."""
    if len(device_id) <= 64:
        return device_id
    return f"{device_id[:47]}~{hashlib.sha256(device_id.encode('utf-8')).hexdigest()[:16]}"


def _audited(record: DeviceRecord | None) -> dict[str, Any] | None:
    """A registration as the audit trail shows it (None: not registered)."""
    if record is None:
        return None
    return {"unit_id": record.unit_id, "has_key": record.has_key, "key_expires_ms": record.key_expires_ms,
            "revoked_ms": record.revoked_ms}
