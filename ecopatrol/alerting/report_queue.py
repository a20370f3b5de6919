"""Report rules off the request thread, and nothing lost between a report's commit and its alert.

A report commits with ``alerted_ms`` NULL and the request answers at once; ``ReportAlertWorker`` (one
thread per process, started with the app) then runs the report rules and sets ``alerted_ms`` in the
same transaction as the alerts they raise. A report whose process died in between is still NULL and
is picked up when the next worker starts; a run that fails (the database restarting) is tried again
after a pause that doubles up to 30 s. Running a report twice (two processes, a restart) raises
nothing twice: the pipeline's dedupe stage keeps one alert per fingerprint.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from sqlalchemy import Connection, select, update

from ecopatrol.runtime import Runtime
from ecopatrol.store.reports_schema import reports

log = logging.getLogger("ecopatrol.alerting")
_STOP = object()
REST_PER_WORK = 1.5
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 30.0


def pending_reports(conn: Connection, *, limit: int = 10_000) -> list[int]:
    """Reports committed whose report rules have not run yet, oldest first."""
    rows = conn.execute(select(reports.c.id).where(reports.c.alerted_ms.is_(None))
                        .order_by(reports.c.id).limit(limit))
    return [int(r[0]) for r in rows]


def mark_alerted(conn: Connection, report_ids: Sequence[int], now_ms: int) -> None:
    if report_ids:
        conn.execute(update(reports).where(reports.c.id.in_([int(i) for i in report_ids]),
                                           reports.c.alerted_ms.is_(None)).values(alerted_ms=now_ms))


class ReportAlertWorker:
    """One thread draining report ids through ``handle`` (``on_reports_committed``) in commit order;
    the ids that queued up while it worked are handled together. After a burst (a run of several
    reports) it rests 1.5 times as long as the run took, at most ``max_rest_s`` (0.1 s): part of a
    run's cost is the same for one report as for ten, so under a flood of reports the rules take at
    most about 40 % of the interpreter and the reports' own requests keep the rest. A lone report is
    handled at once."""

    def __init__(self, runtime: Runtime, handle: Callable[[list[int]], object], *,
                 max_batch: int = 200, max_rest_s: float = 0.1) -> None:
        self.runtime = runtime
        self._handle = handle
        self.max_batch = max_batch
        self.max_rest_s = max_rest_s
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._failures = 0  # runs failed in a row

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread and queue every report left pending by an earlier process."""
        if self.running:
            return
        self._thread = threading.Thread(target=self._run, name="report-alerts", daemon=True)
        self._thread.start()
        with self.runtime.store.read() as conn:
            for report_id in pending_reports(conn):
                self._queue.put(report_id)

    def submit(self, report_id: int) -> None:
        self._queue.put(int(report_id))

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Wait until every submitted report has been handled (tests, shutdown); False on timeout."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout_s)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Finish what is queued (bounded by ``timeout_s``), then stop; the rest stays pending in the
        store and the next start picks it up."""
        thread = self._thread
        if thread is None:
            return
        self._queue.put(_STOP)
        thread.join(timeout_s)
        self._thread = None

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            batch: list[int] = []
            while isinstance(item, int):  # take what else is waiting, up to a marker
                batch.append(item)
                if len(batch) >= self.max_batch:
                    item = None
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            if batch:
                started = time.monotonic()
                try:
                    self._handle(batch)
                    self._failures = 0
                except Exception:  # the reports are durable and still pending: try them again later
                    log.exception("report rules failed for reports %s", batch)
                    self._retry_later(batch)
                if len(batch) > 1 and item is None:  # a burst: rest, so the next run takes more at once
                    time.sleep(min(self.max_rest_s, REST_PER_WORK * (time.monotonic() - started)))
            if item is _STOP:
                return
            if isinstance(item, threading.Event):
                item.set()

    def _retry_later(self, batch: list[int]) -> None:
        self._failures += 1
        delay = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** min(self._failures - 1, 10))

        def again() -> None:
            for report_id in batch:
                self._queue.put(report_id)

        timer = threading.Timer(delay, again)
        timer.daemon = True
        timer.start()
