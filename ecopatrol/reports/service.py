"""Reports: create (validate → WGS-84 → in the county → not in the future → place → recent patrols →
near duplicates → one transaction with the photos → event), status changes, and reads.

A report is acknowledged only after it is committed with its photos; ``report.created`` is published
after the commit. An ``Idempotency-Key`` makes a resend return the first answer, even under a race.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError

from ecopatrol import audit
from ecopatrol.reports import context, repo, views
from ecopatrol.reports.categories import CATEGORIES, field_names
from ecopatrol.reports.lifecycle import TransitionError, next_status
from ecopatrol.reports.location import ResolvedLocation, check_in_area, resolve_location
from ecopatrol.reports.photos import (
    MAX_PHOTO_BYTES,
    CheckedPhoto,
    PhotoProblem,
    PhotoUpload,
    check_photos,
    mismatch_flags,
)
from ecopatrol.reports.problems import ReportProblem, not_found
from ecopatrol.reports.schemas import (
    ReportCheck,
    ReportCreate,
    ReportIn,
    ReportList,
    ReportPublic,
    ReportStatusPublic,
    TransitionRequest,
)
from ecopatrol.reports.tracking import new_code, normalize_code
from ecopatrol.runtime import Runtime
from ecopatrol.store.tokens_repo import Principal

MAX_AGE_MS = 366 * 86_400_000
View = Literal["full", "receipt"]
_KEY_CHARS = frozenset(map(chr, range(0x21, 0x7F)))


@dataclass(frozen=True)
class Submitter:
    """Who sends a report and how: an API token (partner, squad, commander), the public form, a CSV."""

    channel: Literal["api", "public", "csv"]
    role: str
    name: str = ""
    org: str | None = None
    token_id: int | None = None

    @classmethod
    def of(cls, principal: Principal) -> Submitter:
        return cls(
            "api",
            principal.role,
            principal.name or f"{principal.role}#{principal.token_id}",
            principal.org,
            principal.token_id,
        )

    @property
    def idempotency_scope(self) -> str:
        if self.token_id is not None:
            return f"token:{self.token_id}"
        return f"csv:{self.org or ''}"[:64] if self.channel == "csv" else self.channel


@dataclass(frozen=True)
class CreateResult:
    body: dict[str, Any]
    status_code: int
    report_id: int
    replayed: bool = False


@dataclass
class Prepared:
    """A validated report, placed, ready to store."""

    report: ReportIn
    location: ResolvedLocation
    observed_ms: int
    placement: dict[str, Any]
    patrol: context.PatrolNearby
    photos: list[CheckedPhoto] = field(default_factory=list)
    flags: list[dict[str, object]] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# parsing


def parse_report(raw: object, prefix: Sequence[str | int] = ("body",)) -> ReportIn:
    """A report from decoded JSON; every problem named by field (``category`` first)."""
    loc = list(prefix)
    if not isinstance(raw, dict):
        raise ReportProblem.one(loc, "expected a JSON object", "type_error")
    category = raw.get("category")
    if category is None:
        raise ReportProblem.one([*loc, "category"], f"required; one of {', '.join(CATEGORIES)}", "missing")
    if not isinstance(category, str) or category not in CATEGORIES:
        raise ReportProblem.one(
            [*loc, "category"],
            f"unknown category {category!r}; expected one of {', '.join(CATEGORIES)}",
            "unknown_category",
        )
    try:
        return ReportCreate.model_validate(raw).root
    except ValidationError as exc:
        raise ReportProblem(422, [_error_item(e, loc, category) for e in exc.errors()]) from None


def _error_item(error: Any, prefix: list[str | int], category: str) -> dict[str, object]:
    loc = list(error.get("loc", ()))
    if loc and loc[0] == category:
        loc = loc[1:]
    msg, kind = str(error.get("msg", "")), str(error.get("type", "value_error"))
    if kind == "extra_forbidden" and loc[:1] == ["details"] and len(loc) == 2:
        msg = (
            f"{loc[1]!r} does not belong to category {category} (its fields: "
            f"{', '.join(field_names(category)) or 'none'})"
        )
    elif kind == "extra_forbidden":
        msg = f"unknown field {loc[-1]!r}"
    return {"loc": [*prefix, *[p if isinstance(p, int) else str(p) for p in loc]], "msg": msg, "type": kind}


def request_digest(report: ReportIn, uploads: Sequence[PhotoUpload]) -> str:
    """What makes two requests "the same" for an idempotency key: the report and the photos' bytes."""
    digest = hashlib.sha256(json.dumps(report.model_dump(mode="json"), sort_keys=True).encode())
    for upload in uploads:
        digest.update(hashlib.sha256(upload.data).digest())
    return digest.hexdigest()


def check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not 1 <= len(key) <= 200 or not set(key) <= _KEY_CHARS:
        raise ReportProblem.one(
            ["header", "Idempotency-Key"],
            "must be 1 to 200 visible ASCII characters (e.g. a UUID)",
            "bad_key",
        )
    return key


# ------------------------------------------------------------------------------------------------
# creating


def prepare(
    runtime: Runtime, report: ReportIn, *, uploads: Sequence[PhotoUpload] = (), now_ms: int
) -> Prepared:
    """Validate what the models cannot (place, time, photos), convert and place; nothing is stored."""
    settings = runtime.settings
    photos = _checked_photos(runtime, uploads)
    index = runtime.layer_index()
    coordinates = report.location.coordinates if report.location is not None else None
    loc = resolve_location(
        coordinates=coordinates,
        datum=report.datum,
        place_name=report.place_name,
        layers=index.layers,
        metric_crs=settings.deployment.metric_crs,
    )
    if loc.source == "point":
        check_in_area(loc, index.bounds_lonlat, settings.deployment.margin_m)
    observed_ms = _observed_ms(report, now_ms=now_ms, max_future_s=settings.ingest.max_future_s)
    if report.category == "other" and not report.description.strip():
        raise ReportProblem.one(
            ["body", "description"],
            "say what was seen: a description is required for category other",
            "missing",
        )
    flags = [
        f
        for p in photos
        for f in mismatch_flags(
            p, lon=loc.lon, lat=loc.lat, observed_ms=observed_ms, uncertainty_m=loc.uncertainty_m
        )
    ]
    with runtime.store.read() as conn:
        patrol = context.patrol_nearby(
            conn,
            lon=loc.lon,
            lat=loc.lat,
            observed_ms=observed_ms,
            metric_crs=settings.deployment.metric_crs,
            max_gap_s=settings.ingest.max_gap_s,
            radius_m=context.PATROL_RADIUS_M + loc.uncertainty_m,
        )
    return Prepared(
        report=report,
        location=loc,
        observed_ms=observed_ms,
        placement=context.place_point(index, loc.lon, loc.lat),
        patrol=patrol,
        photos=photos,
        flags=flags,
    )


def _checked_photos(runtime: Runtime, uploads: Sequence[PhotoUpload]) -> list[CheckedPhoto]:
    try:
        return check_photos(
            list(uploads),
            max_bytes=photo_limit_bytes(runtime),
            timezone_name=runtime.settings.deployment.timezone,
        )
    except PhotoProblem as exc:
        name = uploads[exc.index].filename if exc.index < len(uploads) else ""
        raise ReportProblem.one(
            ["body", "photos", exc.index],
            exc.reason + (f" ({name})" if name else ""),
            exc.kind,
            413 if exc.kind == "too_large" else 422,
        ) from None


def photo_limit_bytes(runtime: Runtime) -> int:
    """``reports.max_photo_bytes`` from the settings once it exists there, else 8 MB."""
    section = getattr(runtime.settings, "reports", None)
    return int(getattr(section, "max_photo_bytes", MAX_PHOTO_BYTES))


def _observed_ms(report: ReportIn, *, now_ms: int, max_future_s: float) -> int:
    observed_ms = int(report.observed_at.timestamp() * 1000)
    if observed_ms > now_ms + max_future_s * 1000:
        raise ReportProblem.one(
            ["body", "observed_at"],
            f"{report.observed_at.isoformat()} is in the "
            f"future (more than {max_future_s:.0f} s after the server's clock)",
            "in_future",
        )
    if observed_ms < now_ms - MAX_AGE_MS:
        raise ReportProblem.one(
            ["body", "observed_at"], f"{report.observed_at.isoformat()} is more than 366 days ago", "too_old"
        )
    return observed_ms


def check_report(runtime: Runtime, report: ReportIn) -> ReportCheck:
    """Where a report would be placed (all checks but storing)."""
    prepared = prepare(runtime, report, now_ms=runtime.now_ms())
    loc = prepared.location
    return ReportCheck(
        location={"type": "Point", "coordinates": [loc.lon, loc.lat]},
        location_source=loc.source,
        location_uncertainty_m=round(loc.uncertainty_m, 1),
        placement=prepared.placement,
    )


def create_report(
    runtime: Runtime,
    report: ReportIn,
    *,
    submitter: Submitter,
    uploads: Sequence[PhotoUpload] = (),
    idempotency_key: str | None = None,
    base_url: str = "",
    view: View = "full",
) -> CreateResult:
    """Store a report with its photos in one transaction, then publish ``report.created``."""
    key = check_idempotency_key(idempotency_key)
    digest = request_digest(report, uploads)
    if key is not None:
        replay = _replay(runtime, submitter.idempotency_scope, key, digest)
        if replay is not None:
            return replay
    now = runtime.now_ms()
    prepared = prepare(runtime, report, uploads=uploads, now_ms=now)
    try:
        with runtime.store.write() as conn:
            stored = store_prepared(conn, prepared, submitter=submitter, now_ms=now)
            report_id = stored.id
            body = _render(runtime, stored, base_url=base_url, view=view)
            if key is not None:
                repo.put_idempotent(
                    conn,
                    scope=submitter.idempotency_scope,
                    key=key,
                    request_sha256=digest,
                    status_code=201,
                    response=json.dumps(body, ensure_ascii=False),
                    report_id=report_id,
                    now_ms=now,
                )
    except IntegrityError:
        replay = _replay(runtime, submitter.idempotency_scope, key, digest) if key is not None else None
        if replay is None:
            raise
        return replay
    publish_created(runtime, report_id, prepared)
    return CreateResult(body=body, status_code=201, report_id=report_id)


def _replay(runtime: Runtime, scope: str, key: str, digest: str) -> CreateResult | None:
    with runtime.store.read() as conn:
        stored = repo.get_idempotent(conn, scope, key)
    if stored is None:
        return None
    if stored.request_sha256 != digest:
        raise ReportProblem.one(
            ["header", "Idempotency-Key"],
            "this key was already used for a different request; use a new key for a new report",
            "key_reused",
        )
    return CreateResult(
        body=json.loads(stored.response),
        status_code=stored.status_code,
        report_id=stored.report_id,
        replayed=True,
    )


@dataclass(frozen=True)
class StoredReport:
    """What was inserted, as the rows read back would be (so the answer needs no extra reads)."""

    id: int
    row: SimpleNamespace
    events: list[SimpleNamespace]
    photos: list[CheckedPhoto]


def store_prepared(
    conn: Connection, prepared: Prepared, *, submitter: Submitter, now_ms: int
) -> StoredReport:
    """Insert the report, its first timeline entry and its photos (inside the caller's transaction)."""
    report, loc, patrol = prepared.report, prepared.location, prepared.patrol
    duplicate_of = None
    if loc.uncertainty_m == 0:
        repo.lock_place(conn, report.category, loc.lon, loc.lat)
        duplicate_of = context.find_duplicate(
            conn, category=report.category, lon=loc.lon, lat=loc.lat, observed_ms=prepared.observed_ms
        )
    reporter = report.reporter
    offset = report.observed_at.utcoffset()
    placement = prepared.placement
    values = {
        "tracking_code": new_code(),
        "category": report.category,
        "details": json.dumps(report.details.model_dump(mode="json"), ensure_ascii=False),  # type: ignore[attr-defined]
        "observed_ms": prepared.observed_ms,
        "observed_offset_min": int(offset.total_seconds() // 60) if offset is not None else 0,
        "lon": round(loc.lon, 7),
        "lat": round(loc.lat, 7),
        "datum": report.datum,
        "location_source": loc.source,
        "place_name": loc.place_name,
        "location_uncertainty_m": round(loc.uncertainty_m, 1),
        "description": report.description,
        "reporter_name": reporter.name if reporter else None,
        "reporter_phone": reporter.phone if reporter else None,
        "reporter_org": (reporter.org if reporter and reporter.org else submitter.org),
        "org": submitter.org,
        "channel": submitter.channel,
        "submitted_by": submitter.name[:200],
        "submitted_token_id": submitter.token_id,
        "status": "received",
        "reach_id": placement["reach_id"],
        "river_name": placement["river_name"],
        "dist_to_river_m": placement["distance_to_river_m"],
        "cell_id": placement["cell_id"],
        "township": placement["township"],
        "zone_ids": json.dumps(placement["zone_ids"], ensure_ascii=False),
        "patrol_within_1km_24h": patrol.within,
        "nearest_patrol_m": patrol.nearest_m,
        "last_patrol_unit_id": patrol.last_unit_id,
        "last_patrol_ms": patrol.last_ms,
        "duplicate_of": duplicate_of,
        "flags": json.dumps(prepared.flags, ensure_ascii=False),
        "photo_count": len(prepared.photos),
        "created_ms": now_ms,
        "updated_ms": now_ms,
    }
    report_id = repo.insert_report(conn, values)
    event = {
        "status": "received",
        "at_ms": now_ms,
        "actor_role": submitter.role,
        "actor_name": submitter.name[:200],
        "actor_token_id": submitter.token_id,
    }
    repo.insert_event(conn, report_id=report_id, **event)
    repo.insert_photos(conn, report_id, prepared.photos)
    audit.report_created(conn, report_id, values, [p.sha256 for p in prepared.photos],
                         actor=audit.actor_name(submitter.role, submitter.name), at_ms=now_ms)
    row = SimpleNamespace(id=report_id, assigned_squad_id=None, reject_reason=None, **values)
    first = SimpleNamespace(reason=None, note=None, squad_id=None, **event)
    return StoredReport(report_id, row, [first], prepared.photos)


def publish_created(runtime: Runtime, report_id: int, prepared: Prepared) -> None:
    runtime.events.publish(
        "report.created",
        {
            "report_id": report_id,
            "category": prepared.report.category,
            "township": prepared.placement["township"],
            "reach_id": prepared.placement["reach_id"],
        },
    )


def _render(runtime: Runtime, stored: StoredReport, *, base_url: str, view: View) -> dict[str, Any]:
    tz = runtime.settings.deployment.timezone
    if view == "receipt":
        return views.receipt(stored.row, base_url=base_url, tz=tz).model_dump(mode="json")
    full = views.full(stored.row, stored.photos, stored.events, base_url=base_url, tz=tz)
    return full.model_dump(mode="json")


def _full(conn: Connection, row: Row, *, base_url: str, tz: str) -> ReportPublic:
    return views.full(
        row, repo.photos_of(conn, row.id), repo.events_of(conn, row.id), base_url=base_url, tz=tz
    )


# ------------------------------------------------------------------------------------------------
# reading and moving on


def may_read(principal: Principal, row: Row) -> bool:
    """Commanders and squads read every report; a partner only its own organisation's."""
    if principal.role in ("commander", "squad"):
        return True
    return principal.role == "partner" and principal.org is not None and row.org == principal.org


def read_report(runtime: Runtime, report_id: int, *, principal: Principal, base_url: str) -> ReportPublic:
    with runtime.store.read() as conn:
        row = repo.get_report(conn, report_id)
        if row is None or not may_read(principal, row):
            raise not_found(f"report {report_id}")
        return _full(conn, row, base_url=base_url, tz=runtime.settings.deployment.timezone)


def list_reports(
    runtime: Runtime,
    *,
    principal: Principal,
    status: str | None = None,
    category: str | None = None,
    since_ms: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> ReportList:
    if principal.role == "partner" and principal.org is None:
        raise ReportProblem.one(
            ["header", "Authorization"],
            "this partner token has no organisation (create it with --org)",
            "forbidden",
            403,
        )
    org = principal.org if principal.role == "partner" else None
    with runtime.store.read() as conn:
        rows, total = repo.list_reports(
            conn, org=org, status=status, category=category, since_ms=since_ms, limit=limit, offset=offset
        )
    tz = runtime.settings.deployment.timezone
    return ReportList(items=[views.summary(r, tz) for r in rows], total=total, limit=limit, offset=offset)


def photo(runtime: Runtime, report_id: int, n: int, *, principal: Principal) -> tuple[str, bytes]:
    with runtime.store.read() as conn:
        row = repo.get_report(conn, report_id)
        if row is None or not may_read(principal, row):
            raise not_found(f"report {report_id}")
        stored = repo.photo_bytes(conn, report_id, n)
    if stored is None:
        raise ReportProblem.one(["path", "n"], f"report {report_id} has no photo {n}", "not_found", 404)
    return stored.content_type, bytes(stored.data)


def public_status(runtime: Runtime, code_text: str) -> ReportStatusPublic:
    """The status and timeline of the report with this tracking code (404 for anything else)."""
    code = normalize_code(code_text)
    row = None
    with runtime.store.read() as conn:
        if code is not None:
            row = repo.get_report_by_code(conn, code)
        if row is None:
            raise ReportProblem.one(["path", "code"], "no report has this tracking code", "not_found", 404)
        events = repo.events_of(conn, row.id)
    return views.public_status(row, events, tz=runtime.settings.deployment.timezone)


def transition(
    runtime: Runtime,
    report_id: int,
    action: str,
    *,
    principal: Principal,
    request: TransitionRequest,
    base_url: str,
) -> ReportPublic:
    """Move a report on (recording who, when and why); 409 when its status does not allow it."""
    now = runtime.now_ms()
    with runtime.store.write() as conn:
        target = _move(conn, report_id, action, principal=principal, request=request, now_ms=now)
        updated = repo.get_report(conn, report_id)
        result = _full(conn, updated, base_url=base_url, tz=runtime.settings.deployment.timezone)
    runtime.events.publish("report.status", {"report_id": report_id, "status": target, "action": action})
    return result


def move_on(
    runtime: Runtime,
    plans: Sequence[tuple[int, Sequence[tuple[str, TransitionRequest]]]],
    *,
    principal: Principal,
) -> list[ReportProblem]:
    """Several reports moved on in one transaction: each report's actions in order, a report's
    remaining actions skipped at its first refusal (returned, nothing of the refused action written)."""
    with runtime.store.write() as conn:
        done, refused = move_on_in(conn, plans, principal=principal, now_ms=runtime.now_ms())
    publish_moves(runtime, done)
    return refused


Moved = tuple[int, str, str]  # (report id, status reached, action)


def move_on_in(
    conn: Connection,
    plans: Sequence[tuple[int, Sequence[tuple[str, TransitionRequest]]]],
    *,
    principal: Principal,
    now_ms: int,
) -> tuple[list[Moved], list[ReportProblem]]:
    """``move_on`` inside the caller's transaction: the moves made (to publish once it commits with
    ``publish_moves``) and the refusals. Every report is read in one query and its actions checked in
    turn before anything is written; then each moved report is one UPDATE to where its last action
    takes it (guarded by the status it was read in), and all their events are one INSERT."""
    rows = repo.get_reports(conn, [report_id for report_id, _ in plans])
    done: list[Moved] = []
    refused: list[ReportProblem] = []
    events: list[dict[str, Any]] = []
    actor_name = (principal.name or f"{principal.role}#{principal.token_id}")[:200]
    for report_id, actions in plans:
        row = rows.get(int(report_id))
        if row is None or not may_read(principal, row):
            refused.append(not_found(f"report {report_id}"))
            continue
        state = SimpleNamespace(**row._mapping)  # the report as each action finds it
        steps: list[tuple[str, str, TransitionRequest, SimpleNamespace]] = []
        for action, request in actions:
            try:
                target = _checked_move(principal, state, action, request)
            except ReportProblem as exc:
                refused.append(exc)
                break
            steps.append((action, target, request, SimpleNamespace(**vars(state))))
            state.status = target
            if action == "assign":
                state.assigned_squad_id = request.squad_id
            if action == "reject":
                state.reject_reason = request.reason
        if not steps:
            continue
        taken = {action for action, *_ in steps}
        if not repo.set_status(conn, row.id, from_status=row.status, to_status=state.status, now_ms=now_ms,
                               squad_id=state.assigned_squad_id if "assign" in taken else None,
                               reject_reason=state.reject_reason if "reject" in taken else None):
            refused.append(_changed_meanwhile())
            continue
        for action, target, request, before in steps:
            events.append({"report_id": row.id, "status": target, "at_ms": now_ms,
                           "actor_role": principal.role, "actor_name": actor_name,
                           "actor_token_id": principal.token_id,
                           "reason": request.reason, "note": request.note,
                           "squad_id": request.squad_id if action == "assign" else None})
            audit.report_moved(conn, before, action, target, request, actor=audit.actor_of(principal),
                               at_ms=now_ms)
            done.append((row.id, target, action))
    repo.insert_events(conn, events)
    return done, refused


def _changed_meanwhile() -> ReportProblem:
    return ReportProblem.one(["path", "action"], "the report changed meanwhile; reload it and retry",
                             "conflict", 409)


def _checked_move(principal: Principal, row: Any, action: str, request: TransitionRequest) -> str:
    """The status ``action`` takes the report ``row`` to, once every check has passed."""
    _may_act(principal, row, action)
    try:
        target = next_status(row.status, action)
    except TransitionError as exc:
        raise ReportProblem.one(["path", "action"], str(exc), "invalid_transition", 409) from None
    _transition_fields(action, request)
    return target


def publish_moves(runtime: Runtime, done: Sequence[Moved]) -> None:
    for report_id, target, action in done:
        runtime.events.publish("report.status", {"report_id": report_id, "status": target, "action": action})


def _move(
    conn: Connection,
    report_id: int,
    action: str,
    *,
    principal: Principal,
    request: TransitionRequest,
    now_ms: int,
) -> str:
    """One transition inside the caller's transaction; every check comes before the first write."""
    row = repo.get_report(conn, report_id)
    if row is None or not may_read(principal, row):
        raise not_found(f"report {report_id}")
    target = _checked_move(principal, row, action, request)
    moved = repo.set_status(
        conn,
        report_id,
        from_status=row.status,
        to_status=target,
        now_ms=now_ms,
        squad_id=request.squad_id if action == "assign" else None,
        reject_reason=request.reason if action == "reject" else None,
    )
    if not moved:
        raise _changed_meanwhile()
    repo.insert_event(
        conn,
        report_id=report_id,
        status=target,
        at_ms=now_ms,
        actor_role=principal.role,
        actor_name=(principal.name or f"{principal.role}#{principal.token_id}")[:200],
        actor_token_id=principal.token_id,
        reason=request.reason,
        note=request.note,
        squad_id=request.squad_id if action == "assign" else None,
    )
    audit.report_moved(conn, row, action, target, request, actor=audit.actor_of(principal), at_ms=now_ms)
    return target


def _may_act(principal: Principal, row: Row, action: str) -> None:
    """Commanders do everything; a squad acts on scene, resolves or rejects the reports sent to it."""
    if principal.role == "commander":
        return
    if principal.role == "squad" and action in ("on_scene", "resolve", "reject"):
        if row.assigned_squad_id is not None and row.assigned_squad_id == principal.squad_id:
            return
        raise ReportProblem.one(
            ["path", "report_id"], "this report is not assigned to your squad", "forbidden", 403
        )
    raise ReportProblem.one(
        ["path", "action"],
        f"role {principal.role!r} may not {action.replace('_', ' ')} "
        "a report (commanders triage, assign and reject)",
        "forbidden",
        403,
    )


def _transition_fields(action: str, request: TransitionRequest) -> None:
    if action == "reject" and not (request.reason or "").strip():
        raise ReportProblem.one(["body", "reason"], "a reason is required to reject a report", "missing")
    if action == "assign" and not (request.squad_id or "").strip():
        raise ReportProblem.one(["body", "squad_id"], "say which squad is sent", "missing")
