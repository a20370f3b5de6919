"""Bearer tokens: random, stored as SHA-256 digests, with a role, an expiry and revocation.

Tokens are 256-bit random secrets, so a fast digest is the right store (a slow password hash protects
low-entropy secrets; it would only slow every request here)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, func, insert, or_, select, update

from ecopatrol import audit
from ecopatrol.store.schema import api_tokens

Role = Literal["commander", "squad", "partner", "device"]
ROLES: tuple[str, ...] = ("commander", "squad", "partner", "device")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's role and what it is bound to."""

    token_id: int
    role: str
    name: str
    org: str | None = None
    unit_id: str | None = None
    squad_id: str | None = None
    person_id: str | None = None
    expires_ms: int | None = field(default=None, compare=False)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(conn: Connection, *, role: str, name: str = "", now_ms: int,
                 expires_ms: int | None = None, org: str | None = None,
                 unit_id: str | None = None, squad_id: str | None = None,
                 person_id: str | None = None, actor: str = "system") -> str:
    """Store a new token and return its plain text (shown once, never stored)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    token = f"ep_{role[:3]}_{secrets.token_urlsafe(32)}"
    values = {"role": role, "name": name, "org": org, "unit_id": unit_id, "squad_id": squad_id,
              "person_id": person_id, "expires_ms": expires_ms}
    result = conn.execute(insert(api_tokens).values(token_hash=digest(token), created_ms=now_ms, **values))
    audit.token_issued(conn, result.inserted_primary_key[0], values, actor=actor, at_ms=now_ms)
    return token


def verify_token(conn: Connection, token: str, *, now_ms: int) -> Principal | None:
    """The principal for a live token; None for an unknown, expired or revoked one."""
    found = check_token(conn, token, now_ms=now_ms)
    return found if isinstance(found, Principal) else None


TokenProblem = Literal["unknown", "expired", "revoked"]
TokenState = Literal["live", "expired", "revoked"]


def token_state(*, revoked_ms: int | None, expires_ms: int | None, now_ms: int) -> TokenState:
    """Revoked wins over expired: a revoked token stays revoked whatever its expiry."""
    if revoked_ms is not None:
        return "revoked"
    if expires_ms is not None and expires_ms <= now_ms:
        return "expired"
    return "live"


def check_token(conn: Connection, token: str, *, now_ms: int) -> Principal | TokenProblem:
    """The principal for a live token, else why it is refused (so a 401 can say which)."""
    row = conn.execute(select(api_tokens).where(api_tokens.c.token_hash == digest(token))).first()
    if row is None:
        return "unknown"
    state = token_state(revoked_ms=row.revoked_ms, expires_ms=row.expires_ms, now_ms=now_ms)
    if state != "live":
        return state
    return Principal(row.id, row.role, row.name, row.org, row.unit_id, row.squad_id, row.person_id,
                     row.expires_ms)


@dataclass(frozen=True)
class TokenRecord:
    """What may be shown about a token: everything but its digest."""

    id: int
    role: str
    name: str
    org: str | None
    unit_id: str | None
    squad_id: str | None
    person_id: str | None
    created_ms: int
    expires_ms: int | None
    revoked_ms: int | None
    state: TokenState


_SHOWN = [api_tokens.c[name] for name in ("id", "role", "name", "org", "unit_id", "squad_id", "person_id",
                                          "created_ms", "expires_ms", "revoked_ms")]


def list_tokens(conn: Connection, *, now_ms: int, include_all: bool = False) -> list[TokenRecord]:
    """Tokens newest first: the live ones, or with ``include_all`` the revoked and expired ones too."""
    query = select(*_SHOWN).order_by(api_tokens.c.created_ms.desc(), api_tokens.c.id.desc())
    if not include_all:
        query = query.where(*_live(now_ms))
    return [_record(row, now_ms) for row in conn.execute(query)]


def get_token(conn: Connection, token_id: int, *, now_ms: int) -> TokenRecord | None:
    row = conn.execute(select(*_SHOWN).where(api_tokens.c.id == token_id)).first()
    return None if row is None else _record(row, now_ms)


def _live(now_ms: int) -> tuple[Any, ...]:
    return (api_tokens.c.revoked_ms.is_(None),
            or_(api_tokens.c.expires_ms.is_(None), api_tokens.c.expires_ms > now_ms))


def _record(row: Any, now_ms: int) -> TokenRecord:
    return TokenRecord(row.id, row.role, row.name, row.org, row.unit_id, row.squad_id, row.person_id,
                       row.created_ms, row.expires_ms, row.revoked_ms,
                       token_state(revoked_ms=row.revoked_ms, expires_ms=row.expires_ms, now_ms=now_ms))


def count_live_tokens(conn: Connection, *, now_ms: int, role: str | None = None) -> int:
    """Tokens neither revoked nor expired (of one role when given)."""
    query = select(func.count()).select_from(api_tokens).where(*_live(now_ms))
    if role is not None:
        query = query.where(api_tokens.c.role == role)
    return int(conn.execute(query).scalar_one())


def revoke_token(conn: Connection, token_id: int, *, now_ms: int, actor: str = "system") -> bool:
    """Revoke a token not yet revoked (an expired one too), with its audit entry; False when there is
    no such token or it was revoked already."""
    result = conn.execute(update(api_tokens).where(api_tokens.c.id == token_id,
                                                   api_tokens.c.revoked_ms.is_(None))
                          .values(revoked_ms=now_ms))
    if result.rowcount > 0:
        audit.token_revoked(conn, token_id, actor=actor, at_ms=now_ms)
        _revocations.append(token_id)  # this process's token caches forget what they hold
    return result.rowcount > 0


_revocations: list[int] = []


def revocations() -> int:
    """How many tokens this process has revoked: a cache of live tokens is stale once this grows."""
    return len(_revocations)
