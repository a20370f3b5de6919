"""The outbox worker: an asyncio task that delivers due outbox rows through their channels.

Each row is sent in its own task; each endpoint has its own concurrency pool and every send its own
timeout, so a dead or hanging receiver holds only its own slots and never delays another channel.
One ``httpx.AsyncClient`` is shared. Failures are retried with exponential backoff and full jitter
(``alerts.channels.next_attempt_ms``) until ``max_attempts``, then the row is ``dead``; a 4xx other
than 408/425/429 (a refused request: wrong URL, bad signature) is dead at once. State lives in the
table, so a restart picks up where the last process stopped. The worker wakes at once on
``alerts.changed`` and on a resend, and looks for due rows every ``poll_s`` anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from alerts.channels import DeliveryResult, LogChannel, next_attempt_ms
from ecopatrol.delivery import outbox
from ecopatrol.delivery.config import DeliverySettings
from ecopatrol.delivery.targets import Plan, Target, TargetProblem, plan
from ecopatrol.runtime import Runtime

log = logging.getLogger("ecopatrol.delivery")
_SAFETY_S = 2.0  # beyond a channel's own timeout, in case a send does not honour it


class DeliveryWorker:
    def __init__(self, runtime: Runtime, settings: DeliverySettings, *,
                 client: httpx.AsyncClient | None = None, rng: random.Random | None = None,
                 environ: Mapping[str, str] | None = None,
                 clock: Callable[[], int] | None = None) -> None:
        self.runtime = runtime
        self.settings = settings
        self.rng = rng or random.Random()
        self.environ = environ
        self.log_channels: dict[str, LogChannel] = {}
        self._clock = clock or runtime.now_ms
        self._own_client = client is None
        self._client = client
        self._pools: dict[str, asyncio.Semaphore] = {}
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._subscribed = False

    # ------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self._client is None:
            self._client = httpx.AsyncClient(limits=httpx.Limits(max_connections=None,
                                                                 max_keepalive_connections=32))
        if not self._subscribed:
            self.runtime.events.subscribe("alerts.changed", self._on_event)
            self._subscribed = True
        self._task = asyncio.create_task(self._run(), name="delivery-worker")

    async def stop(self) -> None:
        """Stop claiming; cancel sends in flight (their rows are retried after the lease)."""
        self._loop = None
        tasks = [t for t in (self._task, *self._in_flight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None
        self._in_flight.clear()
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def wake(self) -> None:
        """Look for due rows now (thread-safe)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

    def _on_event(self, _topic: str, _payload: dict[str, Any]) -> None:
        self.wake()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    # ---------------------------------------------------------------------------------- loop

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                await self._claim_and_send()
            except Exception:
                log.exception("the outbox worker could not read due rows")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_s)

    async def _claim_and_send(self) -> None:
        room = self.settings.batch - len(self._in_flight)
        if room <= 0:
            return
        claimed = await asyncio.to_thread(
            outbox.claim_due, self.runtime.store, now_ms=self._clock(), lease_ms=self.settings.lease_ms(),
            limit=room, exclude=list(self._in_flight))
        for item in claimed:
            task = asyncio.create_task(self._deliver(item), name=f"deliver-{item.notification.id}")
            self._in_flight[item.notification.id] = task
            task.add_done_callback(lambda _t, key=item.notification.id: self._in_flight.pop(key, None))

    # ------------------------------------------------------------------------------ one row

    async def _deliver(self, item: outbox.Claimed) -> None:
        n = item.notification
        assert self._client is not None
        try:
            route = plan(self.settings, n, self._client, self.log_channels, self.environ)
        except TargetProblem as problem:
            await self._finish(item, [outbox.Attempt("-", n.channel, False, None, 0.0, str(problem), "dead")],
                               "dead")
            return
        if route.skipped is not None:
            await self._finish(item, [outbox.Attempt("-", n.channel, True, None, 0.0, route.skipped,
                                                     "skipped")], "sent")
            return
        await self._send_all(item, route)

    async def _send_all(self, item: outbox.Claimed, route: Plan) -> None:
        todo = [t for t in route.targets if t.key not in item.already_reached]
        results = await asyncio.gather(*(self._send_one(t) for t in todo))
        failed = [r for _t, r in zip(todo, results, strict=True) if not r.ok]
        attempt_no = item.attempts + 1
        if not failed:
            state, outcome = "sent", "delivered"
        elif any(not r.retryable for r in failed) or attempt_no >= self.settings.max_attempts:
            state, outcome = "dead", "dead"
        else:
            state, outcome = "pending", "retry"
        attempts = [outbox.Attempt(t.key, t.endpoint, r.ok, r.status_code, r.latency_ms, r.error,
                                   "delivered" if r.ok else outcome)  # type: ignore[arg-type]
                    for t, r in zip(todo, results, strict=True)]
        await self._finish(item, attempts, state)  # type: ignore[arg-type]

    async def _send_one(self, target: Target) -> DeliveryResult:
        if target.channel is None:
            return DeliveryResult(None, False, 0.0, target.error)
        pool = self._pools.setdefault(target.endpoint,
                                      asyncio.Semaphore(self.settings.per_channel_concurrency))
        timeout_s = getattr(target.channel, "timeout_s", 5.0) + _SAFETY_S
        async with pool:
            try:
                return await asyncio.wait_for(target.channel.send(target.notification), timeout=timeout_s)
            except TimeoutError:
                return DeliveryResult(None, False, timeout_s * 1000, f"no answer within {timeout_s:g} s")
            except Exception as exc:  # a channel must not raise; if one does, it is a failed attempt
                log.exception("channel %s raised", target.endpoint)
                return DeliveryResult(None, False, 0.0, f"{type(exc).__name__}: {exc}")

    async def _finish(self, item: outbox.Claimed, attempts: list[outbox.Attempt], state: str) -> None:
        now = self._clock()
        next_ms = now
        if state == "pending":
            next_ms = next_attempt_ms(item.attempts + 1, now, self.settings.backoff_base_s,
                                      self.settings.backoff_max_s, self.rng)
        await asyncio.to_thread(outbox.finish, self.runtime.store, item, attempts, now_ms=now,
                                state=state, next_attempt_ms=next_ms)  # type: ignore[arg-type]
        if state == "pending":
            self._schedule_wake(next_ms - now)

    def _schedule_wake(self, delay_ms: int) -> None:
        loop = self._loop
        if loop is not None and delay_ms < self.settings.poll_s * 1000:
            loop.call_later(max(delay_ms, 0) / 1000, self.wake)
