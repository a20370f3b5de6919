"""The ingest pipeline: units → datum → clean → (store lock) dedupe → place → persist → coverage.

One function, ``ingest_fixes``, serves every source (HTTP batch, phone protocols, files, simulator).
Everything stored and the coverage it adds are committed in one transaction before it returns, so a
caller acknowledges only durable data. Resending a fix (same unit and time) changes nothing.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from ecopatrol.runtime import Runtime
from ecopatrol.store import coverage_repo, fixes_repo, units_repo
from ecopatrol.windows import utc_offset_hours
from geo.cleaning import clean_fixes
from geo.datum import to_wgs84
from geo.increment import coverage_delta
from geo.placement import to_metric
from geo.schema import check_fixes

_OVERLAP_ROWS = 5_000  # below this, a second thread costs more than it saves


@dataclass
class IngestOutcome:
    """What happened to a batch: counts, and every refused fix with its reason."""

    accepted: int = 0
    duplicates: int = 0
    outliers: int = 0
    rejected: list[dict[str, object]] = field(default_factory=list)
    coverage_rows: int = 0
    stored_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # input rows newly stored
    outlier_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # ... of them outliers

    def to_dict(self) -> dict[str, object]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "outliers": self.outliers,
                "rejected": self.rejected, "coverage_rows": self.coverage_rows}


def ingest_fixes(runtime: Runtime, fixes: pd.DataFrame, *, datum: str | None = None,
                 auto_register: bool | None = None) -> IngestOutcome:
    """Store a batch of fixes (any units) and update coverage; return what was accepted and refused.

    ``datum`` applies to every fix; else an optional ``datum`` column per fix; else each unit's own."""
    check_fixes(fixes)
    now_ms = runtime.now_ms()
    outcome = IngestOutcome()
    frame = fixes.reset_index(drop=True).copy()
    frame["row"] = np.arange(len(frame))
    frame, refused = _resolve_units(runtime, frame, now_ms=now_ms, auto_register=auto_register)
    frame = _to_wgs84(frame, datum)
    with runtime.store.write() as conn:
        _lock_units(conn, frame["unit_id"].unique().tolist())
        window = fixes_repo.stored_window(conn, _windows(frame),
                                          pad_ms=int(runtime.settings.ingest.max_gap_s * 1000))
        accepted, cleaning_refused = _clean(runtime, frame, window, now_ms=now_ms)
        rejected = pd.concat([refused, cleaning_refused], ignore_index=True)
        if len(accepted):
            _persist(runtime, conn, accepted, window, now_ms=now_ms, outcome=outcome)
        fixes_repo.insert_rejected(conn, rejected, now_ms)
    outcome.rejected = _rejections(rejected)
    return outcome


def _resolve_units(runtime: Runtime, frame: pd.DataFrame, *, now_ms: int,
                   auto_register: bool | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fill each fix's mode and datum from its unit; refuse fixes of unknown units."""
    ids = frame["unit_id"].astype(str).unique().tolist()
    with runtime.store.read() as conn:
        known = units_repo.get_units(conn, ids)
    missing = [u for u in ids if u not in known]
    allow = runtime.settings.ingest.allow_auto_register if auto_register is None else auto_register
    if missing and allow:
        mode = runtime.settings.ingest.auto_register_mode
        with runtime.store.write() as conn:
            for unit_id in missing:
                known[unit_id] = units_repo.upsert_unit(conn, unit_id, mode=mode, now_ms=now_ms,
                                                        datum=runtime.settings.ingest.default_datum)
        missing = []
    unknown = frame["unit_id"].isin(missing)
    refused = frame[unknown].assign(reason="unknown_unit")
    frame = frame[~unknown].copy()
    unit_mode = frame["unit_id"].map({u: k.mode for u, k in known.items()})
    given = frame["mode"].fillna("").astype(str)
    frame["mode"] = given.where(given != "", unit_mode)
    unit_datum = frame["unit_id"].map({u: k.datum for u, k in known.items()})
    if "datum" in frame.columns:
        declared = frame["datum"].fillna("").astype(str)
        frame["datum"] = declared.where(declared != "", unit_datum)
    else:
        frame["datum"] = unit_datum
    return frame, refused


def _to_wgs84(frame: pd.DataFrame, datum: str | None) -> pd.DataFrame:
    if datum is not None:
        frame["datum"] = datum
    for name, idx in frame.groupby("datum").groups.items():
        if name == "wgs84":
            continue
        lon, lat = to_wgs84(frame.loc[idx, "lon"].to_numpy(), frame.loc[idx, "lat"].to_numpy(), str(name))
        frame.loc[idx, "lon"] = lon
        frame.loc[idx, "lat"] = lat
    return frame.drop(columns=["datum"])


def _clean(runtime: Runtime, frame: pd.DataFrame, window: pd.DataFrame, *,
           now_ms: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Refuse impossible fixes; flag speed outliers against the stored fix just before each unit's batch."""
    ingest = runtime.settings.ingest
    bounds = runtime.layer_index().bounds_lonlat
    result = clean_fixes(frame, now_ms=now_ms, bounds_lonlat=bounds,
                         margin_m=runtime.settings.deployment.margin_m, max_future_s=ingest.max_future_s,
                         max_speed_mps=ingest.max_speed_mps.model_dump(),
                         previous=_previous(window, frame))
    return result.accepted, result.rejected


def _previous(window: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Per unit, the last stored fix before the batch's first fix."""
    first = frame.groupby("unit_id")["time_ms"].min()
    before = window[window["time_ms"] < window["unit_id"].map(first).fillna(0).to_numpy()]
    return before.sort_values("time_ms").groupby("unit_id").tail(1)[["unit_id", "time_ms", "lon", "lat"]]


def _rejections(rejected: pd.DataFrame) -> list[dict[str, object]]:
    out = []
    for r in rejected.sort_values("row").itertuples(index=False):
        out.append({"index": int(r.row), "unit_id": str(r.unit_id),
                    "time_ms": None if pd.isna(r.time_ms) else int(r.time_ms), "reason": str(r.reason)})
    return out


def _lock_units(conn: Connection, unit_ids: list[str]) -> None:
    """On PostgreSQL, serialize concurrent batches of the same unit across processes (sorted: no deadlock)."""
    if conn.dialect.name != "postgresql" or not unit_ids:
        return
    # one statement for all units: unnest yields them in the (sorted) array's order, and each lock is
    # taken as its row is read
    conn.execute(text("SELECT count(pg_advisory_xact_lock(hashtext('ecopatrol.unit:' || u))) "
                      "FROM unnest(CAST(:units AS text[])) AS u"), {"units": sorted(unit_ids)})


def _persist(runtime: Runtime, conn: Connection, frame: pd.DataFrame, window: pd.DataFrame, *,
             now_ms: int, outcome: IngestOutcome) -> None:
    """Drop stored duplicates, place, insert and add the coverage the new fixes bring."""
    settings = runtime.settings
    crs = settings.deployment.metric_crs
    stored = pd.MultiIndex.from_frame(window[["unit_id", "time_ms"]])
    is_dup = pd.MultiIndex.from_frame(frame[["unit_id", "time_ms"]]).isin(stored)
    outcome.duplicates = int(is_dup.sum())
    new = frame[~is_dup].copy()
    if new.empty:
        return
    new["x_m"], new["y_m"] = to_metric(new["lon"].to_numpy(), new["lat"].to_numpy(), crs)
    window = window.copy()
    window["x_m"], window["y_m"] = to_metric(window["lon"].to_numpy(), window["lat"].to_numpy(), crs)
    outcome.outliers = int(new["outlier"].sum())
    index = runtime.layer_index()
    sweep = settings.ingest.sweep_width_m.model_dump()
    placed = index.placer.place(new["x_m"].to_numpy(), new["y_m"].to_numpy(),
                                new["mode"].map(sweep).to_numpy(dtype=float))
    new["reach_id"] = placed["reach_id"].to_numpy()
    new["cell_id"] = placed["cell_id"].to_numpy()
    new["township"] = placed["township"].to_numpy()
    new["received_ms"] = now_ms
    # The database writes the fixes while this thread sweeps their segments (SQLite and psycopg both
    # release the GIL while the database works); the connection is used by one thread at a time.
    with ThreadPoolExecutor(1) as pool:
        inserted = pool.submit(fixes_repo.insert_fixes, conn, new) if len(new) >= _OVERLAP_ROWS else None
        delta = coverage_delta(window, new, index.placer, sweep_width_m=sweep,
                               max_gap_s=settings.ingest.max_gap_s, max_jump_m=settings.ingest.max_jump_m,
                               day_offset_hours=utc_offset_hours(settings.deployment.timezone, now_ms))
        outcome.accepted = inserted.result() if inserted else fixes_repo.insert_fixes(conn, new)
    outcome.stored_rows = new["row"].to_numpy(dtype=np.int64)
    outcome.outlier_rows = new.loc[new["outlier"].to_numpy(dtype=bool), "row"].to_numpy(dtype=np.int64)
    outcome.coverage_rows = coverage_repo.add_contributions(conn, delta)


def _windows(frame: pd.DataFrame) -> pd.DataFrame:
    """Per unit, the batch's first and last time."""
    ranges = frame.groupby("unit_id")["time_ms"].agg(["min", "max"]).reset_index()
    return pd.DataFrame({"unit_id": ranges["unit_id"], "t0_ms": ranges["min"], "t1_ms": ranges["max"]})


def warm_up(runtime: Runtime) -> None:
    """Build the placer's lookup tables now, by placing and sweeping a short made-up track of each mode
    (nothing is stored): they are made on first use, which on a county takes seconds, and the first
    uploads after a start would wait for them."""
    index = runtime.layer_index()
    reaches = index.layers.reaches
    if len(reaches) == 0:
        return
    settings = runtime.settings.ingest
    middle = reaches.geometry.iloc[0].interpolate(0.5, normalized=True)
    sweep = settings.sweep_width_m.model_dump()
    empty = pd.DataFrame({"unit_id": pd.Series(dtype=object), "time_ms": pd.Series(dtype="int64"),
                          "x_m": pd.Series(dtype=float), "y_m": pd.Series(dtype=float),
                          "mode": pd.Series(dtype=object), "outlier": pd.Series(dtype=bool)})
    for mode, width in sweep.items():
        x, y = middle.x + np.array([0.0, 20.0, 40.0]), np.full(3, middle.y)
        index.placer.place(x, y, np.full(3, float(width)))
        track = pd.DataFrame({"unit_id": "warm-up", "time_ms": np.array([0, 10_000, 20_000], dtype=np.int64),
                              "x_m": x, "y_m": y, "mode": mode, "outlier": False})
        coverage_delta(empty, track, index.placer, sweep_width_m=sweep, max_gap_s=settings.max_gap_s,
                       max_jump_m=settings.max_jump_m, day_offset_hours=0)
