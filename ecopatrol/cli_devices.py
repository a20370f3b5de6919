"""``ecopatrol units devices`` and ``units revoke-device``: the phones that report for units.

Registered on ``units_app`` with ``register(units_app)``:

- ``devices [UNIT] [--json]``: one line per device (of UNIT, or of every unit): id, unit, key (yes/no),
  created, key expires (``never`` for a keyless device or one registered before keys expired), state
  (live / expired / revoked). Never a key or its digest. Exit 1 for an unknown unit.
- ``revoke-device DEVICE``: every phone protocol refuses the device from its next request on (device
  lookups are never cached), with an entry in the audit log; revoking a revoked device changes
  nothing. Exit 1 for an unknown device. ``units add … --device DEVICE`` (or ``POST /api/v1/units``
  with a new ``device_key``) registers it again.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ecopatrol.store.units_repo import DeviceRecord

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="config.toml")]


def devices_command(
    unit_id: Annotated[str | None, typer.Argument(metavar="[UNIT]", help="only this unit's devices")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    config: ConfigOpt = None,
) -> None:
    """The devices (of one unit): id, unit, key, created, key expires, state (never a key's digest)."""
    from ecopatrol.cli import _runtime, fail
    from ecopatrol.store import units_repo

    runtime = _runtime(config)
    try:
        with runtime.store.read() as conn:
            known = unit_id is None or units_repo.get_unit(conn, unit_id) is not None
            records = units_repo.list_devices(conn, now_ms=runtime.now_ms(), unit_id=unit_id)
    finally:
        runtime.close()
    if not known:
        raise fail(f"no unit {unit_id!r} (`ecopatrol units devices` lists every unit's devices)", code=1)
    for record in records:
        typer.echo(json.dumps(asdict(record), ensure_ascii=False) if as_json else _line(record))
    if not records and not as_json:
        typer.echo("no devices" + (f" on unit {unit_id}" if unit_id else ""), err=True)


def revoke_device_command(
    device_id: Annotated[str, typer.Argument(metavar="DEVICE", help="the device's id (see `units devices`)")],
    config: ConfigOpt = None,
) -> None:
    """Revoke a device: the phone protocols refuse it at once, until it is registered again."""
    from ecopatrol.audit import cli_actor
    from ecopatrol.cli import _runtime, fail
    from ecopatrol.store import units_repo

    runtime = _runtime(config)
    try:
        now = runtime.now_ms()
        with runtime.store.write() as conn:
            found = units_repo.get_device(conn, device_id, now_ms=now)
            revoked = found is not None and units_repo.revoke_device(conn, device_id, now, actor=cli_actor())
    finally:
        runtime.close()
    if found is None:
        raise fail(f"no device {device_id!r} (`ecopatrol units devices` lists them)", code=1)
    if not revoked:
        typer.echo(f"device {device_id} (unit {found.unit_id}) was already revoked at "
                   f"{_when(found.revoked_ms)}; nothing changed")
        return
    typer.echo(f"device {device_id} (unit {found.unit_id}) revoked: its fixes are refused until it is "
               f"registered again (`ecopatrol units add {found.unit_id} --mode … --device {device_id}`)")


def register(units_app: typer.Typer) -> None:
    """Add ``devices`` and ``revoke-device`` to ``ecopatrol units``."""
    units_app.command("devices")(devices_command)
    units_app.command("revoke-device")(revoke_device_command)


def _line(r: DeviceRecord) -> str:
    expires = _when(r.key_expires_ms) if r.has_key and r.key_expires_ms is not None else "never"
    return (f"{r.device_id}  {r.unit_id}  key={'yes' if r.has_key else 'no'}  {_when(r.created_ms)}  "
            f"{expires}  {r.state}")


def _when(ms: int | None) -> str:
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")
