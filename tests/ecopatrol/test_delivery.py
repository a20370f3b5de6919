"""The outbox worker against real HTTP receivers on 127.0.0.1: signed webhooks, ntfy pushes, retries
with backoff, timeouts, a hanging channel that never delays another, dead rows, resends, restarts,
escalations to people, and the ``[channels]`` configuration."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

import ecopatrol.store.live_schema
import ecopatrol.store.reports_schema  # noqa: F401  (tables on the shared metadata, for TRUNCATE)
from alerts.channels import verify
from alerts.channels.webhook import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER
from alerts.model import Alert, AlertState, Evidence, Notification, Recipient, RecipientKind, Severity
from alerts.reasons import NotificationEvent
from ecopatrol.alerting import repo
from ecopatrol.alerting.service import alerting_config
from ecopatrol.config import ConfigError
from ecopatrol.delivery.config import DeliverySettings, parse_delivery_settings
from ecopatrol.delivery.worker import DeliveryWorker
from ecopatrol.runtime import Runtime, system_clock_ms
from ecopatrol.store import open_store
from ecopatrol.store.alerts_schema import outbox
from tests.alerts.loopback import LoopbackServer, Received, Script
from tests.ecopatrol.helpers_live import Server, build_app, commander_token

SECRET_ENV = "ECOPATROL_TEST_WEBHOOK_SECRET"
SECRET = "s3cret-for-tests"
ENVIRON = {SECRET_ENV: SECRET, "ECOPATROL_TEST_CHIEF_SECRET": "chief-secret"}


class TimedScript(Script):
    """A receiver script that also notes when each request arrived."""

    def __init__(self, actions: list[int | str], hang_s: float = 5.0) -> None:
        super().__init__(list(actions), hang_s=hang_s)
        self.times: list[float] = []

    def next(self, request: Received) -> int | str:
        self.times.append(time.monotonic())
        return super().next(request)


class OneRandom:
    """The jitter at its cap: waits are exactly the backoff bound, so they can be checked."""

    def random(self) -> float:
        return 1.0


@pytest.fixture
def live(runtime: Runtime) -> Runtime:
    runtime.clock = system_clock_ms  # real waits and real HTTP: real time
    return runtime


def make_alert(runtime: Runtime, alert_id: str = "al-1", *, squad_id: str = "sq1",
               severity: Severity = Severity.critical) -> Alert:
    now = runtime.now_ms()
    alert = Alert(id=alert_id, fingerprint=f"fp-{alert_id}", rule="firearm", kind="report", severity=severity,
                  labels={"severity": severity.value}, evidence=Evidence(report_ids=("1",)),
                  state=AlertState.open, created_ms=now, updated_ms=now, starts_ms=now, title_zh="枪声",
                  title_en="Shots", summary_zh="两声枪响", summary_en="two shots", lon=120.7, lat=28.8,
                  squad_id=squad_id)
    with runtime.store.write() as conn:
        repo.save_alerts(conn, created=[alert], stored_events={}, policies=alerting_config(runtime).policies,
                         now_ms=now)
    return alert


def queue(runtime: Runtime, alert: Alert, channel: str, *, n_id: str, recipient: Recipient | None = None,
          event: NotificationEvent = NotificationEvent.assigned) -> Notification:
    note = Notification(id=n_id, alert_id=alert.id, channel=channel,
                        recipient=recipient or Recipient(RecipientKind.squad, alert.squad_id or "sq1"),
                        event=event, severity=alert.severity, created_ms=runtime.now_ms(),
                        payload={"event": event.value, "title": alert.title_zh, "message": alert.summary_zh,
                                 "alert": {"id": alert.id, "squad_id": alert.squad_id}})
    with runtime.store.write() as conn:
        repo.queue_notifications(conn, [note])
    return note


def rows(runtime: Runtime) -> dict[str, Any]:
    with runtime.store.read() as conn:
        return {r.id: r for r in conn.execute(select(outbox)).fetchall()}


def settings_for(**channels: Any) -> DeliverySettings:
    base = {"backoff_base_s": 0.2, "backoff_max_s": 2.0, "poll_s": 0.05, "lease_s": 4.0, "max_attempts": 5}
    return parse_delivery_settings({**base, **channels})


def webhook(url: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "webhook", "url": url, "secret_env": SECRET_ENV, "timeout_s": 0.5, **extra}


def ntfy(url: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "ntfy", "base_url": url, "timeout_s": 0.5, **extra}


async def run_until(worker: DeliveryWorker, done: Callable[[], bool], timeout_s: float) -> float:
    """Run the worker until ``done()`` (checked every 20 ms) or the time is up; the seconds taken."""
    start = time.monotonic()
    await worker.start()
    try:
        while time.monotonic() - start < timeout_s:
            if await asyncio.to_thread(done):
                break
            await asyncio.sleep(0.02)
        return time.monotonic() - start
    finally:
        await worker.stop()


# ------------------------------------------------------------------------------------- webhooks


def test_a_webhook_is_signed_retried_with_backoff_and_logged(live: Runtime) -> None:
    script = TimedScript([503, 503])
    with LoopbackServer(script) as receiver:
        alert = make_alert(live)
        note = queue(live, alert, "webhook", n_id="n-1")
        worker = DeliveryWorker(live, settings_for(endpoints={"webhook": webhook(receiver.url)}),
                                rng=OneRandom(), environ=ENVIRON)  # type: ignore[arg-type]
        asyncio.run(run_until(worker, lambda: rows(live)["n-1"].state != "pending", 10))
    row = rows(live)["n-1"]
    assert row.state == "sent" and row.attempts == 3 and row.last_status_code == 200
    assert len(script.received) == 3
    for got in script.received:
        assert verify(SECRET, got.body, got.headers[SIGNATURE_HEADER])
        assert got.headers[DELIVERY_HEADER] == note.id and got.headers[EVENT_HEADER] == "alert.assigned"
        assert json.loads(got.body)["alert_id"] == alert.id
    assert not verify("another secret", script.received[0].body, script.received[0].headers[SIGNATURE_HEADER])
    gaps = [b - a for a, b in zip(script.times, script.times[1:], strict=False)]
    assert 0.18 <= gaps[0] < 0.9 and 0.38 <= gaps[1] < 1.2, gaps  # 0.2 s, then 0.4 s (cap, no jitter)
    with live.store.read() as conn:
        from ecopatrol.delivery.outbox import delivery_log
        (entry,) = delivery_log(conn, alert.id)
    assert [(a["status_code"], a["outcome"]) for a in entry["log"]] == [
        (503, "retry"), (503, "retry"), (200, "delivered")]
    assert all(a["latency_ms"] >= 0 for a in entry["log"]) and "503" in entry["log"][0]["error"]


def test_a_hanging_channel_never_delays_another(live: Runtime) -> None:
    hanging = TimedScript(["hang"] * 100, hang_s=5)
    healthy = TimedScript([])
    with LoopbackServer(hanging) as slow, LoopbackServer(healthy) as fast:
        alert = make_alert(live)
        for i in range(12):
            queue(live, alert, "webhook", n_id=f"w-{i}")
            queue(live, alert, "ntfy", n_id=f"p-{i}")
        cfg = settings_for(endpoints={"webhook": webhook(slow.url), "ntfy": ntfy(fast.url)},
                           per_channel_concurrency=4, max_attempts=2)
        worker = DeliveryWorker(live, cfg, environ=ENVIRON)
        pushes_done: list[float] = []

        def pushes_sent() -> bool:
            current = rows(live)
            if not pushes_done and all(current[f"p-{i}"].state == "sent" for i in range(12)):
                pushes_done.append(time.monotonic())
            return all(current[f"w-{i}"].state == "dead" for i in range(12))

        started = time.monotonic()
        asyncio.run(run_until(worker, pushes_sent, 20))
        hanging.release.set()
    assert pushes_done and pushes_done[0] - started < 1.5, "the push channel waited for the webhook"
    assert len(healthy.received) == 12
    message = json.loads(healthy.received[0].body)
    assert message["topic"] == "ecopatrol-sq1" and message["priority"] == 5 and message["title"] == "枪声"
    current = rows(live)
    assert all(current[f"w-{i}"].state == "dead" and current[f"w-{i}"].attempts == 2 for i in range(12))
    assert "timeout" in (current["w-0"].last_error or "")


def test_a_refused_request_is_dead_at_once_and_a_resend_delivers_it(live: Runtime) -> None:
    script = TimedScript([404])
    with LoopbackServer(script) as receiver:
        boss = commander_token(live)
        alert = make_alert(live)
        queue(live, alert, "webhook", n_id="n-404")
        queue(live, alert, "stream", n_id="n-stream")
        app = build_app(live, delivery=False)
        from ecopatrol.delivery import install_delivery
        install_delivery(app, DeliveryWorker(live, settings_for(endpoints={"webhook": webhook(receiver.url)}),
                                             environ=ENVIRON))
        server = Server(app).start()
        try:
            auth = {"Authorization": f"Bearer {boss}"}
            _wait(lambda: rows(live)["n-404"].state == "dead", 5)
            assert rows(live)["n-404"].attempts == 1 and rows(live)["n-stream"].state == "sent"
            r = httpx.post(f"{server.url}/api/v1/alerts/{alert.id}/resend", headers=auth,
                           params={"channel": "webhook"})
            assert r.status_code == 200 and r.json() == {"alert_id": alert.id, "requeued": 1}
            _wait(lambda: rows(live)["n-404"].state == "sent", 5)
            log = httpx.get(f"{server.url}/api/v1/alerts/{alert.id}/deliveries", headers=auth).json()
            by_id = {d["id"]: d for d in log["deliveries"]}
            assert [a["outcome"] for a in by_id["n-404"]["log"]] == ["dead", "requeued", "delivered"]
            assert by_id["n-404"]["log"][0]["status_code"] == 404
            assert by_id["n-stream"]["log"][0]["outcome"] == "skipped"
            assert httpx.post(f"{server.url}/api/v1/alerts/nope/resend", headers=auth).status_code == 404
            squad = httpx.post(f"{server.url}/api/v1/alerts/{alert.id}/resend",
                               headers={"Authorization": "Bearer nope"})
            assert squad.status_code == 401
        finally:
            server.stop()
    assert len(script.received) == 2


def test_deliveries_survive_a_restart(live: Runtime) -> None:
    """One row is mid-delivery (its receiver hangs) and one is waiting to retry when the worker stops;
    a new worker on a new connection to the same database delivers both, each exactly once more."""
    script = TimedScript(["hang", 503], hang_s=3)
    with LoopbackServer(script) as receiver:
        alert = make_alert(live)
        cfg = settings_for(endpoints={"webhook": webhook(receiver.url, timeout_s=2.0)}, lease_s=5.5,
                           backoff_base_s=1.0)
        queue(live, alert, "webhook", n_id="first")

        async def first_life() -> None:
            worker = DeliveryWorker(live, cfg, environ=ENVIRON)
            await worker.start()
            await asyncio.sleep(0.3)  # "first" is hanging now
            queue(live, alert, "webhook", n_id="second")
            worker.wake()
            deadline = time.monotonic() + 5
            while rows(live)["second"].attempts == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            await worker.stop()  # the process dies

        asyncio.run(first_life())
        assert rows(live)["first"].state == "pending" and rows(live)["first"].attempts == 0
        assert rows(live)["second"].state == "pending" and rows(live)["second"].attempts == 1
        script.release.set()
        reborn = Runtime(settings=live.settings, store=open_store(live.store.engine.url.render_as_string(
            hide_password=False)), clock=system_clock_ms)
        try:
            worker = DeliveryWorker(reborn, cfg, environ=ENVIRON)
            asyncio.run(run_until(worker, lambda: all(r.state == "sent" for r in rows(live).values()), 15))
        finally:
            reborn.store.dispose()
    current = rows(live)
    assert current["first"].state == "sent" and current["second"].state == "sent"
    ids = [r.headers[DELIVERY_HEADER] for r in script.received]
    assert sorted(ids) == ["first", "first", "second", "second"]  # the hung try, the failed try, one each


# ------------------------------------------------------------------------- escalation, overrides


def test_escalations_reach_each_person_through_their_own_channels(live: Runtime) -> None:
    push, hook = TimedScript([]), TimedScript([])
    with LoopbackServer(push) as push_server, LoopbackServer(hook) as hook_server:
        alert = make_alert(live)
        cfg = settings_for(
            endpoints={"ntfy": ntfy(push_server.url), "webhook": webhook(push_server.url + "/center")},
            roles={"duty_commander": ["p-zhang", "p-li"], "station_chief": ["p-chief"]},
            people={"p-zhang": {"ntfy_topic": "ecopatrol-zhang"}, "p-li": {"ntfy_topic": "ecopatrol-li"},
                    "p-chief": {"webhook_url": hook_server.url + "/chief",
                                "webhook_secret_env": "ECOPATROL_TEST_CHIEF_SECRET"}})
        queue(live, alert, "ntfy", n_id="esc-1", recipient=Recipient(RecipientKind.role, "duty_commander"),
              event=NotificationEvent.escalated)
        queue(live, alert, "webhook", n_id="esc-2", recipient=Recipient(RecipientKind.role, "station_chief"),
              event=NotificationEvent.escalated)
        worker = DeliveryWorker(live, cfg, environ=ENVIRON)
        asyncio.run(run_until(worker, lambda: all(r.state == "sent" for r in rows(live).values()), 10))
    topics = sorted(json.loads(r.body)["topic"] for r in push.received)
    assert topics == ["ecopatrol-li", "ecopatrol-zhang"]
    (chief,) = hook.received
    assert chief.path == "/chief" and verify("chief-secret", chief.body, chief.headers[SIGNATURE_HEADER])
    assert json.loads(chief.body)["recipient"] == {"kind": "person", "id": "p-chief"}


def test_a_role_retry_skips_the_people_already_reached(live: Runtime) -> None:
    ok, failing = TimedScript([]), TimedScript([503])
    with LoopbackServer(ok) as a, LoopbackServer(failing) as b:
        alert = make_alert(live)
        cfg = settings_for(endpoints={"webhook": webhook(a.url)},
                           roles={"duty_commander": ["p-a", "p-b"]},
                           people={"p-a": {"webhook_url": a.url}, "p-b": {"webhook_url": b.url}})
        queue(live, alert, "webhook", n_id="esc", recipient=Recipient(RecipientKind.role, "duty_commander"))
        worker = DeliveryWorker(live, cfg, environ=ENVIRON)
        asyncio.run(run_until(worker, lambda: rows(live)["esc"].state == "sent", 10))
    assert len(ok.received) == 1 and len(failing.received) == 2  # p-a once, p-b failed then delivered


def test_squad_and_severity_overrides_pick_the_endpoint(live: Runtime) -> None:
    main, squad2 = TimedScript([]), TimedScript([])
    with LoopbackServer(main) as m, LoopbackServer(squad2) as s2:
        a1 = make_alert(live, "al-1", squad_id="sq1")
        a2 = make_alert(live, "al-2", squad_id="sq2")
        a3 = make_alert(live, "al-3", squad_id="sq1", severity=Severity.low)
        cfg = settings_for(endpoints={"webhook": webhook(m.url, by_squad={"sq2": {"url": s2.url}},
                                                         by_severity={"low": {"enabled": False}})})
        for alert in (a1, a2, a3):
            queue(live, alert, "webhook", n_id=f"n-{alert.id}")
        worker = DeliveryWorker(live, cfg, environ=ENVIRON)
        asyncio.run(run_until(worker, lambda: all(r.state == "sent" for r in rows(live).values()), 10))
    assert [json.loads(r.body)["alert_id"] for r in main.received] == ["al-1"]
    assert [json.loads(r.body)["alert_id"] for r in squad2.received] == ["al-2"]
    assert "disabled" in (rows(live)["n-al-3"].last_error or "")


def test_an_unconfigured_channel_or_missing_secret_is_reported(live: Runtime) -> None:
    alert = make_alert(live)
    queue(live, alert, "pager", n_id="n-pager")
    queue(live, alert, "webhook", n_id="n-nosecret")
    cfg = settings_for(endpoints={"webhook": webhook("http://127.0.0.1:9/")}, max_attempts=1)
    worker = DeliveryWorker(live, cfg, environ={})
    asyncio.run(run_until(worker, lambda: all(r.state == "dead" for r in rows(live).values()), 10))
    current = rows(live)
    assert "not configured" in current["n-pager"].last_error
    assert SECRET_ENV in current["n-nosecret"].last_error


# --------------------------------------------------------------------------------------- config


def test_channels_config_names_the_bad_key() -> None:
    with pytest.raises(ConfigError) as info:
        parse_delivery_settings({"endpoints": {"hook": {"kind": "webhook", "url": "http://x",
                                                        "secret_env": "abc def=="}}, "retries": 3})
    text = str(info.value)
    assert "channels.endpoints.hook.secret_env" in text and "NAME of an environment variable" in text
    assert "channels.retries" in text
    with pytest.raises(ConfigError, match=r"roles\.duty_commander"):
        parse_delivery_settings({"roles": {"duty_commander": ["p-1"]}})
    with pytest.raises(ConfigError, match="topic_template"):
        parse_delivery_settings({"endpoints": {"push": {"kind": "ntfy", "base_url": "http://x",
                                                        "topic_template": "t-{squad}"}}})
    assert parse_delivery_settings({}).endpoints == {}


def _wait(predicate: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout_s} s")


def test_racing_claims_never_lease_a_row_twice(live: Runtime) -> None:
    """Claiming is one compare-and-set for a whole batch: four claimers racing over 40 due rows lease
    each row exactly once, and once the leases run out every row is due again."""
    from concurrent.futures import ThreadPoolExecutor

    from ecopatrol.delivery import outbox as outbox_repo

    alert = make_alert(live)
    for i in range(40):
        queue(live, alert, "webhook", n_id=f"n{i:02d}")
    now = live.now_ms() + 1
    start = __import__("threading").Barrier(4)

    def claimer(_: int) -> list[str]:
        start.wait()
        got: list[str] = []
        for _ in range(20):
            got += [c.notification.id for c in outbox_repo.claim_due(live.store, now_ms=now, lease_ms=60_000,
                                                                     limit=3)]
        return got

    with ThreadPoolExecutor(4) as pool:
        claimed = [i for got in pool.map(claimer, range(4)) for i in got]
    assert sorted(claimed) == [f"n{i:02d}" for i in range(40)]  # every row once, none twice
    assert outbox_repo.claim_due(live.store, now_ms=now, lease_ms=60_000, limit=50) == []
    again = outbox_repo.claim_due(live.store, now_ms=now + 60_001, lease_ms=60_000, limit=50)
    assert len(again) == 40 and all(c.already_reached == frozenset() for c in again)
