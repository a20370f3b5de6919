"""``ecopatrol audit …``: check and read the evidence trail.

- ``verify [--json] [--anchor SEQ:HASH …]``: exit 0 with the count and the head when every entry is
  intact; exit 1 naming the first bad ``seq`` and what is wrong (changed, removed, chain broken,
  truncated, head mismatch, anchor mismatch). Note the printed head somewhere else and pass it back as
  ``--anchor`` later: that also catches a rewrite of the whole log.
- ``show [--entity report --id 12] [--action alert.] [--limit N] [--json]``: the entries, oldest first.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

audit_app = typer.Typer(help="The evidence trail (证据链): verify it, read it", no_args_is_help=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="config.toml")]


@audit_app.callback()
def _audit() -> None:
    """The evidence trail (证据链): an append-only, hash-chained log of every change."""


@audit_app.command("verify")
def verify_command(
    as_json: Annotated[bool, typer.Option("--json", help="print the verdict as JSON")] = False,
    anchor: Annotated[list[str] | None, typer.Option(
        help="SEQ:HASH noted earlier (a hash prefix of 12+ characters will do); repeatable")] = None,
    config: ConfigOpt = None,
) -> None:
    """Check every entry's hash, the seq sequence, the chain links, the head (and anchors)."""
    from ecopatrol.audit import verify
    from ecopatrol.cli import _runtime, fail

    anchors = _anchors(anchor or [], fail)
    runtime = _runtime(config)
    try:
        with runtime.store.read() as conn:
            verdict = verify(conn, anchors=anchors)
    finally:
        runtime.close()
    if as_json:
        typer.echo(json.dumps(verdict.to_dict(), ensure_ascii=False))
    elif verdict.problem is None:
        typer.echo(f"audit trail intact: {verdict.count} entries; head seq {verdict.last_seq} "
                   f"{verdict.last_hash}")
    else:
        p = verdict.problem
        typer.secho(f"audit trail BROKEN at seq {p.seq}: {p.kind.replace('_', ' ')} — {p.detail}",
                    fg=typer.colors.RED, err=True)
        typer.echo(f"{verdict.count} entries intact before it (up to seq {verdict.last_seq})", err=True)
    if verdict.problem is not None:
        raise typer.Exit(1)


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
    from ecopatrol.cli import _runtime

    runtime = _runtime(config)
    try:
        with runtime.store.read() as conn:
            rows = entries(conn, entity=entity, entity_id=entity_id, action=action, limit=limit)
    finally:
        runtime.close()
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
            "prev_hash": row.prev_hash, "hash": row.hash}
