"""A brake on guessing credentials: too many failed authentications from one address → 429.

A failure is a 401 answered to a request that brought a credential: an ``Authorization`` header (bearer
or HTTP Basic), the ``access_token`` cookie, a ``?token=``, or any request to a sign-in form or a phone
protocol (``permissions.attempt_paths``: their credential is in the body or the device's key). After
``auth.max_failures`` failures within ``auth.window_s`` seconds, that address's further attempts are
answered 429 with ``Retry-After`` (seconds until its oldest counted failure leaves the window), before
any token is looked up. Requests that bring no credential (the report form, tracking pages, health)
always pass, so the public side keeps working while an address is held back.

Counted in memory, per process: several API processes each count their own and a restart forgets.
The address is the connection's peer (``request.client``; behind a reverse proxy, run uvicorn with its
proxy headers trusted for that proxy). Clients behind one NAT share one count.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ecopatrol.api.routes.maps import COOKIE


class FailureWindow:
    """Failure times per client: the last ``max_failures`` of each, forgotten after ``window_ms``."""

    def __init__(self, *, max_failures: int, window_ms: int, max_clients: int = 10_000) -> None:
        self.max_failures = max_failures
        self.window_ms = window_ms
        self.max_clients = max_clients
        self._times: OrderedDict[str, deque[int]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after_ms(self, client: str, now_ms: int) -> int:
        """0 when the client may try; else the milliseconds until it may."""
        with self._lock:
            times = self._times.get(client)
            if times is None:
                return 0
            self._forget_old(client, times, now_ms)
            if len(times) < self.max_failures:
                return 0
            return max(1, times[0] + self.window_ms - now_ms)

    def record(self, client: str, now_ms: int) -> None:
        with self._lock:
            times = self._times.pop(client, None) or deque(maxlen=self.max_failures)
            times.append(now_ms)
            self._times[client] = times  # the most recent client last: the oldest are dropped first
            while len(self._times) > self.max_clients:
                self._times.popitem(last=False)

    def failures(self, client: str, now_ms: int) -> int:
        with self._lock:
            times = self._times.get(client)
            if times is None:
                return 0
            self._forget_old(client, times, now_ms)
            return len(times)

    def _forget_old(self, client: str, times: deque[int], now_ms: int) -> None:
        while times and times[0] <= now_ms - self.window_ms:
            times.popleft()
        if not times:
            del self._times[client]


class AuthFailureGuard:
    """ASGI middleware: counts failed authentications per client address and holds back the rest."""

    def __init__(self, app: ASGIApp, *, window: FailureWindow, clock: Callable[[], int]) -> None:
        self.app = app
        self.window = window
        self.clock = clock
        self._attempt_paths: frozenset[str] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._is_attempt(scope):
            await self.app(scope, receive, send)
            return
        client = scope["client"][0] if scope.get("client") else "unknown"
        wait_ms = self.window.retry_after_ms(client, self.clock())
        if wait_ms > 0:
            await too_many(wait_ms)(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.window.record(client, self.clock())
            await send(message)

        await self.app(scope, receive, counting_send)

    def _is_attempt(self, scope: Scope) -> bool:
        headers = dict(scope.get("headers") or [])
        if headers.get(b"authorization", b"").strip():
            return True
        cookies = headers.get(b"cookie")
        if cookies and cookie_parser(cookies.decode("latin-1")).get(COOKIE):
            return True
        query = scope.get("query_string") or b""
        if b"token=" in query and any(k == "token" and v for k, v in parse_qsl(query.decode("latin-1"))):
            return True
        return scope.get("path", "") in self._paths(scope)

    def _paths(self, scope: Scope) -> frozenset[str]:
        if self._attempt_paths is None:
            from ecopatrol.api.permissions import attempt_paths

            self._attempt_paths = attempt_paths(scope["app"])
        return self._attempt_paths


def too_many(wait_ms: int) -> JSONResponse:
    wait_s = max(1, -(-wait_ms // 1000))
    return JSONResponse(status_code=429, headers={"Retry-After": str(wait_s)}, content={"detail": [{
        "loc": ["client"], "type": "rate_limited",
        "msg": f"too many failed sign-ins from this address; retry in {wait_s} s"}]})


def install_auth_guard(app: FastAPI) -> FailureWindow:
    """Add the guard to ``create_app``'s app, with the limits of ``[auth]``; the counts are kept on
    ``app.state.auth_failures``."""
    runtime = app.state.runtime
    cfg = runtime.settings.auth
    window = FailureWindow(max_failures=cfg.max_failures, window_ms=int(cfg.window_s * 1000))
    app.state.auth_failures = window
    app.add_middleware(AuthFailureGuard, window=window, clock=runtime.now_ms)
    return window
