"""What the evidence trail records for each kind of thing: the one-line hooks the repositories and
services call inside their write transactions.

- reports: created (the stored row and its photos' SHA-256), every status change (status, squad,
  reject reason before → after, with the reason and note given);
- alerts: created, and every rewrite that changes what matters (state, severity, squad, escalation,
  declines, mutes, overdue code, outcome, evidence) with the old and new values only, named after
  what happened (``alert.acknowledged``, ``alert.declined+assigned``, ``alert.escalated``…);
  ``after.events`` lists the kinds of the timeline entries the change appended; the actor is whoever
  those entries name (a person, a squad, a rule) or ``system``;
- personnel and squads (members, units, roster): created, changed fields, deleted;
- tokens: issued (role and binding; never the secret) and revoked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Table, select

from ecopatrol.audit.chain import Entry
from ecopatrol.audit.trail import changed_fields, record, record_change, record_many
from ecopatrol.store.alerts_schema import (
    alerts,
    squad_duty_windows,
    squad_members,
    squad_shifts,
    squads,
)
from ecopatrol.store.schema import units

SYSTEM = "system"

# ------------------------------------------------------------------------------------------ actors


def actor_name(role: str, name: str) -> str:
    """``role:name`` (``system…`` names stand alone)."""
    return name if name.startswith(SYSTEM) else f"{role}:{name}"


def actor_of(principal: Any) -> str:
    """The actor for an API principal (``tokens_repo.Principal``): ``role:name`` or ``role:#id``."""
    return actor_name(principal.role, principal.name or f"#{principal.token_id}")


def cli_actor() -> str:
    """``cli:<login name>`` for changes made from the command line."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


# ----------------------------------------------------------------------------------------- reports


def report_created(conn: Connection, report_id: int, values: Mapping[str, Any],
                   photo_sha256: Sequence[str], *, actor: str, at_ms: int) -> None:
    after = {"id": report_id, **values, "photos_sha256": list(photo_sha256)}
    record(conn, actor=actor, action="report.created", entity="report", entity_id=report_id,
           after=after, at_ms=at_ms)


def report_moved(conn: Connection, row: Any, action: str, status: str, request: Any, *, actor: str,
                 at_ms: int) -> None:
    """A status change of the report ``row`` (as read before it) by ``action`` to ``status``."""
    before = {"status": row.status, "assigned_squad_id": row.assigned_squad_id,
              "reject_reason": row.reject_reason}
    after = {"status": status,
             "assigned_squad_id": request.squad_id if action == "assign" else row.assigned_squad_id,
             "reject_reason": request.reason if action == "reject" else row.reject_reason}
    old, new = changed_fields(before, after)
    why = {k: v for k in ("reason", "note") if (v := getattr(request, k, None)) is not None}
    record(conn, actor=actor, action=f"report.{action}", entity="report", entity_id=row.id,
           before=old, after={**new, **why}, at_ms=at_ms)


# ------------------------------------------------------------------------------------------ alerts

#: The alert fields the trail follows, and the word for a change of each (in the order named).
ALERT_FIELDS = ("state", "declined_squads", "squad_id", "escalation_level", "muted_by", "overdue",
                "severity", "outcome", "route", "evidence")
_CREATED_EXTRA = ("fingerprint", "rule", "kind", "labels", "title_en")


def alert_states(conn: Connection, alert_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The followed fields of stored alerts (read before they are rewritten)."""
    ids = list(alert_ids)
    out: dict[str, dict[str, Any]] = {}
    columns = [alerts.c.id, *(alerts.c[f] for f in ALERT_FIELDS)]
    for start in range(0, len(ids), 500):
        for row in conn.execute(select(*columns).where(alerts.c.id.in_(ids[start:start + 500]))):
            out[row.id] = {f: getattr(row, f) for f in ALERT_FIELDS}
    return out


def alerts_saved(conn: Connection, *, created: Sequence[Mapping[str, Any]],
                 updated: Mapping[str, Mapping[str, Any]], before: Mapping[str, Mapping[str, Any]],
                 events: Sequence[Mapping[str, Any]], at_ms: int) -> None:
    """One entry per created alert and per updated alert whose followed fields changed or whose
    timeline grew (``events``: the timeline rows just appended)."""
    by_alert: dict[str, list[Mapping[str, Any]]] = {}
    for e in events:
        by_alert.setdefault(e["alert_id"], []).append(e)
    entries = [Entry(_alert_actor(by_alert.get(r["id"], ())), "alert.created", "alert", r["id"], None,
                     {k: r.get(k) for k in (*_CREATED_EXTRA, *ALERT_FIELDS)}, at_ms) for r in created]
    for alert_id, row in updated.items():
        new_events = by_alert.get(alert_id, ())
        old, new = changed_fields(before.get(alert_id, {}), {f: row.get(f) for f in ALERT_FIELDS})
        if not new and not new_events:
            continue
        if new_events:
            new["events"] = [e["kind"] for e in new_events]
        action = "alert." + ("+".join(_alert_words(old, new)) or "updated")
        entries.append(Entry(_alert_actor(new_events), action, "alert", alert_id, old, new, at_ms))
    record_many(conn, entries)


def _alert_actor(events: Iterable[Mapping[str, Any]]) -> str:
    return next((str(e["actor"]) for e in events if e.get("actor") and e["actor"] != SYSTEM), SYSTEM)


def _alert_words(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    words = []
    if "state" in new:
        words.append(str(new["state"]))
    if "declined_squads" in new:
        words.append("declined")
    if "squad_id" in new:
        words.append("assigned" if new["squad_id"] else "unassigned")
    if "escalation_level" in new:
        words.append("escalated" if (new["escalation_level"] or 0) > (old.get("escalation_level") or 0)
                     else "deescalated")
    if "muted_by" in new:
        words.append("muted" if new["muted_by"] else "unmuted")
    words += [f for f in ("overdue", "severity", "outcome", "route", "evidence") if f in new]
    return words


# ---------------------------------------------------------------------------------- people, squads


def row_created(conn: Connection, entity: str, entity_id: object, values: Mapping[str, Any], *,
                actor: str, at_ms: int | None) -> None:
    record(conn, actor=actor, action=f"{entity}.created", entity=entity, entity_id=entity_id,
           after=dict(values), at_ms=at_ms)


def row_changed(conn: Connection, table: Table, key: Column, entity_id: object, values: Mapping[str, Any],
                *, entity: str, actor: str, at_ms: int | None) -> None:
    """Before an UPDATE of ``values``: record the fields it changes (nothing when none)."""
    if not values:
        return
    old = conn.execute(select(*(table.c[k] for k in values)).where(key == entity_id)).first()
    record_change(conn, actor=actor, action=f"{entity}.updated", entity=entity, entity_id=entity_id,
                  before=old._asdict() if old is not None else {}, after=values, at_ms=at_ms)


def row_deleted(conn: Connection, table: Table, key: Column, entity_id: object, *, entity: str,
                actor: str, at_ms: int | None, extra: Mapping[str, Any] | None = None) -> None:
    """Before a DELETE: record the row as it was (plus ``extra``, e.g. a squad's members)."""
    old = conn.execute(select(table).where(key == entity_id)).first()
    if old is None:
        return
    record(conn, actor=actor, action=f"{entity}.deleted", entity=entity, entity_id=entity_id,
           before={**old._asdict(), **(extra or {})}, after=None, at_ms=at_ms)


def members_replaced(conn: Connection, squad_id: str, member_ids: Sequence[str], *, actor: str,
                  at_ms: int | None) -> None:
    """Before the members are replaced."""
    _squad_part(conn, squad_id, "members", _members(conn, squad_id), sorted(member_ids), actor, at_ms)


def units_replaced(conn: Connection, squad_id: str, unit_ids: Sequence[str], *, actor: str,
                at_ms: int | None) -> None:
    """Before the squad's units are replaced."""
    _squad_part(conn, squad_id, "units", _units(conn, squad_id), sorted(unit_ids), actor, at_ms)


def roster_replaced(conn: Connection, squad_id: str, roster: Any, *, actor: str, at_ms: int | None) -> None:
    """Before the roster (``alerts.squads.Roster``) is replaced."""
    new = {"tz": roster.tz,
           "shifts": sorted([s.start, s.end, "".join(str(d) for d in s.weekdays)] for s in roster.shifts),
           "extra": sorted([w.start_ms, w.end_ms] for w in roster.extra),
           "off": sorted([w.start_ms, w.end_ms] for w in roster.off)}
    _squad_part(conn, squad_id, "roster", _roster(conn, squad_id), new, actor, at_ms)


def squad_deleted(conn: Connection, squad_id: str, *, actor: str, at_ms: int | None) -> None:
    """Before a squad is disbanded: its row, members, units and roster."""
    extra = {"members": _members(conn, squad_id), "units": _units(conn, squad_id),
             "roster": _roster(conn, squad_id)}
    row_deleted(conn, squads, squads.c.id, squad_id, entity="squad", actor=actor, at_ms=at_ms, extra=extra)


def _squad_part(conn: Connection, squad_id: str, part: str, old: Any, new: Any, actor: str,
                at_ms: int | None) -> None:
    if old != new:
        record(conn, actor=actor, action=f"squad.{part}", entity="squad", entity_id=squad_id,
               before={part: old}, after={part: new}, at_ms=at_ms)


def _members(conn: Connection, squad_id: str) -> list[str]:
    return sorted(conn.execute(select(squad_members.c.person_id)
                               .where(squad_members.c.squad_id == squad_id)).scalars())


def _units(conn: Connection, squad_id: str) -> list[str]:
    return sorted(conn.execute(select(units.c.unit_id).where(units.c.squad_id == squad_id)).scalars())


def _roster(conn: Connection, squad_id: str) -> dict[str, Any]:
    tz = conn.execute(select(squads.c.tz).where(squads.c.id == squad_id)).scalar()
    shifts = sorted([r.start_hhmm, r.end_hhmm, r.weekdays] for r in conn.execute(
        select(squad_shifts).where(squad_shifts.c.squad_id == squad_id)))
    windows: dict[str, list[list[int]]] = {"extra": [], "off": []}
    for r in conn.execute(select(squad_duty_windows).where(squad_duty_windows.c.squad_id == squad_id)):
        windows.setdefault(r.kind, []).append([int(r.start_ms), int(r.end_ms)])
    return {"tz": tz, "shifts": shifts, "extra": sorted(windows["extra"]), "off": sorted(windows["off"])}


# ------------------------------------------------------------------------------------------ tokens


def token_issued(conn: Connection, token_id: int, values: Mapping[str, Any], *, actor: str,
                 at_ms: int) -> None:
    """A new bearer token: its role, name, binding and expiry (never the secret nor its digest)."""
    after = {k: v for k, v in values.items() if k != "token_hash"}
    record(conn, actor=actor, action="token.issued", entity="token", entity_id=token_id, after=after,
           at_ms=at_ms)


def token_revoked(conn: Connection, token_id: int, *, actor: str, at_ms: int) -> None:
    record(conn, actor=actor, action="token.revoked", entity="token", entity_id=token_id,
           before={"revoked_ms": None}, after={"revoked_ms": at_ms}, at_ms=at_ms)


__all__ = [
    "ALERT_FIELDS",
    "actor_name",
    "actor_of",
    "alert_states",
    "alerts_saved",
    "cli_actor",
    "members_replaced",
    "report_created",
    "report_moved",
    "roster_replaced",
    "row_changed",
    "row_created",
    "row_deleted",
    "squad_deleted",
    "token_issued",
    "token_revoked",
    "units_replaced",
]
