"""Why a report request cannot be done, in the API's error shape (``loc``, ``msg``, ``type``), with the
HTTP status it deserves. The service raises it; routes and the CSV importer translate it."""

from __future__ import annotations

from collections.abc import Sequence


class ReportProblem(Exception):
    def __init__(self, status_code: int, items: list[dict[str, object]]) -> None:
        super().__init__("; ".join(f"{'.'.join(str(p) for p in i['loc'])}: {i['msg']}" for i in items))
        self.status_code = status_code
        self.items = items

    @classmethod
    def one(
        cls, loc: Sequence[str | int], msg: str, kind: str = "value_error", status_code: int = 422
    ) -> ReportProblem:
        return cls(status_code, [{"loc": list(loc), "msg": msg, "type": kind}])


def not_found(what: str) -> ReportProblem:
    return ReportProblem.one(["path", "report_id"], f"no {what}", "not_found", 404)
