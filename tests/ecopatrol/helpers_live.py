"""Shared pieces of the live, delivery and phone-page tests: the app with every router this layer
needs (whether or not ``create_app`` includes them yet), a uvicorn server on loopback that can be
stopped and started again on the same port, an SSE reader, and a squad with its members."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from ecopatrol.api.app import create_app
from ecopatrol.runtime import Runtime
from ecopatrol.store.tokens_repo import create_token


def build_app(runtime: Runtime, *, delivery: bool = True) -> FastAPI:
    """The whole app without the rule scheduler (tests drive ticks themselves)."""
    return create_app(runtime, scheduler=False, delivery_worker=delivery)


def _prepend(app: FastAPI, router: Any) -> None:
    before = list(app.router.routes)
    app.include_router(router)
    added = app.router.routes[len(before):]
    app.router.routes[:] = [*added, *before]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """uvicorn in a thread on 127.0.0.1:``port``; ``stop()`` ends open streams within a second."""

    def __init__(self, app: FastAPI, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                timeout_graceful_shutdown=1, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "the server did not stop"


# ------------------------------------------------------------------------------------- SSE reader


@dataclass
class SseEvent:
    id: int | None
    event: str
    data: Any
    received: float = field(default_factory=time.monotonic)


def parse_sse(lines: list[str]) -> SseEvent | None:
    fields: dict[str, list[str]] = {}
    for line in lines:
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)
    if "data" not in fields:
        return None
    eid = fields.get("id", [None])[-1]
    return SseEvent(int(eid) if eid not in (None, "") else None, fields.get("event", ["message"])[-1],
                    json.loads("\n".join(fields["data"])))


class SseClient:
    """Reads an SSE stream in a thread; ``events`` fills as they arrive. Stops on ``close()``."""

    def __init__(self, url: str, *, token: str, last_event_id: int | None = None) -> None:
        self.url, self.token, self.last_event_id = url, token, last_event_id
        self.events: list[SseEvent] = []
        self.comments = 0
        self.status: int | None = None
        self.ended = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> SseClient:
        self._thread.start()
        return self

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = str(self.last_event_id)
        try:
            with httpx.Client(timeout=httpx.Timeout(5, read=60)) as client, \
                    client.stream("GET", self.url, headers=headers) as response:
                self.status = response.status_code
                block: list[str] = []
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line == "":
                        event = parse_sse(block)
                        if event is not None:
                            self.events.append(event)
                        elif any(b.startswith(":") for b in block):
                            self.comments += 1
                        block = []
                    else:
                        block.append(line)
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()

    def wait_for(self, predicate: Callable[[SseEvent], bool], timeout_s: float = 5.0) -> SseEvent:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for event in list(self.events):
                if predicate(event):
                    return event
            time.sleep(0.01)
        got = [(e.id, e.event) for e in self.events]
        raise AssertionError(f"no matching event within {timeout_s} s; got {got}")

    def close(self) -> None:
        self._stop.set()


# --------------------------------------------------------------------------------- people, squads


@dataclass(frozen=True)
class Crew:
    squad_id: str
    member_ids: tuple[str, str, str]
    tokens: dict[str, str]  # person id -> a squad-member token


def seed_squad(runtime: Runtime, index: int = 1, *, unit_prefix: str = "phone") -> Crew:
    """A squad of 1 police + 2 auxiliary, on duty all day, each member with a phone unit and a token."""
    from alerts.squads import Roster, Shift
    from ecopatrol.alerting import people
    from ecopatrol.store import units_repo

    now = runtime.now_ms()
    squad_id = f"sq{index}"
    names = (("police", f"警员{index}"), ("auxiliary", f"辅警{index}甲"), ("auxiliary", f"辅警{index}乙"))
    member_ids = []
    tokens = {}
    with runtime.store.write() as conn:
        people.insert_squad(conn, squad_id=squad_id, name=f"第{index}组", tz="Asia/Shanghai", now_ms=now)
        for k, (role, name) in enumerate(names):
            person_id = f"p{index}{'abc'[k]}"
            unit_id = f"{unit_prefix}-{person_id}"
            units_repo.upsert_unit(conn, unit_id, mode="foot", name=name, now_ms=now)
            units_repo.set_unit_squad(conn, unit_id, squad_id)
            people.insert_person(conn, person_id=person_id, name=name, role=role, phone="000",
                                 status="active", unit_id=unit_id, now_ms=now)
            member_ids.append(person_id)
            tokens[person_id] = create_token(conn, role="squad", name=name, now_ms=now, squad_id=squad_id,
                                             person_id=person_id, unit_id=unit_id)
        people.set_members(conn, squad_id, member_ids)
        all_day = (Shift(start="00:00", end="00:00"),)
        people.set_roster(conn, squad_id, Roster(squad_id=squad_id, shifts=all_day, tz="Asia/Shanghai"))
    return Crew(squad_id, tuple(member_ids), tokens)  # type: ignore[arg-type]


def commander_token(runtime: Runtime) -> str:
    with runtime.store.write() as conn:
        return create_token(conn, role="commander", name="值班指挥员", now_ms=runtime.now_ms())
