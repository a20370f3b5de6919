"""Group commit for small fix uploads: phones post one fix a second each, and 500 of them at once
would otherwise be 500 transactions a second, each with the fixed cost of a whole ingest (tens of ms).

One storing thread per runtime takes every request waiting and stores them with ONE ``ingest_fixes``
call (one transaction), then hands each request its own outcome. An idle server stores a lone fix at
once, and so does one serving a single sender (its last batch held one request). After a batch of
several requests the thread rests 1.5 times as long as the batch took, at most
``ingest.group_commit_ms``: under load requests pile up into few, larger batches and storing takes at
most about 40 % of the interpreter, leaving the rest to the event loop; a few phones are barely slowed.
Every request is still answered only after its fixes are committed.

Requests reach it as plain columns (``FixRows``, no pandas on the event loop) or as a fix frame, and
wait on a ``concurrent.futures.Future``: ``await store_async(...)`` from the event loop (no worker thread
is held while waiting), ``store(...)`` from any thread. One bad request never fails its neighbours: a
batch that fails is retried request by request.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ecopatrol.ingest import IngestOutcome, ingest_fixes
from ecopatrol.runtime import Runtime
from ecopatrol.store import units_repo
from geo.schema import fix_frame
from geo.tracks._time import times_to_ms

_ATTR = "_fix_batcher"
_REST_PER_WORK = 1.5  # after a batch of several requests, rest 1.5× its time: storing takes ≤ 40 %
_IDLE_EXIT_S = 5.0  # the storing thread ends after this long without work (a new request restarts it)
MEASURES = ("accuracy_m", "speed_mps", "bearing_deg", "altitude_m", "battery_pct")


class BadTime(ValueError):
    """A request's fix ``index`` has a time that cannot be read."""

    def __init__(self, index: int) -> None:
        super().__init__(f"fix {index}: not a time")
        self.index = index


class NotSquadUnits(PermissionError):
    """A squad's request names units that are not the squad's."""

    def __init__(self, unit_ids: list[str]) -> None:
        super().__init__(f"not this squad's unit(s): {', '.join(unit_ids)}")
        self.unit_ids = unit_ids


@dataclass
class FixRows:
    """One request's fixes as plain columns, built without pandas. ``time`` holds ISO-8601 text with a
    zone, or epoch seconds / milliseconds; a measurement is ``None`` when not sent."""

    unit_id: list[str]
    time: list[str | float]
    lon: list[float]
    lat: list[float]
    measures: dict[str, list[float | None]] = field(default_factory=dict)  # of MEASURES
    mode: list[str] = field(default_factory=list)
    source: str = "api"

    def __len__(self) -> int:
        return len(self.unit_id)


@dataclass
class _Pending:
    fixes: pd.DataFrame | FixRows
    datum: str | None
    squad_id: str | None  # when set, every unit must be this squad's
    outcome: Future[IngestOutcome] = field(default_factory=Future)


class FixBatcher:
    """``store_async(fixes, datum)`` on the event loop or ``store(fixes, datum)`` on any thread: returns,
    once committed, that request's own outcome (its row numbers, counts and refusals)."""

    def __init__(self, runtime: Runtime, *, max_rows: int = 50_000, group_commit_ms: float | None = None
                 ) -> None:
        self.runtime = runtime
        self.max_rows = max_rows
        interval = runtime.settings.ingest.group_commit_ms if group_commit_ms is None else group_commit_ms
        self.interval_s = interval / 1000
        self._cond = threading.Condition()
        self._waiting: deque[_Pending] = deque()
        self._thread: threading.Thread | None = None
        self._resume_at = 0.0  # no batch starts before this (monotonic seconds)
        self.batches = 0  # how many ingest calls stored how many requests: for tests and benchmarks
        self.requests = 0

    def submit(self, fixes: pd.DataFrame | FixRows, datum: str | None = None, *,
               squad_id: str | None = None) -> Future[IngestOutcome]:
        """Queue one request; its future is resolved after the batch holding it is committed."""
        pending = _Pending(fixes, datum, squad_id)
        with self._cond:
            self._waiting.append(pending)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fix-batcher", daemon=True)
                self._thread.start()
            self._cond.notify()
        return pending.outcome

    def store(self, fixes: pd.DataFrame | FixRows, datum: str | None = None, *,
              squad_id: str | None = None) -> IngestOutcome:
        return self.submit(fixes, datum, squad_id=squad_id).result()

    async def store_async(self, fixes: pd.DataFrame | FixRows, datum: str | None = None, *,
                          squad_id: str | None = None) -> IngestOutcome:
        return await asyncio.wrap_future(self.submit(fixes, datum, squad_id=squad_id))

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._cond.wait_for(lambda: self._waiting, timeout=_IDLE_EXIT_S):
                    self._thread = None  # idle: end (under the lock, so a new request starts another)
                    return
            pause = self._resume_at - time.monotonic()
            if pause > 0:  # busy: let the next requests join this batch
                time.sleep(pause)
            with self._cond:
                group = self._take()
            started = time.monotonic()
            _store_group(self.runtime, group)
            self.batches += 1
            self.requests += len(group)
            ended = time.monotonic()
            if len(group) > 1:  # others are sending: rest in proportion to the work, up to the interval
                self._resume_at = ended + min(self.interval_s, _REST_PER_WORK * (ended - started))

    def _take(self) -> list[_Pending]:
        """The waiting requests, up to ``max_rows`` fixes (the rest wait for the next batch)."""
        group, rows = [], 0
        while self._waiting and (not group or rows + len(self._waiting[0].fixes) <= self.max_rows):
            item = self._waiting.popleft()
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
    """One ingest for the whole group; each request gets the part of the outcome that is its own. When
    the batch fails, each request is stored alone, so only a request that fails by itself gets an error."""
    try:
        frame, spans = _group_frame(runtime, group)
        if not spans:
            return
        outcome = ingest_fixes(runtime, frame, auto_register=False)
    except Exception as exc:  # handed to the waiting request(s), never lost
        if len(group) == 1:
            if not group[0].outcome.done():
                group[0].outcome.set_exception(exc)
            return
        for p in group:
            if not p.outcome.done():
                _store_group(runtime, [p])
        return
    for p, start, end in spans:
        p.outcome.set_result(_slice(outcome, start, end))


def _group_frame(runtime: Runtime, group: Sequence[_Pending]
                 ) -> tuple[pd.DataFrame, list[tuple[_Pending, int, int]]]:
    """One fix frame (with each row's datum) for the requests of a group, and each request's rows in
    it. Requests with an unreadable time or another squad's units get their error now and are left
    out. Whole-frame operations only: a group holds hundreds of one-fix requests."""
    listed = [p for p in group if isinstance(p.fixes, FixRows)]
    ordered = listed + [p for p in group if not isinstance(p.fixes, FixRows)]
    frames = [p.fixes for p in ordered[len(listed):]]
    time_ok = None
    if listed:
        built, time_ok = _rows_frame([p.fixes for p in listed])  # type: ignore[misc]
        frames.insert(0, built)
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    lengths = np.array([len(p.fixes) for p in ordered], dtype=np.int64)
    owner = np.repeat(np.arange(len(ordered)), lengths)
    if time_ok is not None and not time_ok.all():
        ok = np.ones(len(frame), dtype=bool)
        ok[:len(time_ok)] = time_ok
        for k in np.unique(owner[~ok]):
            ordered[k].outcome.set_exception(BadTime(int(np.flatnonzero(~ok[owner == k])[0])))
    _check_squads(runtime, [p for p in ordered if p.squad_id and not p.outcome.done()])
    live = np.array([not p.outcome.done() for p in ordered], dtype=bool)
    keep = live[owner]
    if not keep.all():
        frame = frame[keep].reset_index(drop=True)
    frame["datum"] = np.array([p.datum or "" for p in ordered], dtype=object)[owner[keep]]
    alive = [p for p, is_live in zip(ordered, live, strict=True) if is_live]
    ends = np.cumsum(lengths[live])
    spans = [(p, int(e - n), int(e)) for p, n, e in zip(alive, lengths[live], ends, strict=True)]
    return frame, spans


def _rows_frame(parts: Sequence[FixRows]) -> tuple[pd.DataFrame, np.ndarray]:
    """One fix frame for many requests' columns, and whether each row's time could be read."""
    def join(get) -> list:  # type: ignore[no-untyped-def,type-arg]
        return [value for part in parts for value in get(part)]

    time_ms, ok = times_to_ms(pd.Series(join(lambda p: p.time), dtype=object))

    def measure(name: str) -> np.ndarray:
        values = [np.nan if v is None else v
                  for p in parts for v in (p.measures.get(name) or [None] * len(p))]
        return np.array(values, dtype=float)

    frame = fix_frame(unit_id=join(lambda p: p.unit_id), time_ms=time_ms, lon=join(lambda p: p.lon),
                      lat=join(lambda p: p.lat), **{name: measure(name) for name in MEASURES},
                      source=join(lambda p: [p.source] * len(p)),
                      mode=join(lambda p: p.mode or [""] * len(p)))
    return frame, np.asarray(ok, dtype=bool)


def _check_squads(runtime: Runtime, pending: Sequence[_Pending]) -> None:
    """A squad posts for its own units only: one lookup for all the squad requests of the batch."""
    if not pending:
        return
    ids = sorted({str(u) for p in pending for u in _unit_ids(p.fixes)})
    with runtime.store.read() as conn:
        units = units_repo.get_units(conn, ids)
    for p in pending:
        others = sorted({str(u) for u in _unit_ids(p.fixes)
                         if u not in units or units[u].squad_id != p.squad_id})
        if others:
            p.outcome.set_exception(NotSquadUnits(others))


def _unit_ids(fixes: pd.DataFrame | FixRows) -> list[str]:
    return fixes.unit_id if isinstance(fixes, FixRows) else fixes["unit_id"].astype(str).tolist()


def _slice(outcome: IngestOutcome, start: int, end: int) -> IngestOutcome:
    def own(rows: np.ndarray) -> np.ndarray:
        return rows[(rows >= start) & (rows < end)] - start

    stored, outliers = own(outcome.stored_rows), own(outcome.outlier_rows)
    rejected = [{**r, "index": int(r["index"]) - start} for r in outcome.rejected  # type: ignore[call-overload]
                if start <= int(r["index"]) < end]  # type: ignore[call-overload]
    return IngestOutcome(accepted=len(stored), duplicates=end - start - len(stored) - len(rejected),
                         outliers=len(outliers), rejected=rejected, coverage_rows=outcome.coverage_rows,
                         stored_rows=stored, outlier_rows=outliers)
