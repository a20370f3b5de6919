"""The live alert stream: persistent event ids, squad filtering, replay with Last-Event-ID across
reconnects and a server restart, heartbeats, slow clients dropped, tokens in the query string."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import Connection

import ecopatrol.store.alerts_schema
import ecopatrol.store.live_schema
import ecopatrol.store.reports_schema  # noqa: F401  (tables on the shared metadata, for TRUNCATE)
from ecopatrol.config import Settings
from ecopatrol.live import eventlog
from ecopatrol.live.hub import LiveHub
from ecopatrol.runtime import Runtime, system_clock_ms
from ecopatrol.store import Store, open_store
from ecopatrol.store.tokens_repo import create_token, revoke_token
from tests.ecopatrol.helpers_live import Server, SseClient, build_app, commander_token, seed_squad
from tests.ecopatrol.helpers_reports import NEAR_RIVER, load_county


class FakeViews:
    """Alerts as plain dicts held in memory (the hub's read seam, without the alerting service)."""

    def __init__(self) -> None:
        self.alerts: dict[str, dict[str, Any]] = {}

    def get_many(self, conn: Connection, alert_ids: Sequence[str],
                 now_ms: int) -> dict[str, dict[str, Any]]:
        return {i: dict(self.alerts[i]) for i in alert_ids if i in self.alerts}

    def open_for(self, conn: Connection, squad_id: str | None, now_ms: int) -> list[dict[str, Any]]:
        return [dict(a) for a in self.alerts.values()
                if a["state"] != "resolved" and (squad_id is None or a["squad_id"] == squad_id)]


# ------------------------------------------------------------------------------ the log, the hub


def test_event_ids_increase_and_a_reassignment_tells_the_old_squad(runtime: Runtime) -> None:
    first = eventlog.append_change(runtime.store, "a1", "sq1", now_ms=1)
    second = eventlog.append_change(runtime.store, "a1", "sq1", now_ms=2)
    moved = eventlog.append_change(runtime.store, "a1", "sq2", now_ms=3)
    ids = [r.id for r in (*first, *second, *moved)]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert [(r.topic, r.squad_id) for r in moved] == [("alert.reassigned", "sq1"), ("alert.changed", "sq2")]
    with runtime.store.read() as conn:
        assert [r.alert_id for r in eventlog.since(conn, 0, "sq1")] == ["a1", "a1", "a1"]
        assert [r.topic for r in eventlog.since(conn, ids[1], "sq1")] == ["alert.reassigned"]
        assert len(eventlog.since(conn, 0, None)) == 4  # commanders: everything


def test_many_changes_logged_at_once_read_like_one_at_a_time(runtime: Runtime) -> None:
    eventlog.append_change(runtime.store, "a2", "sq3", now_ms=1)
    rows = eventlog.append_changes(runtime.store, [("a1", "sq1"), ("a2", "sq1"), ("a3", None), ("a1", "sq2")],
                                   now_ms=2)
    assert [(r.topic, r.alert_id, r.squad_id) for r in rows] == [
        ("alert.changed", "a1", "sq1"),
        ("alert.reassigned", "a2", "sq3"), ("alert.changed", "a2", "sq1"),
        ("alert.changed", "a3", None),
        ("alert.reassigned", "a1", "sq1"), ("alert.changed", "a1", "sq2")]
    ids = [r.id for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    with runtime.store.read() as conn:  # what was stored is what was returned, id for id
        stored = eventlog.by_ids(conn, ids)
        assert [(r.id, r.topic, r.alert_id, r.squad_id) for r in stored] == \
            [(r.id, r.topic, r.alert_id, r.squad_id) for r in rows]
        last = eventlog.last_squads(conn, ["a1", "a2", "a3", "never"])
        assert last == {"a1": "sq2", "a2": "sq1", "a3": None}
    assert eventlog.append_changes(runtime.store, [], now_ms=3) == []


def test_ids_are_never_reused_after_pruning(runtime: Runtime) -> None:
    rows = [eventlog.append_change(runtime.store, f"a{i}", "sq1", now_ms=i)[0] for i in range(5)]
    assert eventlog.prune(runtime.store, before_ms=100) == 4  # the newest row is kept
    newer = eventlog.append_change(runtime.store, "a9", "sq1", now_ms=200)[0]
    assert newer.id > rows[-1].id


def test_catch_up_replays_the_newest_state_of_each_alert_or_sends_a_snapshot(runtime: Runtime) -> None:
    views = FakeViews()
    hub = LiveHub(runtime, views)
    views.alerts["a1"] = {"id": "a1", "state": "open", "squad_id": "sq1"}
    views.alerts["a2"] = {"id": "a2", "state": "open", "squad_id": "sq2"}
    r1 = hub.record("a1", "sq1")[0]
    hub.record("a2", "sq2")
    views.alerts["a1"]["state"] = "acknowledged"
    r3 = hub.record("a1", "sq1")[0]
    new = hub._catch_up("sq1", None)
    assert [e.topic for e in new] == ["snapshot"] and new[0].id == r3.id
    assert '"a2"' not in new[0].data
    replay = hub._catch_up("sq1", r1.id - 1)
    assert [(e.id, e.alert_id) for e in replay] == [(r3.id, "a1")]  # once, newest
    assert '"acknowledged"' in replay[0].data
    assert hub._catch_up("sq1", r3.id) == []
    assert [e.topic for e in hub._catch_up("sq1", r3.id + 1000)] == ["snapshot"]  # the log was reset


def test_a_slow_client_is_dropped_and_its_stream_ends(runtime: Runtime) -> None:
    async def scenario() -> tuple[int, bool]:
        views = FakeViews()
        hub = LiveHub(runtime, views, queue_size=3, heartbeat_s=5)
        await hub.start()
        try:
            stream = hub.stream("sq1", None)
            assert (await stream.__anext__()).startswith(b"retry:")
            assert b"snapshot" in await stream.__anext__()
            for i in range(10):  # the client reads nothing meanwhile
                views.alerts[f"a{i}"] = {"id": f"a{i}", "state": "open", "squad_id": "sq1"}
                await asyncio.to_thread(hub.record, f"a{i}", "sq1")
            deadline = time.monotonic() + 5
            while hub.dropped_total == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            rest = [frame async for frame in stream]
            return hub.dropped_total, len(rest) <= 3
        finally:
            await hub.stop()

    dropped, bounded = asyncio.run(scenario())
    assert dropped == 1 and bounded


# --------------------------------------------------------------------------------- over HTTP


@pytest.fixture
def county(runtime: Runtime, tmp_path: Path) -> Runtime:
    load_county(runtime, tmp_path / "county")
    return runtime


#: another place on the river, far enough from NEAR_RIVER not to be taken for the same sighting
UPSTREAM = (120.712, 28.8004)


def _firearm(commander: str, base_url: str, where: tuple[float, float] = NEAR_RIVER) -> httpx.Response:
    body = {"category": "firearm", "observed_at": datetime.now(UTC).isoformat(),
            "location": {"type": "Point", "coordinates": list(where)}, "details": {"shots_heard": 2},
            "description": "两声枪响"}
    auth = {"Authorization": f"Bearer {commander}"}
    return httpx.post(f"{base_url}/api/v1/reports", json=body, headers=auth, timeout=30)


def _real_clock(runtime: Runtime) -> Runtime:
    runtime.clock = system_clock_ms  # the report "now" must be the browser's and uvicorn's now
    return runtime


def test_a_report_reaches_the_assigned_squad_only_and_commanders_see_all(county: Runtime) -> None:
    runtime = _real_clock(county)
    crew1, crew2 = seed_squad(runtime, 1), seed_squad(runtime, 2)
    boss = commander_token(runtime)
    server = Server(build_app(runtime)).start()
    url = f"{server.url}/api/v1/alerts/stream"
    clients = {"sq1": SseClient(url, token=crew1.tokens["p1a"]).start(),
               "sq2": SseClient(url, token=crew2.tokens["p2b"]).start(),
               "boss": SseClient(url, token=boss).start()}
    try:
        for c in clients.values():
            c.wait_for(lambda e: e.event == "snapshot")
        response = _firearm(boss, server.url)
        assert response.status_code == 201, response.text
        posted = time.monotonic()
        seen = clients["boss"].wait_for(lambda e: e.event == "alert.changed", 2)
        squad = seen.data["alert"]["squad"]["id"]
        assert seen.data["alert"]["severity"] == "critical"
        mine = clients[squad].wait_for(lambda e: e.event == "alert.changed", 1)
        assert mine.received - posted < 1.0
        assert mine.data["alert_id"] == seen.data["alert_id"] and mine.id == seen.id
        other = "sq2" if squad == "sq1" else "sq1"
        time.sleep(0.3)
        assert [e.event for e in clients[other].events] == ["snapshot"]
    finally:
        for c in clients.values():
            c.close()
        server.stop()


def test_the_stream_takes_the_token_in_the_query_and_refuses_others(county: Runtime) -> None:
    crew = seed_squad(county, 1)
    with county.store.write() as conn:
        partner = create_token(conn, role="partner", name="渔政", now_ms=county.now_ms())
    server = Server(build_app(county)).start()
    try:
        url = f"{server.url}/api/v1/alerts/stream"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, params={"token": "nope"}).status_code == 401
        assert httpx.get(url, params={"token": partner}).status_code == 403
        with httpx.stream("GET", url, params={"token": crew.tokens["p1c"]}, timeout=5) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            assert next(r.iter_lines()).startswith("retry:")
    finally:
        server.stop()


def test_heartbeats_keep_the_stream_alive_and_a_revoked_token_ends_it(county: Runtime) -> None:
    crew = seed_squad(county, 1)
    app = build_app(county)
    app.state.live_hub.heartbeat_s = 0.2
    server = Server(app).start()
    client = SseClient(f"{server.url}/api/v1/alerts/stream", token=crew.tokens["p1a"]).start()
    try:
        deadline = time.monotonic() + 5
        while client.comments < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.comments >= 3
        with county.store.write() as conn:
            from ecopatrol.store.tokens_repo import verify_token
            principal = verify_token(conn, crew.tokens["p1a"], now_ms=county.now_ms())
            assert principal is not None
            revoke_token(conn, principal.token_id, now_ms=county.now_ms())
        assert client.ended.wait(3), "the stream of a revoked token must end"
    finally:
        client.close()
        server.stop()


def test_replay_after_a_server_restart_misses_nothing(county: Runtime, settings: Settings,
                                                     store: Store) -> None:
    """A phone holding event id N reconnects to a new server process on the same database: it gets
    every change after N (as events with their ids, not a snapshot)."""
    from ecopatrol.alerting import service

    runtime = _real_clock(county)
    crew = seed_squad(runtime, 1)
    boss = commander_token(runtime)
    server = Server(build_app(runtime)).start()
    port = server.port
    client = SseClient(f"{server.url}/api/v1/alerts/stream", token=crew.tokens["p1a"]).start()
    try:
        assert _firearm(boss, server.url).status_code == 201
        first = client.wait_for(lambda e: e.event == "alert.changed", 2)
    finally:
        client.close()
        server.stop()

    # a new process: a new runtime on the same database, a new app and hub, the same port
    runtime2 = Runtime(settings=runtime.settings, store=_reopen(store), clock=system_clock_ms)
    server2 = Server(build_app(runtime2), port=port).start()
    try:
        service.act(runtime2, first.data["alert_id"], "ack", "person:p1b")
        assert _firearm(boss, server2.url, UPSTREAM).status_code == 201
        again = SseClient(f"{server2.url}/api/v1/alerts/stream", token=crew.tokens["p1c"],
                          last_event_id=first.id).start()
        try:
            acked = again.wait_for(lambda e: e.data.get("alert_id") == first.data["alert_id"], 2)
            assert acked.event == "alert.changed" and acked.id > first.id
            assert acked.data["alert"]["state"] == "acknowledged"
            second = again.wait_for(lambda e: e.event == "alert.changed"
                                    and e.data["alert_id"] != first.data["alert_id"], 2)
            assert second.id > acked.id
            assert all(e.event != "snapshot" for e in again.events)
        finally:
            again.close()
    finally:
        server2.stop()
        if runtime2.store is not store:
            runtime2.store.dispose()


def _reopen(store: Store) -> Store:
    """Another engine on the same database, as a restarted process would open."""
    return open_store(store.engine.url.render_as_string(hide_password=False))


def test_an_event_logged_by_another_process_reaches_this_process_streams_once(
        pg_store: Store, settings: Settings) -> None:
    """Two API processes on one PostgreSQL: each with its own engine and hub. A change logged by A is
    streamed by B (LISTEN/NOTIFY), and by A once, not twice (its own notification comes back too)."""
    _truncate_live(pg_store)
    other = open_store(pg_store.engine.url.render_as_string(hide_password=False), migrate=False)
    a, b = Runtime(settings, pg_store), Runtime(settings, other)

    async def scenario() -> tuple[list[bytes], list[bytes]]:
        views = FakeViews()
        views.alerts["x1"] = {"id": "x1", "state": "open", "squad_id": "sq1"}
        hub_a, hub_b = LiveHub(a, views, heartbeat_s=0.3), LiveHub(b, views, heartbeat_s=0.3)
        await hub_a.start()
        await hub_b.start()
        try:
            for hub in (hub_a, hub_b):
                assert hub._peers is not None and await asyncio.to_thread(hub._peers.connected.wait, 10)
            streams = [hub_a.stream("sq1", None), hub_b.stream("sq1", None)]
            for stream in streams:
                assert (await stream.__anext__()).startswith(b"retry:")
                assert b"snapshot" in await stream.__anext__()
            await asyncio.to_thread(hub_a.record, "x1", "sq1")
            got: list[list[bytes]] = [[], []]
            for i, stream in enumerate(streams):
                for _ in range(4):  # the event, then heartbeats only: no second copy
                    got[i].append(await asyncio.wait_for(stream.__anext__(), 5))
            return got[0], got[1]
        finally:
            await hub_a.stop()
            await hub_b.stop()

    try:
        seen_a, seen_b = asyncio.run(scenario())
    finally:
        other.dispose()
    for seen in (seen_a, seen_b):
        events = [f for f in seen if f.startswith(b"id:")]
        assert len(events) == 1 and b'"x1"' in events[0], seen


def _truncate_live(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE live_events"))
