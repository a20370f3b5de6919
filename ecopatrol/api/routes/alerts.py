"""Alerts (read, acknowledge, go, arrive, resolve, decline), silences and the loaded rules.

Squads see and act on their own squad's alerts only; commanders on all. The live stream
(``GET /api/v1/alerts/stream``) is another router: include it BEFORE this one, so that its path is
not read as an alert id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from alerts.lifecycle import Action
from alerts.matchers import Matcher
from alerts.silence import Silence
from ecopatrol.alerting import repo, service
from ecopatrol.alerting.people import squad_memory
from ecopatrol.alerting.views import AlertList, AlertPublic, alerts_public
from ecopatrol.api.deps import Commander, Reader, RuntimeDep
from ecopatrol.api.errors import ApiError, not_found, unprocessable
from ecopatrol.reports.photos import MAX_PHOTOS, CheckedPhoto, PhotoProblem, PhotoUpload, check_photos
from ecopatrol.runtime import Runtime
from ecopatrol.store.tokens_repo import Principal
from ecopatrol.windows import WindowError, since_ms

router = APIRouter(tags=["alerts"])
AlertId = Annotated[str, Path(min_length=1, max_length=64)]
StateName = Literal["open", "acknowledged", "en_route", "on_scene", "resolved"]
SeverityName = Literal["critical", "high", "medium", "low"]
DeclineReasonName = Literal["busy_other_incident", "too_far", "unsafe_conditions", "vehicle_unavailable",
                            "member_unavailable", "other"]


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(None, max_length=1000)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Literal["confirmed", "not_found", "false_report"]
    note: str | None = Field(None, max_length=1000)


class DeclineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: DeclineReasonName
    note: str | None = Field(None, max_length=1000)


class SilenceIn(BaseModel):
    """Alertmanager-style: every matcher must match an alert's labels, e.g. ``township="演示东溪镇"``,
    ``rule=~"hunting-.*"``; from ``starts_at`` (default now) until ``ends_at`` or for ``duration_min``."""

    model_config = ConfigDict(extra="forbid")
    matchers: list[str] = Field(min_length=1, max_length=20)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    duration_min: float | None = Field(None, gt=0, le=60 * 24 * 366)
    created_by: str | None = Field(None, max_length=200)
    comment: str = Field(min_length=1, max_length=1000)


class SilencePublic(BaseModel):
    id: str
    matchers: list[str]
    starts_ms: int
    ends_ms: int
    created_by: str
    comment: str
    status: Literal["pending", "active", "expired"]


# ------------------------------------------------------------------------------------------ alerts


def _actor(principal: Principal) -> str:
    if principal.person_id:
        return f"person:{principal.person_id}"
    if principal.role == "squad" and principal.squad_id:
        return f"squad:{principal.squad_id}"
    return f"{principal.role}:{principal.name or principal.token_id}"


def _squad_scope(principal: Principal) -> str | None:
    """The only squad a squad token sees (commanders: all)."""
    if principal.role == "commander":
        return None
    if not principal.squad_id:
        raise ApiError(403, ["header", "Authorization"], "this squad token names no squad", "forbidden")
    return principal.squad_id


def _public(runtime: Runtime, alert_ids: list[str]) -> list[AlertPublic]:
    cfg = service.alerting_config(runtime)
    with runtime.store.read() as conn:
        found = {a.id: a for a in repo.get_alerts(conn, alert_ids)}
        return alerts_public(conn, [found[i] for i in alert_ids if i in found], cfg, runtime.now_ms(),
                             squad_memory(runtime))


def _visible(runtime: Runtime, alert_id: str, principal: Principal) -> AlertPublic:
    scope = _squad_scope(principal)
    found = _public(runtime, [alert_id])
    if not found or (scope is not None and (found[0].squad is None or found[0].squad.id != scope)):
        raise not_found(["path", "alert_id"], f"no alert {alert_id!r}")
    return found[0]


@router.get("/api/v1/alerts")
def list_alerts(runtime: RuntimeDep, principal: Reader,
                state: Annotated[list[StateName] | None, Query()] = None,
                severity: Annotated[list[SeverityName] | None, Query()] = None,
                squad: Annotated[str | None, Query(max_length=64)] = None,
                rule: Annotated[str | None, Query(max_length=64)] = None,
                since: Annotated[str | None, Query(description="e.g. 24h, 7d or an ISO time")] = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 100,
                offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> AlertList:
    """Alerts, newest first; filters combine (``state`` and ``severity`` may repeat). A squad token
    lists its own squad's alerts only."""
    scope = _squad_scope(principal)
    if scope is not None and squad is not None and squad != scope:
        raise ApiError(403, ["query", "squad"], "a squad sees its own alerts only", "forbidden")
    now = runtime.now_ms()
    try:
        start = since_ms(since, now_ms=now) if since else None
    except WindowError as exc:
        raise unprocessable(["query", "since"], str(exc)) from None
    cfg = service.alerting_config(runtime)
    with runtime.store.read() as conn:
        found, total = repo.list_alerts(conn, states=state, severities=severity, squad_id=scope or squad,
                                        rule=rule, since_ms=start, limit=limit, offset=offset)
        items = alerts_public(conn, found, cfg, now, squad_memory(runtime))
    return AlertList(items=items, total=total, limit=limit, offset=offset)


@router.get("/api/v1/alerts/{alert_id}")
def get_alert(alert_id: AlertId, runtime: RuntimeDep, principal: Reader) -> AlertPublic:
    """One alert with its squad, overdue code, reports and full timeline."""
    return _visible(runtime, alert_id, principal)


def _act(runtime: Runtime, alert_id: str, principal: Principal, action: Action, *,
         outcome: str | None = None, note: str | None = None,
         photos: Sequence[CheckedPhoto] = ()) -> AlertPublic:
    current = _visible(runtime, alert_id, principal)
    if principal.role == "squad" and (current.squad is None or current.squad.id != principal.squad_id):
        raise ApiError(403, ["path", "alert_id"], "this alert is not assigned to your squad", "forbidden")
    try:
        service.act(runtime, alert_id, action, _actor(principal), outcome=outcome, note=note, photos=photos)
    except service.TransitionError as exc:
        raise ApiError(409, ["path", "action"], str(exc), "invalid_transition") from None
    return _public(runtime, [alert_id])[0]


@router.post("/api/v1/alerts/{alert_id}/ack")
def ack(alert_id: AlertId, runtime: RuntimeDep, principal: Reader,
        body: ActionIn | None = None) -> AlertPublic:
    """Acknowledge (stops the acknowledgement escalation)."""
    return _act(runtime, alert_id, principal, Action.ack, note=body.note if body else None)


@router.post("/api/v1/alerts/{alert_id}/en_route")
def en_route(alert_id: AlertId, runtime: RuntimeDep, principal: Reader,
             body: ActionIn | None = None) -> AlertPublic:
    return _act(runtime, alert_id, principal, Action.en_route, note=body.note if body else None)


@router.post("/api/v1/alerts/{alert_id}/on_scene")
def on_scene(alert_id: AlertId, runtime: RuntimeDep, principal: Reader,
             body: ActionIn | None = None) -> AlertPublic:
    return _act(runtime, alert_id, principal, Action.on_scene, note=body.note if body else None)


_RESOLVE_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": ResolveIn.model_json_schema()},
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["outcome"],
        "properties": {"outcome": {"type": "string", "enum": ["confirmed", "not_found", "false_report"]},
                       "note": {"type": "string", "maxLength": 1000},
                       "photo": {"type": "array", "maxItems": MAX_PHOTOS,
                                 "items": {"type": "string", "format": "binary"}}}}}}}}


@router.post("/api/v1/alerts/{alert_id}/resolve", openapi_extra=_RESOLVE_BODY)
async def resolve(alert_id: AlertId, request: Request, runtime: RuntimeDep,
                  principal: Reader) -> AlertPublic:
    """Resolve with an outcome (confirmed, not_found or false_report) and a note: a JSON body, or
    multipart/form-data with ``outcome``, ``note`` and up to 5 ``photo`` files (JPEG, PNG, WebP), kept
    with the alert."""
    fields, uploads = await _resolve_fields(request)
    try:
        body = ResolveIn.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise unprocessable(["body", *map(str, first["loc"])], first["msg"]) from None
    try:
        photos = check_photos(uploads, max_bytes=runtime.settings.reports.max_photo_bytes,
                              timezone_name=runtime.settings.deployment.timezone)
    except PhotoProblem as exc:
        raise ApiError(422 if exc.kind != "too_large" else 413, ["body", "photo", exc.index], exc.reason,
                       exc.kind) from None
    return await run_in_threadpool(_act, runtime, alert_id, principal, Action.resolve, outcome=body.outcome,
                                   note=body.note, photos=photos)


async def _resolve_fields(request: Request) -> tuple[object, list[PhotoUpload]]:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=MAX_PHOTOS, max_fields=10)
        except Exception as exc:  # a malformed or oversized multipart body
            raise unprocessable(["body"], f"cannot read the form: {exc}") from None
        uploads = [PhotoUpload(f.filename or "photo", await f.read())
                   for f in form.getlist("photo") if isinstance(f, UploadFile)]
        fields = {k: v for k, v in (("outcome", form.get("outcome")), ("note", form.get("note") or None))
                  if v is not None}
        return fields, uploads
    raw = await request.body()
    try:
        return json.loads(raw), []
    except (ValueError, RecursionError):
        raise unprocessable(["body"], "the body is not JSON (or use multipart/form-data)") from None


@router.get("/api/v1/alerts/{alert_id}/photos")
def alert_photos(alert_id: AlertId, runtime: RuntimeDep, principal: Reader) -> list[dict[str, Any]]:
    """The photos kept with an alert (taken when it was resolved)."""
    _visible(runtime, alert_id, principal)
    with runtime.store.read() as conn:
        return repo.alert_photo_list(conn, alert_id)


@router.get("/api/v1/alerts/{alert_id}/photos/{n}", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}})
def alert_photo(alert_id: AlertId, n: Annotated[int, Path(ge=1, le=1000)], runtime: RuntimeDep,
                principal: Reader) -> Response:
    """One photo of an alert."""
    _visible(runtime, alert_id, principal)
    with runtime.store.read() as conn:
        found = repo.alert_photo(conn, alert_id, n)
    if found is None:
        raise not_found(["path", "n"], f"alert {alert_id} has no photo {n}")
    return Response(found[1], media_type=found[0], headers={"Cache-Control": "private, max-age=3600"})


@router.post("/api/v1/alerts/{alert_id}/decline")
def decline(alert_id: AlertId, body: DeclineIn, runtime: RuntimeDep, principal: Reader) -> AlertPublic:
    """The assigned squad declines with a reason; the alert goes to the nearest other available squad."""
    current = _visible(runtime, alert_id, principal)
    if current.squad is None:
        raise ApiError(409, ["path", "alert_id"], "the alert has no squad to decline it",
                       "invalid_transition")
    try:
        service.decline(runtime, alert_id, current.squad.id, body.reason, _actor(principal), note=body.note)
    except service.TransitionError as exc:
        raise ApiError(409, ["path", "alert_id"], str(exc), "invalid_transition") from None
    except service.AlertNotFound:
        raise not_found(["path", "alert_id"], f"no alert {alert_id!r}") from None
    return _public(runtime, [alert_id])[0]


# ---------------------------------------------------------------------------------------- silences


def _silence_public(s: Silence, now_ms: int) -> SilencePublic:
    status = "pending" if now_ms < s.starts_ms else ("active" if now_ms < s.ends_ms else "expired")
    return SilencePublic(id=s.id, matchers=[str(m) for m in s.matchers], starts_ms=s.starts_ms,
                         ends_ms=s.ends_ms, created_by=s.created_by, comment=s.comment, status=status)


@router.post("/api/v1/silences", status_code=201, tags=["silences"])
def create_silence(body: SilenceIn, runtime: RuntimeDep, principal: Commander) -> SilencePublic:
    """Mute matching alerts for a while (who and why are kept); open alerts are re-checked at once."""
    now = runtime.now_ms()
    for i, text in enumerate(body.matchers):
        try:
            Matcher.parse(text)
        except ValueError as exc:
            raise unprocessable(["body", "matchers", i], str(exc), "bad_matcher") from None
    starts = int(body.starts_at.timestamp() * 1000) if body.starts_at else now
    if (body.ends_at is None) == (body.duration_min is None):
        raise unprocessable(["body", "ends_at"], "give ends_at or duration_min (one of them)", "missing")
    ends = int(body.ends_at.timestamp() * 1000) if body.ends_at else starts + int(body.duration_min * 60_000)  # type: ignore[operator]
    if ends <= max(starts, now):
        raise unprocessable(["body", "ends_at"], "the silence must end after it starts and after now",
                            "value_error")
    try:
        silence = service.create_silence(runtime, matchers=body.matchers, starts_ms=starts, ends_ms=ends,
                                         created_by=body.created_by or principal.name or principal.role,
                                         comment=body.comment)
    except ValidationError as exc:
        raise unprocessable(["body"], str(exc.errors()[0]["msg"])) from None
    return _silence_public(silence, runtime.now_ms())


@router.get("/api/v1/silences", tags=["silences"])
def list_silences(runtime: RuntimeDep, _: Reader, expired: bool = False) -> list[SilencePublic]:
    now = runtime.now_ms()
    with runtime.store.read() as conn:
        found = repo.list_silences(conn, live_at_ms=None if expired else now)
    return [_silence_public(s, now) for s in found]


@router.get("/api/v1/silences/{silence_id}", tags=["silences"])
def get_silence(silence_id: str, runtime: RuntimeDep, _: Reader) -> SilencePublic:
    with runtime.store.read() as conn:
        silence = repo.get_silence(conn, silence_id)
    if silence is None:
        raise not_found(["path", "silence_id"], f"no silence {silence_id!r}")
    return _silence_public(silence, runtime.now_ms())


@router.delete("/api/v1/silences/{silence_id}", tags=["silences"])
def expire_silence(silence_id: str, runtime: RuntimeDep, _: Commander) -> SilencePublic:
    """End a silence now (it stays on record as expired); what it muted is live again."""
    silence = service.expire_silence(runtime, silence_id)
    if silence is None:
        raise not_found(["path", "silence_id"], f"no silence {silence_id!r}")
    return _silence_public(silence, runtime.now_ms())


# ------------------------------------------------------------------------------------------- rules


@router.get("/api/v1/rules", tags=["rules"])
def list_rules(runtime: RuntimeDep, _: Reader) -> dict[str, Any]:
    """The rules in force (from config.toml, else the shipped defaults), escalation, routes, inhibitions."""
    cfg = service.alerting_config(runtime)
    rules = []
    for rule in cfg.rules:
        schedule = cfg.schedule_of(rule)
        rules.append({"name": rule.name, "kind": rule.kind, "severity": rule.config.severity.value,
                      "enabled": rule.config.enabled,
                      "runs": "on_report" if schedule is None else
                      ({"cron": schedule.cron} if schedule.cron else {"interval_min": schedule.interval_min}),
                      "config": rule.config.model_dump(mode="json")})
    return {
        "rules": rules,
        "escalation": {"policies": {k: p.model_dump(mode="json") for k, p in cfg.policies.items()},
                       "reports": cfg.report_targets.model_dump(mode="json"), "tick_s": cfg.tick_s},
        "routes": [r.model_dump(mode="json") for r in cfg.routes],
        "inhibit": [r.model_dump(mode="json") for r in cfg.inhibit_rules],
        "sources": dict(cfg.sources),
    }

