"""An alert's deliveries: the log of every attempt, and a manual resend."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ecopatrol.api.deps import Commander, RuntimeDep, require
from ecopatrol.api.errors import ApiError, not_found
from ecopatrol.delivery import outbox
from ecopatrol.runtime import Runtime
from ecopatrol.store.alerts_schema import alerts
from ecopatrol.store.tokens_repo import Principal

router = APIRouter(prefix="/api/v1", tags=["alerts"])
AlertId = Annotated[str, Path(min_length=1, max_length=64)]
Reader = Annotated[Principal, Depends(require("squad"))]


class Requeued(BaseModel):
    alert_id: str
    requeued: int = Field(description="outbox rows made due now")


def _alert_squad(runtime: Runtime, alert_id: str) -> str | None:
    with runtime.store.read() as conn:
        row = conn.execute(alerts.select().with_only_columns(alerts.c.squad_id)
                           .where(alerts.c.id == alert_id)).first()
    if row is None:
        raise not_found(["path", "alert_id"], f"no alert {alert_id!r}")
    return row.squad_id


@router.get("/alerts/{alert_id}/deliveries")
def deliveries(alert_id: AlertId, runtime: RuntimeDep, principal: Reader) -> dict:
    """Every notification of the alert (channel, recipient, state) with each attempt: status code,
    latency, error, outcome (``delivered | retry | dead | skipped | requeued``)."""
    squad_id = _alert_squad(runtime, alert_id)
    if principal.role == "squad" and squad_id != principal.squad_id:
        raise ApiError(403, ["path", "alert_id"], "this alert is not your squad's", "forbidden")
    with runtime.store.read() as conn:
        return {"alert_id": alert_id, "deliveries": outbox.delivery_log(conn, alert_id)}


@router.post("/alerts/{alert_id}/resend")
async def resend(alert_id: AlertId, request: Request, runtime: RuntimeDep, _: Commander,
                 channel: Annotated[str | None, Query(max_length=32)] = None) -> Requeued:
    """Queue every notification of the alert again (or those of one ``channel``), due now, and show
    the alert on the squad's phones again."""
    squad_id = await run_in_threadpool(_alert_squad, runtime, alert_id)
    count = await run_in_threadpool(outbox.requeue, runtime.store, alert_id, now_ms=runtime.now_ms(),
                                    channel=channel)
    worker = getattr(request.app.state, "delivery_worker", None)
    if worker is not None:
        worker.wake()
    hub = getattr(request.app.state, "live_hub", None)
    if hub is not None and channel in (None, "stream"):
        await run_in_threadpool(hub.record, alert_id, squad_id)
    return Requeued(alert_id=alert_id, requeued=count)
