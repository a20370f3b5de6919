"""No default password or key outside the demo: a freshly migrated database (on each backend) holds no
token, no device key and no phone code; ``ecopatrol serve`` on it says how to make the first commander
token, and ``ecopatrol token create --role commander`` makes one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from ecopatrol import cli
from ecopatrol.config import load_settings
from ecopatrol.runtime import Runtime, build_runtime
from ecopatrol.server import startup_notes
from ecopatrol.store import Store, open_store
from ecopatrol.store.live_schema import phone_codes
from ecopatrol.store.schema import api_tokens, devices
from ecopatrol.store.tokens_repo import count_live_tokens, create_token, verify_token
from tests.conftest import PG_URL, T0_MS, FakeClock, _drop_pg_database, fresh_pg_store

FIRST_TOKEN = "ecopatrol token create --role commander"


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A database nobody has used: created and migrated here, not a truncated shared one."""
    if request.param == "sqlite":
        store = open_store(f"sqlite:///{tmp_path / 'fresh.db'}")
        yield store
        store.dispose()
        return
    url = f"{PG_URL}_{os.getpid()}_fresh"
    store = fresh_pg_store(url)
    try:
        yield store
    finally:
        store.dispose()
        _drop_pg_database(url)


def test_a_fresh_database_holds_no_secret(fresh_store: Store) -> None:
    with fresh_store.read() as conn:
        for table in (api_tokens, devices, phone_codes):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0, table.name
        assert count_live_tokens(conn, now_ms=T0_MS) == 0


def test_the_server_says_how_to_make_the_first_commander_token(fresh_store: Store, settings) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock()
    runtime = Runtime(settings=settings, store=fresh_store, clock=clock)
    (note,) = startup_notes(runtime)
    assert FIRST_TOKEN in note and "--config" not in note  # the project's own config.toml
    with fresh_store.write() as conn:
        create_token(conn, role="squad", squad_id="sq-1", now_ms=clock.now)
        create_token(conn, role="commander", now_ms=clock.now, expires_ms=clock.now + 60_000)
    assert startup_notes(runtime) == []
    clock.advance(60)  # the only commander token expired: nobody can sign in again
    assert FIRST_TOKEN in startup_notes(runtime)[0]


class FakeUvicorn:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def run(self, app, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.calls.append({"app": app, **kwargs})


def test_serve_then_token_create_then_serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "station.db"}"\n', encoding="utf-8")
    fake = FakeUvicorn()
    monkeypatch.setattr("ecopatrol.server.uvicorn", fake)
    runner = CliRunner()

    first = runner.invoke(cli.app, ["serve", "--config", str(config)])
    assert first.exit_code == 0, first.output
    assert FIRST_TOKEN in first.stderr and len(fake.calls) == 1  # it says so, and serves anyway
    assert f"--config {config}" in first.stderr  # the command to copy names the same config

    made = runner.invoke(cli.app, ["token", "create", "--role", "commander", "--name", "值班长",
                                   "--days", "30", "--config", str(config)])
    assert made.exit_code == 0, made.output
    value = made.stdout.strip()
    runtime = build_runtime(load_settings(config, environ={}))
    with runtime.store.read() as conn:
        principal = verify_token(conn, value, now_ms=runtime.now_ms())
        assert principal is not None and principal.role == "commander" and principal.name == "值班长"
        assert conn.execute(sa.select(api_tokens.c.token_hash)).scalar_one() != value  # only the digest
    runtime.close()

    second = runner.invoke(cli.app, ["serve", "--config", str(config)])
    assert second.exit_code == 0 and FIRST_TOKEN not in second.stderr
