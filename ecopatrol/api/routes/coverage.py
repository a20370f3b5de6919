"""Patrol coverage of river reaches and forest cells."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ecopatrol.api.deps import Reader, RuntimeDep
from ecopatrol.api.errors import unprocessable
from ecopatrol.coverage_service import CoverageQueryError, coverage_report, gaps_report

router = APIRouter(prefix="/api/v1/coverage", tags=["coverage"])


@router.get("")
def get_coverage(runtime: RuntimeDep, _: Reader,
                 since: Annotated[str, Query(description="24h, 7d, 30d or an ISO-8601 time")] = "7d") -> dict:
    """Share of river length and forest area patrolled, by mode, unit and township."""
    try:
        return coverage_report(runtime, since=since)
    except CoverageQueryError as exc:
        raise unprocessable(["query", "since"], str(exc)) from None


@router.get("/gaps")
def get_gaps(runtime: RuntimeDep, _: Reader,
             older_than_hours: Annotated[float, Query(gt=0, le=24 * 3650)] = 72,
             only_priority: bool = False,
             limit: Annotated[int, Query(ge=1, le=10_000)] = 500) -> dict:
    """Reaches and cells not patrolled within ``older_than_hours``, most overdue first."""
    return gaps_report(runtime, older_than_hours=older_than_hours, only_priority=only_priority, limit=limit)
