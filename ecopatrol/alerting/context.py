"""The pipeline's context loaded from the store: open and recently resolved alerts, live silences,
squads with their state and last position, and the configured routes, policies and inhibitions.

Open alerts come with the timeline events the stages decide on (``repo.DECISION_KINDS``), not their
whole timeline. New events are stored after the existing ones (``seq_offsets``).

``AlertMemory`` keeps the open and recently resolved alerts as the last committed run in this process
left them, with the alerts' write counter (``repo.generation``) of that commit. The next run reads the
counter under the pipeline lock: unchanged, nobody else wrote alerts in between and the memory is the
store's state; moved a little (another process's run, a person's action), only the alerts written
since are read (each row carries the counter of its last write); otherwise everything is loaded.
Under a flood of reports a run then costs what its own reports cost, not what the county's open
alerts cost, also with several API processes.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from dataclasses import dataclass, field

from sqlalchemy import Connection

from alerts.model import Alert
from alerts.pipeline import PipelineContext, PipelineResult
from alerts.silence import Silence
from ecopatrol.alerting import people, repo
from ecopatrol.alerting.facts import HOUR_MS
from ecopatrol.alerting.people import SquadRecord
from ecopatrol.alerting.settings import AlertingConfig

#: Resolved alerts this recent keep a condition from firing again without news (at least).
MIN_LOOKBACK_MS = 7 * 24 * HOUR_MS


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Loaded:
    """A context and what was read to build it (to persist against)."""

    ctx: PipelineContext
    squads: list[SquadRecord]
    stored_events: dict[str, int] = field(default_factory=dict)  # events in memory already stored
    seq_offsets: dict[str, int] = field(default_factory=dict)  # stored events not loaded (seq shift)
    source: str = "store"  # "memory" | "refreshed" (memory + the alerts written since) | "store"
    generation: int = 0  # the alerts' write counter the context is at

    def open_alert(self, alert_id: str) -> Alert | None:
        return next((a for a in self.ctx.open_alerts.values() if a.id == alert_id), None)

    def persisted(self, result: PipelineResult, generation: int | None = None) -> None:
        """Note that ``result`` was written (moving the counter to ``generation``, if it wrote
        alerts), for a second pipeline run in the same transaction and for the memory."""
        for alert in result.alerts:
            self.stored_events[alert.id] = len(alert.timeline)
        self.ctx = self.ctx.with_result(result)
        if generation is not None:
            self.generation = generation


@dataclass(frozen=True)
class Surroundings:
    """What a run reads besides the alerts: squads with their phones' last positions, live silences.
    None of it is guarded by the alerts lock, so it is read before the lock is taken."""

    squads: list[SquadRecord]
    fixes: dict[str, tuple[int, float, float]]
    silences: list[Silence]


def load_surroundings(conn: Connection, now_ms: int,
                      squad_memory: people.SquadMemory | None = None) -> Surroundings:
    squads = people.load_squads(conn) if squad_memory is None else squad_memory.squads(conn)
    fixes = people.last_fixes(conn, [u for s in squads for u in s.unit_ids], until_ms=now_ms)
    return Surroundings(squads, fixes, repo.list_silences(conn, live_at_ms=now_ms))


def lookback_ms(cfg: AlertingConfig) -> int:
    longest = MIN_LOOKBACK_MS
    for rule in cfg.rules:
        c = rule.config
        for key in ("max_age_hours", "window_hours", "max_gap_hours"):
            hours = getattr(c, key, None)
            if hours is not None:
                longest = max(longest, int(2 * hours * HOUR_MS))
    return longest


@dataclass(frozen=True)
class StoredAlerts:
    """Open alerts (oldest first, decision events only) and recently resolved ones as stored at
    ``generation``; with each open alert's stored events in memory and its seq shift."""

    generation: int
    open_alerts: dict[str, Alert]  # by fingerprint
    resolved: dict[str, Alert]  # by fingerprint
    stored_events: dict[str, int]
    seq_offsets: dict[str, int]


#: A memory at most this many writes behind is brought up to date by reading what was written since;
#: further behind (or ahead: the counter was reset), everything is loaded again.
MAX_REFRESH_WRITES = 1_000


class AlertMemory:
    """The alert state the last committed pipeline run of this process left (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: StoredAlerts | None = None

    def recall(self, generation: int) -> StoredAlerts | None:
        """The state kept, if it is the store's state at ``generation``."""
        state = self.latest()
        return state if state is not None and state.generation == generation else None

    def latest(self) -> StoredAlerts | None:
        with self._lock:
            return self._state

    def keep(self, state: StoredAlerts) -> None:
        """Keep ``state`` (called after its transaction committed; an older state never replaces a
        newer one)."""
        with self._lock:
            if self._state is None or state.generation >= self._state.generation:
                self._state = state

    def forget(self) -> None:
        with self._lock:
            self._state = None


def _stored_state(conn: Connection, generation: int, since_ms: int) -> StoredAlerts:
    open_alerts = repo.open_alerts(conn, kinds=repo.DECISION_KINDS)
    counts = repo.stored_event_counts(conn, [a.id for a in open_alerts])
    return StoredAlerts(generation, {a.fingerprint: a for a in open_alerts},
                      repo.recent_resolved(conn, since_ms),
                      {a.id: len(a.timeline) for a in open_alerts},
                      {a.id: counts.get(a.id, 0) - len(a.timeline) for a in open_alerts})


def _refreshed(conn: Connection, state: StoredAlerts, generation: int) -> StoredAlerts:
    """``state`` brought to ``generation`` by reading the alerts written since."""
    opened, resolved = repo.written_since(conn, state.generation, kinds=repo.DECISION_KINDS)
    counts = repo.stored_event_counts(conn, [a.id for a in opened])
    changed = {a.id for a in (*opened, *resolved)}
    open_alerts = {fp: a for fp, a in state.open_alerts.items() if a.id not in changed}
    stored = {i: n for i, n in state.stored_events.items() if i not in changed}
    offsets = {i: n for i, n in state.seq_offsets.items() if i not in changed}
    for alert in opened:
        open_alerts[alert.fingerprint] = alert
        stored[alert.id] = len(alert.timeline)
        offsets[alert.id] = counts.get(alert.id, 0) - len(alert.timeline)
    newest = dict(state.resolved)
    for alert in resolved:
        kept = newest.get(alert.fingerprint)
        if kept is None or (kept.resolved_ms or 0, kept.id) <= (alert.resolved_ms or 0, alert.id):
            newest[alert.fingerprint] = alert
    ordered = dict(sorted(open_alerts.items(), key=lambda item: (item[1].created_ms, item[1].id)))
    return StoredAlerts(generation, ordered, newest, stored, offsets)


def _alerts_at(conn: Connection, memory: AlertMemory | None, generation: int,
               since_ms: int) -> tuple[StoredAlerts, str]:
    latest = memory.latest() if memory is not None else None
    if latest is not None and latest.generation == generation:
        return latest, "memory"
    if latest is not None and 0 < generation - latest.generation <= MAX_REFRESH_WRITES:
        return _refreshed(conn, latest, generation), "refreshed"
    return _stored_state(conn, generation, since_ms), "store"


def load_context(conn: Connection, cfg: AlertingConfig, metric_crs: str, now_ms: int, *,
                 actor: str = "system", memory: AlertMemory | None = None,
                 around: Surroundings | None = None) -> Loaded:
    """The pipeline's context at ``now_ms`` (call under ``repo.lock_alerts``); alerts from ``memory``
    when it holds the store's current state or is a few writes behind it; squads, positions and
    silences from ``around`` when given (read before the lock), else read here."""
    since = now_ms - lookback_ms(cfg)
    around = around or load_surroundings(conn, now_ms)
    generation = repo.generation(conn)
    state, source = _alerts_at(conn, memory, generation, since)
    open_alerts = list(state.open_alerts.values())
    ctx = PipelineContext(
        now_ms=now_ms, new_id=new_id,
        open_alerts=dict(state.open_alerts),
        resolved_alerts={fp: a for fp, a in state.resolved.items() if (a.resolved_ms or 0) >= since},
        silences=around.silences,
        inhibit_rules=cfg.inhibit_rules,
        squads=people.squad_statuses(around.squads, open_alerts, around.fixes, metric_crs, now_ms),
        routes=cfg.routes, default_route=cfg.default_route, escalation_policies=cfg.policies,
        tie_m=cfg.tie_m, actor=actor)
    return Loaded(ctx, around.squads, dict(state.stored_events), dict(state.seq_offsets), source=source,
                  generation=generation)


def state_after(loaded: Loaded) -> StoredAlerts:
    """What the store holds after ``loaded``'s results were persisted, in the form a fresh load has:
    open alerts oldest first with their decision events only."""
    open_alerts = sorted(loaded.ctx.open_alerts.values(), key=lambda a: (a.created_ms, a.id))
    kept: dict[str, Alert] = {}
    stored: dict[str, int] = {}
    offsets: dict[str, int] = {}
    for alert in open_alerts:
        total = loaded.seq_offsets.get(alert.id, 0) + loaded.stored_events.get(alert.id, len(alert.timeline))
        if any(e.kind not in repo.DECISION_KINDS for e in alert.timeline):
            alert = dataclasses.replace(
                alert, timeline=tuple(e for e in alert.timeline if e.kind in repo.DECISION_KINDS))
        kept[alert.fingerprint] = alert
        stored[alert.id] = len(alert.timeline)
        offsets[alert.id] = total - len(alert.timeline)
    return StoredAlerts(loaded.generation, kept, dict(loaded.ctx.resolved_alerts), stored, offsets)
