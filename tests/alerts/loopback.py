"""A tiny stdlib HTTP server on 127.0.0.1 that follows a script: fail, hang, or answer."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Script:
    """One action per request, then ``200`` for the rest: an int status, or ``"hang"``."""

    actions: list[int | str]
    hang_s: float = 5.0
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self, request: Received) -> int | str:
        with self.lock:
            self.received.append(request)
            return self.actions.pop(0) if self.actions else 200


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server: _Server

    def do_POST(self) -> None:
        try:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            action = self.server.script.next(Received(self.path, dict(self.headers), body))
            if action == "hang":
                self.server.script.release.wait(self.server.script.hang_s)
                action = 200
            status = int(action)
            reply = b'{"ok":true}' if status < 300 else b'{"error":"scripted failure"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
        except OSError:  # the client gave up (timeout): nothing to answer
            pass

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    script: Script


class LoopbackServer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.script = script
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.script.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
