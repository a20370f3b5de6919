"""A brake on guessing credentials: too many failed authentications from one address → 429.

A failure is a 401 answered to a request that brought a credential: an ``Authorization`` header (bearer
or HTTP Basic), the ``access_token`` cookie, a ``?token=``, or any request to a sign-in form or a phone
protocol (``permissions.attempt_paths``: their credential is in the body or the device's key). After
``auth.max_failures`` failures within ``auth.window_s`` seconds, that address's further attempts are
answered 429 with ``Retry-After`` (seconds until its oldest counted failure leaves the window), before
any token is looked up. Requests that bring no credential (the report form, tracking pages, health)
always pass, so the public side keeps working while an address is held back.

Checked in memory, counted in the database. The check runs before every credentialed request (a
busy server's fix uploads too), so it never queries: each process holds the recent failures per
address (``FailureWindow``). Each failure is also added to ``auth_failures`` off the event loop
(``SharedFailures``), and the address's failures of every process within the window are read back
into this process's copy. So a process learns of the other processes' failures at its own next
failure from that address: across N processes at most ``max_failures + N - 1`` failures get through
per window (besides attempts already in flight when the limit is reached). A starting process reads
the failures still in the window, so a restart remembers them. Rows out of the window are deleted at
most once per window per process. When the database cannot be written, the failure is counted in this
process only and a warning is logged: a 401 stays a 401.

The address is the connection's peer (``request.client``; behind a reverse proxy, run uvicorn with its
proxy headers trusted for that proxy). Clients behind one NAT share one count.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ecopatrol.api.routes.maps import COOKIE
from ecopatrol.live.install import add_lifespan
from ecopatrol.store import Store
from ecopatrol.store.auth_failures_repo import add_failure, forget_failures, recent_failures

log = logging.getLogger(__name__)
#: a starting process reads at most this many of the newest failures still in the window
PRELOAD_ROWS = 100_000


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

    def learn(self, client: str, times: list[int], now_ms: int) -> None:
        """Take the client's failures as every process counted them (``SharedFailures``), oldest first,
        unless this process holds more within the window (its own, not yet read back)."""
        with self._lock:
            fresh = [t for t in times if t > now_ms - self.window_ms][-self.max_failures:]
            held = self._times.get(client)
            if held is not None:
                self._forget_old(client, held, now_ms)
                if len(held) > len(fresh):
                    return
            self._times.pop(client, None)
            if fresh:
                self._times[client] = deque(fresh, maxlen=self.max_failures)
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


class SharedFailures:
    """Every process's failures, in the database (``auth_failures``). Blocking: call it on a worker
    thread."""

    def __init__(self, store: Store, *, window_ms: int, keep: int) -> None:
        self.store = store
        self.window_ms = window_ms
        self.keep = keep
        self._pruned_ms: int | None = None

    def add(self, client: str, now_ms: int) -> list[int]:
        """Store a failure; return the client's newest ``keep`` failures in the window, oldest first."""
        since_ms = now_ms - self.window_ms
        with self.store.write() as conn:
            times = add_failure(conn, client, at_ms=now_ms, since_ms=since_ms, keep=self.keep)
        if self._pruned_ms is None or now_ms - self._pruned_ms >= self.window_ms:
            self._pruned_ms = now_ms
            self._prune(since_ms)
        return times

    def recent(self, now_ms: int) -> dict[str, list[int]]:
        """Every client's failures still in the window (for a starting process)."""
        with self.store.read() as conn:
            return recent_failures(conn, since_ms=now_ms - self.window_ms, keep=self.keep,
                                   max_rows=PRELOAD_ROWS)

    def _prune(self, before_ms: int) -> None:
        # its own transaction: two processes pruning at once may deadlock on PostgreSQL, which must
        # not cost the failure just counted
        try:
            with self.store.write() as conn:
                forget_failures(conn, before_ms=before_ms)
        except Exception as exc:
            log.warning("old failed sign-ins not deleted (next time): %s", _first_line(exc))


class AuthFailureGuard:
    """ASGI middleware: counts failed authentications per client address and holds back the rest."""

    def __init__(self, app: ASGIApp, *, window: FailureWindow, clock: Callable[[], int],
                 shared: SharedFailures | None = None) -> None:
        self.app = app
        self.window = window
        self.clock = clock
        self.shared = shared
        self._shared_down = False
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
                await self._count(client)
            await send(message)

        await self.app(scope, receive, counting_send)

    async def _count(self, client: str) -> None:
        """Count a failure here at once, then in the database, and learn the other processes' count
        (before the 401 goes out, so the client's next attempt meets it)."""
        now_ms = self.clock()
        self.window.record(client, now_ms)
        if self.shared is None:
            return
        try:
            times = await run_in_threadpool(self.shared.add, client, now_ms)
        except Exception as exc:
            if not self._shared_down:
                log.warning("failed sign-ins are counted in this process only until the database can be "
                            "written: %s", _first_line(exc))
            self._shared_down = True
            return
        if self._shared_down:
            log.warning("failed sign-ins are counted across processes again")
            self._shared_down = False
        self.window.learn(client, times, now_ms)

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
    """Add the guard to ``create_app``'s app, with the limits of ``[auth]``, counting in the runtime's
    store; this process's copy of the counts is ``app.state.auth_failures``, filled from the store
    when the app starts."""
    runtime = app.state.runtime
    cfg = runtime.settings.auth
    window_ms = int(cfg.window_s * 1000)
    window = FailureWindow(max_failures=cfg.max_failures, window_ms=window_ms)
    shared = SharedFailures(runtime.store, window_ms=window_ms, keep=cfg.max_failures)
    app.state.auth_failures = window
    app.add_middleware(AuthFailureGuard, window=window, clock=runtime.now_ms, shared=shared)

    async def remember() -> None:
        now_ms = runtime.now_ms()
        try:
            recent = await run_in_threadpool(shared.recent, now_ms)
        except Exception as exc:
            log.warning("failed sign-ins of the last %g s not read: %s", cfg.window_s, _first_line(exc))
            return
        for client, times in recent.items():
            window.learn(client, times, now_ms)

    async def nothing() -> None:
        return None

    add_lifespan(app, remember, nothing)
    return window


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
