"""Report rules run after the answer, on the report worker, and nothing is lost in between: a report
committed by a process that died before its rules ran is alerted when the next worker starts; running
a report twice raises one alert. Both backends."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ecopatrol.alerting import service
from ecopatrol.alerting.report_queue import ReportAlertWorker
from ecopatrol.reports.tracking import normalize_code
from ecopatrol.runtime import Runtime
from ecopatrol.store.reports_schema import reports
from tests.ecopatrol.helpers_alerting import NIGHT_MS, Field, field_setup, settle


@pytest.fixture
def night(runtime: Runtime, tmp_path: Path) -> Iterator[Field]:
    yield from field_setup(runtime, tmp_path / "layers", NIGHT_MS)


def _post(f: Field, lon: float = 120.73) -> dict[str, Any]:
    body = {"category": "firearm", "observed_at": "2025-11-19T14:00:00Z", "description": "枪声",
            "location": {"type": "Point", "coordinates": [lon, 28.84]},
            "details": {"shots_heard": 2}}
    response = f.client.post("/api/v1/reports", json=body, headers=f.partner)
    assert response.status_code == 201, response.text
    return response.json()


def _alerted_ms(f: Field, report_id: int) -> int | None:
    with f.runtime.store.read() as conn:
        return conn.execute(sa.select(reports.c.alerted_ms).where(reports.c.id == report_id)).scalar_one()


def _report_id(f: Field, receipt: dict[str, Any]) -> int:
    with f.runtime.store.read() as conn:
        code = normalize_code(receipt["tracking_code"])
        return int(conn.execute(sa.select(reports.c.id).where(reports.c.tracking_code == code)).scalar_one())


def test_the_answer_comes_before_the_rules_and_the_alert_right_after(night: Field,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    real = service.on_reports_committed

    def gated(runtime: Runtime, report_ids: list[int]) -> Any:
        assert gate.wait(30)
        return real(runtime, report_ids)

    monkeypatch.setattr(service, "on_reports_committed", gated)
    receipt = _post(night)  # answered while the rules are held at the gate
    report_id = _report_id(night, receipt)
    assert _alerted_ms(night, report_id) is None
    assert night.alerts() == []
    gate.set()
    settle(night.client)
    (alert,) = night.alerts()
    assert str(report_id) in alert["evidence"]["report_ids"]
    assert _alerted_ms(night, report_id) == night.runtime.now_ms()


def test_a_report_left_pending_by_a_dead_process_is_alerted_at_the_next_start(
        night: Field, monkeypatch: pytest.MonkeyPatch) -> None:
    worker = night.client.app.state.report_alert_worker  # type: ignore[attr-defined]
    monkeypatch.setattr(service, "on_reports_committed", lambda runtime, report_ids: None)  # died first
    report_id = _report_id(night, _post(night))
    settle(night.client)
    assert _alerted_ms(night, report_id) is None and night.alerts() == []
    monkeypatch.undo()
    worker.stop()
    worker.start()  # a new process: the worker looks for reports whose rules never ran
    settle(night.client)
    (alert,) = night.alerts()
    assert str(report_id) in alert["evidence"]["report_ids"]
    assert _alerted_ms(night, report_id) is not None


def test_running_a_report_twice_raises_one_alert(night: Field) -> None:
    report_id = _report_id(night, _post(night))
    settle(night.client)
    with night.runtime.store.write() as conn:
        conn.execute(sa.update(reports).where(reports.c.id == report_id).values(alerted_ms=None))
    service.on_report_committed(night.runtime, report_id)  # as a second process, or a restart, would
    assert len(night.alerts()) == 1
    assert _alerted_ms(night, report_id) is not None


def test_reports_that_queue_up_are_evaluated_together_and_each_raises_its_alert(
        night: Field, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    calls: list[list[int]] = []
    real = service.on_reports_committed

    def gated(runtime: Runtime, report_ids: list[int]) -> Any:
        calls.append(list(report_ids))
        assert gate.wait(30)
        return real(runtime, report_ids)

    monkeypatch.setattr(service, "on_reports_committed", gated)
    ids = [_report_id(night, _post(night, 120.70))]
    deadline = time.monotonic() + 10
    while not calls and time.monotonic() < deadline:  # the worker holds the first at the gate
        time.sleep(0.01)
    ids += [_report_id(night, _post(night, lon)) for lon in (120.73, 120.76)]  # km apart
    gate.set()
    settle(night.client)
    assert calls == [ids[:1], ids[1:]]  # the first alone (the worker was idle), then the two that waited
    alerts = night.alerts()
    assert sorted(r for a in alerts for r in a["evidence"]["report_ids"]) == sorted(map(str, ids))
    assert all(_alerted_ms(night, i) is not None for i in ids)


def test_after_a_burst_the_worker_rests_and_the_next_reports_are_run_together(runtime: Runtime) -> None:
    runs: list[tuple[list[int], float, float]] = []  # (report ids, start, end)
    gate = threading.Event()

    def handle(ids: list[int]) -> None:
        started = time.monotonic()
        if not runs:
            assert gate.wait(30)  # the first run is held while two more reports queue up
        if len(runs) == 1:
            time.sleep(0.2)  # the burst of two "takes" 0.2 s: the worker then rests 0.3 s
        runs.append((ids, started, time.monotonic()))

    worker = ReportAlertWorker(runtime, handle, max_rest_s=1.0)
    worker.start()
    try:
        worker.submit(1)
        while not worker._queue.empty():
            time.sleep(0.01)
        worker.submit(2)
        worker.submit(3)
        gate.set()
        while len(runs) < 2:
            time.sleep(0.01)
        for report_id in (4, 5, 6):  # while it rests
            worker.submit(report_id)
        assert worker.wait_idle(10)
    finally:
        worker.stop()
    assert [ids for ids, _, _ in runs] == [[1], [2, 3], [4, 5, 6]]
    assert runs[2][1] - runs[1][2] >= 0.25  # rested about 1.5 × 0.2 s


def test_a_failed_run_is_tried_again_after_a_pause(runtime: Runtime) -> None:
    calls: list[tuple[list[int], float]] = []

    def handle(ids: list[int]) -> None:
        calls.append((ids, time.monotonic()))
        if len(calls) == 1:
            raise RuntimeError("the database is restarting")

    worker = ReportAlertWorker(runtime, handle)
    worker.start()
    try:
        worker.submit(7)
        deadline = time.monotonic() + 10
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        worker.stop()
    assert [ids for ids, _ in calls] == [[7], [7]]
    assert calls[1][1] - calls[0][1] >= 0.4  # after the first pause (0.5 s)
