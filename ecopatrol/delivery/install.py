"""``install_delivery(app)``: the outbox worker started and stopped with the app (its lifespan)."""

from __future__ import annotations

from fastapi import FastAPI

from ecopatrol.delivery.config import delivery_settings
from ecopatrol.delivery.worker import DeliveryWorker
from ecopatrol.live.install import add_lifespan


def install_delivery(app: FastAPI, worker: DeliveryWorker | None = None) -> DeliveryWorker:
    """Parse ``[channels]`` now (a bad key fails at start, naming it) and run the worker with the app."""
    runtime = app.state.runtime
    worker = worker or DeliveryWorker(runtime, delivery_settings(runtime.settings))
    app.state.delivery_worker = worker
    add_lifespan(app, worker.start, worker.stop)
    return worker
