"""``GET /api/v1/stats`` — the numbers of the commander's review, as JSON (the same as ``/review``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from ecopatrol.api.deps import RuntimeDep
from ecopatrol.api.errors import unprocessable
from ecopatrol.api.routes.maps import SINCE_HELP, BrowserCommander
from ecopatrol.review_data import ReviewQueryError
from ecopatrol.stats_service import review_stats

router = APIRouter(prefix="/api/v1/stats", tags=["review"])


@router.get("")
def get_stats(
    runtime: RuntimeDep,
    _: BrowserCommander,
    since: Annotated[str, Query(description=SINCE_HELP)] = "7d",
    township: Annotated[str | None, Query(max_length=128)] = None,
    squad: Annotated[str | None, Query(max_length=100)] = None,
    mode: Literal["vehicle", "foot", "boat"] | None = None,
    top: Annotated[int, Query(ge=1, le=500, description="most overdue reaches and cells listed")] = 10,
) -> dict[str, Any]:
    """River length and forest area covered (%) by mode, squad and township; km and hours patrolled;
    reports by category and status; response times (p50/p90) against the 3-minute triage and 5-minute
    assignment targets; the yellow/red overdue list; the most overdue reaches and cells."""
    try:
        return review_stats(
            runtime, since, township=township or None, squad=squad or None, mode=mode, top=top
        )
    except ReviewQueryError as exc:
        raise unprocessable(["query", "since"], str(exc)) from None
