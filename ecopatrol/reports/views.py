"""Stored rows → the API's views: the full report (staff, the sending partner), a list row, the public
receipt and the public status (status and timeline only: no people, no place, no squad)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from ecopatrol.reports.categories import category_label
from ecopatrol.reports.lifecycle import status_label
from ecopatrol.reports.schemas import (
    ReportPublic,
    ReportReceipt,
    ReportStatusPublic,
    ReportSummaryPublic,
)
from ecopatrol.reports.tracking import display_code

#: a ``reports`` row: a SQLAlchemy Row, or the values just inserted (same attribute names)
Row = Any

_PUBLIC_ACTOR = {
    "public": {"zh": "系统", "en": "System"},
    "partner": {"zh": "系统", "en": "System"},
    "csv": {"zh": "系统", "en": "System"},
    "commander": {"zh": "指挥中心", "en": "Command centre"},
    "squad": {"zh": "巡护队", "en": "Patrol squad"},
}


def status_path(code: str) -> str:
    return f"/r/{display_code(code)}"


def at(ms: int | None, tz: str) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, ZoneInfo(tz))


def summary(row: Row, tz: str) -> ReportSummaryPublic:
    return ReportSummaryPublic(**_summary_fields(row, tz))


def _summary_fields(row: Row, tz: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "tracking_code": display_code(row.tracking_code),
        "category": row.category,
        "category_label": category_label(row.category),
        "observed_at": datetime.fromtimestamp(
            row.observed_ms / 1000, timezone(timedelta(minutes=row.observed_offset_min))
        ),
        "location": {"type": "Point", "coordinates": [row.lon, row.lat]},
        "location_source": row.location_source,
        "status": row.status,
        "placement": {
            "reach_id": row.reach_id,
            "river_name": row.river_name,
            "distance_to_river_m": row.dist_to_river_m,
            "cell_id": row.cell_id,
            "township": row.township,
            "zone_ids": json.loads(row.zone_ids),
        },
        "patrol": {
            "patrol_within_1km_24h": bool(row.patrol_within_1km_24h),
            "nearest_patrol_m": row.nearest_patrol_m,
            "last_patrol_unit_id": row.last_patrol_unit_id,
            "last_patrol_at": at(row.last_patrol_ms, tz),
        },
        "duplicate_of": row.duplicate_of,
        "org": row.org,
        "channel": row.channel,
        "photo_count": row.photo_count,
        "flags": json.loads(row.flags),
        "created_at": at(row.created_ms, tz),
    }


def full(row: Row, photos: Sequence[Row], events: Sequence[Row], *, base_url: str, tz: str) -> ReportPublic:
    reporter = None
    if row.reporter_name or row.reporter_phone or row.reporter_org:
        reporter = {"name": row.reporter_name, "phone": row.reporter_phone, "org": row.reporter_org}
    return ReportPublic(
        **_summary_fields(row, tz),
        status_url=base_url + status_path(row.tracking_code),
        details=json.loads(row.details),
        datum=row.datum,
        place_name=row.place_name,
        location_uncertainty_m=row.location_uncertainty_m,
        description=row.description,
        reporter=reporter,
        assigned_squad_id=row.assigned_squad_id,
        reject_reason=row.reject_reason,
        updated_at=at(row.updated_ms, tz),
        photos=[
            {
                "n": p.n,
                "url": f"{base_url}/api/v1/reports/{row.id}/photos/{p.n}",
                "content_type": p.content_type,
                "size_bytes": p.size_bytes,
                "width_px": p.width_px,
                "height_px": p.height_px,
                "sha256": p.sha256,
                "exif_lon": p.exif_lon,
                "exif_lat": p.exif_lat,
                "exif_time": at(p.exif_time_ms, tz),
            }
            for p in photos
        ],
        timeline=[
            {
                "status": e.status,
                "at": at(e.at_ms, tz),
                "actor": {"role": e.actor_role, "name": e.actor_name},
                "reason": e.reason,
                "note": e.note,
                "squad_id": e.squad_id,
            }
            for e in events
        ],
    )


def receipt(row: Row, *, base_url: str, tz: str) -> ReportReceipt:
    path = status_path(row.tracking_code)
    return ReportReceipt(
        tracking_code=display_code(row.tracking_code),
        status=row.status,
        status_url=base_url + path,
        qr_svg_url=f"{base_url}{path}/qr.svg",
        category=row.category,
        received_at=at(row.created_ms, tz),
    )


def public_status(row: Row, events: Sequence[Row], *, tz: str) -> ReportStatusPublic:
    return ReportStatusPublic(
        tracking_code=display_code(row.tracking_code),
        category=row.category,
        category_label=category_label(row.category),
        status=row.status,
        status_label=status_label(row.status),
        received_at=at(row.created_ms, tz),
        timeline=[
            {
                "status": e.status,
                "status_label": status_label(e.status),
                "at": at(e.at_ms, tz),
                "by": _public_actor(e.status, e.actor_role),
                "reason": e.reason if e.status == "rejected" else None,
            }
            for e in events
        ],
    )


def _public_actor(status: str, role: str) -> dict[str, str]:
    """Who acted, by function only; receiving is always the system's."""
    if status == "received":
        return _PUBLIC_ACTOR["public"]
    return _PUBLIC_ACTOR.get(role, _PUBLIC_ACTOR["public"])
