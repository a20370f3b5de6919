"""Abusive request bodies refused before any handler reads them.

An ASGI middleware (not ``BaseHTTPMiddleware``: the alert stream must stay a plain stream):
- a declared ``Content-Length`` over ``server.max_body_bytes`` is a 413 at once, before a byte is read;
- a body without a length (chunked) is read up to the limit and refused with 413 as soon as it passes it;
- a JSON body nested deeper than ``MAX_JSON_DEPTH`` is a 422 (Python's parser would hit its recursion
  limit, and every route would answer that differently).
Multipart bodies with a length stream through untouched (the photo checks read them part by part).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import numpy as np

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: deeper JSON is refused; real bodies (a FeatureCollection of MultiPolygons) stay under 10 levels
MAX_JSON_DEPTH = 100
_OPENING = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSING = np.frombuffer(b"]}", dtype=np.uint8)
_QUOTE, _BACKSLASH = ord('"'), ord("\\")


class BodyLimits:
    """Refuse over-long and over-deep bodies with the API's error shape (see ``ecopatrol.api.errors``)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_json_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _refuse(send, 413, ["header", "Content-Length"],
                          f"the body is larger than {self.max_bytes} bytes", "too_large")
            return
        if length is not None and headers.get("content-type", "").lower().startswith("multipart/"):
            await self.app(scope, receive, send)
            return
        body, disconnected = await read_body(receive, self.max_bytes)
        if disconnected:
            return
        if body is None:
            await _refuse(send, 413, ["body"], f"the body is larger than {self.max_bytes} bytes", "too_large")
            return
        depth = json_depth(body, limit=self.max_json_depth) if _looks_like_json(body, headers) else 0
        if depth > self.max_json_depth:
            await _refuse(send, 422, ["body"], f"the JSON is nested deeper than {self.max_json_depth} "
                                               "levels", "too_deep")
            return
        await self.app(scope, replay_body(body, receive), send)



def json_depth(body: bytes, *, limit: int = 0, chunk_bytes: int = 1 << 20) -> int:
    """How deep the brackets of a JSON text nest, brackets inside strings ignored; a quick 0 when there
    are no more than ``limit`` opening brackets in all, and a count stopped as soon as it passes ``limit``
    (when ``limit`` is given). Linear time, and memory for one chunk at a time."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return 0
    state = _ScanState()
    for start in range(0, len(body), chunk_bytes):
        _scan(np.frombuffer(body, np.uint8, count=min(chunk_bytes, len(body) - start), offset=start), state)
        if limit and state.deepest > limit:
            break
    return state.deepest


class _ScanState:
    """What carries from one chunk to the next: inside a string or not, whether the chunk ended with an
    odd run of backslashes (escaping the next byte), the bracket depth and the deepest seen."""

    def __init__(self) -> None:
        self.inside = False
        self.odd_backslashes = False
        self.depth = 0
        self.deepest = 0


def _scan(chunk: np.ndarray, state: _ScanState) -> None:
    index = np.arange(len(chunk))
    backslash = chunk == _BACKSLASH
    # the last byte at or before each position that is not a backslash (-1: none in this chunk)
    last_other = np.maximum.accumulate(np.where(backslash, -1, index))
    before_other = np.concatenate(([-1], last_other[:-1]))
    run_before = index - 1 - before_other  # backslashes just before each position
    escaped = (run_before % 2 == 1) ^ ((before_other == -1) & state.odd_backslashes)
    quotes = np.cumsum((chunk == _QUOTE) & ~escaped) + state.inside
    outside = quotes % 2 == 0
    opening = np.isin(chunk, _OPENING) & outside
    closing = np.isin(chunk, _CLOSING) & outside
    steps = opening[opening | closing].astype(np.int64) * 2 - 1
    if len(steps):
        depth = state.depth + np.cumsum(steps)
        state.deepest = max(state.deepest, int(depth.max()))
        state.depth = int(depth[-1])
    state.inside = bool(quotes[-1] % 2)
    trailing = len(chunk) - 1 - int(last_other[-1])
    state.odd_backslashes = bool(trailing % 2) ^ (int(last_other[-1]) == -1 and state.odd_backslashes)


def _looks_like_json(body: bytes, headers: dict[str, str]) -> bool:
    """A JSON content type, or a body that starts like JSON (the phone protocols sniff it so)."""
    return "json" in headers.get("content-type", "").lower() or body.lstrip()[:1] in (b"{", b"[")


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` giving the body already read as one message, then the client's next messages."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


async def read_body(receive: Receive, max_bytes: int) -> tuple[bytes | None, bool]:
    """The whole body (None once past ``max_bytes``), and whether the client left before sending it."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None, True
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            return None, False
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False


async def send_json(send: Send, status: int, payload: bytes,
                    headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """A whole JSON response (``payload`` already encoded)."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": payload})


async def _refuse(send: Send, status: int, loc: list[str], msg: str, kind: str) -> None:
    payload = json.dumps({"detail": [{"loc": loc, "msg": msg, "type": kind}]}).encode()
    await send_json(send, status, payload, [(b"connection", b"close")])
