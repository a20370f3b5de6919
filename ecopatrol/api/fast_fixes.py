"""The hottest route without the framework's per-request machinery: ``POST /api/v1/fixes``.

500 phones posting a fix a second each are 500 requests a second, and routing, dependency solving and
the middleware layers cost more interpreter time than storing the fixes. This ASGI middleware serves the
ordinary case directly, as the route itself would (same validation model, same ``store_batch``, same
answer): a bearer token the token cache already holds as live, of a role that sends fixes, and a JSON
body with a length. Anything else — no token or an unknown one, a chunked or oversized body, a body the
model refuses, an unexpected error before anything was stored — goes on to the full application
unchanged (the body replayed), which answers it with its usual checks, errors and counters.
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from ecopatrol.api.body_limits import ASGIApp, Receive, Scope, Send, read_body, replay_body, send_json
from ecopatrol.api.deps import fix_sender
from ecopatrol.api.errors import ApiError
from ecopatrol.api.routes.fixes import FixBatch, store_batch
from ecopatrol.api.token_cache import TokenCache
from ecopatrol.runtime import Runtime
from ecopatrol.store.tokens_repo import Principal

PATH = "/api/v1/fixes"


class FastFixes:
    def __init__(self, app: ASGIApp, *, runtime: Runtime, cache: TokenCache, max_bytes: int) -> None:
        self.app = app
        self.runtime = runtime
        self.cache = cache
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        principal = self._sender(headers.get(b"authorization", b""))
        length = headers.get(b"content-length", b"")
        if (principal is None or not length.isdigit() or int(length) > self.max_bytes
                or b"json" not in headers.get(b"content-type", b"").lower()):
            await self.app(scope, receive, send)
            return
        body, _ = await read_body(receive, self.max_bytes)  # within the limit: its length was checked
        if body is None:
            return  # the client left
        try:
            batch = FixBatch.model_validate_json(body)
        except ValidationError:
            await self.app(scope, replay_body(body, receive), send)
            return
        try:
            result = await store_batch(self.runtime, principal, batch)
        except ApiError as exc:
            extra = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                     for k, v in (exc.headers or {}).items()]
            await send_json(send, exc.status_code,
                            json.dumps({"detail": exc.detail}, ensure_ascii=False).encode(), extra)
            return
        except Exception:  # nothing of this request was stored: the full route answers it
            await self.app(scope, replay_body(body, receive), send)
            return
        await send_json(send, 200, result.model_dump_json().encode())

    def _sender(self, authorization: bytes) -> Principal | None:
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        principal = self.cache.get(token.strip(), self.runtime.now_ms())
        senders = fix_sender.allowed_roles  # type: ignore[attr-defined]
        return principal if principal is not None and principal.role in senders else None
