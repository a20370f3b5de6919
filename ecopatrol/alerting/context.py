"""The pipeline's context loaded from the store: open and recently resolved alerts, live silences,
squads with their state and last position, and the configured routes, policies and inhibitions.

Open alerts come with the timeline events the stages decide on (``repo.DECISION_KINDS``), not their
whole timeline: a county with hundreds of open alerts still loads in milliseconds. New events are
stored after the existing ones (``seq_offsets``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import Connection

from alerts.model import Alert
from alerts.pipeline import PipelineContext, PipelineResult
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

    def open_alert(self, alert_id: str) -> Alert | None:
        return next((a for a in self.ctx.open_alerts.values() if a.id == alert_id), None)

    def persisted(self, result: PipelineResult) -> None:
        """Note that ``result`` was written (for a second pipeline run in the same transaction)."""
        for alert in result.alerts:
            self.stored_events[alert.id] = len(alert.timeline)
        self.ctx = self.ctx.with_result(result)


def lookback_ms(cfg: AlertingConfig) -> int:
    longest = MIN_LOOKBACK_MS
    for rule in cfg.rules:
        c = rule.config
        for key in ("max_age_hours", "window_hours", "max_gap_hours"):
            hours = getattr(c, key, None)
            if hours is not None:
                longest = max(longest, int(2 * hours * HOUR_MS))
    return longest


def load_context(conn: Connection, cfg: AlertingConfig, metric_crs: str, now_ms: int, *,
                 actor: str = "system") -> Loaded:
    open_alerts = repo.open_alerts(conn, kinds=repo.DECISION_KINDS)
    counts = repo.stored_event_counts(conn, [a.id for a in open_alerts])
    squads = people.load_squads(conn)
    fixes = people.last_fixes(conn, [u for s in squads for u in s.unit_ids], until_ms=now_ms)
    ctx = PipelineContext(
        now_ms=now_ms, new_id=new_id,
        open_alerts={a.fingerprint: a for a in open_alerts},
        resolved_alerts=repo.recent_resolved(conn, now_ms - lookback_ms(cfg)),
        silences=repo.list_silences(conn, live_at_ms=now_ms),
        inhibit_rules=cfg.inhibit_rules,
        squads=people.squad_statuses(squads, open_alerts, fixes, metric_crs, now_ms),
        routes=cfg.routes, default_route=cfg.default_route, escalation_policies=cfg.policies,
        tie_m=cfg.tie_m, actor=actor)
    return Loaded(ctx, squads, {a.id: len(a.timeline) for a in open_alerts},
                  {a.id: counts.get(a.id, 0) - len(a.timeline) for a in open_alerts})
