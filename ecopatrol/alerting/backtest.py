"""Backtesting: rerun the current rules over stored history at hourly steps and list what would have
fired (``ecopatrol rules test --replay --since 30d``). Nothing is written.

At each step ``t`` the rules see what was known at ``t``: reports received by then, each squad unit's
fixes up to ``t`` (on duty by the squad's current roster), and each feature's last visit by ``t``
(from the per-day coverage rows: a row counts once its first pass is before ``t``, up to ``t`` — exact to
the day row). Alerts are carried from step to step, so a condition fires once, as it would live.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import select

from alerts.model import Alert, FeatureVisit, UnitFact
from alerts.pipeline import DEFAULT_STAGES, PipelineContext, run_pipeline
from alerts.rules import Rule, RuleFacts, evaluate_rules
from ecopatrol.alerting import facts, people
from ecopatrol.alerting.context import new_id
from ecopatrol.alerting.settings import AlertingConfig
from ecopatrol.runtime import Runtime
from ecopatrol.store import coverage_repo
from ecopatrol.store.schema import fixes, units
from geo.placement import to_metric

HOUR_MS = facts.HOUR_MS


@dataclass(frozen=True)
class Fired:
    at_ms: int
    alert: Alert


@dataclass
class _UnitHistory:
    unit_id: str
    mode: str
    squad: people.SquadRecord
    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    lon: np.ndarray
    lat: np.ndarray


def replay(runtime: Runtime, cfg: AlertingConfig, *, since_ms: int, until_ms: int | None = None,
           step_ms: int = HOUR_MS, progress: Callable[[int, int], None] | None = None) -> list[Fired]:
    """What ``cfg``'s rules would have raised at each step from ``since_ms`` to now."""
    until = runtime.now_ms() if until_ms is None else until_ms
    rules = [r for r in cfg.rules if r.config.enabled]
    needs = facts.FactNeeds.of(rules)
    index = runtime.layer_index()
    crs = runtime.settings.deployment.metric_crs
    with runtime.store.read() as conn:
        back = max(needs.report_age_ms, needs.cluster_window_ms)
        all_reports = facts.load_reports(conn, index, crs, now_ms=until,
                                         received_within_ms=until - since_ms + back) if back else []
        squads = people.load_squads(conn) if needs.units else []
        history = _unit_histories(conn, squads, since_ms - max(needs.track_ms, 24 * HOUR_MS), until, crs) \
            if needs.units else []
        contributions = coverage_repo.load_contributions(conn) if needs.features else pd.DataFrame()
        features = facts.feature_visits(conn, index, visits=_no_visits()) if needs.features else []
    steps = list(range(since_ms + step_ms, until + 1, step_ms))
    visits = _VisitIndex(features, contributions) if needs.features else None
    open_alerts: dict[str, Alert] = {}
    fired: list[Fired] = []
    for i, t in enumerate(steps):
        step_facts = RuleFacts(
            reports=[r for r in all_reports if r.received_ms <= t],
            units=_units_at(history, t, needs.track_ms, index) if needs.units else [],
            features=visits.at(t) if visits is not None else [])
        fired += _step(rules, cfg, step_facts, t, open_alerts)
        if progress is not None:
            progress(i + 1, len(steps))
    return fired


def _step(rules: list[Rule], cfg: AlertingConfig, step_facts: RuleFacts, t: int,
          open_alerts: dict[str, Alert]) -> list[Fired]:
    candidates = evaluate_rules(rules, step_facts, t)
    if not candidates:
        return []
    ctx = PipelineContext(now_ms=t, new_id=new_id, open_alerts=dict(open_alerts),
                          inhibit_rules=cfg.inhibit_rules, routes=cfg.routes, default_route=cfg.default_route,
                          escalation_policies=cfg.policies, tie_m=cfg.tie_m)
    result = run_pipeline(DEFAULT_STAGES, ctx, candidates)
    for alert in result.alerts:
        open_alerts[alert.fingerprint] = alert
    return [Fired(t, a) for a in result.created]


def _no_visits() -> pd.DataFrame:
    return pd.DataFrame({"kind": pd.Series(dtype=object), "feature_id": pd.Series(dtype=object),
                         "last_ms": pd.Series(dtype="int64")})


class _VisitIndex:
    """Feature last visits as of any time, from the per-day coverage rows (numpy, no SQL per step)."""

    def __init__(self, features: list[FeatureVisit], rows: pd.DataFrame) -> None:
        self.features = features
        position = {(f.kind.value, f.feature_id): i for i, f in enumerate(features)}
        keys = zip(rows["kind"], rows["feature_id"].astype(str), strict=True) if len(rows) else []
        where = np.array([position.get(k, -1) for k in keys], dtype=np.int64)
        known = where >= 0
        self.where = where[known]
        self.first = rows["first_ms"].to_numpy(np.int64)[known] if len(rows) else np.zeros(0, np.int64)
        self.last = rows["last_ms"].to_numpy(np.int64)[known] if len(rows) else np.zeros(0, np.int64)

    def at(self, t: int) -> list[FeatureVisit]:
        seen = np.full(len(self.features), -1, dtype=np.int64)
        started = self.first <= t
        np.maximum.at(seen, self.where[started], np.minimum(self.last[started], t))
        return [FeatureVisit(f.kind, f.feature_id, f.priority, int(s) if s >= 0 else None, f.x_m, f.y_m,
                             f.township, f.lon, f.lat)
                for f, s in zip(self.features, seen.tolist(), strict=True)]


def _unit_histories(conn, squads: list[people.SquadRecord], since_ms: int, until_ms: int,  # type: ignore[no-untyped-def]
                    crs: str) -> list[_UnitHistory]:
    squad_of = {u: s for s in squads for u in s.unit_ids}
    if not squad_of:
        return []
    modes = dict(conn.execute(select(units.c.unit_id, units.c.mode)
                              .where(units.c.unit_id.in_(list(squad_of)))).all())
    out = []
    for unit_id, mode in sorted(modes.items()):
        rows = conn.execute(select(fixes.c.time_ms, fixes.c.lon, fixes.c.lat)
                            .where(fixes.c.unit_id == unit_id, fixes.c.time_ms >= since_ms,
                                   fixes.c.time_ms <= until_ms, fixes.c.outlier.is_(False))
                            .order_by(fixes.c.time_ms)).fetchall()
        arr = np.array([(r[0], r[1], r[2]) for r in rows], dtype=float).reshape(-1, 3)
        x, y = to_metric(arr[:, 1], arr[:, 2], crs) if len(arr) else (np.zeros(0), np.zeros(0))
        out.append(_UnitHistory(unit_id, mode, squad_of[unit_id], arr[:, 0].astype(np.int64), np.asarray(x),
                                np.asarray(y), arr[:, 1], arr[:, 2]))
    return out


def _units_at(history: list[_UnitHistory], t: int, track_ms: int, index: object) -> list[UnitFact]:
    out = []
    for h in history:
        since = facts.duty_since_ms(h.squad.roster, t)
        if since is None:
            continue
        end = int(np.searchsorted(h.t, t, side="right"))
        if end == 0:
            out.append(UnitFact(h.unit_id, h.mode, True, squad_id=h.squad.id, on_duty_since_ms=since))  # type: ignore[arg-type]
            continue
        start = int(np.searchsorted(h.t, t - track_ms, side="left")) if track_ms else end - 1
        k = end - 1
        track = tuple(zip(h.t[start:end].tolist(), h.x[start:end].tolist(), h.y[start:end].tolist(),
                          strict=True))
        placed = index.placer.place(h.x[k:end], h.y[k:end], 0.0)  # type: ignore[attr-defined]
        remote = bool(facts.remote_mask(index, placed)[0])
        out.append(UnitFact(h.unit_id, h.mode, True, int(h.t[k]), float(h.x[k]), float(h.y[k]),  # type: ignore[arg-type]
                            track if track_ms else (), remote, h.squad.id, since, float(h.lon[k]),
                            float(h.lat[k]), facts._text(placed["township"].iat[0])))
    return out


def format_fired(fired: list[Fired], tz: str) -> list[str]:
    from ecopatrol.alerting.views import iso

    lines = [f"{iso(f.at_ms, tz)[:16]}  {f.alert.severity.value:<8} {f.alert.rule:<24} {f.alert.title_zh} — "
             f"{f.alert.summary_zh}" for f in fired]
    counts: dict[str, int] = {}
    for f in fired:
        counts[f.alert.rule] = counts.get(f.alert.rule, 0) + 1
    lines.append(f"{len(fired)} alert(s) would have fired" + (": " + ", ".join(
        f"{rule} {n}" for rule, n in sorted(counts.items())) if counts else ""))
    return lines
