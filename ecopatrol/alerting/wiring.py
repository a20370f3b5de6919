"""Installing alerting into an app (or a bare runtime): the rules are loaded and checked at once
(a broken rule stops the start, naming the key and the reason), ``report.created`` is subscribed so
report rules run right after the commit (on the report worker's thread while an app runs, so the
request does not wait for them), and in a FastAPI app the scheduler starts and stops with the lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from ecopatrol.alerting import service
from ecopatrol.alerting.report_queue import ReportAlertWorker
from ecopatrol.alerting.scheduler import SchedulerHandle, start_scheduler
from ecopatrol.alerting.settings import AlertingConfig
from ecopatrol.live.install import add_lifespan
from ecopatrol.runtime import Runtime

_SUBSCRIBED_ATTR = "_alerting_subscribed"
_WORKER_ATTR = "_report_alert_worker"


def install_alerting(target: FastAPI | Runtime, *, scheduler: bool = True) -> AlertingConfig:
    """Check the rules, subscribe the report handler (once per runtime) and, for an app, run the
    scheduler during its lifespan (``app.state.alert_scheduler`` while it runs)."""
    runtime: Runtime = target.state.runtime if isinstance(target, FastAPI) else target
    cfg = service.alerting_config(runtime)
    worker = report_worker(runtime)
    if not getattr(runtime, _SUBSCRIBED_ATTR, False):
        runtime.events.subscribe("report.created", _report_created(runtime, worker))
        setattr(runtime, _SUBSCRIBED_ATTR, True)
    if isinstance(target, FastAPI):
        target.state.alert_scheduler = None  # the handle while the app runs, when it runs one
        target.state.report_alert_worker = worker
        add_lifespan(target, _start(worker), _stop(worker))
        if scheduler:
            _run_scheduler_in_lifespan(target, runtime)
    return cfg


def report_worker(runtime: Runtime) -> ReportAlertWorker:
    """The runtime's report-rules worker (one per runtime; it runs while an app using it runs)."""
    worker = getattr(runtime, _WORKER_ATTR, None)
    if worker is None:
        worker = ReportAlertWorker(runtime, lambda ids: service.on_reports_committed(runtime, ids))
        setattr(runtime, _WORKER_ATTR, worker)
    return worker


def _report_created(runtime: Runtime, worker: ReportAlertWorker) -> Callable[[str, dict[str, Any]], None]:
    """Hand the report to the worker when it runs (the request answers at once); else (CLI, demo
    seeding, a bare runtime) run its rules inline."""
    def handle(_topic: str, payload: dict[str, Any]) -> None:
        if worker.running:
            worker.submit(payload["report_id"])
        else:
            service.on_report_committed(runtime, payload["report_id"])
    return handle


def _start(worker: ReportAlertWorker) -> Callable[[], Awaitable[None]]:
    async def start() -> None:
        await asyncio.to_thread(worker.start)
    return start


def _stop(worker: ReportAlertWorker) -> Callable[[], Awaitable[None]]:
    async def stop() -> None:
        await asyncio.to_thread(worker.stop)
    return stop


def _run_scheduler_in_lifespan(app: FastAPI, runtime: Runtime) -> None:
    previous = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        handle: SchedulerHandle = start_scheduler(runtime)
        app.state.alert_scheduler = handle
        try:
            async with previous(app_) as state:
                yield state
        finally:
            handle.shutdown(wait=False)
            app.state.alert_scheduler = None

    app.router.lifespan_context = lifespan
