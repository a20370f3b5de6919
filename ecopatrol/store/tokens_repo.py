"""Bearer tokens: random, stored as SHA-256 digests, with a role, an expiry and revocation.

Tokens are 256-bit random secrets, so a fast digest is the right store (a slow password hash protects
low-entropy secrets; it would only slow every request here)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, insert, select, update

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


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(conn: Connection, *, role: str, name: str = "", now_ms: int,
                 expires_ms: int | None = None, org: str | None = None,
                 unit_id: str | None = None, squad_id: str | None = None,
                 person_id: str | None = None) -> str:
    """Store a new token and return its plain text (shown once, never stored)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    token = f"ep_{role[:3]}_{secrets.token_urlsafe(32)}"
    conn.execute(insert(api_tokens).values(
        token_hash=digest(token), role=role, name=name, org=org, unit_id=unit_id,
        squad_id=squad_id, person_id=person_id, created_ms=now_ms, expires_ms=expires_ms))
    return token


def verify_token(conn: Connection, token: str, *, now_ms: int) -> Principal | None:
    """The principal for a live token; None for an unknown, expired or revoked one."""
    row = conn.execute(select(api_tokens).where(api_tokens.c.token_hash == digest(token))).first()
    if row is None or row.revoked_ms is not None:
        return None
    if row.expires_ms is not None and row.expires_ms <= now_ms:
        return None
    return Principal(row.id, row.role, row.name, row.org, row.unit_id, row.squad_id, row.person_id)


def revoke_token(conn: Connection, token_id: int, *, now_ms: int) -> bool:
    result = conn.execute(update(api_tokens).where(api_tokens.c.id == token_id,
                                                   api_tokens.c.revoked_ms.is_(None))
                          .values(revoked_ms=now_ms))
    return result.rowcount > 0
