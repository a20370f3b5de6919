"""The alerting service: the thin adapters between the store and the pure ``alerts`` domain.

- ``on_report_committed``: report rules the moment a report commits (subscribed to ``report.created``);
- ``evaluate_scheduled`` / ``escalation_tick`` / ``tick``: scheduled rules, then escalation,
  reassignment and mute checks of the open alerts;
- ``act`` / ``decline``: people moving an alert on;
- silences.

Every pipeline run loads its context and persists its result in ONE transaction, under a lock (the
SQLite write lock; a PostgreSQL advisory lock across processes), so two runs never create the same
alert twice. The linked reports are moved on (triaged, assigned, on scene, resolved) through the report
service in the same transaction; after the commit the changed alerts are published together as
``alerts.changed``, then the reports' moves.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from alerts.lifecycle import Action, TransitionError, apply_action
from alerts.lifecycle import decline as decline_alert
from alerts.model import Alert, AlertState, Candidate, Evidence, Outcome, ReportFact, TimelineKind
from alerts.pipeline import DEFAULT_STAGES, PipelineContext, PipelineResult, run_pipeline, run_tick
from alerts.reasons import DeclineReason
from alerts.rules import Rule, evaluate_report_committed, evaluate_rules
from alerts.silence import Silence
from ecopatrol.alerting import facts, people, repo, report_queue
from ecopatrol.alerting.context import AlertMemory, load_context, load_surroundings, new_id, state_after
from ecopatrol.alerting.settings import AlertingConfig, load_alerting
from ecopatrol.runtime import Runtime

log = logging.getLogger("ecopatrol.alerting")
_CONFIG_ATTR = "_alerting_config"
_MEMORY_ATTR = "_alert_memory"

__all__ = [
    "AlertNotFound",
    "TickResult",
    "TransitionError",
    "act",
    "alert_memory",
    "alerting_config",
    "configure",
    "create_silence",
    "decline",
    "escalation_tick",
    "evaluate",
    "evaluate_scheduled",
    "expire_silence",
    "on_report_committed",
    "on_reports_committed",
    "report_overdue",
    "sync_reports",
    "tick",
]


class AlertNotFound(LookupError):
    """No alert with this id."""


@dataclass(frozen=True)
class TickResult:
    rules: PipelineResult
    escalation: PipelineResult

    @property
    def created(self) -> list[Alert]:
        return [*self.rules.created, *self.escalation.created]


def alerting_config(runtime: Runtime) -> AlertingConfig:
    """The runtime's alerting configuration (loaded once from its settings; may raise
    ``AlertingConfigError``)."""
    cfg = getattr(runtime, _CONFIG_ATTR, None)
    if cfg is None:
        cfg = load_alerting(runtime.settings)
        setattr(runtime, _CONFIG_ATTR, cfg)
    return cfg


def configure(runtime: Runtime, cfg: AlertingConfig) -> None:
    """Use ``cfg`` for this runtime (tests, ``rules test``)."""
    setattr(runtime, _CONFIG_ATTR, cfg)


def alert_memory(runtime: Runtime) -> AlertMemory:
    """The runtime's memory of the open alerts (see ``context.AlertMemory``)."""
    memory = getattr(runtime, _MEMORY_ATTR, None)
    if memory is None:
        memory = AlertMemory()
        setattr(runtime, _MEMORY_ATTR, memory)
    return memory


def _crs(runtime: Runtime) -> str:
    return runtime.settings.deployment.metric_crs


# ------------------------------------------------------------------------------------------ running


def _run(runtime: Runtime, steps: Sequence[Callable[[PipelineContext], PipelineResult]], *,
         actor: str = "system", now_ms: int | None = None,
         alerted: Sequence[int] = ()) -> list[PipelineResult]:
    """Load the context, run each step on it and persist its result, all in one locked transaction
    (which also marks the ``alerted`` reports as evaluated); squads, positions and silences are read
    just before, outside the lock. Once committed, the alerts as the run left them are remembered
    for the next run."""
    cfg = alerting_config(runtime)
    memory = alert_memory(runtime)
    now = runtime.now_ms() if now_ms is None else now_ms
    results = []
    with runtime.store.read() as conn:  # squads, positions, silences: not guarded by the alerts lock
        around = load_surroundings(conn, now, people.squad_memory(runtime))
    with runtime.store.write() as conn:
        repo.lock_alerts(conn)
        report_queue.mark_alerted(conn, alerted, now)
        loaded = load_context(conn, cfg, _crs(runtime), now, actor=actor, memory=memory, around=around)
        for step in steps:
            result = step(loaded.ctx)
            written = repo.persist(conn, result, stored_events=loaded.stored_events, policies=cfg.policies,
                                   now_ms=now, seq_offsets=loaded.seq_offsets)
            loaded.persisted(result, written)
            results.append(result)
        changed = [a for r in results for a in r.alerts]
        moved = _move_reports(conn, changed, now) if cfg.move_reports else []
    memory.keep(state_after(loaded))
    _after_commit(runtime, changed, moved)
    return results


def _after_commit(runtime: Runtime, changed: Iterable[Alert], moved: Sequence[tuple[int, str, str]]) -> None:
    """Publish the committed changes: the alerts together (``alerts.changed``), then the reports moved."""
    from ecopatrol.reports.service import publish_moves

    latest = {alert.id: alert for alert in changed}
    if latest:
        runtime.events.publish("alerts.changed", {"changes": [
            {"alert_id": alert.id, "squad_id": alert.squad_id} for alert in latest.values()]})
    publish_moves(runtime, moved)


def on_report_committed(runtime: Runtime, report_id: int | str) -> PipelineResult:
    """Run the report-triggered rules for a just-committed report; persist and publish."""
    return on_reports_committed(runtime, [int(report_id)])


def on_reports_committed(runtime: Runtime, report_ids: Sequence[int]) -> PipelineResult:
    """Run the report-triggered rules for just-committed reports (a burst costs one pipeline run:
    candidates with one fingerprint merge in the dedupe stage); persist and publish. The reports are
    marked evaluated (``alerted_ms``) in the transaction that stores what their rules raised."""
    ids = [int(i) for i in report_ids]
    cfg = alerting_config(runtime)
    rules = cfg.report_rules
    now = runtime.now_ms()
    candidates: list[Candidate] = []
    if rules and ids:
        index = runtime.layer_index()
        crs = _crs(runtime)
        with runtime.store.read() as conn:
            recent = _cluster_window(conn, rules, index, crs, now)
            found = facts.load_reports_by_id(conn, ids, index, crs)
            originals = facts.load_reports_by_id(conn, [d for _, d in found.values() if d], index, crs)
        for report_id in ids:
            candidates += _report_candidates(rules, report_id, found, originals, recent, now)
    if not candidates:
        _mark_alerted(runtime, ids, now)
        return PipelineResult()
    (result,) = _run(runtime, [lambda ctx: run_pipeline(DEFAULT_STAGES, ctx, candidates)], now_ms=now,
                     alerted=ids)
    return result


def _report_candidates(rules: Sequence[Rule], report_id: int, found: dict[int, tuple[ReportFact, int | None]],
                       originals: dict[int, tuple[ReportFact, int | None]], recent: list[ReportFact],
                       now: int) -> list[Candidate]:
    if report_id not in found:
        log.warning("report %s not found", report_id)
        return []
    report, duplicate_of = found[report_id]
    original = originals.get(duplicate_of) if duplicate_of else None
    if original is not None:
        return _as_more_evidence(evaluate_report_committed(rules, original[0], recent, now), report)
    return list(evaluate_report_committed(rules, report, recent, now))


def _mark_alerted(runtime: Runtime, report_ids: Sequence[int], now_ms: int) -> None:
    if report_ids:
        with runtime.store.write() as conn:
            report_queue.mark_alerted(conn, report_ids, now_ms)


def _as_more_evidence(candidates: Sequence[Candidate], duplicate: ReportFact) -> list[Candidate]:
    """A near-duplicate (same thing, same place, within minutes) adds its report to the original's
    report alerts instead of raising its own."""
    extra = Evidence(report_ids=(duplicate.id,))
    return [dataclasses.replace(c, evidence=c.evidence.merged(extra))
            for c in candidates if c.kind == "report"]


def _cluster_window(conn: Any, rules: Sequence[Rule], index: object, crs: str,
                    now_ms: int) -> list[ReportFact]:
    clusters = [r for r in rules if r.kind == "cluster"]
    if not clusters:
        return []
    window_ms = max(int(r.config.window_hours * facts.HOUR_MS) for r in clusters)  # type: ignore[attr-defined]
    categories = {c.value for r in clusters for c in r.config.categories}  # type: ignore[attr-defined]
    return facts.load_reports(conn, index, crs, now_ms=now_ms, observed_within_ms=window_ms,
                              categories=categories)


def evaluate_scheduled(runtime: Runtime, rule_names: Iterable[str] | None = None) -> PipelineResult:
    """Run scheduled rules (all, or those named) over the store now; persist what they raise."""
    cfg = alerting_config(runtime)
    wanted = None if rule_names is None else set(rule_names)
    return evaluate(runtime, [r for r in cfg.scheduled_rules if wanted is None or r.name in wanted])


def evaluate(runtime: Runtime, rules: Sequence[Rule]) -> PipelineResult:
    """Run ``rules`` (any kinds) over the store now; persist what they raise."""
    if not rules:
        return PipelineResult()
    now = runtime.now_ms()
    index = runtime.layer_index()
    with runtime.store.read() as conn:
        squads = people.squad_memory(runtime).squads(conn)
        rule_facts = facts.load_facts(conn, index, _crs(runtime), rules, squads, now)
    candidates = evaluate_rules(rules, rule_facts, now)
    (result,) = _run(runtime, [lambda ctx: run_pipeline(DEFAULT_STAGES, ctx, candidates)], now_ms=now)
    return result


#: An escalation tick writes at most this many alerts per transaction: the alerts lock is let go in
#: between, so a report's run never waits behind a tick that moves a hundred alerts at once.
TICK_CHUNK = 25
_MAX_TICK_CHUNKS = 10_000


def escalation_tick(runtime: Runtime) -> PipelineResult:
    """Open alerts through the tick stages: mutes re-checked, unassigned ones retried, escalation;
    ``TICK_CHUNK`` changed alerts per transaction, oldest first."""
    chunks = _TickChunks()
    done = PipelineResult()
    for _ in range(_MAX_TICK_CHUNKS):
        (result,) = _run(runtime, [chunks.step])
        done = PipelineResult(*(getattr(done, f.name) + getattr(result, f.name)
                                for f in dataclasses.fields(PipelineResult)))
        if not chunks.pending:
            break
    return done


class _TickChunks:
    """The first step runs the tick over every open alert; when it changes more than
    ``TICK_CHUNK`` alerts, it keeps only the first of them and leaves the rest ``pending`` for the
    next steps (each in its own transaction), which run the tick over those alerts only."""

    def __init__(self) -> None:
        self.pending: list[str] | None = None

    def step(self, ctx: PipelineContext) -> PipelineResult:
        if self.pending is None:
            result = run_tick(ctx)
            changed = [a.id for a in result.alerts]
            if len(changed) <= TICK_CHUNK:
                self.pending = []
                return result
            chosen, self.pending = changed[:TICK_CHUNK], changed[TICK_CHUNK:]
        else:
            chosen, self.pending = self.pending[:TICK_CHUNK], self.pending[TICK_CHUNK:]
        wanted = set(chosen)
        return run_tick(ctx, alerts=[a for a in ctx.open_alerts.values() if a.id in wanted])


def tick(runtime: Runtime, rule_names: Iterable[str] | None = None) -> TickResult:
    """One scheduled round: the scheduled rules, then the escalation tick."""
    return TickResult(evaluate_scheduled(runtime, rule_names), escalation_tick(runtime))


# ---------------------------------------------------------------------------------------- people


def act(runtime: Runtime, alert_id: str, action: Action | str, actor: str, *,
        outcome: Outcome | str | None = None, note: str | None = None,
        photos: Sequence[Any] = ()) -> Alert:
    """``ack | en_route | on_scene | resolve`` (repeats are no-ops; going back raises
    ``TransitionError``). ``photos`` (checked ``CheckedPhoto``s) are stored with the alert in the
    same transaction as the action."""
    cfg = alerting_config(runtime)
    now = runtime.now_ms()
    with runtime.store.write() as conn:
        repo.lock_alerts(conn)
        alert = repo.get_alert(conn, alert_id)
        if alert is None:
            raise AlertNotFound(alert_id)
        moved = apply_action(alert, Action(action), actor, now, Outcome(outcome) if outcome else None, note)
        if moved is alert and not photos:
            return alert
        if moved is not alert:
            repo.save_alerts(conn, updated=[moved], stored_events={alert.id: len(alert.timeline)},
                             policies=cfg.policies, now_ms=now)
        repo.add_photos(conn, alert_id, photos, actor=actor, now_ms=now)
        reports_moved = _move_reports(conn, [moved], now) if cfg.move_reports else []
    _after_commit(runtime, [moved], reports_moved)
    return moved


def decline(runtime: Runtime, alert_id: str, squad_id: str, reason: DeclineReason | str, actor: str, *,
            note: str | None = None) -> Alert:
    """The assigned squad declines: the alert is reassigned to the nearest other available squad
    (or stays unassigned and escalates)."""
    declined: list[Alert] = []

    def step(ctx: PipelineContext) -> PipelineResult:
        alert = next((a for a in ctx.open_alerts.values() if a.id == alert_id), None)
        if alert is None:
            raise _missing_or_closed(runtime, alert_id)
        result = decline_alert(ctx, alert, squad_id, DeclineReason(reason), actor)
        result = _with_note(result, note) if note else result
        declined.extend(a for a in result.alerts if a.id == alert_id)
        return result

    _run(runtime, [step], actor=actor)
    return declined[-1]


def _missing_or_closed(runtime: Runtime, alert_id: str) -> Exception:
    with runtime.store.read() as conn:
        alert = repo.get_alert(conn, alert_id)
    if alert is None:
        return AlertNotFound(alert_id)
    return TransitionError(f"alert {alert_id} is {alert.state.value}: too late to decline")


def _with_note(result: PipelineResult, note: str) -> PipelineResult:
    def noted(alert: Alert) -> Alert:
        timeline = list(alert.timeline)
        for i in range(len(timeline) - 1, -1, -1):
            if timeline[i].kind is TimelineKind.declined:
                timeline[i] = dataclasses.replace(timeline[i], data={**timeline[i].data, "note": note})
                break
        return dataclasses.replace(alert, timeline=tuple(timeline))
    return dataclasses.replace(result, updated=[noted(a) for a in result.updated])


# -------------------------------------------------------------------------------------- silences


def create_silence(runtime: Runtime, *, matchers: Sequence[str], starts_ms: int, ends_ms: int,
                   created_by: str, comment: str) -> Silence:
    """Store a silence (pydantic validates it), then re-check the open alerts at once."""
    silence = Silence(id=new_id(), matchers=tuple(matchers), starts_ms=starts_ms, ends_ms=ends_ms,  # type: ignore[arg-type]
                      created_by=created_by, comment=comment)
    with runtime.store.write() as conn:
        repo.insert_silence(conn, silence, runtime.now_ms())
    escalation_tick(runtime)
    return silence


def expire_silence(runtime: Runtime, silence_id: str) -> Silence | None:
    """End a silence now and unmute what it muted; ``None`` when there is no such silence."""
    with runtime.store.write() as conn:
        if repo.get_silence(conn, silence_id) is None:
            return None
        repo.expire_silence(conn, silence_id, runtime.now_ms())
        silence = repo.get_silence(conn, silence_id)
    escalation_tick(runtime)
    return silence


# --------------------------------------------------------------------------------------- reports

_RANK = {"received": 0, "triaged": 1, "assigned": 2, "on_scene": 3, "resolved": 4}
_STEPS = [("triage", "triaged"), ("assign", "assigned"), ("on_scene", "on_scene"), ("resolve", "resolved")]


def _report_target(alert: Alert) -> str | None:
    if alert.muted_by is not None or not alert.evidence.report_ids:
        return None
    if alert.state is AlertState.resolved:
        return "rejected" if alert.outcome is Outcome.false_report else "resolved"
    if alert.state is AlertState.on_scene:
        return "on_scene"
    return "assigned" if alert.squad_id is not None else "triaged"


def sync_reports(runtime: Runtime, alerts: Iterable[Alert]) -> None:
    """Move the alerts' reports on to match them, in a transaction of their own (a pipeline run does
    this in its own transaction)."""
    from ecopatrol.reports.service import publish_moves

    with runtime.store.write() as conn:
        moved = _move_reports(conn, alerts, runtime.now_ms())
    publish_moves(runtime, moved)


def _move_reports(conn: Any, alerts: Iterable[Alert], now_ms: int) -> list[tuple[int, str, str]]:
    """Move the alerts' reports on to match them (triaged, assigned, on scene, resolved or rejected)
    through the report service, as the system, inside the caller's transaction: an alert and its
    reports commit together. The moves made, to publish after the commit."""
    latest = {a.id: a for a in alerts}
    targets = [(a, t) for a in latest.values() if (t := _report_target(a)) is not None]
    if not targets:
        return []
    from sqlalchemy import select

    from ecopatrol.reports import service as report_service
    from ecopatrol.reports.schemas import TransitionRequest
    from ecopatrol.store.reports_schema import reports
    from ecopatrol.store.tokens_repo import Principal

    system = Principal(token_id=0, role="commander", name="system:alerting")
    ids = sorted({int(r) for a, _ in targets for r in a.evidence.report_ids})
    status = dict(conn.execute(select(reports.c.id, reports.c.status).where(reports.c.id.in_(ids))).all())
    plans: dict[int, list[tuple[str, TransitionRequest]]] = {}
    for alert, target in targets:
        for report_id in (int(r) for r in alert.evidence.report_ids):
            moves = _moves(status.get(report_id), target, alert)
            if moves:
                plans.setdefault(report_id, []).extend((a, TransitionRequest(**r)) for a, r in moves)
                status[report_id] = "rejected" if target == "rejected" else dict(_STEPS)[moves[-1][0]]
    if not plans:
        return []
    moved, refused = report_service.move_on_in(conn, list(plans.items()), principal=system, now_ms=now_ms)
    for problem in refused:
        log.info("a report was not moved on: %s", problem)
    return moved


def _moves(current: str | None, target: str, alert: Alert) -> list[tuple[str, dict[str, str]]]:
    if current is None or current not in _RANK:
        return []
    note = {"note": f"alert {alert.id} ({alert.rule})"}
    if target == "rejected":
        return [("reject", {"reason": "false report (alert resolved as false_report)", **note})]
    moves = []
    for action, status in _STEPS:
        if _RANK[current] < _RANK[status] <= _RANK[target]:
            extra = {"squad_id": alert.squad_id} if action == "assign" and alert.squad_id else {}
            if action == "assign" and not extra:
                break
            moves.append((action, {**note, **extra}))
    return moves


def report_overdue(runtime: Runtime, report: ReportFact, now_ms: int | None = None) -> str | None:
    """A report's overdue code (``yellow``/``red``) against ``[escalation.reports]`` (triage, assign)."""
    from alerts.escalation import report_overdue as code_of

    code = code_of(report, runtime.now_ms() if now_ms is None else now_ms,
                   alerting_config(runtime).report_targets)
    return None if code is None else code.value

