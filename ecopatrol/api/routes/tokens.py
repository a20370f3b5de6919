"""Bearer tokens, for commanders: list them (never a digest) and revoke one.

The same as ``ecopatrol token list`` / ``token revoke``. Tokens are made on the command line
(``ecopatrol token create``) and by phone sign-in (``phone_page``); a phone's token is also revoked at
``/api/v1/phone-tokens/{id}/revoke``, which does exactly what ``revoke_by_id`` does here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from ecopatrol import audit
from ecopatrol.api.deps import Commander, RuntimeDep
from ecopatrol.api.errors import not_found
from ecopatrol.runtime import Runtime
from ecopatrol.store.tokens_repo import Principal, TokenRecord, list_tokens, revoke_token

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])

TokenId = Annotated[int, Path(ge=1, le=2**31 - 1)]
IncludeAll = Annotated[bool, Query(alias="all", description="revoked and expired ones too")]


class TokenRevoked(BaseModel):
    id: int
    revoked: bool


@router.get("")
def tokens(runtime: RuntimeDep, _: Commander, include_all: IncludeAll = False) -> list[TokenRecord]:
    """Tokens newest first: the live ones, or all of them (state: live, expired, revoked)."""
    with runtime.store.read() as conn:
        return list_tokens(conn, now_ms=runtime.now_ms(), include_all=include_all)


@router.post("/{token_id}/revoke")
def revoke(token_id: TokenId, runtime: RuntimeDep, principal: Commander) -> TokenRevoked:
    """Revoke a token: it stops working here at once, in other API processes within
    ``auth.token_cache_s``; written to the audit log."""
    return revoke_by_id(runtime, token_id, principal)


def revoke_by_id(runtime: Runtime, token_id: int, principal: Principal) -> TokenRevoked:
    """Revoke ``token_id`` on behalf of ``principal`` (the audit log's actor); 404 when there is no
    such token or it is revoked already."""
    with runtime.store.write() as conn:
        if not revoke_token(conn, token_id, now_ms=runtime.now_ms(), actor=audit.actor_of(principal)):
            raise not_found(["path", "token_id"], f"no token {token_id}, or it is revoked already")
    return TokenRevoked(id=token_id, revoked=True)
