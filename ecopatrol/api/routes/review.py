"""``GET /review`` — the commander's review page: the coverage map beside the numbers.

Simplified Chinese by default (``?lang=en`` for English); a time window (24 h, 7 d, 30 d or from a
chosen moment) and filters (township, squad, mode); charts drawn as inline SVG on the server (no chart
library, nothing from the internet); download links for the exports. The map is an ``<iframe>`` of
``/maps/coverage`` with the same window and filters.

Sign-in: a browser without a valid commander cookie gets a small sign-in form (``POST /review/login``
sets the ``access_token`` cookie); ``/review?token=…`` also signs in and then drops the token from the
address. See ``ecopatrol.api.routes.maps`` for the three ways a token is accepted.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from html import escape
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from ecopatrol import review_data as rd
from ecopatrol.api.deps import RuntimeDep
from ecopatrol.api.routes.maps import COOKIE, principal_from_browser, set_token_cookie
from ecopatrol.runtime import Runtime
from ecopatrol.stats_service import review_stats
from geo.maps import CATEGORY_COLORS, MODE_COLORS, MODE_LABELS, SEVERITY_LABELS

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"
PRESETS = ("24h", "7d", "30d")
RIVER_COLOR, FOREST_COLOR = "#2b7bb9", "#2e7d4f"

router = APIRouter(tags=["pages"])

#: Page texts (Simplified Chinese, English).
TEXTS: dict[str, tuple[str, str]] = {
    "title": ("巡护复盘", "Patrol review"),
    "window": ("时段", "Window"),
    "custom": ("自定义起点", "from"),
    "24h": ("近24小时", "24 h"),
    "7d": ("近7天", "7 days"),
    "30d": ("近30天", "30 days"),
    "township": ("乡镇", "Township"),
    "squad": ("中队", "Squad"),
    "mode": ("方式", "Mode"),
    "all": ("全部", "all"),
    "apply": ("查看", "Show"),
    "switch": ("English", "中文"),
    "river_cov": ("河道巡护覆盖率", "River covered"),
    "forest_cov": ("林区巡护覆盖率", "Forest covered"),
    "effort": ("巡护里程 / 时长", "Patrolled"),
    "reports": ("举报线索", "Reports"),
    "open": ("未结", "open"),
    "overdue": ("超时事项", "Overdue"),
    "triage_p90": ("研判用时 P90", "Triage p90"),
    "target": ("目标", "target"),
    "cov_by_mode": ("按巡护方式的覆盖率", "Coverage by mode"),
    "cov_by_squad": ("按中队的覆盖率", "Coverage by squad"),
    "cov_by_township": ("按乡镇的覆盖率", "Coverage by township"),
    "river": ("河道", "river"),
    "forest": ("林区", "forest"),
    "km_by_unit": ("各巡护单元里程", "Distance by unit"),
    "by_category": ("举报类别", "Reports by category"),
    "by_status": ("举报状态", "Reports by status"),
    "response": ("响应时效（分钟）", "Response times (minutes)"),
    "step": ("环节", "Step"),
    "n": ("件数", "n"),
    "within": ("达标率", "within target"),
    "waiting": ("未完成", "not yet"),
    "report_triage": ("举报研判", "Report triage"),
    "report_assign": ("举报派警", "Report assignment"),
    "report_on_scene": ("举报到场", "Report on scene"),
    "report_resolve": ("举报处置", "Report resolved"),
    "alert_ack": ("警情确认", "Alert acknowledged"),
    "alert_on_scene": ("警情到场", "Alert on scene"),
    "alert_resolve": ("警情处置", "Alert resolved"),
    "overdue_list": ("黄/红超时清单", "Yellow/red overdue"),
    "none": ("无", "none"),
    "most_overdue_reaches": ("最久未巡河段", "Reaches longest without patrol"),
    "most_overdue_cells": ("最久未巡林区网格", "Forest cells longest without patrol"),
    "never": ("从未巡护", "never"),
    "hours_ago": ("小时前", "h ago"),
    "downloads": ("导出数据", "Exports"),
    "gpkg": ("GeoPackage（QGIS）", "GeoPackage (QGIS)"),
    "geojson": ("GeoJSON 压缩包", "GeoJSON zip"),
    "csv": ("CSV 压缩包", "CSV zip"),
    "map": ("巡护覆盖图", "Coverage map"),
    "open_map": ("新窗口打开地图", "Open map"),
    "sign_in": ("指挥员登录", "Commander sign-in"),
    "token": ("令牌", "Token"),
    "submit": ("登录", "Sign in"),
    "sign_in_hint": (
        "请输入指挥员令牌（ecopatrol token create --role commander）。",
        "Enter a commander token (ecopatrol token create --role commander).",
    ),
    "bad_token": (
        "令牌无效、已过期或不是指挥员令牌。",
        "The token is unknown, expired or not a commander's.",
    ),
    "sign_out": ("退出", "Sign out"),
    "alert": ("警情", "Alert"),
    "report": ("举报", "Report"),
    "age": ("已过", "age"),
    "minutes": ("分钟", "min"),
    "name": ("名称", "Name"),
    "since_patrol": ("上次巡护", "Last patrol"),
    "priority": ("重点", "priority"),
    "no_data": ("暂无数据", "no data"),
    "p50": ("P50", "p50"),
    "p90": ("P90", "p90"),
    "error": ("无法按此条件统计", "Cannot answer for these filters"),
    "unit_days": ("单元·天", "unit-days"),
}


def _t(lang: str) -> Any:
    index = 1 if lang == "en" else 0
    return lambda key: TEXTS.get(key, (key, key))[index]


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals.update(bars=bars_svg, grouped_bars=grouped_bars_svg, timing=timing_svg)
    return env


@router.get("/review", response_class=HTMLResponse)
def review_page(
    request: Request,
    runtime: RuntimeDep,
    since: Annotated[str, Query(max_length=64)] = "7d",
    township: Annotated[str | None, Query(max_length=128)] = None,
    squad: Annotated[str | None, Query(max_length=100)] = None,
    mode: Literal["vehicle", "foot", "boat", ""] | None = None,
    start: Annotated[str | None, Query(max_length=32, description="custom window start")] = None,
    lang: Literal["zh", "en"] = "zh",
) -> Response:
    """The review page (signs in with ``?token=`` or shows the sign-in form when not signed in)."""
    principal = principal_from_browser(request, runtime)
    if principal is None or principal.role != "commander":
        return _sign_in(
            runtime, lang, error=bool(request.query_params.get("token") or request.cookies.get(COOKIE))
        )
    if request.query_params.get("token"):
        query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
        redirect = RedirectResponse(f"/review{'?' + query if query else ''}", status_code=303)
        set_token_cookie(request, redirect, request.query_params["token"])
        return redirect
    since = _since(since, start, runtime.settings.deployment.timezone)
    filters = {"township": township or None, "squad": squad or None, "mode": mode or None}
    error = None
    try:
        stats = review_stats(runtime, since, **filters)
    except rd.ReviewQueryError as exc:
        error, since = str(exc), "7d"
        stats = review_stats(runtime, since, **filters)
    html = (
        _environment()
        .get_template("review.html")
        .render(
            lang=lang,
            t=_t(lang),
            s=stats,
            since=since,
            preset=since if since in PRESETS else "custom",
            start=start or "",
            filters=filters,
            error=error,
            options=_options(runtime),
            deployment=runtime.settings.deployment.name,
            map_url=_url("/maps/coverage", since, filters, lang),
            downloads={f: _url(f"/api/v1/exports/{f}", since, {}, None) for f in ("gpkg", "geojson", "csv")},
            switch_url=_url("/review", since, filters, "en" if lang == "zh" else "zh"),
            labels=_labels(lang),
            colors={"river": RIVER_COLOR, "forest": FOREST_COLOR},
            charts=_charts(stats, _labels(lang), _t(lang)),
        )
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


@router.post("/review/login", response_class=HTMLResponse)
def sign_in(
    request: Request,
    runtime: RuntimeDep,
    token: Annotated[str, Form(max_length=500)],
    lang: Annotated[Literal["zh", "en"], Form()] = "zh",
) -> Response:
    """Check a commander token and keep it as the ``access_token`` cookie."""
    from ecopatrol.store.tokens_repo import verify_token

    with runtime.store.read() as conn:
        principal = verify_token(conn, token.strip(), now_ms=runtime.now_ms())
    if principal is None or principal.role != "commander":
        return _sign_in(runtime, lang, error=True)
    response = RedirectResponse(f"/review?lang={lang}", status_code=303)
    set_token_cookie(request, response, token.strip())
    return response


@router.post("/review/logout")
def sign_out(lang: Annotated[Literal["zh", "en"], Form()] = "zh") -> Response:
    response = RedirectResponse(f"/review?lang={lang}", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _sign_in(runtime: Runtime, lang: str, *, error: bool) -> HTMLResponse:
    html = (
        _environment()
        .get_template("review.html")
        .render(
            lang=lang,
            t=_t(lang),
            sign_in=True,
            error=error,
            deployment=runtime.settings.deployment.name,
            switch_url=f"/review?lang={'en' if lang == 'zh' else 'zh'}",
        )
    )
    return HTMLResponse(html, status_code=401, headers={"Cache-Control": "no-store"})


def _since(since: str, start: str | None, tz: str) -> str:
    """The window: a preset, or the ``start`` a commander picked (local time when it has no zone)."""
    if since == "custom" and start:
        since = start
    if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?", since.strip()):
        moment = datetime.fromisoformat(since.strip()).replace(tzinfo=ZoneInfo(tz))
        return moment.isoformat()
    return since


def _url(path: str, since: str, filters: dict[str, str | None], lang: str | None) -> str:
    params = [("since", since)] + [(k, v) for k, v in filters.items() if v]
    if lang:
        params.append(("lang", lang))
    return f"{path}?{urlencode(params)}"


def _options(runtime: Runtime) -> dict[str, list[str]]:
    layers = runtime.layer_index().layers
    with runtime.store.read() as conn:
        names = rd.squad_names(conn)
        squads = sorted({names.get(s, s) for s in rd.unit_squads(conn).values()} | set(names.values()))
    return {
        "townships": sorted(str(n) for n in layers.townships["name"]) if len(layers.townships) else [],
        "squads": squads,
        "modes": list(MODE_LABELS),
    }


def _labels(lang: str) -> dict[str, dict[str, str]]:
    from ecopatrol.reports.categories import CATEGORY_LABELS
    from ecopatrol.reports.lifecycle import STATUS_LABELS

    i = 1 if lang == "en" else 0
    return {
        "modes": {k: v[i] for k, v in MODE_LABELS.items()},
        "categories": {k: v[i] for k, v in CATEGORY_LABELS.items()},
        "statuses": {k: v[i] for k, v in STATUS_LABELS.items()},
        "severities": {k: v[i] for k, v in SEVERITY_LABELS.items()},
    }


def _charts(stats: dict[str, Any], labels: dict[str, dict[str, str]], t: Any) -> dict[str, Any]:
    """The chart rows of the page, from the statistics."""
    cov = stats["coverage"]

    def _pair(v: dict[str, Any], detail: bool = False) -> list[tuple[float, str, str]]:
        river, forest = v["river"], v["forest"]
        r_text = f"{river['covered_pct'] or 0:.1f}%" + (
            f" · {river['covered_km']:g}/{river['total_km']:g} km" if detail else ""
        )
        f_text = f"{forest['covered_pct'] or 0:.1f}%" + (
            f" · {forest['covered_km2']:g}/{forest['total_km2']:g} km²" if detail else ""
        )
        return [
            (river["covered_pct"] or 0.0, r_text, RIVER_COLOR),
            (forest["covered_pct"] or 0.0, f_text, FOREST_COLOR),
        ]

    units = sorted(stats["effort"]["by_unit"], key=lambda u: -u["km"])
    response = stats["response"]
    steps = [
        ("report_triage", response["reports"]["triage"]),
        ("report_assign", response["reports"]["assign"]),
        ("report_on_scene", response["reports"]["on_scene"]),
        ("report_resolve", response["reports"]["resolve"]),
        ("alert_ack", response["alerts"]["ack"]),
        ("alert_on_scene", response["alerts"]["on_scene"]),
        ("alert_resolve", response["alerts"]["resolve"]),
    ]
    return {
        "by_mode": [(labels["modes"].get(m, m), _pair(v)) for m, v in cov["by_mode"].items()],
        "by_squad": [(q, _pair(v)) for q, v in cov["by_squad"].items()],
        "by_township": [(name, _pair(v, detail=True)) for name, v in cov["by_township"].items()],
        "units": [
            (
                f"{u['unit_id']} · {u['squad']}",
                u["km"],
                f"{u['km']:.0f} km · {u['hours']:.1f} h",
                MODE_COLORS.get(u["mode"], "#555"),
            )
            for u in units
        ],
        "categories": [
            (labels["categories"].get(c, c), n, str(n), CATEGORY_COLORS.get(c, "#616161"))
            for c, n in stats["reports"]["by_category"].items()
        ],
        "statuses": [
            (labels["statuses"].get(k, k), n, str(n), "#546e7a")
            for k, n in stats["reports"]["by_status"].items()
        ],
        "timing": [(t(key), v["p50_min"], v["p90_min"], v["target_min"]) for key, v in steps],
    }


# --- inline SVG charts ----------------------------------------------------------------------------------


def bars_svg(
    items: list[tuple[str, float, str, str]],
    *,
    max_value: float | None = None,
    width: int = 320,
    label_px: int = 90,
    value_px: int = 60,
) -> Markup:
    """Horizontal bars: (label, value, text shown after the bar, colour) per row."""
    if not items:
        return Markup("")
    top = max_value or max((v for _, v, _, _ in items), default=0) or 1.0
    row, bar_w = 20, width - label_px - value_px
    parts = [f'<svg class="chart" viewBox="0 0 {width} {row * len(items) + 4}" width="{width}" role="img">']
    for i, (label, value, text, color) in enumerate(items):
        y = i * row + 2
        w = max(0.0, min(1.0, value / top)) * bar_w
        parts.append(
            f'<text x="{label_px - 6}" y="{y + 13}" text-anchor="end" class="lbl">{escape(label)}</text>'
            f'<rect x="{label_px}" y="{y + 2}" width="{bar_w}" height="14" class="track"/>'
            f'<rect x="{label_px}" y="{y + 2}" width="{w:.1f}" height="14" rx="2" fill="{color}"/>'
            f'<text x="{label_px + bar_w + 5}" y="{y + 13}" class="val">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def grouped_bars_svg(
    groups: list[tuple[str, list[tuple[float, str, str]]]],
    *,
    max_value: float = 100.0,
    width: int = 320,
    label_px: int = 70,
    value_px: int = 50,
) -> Markup:
    """Per group a label and several thin bars: (value, text, colour) each (e.g. river and forest %)."""
    if not groups:
        return Markup("")
    bar_h, gap = 10, 8
    heights = [len(bars) * (bar_h + 2) + gap for _, bars in groups]
    bar_w = width - label_px - value_px
    parts = [f'<svg class="chart" viewBox="0 0 {width} {sum(heights) + 4}" width="{width}" role="img">']
    y = 2
    for (label, bars), h in zip(groups, heights, strict=True):
        parts.append(
            f'<text x="{label_px - 6}" y="{y + h / 2 + 1}" text-anchor="end" class="lbl">'
            f"{escape(label)}</text>"
        )
        for j, (value, text, color) in enumerate(bars):
            by = y + j * (bar_h + 2)
            w = max(0.0, min(1.0, value / max_value)) * bar_w
            parts.append(
                f'<rect x="{label_px}" y="{by}" width="{bar_w}" height="{bar_h}" class="track"/>'
                f'<rect x="{label_px}" y="{by}" width="{w:.1f}" height="{bar_h}" rx="2" fill="{color}"/>'
                f'<text x="{label_px + bar_w + 5}" y="{by + bar_h - 1}" class="val">{escape(text)}</text>'
            )
        y += h
    parts.append("</svg>")
    return Markup("".join(parts))


def timing_svg(
    rows: list[tuple[str, float | None, float | None, float | None]], *, width: int = 640, label_px: int = 100
) -> Markup:
    """Per step: a bar to p50, a lighter one to p90, and the target as a dashed red line."""
    shown = [r for r in rows if r[1] is not None or r[3] is not None]
    if not shown:
        return Markup("")
    top = max([v for r in shown for v in r[1:] if v is not None] + [1.0]) * 1.1
    row, bar_w = 24, width - label_px - 20
    parts = [f'<svg class="chart" viewBox="0 0 {width} {row * len(shown) + 16}" width="{width}" role="img">']
    for i, (label, p50, p90, target) in enumerate(shown):
        y = i * row + 2
        parts.append(
            f'<text x="{label_px - 6}" y="{y + 15}" text-anchor="end" class="lbl">{escape(label)}</text>'
            f'<rect x="{label_px}" y="{y + 3}" width="{bar_w}" height="15" class="track"/>'
        )
        if p90 is not None:
            parts.append(
                f'<rect x="{label_px}" y="{y + 3}" width="{p90 / top * bar_w:.1f}" height="15" '
                f'class="p90"><title>p90 {p90:g}</title></rect>'
            )
        if p50 is not None:
            parts.append(
                f'<rect x="{label_px}" y="{y + 3}" width="{p50 / top * bar_w:.1f}" height="15" '
                f'class="p50"><title>p50 {p50:g}</title></rect>'
            )
        if target is not None:
            x = label_px + target / top * bar_w
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y}" y2="{y + 21}" class="target"/>')
    axis_y = row * len(shown) + 12
    for tick in _ticks(top):
        x = label_px + tick / top * bar_w
        parts.append(f'<text x="{x:.1f}" y="{axis_y}" text-anchor="middle" class="tick">{tick:g}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _ticks(top: float) -> list[float]:
    step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 240, 480, 1440, 10**9) if top / s <= 6)
    return [i * step for i in range(int(top // step) + 1)]
