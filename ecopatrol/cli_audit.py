"""``ecopatrol audit …``: check and read the evidence trail.

- ``verify [--json] [--anchor SEQ:HASH …] [--key-file PATH] [--legacy-until SEQ]``: checks every
  entry's hash (keyed entries with the audit key: ``--key-file``, else ``[audit] key_file`` /
  ``ECOPATROL_AUDIT_KEY_FILE``), the seq sequence, the chain links, the head and the anchors. Exit codes:

  - 0: intact (with the count, the head, and how many entries are keyed and unkeyed);
  - 1: broken, naming the first bad ``seq`` and what is wrong (changed, removed, chain broken,
    truncated, head mismatch, anchor mismatch, unknown key, unkeyed);
  - 2: bad arguments or an unusable key file (``--key-file`` missing, unreadable, not 32 bytes);
  - 3: unverified: nothing wrong found, but keyed entries' hashes could not be checked because no key
    file was found (never reported as intact).

  With a key, unkeyed entries after ``--legacy-until`` (default 0) fail: pass the last seq written
  before the key existed (printed when the key was made, and by ``verify``). Note the printed head
  somewhere else and pass it back as ``--anchor`` later: that also catches a rewrite by someone who
  holds the key.
- ``show [--entity report --id 12] [--action alert.] [--limit N] [--json]``: the entries, oldest first.

Both read the database without the audit key (a host that is not an API host can run them).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ecopatrol.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from ecopatrol.audit.chain import AuditKey
    from ecopatrol.audit.verify import Verdict
    from ecopatrol.store import Store

audit_app = typer.Typer(help="The evidence trail (证据链): verify it, read it", no_args_is_help=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="config.toml")]
#: ``verify``'s exit code when keyed entries could not be checked (no key file)
EXIT_UNVERIFIED = 3


@audit_app.callback()
def _audit() -> None:
    """The evidence trail (证据链): an append-only, hash-chained log of every change."""


@audit_app.command("verify")
def verify_command(
    as_json: Annotated[bool, typer.Option("--json", help="print the verdict as JSON")] = False,
    anchor: Annotated[list[str] | None, typer.Option(
        help="SEQ:HASH noted earlier (a hash prefix of 12+ characters will do); repeatable")] = None,
    key_file: Annotated[Path | None, typer.Option(
        "--key-file", help="the audit key file (default: [audit] key_file or "
        "ECOPATROL_AUDIT_KEY_FILE)")] = None,
    legacy_until: Annotated[int | None, typer.Option(
        "--legacy-until", min=0, help="the last seq written before the audit key existed: unkeyed entries "
        "after it fail (default 0 with a key)")] = None,
    config: ConfigOpt = None,
) -> None:
    """Check every entry's hash, the seq sequence, the chain links, the head (and anchors)."""
    from ecopatrol.audit import verify
    from ecopatrol.cli import fail

    anchors = _anchors(anchor or [], fail)
    settings = _settings(config)
    key, key_path = _verify_key(settings, key_file, fail)
    store = _store(settings)
    try:
        with store.read() as conn:
            verdict = verify(conn, key=key, legacy_until=legacy_until, anchors=anchors)
    finally:
        store.dispose()
    if as_json:
        typer.echo(json.dumps(verdict.to_dict(), ensure_ascii=False))
    else:
        _echo_verdict(verdict, key_path if key is None else None)
    if verdict.status != "ok":
        raise typer.Exit(1 if verdict.status == "broken" else EXIT_UNVERIFIED)


def _settings(config: Path | None) -> Settings:
    from ecopatrol.cli import fail

    try:
        return load_settings(config)
    except ConfigError as exc:
        raise fail(str(exc)) from None


def _store(settings: Settings) -> Store:
    """The database without an audit key (reading needs none)."""
    from ecopatrol.store import open_store

    return open_store(settings.database_url, sqlite_synchronous=settings.database.sqlite_synchronous)


def _verify_key(settings: Settings, key_file: Path | None, fail: Any) -> tuple[AuditKey | None, Path]:
    """The key ``--key-file`` names (it must be usable), else the configured one when its file exists."""
    from ecopatrol.audit.keys import AuditKeyError, load_key

    path = key_file if key_file is not None else settings.audit_key_path
    if key_file is None and not path.exists():
        return None, path
    try:
        return load_key(path), path
    except AuditKeyError as exc:
        raise fail(str(exc)) from None


def _echo_verdict(verdict: Verdict, missing_key: Path | None) -> None:
    """The verdict in words: intact on stdout, broken or unverified on stderr."""
    p = verdict.problem
    if p is not None:
        typer.secho(f"audit trail BROKEN at seq {p.seq}: {p.kind.replace('_', ' ')} — {p.detail}",
                    fg=typer.colors.RED, err=True)
        typer.echo(f"{verdict.count} entries intact before it (up to seq {verdict.last_seq})", err=True)
        return
    keying = _keying(verdict)
    if verdict.unchecked:
        typer.secho(f"audit trail UNVERIFIED: {verdict.unchecked} keyed entries (key {verdict.key_id}) could "
                    f"not be checked: no audit key file at {missing_key} (pass --key-file PATH). Their "
                    f"seq, chain links and the head are intact: {verdict.count} entries, head seq "
                    f"{verdict.last_seq} {verdict.last_hash}; {keying}", fg=typer.colors.YELLOW, err=True)
        return
    typer.echo(f"audit trail intact: {verdict.count} entries; head seq {verdict.last_seq} "
               f"{verdict.last_hash}; {keying}")
    if missing_key is not None:
        typer.echo(f"note: no audit key file at {missing_key}: these are plain SHA-256 entries, which only "
                   "an --anchor protects against a rewrite of the whole log", err=True)


def _keying(verdict: Verdict) -> str:
    keyed = f"{verdict.keyed} keyed (key {verdict.key_id})" if verdict.keyed else "none keyed"
    if not verdict.unkeyed:
        return keyed
    stretch = "seq 1" if verdict.unkeyed == 1 else f"seq 1–{verdict.unkeyed}"
    return f"{keyed}, {verdict.unkeyed} unkeyed ({stretch}, written before the key)"


def _anchors(items: list[str], fail: Any) -> dict[int, str]:
    out: dict[int, str] = {}
    for item in items:
        seq, sep, digest = item.partition(":")
        digest = digest.strip().lower()
        if not sep or not seq.strip().isdigit() or len(digest) < 12 or not all(
                c in "0123456789abcdef" for c in digest):
            raise fail(f"--anchor takes SEQ:HASH (a hex hash or a prefix of 12+ characters), got {item!r}")
        out[int(seq)] = digest
    return out


@audit_app.command("show")
def show_command(
    entity: Annotated[str | None, typer.Option(help="report | alert | squad | person | token")] = None,
    entity_id: Annotated[str | None, typer.Option("--id", help="the entity's id")] = None,
    action: Annotated[str | None, typer.Option(help="actions starting with this, e.g. alert.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="the newest N entries")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    config: ConfigOpt = None,
) -> None:
    """The newest entries (oldest first): seq, time, actor, action, entity, before → after."""
    from ecopatrol.audit import entries

    store = _store(_settings(config))
    try:
        with store.read() as conn:
            rows = entries(conn, entity=entity, entity_id=entity_id, action=action, limit=limit)
    finally:
        store.dispose()
    for row in rows:
        item = _item(row)
        if as_json:
            typer.echo(json.dumps(item, ensure_ascii=False))
        else:
            when = datetime.fromtimestamp(row.at_ms / 1000, UTC).isoformat(timespec="seconds")
            typer.echo(f"{row.seq:>7} {when} {row.actor} {row.action} {row.entity} {row.entity_id} "
                       f"{row.before_json or '-'} → {row.after_json or '-'}")


def _item(row: Any) -> dict[str, Any]:
    return {"seq": row.seq, "at_ms": row.at_ms, "actor": row.actor, "action": row.action,
            "entity": row.entity, "entity_id": row.entity_id,
            "before": json.loads(row.before_json) if row.before_json is not None else None,
            "after": json.loads(row.after_json) if row.after_json is not None else None,
            "prev_hash": row.prev_hash, "hash": row.hash, "key_id": row.key_id}
