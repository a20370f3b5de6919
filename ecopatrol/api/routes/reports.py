"""Sighting reports: sent by partners, squads and commanders (bearer token) or the public form, moved
through their life by commanders and squads, followed by anyone holding the tracking code (``/r/``).

``POST /api/v1/reports`` and ``POST /api/v1/public/reports`` take JSON, or multipart/form-data with a
``report`` field (the same JSON) and up to five ``photos``. Both honour ``Idempotency-Key``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from ecopatrol.api.deps import RuntimeDep, require
from ecopatrol.api.routes.pages_reports import render_page
from ecopatrol.reports import service
from ecopatrol.reports.categories import Category
from ecopatrol.reports.lifecycle import STATUS_LABELS, Action, Status
from ecopatrol.reports.photos import MAX_PHOTOS, PhotoUpload
from ecopatrol.reports.problems import ReportProblem
from ecopatrol.reports.ratelimit import PUBLIC_BURST, PUBLIC_PER_MINUTE, TokenBuckets
from ecopatrol.reports.schemas import (
    ReportCheck,
    ReportCreate,
    ReportList,
    ReportPublic,
    ReportReceipt,
    ReportStatusPublic,
    TransitionRequest,
)
from ecopatrol.reports.tracking import normalize_code, qr_svg
from ecopatrol.runtime import Runtime
from ecopatrol.store.tokens_repo import Principal
from ecopatrol.windows import WindowError, since_ms

Sender = Annotated[Principal, Depends(require("partner", "squad"))]
Reader = Annotated[Principal, Depends(require("partner", "squad"))]
Actor = Annotated[Principal, Depends(require("squad"))]
ReportId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_FORM_REPORT_MAX_BYTES = 64 * 1024


class ReportRoute(APIRoute):
    """Problems raised by the service become 4xx in the API's error shape; a typed report body that
    fails validation is re-read by the service's parser, so every way in names fields alike."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except ReportProblem as problem:
                return problem_response(problem)
            except RequestValidationError as exc:
                reparsed = await _reparse(request)
                if reparsed is None:
                    raise exc from None
                return problem_response(reparsed)

        return handle


def problem_response(problem: ReportProblem) -> JSONResponse:
    return JSONResponse(status_code=problem.status_code, content={"detail": problem.items})


async def _reparse(request: Request) -> ReportProblem | None:
    if request.method != "POST" or not request.url.path.endswith("/check"):
        return None
    try:
        raw = json.loads(await request.body())
        service.parse_report(raw)
    except ReportProblem as problem:
        return problem
    except (ValueError, RecursionError):
        return None
    return None


router = APIRouter(tags=["reports"], route_class=ReportRoute)

_MULTIPART_SCHEMA = {
    "type": "object",
    "required": ["report"],
    "properties": {
        "report": {
            "type": "string",
            "contentMediaType": "application/json",
            "description": "the report as JSON (see ReportCreate)",
        },
        "photos": {
            "type": "array",
            "maxItems": MAX_PHOTOS,
            "items": {"type": "string", "format": "binary"},
            "description": "JPEG, PNG or WebP; at most 5, 8 MB each by default",
        },
    },
}
_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ReportCreate"}},
            "multipart/form-data": {"schema": _MULTIPART_SCHEMA},
        },
    },
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "maxLength": 200},
            "description": "a resend with the same key returns the first answer (same status code)",
        }
    ],
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no, unknown, expired or revoked token"},
    413: {"description": "a photo (or the body) is too large"},
    422: {"description": "a field is missing or wrong: detail names it and says why"},
}


def base_url(request: Request, runtime: Runtime) -> str:
    """How clients reach this server: ``server.public_url``, else the request's own origin."""
    return (runtime.settings.server.public_url or str(request.base_url)).rstrip("/")


# ------------------------------------------------------------------------------------------------
# sending


@router.post(
    "/api/v1/reports",
    status_code=201,
    response_model=ReportPublic,
    openapi_extra=_BODY_DOC,
    responses=_ERRORS,
)
async def create_report(request: Request, runtime: RuntimeDep, principal: Sender) -> JSONResponse:
    """Send a report (partners: your organisation's API key; squads; commanders)."""
    if principal.role == "partner" and not principal.org:
        raise ReportProblem.one(
            ["header", "Authorization"],
            "this partner token has no organisation (create it with --org)",
            "forbidden",
            403,
        )
    return await _create(request, runtime, service.Submitter.of(principal), view="full")


@router.post(
    "/api/v1/public/reports",
    status_code=201,
    response_model=ReportReceipt,
    openapi_extra=_BODY_DOC,
    responses={**_ERRORS, 429: {"description": "too many reports"}},
)
async def create_public_report(request: Request, runtime: RuntimeDep) -> JSONResponse:
    """Send a report from the public form (no token; a few per minute per address). The answer is the
    tracking code and its status page, nothing else."""
    client = request.client.host if request.client else "unknown"
    allowed, wait_s = _limiter(request).allow(client)
    if not allowed:
        return JSONResponse(
            status_code=429,
            headers={"Retry-After": str(max(1, round(wait_s)))},
            content={
                "detail": [
                    {
                        "loc": ["client"],
                        "type": "rate_limited",
                        "msg": f"too many reports from this address; retry in {max(1, round(wait_s))} s",
                    }
                ]
            },
        )
    return await _create(
        request, runtime, service.Submitter("public", "public", "public form"), view="receipt"
    )


def _limiter(request: Request) -> TokenBuckets:
    state = request.app.state
    limiter = getattr(state, "public_report_buckets", None)
    if limiter is None:
        section = getattr(request.app.state.runtime.settings, "reports", None)
        limiter = state.public_report_buckets = TokenBuckets(
            burst=int(getattr(section, "public_burst", PUBLIC_BURST)),
            per_minute=float(getattr(section, "public_per_minute", PUBLIC_PER_MINUTE)),
        )
    return limiter


async def _create(
    request: Request, runtime: Runtime, submitter: service.Submitter, *, view: service.View
) -> JSONResponse:
    raw, uploads = await _read_body(request)
    report = service.parse_report(raw)
    result = await run_in_threadpool(
        service.create_report,
        runtime,
        report,
        submitter=submitter,
        uploads=uploads,
        idempotency_key=request.headers.get("idempotency-key"),
        base_url=base_url(request, runtime),
        view=view,
    )
    headers = {"Location": result.body.get("status_url", "")} if result.body.get("status_url") else {}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(status_code=result.status_code, content=result.body, headers=headers)


async def _read_body(request: Request) -> tuple[object, list[PhotoUpload]]:
    """The report JSON and the photos, from a JSON body or a multipart form."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        return await _read_form(request)
    if ctype and ctype != "application/json" and not ctype.endswith("+json"):
        raise ReportProblem.one(
            ["header", "Content-Type"],
            f"send application/json or multipart/form-data, not {ctype}",
            "unsupported_media_type",
            415,
        )
    return _json(await request.body(), ["body"]), []


def _json(data: bytes | str, loc: list[str | int]) -> object:
    if not data:
        raise ReportProblem.one(loc, "the report is missing (empty body)", "missing")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ReportProblem.one(loc, f"not valid JSON: {str(exc)[:120]}", "json_invalid") from None


async def _read_form(request: Request) -> tuple[object, list[PhotoUpload]]:
    limit = service.photo_limit_bytes(request.app.state.runtime)
    try:
        form = await request.form(
            max_files=MAX_PHOTOS + 1, max_fields=20, max_part_size=_FORM_REPORT_MAX_BYTES
        )
    except StarletteHTTPException as exc:
        loc = ["body", "photos"] if "file" in str(exc.detail).lower() else ["body"]
        raise ReportProblem.one(
            loc, f"cannot read the form: {exc.detail} (at most {MAX_PHOTOS} photos)", "bad_form"
        ) from None
    text = form.get("report")
    if text is None or isinstance(text, UploadFile):
        if isinstance(text, UploadFile):
            text = (await text.read(_FORM_REPORT_MAX_BYTES + 1)).decode("utf-8", "replace")
        else:
            raise ReportProblem.one(
                ["body", "report"], "the form needs a 'report' field with the report as JSON", "missing"
            )
    raw = _json(text, ["body", "report"])
    uploads = []
    for i, item in enumerate(form.getlist("photos")):
        if not isinstance(item, UploadFile):
            raise ReportProblem.one(["body", "photos", i], "expected a file, got text", "not_a_file")
        data = await item.read(limit + 1)
        uploads.append(PhotoUpload(filename=item.filename or f"photo{i + 1}", data=data))
    return raw, uploads


@router.post("/api/v1/reports/check", response_model=ReportCheck, responses=_ERRORS)
def check_report(body: ReportCreate, runtime: RuntimeDep) -> ReportCheck:
    """Validate and place a report without storing it: the same checks and 4xx answers as sending it
    (no token needed; photos are not checked here)."""
    return service.check_report(runtime, body.root)


# ------------------------------------------------------------------------------------------------
# reading and moving on


@router.get("/api/v1/reports", response_model=ReportList)
def list_reports(
    runtime: RuntimeDep,
    principal: Reader,
    status: Status | None = None,
    category: Category | None = None,
    since: Annotated[str | None, Query(description="24h, 7d or an ISO-8601 time")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ReportList:
    """Reports, newest first. Partners see their own organisation's only."""
    start = None
    if since is not None:
        try:
            start = since_ms(since, now_ms=runtime.now_ms())
        except WindowError as exc:
            raise ReportProblem.one(["query", "since"], str(exc)) from None
    return service.list_reports(
        runtime,
        principal=principal,
        status=status,
        category=category,
        since_ms=start,
        limit=limit,
        offset=offset,
    )


@router.get("/api/v1/reports/{report_id}", response_model=ReportPublic, responses={404: {}})
def get_report(report_id: ReportId, request: Request, runtime: RuntimeDep, principal: Reader) -> ReportPublic:
    """One report with its photos' metadata and its timeline (partners: their organisation's only)."""
    return service.read_report(runtime, report_id, principal=principal, base_url=base_url(request, runtime))


@router.post(
    "/api/v1/reports/{report_id}/{action}",
    response_model=ReportPublic,
    responses={403: {}, 404: {}, 409: {"description": "not allowed from the current status"}},
)
def move_report(
    report_id: ReportId,
    action: Action,
    request: Request,
    runtime: RuntimeDep,
    principal: Actor,
    body: TransitionRequest | None = None,
) -> ReportPublic:
    """triage, assign (``squad_id``), on_scene, resolve, or reject (``reason``). Commanders do all;
    a squad acts on scene, resolves or rejects the reports assigned to it."""
    return service.transition(
        runtime,
        report_id,
        action,
        principal=principal,
        request=body or TransitionRequest(),
        base_url=base_url(request, runtime),
    )


@router.get(
    "/api/v1/reports/{report_id}/photos/{n}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}, 404: {}},
)
def get_photo(
    report_id: ReportId, n: Annotated[int, Path(ge=1, le=MAX_PHOTOS)], runtime: RuntimeDep, principal: Reader
) -> Response:
    """A report's photo, as sent."""
    content_type, data = service.photo(runtime, report_id, n, principal=principal)
    return Response(
        data,
        media_type=content_type,
        headers={
            "Cache-Control": "private, max-age=3600",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'",
        },
    )


# ------------------------------------------------------------------------------------------------
# the public status page

_PRIVATE_PAGE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


@router.get(
    "/r/{code}",
    response_model=ReportStatusPublic,
    tags=["public"],
    responses={200: {"content": {"text/html": {}}}, 404: {}},
)
async def tracking_page(
    code: Annotated[str, Path(max_length=64)],
    request: Request,
    lang: Annotated[str, Query(max_length=8, description="zh (default) or en")] = "zh",
) -> Response:
    """A report's status and timeline for whoever holds its tracking code: an HTML page, or JSON with
    ``Accept: application/json``. Nothing about other reports, reporters or squads."""
    # the busiest public page: one worker-thread hop (no sync dependencies), the runtime from the app
    return await run_in_threadpool(_tracking_response, request, request.app.state.runtime, code, lang)


def _tracking_response(request: Request, runtime: Runtime, code: str, lang: str) -> Response:
    wants_json = _wants_json(request)
    try:
        status = service.public_status(runtime, code)
    except ReportProblem as problem:
        if wants_json:
            return JSONResponse(status_code=404, content={"detail": problem.items}, headers=_PRIVATE_PAGE)
        html = render_page(
            "tracking.html",
            request=request,
            runtime=runtime,
            lang=lang,
            status=None,
            code=code,
            labels=STATUS_LABELS,
        )
        return HTMLResponse(html, status_code=404, headers=_PRIVATE_PAGE)
    if wants_json:
        return JSONResponse(status.model_dump(mode="json"), headers=_PRIVATE_PAGE)
    html = render_page(
        "tracking.html",
        request=request,
        runtime=runtime,
        lang=lang,
        status=status,
        code=status.tracking_code,
        labels=STATUS_LABELS,
    )
    return HTMLResponse(html, headers=_PRIVATE_PAGE)


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()
    return "application/json" in accept and "text/html" not in accept


@router.get(
    "/r/{code}/qr.svg",
    tags=["public"],
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, 404: {}},
)
def tracking_qr(code: Annotated[str, Path(max_length=64)], request: Request, runtime: RuntimeDep) -> Response:
    """A QR code of the report's status page URL."""
    status = service.public_status(runtime, code)
    canonical = normalize_code(status.tracking_code) or ""
    url = base_url(request, runtime) + "/r/" + status.tracking_code
    return Response(
        qr_svg(url),
        media_type="image/svg+xml",
        headers={**_PRIVATE_PAGE, "Cache-Control": "private, max-age=86400", "ETag": f'"{canonical}"'},
    )
