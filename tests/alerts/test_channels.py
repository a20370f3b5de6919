import asyncio
import json
import random
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.channels import (
    DeliveryResult,
    LogChannel,
    NtfyChannel,
    WebhookChannel,
    backoff_cap_s,
    encode_body,
    next_attempt_ms,
    ntfy_message,
    sign,
    verify,
)
from alerts.model import Notification, Recipient, RecipientKind, Severity
from alerts.reasons import NotificationEvent
from tests.alerts.helpers import NIGHT
from tests.alerts.loopback import LoopbackServer, Script

SECRET = "s3cret-从环境变量来"
T = TypeVar("T")
Handler = Callable[[httpx.Request], httpx.Response]


def _notification(severity: Severity = Severity.critical, recipient: str = "sq-1",
                  kind: RecipientKind = RecipientKind.squad) -> Notification:
    return Notification(
        "n-1", "a-1", "webhook", Recipient(kind, recipient), NotificationEvent.assigned,
        severity, NIGHT,
        {"title": "枪声/涉枪警情", "message": "白塔镇 R1：两声枪响", "alert": {"id": "a-1"}})


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """pytest-asyncio is not configured: each async test body runs in its own loop."""
    return asyncio.run(coro)


def _raising(error: type[httpx.TransportError], text: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error(text, request=request)

    return handler


# ---------------------------------------------------------------------- pure helpers


def test_signature_is_hmac_sha256_over_the_body() -> None:
    body = b'{"a":1}'
    # reference value computed independently: printf '{"a":1}' | openssl dgst -sha256 -hmac key
    assert sign("key", body) == \
        "sha256=88a67f24bbcdaed0e6c997404bb79a743baf44c6bab2f4c27328e3009d22e342"
    assert verify("key", body, sign(b"key", body))
    assert not verify("key", body + b" ", sign("key", body))
    assert not verify("other", body, sign("key", body))
    assert not verify("key", body, None)


def test_body_is_the_notification_as_json() -> None:
    n = _notification()
    assert json.loads(encode_body(n)) == n.to_dict()
    assert "枪声".encode() in encode_body(n)  # UTF-8, not \\u escapes


@pytest.mark.parametrize("severity, priority, tag", [
    (Severity.critical, 5, "rotating_light"), (Severity.high, 4, "warning"),
    (Severity.medium, 3, "triangular_flag_on_post"), (Severity.low, 2, "information_source"),
])
def test_ntfy_message(severity: Severity, priority: int, tag: str) -> None:
    m = ntfy_message(_notification(severity), "ecopatrol-{squad_id}",
                     "http://10.0.0.2:8000/m#alert/{alert_id}")
    assert m == {"topic": "ecopatrol-sq-1", "title": "枪声/涉枪警情",
                 "message": "白塔镇 R1：两声枪响", "priority": priority, "tags": [tag],
                 "click": "http://10.0.0.2:8000/m#alert/a-1"}


def test_ntfy_topic_for_a_role() -> None:
    n = _notification(recipient="duty_commander", kind=RecipientKind.role)
    assert ntfy_message(n, "ecopatrol-{squad_id}")["topic"] == "ecopatrol-duty_commander"
    assert "click" not in ntfy_message(n, "x-{recipient_kind}")


@pytest.mark.parametrize("status, ok, retryable", [
    (200, True, False), (204, True, False), (400, False, False), (404, False, False),
    (408, False, True), (429, False, True), (500, False, True), (503, False, True),
    (None, False, True),
])
def test_retryable(status: int | None, ok: bool, retryable: bool) -> None:
    assert DeliveryResult(status, ok, 1.0).retryable is retryable


@pytest.mark.parametrize("attempt, cap", [(1, 2), (2, 4), (3, 8), (8, 256), (9, 300),
                                           (10_000, 300)])
def test_backoff_cap(attempt: int, cap: float) -> None:
    assert backoff_cap_s(attempt, 2.0, 300.0) == cap


def test_backoff_refuses_attempt_zero() -> None:
    with pytest.raises(ValueError, match="attempt counts from 1"):
        next_attempt_ms(0, NIGHT, 2, 300, random.Random(1))


@given(st.integers(1, 50), st.floats(0.1, 10), st.floats(10, 600), st.integers(0, 2**32))
def test_next_attempt_is_within_the_jitter_window(attempt: int, base: float, cap: float,
                                                   seed: int) -> None:
    t = next_attempt_ms(attempt, NIGHT, base, cap, random.Random(seed))
    assert NIGHT <= t <= NIGHT + backoff_cap_s(attempt, base, cap) * 1000


def test_full_jitter_spreads_retries() -> None:
    rng = random.Random(7)
    delays = {next_attempt_ms(5, 0, 2, 300, rng) for _ in range(50)}
    assert len(delays) > 40 and max(delays) <= 32_000


# ---------------------------------------------------------------- httpx.MockTransport


def test_webhook_through_mock_transport() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    async def main() -> DeliveryResult:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await WebhookChannel("https://hooks.example/ep", SECRET, client).send(
                _notification())

    result = _run(main())
    assert (result.status_code, result.ok, result.error) == (202, True, None)
    (request,) = seen
    assert request.method == "POST" and str(request.url) == "https://hooks.example/ep"
    assert verify(SECRET, request.content, request.headers["X-Ecopatrol-Signature"])
    assert request.headers["X-Ecopatrol-Event"] == "alert.assigned"
    assert request.headers["X-Ecopatrol-Delivery"] == "n-1"
    assert json.loads(request.content)["payload"]["title"] == "枪声/涉枪警情"


@pytest.mark.parametrize("respond, status, error", [
    (lambda r: httpx.Response(500, text="boom"), 500, "HTTP 500: boom"),
    (lambda r: httpx.Response(410), 410, "HTTP 410"),
    (_raising(httpx.ConnectError, "refused"), None, "ConnectError: refused"),
    (_raising(httpx.ReadTimeout, "slow"), None, "timeout"),
])
def test_webhook_failures_are_results_not_exceptions(respond: Handler, status: int | None,
                                                     error: str) -> None:
    async def main() -> DeliveryResult:
        async with httpx.AsyncClient(transport=httpx.MockTransport(respond)) as client:
            return await WebhookChannel("https://x/", SECRET, client).send(_notification())

    result = _run(main())
    assert (result.status_code, result.ok) == (status, False)
    assert error in (result.error or "")


def test_ntfy_through_mock_transport() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "x"})

    async def main() -> DeliveryResult:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await NtfyChannel("https://ntfy.example", client, token="tk_abc").send(
                _notification(Severity.high))

    assert _run(main()).ok
    (request,) = seen
    assert str(request.url) == "https://ntfy.example/"  # JSON publishing goes to the root
    assert request.headers["Authorization"] == "Bearer tk_abc"
    body = json.loads(request.content)
    assert body["topic"] == "ecopatrol-sq-1" and body["priority"] == 4


def test_log_channel_fails_first_then_records() -> None:
    channel = LogChannel(fail_first=2)
    results = [_run(channel.send(_notification())) for _ in range(3)]
    assert [r.ok for r in results] == [False, False, True]
    assert [r.status_code for r in results] == [503, 503, 200]
    assert len(channel.sent) == 1 and channel.attempts == 3


# ------------------------------------------------------------ a real server on 127.0.0.1


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(trust_env=False)  # no proxy between us and 127.0.0.1


def test_webhook_retries_until_the_server_recovers() -> None:
    script = Script([500, 503])
    with LoopbackServer(script) as server:
        async def main() -> list[DeliveryResult]:
            async with _client() as client:
                channel = WebhookChannel(server.url + "/hook", SECRET, client, timeout_s=2)
                results = []
                for _attempt in range(1, 6):
                    result = await channel.send(_notification())
                    results.append(result)
                    if result.ok or not result.retryable:
                        break
                return results

        results = _run(main())
    assert [r.status_code for r in results] == [500, 503, 200]
    assert results[-1].ok and all(r.latency_ms > 0 for r in results)
    assert len(script.received) == 3
    bodies = {r.body for r in script.received}
    assert len(bodies) == 1  # every attempt sends the same bytes …
    for r in script.received:  # … signed, as the receiver checks it
        assert r.path == "/hook"
        assert verify(SECRET, r.body, r.headers["X-Ecopatrol-Signature"])
        assert r.headers["X-Ecopatrol-Event"] == "alert.assigned"


def test_webhook_times_out_on_a_hanging_server() -> None:
    script = Script(["hang"], hang_s=5)
    with LoopbackServer(script) as server:
        async def main() -> tuple[DeliveryResult, DeliveryResult]:
            async with _client() as client:
                channel = WebhookChannel(server.url, SECRET, client, timeout_s=0.3)
                return await channel.send(_notification()), await channel.send(_notification())

        start = time.perf_counter()
        hung, next_one = _run(main())
        elapsed = time.perf_counter() - start
    assert (hung.status_code, hung.ok) == (None, False)
    assert "timeout after 0.3 s" in (hung.error or "")
    assert 250 <= hung.latency_ms < 2000
    assert next_one.ok and elapsed < 3


def test_a_hanging_channel_does_not_delay_another() -> None:
    with LoopbackServer(Script(["hang"], hang_s=5)) as dead, \
            LoopbackServer(Script([])) as alive:
        async def main() -> tuple[DeliveryResult, DeliveryResult]:
            async with _client() as client:
                slow = WebhookChannel(dead.url, SECRET, client, timeout_s=1.0)
                push = NtfyChannel(alive.url, client)
                return await asyncio.gather(slow.send(_notification()),
                                            push.send(_notification()))

        slow_result, push_result = _run(main())
    assert not slow_result.ok and push_result.ok
    assert push_result.latency_ms < 500 < slow_result.latency_ms


def test_server_errors_and_refused_connections() -> None:
    with LoopbackServer(Script([500])) as server:
        async def main() -> DeliveryResult:
            async with _client() as client:
                return await NtfyChannel(server.url, client).send(_notification())

        result = _run(main())
    assert (result.status_code, result.ok, result.retryable) == (500, False, True)
    assert "scripted failure" in (result.error or "")

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def refused() -> DeliveryResult:
        async with _client() as client:
            return await WebhookChannel(f"http://127.0.0.1:{port}/", SECRET, client).send(
                _notification())

    result = _run(refused())
    assert result.status_code is None and result.retryable
    assert "ConnectError" in (result.error or "")


class _ImportCounter:
    """A meta-path finder that only counts the module searches that reach the finders."""

    def __init__(self) -> None:
        self.searched: list[str] = []

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        self.searched.append(name)
        return None


def test_a_webhook_send_searches_for_no_module() -> None:
    """A failed import is not remembered: httpcore's import of an absent sniffio at every lock it set
    up searched sys.path on the event loop for every webhook (encode/httpcore#1103)."""
    import sys

    counter = _ImportCounter()
    with LoopbackServer(Script([])) as server:
        async def main() -> list[DeliveryResult]:
            async with _client() as client:
                channel = WebhookChannel(server.url + "/hook", SECRET, client, timeout_s=2)
                first = await channel.send(_notification())  # imports done once are fine
                sys.meta_path.insert(0, counter)
                try:
                    return [first] + [await channel.send(_notification()) for _ in range(5)]
                finally:
                    sys.meta_path.remove(counter)

        results = _run(main())
    assert all(r.ok for r in results)
    assert counter.searched == []
