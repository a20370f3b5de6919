"""The scheduler: jobs run by the leader only; on PostgreSQL one process of several holds the advisory
lock and another takes over when it stops or its session dies; on SQLite the process is the leader."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ecopatrol.alerting import service
from ecopatrol.alerting.scheduler import SchedulerHandle, start_scheduler
from ecopatrol.config import Settings
from ecopatrol.runtime import Runtime
from ecopatrol.store import Store, open_store
from tests.conftest import FakeClock
from tests.ecopatrol.helpers_alerting import MIN_MS, NIGHT_MS, Field, field_setup, visit_everything


def _wait(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def night(runtime: Runtime, tmp_path: Path) -> Iterator[Field]:
    yield from field_setup(runtime, tmp_path / "layers", NIGHT_MS)


def test_the_running_scheduler_escalates_an_unacknowledged_alert_by_itself(night: Field) -> None:
    visit_everything(night.runtime, night.runtime.now_ms())
    night.report("firearm")
    (alert,) = night.alerts()
    handle = start_scheduler(night.runtime, tick_s=0.2, lock_retry_s=0.2, first_run_delay_s=0.05)
    try:
        assert handle.is_leader
        night.advance_to(night.runtime.now_ms() + 3 * MIN_MS)
        assert _wait(lambda: night.alert(alert["id"])["escalation_level"] == 1)
        assert night.alert(alert["id"])["overdue"] == "yellow"
        assert _wait(lambda: handle.runs["escalation"] >= 1)  # counted once the job has returned
    finally:
        handle.shutdown()
    levels = [e for e in night.alert(alert["id"])["timeline"] if e["kind"] == "escalated"]
    assert len(levels) == 1  # each level once, however many ticks ran


# --- leader election on PostgreSQL ----------------------------------------------------------------


@pytest.fixture
def two_processes(pg_store: Store, settings: Settings) -> Iterator[tuple[Runtime, Runtime]]:
    """Two runtimes with their own engines on the same PostgreSQL database, like two server processes."""
    url = pg_store.engine.url.render_as_string(hide_password=False)
    other = open_store(url, migrate=False)
    clock = FakeClock()
    yield (Runtime(settings=settings, store=pg_store, clock=clock),
           Runtime(settings=settings, store=other, clock=clock))
    other.dispose()


def _start(runtime: Runtime) -> SchedulerHandle:
    return start_scheduler(runtime, tick_s=0.2, lock_retry_s=0.2, first_run_delay_s=0.05)


def test_one_of_two_processes_leads_and_the_other_takes_over_when_it_stops(
        two_processes: tuple[Runtime, Runtime]) -> None:
    first = _start(two_processes[0])
    second = _start(two_processes[1])
    try:
        assert first.is_leader and not second.is_leader
        assert _wait(lambda: first.runs["escalation"] >= 2)
        assert second.runs["escalation"] == 0  # the standby runs nothing
        first.shutdown()  # a clean stop releases the lock
        assert _wait(lambda: second.is_leader, 5)
        before = second.runs["escalation"]
        assert _wait(lambda: second.runs["escalation"] > before)
    finally:
        first.shutdown()
        second.shutdown()


def test_when_the_leader_dies_its_session_ends_and_the_standby_takes_over(
        pg_store: Store, two_processes: tuple[Runtime, Runtime]) -> None:
    first = _start(two_processes[0])
    second = _start(two_processes[1])
    try:
        assert first.is_leader and not second.is_leader
        pid = first.lock.backend_pid
        assert pid is not None
        # the leader's process dies: its jobs stop, nobody unlocks, and its session ends with it
        first.scheduler.shutdown(wait=True)
        with pg_store.engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert _wait(lambda: second.is_leader, 5)
        before = second.runs["escalation"]
        assert _wait(lambda: second.runs["escalation"] > before)
        assert not first.is_leader
    finally:
        first.shutdown()
        second.shutdown()


def test_a_store_without_alerts_ticks_quietly(runtime: Runtime) -> None:
    result = service.tick(runtime)
    assert result.created == [] and result.escalation.updated == []
