"""Dependencies: the runtime, the caller (bearer token) and role checks.

They are coroutines: FastAPI runs a plain-function dependency on a worker thread, and three thread
hops per request (runtime, token, role) were most of a small request's cost under load. Only a token
lookup touches the database, on one worker thread, and live tokens are cached for a few seconds
(``ecopatrol.api.token_cache``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from ecopatrol.api.errors import ApiError
from ecopatrol.api.token_cache import TokenCache
from ecopatrol.runtime import Runtime
from ecopatrol.store.tokens_repo import ROLES, Principal, check_token, revocations


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def current_principal(request: Request, runtime: RuntimeDep) -> Principal:
    token = _bearer(request)
    if token is None:
        raise ApiError(401, ["header", "Authorization"], "a bearer token is required",
                       "unauthorized", headers={"WWW-Authenticate": "Bearer"})
    cache: TokenCache | None = getattr(request.app.state, "token_cache", None)
    cached = cache.get(token, runtime.now_ms()) if cache is not None else None
    if cached is not None:
        return cached
    generation = revocations()
    found = await run_in_threadpool(_look_up, runtime, token)
    if isinstance(found, Principal) and cache is not None:
        cache.put(token, found, generation=generation)
    if not isinstance(found, Principal):
        raise ApiError(401, ["header", "Authorization"], REFUSED_TOKEN[found], "unauthorized",
                       headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return found


def _look_up(runtime: Runtime, token: str) -> Principal | str:
    with runtime.store.read() as conn:
        return check_token(conn, token, now_ms=runtime.now_ms())


#: why a presented token is refused, by ``check_token``'s answer
REFUSED_TOKEN = {
    "unknown": "the token is not known here (mistyped, forged, or issued by another server)",
    "expired": "the token has expired: ask a commander for a new one",
    "revoked": "the token was revoked: ask a commander for a new one",
}


def require(*roles: str) -> Callable[..., Principal]:
    """A dependency admitting the given roles (commanders are admitted everywhere). The roles are
    kept as ``allowed_roles`` on it, where ``ecopatrol.api.permissions`` reads each route's rule."""
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValueError(f"require(): unknown role(s) {', '.join(unknown)} (roles: {', '.join(ROLES)})")
    allowed = {"commander", *roles}

    async def _check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in allowed:
            raise ApiError(403, ["header", "Authorization"],
                           f"role {principal.role!r} may not do this (needs {' or '.join(sorted(allowed))})",
                           "forbidden")
        return principal

    _check.allowed_roles = frozenset(allowed)  # type: ignore[attr-defined]
    return _check


Commander = Annotated[Principal, Depends(require())]
fix_sender = require("squad", "device")  # also the fast path's rule (ecopatrol.api.fast_fixes)
FixSender = Annotated[Principal, Depends(fix_sender)]
Reader = Annotated[Principal, Depends(require("squad"))]
