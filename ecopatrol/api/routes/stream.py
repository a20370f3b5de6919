"""``GET /api/v1/alerts/stream``: live alerts as Server-Sent Events.

EventSource cannot set headers, so the token may come as ``?token=`` as well as a bearer header, and
the position to resume from as ``?last_event_id=`` as well as the ``Last-Event-ID`` header. Squads
receive only their own squad's alerts; commanders receive all. Include this router before the alerts
router, so ``stream`` is never taken for an alert id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ecopatrol.api.deps import RuntimeDep
from ecopatrol.api.errors import ApiError
from ecopatrol.live.hub import LiveHub
from ecopatrol.runtime import Runtime
from ecopatrol.store.tokens_repo import Principal, verify_token

router = APIRouter(prefix="/api/v1", tags=["alerts"])

SSE_HEADERS = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}


def bearer_or_query(request: Request, token: str | None) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return token or None


def principal_from(runtime: Runtime, token: str | None) -> Principal:
    if token is None:
        raise ApiError(401, ["query", "token"], "a token is required (bearer header or ?token=)",
                       "unauthorized", headers={"WWW-Authenticate": "Bearer"})
    with runtime.store.read() as conn:
        principal = verify_token(conn, token, now_ms=runtime.now_ms())
    if principal is None:
        raise ApiError(401, ["query", "token"], "the token is unknown, expired or revoked", "unauthorized",
                       headers={"WWW-Authenticate": "Bearer"})
    return principal


def stream_scope(principal: Principal) -> str | None:
    """The squad whose alerts this caller sees; ``None`` for a commander (all squads)."""
    if principal.role == "commander":
        return None
    if principal.role == "squad" and principal.squad_id:
        return principal.squad_id
    raise ApiError(403, ["query", "token"], "only commanders and squad members with a squad may follow "
                   "the alert stream", "forbidden")


def _resume_from(request: Request, last_event_id: int | None) -> int | None:
    header = request.headers.get("last-event-id", "").strip()
    if header.isdigit():
        return int(header)
    return last_event_id


@router.get("/alerts/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
async def alert_stream(
    request: Request, runtime: RuntimeDep,
    token: Annotated[str | None, Query(description="the bearer token, for EventSource")] = None,
    last_event_id: Annotated[int | None, Query(ge=0, description="resume after this event id")] = None,
) -> StreamingResponse:
    """Events ``alert.changed`` / ``alert.reassigned`` (data: ``{"alert_id", "squad_id", "alert"}``)
    and, for a new client, one ``snapshot`` (data: ``{"squad_id", "alerts"}``) of the open alerts;
    a comment line every 15 s keeps the connection alive."""
    secret = bearer_or_query(request, token)
    principal = await run_in_threadpool(principal_from, runtime, secret)
    squad_id = stream_scope(principal)

    async def still_allowed() -> bool:
        def check() -> bool:
            with runtime.store.read() as conn:
                return verify_token(conn, secret or "", now_ms=runtime.now_ms()) is not None
        return await run_in_threadpool(check)

    hub: LiveHub | None = getattr(request.app.state, "live_hub", None)
    if hub is None:
        raise ApiError(503, ["path"], "the live stream is not installed on this server", "unavailable")
    return StreamingResponse(hub.stream(squad_id, _resume_from(request, last_event_id), still_allowed),
                             media_type="text/event-stream", headers=SSE_HEADERS)
