"""Installing alerting into an app (or a bare runtime): the rules are loaded and checked at once
(a broken rule stops the start, naming the key and the reason), ``report.created`` is subscribed so
report rules run at commit, and in a FastAPI app the scheduler starts and stops with the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from ecopatrol.alerting import service
from ecopatrol.alerting.scheduler import SchedulerHandle, start_scheduler
from ecopatrol.alerting.settings import AlertingConfig
from ecopatrol.runtime import Runtime

_SUBSCRIBED_ATTR = "_alerting_subscribed"


def install_alerting(target: FastAPI | Runtime, *, scheduler: bool = True) -> AlertingConfig:
    """Check the rules, subscribe the report handler (once per runtime) and, for an app, run the
    scheduler during its lifespan (``app.state.alert_scheduler`` while it runs)."""
    runtime: Runtime = target.state.runtime if isinstance(target, FastAPI) else target
    cfg = service.alerting_config(runtime)
    if not getattr(runtime, _SUBSCRIBED_ATTR, False):
        runtime.events.subscribe("report.created", service.report_created_handler(runtime))
        setattr(runtime, _SUBSCRIBED_ATTR, True)
    if isinstance(target, FastAPI):
        target.state.alert_scheduler = None  # the handle while the app runs, when it runs one
        if scheduler:
            _run_scheduler_in_lifespan(target, runtime)
    return cfg


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
