"""Device keys expire (``auth.token_days`` after registration) and devices can be revoked, like tokens:
the phone protocols refuse an expired key (401) and a revoked device (403) at once, auto-registration
never brings a revoked device back, registering it again does; commanders list and revoke devices over
HTTP and the command line, never seeing a key's digest; every registration and revoke is audited. On
each backend."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from ecopatrol import audit, cli
from ecopatrol.config import load_settings
from ecopatrol.runtime import Runtime
from ecopatrol.store import Store, units_repo
from ecopatrol.store.schema import devices, units
from ecopatrol.store.tokens_repo import create_token, digest
from tests.conftest import FakeClock
from tests.ecopatrol.helpers_layers import load_small_county
from tests.ecopatrol.helpers_reports import bearer, build_app

CONFIG = Path(__file__).resolve().parents[2] / "config.toml"
DAY_MS = 86_400_000
KEY = "s3cret-key-1"
OT = "ot-phone"  # OwnTracks, with a key, on foot-1
TRACCAR = "866000000000001"  # Traccar Client (OsmAnd), keyless, on car-1


@dataclass
class World:
    runtime: Runtime
    clock: FakeClock
    api: TestClient
    tokens: dict[str, str]
    folder: Path

    def register(self, unit_id: str, mode: str, device: str, key: str | None = None,
                 **extra: object) -> None:
        body = {"unit_id": unit_id, "mode": mode, "devices": [device], **extra}
        if key is not None:
            body["device_key"] = key
        made = self.api.post("/api/v1/units", json=body, headers=bearer(self.tokens["commander"]))
        assert made.status_code == 201, made.text

    def owntracks(self, key: str | None = KEY, device: str = OT) -> object:
        fix = {"_type": "location", "lat": 28.8003, "lon": 120.717, "tst": self.clock.now // 1000 - 30,
               "tid": "ot", "acc": 10}
        headers = {"X-Limit-D": device}
        if key is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{device}:{key}".encode()).decode()
        return self.api.post("/ingest/owntracks", json=fix, headers=headers)

    def osmand(self, device: str = TRACCAR) -> object:
        t = self.clock.now // 1000 - 30
        return self.api.post(f"/ingest/osmand?id={device}&timestamp={t}&lat=28.8003&lon=120.715")

    def row(self, device: str) -> sa.Row:
        with self.runtime.store.read() as conn:
            return conn.execute(sa.select(devices).where(devices.c.device_id == device)).one()

    def fixes(self, unit_id: str) -> int:
        answer = self.api.get(f"/api/v1/units/{unit_id}/fixes?since=1h",
                              headers=bearer(self.tokens["commander"]))
        return len(answer.json()["features"])


def _world(store: Store, folder: Path, **env: str) -> World:
    environ = {"ECOPATROL_CONFIG": str(CONFIG), "ECOPATROL_DATABASE_URL": f"sqlite:///{folder / 'unused.db'}",
               **{f"ECOPATROL_{k.upper()}": v for k, v in env.items()}}
    clock = FakeClock()
    runtime = Runtime(settings=load_settings(environ=environ), store=store, clock=clock)
    load_small_county(runtime, folder / "layers")
    with store.write() as conn:
        tokens = {role: create_token(conn, role=role, name=f"{role}-1", now_ms=clock.now, org="林业站",
                                     unit_id="car-1", squad_id="sq1")
                  for role in ("commander", "squad", "partner", "device")}
    world = World(runtime, clock, TestClient(build_app(runtime)), tokens, folder)
    world.register("foot-1", "foot", OT, KEY)
    world.register("car-1", "vehicle", TRACCAR)
    return world


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    return _world(store, tmp_path)


@pytest.fixture
def open_world(store: Store, tmp_path: Path) -> World:
    """Unknown devices are registered on their first fix."""
    return _world(store, tmp_path, ingest__allow_auto_register="true")


def _msg(response: object) -> tuple[str, str]:
    detail = response.json()["detail"][0]  # type: ignore[attr-defined]
    return detail["type"], detail["msg"]


# ------------------------------------------------------------------------------ expiry


def test_a_keyed_device_posts_until_its_key_expires(world: World) -> None:
    registered = world.row(OT)
    assert registered.key_hash == digest(KEY) and registered.revoked_ms is None
    assert registered.key_expires_ms == registered.created_ms + 365 * DAY_MS  # auth.token_days
    assert world.row(TRACCAR).key_expires_ms is None  # no key, nothing to expire

    assert world.owntracks().status_code == 200
    world.clock.now = registered.key_expires_ms - 60_000
    assert world.owntracks().status_code == 200
    assert world.fixes("foot-1") == 1  # the second one (the first is a year old)

    world.clock.now = registered.key_expires_ms
    expired = world.owntracks()
    assert expired.status_code == 401 and expired.headers["www-authenticate"].startswith("Basic")
    kind, msg = _msg(expired)
    assert kind == "key_expired" and f"the key of device {OT!r} expired at 2026-11-20" in msg
    assert "device_key" in msg and "/api/v1/units" in msg  # how to renew
    wrong = world.owntracks(key="not-the-key")  # only the key's holder learns it expired
    assert wrong.status_code == 401 and _msg(wrong)[0] == "unauthorized"
    assert world.osmand().status_code == 200  # keyless: never expires
    assert world.fixes("foot-1") == 1  # nothing stored since

    world.register("foot-1", "foot", OT, "renewed-key-2")
    assert world.row(OT).key_expires_ms == world.clock.now + 365 * DAY_MS
    assert world.owntracks().status_code == 401  # the old key went with the renewal
    assert world.owntracks(key="renewed-key-2").status_code == 200
    assert world.fixes("foot-1") == 2


def test_the_key_life_follows_token_days_or_device_key_days(store: Store, tmp_path: Path) -> None:
    world = _world(store, tmp_path, auth__token_days="30")
    assert world.row(OT).key_expires_ms == world.clock.now + 30 * DAY_MS
    world.register("foot-2", "foot", "ot-2", "another-key-3", device_key_days=2.5)
    assert world.row("ot-2").key_expires_ms == world.clock.now + int(2.5 * DAY_MS)
    for days in (0, -1, 36_501):
        refused = world.api.post("/api/v1/units", json={"unit_id": "foot-3", "mode": "foot", "devices": ["x"],
                                                        "device_key": "key-key-key", "device_key_days": days},
                                 headers=bearer(world.tokens["commander"]))
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"][-1] == "device_key_days"


# ------------------------------------------------------------------------------ revoking


@pytest.mark.parametrize("device", [OT, TRACCAR])
def test_a_revoked_device_is_refused_and_never_auto_registered_again(open_world: World, device: str) -> None:
    world = open_world
    unit_id = "foot-1" if device == OT else "car-1"
    send = world.owntracks if device == OT else world.osmand
    assert send().status_code == 200  # type: ignore[operator]

    revoked = world.api.post(f"/api/v1/units/{unit_id}/devices/{device}/revoke",
                             headers=bearer(world.tokens["commander"]))
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_ms"] == world.clock.now and revoked.json()["state"] == "revoked"

    for _ in range(2):  # refused at once, and again: no auto-registration in between
        refused = send()  # type: ignore[operator]
        assert refused.status_code == 403
        kind, msg = _msg(refused)
        assert kind == "device_revoked" and f"device {device!r} was revoked at 2025-11-20" in msg
        assert "register it again" in msg
        # a keyless device's id is its only credential; a keyed one's unit is not told without its key
        assert ("foot-1" not in msg and "device_key" in msg) if device == OT else "units add car-1" in msg
    row = world.row(device)
    assert row.unit_id == unit_id and row.revoked_ms == world.clock.now  # neither moved nor revived
    with world.runtime.store.read() as conn:
        assert conn.execute(sa.select(units).where(units.c.unit_id == device)).first() is None
    assert world.fixes(unit_id) == 1

    # auto-registration is on: a device never seen is taken in (so the refusal above was the revoke)
    assert world.osmand("stranger-1").status_code == 200
    assert world.row("stranger-1").unit_id == "stranger-1"

    if device == OT:
        world.register(unit_id, "foot", OT, KEY)
    else:
        world.register(unit_id, "vehicle", TRACCAR)
    assert world.row(device).revoked_ms is None
    world.clock.advance(60)
    assert send().status_code == 200  # type: ignore[operator]
    assert world.fixes(unit_id) == 2


def test_a_device_id_too_long_for_a_unit_is_refused_not_auto_registered(open_world: World) -> None:
    long_id = "x" * 65  # a device id may hold 128 characters, a unit id 64
    refused = open_world.osmand(long_id)
    assert refused.status_code == 422, refused.text
    kind, msg = _msg(refused)
    assert kind == "device_id_too_long" and "65 characters" in msg and "units add" in msg
    with open_world.runtime.store.read() as conn:
        assert conn.execute(sa.select(devices).where(devices.c.device_id == long_id)).first() is None
    assert open_world.osmand("x" * 64).status_code == 200  # the longest that fits is taken in


def test_revoking_is_idempotent_audited_and_says_what_is_unknown(world: World) -> None:
    first_ms = world.clock.now
    path = f"/api/v1/units/foot-1/devices/{OT}/revoke"
    commander = bearer(world.tokens["commander"])
    assert world.api.post(path, headers=commander).status_code == 200
    world.clock.advance(3600)
    again = world.api.post(path, headers=commander)
    assert again.status_code == 200 and again.json()["revoked_ms"] == first_ms  # the first revoke stands
    assert world.row(OT).revoked_ms == first_ms
    with world.runtime.store.read() as conn:
        (entry,) = audit.entries(conn, entity="device", entity_id=OT, action="device.revoked")
        registered = audit.entries(conn, entity="device", entity_id=OT, action="device.registered")
    assert entry.actor == "commander:commander-1"
    assert json.loads(entry.after_json) == {"revoked_ms": first_ms, "device_id": OT}
    assert [e.actor for e in registered] == ["commander:commander-1"]
    assert json.loads(registered[0].after_json) == {"device_id": OT, "unit_id": "foot-1", "has_key": True,
                                                    "key_expires_ms": first_ms + 365 * DAY_MS}
    assert digest(KEY) not in (registered[0].after_json or "") + (registered[0].before_json or "")

    for url, loc, words in ((f"/api/v1/units/nowhere/devices/{OT}/revoke", "unit_id", "no unit 'nowhere'"),
                            ("/api/v1/units/foot-1/devices/nothing/revoke", "device_id",
                             "unit 'foot-1' has no device 'nothing'"),
                            (f"/api/v1/units/car-1/devices/{OT}/revoke", "device_id",
                             f"unit 'car-1' has no device {OT!r}")):
        missing = world.api.post(url, headers=commander)
        assert missing.status_code == 404 and missing.json()["detail"][0]["loc"] == ["path", loc]
        assert words in missing.json()["detail"][0]["msg"]
    assert world.row(TRACCAR).revoked_ms is None


def test_a_long_device_id_is_registered_revoked_and_audited(world: World) -> None:
    long_id = "owntracks-" + "x" * 118  # 128: the longest a device id may be
    world.register("foot-1", "foot", long_id, KEY)
    assert world.owntracks(device=long_id).status_code == 200
    revoked = world.api.post(f"/api/v1/units/foot-1/devices/{long_id}/revoke",
                             headers=bearer(world.tokens["commander"]))
    assert revoked.status_code == 200 and world.owntracks(device=long_id).status_code == 403
    entity_id = units_repo.audit_entity_id(long_id)
    assert len(entity_id) == 64 and entity_id.startswith(long_id[:47] + "~")
    with world.runtime.store.read() as conn:
        trail = audit.entries(conn, entity="device", entity_id=entity_id)
    assert [(e.action, json.loads(e.after_json)["device_id"]) for e in trail] == [
        ("device.registered", long_id), ("device.revoked", long_id)]
    too_long = world.api.post("/api/v1/units", json={"unit_id": "foot-1", "mode": "foot",
                                                     "devices": [long_id + "y"]},
                              headers=bearer(world.tokens["commander"]))
    assert too_long.status_code == 422 and too_long.json()["detail"][0]["loc"] == ["body", "devices", 0]


# ------------------------------------------------------------------------------ listing, roles


def test_the_device_list_shows_state_and_never_a_digest(world: World) -> None:
    world.register("foot-1", "foot", "ot-spare", KEY)
    world.api.post(f"/api/v1/units/foot-1/devices/{OT}/revoke", headers=bearer(world.tokens["commander"]))
    listed = world.api.get("/api/v1/units/foot-1/devices", headers=bearer(world.tokens["commander"]))
    assert listed.status_code == 200, listed.text
    now = world.clock.now
    assert listed.json() == [
        {"device_id": OT, "unit_id": "foot-1", "has_key": True, "created_ms": now,
         "key_expires_ms": now + 365 * DAY_MS, "revoked_ms": now, "state": "revoked"},
        {"device_id": "ot-spare", "unit_id": "foot-1", "has_key": True, "created_ms": now,
         "key_expires_ms": now + 365 * DAY_MS, "revoked_ms": None, "state": "live"}]
    assert digest(KEY) not in listed.text and "hash" not in listed.text
    world.clock.now += 366 * DAY_MS
    later = world.api.get("/api/v1/units/foot-1/devices", headers=bearer(world.tokens["commander"])).json()
    assert [d["state"] for d in later] == ["revoked", "expired"]
    keyless = world.api.get("/api/v1/units/car-1/devices", headers=bearer(world.tokens["commander"])).json()
    assert [(d["has_key"], d["key_expires_ms"], d["state"]) for d in keyless] == [(False, None, "live")]
    unknown = world.api.get("/api/v1/units/nowhere/devices", headers=bearer(world.tokens["commander"]))
    assert unknown.status_code == 404 and "no unit 'nowhere'" in unknown.json()["detail"][0]["msg"]


@pytest.mark.parametrize("role", ["squad", "partner", "device", None])
def test_only_commanders_list_and_revoke_devices(world: World, role: str | None) -> None:
    headers = bearer(world.tokens[role]) if role else {}
    listed = world.api.get("/api/v1/units/car-1/devices", headers=headers)
    revoked = world.api.post(f"/api/v1/units/car-1/devices/{TRACCAR}/revoke", headers=headers)
    expected = 403 if role else 401
    assert listed.status_code == expected and revoked.status_code == expected
    assert _msg(revoked)[1]
    assert world.row(TRACCAR).revoked_ms is None
    assert world.osmand().status_code == 200


# ------------------------------------------------------------------------------ the command line


def _cli(world: World, *args: str) -> Result:
    url = world.runtime.store.engine.url.render_as_string(hide_password=False)
    config = world.folder / "cli.toml"
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    return CliRunner().invoke(cli.app, ["units", *args, "--config", str(config)])


def test_the_cli_lists_devices_and_revokes_one_at_once(world: World) -> None:
    world.register("foot-1", "foot", OT, KEY, device_key_days=36_500)  # live by the CLI's real clock
    listed = _cli(world, "devices", "foot-1")
    assert listed.exit_code == 0, listed.output
    (line,) = listed.stdout.splitlines()
    assert line == f"{OT}  foot-1  key=yes  2025-11-20T00:53:20+00:00  2125-10-27T00:53:20+00:00  live"
    every = [json.loads(x) for x in _cli(world, "devices", "--json").stdout.splitlines()]
    assert [(d["device_id"], d["has_key"], d["state"]) for d in every] == [(TRACCAR, False, "live"),
                                                                          (OT, True, "live")]
    assert digest(KEY) not in listed.stdout + json.dumps(every)

    done = _cli(world, "revoke-device", TRACCAR)
    assert done.exit_code == 0, done.output
    assert f"device {TRACCAR} (unit car-1) revoked" in done.stdout
    assert world.row(TRACCAR).revoked_ms is not None
    assert world.osmand().status_code == 403  # the API process sees the other process's revoke at once
    with world.runtime.store.read() as conn:
        (entry,) = audit.entries(conn, entity="device", entity_id=TRACCAR, action="device.revoked")
    assert entry.actor.startswith("cli")
    assert "revoked" in _cli(world, "devices", "car-1").stdout

    again = _cli(world, "revoke-device", TRACCAR)
    assert again.exit_code == 0 and "already revoked at" in again.stdout

    added = _cli(world, "add", "car-1", "--mode", "vehicle", "--device", TRACCAR)
    assert added.exit_code == 0, added.output
    assert world.row(TRACCAR).revoked_ms is None and world.osmand().status_code == 200


def test_the_cli_names_unknown_ids(world: World) -> None:
    unknown_unit = _cli(world, "devices", "nowhere")
    assert unknown_unit.exit_code == 1 and "no unit 'nowhere'" in unknown_unit.stderr
    unknown_device = _cli(world, "revoke-device", "nothing")
    assert unknown_device.exit_code == 1 and "no device 'nothing'" in unknown_device.stderr
    assert "Traceback" not in unknown_unit.output + unknown_device.output
    empty = _cli(world, "add", "boat-1", "--mode", "boat")
    assert empty.exit_code == 0
    none = _cli(world, "devices", "boat-1")
    assert none.exit_code == 0 and none.stdout == "" and "no devices on unit boat-1" in none.stderr


# ------------------------------------------------------------------------------ the repository


def test_a_keyless_device_cannot_be_given_an_expiry(world: World) -> None:
    with pytest.raises(ValueError, match="keyless"), world.runtime.store.write() as conn:
        units_repo.add_device(conn, "x", "car-1", key_hash=None, key_expires_ms=1, now_ms=world.clock.now)
    with world.runtime.store.write() as conn:
        assert units_repo.get_device(conn, "x", now_ms=world.clock.now) is None
        assert not units_repo.revoke_device(conn, "x", world.clock.now)
