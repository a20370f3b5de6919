"""Liveness and readiness."""

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlalchemy import text

from ecopatrol.api.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(runtime: RuntimeDep) -> dict[str, object]:
    """200 when the database answers."""
    with runtime.store.read() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ok", "database": runtime.store.dialect}


_HOME = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>生态警务 ecopatrol</title>
<link rel="stylesheet" href="/static/app.css"></head><body>
<main style="max-width:40rem;margin:2rem auto;padding:0 1rem">
<h1>生态警务巡护与预警 <small>ecopatrol</small></h1><ul style="font-size:1.2rem;line-height:2">
<li><a href="/review">指挥员总览 · Commander review</a></li>
<li><a href="/maps/coverage">巡护覆盖地图 · Coverage map</a></li>
<li><a href="/m">队员手机页 · Squad phone page</a></li>
<li><a href="/report">线索举报 · Report a sighting</a></li>
<li><a href="/docs">接口文档 · API documentation</a></li></ul></main></body></html>"""


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home() -> str:
    """A landing page linking the pages people use."""
    return _HOME
