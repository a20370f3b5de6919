"""Personnel, squads, rosters and squad positions in the store (SQLAlchemy Core), read back as the
``alerts.squads`` types the pipeline uses.

A squad's phones are the units whose ``units.squad_id`` names it plus the units its members carry
(``personnel.unit_id``); its last known position is the freshest non-outlier fix among them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, delete, insert, select, update

from alerts.model import Alert
from alerts.squads import (
    DutyWindow,
    Person,
    PersonStatus,
    Role,
    Roster,
    Shift,
    Squad,
    SquadStatus,
    squad_status,
)
from ecopatrol import audit
from ecopatrol.store import fixes_repo
from ecopatrol.store.alerts_schema import (
    personnel,
    squad_duty_windows,
    squad_generation,
    squad_members,
    squad_shifts,
    squads,
)
from ecopatrol.store.schema import units
from geo.placement import to_metric

LonLatFix = tuple[int, float, float]  # (t_ms, lon, lat)


@dataclass(frozen=True)
class SquadRecord:
    """A stored squad with its members, roster and phones."""

    id: str
    name: str
    tz: str
    members: tuple[Person, ...]
    roster: Roster
    unit_ids: tuple[str, ...]
    created_ms: int = 0

    @property
    def squad(self) -> Squad:
        return Squad(self.id, self.name, tuple(p.id for p in self.members))


# ----------------------------------------------------------------------------------------- people


def _person(row) -> Person:  # type: ignore[no-untyped-def]
    return Person(row.id, row.name, Role(row.role), row.phone, PersonStatus(row.status))


def person_unit(conn: Connection, person_id: str) -> str | None:
    return conn.execute(select(personnel.c.unit_id).where(personnel.c.id == person_id)).scalar()


def get_person_row(conn: Connection, person_id: str):  # type: ignore[no-untyped-def]
    return conn.execute(select(personnel).where(personnel.c.id == person_id)).first()


def list_person_rows(conn: Connection, *, role: str | None = None) -> list:  # type: ignore[type-arg]
    query = select(personnel).order_by(personnel.c.id)
    if role is not None:
        query = query.where(personnel.c.role == role)
    return list(conn.execute(query).fetchall())


def people_by_id(conn: Connection, ids: Iterable[str] | None = None) -> dict[str, Person]:
    query = select(personnel)
    if ids is not None:
        query = query.where(personnel.c.id.in_(list(ids)))
    return {r.id: _person(r) for r in conn.execute(query).fetchall()}


def insert_person(conn: Connection, *, person_id: str, name: str, role: str, phone: str, status: str,
                  unit_id: str | None, now_ms: int, actor: str = "system") -> None:
    values = {"name": name, "role": role, "phone": phone, "status": status, "unit_id": unit_id}
    conn.execute(insert(personnel).values(id=person_id, **values, created_ms=now_ms, updated_ms=now_ms))
    audit.row_created(conn, "person", person_id, values, actor=actor, at_ms=now_ms)


def update_person(conn: Connection, person_id: str, values: Mapping[str, object], now_ms: int, *,
                  actor: str = "system") -> None:
    audit.row_changed(conn, personnel, personnel.c.id, person_id, values, entity="person", actor=actor,
                      at_ms=now_ms)
    conn.execute(update(personnel).where(personnel.c.id == person_id).values(**values, updated_ms=now_ms))


def delete_person(conn: Connection, person_id: str, *, actor: str = "system",
                  at_ms: int | None = None) -> None:
    audit.row_deleted(conn, personnel, personnel.c.id, person_id, entity="person", actor=actor, at_ms=at_ms)
    conn.execute(delete(personnel).where(personnel.c.id == person_id))


def memberships(conn: Connection) -> dict[str, str]:
    """person id → the squad they are in."""
    return {r.person_id: r.squad_id for r in conn.execute(select(squad_members)).fetchall()}


# ----------------------------------------------------------------------------------------- squads


def insert_squad(conn: Connection, *, squad_id: str, name: str, tz: str, now_ms: int,
                 actor: str = "system") -> None:
    conn.execute(insert(squads).values(id=squad_id, name=name, tz=tz, created_ms=now_ms, updated_ms=now_ms))
    audit.row_created(conn, "squad", squad_id, {"name": name, "tz": tz}, actor=actor, at_ms=now_ms)


def update_squad(conn: Connection, squad_id: str, values: Mapping[str, object], now_ms: int, *,
                 actor: str = "system") -> None:
    audit.row_changed(conn, squads, squads.c.id, squad_id, values, entity="squad", actor=actor, at_ms=now_ms)
    conn.execute(update(squads).where(squads.c.id == squad_id).values(**values, updated_ms=now_ms))


def set_members(conn: Connection, squad_id: str, member_ids: Sequence[str], *, actor: str = "system",
                at_ms: int | None = None) -> None:
    audit.members_replaced(conn, squad_id, member_ids, actor=actor, at_ms=at_ms)
    conn.execute(delete(squad_members).where(squad_members.c.squad_id == squad_id))
    if member_ids:
        conn.execute(insert(squad_members), [{"squad_id": squad_id, "person_id": p} for p in member_ids])


def set_units(conn: Connection, squad_id: str, unit_ids: Sequence[str], *, actor: str = "system",
              at_ms: int | None = None) -> None:
    """The units (vehicles, phones) that travel with the squad: exactly these."""
    audit.units_replaced(conn, squad_id, unit_ids, actor=actor, at_ms=at_ms)
    conn.execute(update(units).where(units.c.squad_id == squad_id).values(squad_id=None))
    if unit_ids:
        conn.execute(update(units).where(units.c.unit_id.in_(list(unit_ids))).values(squad_id=squad_id))


def known_units(conn: Connection, unit_ids: Iterable[str]) -> set[str]:
    ids = list(unit_ids)
    if not ids:
        return set()
    return set(conn.execute(select(units.c.unit_id).where(units.c.unit_id.in_(ids))).scalars())


def delete_squad(conn: Connection, squad_id: str, *, actor: str = "system", at_ms: int | None = None) -> None:
    audit.squad_deleted(conn, squad_id, actor=actor, at_ms=at_ms)
    conn.execute(update(units).where(units.c.squad_id == squad_id).values(squad_id=None))
    for table in (squad_members, squad_shifts, squad_duty_windows):
        conn.execute(delete(table).where(table.c.squad_id == squad_id))
    conn.execute(delete(squads).where(squads.c.id == squad_id))


def set_roster(conn: Connection, squad_id: str, roster: Roster, *, actor: str = "system",
               at_ms: int | None = None) -> None:
    """Replace the squad's shifts and duty windows (and its time zone)."""
    audit.roster_replaced(conn, squad_id, roster, actor=actor, at_ms=at_ms)
    for table in (squad_shifts, squad_duty_windows):
        conn.execute(delete(table).where(table.c.squad_id == squad_id))
    if roster.shifts:
        conn.execute(insert(squad_shifts), [
            {"squad_id": squad_id, "start_hhmm": s.start, "end_hhmm": s.end,
             "weekdays": "".join(str(d) for d in s.weekdays)} for s in roster.shifts])
    windows = [("extra", w) for w in roster.extra] + [("off", w) for w in roster.off]
    if windows:
        conn.execute(insert(squad_duty_windows), [
            {"squad_id": squad_id, "kind": kind, "start_ms": w.start_ms, "end_ms": w.end_ms}
            for kind, w in windows])
    conn.execute(update(squads).where(squads.c.id == squad_id).values(tz=roster.tz))


def load_squads(conn: Connection, squad_ids: Iterable[str] | None = None) -> list[SquadRecord]:
    """Squads (all, or these) with members (police first), roster and phones, by id."""
    query = select(squads).order_by(squads.c.id)
    wanted = None if squad_ids is None else list(squad_ids)
    if wanted is not None:
        query = query.where(squads.c.id.in_(wanted))
    rows = conn.execute(query).fetchall()
    if not rows:
        return []
    ids = [r.id for r in rows]
    members: dict[str, list[Person]] = {i: [] for i in ids}
    member_units: dict[str, list[str]] = {i: [] for i in ids}
    for r in conn.execute(select(squad_members.c.squad_id, personnel)
                          .join(personnel, personnel.c.id == squad_members.c.person_id)
                          .where(squad_members.c.squad_id.in_(ids))).fetchall():
        members[r.squad_id].append(_person(r))
        if r.unit_id:
            member_units[r.squad_id].append(r.unit_id)
    for r in conn.execute(select(units.c.unit_id, units.c.squad_id).where(units.c.squad_id.in_(ids))):
        member_units[r.squad_id].append(r.unit_id)
    shifts: dict[str, list[Shift]] = {i: [] for i in ids}
    for r in conn.execute(select(squad_shifts).where(squad_shifts.c.squad_id.in_(ids))
                          .order_by(squad_shifts.c.id)):
        shifts[r.squad_id].append(Shift(start=r.start_hhmm, end=r.end_hhmm,
                                        weekdays=tuple(int(d) for d in r.weekdays)))
    windows: dict[tuple[str, str], list[DutyWindow]] = {}
    for r in conn.execute(select(squad_duty_windows).where(squad_duty_windows.c.squad_id.in_(ids))
                          .order_by(squad_duty_windows.c.start_ms)):
        windows.setdefault((r.squad_id, r.kind), []).append(DutyWindow(start_ms=r.start_ms, end_ms=r.end_ms))
    return [
        SquadRecord(
            id=r.id, name=r.name, tz=r.tz,
            members=tuple(sorted(members[r.id], key=lambda p: (p.role is not Role.police, p.id))),
            roster=Roster(squad_id=r.id, shifts=tuple(shifts[r.id]),
                          extra=tuple(windows.get((r.id, "extra"), ())),
                          off=tuple(windows.get((r.id, "off"), ())), tz=r.tz),
            unit_ids=tuple(dict.fromkeys(member_units[r.id])), created_ms=r.created_ms)
        for r in rows
    ]


class SquadMemory:
    """The squads as ``load_squads`` last read them, with the ``squad_generation`` count they were read
    at. Triggers move the count whenever a squad, member, person, roster or a unit's squad changes
    (migration 0012), so one indexed read tells whether the memory still holds: a pipeline run and a
    live alert view need not read five tables each time. The count is read before the squads, so a
    change committed in between only costs a reload next time."""

    def __init__(self) -> None:
        self._held: tuple[int, tuple[SquadRecord, ...]] | None = None
        self._lock = threading.Lock()

    def squads(self, conn: Connection, squad_ids: Iterable[str] | None = None) -> list[SquadRecord]:
        """Squads (all, or these) as ``load_squads`` would read them now."""
        generation = conn.execute(select(squad_generation.c.n).where(squad_generation.c.id == 1)).scalar()
        with self._lock:
            held = self._held
        if held is None or generation is None or held[0] != generation:
            records = tuple(load_squads(conn))
            if generation is not None:
                with self._lock:
                    self._held = (int(generation), records)
        else:
            records = held[1]
        if squad_ids is None:
            return list(records)
        wanted = set(squad_ids)
        return [r for r in records if r.id in wanted]


_MEMORY_ATTR = "_squad_memory"


def squad_memory(owner: object) -> SquadMemory:
    """The squad memory kept on ``owner`` (the runtime: one per process and database)."""
    memory = getattr(owner, _MEMORY_ATTR, None)
    if memory is None:
        memory = SquadMemory()
        setattr(owner, _MEMORY_ATTR, memory)
    return memory


# -------------------------------------------------------------------------------------- positions


def last_fixes(conn: Connection, unit_ids: Iterable[str], *, until_ms: int | None = None
               ) -> dict[str, LonLatFix]:
    """The newest non-outlier fix of each unit (at or before ``until_ms``), in one query."""
    return fixes_repo.latest_fixes(conn, list(unit_ids), until_ms=until_ms)


def squad_position(record: SquadRecord,
                   fixes_by_unit: Mapping[str, LonLatFix]) -> tuple[str, LonLatFix] | None:
    """The squad's freshest fix among its phones, with the unit that sent it."""
    found = [(u, fixes_by_unit[u]) for u in record.unit_ids if u in fixes_by_unit]
    return max(found, key=lambda item: item[1][0], default=None)


def squad_statuses(records: Sequence[SquadRecord], open_alerts: Sequence[Alert],
                   fixes_by_unit: Mapping[str, LonLatFix], metric_crs: str, now_ms: int) -> list[SquadStatus]:
    """What assignment needs of every squad now (positions projected to the metric CRS)."""
    positions = {r.id: squad_position(r, fixes_by_unit) for r in records}
    located = [(sid, p[1]) for sid, p in positions.items() if p is not None]
    metric: dict[str, tuple[int, float, float]] = {}
    if located:
        lon = np.array([f[1] for _, f in located])
        lat = np.array([f[2] for _, f in located])
        x, y = to_metric(lon, lat, metric_crs)
        metric = {sid: (f[0], float(xi), float(yi)) for (sid, f), xi, yi in zip(located, x, y, strict=True)}
    by_squad: dict[str, list[Alert]] = {}
    for alert in open_alerts:  # each squad looks only at its own alerts (not every squad at all of them)
        if alert.squad_id is not None:
            by_squad.setdefault(alert.squad_id, []).append(alert)
    return [squad_status(r.squad, r.roster, by_squad.get(r.id, []), [metric[r.id]] if r.id in metric else [],
                         now_ms) for r in records]
