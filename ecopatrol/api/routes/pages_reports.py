"""The report form page (``/report``) and the self-hosted static assets (``/static``).

Pages are Jinja2 templates from ``ecopatrol/web/templates`` (autoescaped); nothing loads from the
internet: Leaflet is served from ``/static/vendor``, the county is drawn from ``/api/v1/layers``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from ecopatrol.api.deps import RuntimeDep
from ecopatrol.reports.categories import form_spec
from ecopatrol.reports.photos import MAX_PHOTOS
from ecopatrol.runtime import Runtime

WEB = Path(__file__).resolve().parents[2] / "web"
TEMPLATES = WEB / "templates"
STATIC = WEB / "static"

router = APIRouter(tags=["pages"])


def mount_static(app: FastAPI) -> None:
    """Serve ``ecopatrol/web/static`` at ``/static`` (call once from ``create_app``)."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def render_page(name: str, *, request: Request, runtime: Runtime, lang: str, **context: Any) -> str:
    """A template rendered with the deployment's name and the page language."""
    return (
        _environment()
        .get_template(name)
        .render(
            lang="en" if lang == "en" else "zh",
            deployment=runtime.settings.deployment.name,
            path=request.url.path,
            **context,
        )
    )


@router.get("/report", response_class=HTMLResponse)
def report_page(
    request: Request, runtime: RuntimeDep, lang: Annotated[str, Query(max_length=8)] = "zh"
) -> HTMLResponse:
    """The report form: Simplified Chinese (``?lang=en`` for English), a map of the county to tap the
    place, "use my location", the category's own fields, photos; it answers with a tracking code."""
    bounds = runtime.layer_index().bounds_lonlat
    config = {
        "bounds": list(bounds),
        "categories": form_spec(),
        "max_photos": MAX_PHOTOS,
        "tile_url": None,
        "deployment": runtime.settings.deployment.name,
    }
    html = render_page("report.html", request=request, runtime=runtime, lang=lang, config=config)
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})
