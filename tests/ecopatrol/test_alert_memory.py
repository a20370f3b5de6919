"""The pipeline's memory of the open alerts (``context.AlertMemory``): after every committed run it
holds exactly what a fresh load from the store would give; a write it did not make (a person's action,
another process) makes the next run read the alerts written since (or everything, when the memory is
far behind)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecopatrol.alerting import context, repo, service
from ecopatrol.alerting.context import StoredAlerts
from ecopatrol.runtime import Runtime
from tests.ecopatrol.helpers_alerting import MIN_MS, NIGHT_MS, SNARE_SPOTS, Field, field_setup, minutes
from tests.ecopatrol.helpers_reports import IN_FOREST


@pytest.fixture
def night(runtime: Runtime, tmp_path: Path) -> Iterator[Field]:
    yield from field_setup(runtime, tmp_path / "layers", NIGHT_MS)


def _generation(runtime: Runtime) -> int:
    with runtime.store.read() as conn:
        return repo.generation(conn)


def _fresh(runtime: Runtime) -> StoredAlerts:
    since = runtime.now_ms() - context.lookback_ms(service.alerting_config(runtime))
    with runtime.store.read() as conn:
        return context._stored_state(conn, repo.generation(conn), since)


def assert_memory_is_the_store(runtime: Runtime) -> None:
    kept = service.alert_memory(runtime).recall(_generation(runtime))
    assert kept is not None, "the last run's state is not remembered"
    fresh = _fresh(runtime)
    assert list(kept.open_alerts) == list(fresh.open_alerts)  # same alerts, same order
    assert kept.open_alerts == fresh.open_alerts  # same fields and decision events
    assert kept.stored_events == fresh.stored_events
    assert kept.seq_offsets == fresh.seq_offsets
    since = runtime.now_ms() - context.lookback_ms(service.alerting_config(runtime))
    assert {fp: a.id for fp, a in kept.resolved.items() if (a.resolved_ms or 0) >= since} == \
        {fp: a.id for fp, a in fresh.resolved.items()}


def test_after_each_run_the_memory_equals_a_fresh_load(night: Field) -> None:
    night.report("firearm")
    assert_memory_is_the_store(night.runtime)
    night.report("firearm")  # joins the first alert: more evidence, new timeline events
    assert_memory_is_the_store(night.runtime)
    for spot in SNARE_SPOTS:  # singles, then a cluster that mutes them
        night.report("snare", spot=spot)
        assert_memory_is_the_store(night.runtime)
    (firearm,) = [a for a in night.alerts() if a["rule"].startswith("firearm")]
    squad = firearm["squad"]["id"]
    response = night.client.post(f"/api/v1/alerts/{firearm['id']}/decline",
                                 json={"reason": "busy_other_incident"}, headers=night.squad_tokens[squad])
    assert response.status_code == 200, response.text
    assert_memory_is_the_store(night.runtime)
    for step in range(1, 4):  # escalation ticks: overdue codes recorded on the timeline
        night.advance_to(NIGHT_MS + step * minutes(10))
        service.tick(night.runtime)
        assert_memory_is_the_store(night.runtime)
    assert len(_fresh(night.runtime).open_alerts) >= 2


def test_a_persons_action_makes_the_memory_step_aside(night: Field) -> None:
    night.report("firearm")
    before = _generation(night.runtime)
    assert service.alert_memory(night.runtime).recall(before) is not None
    (alert,) = night.alerts()
    squad = alert["squad"]["id"]
    response = night.client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=night.squad_tokens[squad])
    assert response.status_code == 200, response.text
    assert _generation(night.runtime) == before + 1  # acting wrote the alert, not through a run
    assert service.alert_memory(night.runtime).recall(_generation(night.runtime)) is None
    night.advance_to(night.runtime.now_ms() + MIN_MS)
    service.escalation_tick(night.runtime)  # loads the store again: the acknowledgement is seen
    assert_memory_is_the_store(night.runtime)
    (kept,) = service.alert_memory(night.runtime).recall(_generation(night.runtime)).open_alerts.values()
    assert kept.state.value == "acknowledged"


def test_another_processs_run_is_seen_by_the_next_run_here(night: Field) -> None:
    night.report("firearm")
    night.report("snare", spot=IN_FOREST)
    here = night.runtime
    there = Runtime(settings=here.settings, store=here.store, clock=here.clock)  # a second process
    (alert,) = night.alerts(rule="hunting-report")
    (firearm,) = [a for a in night.alerts() if a["rule"].startswith("firearm")]
    resolved = service.act(there, firearm["id"], "resolve", "test", outcome="not_found")
    declined = service.decline(there, alert["id"], alert["squad"]["id"], "busy_other_incident", "test")
    assert declined.squad_id != alert["squad"]["id"]
    assert service.alert_memory(here).recall(_generation(here)) is None  # here's memory is behind
    cfg, crs = service.alerting_config(here), here.settings.deployment.metric_crs
    with here.store.read() as conn:  # it is brought up to date with the one alert written since
        loaded = context.load_context(conn, cfg, crs, here.now_ms(), memory=service.alert_memory(here))
    assert loaded.source == "refreshed"
    fresh = _fresh(here)
    assert list(loaded.ctx.open_alerts) == list(fresh.open_alerts)  # the resolved one is gone
    assert loaded.ctx.open_alerts == fresh.open_alerts
    assert loaded.ctx.resolved_alerts[resolved.fingerprint].id == firearm["id"]
    assert (loaded.stored_events, loaded.seq_offsets) == (fresh.stored_events, fresh.seq_offsets)
    night.advance_to(here.now_ms() + MIN_MS)
    service.escalation_tick(here)
    assert_memory_is_the_store(here)
    (kept,) = service.alert_memory(here).recall(_generation(here)).open_alerts.values()
    assert kept.squad_id == declined.squad_id and kept.declined_squads == declined.declined_squads
    assert service.alert_memory(here).latest().resolved[resolved.fingerprint].id == firearm["id"]


def test_a_memory_far_behind_or_ahead_is_not_refreshed_but_reloaded(night: Field) -> None:
    night.report("firearm")
    memory = service.alert_memory(night.runtime)
    kept = memory.recall(_generation(night.runtime))
    assert kept is not None
    cfg, crs = service.alerting_config(night.runtime), night.runtime.settings.deployment.metric_crs
    for shift in (context.MAX_REFRESH_WRITES + 1, -1):
        memory.forget()
        memory.keep(dataclasses.replace(kept, generation=kept.generation - shift, open_alerts={}))
        with night.runtime.store.read() as conn:
            loaded = context.load_context(conn, cfg, crs, night.runtime.now_ms(), memory=memory)
        assert loaded.source == "store"
        assert loaded.ctx.open_alerts == _fresh(night.runtime).open_alerts
