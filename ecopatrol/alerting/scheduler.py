"""APScheduler jobs: one per scheduled rule (its ``interval_min`` or ``cron``) and the escalation tick.

Only the leader runs them. On SQLite the single process is the leader. On PostgreSQL the leader is
the process holding a session-level ``pg_try_advisory_lock`` on a connection of its own; every
process keeps trying to take it (every ``lock_retry_s``), so when the leader dies — its session
ends and PostgreSQL releases the lock — another takes over. Jobs are thin adapters: the service
loads, calls the pure functions and persists.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Connection, text

from ecopatrol.alerting import service
from ecopatrol.runtime import Runtime
from ecopatrol.store import Store

log = logging.getLogger("ecopatrol.alerting.scheduler")
#: The advisory lock key of the scheduler leader ("ecopalrt" as a signed 64-bit integer).
LEADER_KEY = int.from_bytes(b"ecopalrt", "big", signed=True)
FIRST_RUN_DELAY_S = 5.0


class LeaderLock:
    """Leadership: always on SQLite; on PostgreSQL a session advisory lock held on a dedicated
    connection (checked alive before each job)."""

    def __init__(self, store: Store, key: int = LEADER_KEY) -> None:
        self.store = store
        self.key = key
        self._conn: Connection | None = None
        self._mutex = threading.Lock()
        self.backend_pid: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock if free (a no-op returning True while held)."""
        if not self.store.is_postgres:
            return True
        with self._mutex:
            if self._conn is not None and self._alive():
                return True
            self._drop()
            conn = self.store.engine.connect()
            try:
                got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
                pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
                conn.commit()
            except Exception:
                conn.invalidate()
                conn.close()
                log.warning("could not try the scheduler lock", exc_info=True)
                return False
            if not got:
                conn.close()
                return False
            self._conn, self.backend_pid = conn, int(pid)  # type: ignore[arg-type]
            log.info("this process is now the scheduler leader (backend %s)", pid)
            return True

    def is_leader(self) -> bool:
        if not self.store.is_postgres:
            return True
        with self._mutex:
            if self._conn is None:
                return False
            if self._alive():
                return True
            self._drop()
            log.warning("lost the scheduler lock (connection gone)")
            return False

    def _alive(self) -> bool:
        assert self._conn is not None
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
            return True
        except Exception:
            return False

    def _drop(self) -> None:
        """Forget a held connection: invalidated, so its session (and any lock) really ends."""
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:
                log.debug("closing a dead lock connection", exc_info=True)
        self._conn, self.backend_pid = None, None

    def release(self) -> None:
        if not self.store.is_postgres:
            return
        with self._mutex:
            if self._conn is not None:
                try:
                    self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                    self._conn.commit()
                except Exception:
                    log.debug("unlocking on a dead connection", exc_info=True)
            self._drop()


@dataclass
class SchedulerHandle:
    scheduler: BackgroundScheduler
    lock: LeaderLock
    runs: Counter[str] = field(default_factory=Counter)  # job id → runs done as leader

    @property
    def is_leader(self) -> bool:
        return self.lock.is_leader()

    def shutdown(self, wait: bool = True) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        self.lock.release()


def start_scheduler(runtime: Runtime, *, tick_s: float | None = None, lock_retry_s: float | None = None,
                    first_run_delay_s: float = FIRST_RUN_DELAY_S) -> SchedulerHandle:
    """Start the jobs of the runtime's rules; returns a handle with ``.shutdown()``."""
    cfg = service.alerting_config(runtime)
    lock = LeaderLock(runtime.store)
    # The rules and the escalation tick take turns on one thread: run together, they would share the
    # interpreter three ways with the report pipeline and the fix uploads, and stall both at once.
    # The leader lock has a thread of its own, so leadership is never kept waiting behind a rule.
    scheduler = BackgroundScheduler(timezone=cfg.timezone, job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        executors={"default": ThreadPoolExecutor(1), "leader": ThreadPoolExecutor(1)})
    handle = SchedulerHandle(scheduler, lock)
    lock.try_acquire()
    scheduler.add_job(lock.try_acquire, IntervalTrigger(seconds=lock_retry_s or cfg.lock_retry_s),
                      id="leader-lock", name="take the scheduler lock when free", executor="leader")
    first = datetime.now(scheduler.timezone) + timedelta(seconds=first_run_delay_s)
    for rule in cfg.scheduled_rules:
        schedule = cfg.schedule_of(rule)
        assert schedule is not None
        trigger = (CronTrigger.from_crontab(schedule.cron, timezone=cfg.timezone) if schedule.cron
                   else IntervalTrigger(seconds=(schedule.interval_min or 1.0) * 60))
        job_id = f"rule:{rule.name}"
        soon: dict[str, Any] = {} if schedule.cron else {"next_run_time": first}  # None would pause it
        scheduler.add_job(_as_leader(handle, job_id, service.evaluate_scheduled, runtime, [rule.name]),
                          trigger, id=job_id, name=f"rule {rule.name} ({rule.kind})", **soon)
    scheduler.add_job(_as_leader(handle, "escalation", service.escalation_tick, runtime),
                      IntervalTrigger(seconds=tick_s or cfg.tick_s), id="escalation",
                      name="escalation tick", next_run_time=first)
    scheduler.start()
    return handle


def _as_leader(handle: SchedulerHandle, job_id: str, fn: Callable[..., Any],
               *args: Any) -> Callable[[], None]:
    def job() -> None:
        if not handle.lock.is_leader():
            return
        try:
            fn(*args)
        except Exception:
            log.exception("scheduled job %s failed", job_id)
        finally:
            handle.runs[job_id] += 1
    return job
