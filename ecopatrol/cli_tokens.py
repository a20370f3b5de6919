"""``ecopatrol token …``: bearer tokens.

- ``create --role ROLE [--name …] [--org | --unit | --squad | --person …] [--days D]``: print a new token
  once (only its digest is stored). It expires after ``--days`` days, by default ``auth.token_days``
  (365); a longer life is a larger ``--days`` (at most 36500), never none.
- ``list [--all] [--json]``: one line per token, newest first: id, role, name, binding, created,
  expires, state (live / expired / revoked). Live tokens only unless ``--all``. Never a digest.
- ``revoke ID``: the token stops working (in other API processes within ``auth.token_cache_s``), with
  an entry in the audit log; exit 1 for an unknown or already revoked id.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ecopatrol.config import MAX_TOKEN_DAYS
from ecopatrol.store.tokens_repo import TokenRecord

token_app = typer.Typer(help="Bearer tokens: create, list, revoke", no_args_is_help=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="config.toml")]
_DAY_MS = 86_400_000
_MAX_ID = 2**31 - 1


@token_app.callback()
def _token() -> None:
    """Bearer tokens: random, stored as digests, expiring, revocable."""


@token_app.command("create")
def token_create(role: Annotated[str, typer.Option(help="commander | squad | partner | device")],
                 name: Annotated[str, typer.Option()] = "",
                 org: Annotated[str | None, typer.Option(help="partner organisation")] = None,
                 unit: Annotated[str | None, typer.Option(help="device: its unit")] = None,
                 squad: Annotated[str | None, typer.Option(help="squad: its squad id")] = None,
                 person: Annotated[str | None, typer.Option(help="squad member: person id")] = None,
                 days: Annotated[float | None, typer.Option(
                     help="expires after this many days (default: auth.token_days, 365)")] = None,
                 config: ConfigOpt = None) -> None:
    """Create a bearer token and print it (shown once; only its digest is stored)."""
    from ecopatrol.audit import cli_actor
    from ecopatrol.cli import _runtime, fail
    from ecopatrol.store.tokens_repo import ROLES, create_token

    if role not in ROLES:
        raise fail(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
    if days is not None and not 0 < days <= MAX_TOKEN_DAYS:
        raise fail(f"--days must be more than 0 and at most {MAX_TOKEN_DAYS}, got {days:g}")
    runtime = _runtime(config)
    try:
        now = runtime.now_ms()
        lifetime_days = runtime.settings.auth.token_days if days is None else days
        with runtime.store.write() as conn:
            token = create_token(conn, role=role, name=name, org=org, unit_id=unit, squad_id=squad,
                                 person_id=person, now_ms=now, actor=cli_actor(),
                                 expires_ms=now + int(lifetime_days * _DAY_MS))
    finally:
        runtime.close()
    typer.echo(token)


@token_app.command("list")
def token_list(
    include_all: Annotated[bool, typer.Option("--all", help="revoked and expired ones too")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    config: ConfigOpt = None,
) -> None:
    """The tokens, newest first: id, role, name, binding, created, expires, state (never a digest)."""
    from ecopatrol.cli import _runtime
    from ecopatrol.store.tokens_repo import list_tokens

    runtime = _runtime(config)
    try:
        with runtime.store.read() as conn:
            records = list_tokens(conn, now_ms=runtime.now_ms(), include_all=include_all)
    finally:
        runtime.close()
    for record in records:
        typer.echo(json.dumps(asdict(record), ensure_ascii=False) if as_json else _line(record))
    if not records and not as_json:
        typer.echo("no tokens" if include_all else "no live tokens (--all lists revoked and expired ones)",
                   err=True)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(metavar="ID", min=1, max=_MAX_ID,
                                                         help="the token's id (see `token list`)")],
                 config: ConfigOpt = None) -> None:
    """Revoke a token: it stops working (other API processes: within auth.token_cache_s)."""
    from ecopatrol.audit import cli_actor
    from ecopatrol.cli import _runtime, fail
    from ecopatrol.store.tokens_repo import get_token, revoke_token

    runtime = _runtime(config)
    try:
        now = runtime.now_ms()
        with runtime.store.write() as conn:
            found = get_token(conn, token_id, now_ms=now)
            revoked = found is not None and revoke_token(conn, token_id, now_ms=now, actor=cli_actor())
    finally:
        runtime.close()
    if found is None:
        raise fail(f"no token {token_id} (`ecopatrol token list --all` lists them)", code=1)
    if not revoked:
        raise fail(f"token {token_id} was already revoked at {_when(found.revoked_ms)}", code=1)
    typer.echo(f"token {token_id} ({found.role} {found.name or '-'}) revoked; other API processes refuse it "
               "within auth.token_cache_s")


def _line(r: TokenRecord) -> str:
    return (f"{r.id:>5}  {r.role:<9}  {r.name or '-'}  {_binding(r)}  {_when(r.created_ms)}  "
            f"{_when(r.expires_ms) if r.expires_ms is not None else 'never'}  {r.state}")


def _binding(r: TokenRecord) -> str:
    parts = [f"{key}={value}" for key, value in (("org", r.org), ("unit", r.unit_id), ("squad", r.squad_id),
                                                  ("person", r.person_id)) if value]
    return " ".join(parts) or "-"


def _when(ms: int | None) -> str:
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")
