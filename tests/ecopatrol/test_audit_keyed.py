"""The keyed evidence trail on both backends: entries written with the audit key carry its HMAC and
``key_id``; a wholesale rewrite (plain SHA-256, or HMAC with another key), an unkeyed entry slipped in
after keyed ones and a rewritten legacy prefix are caught from the database alone; a legacy unkeyed
prefix verifies with ``legacy_until``; without the key the verdict is ``unverified``, never ``ok``.
The key file is made 0600 at the first start, refused when unusable, and never minted over a keyed log;
``ecopatrol audit verify`` exits 0 / 1 / 2 / 3 for intact / broken / bad key file / unverified."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from ecopatrol import audit, cli
from ecopatrol.audit.chain import GENESIS, AuditKey, Entry, entry_hash, key_id_of, link
from ecopatrol.audit.keys import AuditKeyError, create_key, load_key, open_audit_key
from ecopatrol.config import ConfigError, Settings, load_settings
from ecopatrol.runtime import Runtime
from ecopatrol.store import Store, open_store
from ecopatrol.store.audit_schema import audit_head, audit_log
from ecopatrol.store.engine import MIGRATIONS
from ecopatrol.store.tokens_repo import create_token, revoke_token
from tests.conftest import T0_MS, FakeClock
from tests.ecopatrol.helpers_alerting import NIGHT_MS, field_setup

KEY = AuditKey(bytes(range(32)))
OTHER_KEY = AuditKey(bytes(range(1, 33)))

# --- the chain, pure -------------------------------------------------------------------------------


def test_a_keyed_entry_is_an_hmac_of_the_plain_message_and_names_its_key() -> None:
    (row,) = link([Entry("cli:甲", "thing.made", "thing", "1", None, {"n": 1}, 1000)],
                  after_seq=0, after_hash=GENESIS, key=KEY)
    (plain,) = link([Entry("cli:甲", "thing.made", "thing", "1", None, {"n": 1}, 1000)],
                    after_seq=0, after_hash=GENESIS)
    message = (GENESIS + '{"action":"thing.made","actor":"cli:甲","after_json":"{\\"n\\":1}",'
               '"at_ms":1000,"before_json":null,"entity":"thing","entity_id":"1","seq":1}').encode()
    assert row["hash"] == hmac.new(KEY.secret, message, hashlib.sha256).hexdigest()
    assert plain["hash"] == hashlib.sha256(message).hexdigest() != row["hash"]
    assert row["key_id"] == hashlib.sha256(b"ecopatrol-audit-key-id" + KEY.secret).hexdigest()[:16]
    assert plain["key_id"] is None
    assert entry_hash(GENESIS, row, OTHER_KEY) != row["hash"]


def test_an_audit_key_is_32_bytes_and_never_shows_its_secret() -> None:
    assert KEY.key_id == key_id_of(KEY.secret) != OTHER_KEY.key_id and len(KEY.key_id) == 16
    assert KEY.secret.hex() not in repr(KEY) and str(list(KEY.secret)) not in repr(KEY)
    with pytest.raises(ValueError, match="32 bytes, got 31"):
        AuditKey(bytes(31))


# --- helpers ----------------------------------------------------------------------------------------------


def _tokens(store: Store, n: int, *, at_ms: int = T0_MS) -> None:
    """``n`` audit entries through a real writer (token issued, then revoked: two per pair)."""
    with store.write() as conn:
        for i in range(n):
            create_token(conn, role="squad", squad_id=f"sq-{i}", now_ms=at_ms)
            if i % 2:
                newest = int(conn.execute(sa.text("SELECT max(id) FROM api_tokens")).scalar_one())
                revoke_token(conn, newest, now_ms=at_ms + 1)


def _verify(store: Store, **kwargs: Any) -> audit.Verdict:
    with store.read() as conn:
        return audit.verify(conn, **kwargs)


def _rows(conn: sa.Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(sa.select(audit_log).order_by(audit_log.c.seq))]


@contextmanager
def _tampering(store: Store) -> Iterator[sa.Connection]:
    """The append-only triggers out of the way, as a database superuser could (PostgreSQL: disabled in
    this transaction only; SQLite: the test's own file, dropped)."""
    with store.engine.begin() as conn:
        if store.is_postgres:
            conn.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
            conn.execute(sa.text("ALTER TABLE audit_head DISABLE TRIGGER USER"))
        else:
            for name in ("audit_log_moves_head", "audit_log_no_update", "audit_log_no_delete",
                         "audit_head_forward", "audit_head_no_delete"):
                conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {name}"))
        yield conn
        if store.is_postgres:
            conn.execute(sa.text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
            conn.execute(sa.text("ALTER TABLE audit_head ENABLE TRIGGER USER"))


def _rewrite_all(store: Store, *, key: AuditKey | None, key_id: str | None) -> None:
    """Someone with write access changes seq 2's actor and recomputes every hash (with ``key``, or
    plain SHA-256) and the head, stamping ``key_id`` on every row."""
    with _tampering(store) as conn:
        prev = GENESIS
        for row in _rows(conn):
            if row["seq"] == 2:
                row["actor"] = "commander:someone else"
            row["prev_hash"], row["key_id"] = prev, key_id
            row["hash"] = prev = entry_hash(prev, row, key)
            conn.execute(sa.update(audit_log).where(audit_log.c.seq == row["seq"]).values(
                actor=row["actor"], prev_hash=row["prev_hash"], key_id=key_id, hash=row["hash"]))
        conn.execute(sa.update(audit_head).values(hash=prev))


def _problem(verdict: audit.Verdict) -> tuple[str, int]:
    assert verdict.problem is not None, "tampering went unnoticed"
    return verdict.problem.kind, verdict.problem.seq


@pytest.fixture
def keyed(store: Store) -> Store:
    return store.with_audit_key(KEY)


# --- writing with the key ---------------------------------------------------------------------------------


def test_a_keyed_store_writes_keyed_entries_that_verify_only_with_the_key(store: Store, keyed: Store) -> None:
    _tokens(keyed, 3)
    with store.read() as conn:
        rows = _rows(conn)
    assert len(rows) == 4 and {r["key_id"] for r in rows} == {KEY.key_id}
    assert all(entry_hash(r["prev_hash"], r, KEY) == r["hash"] for r in rows)
    verdict = _verify(store, key=KEY)
    assert verdict.ok and verdict.status == "ok"
    assert (verdict.count, verdict.keyed, verdict.unkeyed, verdict.key_id) == (4, 4, 0, KEY.key_id)

    unchecked = _verify(store)  # the same log, read without the key
    assert not unchecked.ok and unchecked.status == "unverified" and unchecked.problem is None
    assert (unchecked.unchecked, unchecked.key_id) == (4, KEY.key_id)
    assert unchecked.to_dict()["ok"] is False and unchecked.to_dict()["status"] == "unverified"


def test_every_writer_keys_its_entries_with_the_runtimes_key(
    store: Store, keyed: Store, settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    """Through the API: squads, people, tokens, a report, the alert it raises, a decline (which moves
    the report as the system): every entry appended is keyed."""
    runtime = Runtime(settings=settings, store=keyed, clock=clock)
    assert runtime.audit_key == KEY
    fields = field_setup(runtime, tmp_path / "layers", NIGHT_MS)
    night = next(fields)
    try:
        night.report("firearm")
        (alert,) = night.alerts()
        declined = night.client.post(f"/api/v1/alerts/{alert['id']}/decline", json={"reason": "too_far"},
                                     headers=night.squad_tokens["sq-west"])
        assert declined.status_code == 200, declined.text
    finally:
        fields.close()
    with store.read() as conn:
        rows = _rows(conn)
    actions = {r["action"].split("+")[0] for r in rows}
    assert {"token.issued", "squad.created", "report.created", "report.triage", "alert.created",
            "alert.declined"} <= actions, actions
    assert [r["seq"] for r in rows if r["key_id"] != KEY.key_id] == []
    assert _verify(store, key=KEY).ok


# --- what the key catches ---------------------------------------------------------------------------------


def test_a_wholesale_rewrite_with_plain_hashes_is_caught(store: Store, keyed: Store) -> None:
    _tokens(keyed, 4)
    _rewrite_all(store, key=None, key_id=None)
    assert _verify(store).ok  # without the key it looks like an old unkeyed log: the limit, stated
    verdict = _verify(store, key=KEY)
    assert _problem(verdict) == ("unkeyed", 1)
    assert "seq 1–6 are not keyed" in verdict.problem.detail  # type: ignore[union-attr]
    assert (verdict.count, verdict.unkeyed, verdict.keyed) == (0, 6, 0)


def test_a_rewrite_with_hmacs_of_another_key_is_caught(store: Store, keyed: Store) -> None:
    _tokens(keyed, 4)
    _rewrite_all(store, key=OTHER_KEY, key_id=KEY.key_id)  # claiming to be the right key
    assert _problem(_verify(store, key=KEY)) == ("changed", 1)
    _rewrite_all(store, key=OTHER_KEY, key_id=OTHER_KEY.key_id)  # owning up to its key
    verdict = _verify(store, key=KEY)
    assert _problem(verdict) == ("unknown_key", 1)
    assert OTHER_KEY.key_id in verdict.problem.detail  # type: ignore[union-attr]


def test_a_key_id_flipped_on_a_keyed_row_is_caught(store: Store, keyed: Store) -> None:
    _tokens(keyed, 2)
    with _tampering(store) as conn:
        conn.execute(sa.update(audit_log).where(audit_log.c.seq == 2).values(key_id=None))
    assert _problem(_verify(store, key=KEY)) == ("changed", 2)
    assert _problem(_verify(store)) == ("changed", 2)  # also seen without the key


def test_an_unkeyed_entry_slipped_in_after_keyed_ones_is_caught(store: Store, keyed: Store) -> None:
    """No trigger needs disabling: an INSERT is allowed, and the trigger even moves the head for it."""
    _tokens(keyed, 2)
    intact = _verify(store, key=KEY)
    last_seq, last_hash = intact.last_seq, intact.last_hash
    (row,) = link([Entry("commander:值班长", "token.revoked", "token", "1", None, {"revoked_ms": 1}, T0_MS)],
                  after_seq=last_seq, after_hash=last_hash)
    with store.engine.begin() as conn:
        conn.execute(sa.insert(audit_log), row)
    for verdict in (_verify(store, key=KEY), _verify(store), _verify(store, key=KEY, legacy_until=99)):
        assert _problem(verdict) == ("unkeyed", last_seq + 1)
        assert "follows keyed entries" in verdict.problem.detail  # type: ignore[union-attr]


def test_a_legacy_unkeyed_prefix_verifies_with_legacy_until(store: Store, keyed: Store) -> None:
    _tokens(store, 2)  # written before the key existed: seq 1–3
    _tokens(keyed, 2)  # seq 4–6
    verdict = _verify(store, key=KEY)
    assert _problem(verdict) == ("unkeyed", 1)
    assert "seq 1–3 are not keyed" in verdict.problem.detail  # type: ignore[union-attr]
    assert "--legacy-until 3" in verdict.problem.detail  # type: ignore[union-attr]
    assert _problem(_verify(store, key=KEY, legacy_until=2)) == ("unkeyed", 3)
    legacy = _verify(store, key=KEY, legacy_until=3)
    assert legacy.ok and (legacy.count, legacy.unkeyed, legacy.keyed) == (6, 3, 3)
    assert _verify(store, key=KEY, legacy_until=100).ok  # a generous limit still needs keyed rows to chain


def test_a_rewritten_legacy_prefix_breaks_the_first_keyed_link(store: Store, keyed: Store) -> None:
    _tokens(store, 2)
    _tokens(keyed, 2)
    with _tampering(store) as conn:
        prev = GENESIS
        for row in _rows(conn)[:3]:  # the unkeyed prefix, rewritten with recomputed plain hashes
            row["actor"] = "commander:someone else"
            row["prev_hash"], row["hash"] = prev, entry_hash(prev, {**row, "prev_hash": prev})
            prev = row["hash"]
            conn.execute(sa.update(audit_log).where(audit_log.c.seq == row["seq"])
                         .values(actor=row["actor"], prev_hash=row["prev_hash"], hash=row["hash"]))
    assert _problem(_verify(store, key=KEY, legacy_until=3)) == ("chain_broken", 4)


def test_anchors_still_work_on_a_keyed_log(store: Store, keyed: Store) -> None:
    _tokens(keyed, 2)
    noted = _verify(store, key=KEY)
    assert _verify(store, key=KEY, anchors={noted.last_seq: noted.last_hash[:16]}).ok
    wrong = _verify(store, key=KEY, anchors={noted.last_seq: "ab" * 8})
    assert _problem(wrong) == ("anchor_mismatch", noted.last_seq)


def test_the_triggers_still_refuse_changing_the_new_column(store: Store, keyed: Store) -> None:
    _tokens(keyed, 1)
    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
        conn.execute(sa.update(audit_log).where(audit_log.c.seq == 1).values(key_id=None))
    with store.read() as conn:
        assert conn.execute(sa.select(audit_head.c.seq)).scalar_one() == 1  # the head trigger moved it
    assert _verify(store, key=KEY).ok


def test_migration_0014_goes_down_and_up_with_the_triggers_intact(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'm.db'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0013")
            assert "key_id" not in {c["name"] for c in sa.inspect(conn).get_columns("audit_log")}
            (row,) = link([Entry("cli:甲", "token.issued", "token", "1", None, {}, T0_MS)], after_seq=0,
                          after_hash=GENESIS)
            del row["key_id"]  # an entry written by the code of 0013
            columns = ", ".join(row)
            conn.execute(sa.text(f"INSERT INTO audit_log ({columns}) VALUES (:{', :'.join(row)})"), row)
            assert conn.execute(sa.text("SELECT seq FROM audit_head")).scalar_one() == 1  # moved
        store.migrate()
        _tokens(store.with_audit_key(KEY), 1)
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(sa.delete(audit_log))
        assert _verify(store, key=KEY, legacy_until=1).ok
    finally:
        store.dispose()


# --- the key file -------------------------------------------------------------------------------------------


def test_create_key_writes_32_random_bytes_0600_and_a_second_start_keeps_them(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit.key"
    key, made = create_key(path)
    assert made and path.read_bytes() == key.secret and len(key.secret) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, made_again = create_key(path)  # another process got there first: its key is used
    assert not made_again and again == key
    assert [p.name for p in path.parent.iterdir()] == ["audit.key"]  # no temporary file left
    assert create_key(tmp_path / "other.key")[0] != key


@pytest.mark.parametrize(("content", "reason"), [(b"", "this one 0"), (bytes(33), "this one 33"),
                                                 (None, "no such audit key file"),
                                                 ("folder", "cannot read the audit key file")])
def test_a_bad_key_file_is_refused_naming_it(tmp_path: Path, content: bytes | str | None,
                                             reason: str) -> None:
    path = tmp_path / "audit.key"
    if content == "folder":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(AuditKeyError, match=reason) as caught:
        load_key(path)
    assert str(path) in str(caught.value) and isinstance(caught.value, ConfigError)


def test_the_first_start_makes_the_key_and_counts_the_legacy_entries(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _tokens(store, 2)  # 3 entries from before the key
    path = tmp_path / "audit.key"
    with caplog.at_level(logging.WARNING, logger="ecopatrol.audit"):
        key = open_audit_key(path, store)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_bytes() == key.secret
    assert f"created the audit key {path}" in caplog.text and "--legacy-until 3" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ecopatrol.audit"):
        assert open_audit_key(path, store) == key
    assert caplog.text == ""


def test_no_new_key_is_minted_over_a_keyed_log(store: Store, keyed: Store, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    _tokens(keyed, 1)
    path = tmp_path / "audit.key"
    with pytest.raises(AuditKeyError, match=f"keyed with key {KEY.key_id}: copy the key file"):
        open_audit_key(path, store)
    assert not path.exists()
    path.write_bytes(OTHER_KEY.secret)  # put there on purpose (the old key lost for good)
    os.chmod(path, 0o600)
    with caplog.at_level(logging.WARNING, logger="ecopatrol.audit"):
        assert open_audit_key(path, store) == OTHER_KEY
    assert f"is not the key {KEY.key_id} of the newest audit entry" in caplog.text


def test_the_key_file_setting_resolves_next_to_the_config_and_the_environment_wins(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "config.toml"
    config.parent.mkdir()
    config.write_text('[audit]\nkey_file = "keys/audit.key"\n', encoding="utf-8")
    assert load_settings(config, environ={}).audit_key_path == tmp_path / "conf" / "keys" / "audit.key"
    assert load_settings(environ={"ECOPATROL_CONFIG": str(config)}).audit_key_path.name == "audit.key"
    elsewhere = tmp_path / "elsewhere.key"
    env = {"ECOPATROL_AUDIT_KEY_FILE": str(elsewhere), "ECOPATROL_AUDIT__KEY_FILE": "ignored.key"}
    assert load_settings(config, environ=env).audit_key_path == elsewhere
    config.write_text('[audit]\nkeyfile = "a.key"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"audit\.keyfile"):
        load_settings(config, environ={})


# --- the server and the command line ---------------------------------------------------------------------


class FakeUvicorn:
    def __init__(self) -> None:
        self.calls = 0

    def run(self, *_args: object, **_kwargs: object) -> None:
        self.calls += 1


def _config(store: Store, folder: Path) -> Path:
    url = store.engine.url.render_as_string(hide_password=False)
    config = folder / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    return config


def test_the_server_makes_the_key_file_0600_at_its_first_start(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config, path = _config(store, tmp_path), tmp_path / "data" / "audit.key"
    monkeypatch.setattr("ecopatrol.server.uvicorn", fake := FakeUvicorn())
    runner = CliRunner()
    with caplog.at_level(logging.WARNING, logger="ecopatrol.audit"):
        first = runner.invoke(cli.app, ["serve", "--config", str(config)])
    assert first.exit_code == 0, first.output
    assert fake.calls == 1 and stat.S_IMODE(path.stat().st_mode) == 0o600 and len(path.read_bytes()) == 32
    assert f"created the audit key {path}" in caplog.text
    key = load_key(path)
    made = runner.invoke(cli.app, ["token", "create", "--role", "commander", "--name", "值班长",
                                   "--config", str(config)])
    assert made.exit_code == 0, made.output
    with store.read() as conn:
        assert [r["key_id"] for r in _rows(conn)] == [key.key_id]
    caplog.clear()
    second = runner.invoke(cli.app, ["serve", "--config", str(config)])
    assert second.exit_code == 0 and fake.calls == 2 and load_key(path) == key
    assert "created the audit key" not in caplog.text

    path.write_bytes(b"short")
    broken = runner.invoke(cli.app, ["serve", "--config", str(config)])
    assert broken.exit_code == 2 and fake.calls == 2
    assert str(path) in broken.stderr and "exactly 32 bytes" in broken.stderr
    path.unlink()
    lost = runner.invoke(cli.app, ["serve", "--config", str(config)])
    assert lost.exit_code == 2 and fake.calls == 2 and not path.exists()
    assert f"keyed with key {key.key_id}" in lost.stderr


def test_the_cli_verify_exit_codes_and_messages(store: Store, keyed: Store, tmp_path: Path) -> None:
    _tokens(store, 1)  # seq 1: from before the key
    _tokens(keyed, 2)  # seq 2–4
    config, runner = _config(store, tmp_path), CliRunner()
    key_file = tmp_path / "data" / "audit.key"
    key_file.parent.mkdir()
    key_file.write_bytes(KEY.secret)

    def verify(*args: str) -> Any:
        return runner.invoke(cli.app, ["audit", "verify", *args, "--config", str(config)])

    legacy = verify()
    assert legacy.exit_code == 1 and "BROKEN at seq 1: unkeyed" in legacy.stderr
    assert "--legacy-until 1" in legacy.stderr
    ok = verify("--legacy-until", "1")
    assert ok.exit_code == 0, ok.output
    assert "audit trail intact: 4 entries" in ok.stdout
    assert f"3 keyed (key {KEY.key_id}), 1 unkeyed (seq 1, written before the key)" in ok.stdout

    other = tmp_path / "other.key"
    other.write_bytes(OTHER_KEY.secret)
    wrong = verify("--legacy-until", "1", "--key-file", str(other))
    assert wrong.exit_code == 1 and "BROKEN at seq 2: unknown key" in wrong.stderr

    missing = verify("--key-file", str(tmp_path / "nowhere.key"))
    assert missing.exit_code == 2 and f"{tmp_path / 'nowhere.key'}: no such audit key file" in missing.stderr

    key_file.rename(tmp_path / "moved.key")
    unverified = verify("--legacy-until", "1")
    assert unverified.exit_code == 3 and "intact" not in unverified.stdout
    assert "UNVERIFIED: 3 keyed entries" in unverified.stderr and str(key_file) in unverified.stderr
    as_json = verify("--json", "--legacy-until", "1")
    assert as_json.exit_code == 3 and '"status": "unverified"' in as_json.stdout

    _rewrite_all(store, key=None, key_id=None)
    tampered = verify("--legacy-until", "1", "--key-file", str(tmp_path / "moved.key"))
    assert tampered.exit_code == 1 and "BROKEN at seq 2: unkeyed" in tampered.stderr
    assert "seq 2–4 are not keyed" in tampered.stderr
