"""Liveness and readiness."""

from fastapi import APIRouter
from sqlalchemy import text

from ecopatrol.api.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(runtime: RuntimeDep) -> dict[str, object]:
    """200 when the database answers."""
    with runtime.store.read() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ok", "database": runtime.store.dialect}
