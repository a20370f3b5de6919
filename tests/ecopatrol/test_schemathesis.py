"""Every operation of ``/openapi.json``, fuzzed in-process by schemathesis: no answer is a server error
and answers conform to the schema (body and content type). Once with a commander token (every route is
reached) and once without a token (every protected route must refuse cleanly). Then a deterministic
sweep puts absurd numbers into every numeric path and query parameter. SQLite only: the point is the
handlers, not the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from ecopatrol.config import Settings
from ecopatrol.runtime import Runtime
from tests.ecopatrol.helpers_fuzz import CHECKS, STREAM_PATH, commander_headers, open_fuzz_runtime
from tests.ecopatrol.helpers_reports import build_app

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 25
#: the alert stream (STREAM_PATH) never ends by itself: each call is cut after this long, and it gets
#: fewer examples
STREAM_CUT_S, STREAM_EXAMPLES = 0.3, 5
ABSURD_NUMBERS = ("1" + "0" * 30, "-" + "1" + "0" * 30, "1e308", "-1e308", "nan", "inf", "-inf", "-1", "0")


@pytest.fixture
def fuzz_runtime(settings: Settings, tmp_path: Path) -> Iterator[Runtime]:
    """A county and two units (one with a Traccar device), on SQLite."""
    with open_fuzz_runtime(settings, tmp_path) as runtime:
        yield runtime


@pytest.fixture
def commander(fuzz_runtime: Runtime) -> Callable[[], dict[str, str]]:
    """Headers with a new commander token (a fuzzed revoke may cut off an earlier one)."""
    return commander_headers(fuzz_runtime)


@pytest.fixture
def api_schema(fuzz_runtime: Runtime) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", build_app(fuzz_runtime))


def test_no_server_error_as_commander(api_schema: Any, commander: Callable[[], dict[str, str]]) -> None:
    _fuzz_every_operation(api_schema, commander)


def test_no_server_error_without_a_token(api_schema: Any) -> None:
    _fuzz_every_operation(api_schema, dict)


def _fuzz_every_operation(api_schema: Any, headers: Callable[[], dict[str, str]]) -> None:
    """Valid and invalid cases for each operation; every failure is collected, then all are reported."""
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        try:
            _fuzz(operation, headers())
        except Exception as exc:
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)


def _fuzz(operation: Any, headers: dict[str, str]) -> None:
    stream = operation.path == STREAM_PATH
    # a redirect is the answer under test, not the page it leads to
    extra = {"allow_redirects": False, **({"timeout": STREAM_CUT_S} if stream else {})}
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                      operation.as_strategy(GenerationMode.NEGATIVE))

    @hypothesis_settings(max_examples=STREAM_EXAMPLES if stream else EXAMPLES_PER_OPERATION, deadline=None,
                         derandomize=True, database=None, phases=[Phase.explicit, Phase.generate],
                         suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def fuzz(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS, **extra)

    fuzz()


def test_absurd_numbers_in_parameters_are_refused_not_crashed(
        fuzz_runtime: Runtime, commander: Callable[[], dict[str, str]]) -> None:
    """Every numeric path or query parameter, given 1e30, ±1e308, NaN, ±inf, -1 or 0: a 2xx or a 4xx
    that names the parameter, never a 500 (found: a 30-digit token id overflowed SQLite's INTEGER)."""
    client = TestClient(build_app(fuzz_runtime), raise_server_exceptions=False)
    paths = client.get("/openapi.json").json()["paths"]
    crashed = []
    for path, operations in paths.items():
        if path == STREAM_PATH:
            continue
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            for parameter in parameters:
                if parameter["in"] not in ("path", "query") or not _numeric(parameter["schema"]):
                    continue
                for value in ABSURD_NUMBERS:
                    url, params = _request_for(path, parameters, parameter, value)
                    response = client.request(method.upper(), url, params=params, headers=commander())
                    if response.status_code >= 500:
                        crashed.append(f"{method.upper()} {url} {params}: {response.status_code}")
                    elif response.status_code == 422:
                        assert _names(response.json(), parameter["name"]), (url, params, response.text)
    assert not crashed, "\n".join(crashed)


def _numeric(schema: dict[str, Any]) -> bool:
    kinds = {schema.get("type"), *(s.get("type") for s in schema.get("anyOf", []))}
    return bool(kinds & {"integer", "number"})


def _request_for(path: str, parameters: list[dict[str, Any]], target: dict[str, Any],
                 value: str) -> tuple[str, dict[str, str]]:
    """The path with ``target`` set to ``value`` and other path parameters at a harmless value."""
    url, params = path, {}
    for parameter in parameters:
        if parameter["in"] != "path":
            continue
        enum = parameter["schema"].get("enum")
        harmless = str(enum[0]) if enum else "1"
        url = url.replace("{" + parameter["name"] + "}", value if parameter is target else harmless)
    if target["in"] == "query":
        params[target["name"]] = value
    return url, params


def _names(body: dict[str, Any], name: str) -> bool:
    return any(name in [str(part) for part in item.get("loc", [])] for item in body.get("detail", []))
