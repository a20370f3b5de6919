"""Shared by the schemathesis tests: a runtime to fuzz (a county and two units on SQLite), fresh commander
headers, the checks every answer must pass, and the path of the alert stream that never ends by itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from ecopatrol.config import AuthSettings, Settings
from ecopatrol.runtime import Runtime
from ecopatrol.store import open_store, units_repo
from ecopatrol.store.tokens_repo import create_token
from tests.conftest import FakeClock
from tests.ecopatrol.helpers_layers import load_small_county

CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]
STREAM_PATH = "/api/v1/alerts/stream"


@contextmanager
def open_fuzz_runtime(settings: Settings, folder: Path) -> Iterator[Runtime]:
    """A county and two units (one with a Traccar device), on SQLite in ``folder``."""
    store = open_store(f"sqlite:///{folder / 'fuzz.db'}")
    # the failed-authentication brake (429 after 20 in a minute) would make answers depend on timing
    unlimited = settings.model_copy(update={"auth": AuthSettings(max_failures=10**9)})
    runtime = Runtime(settings=unlimited, store=store, clock=FakeClock())
    load_small_county(runtime, folder / "layers")
    with store.write() as conn:
        for unit_id, mode in (("car-1", "vehicle"), ("foot-1", "foot")):
            units_repo.upsert_unit(conn, unit_id, mode=mode, now_ms=runtime.now_ms())
        units_repo.add_device(conn, "866000000000001", "car-1", key_hash=None, now_ms=runtime.now_ms())
    try:
        yield runtime
    finally:
        store.dispose()


def commander_headers(runtime: Runtime) -> Callable[[], dict[str, str]]:
    """Headers with a new commander token on each call (a fuzzed revoke may cut off an earlier one)."""

    def headers() -> dict[str, str]:
        with runtime.store.write() as conn:
            value = create_token(conn, role="commander", name="fuzz", now_ms=runtime.now_ms())
        return {"Authorization": f"Bearer {value}"}

    return headers
