"""Batches of fixes from apps and vehicle trackers, and a unit's stored fixes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from ecopatrol.api.deps import FixSender, Reader, RuntimeDep
from ecopatrol.api.errors import ApiError, not_found, unprocessable
from ecopatrol.fix_batcher import fix_batcher
from ecopatrol.store import fixes_repo, units_repo
from ecopatrol.store.tokens_repo import Principal
from ecopatrol.windows import WindowError, since_ms
from geo.schema import fix_frame
from geo.tracks._time import times_to_ms

router = APIRouter(prefix="/api/v1", tags=["fixes"])
MAX_BATCH = 100_000
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # no control characters (PostgreSQL text cannot hold NUL)


class FixIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit_id: str = Field(min_length=1, max_length=64, pattern=_PRINTABLE)
    time: datetime | float = Field(description="ISO-8601 with zone, or epoch seconds / milliseconds")
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    accuracy_m: float | None = Field(None, ge=0, allow_inf_nan=False)
    speed_mps: float | None = Field(None, ge=0, allow_inf_nan=False)
    bearing_deg: float | None = Field(None, allow_inf_nan=False)
    altitude_m: float | None = Field(None, allow_inf_nan=False)
    battery_pct: float | None = Field(None, ge=0, le=100)
    mode: Literal["vehicle", "foot", "boat"] | None = None


class FixBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    datum: Literal["wgs84", "gcj02", "cgcs2000"] | None = Field(
        None, description="datum of every fix in the batch (default: each unit's declared datum)")
    source: str = Field("api", max_length=32, pattern=_PRINTABLE)
    fixes: list[FixIn] = Field(min_length=1, max_length=MAX_BATCH)


class IngestResult(BaseModel):
    accepted: int = Field(description="fixes newly stored")
    duplicates: int = Field(description="fixes already stored (resends change nothing)")
    outliers: int = Field(description="stored but excluded from coverage (impossible speed)")
    rejected: list[dict] = Field(description="refused fixes: index in the batch, unit_id, time_ms, reason")
    coverage_rows: int


def allowed_units(runtime: RuntimeDep, principal: Principal, unit_ids: set[str]) -> None:
    """A device posts for its own unit only; a squad for its squad's units; commanders for any."""
    if principal.role == "commander":
        return
    if principal.role == "device":
        others = unit_ids - {principal.unit_id}
    else:
        if not principal.squad_id:
            raise ApiError(403, ["header", "Authorization"], "this squad token names no squad", "forbidden")
        with runtime.store.read() as conn:
            units = units_repo.get_units(conn, sorted(unit_ids))
        others = {u for u in unit_ids if u not in units or units[u].squad_id != principal.squad_id}
    if others:
        raise ApiError(403, ["body", "fixes", "unit_id"],
                       f"this token may not send fixes for unit(s) {', '.join(sorted(others))}", "forbidden")


@router.post("/fixes")
def post_fixes(batch: FixBatch, runtime: RuntimeDep, principal: FixSender) -> IngestResult:
    """Store a batch of fixes. Idempotent on (unit_id, time): resending is harmless."""
    allowed_units(runtime, principal, {f.unit_id for f in batch.fixes})
    frame = _frame(batch)
    outcome = fix_batcher(runtime).store(frame, datum=batch.datum)
    if outcome.accepted == 0 and outcome.duplicates == 0:
        raise ApiError(422, ["body", "fixes"], _why_all_refused(outcome.rejected), "all_rejected")
    return IngestResult(**outcome.to_dict())


def _frame(batch: FixBatch) -> pd.DataFrame:
    times = [f.time.isoformat() if isinstance(f.time, datetime) else f.time for f in batch.fixes]
    naive = [i for i, f in enumerate(batch.fixes) if isinstance(f.time, datetime) and f.time.tzinfo is None]
    if naive:
        raise unprocessable(["body", "fixes", naive[0], "time"], "a time needs a zone (e.g. +08:00 or Z)")
    time_ms, ok = times_to_ms(pd.Series(times, dtype=object))
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        raise unprocessable(["body", "fixes", bad, "time"], "not a time")

    def col(name: str) -> np.ndarray:
        return np.array([getattr(f, name) if getattr(f, name) is not None else np.nan for f in batch.fixes],
                        dtype=float)

    return fix_frame(unit_id=[f.unit_id for f in batch.fixes], time_ms=time_ms, lon=col("lon"),
                     lat=col("lat"), accuracy_m=col("accuracy_m"), speed_mps=col("speed_mps"),
                     bearing_deg=col("bearing_deg"), altitude_m=col("altitude_m"),
                     battery_pct=col("battery_pct"), source=batch.source,
                     mode=[f.mode or "" for f in batch.fixes])


def _why_all_refused(rejected: list[dict]) -> str:
    reasons = pd.Series([r["reason"] for r in rejected]).value_counts()
    return "no fix was accepted: " + ", ".join(f"{n} {r}" for r, n in reasons.items())


@router.get("/units/{unit_id}/fixes")
def unit_fixes(unit_id: str, runtime: RuntimeDep, principal: Reader,
               since: Annotated[str, Query(description="24h, 7d or an ISO-8601 time")] = "24h",
               limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000) -> dict:
    """A unit's stored fixes since a time, as a GeoJSON FeatureCollection of points."""
    try:
        start = since_ms(since, now_ms=runtime.now_ms())
    except WindowError as exc:
        raise unprocessable(["query", "since"], str(exc)) from None
    with runtime.store.read() as conn:
        unit = units_repo.get_unit(conn, unit_id)
        if unit is None or (principal.role == "squad"
                            and (not principal.squad_id or unit.squad_id != principal.squad_id)):
            raise not_found(["path", "unit_id"], f"no unit {unit_id!r}")  # a squad sees its own units
        frame = fixes_repo.unit_fixes(conn, unit_id, since_ms=start, limit=limit)
    return {"type": "FeatureCollection", "features": [_feature(r) for r in frame.to_dict("records")]}


def _feature(row: dict) -> dict:
    props = {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()
             if k not in ("lon", "lat")}
    props["time"] = pd.Timestamp(row["time_ms"], unit="ms", tz="UTC").isoformat()
    props["outlier"] = bool(row["outlier"])
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
            "properties": props}
