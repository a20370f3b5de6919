"""Group commit of small fix uploads: requests that wait while a batch is stored are stored together
in one ingest, and each still gets its own outcome (accepted, duplicates, refusals by its own index,
its own datum). Both backends."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import ecopatrol.fix_batcher as batcher_module
from ecopatrol.fix_batcher import BadTime, FixBatcher, FixRows, NotSquadUnits
from ecopatrol.ingest import IngestOutcome, ingest_fixes
from ecopatrol.runtime import Runtime
from ecopatrol.store import units_repo
from ecopatrol.store.schema import fixes as fixes_table
from geo.datum import wgs84_to_gcj02
from geo.schema import fix_frame
from tests.ecopatrol.helpers_layers import drive_along_river, load_small_county


@pytest.fixture
def county(runtime: Runtime, tmp_path: Path) -> Runtime:
    load_small_county(runtime, tmp_path / "layers")
    with runtime.store.write() as conn:
        for unit in ("car-1", "car-2", "car-3"):
            units_repo.upsert_unit(conn, unit, mode="vehicle", datum="wgs84", now_ms=runtime.now_ms())
    return runtime


def _fixes(runtime: Runtime, unit: str) -> pd.DataFrame:
    cols = drive_along_river(unit, start_ms=runtime.now_ms() - 3_600_000)
    return fix_frame(**cols, source="test", mode="")  # type: ignore[arg-type]


def _stored(runtime: Runtime) -> pd.DataFrame:
    with runtime.store.read() as conn:
        rows = conn.execute(sa.select(fixes_table.c.unit_id, fixes_table.c.time_ms, fixes_table.c.lon,
                                      fixes_table.c.lat)).fetchall()
    return pd.DataFrame(rows, columns=["unit_id", "time_ms", "lon", "lat"])


def test_requests_waiting_together_are_stored_in_one_ingest_each_with_its_own_outcome(
        county: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    car1, car2, car3 = (_fixes(county, u) for u in ("car-1", "car-2", "car-3"))
    outside = car3.iloc[[5]].assign(lon=100.0)  # far outside the county: refused
    lon_gcj, lat_gcj = wgs84_to_gcj02(car3["lon"].to_numpy(), car3["lat"].to_numpy())
    car3_gcj = car3.assign(lon=lon_gcj, lat=lat_gcj)
    requests: list[tuple[pd.DataFrame, str | None]] = [
        (car1.iloc[:1], None),                                  # the first: stored alone
        (car1.iloc[1:10], None),
        (car2.iloc[:10], None),
        (pd.concat([car2.iloc[5:6], car2.iloc[10:12]]), None),  # repeats a fix of the request before
        (pd.concat([car3.iloc[:3], outside]), None),            # its last fix is refused
        (car3_gcj.iloc[3:8], "gcj02"),                          # this one's phone speaks GCJ-02
    ]
    batcher = FixBatcher(county, group_commit_ms=0)
    gate = threading.Event()
    calls: list[int] = []

    def held(runtime: Runtime, fixes: pd.DataFrame, **kw: object) -> IngestOutcome:
        calls.append(len(fixes))
        if len(calls) == 1:
            assert gate.wait(30)  # the first batch is slow: the others pile up behind it
        return ingest_fixes(runtime, fixes, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(batcher_module, "ingest_fixes", held)
    outcomes: dict[int, IngestOutcome] = {}

    def send(i: int) -> None:
        outcomes[i] = batcher.store(*requests[i])

    first = threading.Thread(target=send, args=(0,))
    first.start()
    while not calls:
        time.sleep(0.01)
    others = [threading.Thread(target=send, args=(i,)) for i in range(1, len(requests))]
    for t in others:
        t.start()
    while batcher.waiting < len(others):  # all of them are waiting behind the first batch
        time.sleep(0.01)
    gate.set()
    for t in [first, *others]:
        t.join(30)

    assert calls == [1, sum(len(f) for f, _ in requests[1:])]  # two ingests for six requests
    assert (batcher.batches, batcher.requests) == (2, 6)
    assert [(o.accepted, o.duplicates, len(o.rejected)) for o in (outcomes[i] for i in range(6))] == [
        (1, 0, 0), (9, 0, 0), (10, 0, 0), (2, 1, 0), (3, 0, 1), (5, 0, 0)]
    assert outcomes[4].rejected[0]["index"] == 3 and outcomes[4].rejected[0]["reason"] == "outside_area"
    stored = _stored(county).set_index(["unit_id", "time_ms"]).sort_index()
    assert len(stored) == 1 + 9 + 10 + 2 + 3 + 5
    # the GCJ-02 request was converted back to WGS-84 (within a metre), the others left alone
    expect = car3.iloc[:8].set_index(["unit_id", "time_ms"])
    got = stored.loc[expect.index]
    assert np.allclose(got["lon"], expect["lon"], atol=1e-5)
    assert np.allclose(got["lat"], expect["lat"], atol=1e-5)


def test_an_idle_batcher_stores_a_lone_request_at_once(county: Runtime) -> None:
    batcher = FixBatcher(county, group_commit_ms=5_000)
    started = time.monotonic()
    outcome = batcher.store(_fixes(county, "car-1").iloc[:4])
    assert (outcome.accepted, batcher.batches) == (4, 1)
    assert time.monotonic() - started < 2.5  # not held back by the (long) group interval
    again = batcher.store(_fixes(county, "car-1").iloc[:4])
    assert (again.accepted, again.duplicates) == (0, 4)


def test_after_a_batch_of_several_requests_the_batcher_rests_and_the_next_ones_wait_together(
        county: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    batcher = FixBatcher(county, group_commit_ms=400)
    fixes = _fixes(county, "car-1")
    gate = threading.Event()
    calls: list[tuple[float, float, int]] = []  # (start, end, fixes)

    def timed(runtime: Runtime, frame: pd.DataFrame, **kw: object) -> IngestOutcome:
        started = time.monotonic()
        if not calls:
            assert gate.wait(30)  # the first batch is held while two more requests arrive
        outcome = ingest_fixes(runtime, frame, **kw)  # type: ignore[arg-type]
        if len(calls) == 1:
            time.sleep(0.3)  # the batch of two "takes" 0.3 s: the thread then rests 0.4 s (the cap)
        calls.append((started, time.monotonic(), len(frame)))
        return outcome

    monkeypatch.setattr(batcher_module, "ingest_fixes", timed)
    first = batcher.submit(fixes.iloc[:1])
    while batcher.waiting:
        time.sleep(0.01)
    pair = [batcher.submit(fixes.iloc[i:i + 1]) for i in (1, 2)]
    gate.set()
    while len(calls) < 2:
        time.sleep(0.01)
    rest = [batcher.submit(fixes.iloc[i:i + 1]) for i in range(3, 13)]  # while the thread rests
    assert [f.result(30).accepted for f in [first, *pair, *rest]] == [1] * 13
    assert [n for _, _, n in calls] == [1, 2, 10]  # the lone one did not rest; the ten waited together
    assert calls[2][0] - calls[1][1] >= 0.35


def test_a_single_sender_is_never_held_back(county: Runtime) -> None:
    """One phone sending its queue request after request: each batch holds one request, so none waits
    for the group interval."""
    batcher = FixBatcher(county, group_commit_ms=5_000)
    fixes = _fixes(county, "car-1")
    started = time.monotonic()
    assert [batcher.store(fixes.iloc[i:i + 1]).accepted for i in range(5)] == [1] * 5
    assert time.monotonic() - started < 4.0  # one interval would be 5 s


def test_one_bad_request_does_not_fail_the_others_of_its_batch(county: Runtime,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    car1, car2 = _fixes(county, "car-1"), _fixes(county, "car-2")
    poison = car2.iloc[:2].astype({"time_ms": "float64"})  # a frame the pipeline refuses outright
    batcher = FixBatcher(county, group_commit_ms=0)
    gate = threading.Event()
    real = batcher_module.ingest_fixes

    def held(runtime: Runtime, fixes: pd.DataFrame, **kw: object) -> IngestOutcome:
        gate.wait(30)
        return real(runtime, fixes, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(batcher_module, "ingest_fixes", held)
    first = batcher.submit(car1.iloc[:1])
    while batcher.waiting:
        time.sleep(0.01)
    good, bad = batcher.submit(car1.iloc[1:5]), batcher.submit(poison)  # both wait for the first batch
    gate.set()
    assert first.result(30).accepted == 1
    assert good.result(30).accepted == 4  # stored, though its batch failed as a whole
    with pytest.raises(ValueError, match="time_ms"):
        bad.result(30)
    assert len(_stored(county)) == 5


def test_fix_rows_with_an_unreadable_time_or_another_squads_unit_are_refused_alone(county: Runtime) -> None:
    with county.store.write() as conn:
        units_repo.set_unit_squad(conn, "car-1", "sq1")
    now = county.now_ms() / 1000
    track = drive_along_river("car-1", start_ms=county.now_ms() - 60_000)
    lon, lat = float(track["lon"][0]), float(track["lat"][0])

    def rows(unit: str, times: list) -> FixRows:  # type: ignore[type-arg]
        n = len(times)
        return FixRows(unit_id=[unit] * n, time=times, lon=[lon] * n, lat=[lat] * n)

    batcher = FixBatcher(county, group_commit_ms=0)
    ok = batcher.submit(rows("car-1", [now - 30, now - 20]), squad_id="sq1")
    late = batcher.submit(rows("car-1", [now - 10, "yesterday-ish"]), squad_id="sq1")
    theirs = batcher.submit(rows("car-2", [now - 5]), squad_id="sq1")
    assert ok.result(30).accepted == 2
    with pytest.raises(BadTime) as bad_time:
        late.result(30)
    assert bad_time.value.index == 1
    with pytest.raises(NotSquadUnits) as not_ours:
        theirs.result(30)
    assert not_ours.value.unit_ids == ["car-2"]
    assert len(_stored(county)) == 2
