"""Alerts, squads and people as the API shows them (``XPublic`` families), and ``StoreAlertViews``:
the read seam the live stream uses (``ecopatrol.live.views.AlertViews``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import Connection, select

from alerts.escalation import overdue, policy_for, report_overdue
from alerts.model import Alert, AlertState, ReportCategory, ReportFact, ReportStatus
from alerts.squads import SquadState, squad_state
from ecopatrol.alerting import people, repo
from ecopatrol.alerting.people import LonLatFix, SquadRecord
from ecopatrol.alerting.settings import AlertingConfig
from ecopatrol.store.reports_schema import reports

OverdueCode = Literal["yellow", "red"] | None


class Point(BaseModel):
    type: Literal["Point"] = "Point"
    coordinates: tuple[float, float]


class MemberPublic(BaseModel):
    id: str
    name: str
    role: Literal["police", "auxiliary"]
    phone: str
    status: str


class SquadRef(BaseModel):
    id: str
    name: str
    members: list[MemberPublic]


class TimelineEntry(BaseModel):
    at_ms: int
    at: str
    kind: str
    actor: str
    reason: str | None
    data: dict[str, Any]


class ReportRef(BaseModel):
    id: int
    status: str
    overdue: OverdueCode


class AlertPublic(BaseModel):
    id: str
    fingerprint: str
    rule: str
    kind: str
    severity: Literal["critical", "high", "medium", "low"]
    state: Literal["open", "acknowledged", "en_route", "on_scene", "resolved"]
    title_zh: str
    title_en: str
    summary_zh: str
    summary_en: str
    labels: dict[str, str]
    evidence: dict[str, list[str]]
    reports: list[ReportRef]
    location: Point | None
    squad: SquadRef | None
    route: str | None
    escalation_policy: str | None
    escalation_level: int
    overdue: OverdueCode
    muted_by: dict[str, str] | None
    outcome: str | None
    declined_squads: list[str]
    created_ms: int
    updated_ms: int
    starts_ms: int
    acked_ms: int | None
    en_route_ms: int | None
    on_scene_ms: int | None
    resolved_ms: int | None
    created_at: str
    timeline: list[TimelineEntry]


class AlertList(BaseModel):
    items: list[AlertPublic]
    total: int
    limit: int
    offset: int


class Position(BaseModel):
    type: Literal["Point"] = "Point"
    coordinates: tuple[float, float]
    at_ms: int
    unit_id: str


class SquadPublic(BaseModel):
    id: str
    name: str
    members: list[MemberPublic]
    units: list[str]
    state: Literal["available", "busy", "off_duty"]
    position: Position | None
    open_alerts: int
    roster: dict[str, Any]
    created_ms: int


def iso(t_ms: int, tz: str) -> str:
    return datetime.fromtimestamp(t_ms / 1000, tz=UTC).astimezone(ZoneInfo(tz)).isoformat()


def member(p: Any) -> MemberPublic:
    return MemberPublic(id=p.id, name=p.name, role=p.role.value, phone=p.phone, status=p.status.value)


def alert_public(alert: Alert, cfg: AlertingConfig, now_ms: int, *,
                 squads: Mapping[str, SquadRecord], report_refs: Mapping[int, ReportRef]) -> AlertPublic:
    code = overdue(alert, policy_for(alert, cfg.policies), now_ms)
    squad = squads.get(alert.squad_id) if alert.squad_id else None
    location = Point(coordinates=(alert.lon, alert.lat)) \
        if alert.lon is not None and alert.lat is not None else None
    return AlertPublic(
        id=alert.id, fingerprint=alert.fingerprint, rule=alert.rule, kind=alert.kind,
        severity=alert.severity.value, state=alert.state.value, title_zh=alert.title_zh,
        title_en=alert.title_en, summary_zh=alert.summary_zh, summary_en=alert.summary_en,
        labels=dict(alert.labels), evidence=alert.evidence.to_dict(),
        reports=[report_refs[int(r)] for r in alert.evidence.report_ids if int(r) in report_refs],
        location=location,
        squad=SquadRef(id=squad.id, name=squad.name, members=[member(p) for p in squad.members])
        if squad else (SquadRef(id=alert.squad_id, name="", members=[]) if alert.squad_id else None),
        route=alert.route, escalation_policy=alert.escalation_policy,
        escalation_level=alert.escalation_level, overdue=code.value if code else None,
        muted_by={"reason": alert.muted_by.reason.value, "by": alert.muted_by.by} if alert.muted_by else None,
        outcome=alert.outcome.value if alert.outcome else None, declined_squads=list(alert.declined_squads),
        created_ms=alert.created_ms, updated_ms=alert.updated_ms, starts_ms=alert.starts_ms,
        acked_ms=alert.acked_ms, en_route_ms=alert.en_route_ms, on_scene_ms=alert.on_scene_ms,
        resolved_ms=alert.resolved_ms, created_at=iso(alert.created_ms, cfg.timezone),
        timeline=[TimelineEntry(at_ms=e.at_ms, at=iso(e.at_ms, cfg.timezone), kind=e.kind.value,
                                actor=e.actor, reason=e.reason.value if e.reason is not None else None,
                                data=dict(e.to_dict()["data"])) for e in alert.timeline])


def report_refs(conn: Connection, alerts: Sequence[Alert], cfg: AlertingConfig,
                now_ms: int) -> dict[int, ReportRef]:
    """Status and overdue code of every report the alerts rest on (one query)."""
    ids = sorted({int(r) for a in alerts for r in a.evidence.report_ids if str(r).isdigit()})
    if not ids:
        return {}
    rows = conn.execute(select(reports.c.id, reports.c.status, reports.c.created_ms, reports.c.category)
                        .where(reports.c.id.in_(ids))).fetchall()
    out = {}
    for r in rows:
        fact = ReportFact(id=str(r.id), category=ReportCategory(r.category), observed_ms=r.created_ms,
                          received_ms=r.created_ms, lon=0.0, lat=0.0, x_m=0.0, y_m=0.0,
                          status=ReportStatus(r.status))
        code = report_overdue(fact, now_ms, cfg.report_targets)
        out[int(r.id)] = ReportRef(id=int(r.id), status=r.status, overdue=code.value if code else None)
    return out


def alerts_public(conn: Connection, alerts: Sequence[Alert], cfg: AlertingConfig, now_ms: int,
                  squad_memory: people.SquadMemory | None = None) -> list[AlertPublic]:
    squad_ids = {a.squad_id for a in alerts if a.squad_id}
    load = people.load_squads if squad_memory is None else squad_memory.squads
    squads = {s.id: s for s in load(conn, squad_ids)} if squad_ids else {}
    refs = report_refs(conn, alerts, cfg, now_ms)
    return [alert_public(a, cfg, now_ms, squads=squads, report_refs=refs) for a in alerts]


# ------------------------------------------------------------------------------------------ squads


def roster_public(record: SquadRecord) -> dict[str, Any]:
    return record.roster.model_dump(mode="json", exclude={"squad_id"})


def squads_public(conn: Connection, records: Sequence[SquadRecord], now_ms: int) -> list[SquadPublic]:
    open_alerts = repo.open_alerts(conn, with_timeline=False)
    fixes = people.last_fixes(conn, [u for r in records for u in r.unit_ids], until_ms=now_ms)
    return [squad_public(r, open_alerts, fixes, now_ms) for r in records]


def squad_public(record: SquadRecord, open_alerts: Sequence[Alert], fixes: Mapping[str, LonLatFix],
                 now_ms: int) -> SquadPublic:
    state: SquadState = squad_state(record.squad, record.roster, open_alerts, now_ms)
    found = people.squad_position(record, fixes)
    position = Position(coordinates=(found[1][1], found[1][2]), at_ms=found[1][0], unit_id=found[0]) \
        if found else None
    load = sum(1 for a in open_alerts if a.squad_id == record.id and a.state is not AlertState.resolved)
    return SquadPublic(id=record.id, name=record.name, members=[member(p) for p in record.members],
                       units=list(record.unit_ids), state=state.value, position=position, open_alerts=load,
                       roster=roster_public(record), created_ms=record.created_ms)


# ----------------------------------------------------------------------------------- live stream


class StoreAlertViews:
    """``ecopatrol.live.views.AlertViews`` over this store: the same JSON as ``GET /api/v1/alerts``."""

    def __init__(self, cfg: AlertingConfig, squad_memory: people.SquadMemory | None = None) -> None:
        self.cfg = cfg
        self.squad_memory = squad_memory

    def get_many(self, conn: Connection, alert_ids: Sequence[str], now_ms: int) -> dict[str, dict[str, Any]]:
        found = repo.get_alerts(conn, list(dict.fromkeys(alert_ids)))
        views = alerts_public(conn, found, self.cfg, now_ms, self.squad_memory)
        return {a.id: v.model_dump(mode="json") for a, v in zip(found, views, strict=True)}

    def open_for(self, conn: Connection, squad_id: str | None, now_ms: int) -> list[dict[str, Any]]:
        states = [s.value for s in AlertState if s is not AlertState.resolved]
        found, _ = repo.list_alerts(conn, states=states, squad_id=squad_id, limit=1000)
        views = alerts_public(conn, found, self.cfg, now_ms, self.squad_memory)
        return [v.model_dump(mode="json") for v in views]
