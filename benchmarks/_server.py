"""Shared by the benchmark scripts: wait until a server started as a subprocess answers /healthz;
follow an SSE stream; run the load side on uvloop; CPU seconds of a process tree."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import httpx

T = TypeVar("T")


def run_fast(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop when it is installed (a project dependency on Linux): the load
    generator shares this machine's cores with the server it measures, and uvloop halves what its
    sockets cost."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def tree_cpu_s(pid: int, *, descendants: bool = True) -> float | None:
    """CPU seconds (user + system) used so far by a process and (``descendants``) its live
    descendants (Linux /proc; None elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total, todo = 0, [pid]
    try:
        while todo:
            p = todo.pop()
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
            for task in Path(f"/proc/{p}/task").iterdir() if descendants else ():
                todo += [int(c) for c in (task / "children").read_text().split()]
    except (OSError, ValueError, IndexError):
        return None if total == 0 else total / tick
    return total / tick


def wait_healthy(proc: subprocess.Popen, url: str, *, timeout_s: float = 120) -> None:  # type: ignore[type-arg]
    """Return once ``url``/healthz answers 200; kill the process and raise if it dies or times out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the server did not start within {timeout_s:g} s")


async def read_sse(session: aiohttp.ClientSession, url: str, token: str,
                   on_event: Callable[[Any], None], stop: asyncio.Event) -> None:
    """Follow an SSE stream with aiohttp, calling ``on_event`` for each event until ``stop`` is set.

    The load side of the benchmarks uses aiohttp: httpx's connection pool slows down sharply with many
    concurrent requests on one client (64 in flight: ~150 requests/s against a trivial endpoint that
    aiohttp drives at ~4,000/s on this machine), which measured the client instead of the server."""
    from tests.ecopatrol.helpers_live import parse_sse

    async with session.get(url, headers={"Authorization": f"Bearer {token}"},
                           timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)) as response:
        block: list[str] = []
        async for raw in response.content:
            if stop.is_set():
                return
            line = raw.decode("utf-8").rstrip("\r\n")
            if line == "":
                event = parse_sse(block)
                if event is not None:
                    on_event(event)
                block = []
            else:
                block.append(line)
