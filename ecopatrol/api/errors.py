"""Client errors in one shape: ``{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}``, like
FastAPI's own validation errors, so clients read the field and the reason the same way everywhere."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(HTTPException):
    def __init__(self, status_code: int, loc: Sequence[str | int], msg: str, kind: str = "value_error",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code, detail=[{"loc": list(loc), "msg": msg, "type": kind}],
                         headers=headers)


def unprocessable(loc: Sequence[str | int], msg: str, kind: str = "value_error") -> ApiError:
    return ApiError(422, loc, msg, kind)


def not_found(loc: Sequence[str | int], msg: str) -> ApiError:
    return ApiError(404, loc, msg, "not_found")


def validation_errors(errors: Sequence[dict], *, limit: int = 50) -> list[dict]:
    """FastAPI/pydantic validation errors as detail items: the first ``limit``, then one counting the rest
    (a batch of 100,000 bad fixes must not get a 30 MB answer)."""
    items = [{"loc": list(e.get("loc", [])), "msg": e.get("msg", ""), "type": e.get("type", "")}
             for e in errors[:limit]]
    if len(errors) > limit:
        items.append({"loc": ["body"], "msg": f"{len(errors) - limit} more errors", "type": "value_error"})
    return items


def record_errors(errors: Sequence[object], *, loc_prefix: str = "body", limit: int = 50) -> list[dict]:
    """geo ``RecordError``s as detail items (the first ``limit``; the rest counted)."""
    items = [{"loc": [loc_prefix, e.where, e.field], "msg": e.reason, "type": "value_error"}  # type: ignore[attr-defined]
             for e in errors[:limit]]
    if len(errors) > limit:
        more = f"{len(errors) - limit} more errors"
        items.append({"loc": [loc_prefix], "msg": more, "type": "value_error"})
    return items


async def plain_http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """HTTP errors whose detail is bare text (Starlette's 404/405, FastAPI's 400 for a body it could not
    read) in the same shape; a body that is not JSON at all (bad UTF-8 ...) is a 422 saying why."""
    if not isinstance(exc.detail, str):
        return await http_exception_handler(request, exc)
    if exc.status_code == 400 and exc.__cause__ is not None:
        return JSONResponse(status_code=422, content={"detail": [{
            "loc": ["body"], "msg": f"the body is not valid JSON: {str(exc.__cause__)[:200]}",
            "type": "json_invalid"}]})
    return JSONResponse(status_code=exc.status_code, headers=exc.headers, content={"detail": [{
        "loc": [], "msg": exc.detail, "type": "http_error"}]})
