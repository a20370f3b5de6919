"""One HTTP POST through an injected ``httpx.AsyncClient``, measured and never raising."""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpx

from alerts.channels.base import DeliveryResult

_ERROR_BODY_CHARS = 200


async def post(client: httpx.AsyncClient, url: str, body: bytes, headers: Mapping[str, str],
               timeout_s: float) -> DeliveryResult:
    start = time.perf_counter()
    try:
        response = await client.post(url, content=body, headers=dict(headers), timeout=timeout_s)
    except httpx.TimeoutException as e:
        return DeliveryResult(None, False, _ms(start), f"timeout after {timeout_s:g} s "
                                                         f"({type(e).__name__})")
    except httpx.HTTPError as e:
        return DeliveryResult(None, False, _ms(start), f"{type(e).__name__}: {e}")
    ok = 200 <= response.status_code < 300
    error = None if ok else f"HTTP {response.status_code}: {response.text[:_ERROR_BODY_CHARS]}"
    return DeliveryResult(response.status_code, ok, _ms(start), error)


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)
