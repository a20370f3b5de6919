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
from ecopatrol.fix_batcher import FixBatcher
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
    batcher = FixBatcher(county)
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
    while len(batcher._waiting) < len(others):  # all of them are waiting behind the first batch
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
    batcher = FixBatcher(county)
    outcome = batcher.store(_fixes(county, "car-1").iloc[:4])
    assert (outcome.accepted, batcher.batches) == (4, 1)
    again = batcher.store(_fixes(county, "car-1").iloc[:4])
    assert (again.accepted, again.duplicates) == (0, 4)
