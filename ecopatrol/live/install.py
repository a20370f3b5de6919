"""Wiring the hub into an app: ``install_live(app)`` from ``create_app`` (after ``app.state.runtime``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from ecopatrol.live.hub import LiveHub
from ecopatrol.live.views import AlertViews


def add_lifespan(app: FastAPI, start: Callable[[], Awaitable[None]],
                 stop: Callable[[], Awaitable[None]]) -> None:
    """Run ``start`` when the app starts and ``stop`` when it stops, around any lifespan it had."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        await start()
        try:
            async with inner(a) as state:
                yield state
        finally:
            await stop()

    app.router.lifespan_context = lifespan


def install_live(app: FastAPI, views: AlertViews | None = None) -> LiveHub:
    """Create the hub (``app.state.live_hub``), started and stopped with the app."""
    if views is None:
        from ecopatrol.alerting.people import squad_memory
        from ecopatrol.alerting.service import alerting_config
        from ecopatrol.alerting.views import StoreAlertViews

        runtime = app.state.runtime
        views = StoreAlertViews(alerting_config(runtime), squad_memory(runtime))
    hub = LiveHub(app.state.runtime, views)
    app.state.live_hub = hub
    add_lifespan(app, hub.start, hub.stop)
    return hub
