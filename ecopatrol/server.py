"""Running the HTTP server (uvicorn) around ``create_app``."""

from __future__ import annotations

import uvicorn

from ecopatrol.api.app import create_app
from ecopatrol.runtime import Runtime


def run_server(runtime: Runtime, *, host: str | None = None, port: int | None = None) -> None:
    settings = runtime.settings.server
    app = create_app(runtime)
    uvicorn.run(app, host=host or settings.host, port=port or settings.port, log_level="info",
                timeout_graceful_shutdown=5)
