"""Client errors in one shape: ``{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}``, like
FastAPI's own validation errors, so clients read the field and the reason the same way everywhere."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import HTTPException


class ApiError(HTTPException):
    def __init__(self, status_code: int, loc: Sequence[str | int], msg: str, kind: str = "value_error",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code, detail=[{"loc": list(loc), "msg": msg, "type": kind}],
                         headers=headers)


def unprocessable(loc: Sequence[str | int], msg: str, kind: str = "value_error") -> ApiError:
    return ApiError(422, loc, msg, kind)


def not_found(loc: Sequence[str | int], msg: str) -> ApiError:
    return ApiError(404, loc, msg, "not_found")


def record_errors(errors: Sequence[object], *, loc_prefix: str = "body", limit: int = 50) -> list[dict]:
    """geo ``RecordError``s as detail items (the first ``limit``; the rest counted)."""
    items = [{"loc": [loc_prefix, e.where, e.field], "msg": e.reason, "type": "value_error"}  # type: ignore[attr-defined]
             for e in errors[:limit]]
    if len(errors) > limit:
        more = f"{len(errors) - limit} more errors"
        items.append({"loc": [loc_prefix], "msg": more, "type": "value_error"})
    return items
