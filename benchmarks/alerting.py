"""Alerting figures on the demo county (synthetic), in process, on SQLite then on PostgreSQL when
ECOPATROL_TEST_PG_URL's server is reachable (database ``ecopatrol_bench_alerts``, recreated):

1. history: demo layers, units, 5 demo squads, 30 days of simulated patrols (through ingest) and 30
   days of simulated reports (through the report service, each at its own time, with the alert handler
   subscribed; alerts older than 6 h are resolved as squads would);
2. report committed → alert assigned: 350 firearm / snare / hunting reports sent through the report
   service now; each sample runs from the ``report.created`` event (right after the report's commit)
   to the ``alert.changed`` event of its own new alert with a squad (right after the alert's commit).
   Near-duplicates and reports that join a cluster raise no alert of their own, so there are fewer
   samples than reports. Target p99 < 1 s;
3. one scheduled evaluation of ALL rules over the county (report, cluster, coverage gap, silent and
   immobile units) with that history, and one escalation tick. Target < 1 s. Naive peer: the coverage
   gap rule written as one SQL query per reach and cell.

    python benchmarks/alerting.py [N_REPORTS] [HISTORY_DAYS]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts.lifecycle import Action  # noqa: E402
from alerts.model import AlertState, Outcome  # noqa: E402
from alerts.pipeline import DEFAULT_STAGES, run_pipeline  # noqa: E402
from alerts.rules import evaluate_rules  # noqa: E402
from ecopatrol.alerting import facts, people, repo, service  # noqa: E402
from ecopatrol.alerting.demo import seed_demo_squads  # noqa: E402
from ecopatrol.alerting.wiring import install_alerting  # noqa: E402
from ecopatrol.config import load_settings  # noqa: E402
from ecopatrol.runtime import Runtime, build_runtime  # noqa: E402

PG_URL = os.environ.get("ECOPATROL_TEST_PG_URL",
                        "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/ecopatrol_test")
DAY_MS = 86_400_000
TARGET_MS = 1000.0


class Clock:
    """Real time, or a pinned instant while history is replayed."""

    def __init__(self) -> None:
        self.pinned: int | None = None

    def __call__(self) -> int:
        return self.pinned if self.pinned is not None else time.time_ns() // 1_000_000


def _iso(t_ms: int) -> str:
    return datetime.fromtimestamp(t_ms / 1000, UTC).isoformat()


def _body(row: Any, observed_ms: int) -> dict[str, Any]:
    details = {k: v for k, v in dict(row.details).items() if v is not None}
    return {"category": row.category, "observed_at": _iso(observed_ms), "datum": "wgs84",
            "location": {"type": "Point", "coordinates": [float(row.lon), float(row.lat)]},
            "details": details, "description": row.description, "reporter": {"name": "演示"}}


# ------------------------------------------------------------------------------------------- seeding


def seed(runtime: Runtime, clock: Clock, days: float) -> dict[str, Any]:
    from ecopatrol.demo import _import_layers, _register_units, simulate_into
    from ecopatrol.reports import service as reports
    from geo.demo.county import build_demo_county
    from geo.demo.simulate import default_units, simulate_reports

    county = build_demo_county()
    _import_layers(runtime, county)
    _register_units(runtime, default_units(county))
    seed_demo_squads(runtime)
    t0 = time.perf_counter()
    patrols = simulate_into(runtime, days=days, county=county)
    print(f"  history: {patrols['accepted']:,} fixes of {days:g} days ingested "
          f"in {time.perf_counter() - t0:.0f} s")
    now = clock()
    rows = simulate_reports(county, start_ms=now - int(days * DAY_MS), days=days, rate_per_day=4.0)
    submitter = reports.Submitter("api", "partner", "bench", "bench", None)
    t0 = time.perf_counter()
    for row in rows.itertuples(index=False):
        clock.pinned = int(row.observed_ms) + 10 * 60_000
        body = reports.parse_report(_body(row, int(row.observed_ms)))
        reports.create_report(runtime, body, submitter=submitter)
        _resolve_older_than(runtime, clock.pinned - 6 * 3_600_000)
    clock.pinned = None
    _resolve_older_than(runtime, now - 6 * 3_600_000)
    with runtime.store.read() as conn:
        n_alerts = conn.execute(sa.text("SELECT count(*) FROM alerts")).scalar_one()
    print(f"  history: {len(rows)} reports over {days:g} days → {n_alerts} alerts "
          f"({time.perf_counter() - t0:.0f} s)")
    return {"county": county}


def _resolve_older_than(runtime: Runtime, before_ms: int) -> None:
    with runtime.store.read() as conn:
        old = [a for a in repo.open_alerts(conn, with_timeline=False) if a.created_ms < before_ms]
    for alert in old:
        if alert.state is not AlertState.resolved:
            service.act(runtime, alert.id, Action.resolve, "person:bench", outcome=Outcome.confirmed)


# ------------------------------------------------------------------------------------------- latency


class Probe:
    """Timestamps of ``report.created`` and of the first ``alert.changed`` with a squad per report."""

    def __init__(self, runtime: Runtime) -> None:
        """Subscribe BEFORE the alert handler: the bus calls subscribers in order."""
        self.committed: dict[int, float] = {}
        self.assigned: dict[str, float] = {}
        self.on = False
        self.lock = threading.Lock()
        runtime.events.subscribe("report.created", self._report)
        runtime.events.subscribe("alert.changed", self._alert)

    def _report(self, _topic: str, payload: dict[str, Any]) -> None:
        if self.on:
            self.committed[int(payload["report_id"])] = time.perf_counter()

    def _alert(self, _topic: str, payload: dict[str, Any]) -> None:
        if self.on and payload.get("squad_id"):
            with self.lock:
                self.assigned.setdefault(payload["alert_id"], time.perf_counter())


def latency(runtime: Runtime, probe: Probe, county: Any, n: int) -> dict[str, float]:
    from ecopatrol.reports import service as reports
    from geo.demo.simulate import simulate_reports

    probe.on = True
    now = runtime.now_ms()
    rows = simulate_reports(county, start_ms=now - DAY_MS, days=1.0, seed=11, rate_per_day=n * 2.5)
    rows = rows[rows["category"].isin(["firearm", "snare", "illegal_hunting"])].head(n)
    submitter = reports.Submitter("api", "partner", "bench", "bench", None)
    rng = np.random.default_rng(3)
    wall = []
    for row in rows.itertuples(index=False):
        observed = runtime.now_ms() - int(rng.uniform(1, 30) * 60_000)
        t0 = time.perf_counter()
        reports.create_report(runtime, reports.parse_report(_body(row, observed)), submitter=submitter)
        wall.append(time.perf_counter() - t0)
    with runtime.store.read() as conn:
        report_of = {a.id: int(a.evidence.report_ids[0]) for a in repo.open_alerts(conn, with_timeline=False)
                     if a.kind == "report" and a.created_ms >= now}
    samples = [(probe.assigned[a] - probe.committed[r]) * 1000 for a, r in report_of.items()
               if a in probe.assigned and r in probe.committed]
    return {"n": len(samples), "p50": _pct(samples, 50), "p99": _pct(samples, 99), "max": max(samples),
            "request_p50": _pct([w * 1000 for w in wall], 50),
            "request_p99": _pct([w * 1000 for w in wall], 99)}


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


# ------------------------------------------------------------------------------------------ schedule


def scheduled(runtime: Runtime, repeats: int = 5) -> dict[str, float]:
    cfg = service.alerting_config(runtime)
    rules = list(cfg.rules)
    index = runtime.layer_index()
    crs = runtime.settings.deployment.metric_crs
    out: dict[str, list[float]] = {"load": [], "evaluate": [], "pipeline": [], "total": [], "tick": []}
    counts = {}
    for _ in range(repeats):
        now = runtime.now_ms()
        t0 = time.perf_counter()
        with runtime.store.read() as conn:
            squads = people.load_squads(conn)
            rule_facts = facts.load_facts(conn, index, crs, rules, squads, now)
        t1 = time.perf_counter()
        candidates = evaluate_rules(rules, rule_facts, now)
        t2 = time.perf_counter()
        service._run(runtime, [lambda ctx, c=candidates: run_pipeline(DEFAULT_STAGES, ctx, c)], now_ms=now)
        t3 = time.perf_counter()
        service.escalation_tick(runtime)
        t4 = time.perf_counter()
        for key, value in zip(("load", "evaluate", "pipeline", "total", "tick"),
                              (t1 - t0, t2 - t1, t3 - t2, t3 - t0, t4 - t3), strict=True):
            out[key].append(value * 1000)
        counts = {"reports": len(rule_facts.reports), "units": len(rule_facts.units),
                  "features": len(rule_facts.features), "candidates": len(candidates)}
    summary = {k: statistics.median(v) for k, v in out.items()}
    summary["first_total"] = out["total"][0]
    return {**summary, **counts}


def naive_coverage_gap(runtime: Runtime) -> float:
    """The coverage-gap rule as one might write it first: one query per feature, a Python loop."""
    table = facts.feature_table(runtime.layer_index())
    now = runtime.now_ms()
    t0 = time.perf_counter()
    stale = 0
    with runtime.store.read() as conn:
        for kind, feature_id in zip(table["kind"], table["feature_id"], strict=True):
            last = conn.execute(sa.text("SELECT max(last_ms) FROM coverage "
                                        "WHERE kind = :k AND feature_id = :f"),
                                {"k": kind, "f": feature_id}).scalar()
            stale += last is None or now - last > 96 * 3_600_000
    return (time.perf_counter() - t0) * 1000


# ---------------------------------------------------------------------------------------------- main


def run(url: str, label: str, n: int, days: float) -> None:
    print(f"{label}:")
    clock = Clock()
    settings = load_settings(environ={**os.environ, "ECOPATROL_DATABASE_URL": url})
    runtime = build_runtime(settings, clock=clock)
    probe = Probe(runtime)
    install_alerting(runtime)
    info = seed(runtime, clock, days)
    lat = latency(runtime, probe, info["county"], n)
    print(f"  report committed → alert assigned: n={lat['n']}  p50 {lat['p50']:.1f} ms  "
          f"p99 {lat['p99']:.1f} ms"
          f"  max {lat['max']:.1f} ms  (target p99 < {TARGET_MS:.0f} ms)")
    print(f"  whole create_report call (validate, place, commit, rules, assign, report status): "
          f"p50 {lat['request_p50']:.1f} ms  p99 {lat['request_p99']:.1f} ms")
    sched = scheduled(runtime)
    print(f"  scheduled evaluation of all {len(service.alerting_config(runtime).rules)} rules "
          f"({sched['reports']} reports, {sched['units']} units, {sched['features']:,} reaches+cells, "
          f"{sched['candidates']} candidates): median {sched['total']:.0f} ms "
          f"(load {sched['load']:.0f}, evaluate {sched['evaluate']:.0f}, "
          f"pipeline+persist {sched['pipeline']:.0f}); "
          f"first run {sched['first_total']:.0f} ms  (target < {TARGET_MS:.0f} ms)")
    print(f"  escalation tick over the open alerts: median {sched['tick']:.0f} ms")
    print(f"  naive peer, coverage gap with one query per feature: {naive_coverage_gap(runtime):.0f} ms")
    runtime.close()


def _pg_url() -> str | None:
    base = PG_URL.rpartition("/")[0]
    try:
        admin = sa.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text('DROP DATABASE IF EXISTS "ecopatrol_bench_alerts" WITH (FORCE)'))
            conn.execute(sa.text('CREATE DATABASE "ecopatrol_bench_alerts"'))
        admin.dispose()
    except Exception as exc:
        print(f"postgresql: skipped ({exc.__class__.__name__})")
        return None
    engine = sa.create_engine(f"{base}/ecopatrol_bench_alerts")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()
    return f"{base}/ecopatrol_bench_alerts"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 350
    days = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("ECOPATROL_CONFIG", str(Path(tmp) / "config.toml"))
        Path(os.environ["ECOPATROL_CONFIG"]).write_text("", encoding="utf-8")
        run(f"sqlite:///{Path(tmp) / 'alerts.db'}", "sqlite", n, days)
        pg = _pg_url()
        if pg is not None:
            run(pg, "postgresql", n, days)


if __name__ == "__main__":
    main()
