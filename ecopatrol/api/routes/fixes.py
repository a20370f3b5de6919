"""Batches of fixes from apps and vehicle trackers, and a unit's stored fixes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from ecopatrol.api.deps import FixSender, Reader, RuntimeDep
from ecopatrol.api.errors import ApiError, not_found, unprocessable
from ecopatrol.fix_batcher import MEASURES, BadTime, FixRows, NotSquadUnits, fix_batcher
from ecopatrol.runtime import Runtime
from ecopatrol.store import fixes_repo, units_repo
from ecopatrol.store.tokens_repo import Principal
from ecopatrol.windows import WindowError, since_ms

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


def _squad_of(principal: Principal, unit_ids: set[str]) -> str | None:
    """Who may post for which units: a device for its own unit, commanders for any, a squad for its
    squad's units (checked by the batcher with one lookup for the whole batch; its squad id here)."""
    if principal.role == "commander":
        return None
    if principal.role == "device":
        others = unit_ids - {principal.unit_id}
        if others:
            raise _forbidden_units(sorted(others))
        return None
    if not principal.squad_id:
        raise ApiError(403, ["header", "Authorization"], "this squad token names no squad", "forbidden")
    return principal.squad_id


def _forbidden_units(unit_ids: list[str]) -> ApiError:
    return ApiError(403, ["body", "fixes", "unit_id"],
                    f"this token may not send fixes for unit(s) {', '.join(unit_ids)}", "forbidden")


@router.post("/fixes")
async def post_fixes(batch: FixBatch, runtime: RuntimeDep, principal: FixSender) -> IngestResult:
    """Store a batch of fixes. Idempotent on (unit_id, time): resending is harmless."""
    return await store_batch(runtime, principal, batch)


async def store_batch(runtime: Runtime, principal: Principal, batch: FixBatch) -> IngestResult:
    """The work of ``POST /api/v1/fixes`` once the caller is known to send fixes (also called by the
    fast path, ``ecopatrol.api.fast_fixes``); problems are ``ApiError``s."""
    squad_id = _squad_of(principal, {f.unit_id for f in batch.fixes})
    try:
        outcome = await fix_batcher(runtime).store_async(_rows(batch), batch.datum, squad_id=squad_id)
    except BadTime as exc:
        raise unprocessable(["body", "fixes", exc.index, "time"], "not a time") from None
    except NotSquadUnits as exc:
        raise _forbidden_units(exc.unit_ids) from None
    if outcome.accepted == 0 and outcome.duplicates == 0:
        raise ApiError(422, ["body", "fixes"], _why_all_refused(outcome.rejected), "all_rejected")
    return IngestResult(**outcome.to_dict())


def _rows(batch: FixBatch) -> FixRows:
    """The batch as plain columns (the batcher builds one frame for many requests)."""
    fixes = batch.fixes
    for i, f in enumerate(fixes):
        if isinstance(f.time, datetime) and f.time.tzinfo is None:
            raise unprocessable(["body", "fixes", i, "time"], "a time needs a zone (e.g. +08:00 or Z)")
    return FixRows(unit_id=[f.unit_id for f in fixes],
                   time=[f.time.isoformat() if isinstance(f.time, datetime) else f.time for f in fixes],
                   lon=[f.lon for f in fixes], lat=[f.lat for f in fixes],
                   measures={name: [getattr(f, name) for f in fixes] for name in MEASURES},
                   mode=[f.mode or "" for f in fixes], source=batch.source)


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
