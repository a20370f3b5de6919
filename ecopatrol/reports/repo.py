"""SQL of the reports: rows in, rows out (SQLAlchemy Core, SQLite and PostgreSQL alike)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, select, text, update

from ecopatrol.reports.photos import CheckedPhoto
from ecopatrol.store.reports_schema import idempotency_keys, report_events, report_photos, reports

IDEMPOTENCY_KEEP_MS = 7 * 86_400_000
_PHOTO_META = [c for c in report_photos.columns if c.name != "data"]


#: squares of the near-duplicate locks: 0.01° is wider than the 200-m duplicate radius in both
#: directions up to latitude 79°, so two reports within the radius are in the same or adjacent squares
LOCK_SQUARES_PER_DEG = 100


def lock_place(conn: Connection, category: str, lon: float, lat: float) -> None:
    """PostgreSQL: serialize the creation of precisely located reports of one category that could be
    near-duplicates, across processes: each takes the locks of the 3×3 squares around its own, in
    one sorted order (no deadlock), so two reports within the radius share a square and one waits,
    while reports farther apart go on together. (SQLite writers are already serialized.)"""
    if conn.dialect.name != "postgresql":
        return
    i, j = math.floor(lon * LOCK_SQUARES_PER_DEG), math.floor(lat * LOCK_SQUARES_PER_DEG)
    keys = [f"ecopatrol.report:{category}:{i + di}:{j + dj}" for di in (-1, 0, 1) for dj in (-1, 0, 1)]
    conn.execute(text("SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT hashtext(u) AS k "
                      "FROM unnest(CAST(:keys AS text[])) AS u ORDER BY 1) AS sorted"), {"keys": keys})


def insert_report(conn: Connection, values: dict[str, Any]) -> int:
    # parameters, not .values(): the compiled INSERT is cached instead of rebuilt per report
    return int(conn.execute(insert(reports), values).inserted_primary_key[0])


def insert_events(conn: Connection, events: Sequence[dict[str, Any]]) -> None:
    """Several ``insert_event`` rows in one statement (each a dict of its keyword arguments)."""
    keys = ("report_id", "status", "at_ms", "actor_role", "actor_name", "actor_token_id", "reason", "note",
            "squad_id")
    if events:
        conn.execute(insert(report_events), [{k: e.get(k) for k in keys} for e in events])


def insert_event(
    conn: Connection,
    *,
    report_id: int,
    status: str,
    at_ms: int,
    actor_role: str,
    actor_name: str,
    actor_token_id: int | None = None,
    reason: str | None = None,
    note: str | None = None,
    squad_id: str | None = None,
) -> None:
    conn.execute(
        insert(report_events),
        {
            "report_id": report_id,
            "status": status,
            "at_ms": at_ms,
            "actor_role": actor_role,
            "actor_name": actor_name,
            "actor_token_id": actor_token_id,
            "reason": reason,
            "note": note,
            "squad_id": squad_id,
        },
    )


def insert_photos(conn: Connection, report_id: int, photos: Sequence[CheckedPhoto]) -> None:
    if not photos:
        return
    conn.execute(
        insert(report_photos),
        [
            {
                "report_id": report_id,
                "n": p.n,
                "filename": p.filename,
                "content_type": p.content_type,
                "size_bytes": p.size_bytes,
                "sha256": p.sha256,
                "width_px": p.width_px,
                "height_px": p.height_px,
                "exif_lon": p.exif_lon,
                "exif_lat": p.exif_lat,
                "exif_time_ms": p.exif_time_ms,
                "data": p.data,
            }
            for p in photos
        ],
    )


_BY_ID = select(reports).where(reports.c.id == bindparam("report_id"))
_BY_CODE = select(reports).where(reports.c.tracking_code == bindparam("code"))
_EVENTS = (
    select(report_events)
    .where(report_events.c.report_id == bindparam("report_id"))
    .order_by(report_events.c.id)
)
_IDEMPOTENT = select(idempotency_keys).where(
    idempotency_keys.c.scope == bindparam("scope"), idempotency_keys.c.key == bindparam("key")
)


def get_report(conn: Connection, report_id: int) -> Row | None:
    return conn.execute(_BY_ID, {"report_id": report_id}).first()


def get_reports(conn: Connection, report_ids: Sequence[int]) -> dict[int, Row]:
    """The reports of these ids that exist, in one query."""
    ids = sorted({int(i) for i in report_ids})
    if not ids:
        return {}
    return {int(r.id): r for r in conn.execute(select(reports).where(reports.c.id.in_(ids)))}


def get_report_by_code(conn: Connection, code: str) -> Row | None:
    return conn.execute(_BY_CODE, {"code": code}).first()


def events_of(conn: Connection, report_id: int) -> list[Row]:
    return list(conn.execute(_EVENTS, {"report_id": report_id}).fetchall())


def photos_of(conn: Connection, report_id: int) -> list[Row]:
    """Photo metadata (no bytes) in order."""
    return list(
        conn.execute(
            select(*_PHOTO_META).where(report_photos.c.report_id == report_id).order_by(report_photos.c.n)
        ).fetchall()
    )


def photo_bytes(conn: Connection, report_id: int, n: int) -> Row | None:
    return conn.execute(
        select(report_photos.c.content_type, report_photos.c.data).where(
            report_photos.c.report_id == report_id, report_photos.c.n == n
        )
    ).first()


def list_reports(
    conn: Connection,
    *,
    org: str | None,
    status: str | None,
    category: str | None,
    since_ms: int | None,
    limit: int,
    offset: int,
) -> tuple[list[Row], int]:
    """Newest first; ``org`` restricts to one organisation's reports."""
    query = select(reports)
    if org is not None:
        query = query.where(reports.c.org == org)
    if status is not None:
        query = query.where(reports.c.status == status)
    if category is not None:
        query = query.where(reports.c.category == category)
    if since_ms is not None:
        query = query.where(reports.c.created_ms >= since_ms)
    total = int(conn.execute(select(func.count()).select_from(query.subquery())).scalar_one())
    rows = conn.execute(
        query.order_by(reports.c.created_ms.desc(), reports.c.id.desc()).limit(limit).offset(offset)
    ).fetchall()
    return list(rows), total


def set_status(
    conn: Connection,
    report_id: int,
    *,
    from_status: str,
    to_status: str,
    now_ms: int,
    squad_id: str | None = None,
    reject_reason: str | None = None,
) -> bool:
    """Move a report on if it is still in ``from_status`` (False when someone else moved it first)."""
    values: dict[str, Any] = {"status": to_status, "updated_ms": now_ms}
    if squad_id is not None:
        values["assigned_squad_id"] = squad_id
    if reject_reason is not None:
        values["reject_reason"] = reject_reason
    result = conn.execute(
        update(reports).where(reports.c.id == report_id, reports.c.status == from_status).values(**values)
    )
    return result.rowcount == 1


def get_idempotent(conn: Connection, scope: str, key: str) -> Row | None:
    return conn.execute(_IDEMPOTENT, {"scope": scope, "key": key}).first()


def put_idempotent(
    conn: Connection,
    *,
    scope: str,
    key: str,
    request_sha256: str,
    status_code: int,
    response: str,
    report_id: int | None,
    now_ms: int,
) -> None:
    """Remember a result (a concurrent twin raises IntegrityError at insert or commit). API keys are
    forgotten after a week; CSV rows are remembered for good (re-importing a file never duplicates)."""
    conn.execute(
        delete(idempotency_keys).where(
            idempotency_keys.c.created_ms < now_ms - IDEMPOTENCY_KEEP_MS,
            idempotency_keys.c.scope.not_like("csv:%"),
        )
    )
    conn.execute(
        insert(idempotency_keys),
        {
            "scope": scope,
            "key": key,
            "request_sha256": request_sha256,
            "status_code": status_code,
            "response": response,
            "report_id": report_id,
            "created_ms": now_ms,
        },
    )
