"""``GET /maps/coverage`` — the folium coverage map (HTML), and the browser sign-in the review pages use.

Commander role. A browser cannot send a bearer header when it loads a page, an ``<iframe>`` or a
download link, so the commander's token is accepted three ways, in this order:

1. ``Authorization: Bearer <token>`` (scripts, curl);
2. the ``access_token`` cookie — set by ``POST /review/login`` (the review page's sign-in form) or by
   any review page opened once with ``?token=``; HttpOnly, SameSite=Strict, 12 hours;
3. ``?token=<token>`` in the query (a link handed to a commander; the page then sets the cookie).

Assets come from ``/static/vendor`` (served by the app): the page loads nothing from the internet.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse

from ecopatrol.api.deps import RuntimeDep
from ecopatrol.api.errors import ApiError, unprocessable
from ecopatrol.maps_service import build_coverage_map
from ecopatrol.review_data import ReviewQueryError
from ecopatrol.runtime import Runtime
from ecopatrol.store.tokens_repo import Principal, verify_token

COOKIE = "access_token"
COOKIE_MAX_AGE_S = 12 * 3600
SINCE_HELP = "24h, 7d, 30d or an ISO-8601 time"

router = APIRouter(tags=["maps"])


def _presented_token(request: Request) -> tuple[str | None, list[str]]:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), ["header", "Authorization"]
    if request.cookies.get(COOKIE):
        return request.cookies[COOKIE], ["cookie", COOKIE]
    if request.query_params.get("token"):
        return request.query_params["token"], ["query", "token"]
    return None, ["header", "Authorization"]


def principal_from_browser(request: Request, runtime: Runtime) -> Principal | None:
    """The commander behind the request's bearer header, cookie or ``?token=``; None when absent or not
    valid (the caller decides between a 401 and a sign-in page)."""
    token, _ = _presented_token(request)
    if token is None:
        return None
    with runtime.store.read() as conn:
        return verify_token(conn, token, now_ms=runtime.now_ms())


def browser_commander(request: Request, runtime: RuntimeDep) -> Principal:
    """A dependency: a commander, by bearer header, ``access_token`` cookie or ``?token=``."""
    token, loc = _presented_token(request)
    if token is None:
        raise ApiError(
            401,
            loc,
            f"a commander token is required (Authorization: Bearer …, the {COOKIE} cookie, or ?token=)",
            "unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
    with runtime.store.read() as conn:
        principal = verify_token(conn, token, now_ms=runtime.now_ms())
    if principal is None:
        raise ApiError(
            401,
            loc,
            "the token is unknown, expired or revoked",
            "unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if principal.role != "commander":
        raise ApiError(403, loc, f"role {principal.role!r} may not do this (needs commander)", "forbidden")
    return principal


BrowserCommander = Annotated[Principal, Depends(browser_commander)]


def remember_token(request: Request, response: Response) -> None:
    """Keep a ``?token=`` as the ``access_token`` cookie so the page's iframe and downloads carry it."""
    token = request.query_params.get("token")
    if token and request.cookies.get(COOKIE) != token:
        set_token_cookie(request, response, token)


def set_token_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=COOKIE_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


@router.get("/maps/coverage", response_class=HTMLResponse)
def coverage_map(
    request: Request,
    runtime: RuntimeDep,
    _: BrowserCommander,
    since: Annotated[str, Query(description=SINCE_HELP)] = "7d",
    township: Annotated[str | None, Query(max_length=128)] = None,
    squad: Annotated[str | None, Query(max_length=100)] = None,
    mode: Literal["vehicle", "foot", "boat"] | None = None,
    lang: Literal["zh", "en"] = "zh",
    metric: Annotated[Literal["hours", "km"], Query(description="forest cells shaded by")] = "hours",
    fixes: Annotated[bool, Query(description="also draw the GPS fixes (when zoomed in)")] = False,
) -> HTMLResponse:
    """The coverage map: reaches by hours since patrol, forest cells by patrol hours (or km), tracks by
    mode and squad, reports, open alerts, incident heat and risk layers; 中文 with an English switch.
    Township filters everything; squad and mode filter the patrol effort."""
    try:
        page = build_coverage_map(
            runtime,
            since,
            township=township or None,
            squad=squad or None,
            mode=mode,
            lang=lang,
            include_fixes=fixes,
            cell_metric=metric,
        )
    except ReviewQueryError as exc:
        raise unprocessable(["query", "since"], str(exc)) from None
    response = HTMLResponse(
        page,
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )
    remember_token(request, response)
    return response
