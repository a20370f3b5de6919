"""Tokens expire by default (``auth.token_days``), and commanders list and revoke them: ``ecopatrol token
list | revoke`` and ``GET /api/v1/tokens``, ``POST /api/v1/tokens/{id}/revoke``, on each backend. No
listing ever shows a token or its digest; every revocation is in the audit log with who did it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from ecopatrol import audit, cli
from ecopatrol.runtime import Runtime, system_clock_ms
from ecopatrol.store import Store
from ecopatrol.store.schema import api_tokens
from ecopatrol.store.tokens_repo import create_token, list_tokens, revoke_token, token_state, verify_token
from tests.ecopatrol.helpers_reports import bearer, build_app

DAY_MS = 86_400_000


def _config(tmp_path: Path, store: Store, extra: str = "") -> Path:
    """A config.toml on the test's database (the CLI opens its own engine and clock)."""
    url = store.engine.url.render_as_string(hide_password=False)
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "{url}"\n{extra}', encoding="utf-8")
    return path


def _cli(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli.app, ["token", *args, "--config", str(config)])


def _row(store: Store, token: str) -> sa.Row:
    with store.read() as conn:
        principal = verify_token(conn, token, now_ms=system_clock_ms())
        assert principal is not None
        return conn.execute(sa.select(api_tokens).where(api_tokens.c.id == principal.token_id)).one()


# ------------------------------------------------------------------------------ expiry by default


def test_a_token_created_without_days_expires_after_token_days(store: Store, tmp_path: Path) -> None:
    made = _cli(_config(tmp_path, store), "create", "--role", "commander", "--name", "值班长")
    assert made.exit_code == 0, made.output
    row = _row(store, made.stdout.strip())
    assert row.expires_ms - row.created_ms == 365 * DAY_MS  # the shipped default

    shorter = _config(tmp_path, store, "[auth]\ntoken_days = 30\n")
    row = _row(store, _cli(shorter, "create", "--role", "partner", "--org", "县林业站").stdout.strip())
    assert row.expires_ms - row.created_ms == 30 * DAY_MS
    row = _row(store, _cli(shorter, "create", "--role", "squad", "--days", "2.5").stdout.strip())
    assert row.expires_ms - row.created_ms == int(2.5 * DAY_MS)  # --days wins


@pytest.mark.parametrize("days", ["0", "-1", "36501", "nan"])
def test_days_out_of_range_are_refused(store: Store, tmp_path: Path, days: str) -> None:
    refused = _cli(_config(tmp_path, store), "create", "--role", "commander", "--days", days)
    assert refused.exit_code == 2 and "--days must be more than 0 and at most 36500" in refused.stderr
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(api_tokens)).scalar_one() == 0


def test_a_bad_token_days_names_the_key(store: Store, tmp_path: Path) -> None:
    for value in ("0", "36501", '"a year"'):
        refused = _cli(_config(tmp_path, store, f"[auth]\ntoken_days = {value}\n"), "create", "--role",
                       "commander")
        assert refused.exit_code == 2 and "auth.token_days" in refused.stderr, refused.output


# ------------------------------------------------------------------------------ token list, token revoke


def _tokens(store: Store) -> dict[str, tuple[int, str]]:
    """Four tokens a day apart, oldest first: live partner, revoked squad, expired device, live commander.
    By name: (id, the token)."""
    now = system_clock_ms()
    out = {}
    with store.write() as conn:
        for age_days, name, kw in ((4, "partner", {"role": "partner", "org": "县林业站"}),
                                   (3, "lost phone", {"role": "squad", "squad_id": "sq1", "person_id": "p-1",
                                                      "unit_id": "phone-p-1", "expires_ms": now + DAY_MS}),
                                   (2, "old device", {"role": "device", "unit_id": "car-1",
                                                      "expires_ms": now - DAY_MS}),
                                   (1, "值班长", {"role": "commander", "expires_ms": now + 300 * DAY_MS})):
            token = create_token(conn, name=name, now_ms=now - age_days * DAY_MS, **kw)  # type: ignore[arg-type]
            out[name] = (conn.execute(sa.select(sa.func.max(api_tokens.c.id))).scalar_one(), token)
        assert revoke_token(conn, out["lost phone"][0], now_ms=now)
    return out


def test_the_list_shows_live_tokens_newest_first_and_all_with_their_state(store: Store,
                                                                         tmp_path: Path) -> None:
    made = _tokens(store)
    config = _config(tmp_path, store)
    live = _cli(config, "list")
    assert live.exit_code == 0, live.output
    lines = live.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [str(made["值班长"][0]), str(made["partner"][0])]
    assert lines[0].split()[1:3] == ["commander", "值班长"] and lines[0].endswith(" live")
    assert "org=县林业站" in lines[1] and " never " in lines[1]  # made without an expiry (before token_days)

    everything = _cli(config, "list", "--all").stdout.splitlines()
    assert [line.split()[-1] for line in everything] == ["live", "expired", "revoked", "live"]
    assert "squad=sq1 person=p-1" in everything[2] and "unit=phone-p-1" in everything[2]

    as_json = [json.loads(line) for line in _cli(config, "list", "--all", "--json").stdout.splitlines()]
    assert [(t["name"], t["state"]) for t in as_json] == [("值班长", "live"), ("old device", "expired"),
                                                          ("lost phone", "revoked"), ("partner", "live")]
    assert as_json[2]["revoked_ms"] is not None and as_json[0]["expires_ms"] is not None
    with store.read() as conn:
        digests = conn.execute(sa.select(api_tokens.c.token_hash)).scalars().all()
    shown = live.stdout + "\n".join(everything) + json.dumps(as_json)
    assert "hash" not in shown and not any(d in shown for d in digests)
    assert not any(token in shown for _, token in made.values())


def test_an_empty_list_says_so_on_stderr(store: Store, tmp_path: Path) -> None:
    empty = _cli(_config(tmp_path, store), "list")
    assert empty.exit_code == 0 and empty.stdout == "" and "no live tokens" in empty.stderr


def test_revoke_cuts_a_token_off_and_is_audited(store: Store, tmp_path: Path) -> None:
    made = _tokens(store)
    config = _config(tmp_path, store)
    token_id, token = made["值班长"]
    done = _cli(config, "revoke", str(token_id))
    assert done.exit_code == 0, done.output
    assert f"token {token_id} (commander 值班长) revoked" in done.stdout
    with store.read() as conn:
        assert verify_token(conn, token, now_ms=system_clock_ms()) is None
        (entry,) = audit.entries(conn, entity="token", entity_id=str(token_id), action="token.revoked")
    assert entry.actor.startswith("cli")
    assert _cli(config, "list").stdout.split()[0] == str(made["partner"][0])


def test_revoke_refuses_an_unknown_or_already_revoked_id(store: Store, tmp_path: Path) -> None:
    made = _tokens(store)
    config = _config(tmp_path, store)
    again = _cli(config, "revoke", str(made["lost phone"][0]))
    assert again.exit_code == 1 and "already revoked at 20" in again.stderr
    unknown = _cli(config, "revoke", "999")
    assert unknown.exit_code == 1 and "no token 999" in unknown.stderr
    assert _cli(config, "revoke", "0").exit_code == 2  # not an id at all
    with store.read() as conn:
        assert len(audit.entries(conn, entity="token", action="token.revoked")) == 1  # _tokens' own


def test_the_state_of_a_token() -> None:
    assert token_state(revoked_ms=None, expires_ms=None, now_ms=5) == "live"
    assert token_state(revoked_ms=None, expires_ms=6, now_ms=5) == "live"
    assert token_state(revoked_ms=None, expires_ms=5, now_ms=5) == "expired"
    assert token_state(revoked_ms=1, expires_ms=5, now_ms=5) == "revoked"  # revoked wins


def test_the_repository_lists_live_tokens_only_unless_asked(store: Store) -> None:
    _tokens(store)
    with store.read() as conn:
        now = system_clock_ms()
        assert [t.name for t in list_tokens(conn, now_ms=now)] == ["值班长", "partner"]
        assert len(list_tokens(conn, now_ms=now, include_all=True)) == 4
        assert [t.name for t in list_tokens(conn, now_ms=now + 301 * DAY_MS)] == ["partner"]


# ------------------------------------------------------------------------------ over HTTP


def test_commanders_list_and_revoke_tokens_over_http(runtime: Runtime) -> None:
    now = runtime.now_ms()
    with runtime.store.write() as conn:
        commander = create_token(conn, role="commander", name="值班长", now_ms=now)
        squad = create_token(conn, role="squad", name="phone", squad_id="sq1", person_id="p-1",
                             now_ms=now + 1, expires_ms=now + DAY_MS)
        squad_id = verify_token(conn, squad, now_ms=now).token_id  # type: ignore[union-attr]
    api = TestClient(build_app(runtime))
    listed = api.get("/api/v1/tokens", headers=bearer(commander))
    assert listed.status_code == 200, listed.text
    assert [(t["name"], t["state"]) for t in listed.json()] == [("phone", "live"), ("值班长", "live")]
    assert "token_hash" not in listed.json()[0] and squad not in listed.text
    assert api.get("/api/v1/tokens", headers=bearer(squad)).status_code == 403

    revoked = api.post(f"/api/v1/tokens/{squad_id}/revoke", headers=bearer(commander))
    assert revoked.status_code == 200 and revoked.json() == {"id": squad_id, "revoked": True}
    assert api.get("/m/me", headers=bearer(squad)).status_code == 401
    assert [t["name"] for t in api.get("/api/v1/tokens", headers=bearer(commander)).json()] == ["值班长"]
    every = api.get("/api/v1/tokens", params={"all": "true"}, headers=bearer(commander)).json()
    assert [(t["name"], t["state"]) for t in every] == [("phone", "revoked"), ("值班长", "live")]
    for path in (f"/api/v1/tokens/{squad_id}/revoke", f"/api/v1/phone-tokens/{squad_id}/revoke",
                 "/api/v1/tokens/999/revoke"):  # already revoked or unknown: both routes say the same
        again = api.post(path, headers=bearer(commander))
        assert again.status_code == 404 and "revoked already" in again.json()["detail"][0]["msg"]
    with runtime.store.read() as conn:
        (entry,) = audit.entries(conn, entity="token", entity_id=str(squad_id), action="token.revoked")
    assert entry.actor == "commander:值班长"
