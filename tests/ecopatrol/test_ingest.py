"""The ingest pipeline against a real store (SQLite and PostgreSQL + PostGIS)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from ecopatrol.ingest import ingest_fixes
from ecopatrol.runtime import Runtime
from ecopatrol.store import coverage_repo, units_repo
from ecopatrol.store.schema import fixes as fixes_table
from geo.datum import wgs84_to_gcj02
from geo.schema import fix_frame
from tests.ecopatrol.helpers_layers import drive_along_river, load_small_county


@pytest.fixture
def county(runtime: Runtime, tmp_path: Path) -> Runtime:
    load_small_county(runtime, tmp_path / "layers")
    with runtime.store.write() as conn:
        for unit, mode, datum in [("car-1", "vehicle", "wgs84"), ("car-2", "vehicle", "wgs84"),
                                  ("phone-9", "foot", "gcj02")]:
            units_repo.upsert_unit(conn, unit, mode=mode, datum=datum, now_ms=runtime.now_ms())
    return runtime


def _drive(runtime: Runtime, unit: str, **kw: object) -> pd.DataFrame:
    cols = drive_along_river(unit, start_ms=runtime.now_ms() - 3_600_000, **kw)  # type: ignore[arg-type]
    return fix_frame(**cols, source="test", mode="")


def _coverage(runtime: Runtime, unit: str) -> pd.DataFrame:
    with runtime.store.read() as conn:
        rows = coverage_repo.load_contributions(conn)
    rows = rows[rows["unit_id"] == unit].drop(columns=["unit_id"])
    return rows.sort_values(["kind", "feature_id", "day"]).reset_index(drop=True)


def _count(runtime: Runtime) -> int:
    with runtime.store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(fixes_table)).scalar_one()


def test_sparse_vehicle_fixes_cover_every_reach_they_pass(county: Runtime) -> None:
    outcome = ingest_fixes(county, _drive(county, "car-1", step_m=150))
    assert outcome.accepted > 20 and not outcome.rejected
    covered = set(_coverage(county, "car-1").query("kind == 'reach'")["feature_id"])
    reaches = set(county.layer_index().layers.reaches["reach_id"])
    assert covered == reaches  # the drive spans the whole river, 150 m fixes leave no reach out


def test_resending_changes_nothing(county: Runtime) -> None:
    batch = _drive(county, "car-1")
    first = ingest_fixes(county, batch)
    before = _coverage(county, "car-1")
    again = ingest_fixes(county, batch)
    assert again.accepted == 0 and again.duplicates == first.accepted
    assert _count(county) == first.accepted
    pd.testing.assert_frame_equal(_coverage(county, "car-1"), before)


def test_out_of_order_batches_give_the_same_coverage_as_one(county: Runtime) -> None:
    whole = _drive(county, "car-1")
    ingest_fixes(county, whole)
    other = whole.assign(unit_id="car-2")
    ingest_fixes(county, other.iloc[::2])   # a phone sends every other fix first ...
    ingest_fixes(county, other.iloc[1::2])  # ... and the rest after it regains signal
    a, b = _coverage(county, "car-1"), _coverage(county, "car-2")
    assert list(a["feature_id"]) == list(b["feature_id"])
    np.testing.assert_allclose(a["km"], b["km"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(a["hours"], b["hours"], rtol=1e-9, atol=1e-9)


def test_bad_fixes_are_refused_with_reasons(county: Runtime) -> None:
    now = county.now_ms()
    frame = fix_frame(unit_id=["car-1", "car-1", "car-1", "car-1", "nobody"],
                      time_ms=[now + 3_600_000, -2_177_452_800_000, now - 1000, now - 2000, now - 3000],
                      lon=[120.72, 120.72, 100.0, 120.72, 120.72], lat=[28.80, 28.80, 28.80, 28.80, 28.80],
                      source="test", mode="")
    outcome = ingest_fixes(county, frame)
    reasons = {r["index"]: r["reason"] for r in outcome.rejected}
    assert reasons == {0: "future_time", 1: "absurd_time", 2: "outside_area", 4: "unknown_unit"}
    assert outcome.accepted == 1


def test_gcj02_unit_is_stored_in_wgs84(county: Runtime) -> None:
    lon, lat = np.array([120.72]), np.array([28.805])
    glon, glat = wgs84_to_gcj02(lon, lat)
    frame = fix_frame(unit_id=["phone-9"], time_ms=[county.now_ms() - 1000], lon=glon, lat=glat,
                      source="test", mode="")
    assert ingest_fixes(county, frame).accepted == 1
    with county.store.read() as conn:
        row = conn.execute(sa.select(fixes_table.c.lon, fixes_table.c.lat, fixes_table.c.mode)).one()
    assert abs(row.lon - lon[0]) * 97_000 < 1 and abs(row.lat - lat[0]) * 111_000 < 1
    assert row.mode == "foot"


def test_fixes_are_placed_on_reach_cell_and_township(county: Runtime) -> None:
    now = county.now_ms()
    frame = fix_frame(unit_id=["car-1", "car-1"], time_ms=[now - 600_000, now - 1000],
                      lon=[120.71, 120.77], lat=[28.8002, 28.82], source="test", mode="")
    ingest_fixes(county, frame)
    with county.store.read() as conn:
        rows = conn.execute(sa.select(fixes_table).order_by(fixes_table.c.time_ms)).fetchall()
    assert rows[0].reach_id is not None and rows[0].cell_id is None and rows[0].township == "西乡"
    assert rows[1].reach_id is None and rows[1].cell_id is not None and rows[1].township == "东乡"


@pytest.mark.parametrize("source", ["it's", "车载'); DROP TABLE fixes; --"])
def test_values_written_into_the_insert_statement_come_back_exactly(county: Runtime, source: str) -> None:
    """The SQLite insert writes values shared by a whole batch into its statement: quotes and
    non-ASCII text must survive that, and rows with missing values must stay NULL."""
    batch = _drive(county, "car-1").iloc[:30].assign(source=source)
    batch.loc[batch.index[:10], "accuracy_m"] = 7.5
    assert ingest_fixes(county, batch).accepted == 30
    with county.store.read() as conn:
        rows = conn.execute(sa.select(fixes_table.c.source, fixes_table.c.accuracy_m)
                            .order_by(fixes_table.c.time_ms)).fetchall()
    assert {r.source for r in rows} == {source}
    assert [r.accuracy_m for r in rows][:11] == [7.5] * 10 + [None]


@pytest.mark.parametrize("array_rows", [10_000, 0])
def test_both_postgresql_insert_paths_store_the_same_rows(county: Runtime, array_rows: int,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL takes an upload's batch as one INSERT of arrays and a large file by COPY (here
    forced with a limit of 0): the same rows come back, NULLs and text intact, resends ignored."""
    from ecopatrol.store import fixes_repo

    monkeypatch.setattr(fixes_repo, "_ARRAY_INSERT_ROWS", array_rows)
    batch = _drive(county, "car-1").iloc[:30].assign(source="车载'x")
    batch.loc[batch.index[:10], "accuracy_m"] = 7.5
    for _ in range(2):
        ingest_fixes(county, batch)
    with county.store.read() as conn:
        rows = conn.execute(sa.select(fixes_table).order_by(fixes_table.c.time_ms)).fetchall()
    assert len(rows) == 30
    assert [r.time_ms for r in rows] == sorted(batch["time_ms"].tolist())
    assert [r.accuracy_m for r in rows][:11] == [7.5] * 10 + [None]
    assert {r.source for r in rows} == {"车载'x"} and not any(r.outlier for r in rows)
    assert all(r.reach_id is not None for r in rows[:5]) and all(r.battery_pct is None for r in rows)
