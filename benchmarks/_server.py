"""Shared by the benchmark scripts: wait until a server started as a subprocess answers /healthz."""

from __future__ import annotations

import subprocess
import time

import httpx


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
