"""Phone tracking apps, spoken to in their own protocols: Traccar Client (OsmAnd) and OwnTracks HTTP.

These apps cannot send a bearer token: Traccar Client is known by its registered device ``id``;
OwnTracks by its ``X-Limit-D`` header (or the last part of its ``topic``), with HTTP Basic when the
device was registered with a key. An unknown device is refused (403) unless the configuration allows
auto-registration; a revoked device is refused (403) and never auto-registered again; a key past its
``key_expires_ms`` (``auth.token_days`` after registration) is refused (401) until the device is
registered again.
"""

from __future__ import annotations

import base64
import hmac
import json
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ecopatrol.api.deps import RuntimeDep
from ecopatrol.api.errors import ApiError, unprocessable
from ecopatrol.fix_batcher import fix_batcher
from ecopatrol.ingest import IngestOutcome
from ecopatrol.runtime import Runtime
from ecopatrol.store import units_repo
from ecopatrol.store.tokens_repo import digest
from geo.tracks import parse_osmand, parse_owntracks

router = APIRouter(tags=["phones"])


@router.post("/ingest/osmand")
async def osmand(request: Request, runtime: RuntimeDep) -> JSONResponse:
    """Traccar Client / OsmAnd: query string or form (speed in knots), or its JSON body (speed in m/s)."""
    params = dict(request.query_params)
    body = await request.body()
    json_body = None
    ctype = request.headers.get("content-type", "")
    if body.strip():
        if "json" in ctype or body.lstrip()[:1] in (b"{", b"["):
            json_body = _json(body)
        else:
            params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    result = parse_osmand(params=params or None, json_body=json_body)
    if result.errors:
        raise ApiError(422, ["body"], "; ".join(str(e) for e in result.errors[:5]), "bad_fix")
    device_id = str(result.fixes["unit_id"].iloc[0])
    unit_id = await run_in_threadpool(_unit_for_device, runtime, device_id, password=None)
    outcome = await _store(runtime, result.fixes.assign(unit_id=unit_id))
    return JSONResponse({"status": "ok", **outcome.to_dict()})


@router.post("/ingest/owntracks")
async def owntracks(request: Request, runtime: RuntimeDep) -> JSONResponse:
    """OwnTracks HTTP mode. Answers ``[]`` (no messages for the phone), as the app expects."""
    body = _json(await request.body())
    hint = request.headers.get("x-limit-d") or _topic_device(body)
    user, password = _basic_auth(request)
    hint = hint or user
    if not hint:
        raise unprocessable(["header", "X-Limit-D"], "the device is not named (X-Limit-D header or topic)")
    unit_id = await run_in_threadpool(_unit_for_device, runtime, hint, password=password)
    result = parse_owntracks(body, device_hint=unit_id)
    if result.errors:
        raise ApiError(422, ["body"], "; ".join(str(e) for e in result.errors[:5]), "bad_fix")
    if len(result.fixes):
        await _store(runtime, result.fixes.assign(unit_id=unit_id))
    return JSONResponse([])


def _json(body: bytes) -> object:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise unprocessable(["body"], f"not valid JSON: {exc}") from None


def _topic_device(body: object) -> str | None:
    first = body[0] if isinstance(body, list) and body else body
    topic = first.get("topic") if isinstance(first, dict) else None
    return topic.rstrip("/").rsplit("/", 1)[-1] if isinstance(topic, str) and topic.strip("/") else None


def _basic_auth(request: Request) -> tuple[str | None, str | None]:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None, None
    return user, password


def _unit_for_device(runtime: Runtime, device_id: str, *, password: str | None) -> str:
    """The unit a device reports for, once it is known, not revoked, and its key (if any) right and
    unexpired. Read from the database on every request (never cached), so a revoke holds at once."""
    with runtime.store.read() as conn:
        device = units_repo.find_device(conn, device_id)
    if device is None:
        device = _auto_register(runtime, device_id)
    _check_device(device, password, now_ms=runtime.now_ms())
    return device.unit.unit_id


#: ``units.unit_id`` holds this many characters, and an auto-registered device is its own unit.
AUTO_UNIT_ID_MAX = 64


def _auto_register(runtime: Runtime, device_id: str) -> units_repo.Device:
    """Register an unknown device as its own unit when the configuration allows it, else 403. A
    revoked device is never unknown (its row stays), so this never brings one back."""
    if not runtime.settings.ingest.allow_auto_register:
        raise ApiError(403, ["device", device_id],
                       f"unknown device {device_id!r}: register it with "
                       f"`ecopatrol units add UNIT --mode foot --device {device_id}`", "unknown_device")
    if len(device_id) > AUTO_UNIT_ID_MAX:
        raise ApiError(422, ["device"], f"device id of {len(device_id)} characters: auto-registration makes "
                       f"it a unit id, which holds at most {AUTO_UNIT_ID_MAX}; register the device to a "
                       "unit with `ecopatrol units add UNIT --mode foot --device ID`", "device_id_too_long")
    now = runtime.now_ms()
    with runtime.store.write() as conn:
        device = units_repo.find_device(conn, device_id)  # registered (or revoked) meanwhile: keep it
        if device is None:
            units_repo.upsert_unit(conn, device_id, mode=runtime.settings.ingest.auto_register_mode,
                                   datum=runtime.settings.ingest.default_datum, now_ms=now)
            units_repo.add_device(conn, device_id, device_id, key_hash=None, now_ms=now,
                                  actor="system:auto-register")
            device = units_repo.find_device(conn, device_id)
    assert device is not None
    return device


def _check_device(device: units_repo.Device, password: str | None, *, now_ms: int) -> None:
    """Refuse a revoked device (403), a missing or wrong key (401), an expired key (401)."""
    name = device.device_id
    if device.revoked_ms is not None:
        raise ApiError(403, ["device", name], f"device {name!r} was revoked at {_iso(device.revoked_ms)}: "
                       f"register it again with {_register_hint(device)}", "device_revoked")
    if device.key_hash is None:
        return
    basic = {"WWW-Authenticate": 'Basic realm="ecopatrol"'}
    if password is None or not hmac.compare_digest(digest(password), device.key_hash):
        raise ApiError(401, ["header", "Authorization"], "this device needs its key (HTTP Basic password)",
                       "unauthorized", headers=basic)
    if device.key_expires_ms is not None and device.key_expires_ms <= now_ms:
        raise ApiError(401, ["header", "Authorization"],
                       f"the key of device {name!r} expired at {_iso(device.key_expires_ms)}: a commander "
                       f"renews it by registering the device again with {_register_hint(device)}",
                       "key_expired", headers=basic)


def _register_hint(device: units_repo.Device) -> str:
    """How to register the device again; a keyed device's unit is not told to callers without its key."""
    if device.key_hash is not None:
        return f"a new key (POST /api/v1/units with its unit, devices [{device.device_id!r}] and device_key)"
    unit = device.unit
    return f"`ecopatrol units add {unit.unit_id} --mode {unit.mode} --device {device.device_id}`"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


async def _store(runtime: Runtime, fixes: pd.DataFrame) -> IngestOutcome:
    outcome = await fix_batcher(runtime).store_async(fixes.assign(mode=""))
    if outcome.accepted == 0 and outcome.duplicates == 0 and outcome.rejected:
        reasons = ", ".join(sorted({str(r["reason"]) for r in outcome.rejected}))
        raise ApiError(422, ["body"], f"the fix was refused: {reasons}", "rejected")
    return outcome


