"""Group commit for small fix uploads: phones post one fix a second each, and 500 of them at once
would otherwise be 500 transactions a second, each with the fixed cost of a whole ingest.

Requests arriving while a batch is being stored wait together; the next one of them to find the store
free takes all that are waiting and stores them with ONE ``ingest_fixes`` call (one transaction), then
hands each request its own outcome. No timer: an idle server stores a lone fix at once, a busy one
amortises. Every request is still answered only after its fixes are committed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ecopatrol.ingest import IngestOutcome, ingest_fixes
from ecopatrol.runtime import Runtime

_ATTR = "_fix_batcher"


@dataclass
class _Pending:
    fixes: pd.DataFrame
    datum: str | None
    outcome: Future[IngestOutcome] = field(default_factory=Future)


class FixBatcher:
    """``store(fixes, datum)`` from any request thread: blocks until committed, returns that
    request's own outcome (its row numbers, counts and refusals)."""

    def __init__(self, runtime: Runtime, *, max_rows: int = 50_000) -> None:
        self.runtime = runtime
        self.max_rows = max_rows
        self._cond = threading.Condition()
        self._waiting: list[_Pending] = []
        self._busy = False
        self.batches = 0  # how many ingest calls stored how many requests: for tests and benchmarks
        self.requests = 0

    def store(self, fixes: pd.DataFrame, datum: str | None = None) -> IngestOutcome:
        if len(fixes) >= self.max_rows:
            return ingest_fixes(self.runtime, fixes, datum=datum, auto_register=False)
        mine = _Pending(fixes, datum)
        with self._cond:
            self._waiting.append(mine)
            while not mine.outcome.done() and self._busy:
                self._cond.wait()
            if mine.outcome.done():
                return mine.outcome.result()
            self._busy = True
            group = self._take()
        try:
            _store_group(self.runtime, group)
            self.batches += 1
            self.requests += len(group)
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
        return mine.outcome.result()

    def _take(self) -> list[_Pending]:
        """The waiting requests, up to ``max_rows`` fixes (the rest wait for the next batch)."""
        group, rows = [], 0
        while self._waiting and (not group or rows + len(self._waiting[0].fixes) <= self.max_rows):
            item = self._waiting.pop(0)
            group.append(item)
            rows += len(item.fixes)
        return group


def fix_batcher(runtime: Runtime) -> FixBatcher:
    """The runtime's batcher (one per runtime, made on first use)."""
    batcher = getattr(runtime, _ATTR, None)
    if batcher is None:
        with _MAKE_LOCK:
            batcher = getattr(runtime, _ATTR, None)
            if batcher is None:
                batcher = FixBatcher(runtime)
                setattr(runtime, _ATTR, batcher)
    return batcher


_MAKE_LOCK = threading.Lock()


def _store_group(runtime: Runtime, group: Sequence[_Pending]) -> None:
    """One ingest for the whole group; each request gets the part of the outcome that is its own.
    If it fails, every request in the group gets the exception (nothing of theirs was committed)."""
    frames = [p.fixes.assign(datum=p.datum) for p in group]
    try:
        outcome = ingest_fixes(runtime, pd.concat(frames, ignore_index=True), auto_register=False)
    except BaseException as exc:
        for p in group:
            p.outcome.set_exception(exc)
        raise
    start = 0
    for p in group:
        end = start + len(p.fixes)
        p.outcome.set_result(_slice(outcome, start, end))
        start = end


def _slice(outcome: IngestOutcome, start: int, end: int) -> IngestOutcome:
    def own(rows: np.ndarray) -> np.ndarray:
        return rows[(rows >= start) & (rows < end)] - start

    stored, outliers = own(outcome.stored_rows), own(outcome.outlier_rows)
    rejected = [{**r, "index": int(r["index"]) - start} for r in outcome.rejected  # type: ignore[call-overload]
                if start <= int(r["index"]) < end]  # type: ignore[call-overload]
    return IngestOutcome(accepted=len(stored), duplicates=end - start - len(stored) - len(rejected),
                         outliers=len(outliers), rejected=rejected, coverage_rows=outcome.coverage_rows,
                         stored_rows=stored, outlier_rows=outliers)
