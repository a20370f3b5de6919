"""``GET /api/v1/exports/{gpkg|geojson|csv}`` — the review's exports as downloads.

``gpkg``: one GeoPackage (layers fixes, tracks, reaches, cells, reports, alerts). ``geojson`` and
``csv``: a zip of one file per layer. Built in a temporary folder, streamed, then deleted.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from ecopatrol.api.deps import RuntimeDep
from ecopatrol.api.errors import unprocessable
from ecopatrol.api.routes.maps import SINCE_HELP, BrowserCommander
from ecopatrol.export_service import ExportError, export
from ecopatrol.windows import local_day

router = APIRouter(prefix="/api/v1/exports", tags=["review"])

_MEDIA = {"gpkg": "application/geopackage+sqlite3", "geojson": "application/zip", "csv": "application/zip"}


@router.get("/{fmt}", response_class=FileResponse)
def download(
    fmt: Literal["gpkg", "geojson", "csv"],
    runtime: RuntimeDep,
    _: BrowserCommander,
    since: Annotated[str | None, Query(description=SINCE_HELP + "; everything when absent")] = "7d",
) -> FileResponse:
    """Download the export for the window (``since``; empty for everything stored)."""
    day = local_day(runtime.now_ms(), runtime.settings.deployment.timezone)
    name = f"ecopatrol-{day}-{_slug(since or 'all')}.{'gpkg' if fmt == 'gpkg' else fmt + '.zip'}"
    folder = Path(tempfile.mkdtemp(prefix="ecopatrol-download-"))
    try:
        summary = export(runtime, fmt, folder / name, since or None)
    except ExportError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise unprocessable(["query", "since"], str(exc)) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        summary.path,
        media_type=_MEDIA[fmt],
        filename=name,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
        headers={"Cache-Control": "no-store"},
    )


def _slug(since: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in since.strip())[:32] or "all"
