"""Running the HTTP server (uvicorn) around ``create_app``."""

from __future__ import annotations

import sys

import uvicorn

from ecopatrol.api.app import create_app
from ecopatrol.config import DEFAULT_CONFIG
from ecopatrol.runtime import Runtime
from ecopatrol.store.tokens_repo import count_live_tokens


def run_server(runtime: Runtime, *, host: str | None = None, port: int | None = None) -> None:
    settings = runtime.settings.server
    for note in startup_notes(runtime):
        print(note, file=sys.stderr, flush=True)
    app = create_app(runtime)
    uvicorn.run(app, host=host or settings.host, port=port or settings.port, log_level="info",
                timeout_graceful_shutdown=5)


def startup_notes(runtime: Runtime) -> list[str]:
    """What the operator must know at start: there is no default token, so with no live commander
    token nobody can sign in; say how to make the first one."""
    with runtime.store.read() as conn:
        if count_live_tokens(conn, now_ms=runtime.now_ms(), role="commander"):
            return []
    config = runtime.settings.config_path
    option = f" --config {config}" if config and config != str(DEFAULT_CONFIG.resolve()) else ""
    return ["no commander token yet: nobody can use the API, the review page or issue phone codes. "
            "Create the first one (it is printed once; only its digest is stored):\n"
            f"    ecopatrol token create --role commander --name NAME --days 90{option}"]
