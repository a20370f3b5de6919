"""The FastAPI application, built by ``create_app(runtime)`` — no import-time singletons."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from ecopatrol.alerting.wiring import install_alerting
from ecopatrol.api.auth_guard import install_auth_guard
from ecopatrol.api.body_limits import BodyLimits
from ecopatrol.api.errors import plain_http_error, validation_errors
from ecopatrol.api.fast_fixes import FastFixes
from ecopatrol.api.routes import (
    alerts,
    coverage,
    delivery,
    exports,
    fixes,
    health,
    layers,
    maps,
    pages_reports,
    personnel,
    phone_page,
    phones,
    reports,
    review,
    squads,
    stats,
    stream,
    tokens,
    units,
)
from ecopatrol.api.token_cache import TokenCache
from ecopatrol.delivery.install import install_delivery
from ecopatrol.live.install import install_live
from ecopatrol.runtime import Runtime

log = logging.getLogger("ecopatrol.api")


def create_app(runtime: Runtime, *, scheduler: bool = True, delivery_worker: bool = True) -> FastAPI:
    """The whole application. Tests may leave out the background scheduler and delivery worker."""
    app = FastAPI(title="ecopatrol", version="0.1.0",
                  description="Ecological-policing patrols, coverage and alerts. 生态警务巡护与预警。",
                  # no OpenTelemetry (an isolated intranet has no collector): its per-request check of
                  # the providers cost several percent of a busy server's time
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.runtime = runtime
    app.state.token_cache = TokenCache(runtime.settings.auth.token_cache_s)
    # the stream router comes before the alerts router, so /alerts/stream is never read as an alert id
    for module in (health, units, fixes, phones, coverage, reports, layers, pages_reports, personnel,
                   squads, stream, alerts, delivery, phone_page, tokens, maps, review, stats, exports):
        app.include_router(module.router)
    pages_reports.mount_static(app)
    _limit_body_size(app, runtime.settings.server.max_body_bytes)
    _json_errors(app)
    install_auth_guard(app)  # failed authentications per address → 429 ([auth] in config.toml)
    install_alerting(app, scheduler=scheduler)  # bad rules stop the start; the scheduler runs in the lifespan
    install_live(app)
    if delivery_worker:
        install_delivery(app)
    # outermost: the ordinary fix upload skips the framework (ecopatrol.api.fast_fixes)
    app.add_middleware(FastFixes, runtime=runtime, cache=app.state.token_cache,
                       max_bytes=runtime.settings.server.max_body_bytes)
    return app


def _limit_body_size(app: FastAPI, max_bytes: int) -> None:
    """Over-long (413) and over-deep JSON (422) bodies are refused before any handler reads them."""
    app.add_middleware(BodyLimits, max_bytes=max_bytes)


def _json_errors(app: FastAPI) -> None:
    @app.exception_handler(sa_exc.OperationalError)
    @app.exception_handler(sa_exc.InterfaceError)
    async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        """The database is restarting or unreachable: nothing was committed, so say so and ask for a
        resend (phones and partners retry) instead of a 500."""
        log.warning("database unavailable: %s", str(exc).splitlines()[0][:200])
        return JSONResponse(status_code=503, headers={"Retry-After": "2"}, content={"detail": [{
            "loc": [], "msg": "the database is unavailable for a moment; nothing was stored, send again",
            "type": "unavailable"}]})

    app.add_exception_handler(StarletteHTTPException, plain_http_error)  # type: ignore[arg-type]

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": validation_errors(exc.errors())})
