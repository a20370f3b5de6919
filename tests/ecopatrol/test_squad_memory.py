"""The squads kept in memory (``people.SquadMemory``) are what ``load_squads`` reads, after every kind
of change: through the app's own writes, another process's, and plain SQL (the triggers of migration
0012 move the counter); and the memory is used while nothing changed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection

from alerts.squads import DutyWindow, Roster, Shift
from ecopatrol.alerting import people
from ecopatrol.store import units_repo
from ecopatrol.store.engine import Store

NOW = 1_790_000_000_000


def _person(conn: Connection, person_id: str, role: str = "auxiliary", unit_id: str | None = None) -> None:
    people.insert_person(conn, person_id=person_id, name=person_id.upper(), role=role, phone="",
                         status="active", unit_id=unit_id, now_ms=NOW)


def _seed(conn: Connection) -> None:
    for unit in ("u1", "u2", "u3"):
        units_repo.upsert_unit(conn, unit, mode="foot", now_ms=NOW)
    _person(conn, "p1", "police", "u1")
    _person(conn, "p2")
    _person(conn, "p3")
    _person(conn, "p4")
    people.insert_squad(conn, squad_id="s1", name="一组", tz="Asia/Shanghai", now_ms=NOW)
    people.set_members(conn, "s1", ["p1", "p2", "p3"])


CHANGES: dict[str, Callable[[Connection], None]] = {
    "a new squad": lambda c: people.insert_squad(c, squad_id="s2", name="二组", tz="UTC", now_ms=NOW),
    "members replaced": lambda c: people.set_members(c, "s1", ["p1", "p2", "p4"]),
    "a member's phone": lambda c: people.update_person(c, "p2", {"unit_id": "u3"}, NOW + 1),
    "a member's role": lambda c: people.update_person(c, "p2", {"role": "police"}, NOW + 1),
    "the roster": lambda c: people.set_roster(c, "s1", Roster(
        squad_id="s1", shifts=(Shift(start="08:00", end="20:00"),),
        off=(DutyWindow(start_ms=NOW, end_ms=NOW + 3_600_000),))),
    "a unit's squad": lambda c: units_repo.set_unit_squad(c, "u2", "s1"),
    "the squad's units": lambda c: people.set_units(c, "s1", ["u2", "u3"]),
    "the squad renamed by hand": lambda c: c.execute(sa.text("UPDATE squads SET name = 'x' WHERE id='s1'")),
    "a person renamed by hand": lambda c: c.execute(sa.text("UPDATE personnel SET name = 'y' WHERE id='p1'")),
    "the squad deleted": lambda c: people.delete_squad(c, "s1"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_the_memory_follows_every_change(store: Store, change: str) -> None:
    with store.write() as conn:
        _seed(conn)
    memory = people.SquadMemory()
    with store.read() as conn:
        before = memory.squads(conn)
    with store.read() as conn:
        assert before == people.load_squads(conn)
    with store.write() as conn:  # as another process would: this memory is not told
        CHANGES[change](conn)
    with store.read() as conn:
        after = memory.squads(conn)
        fresh = people.load_squads(conn)
    assert after == fresh
    assert after != before  # the change is one load_squads sees (else this case tests nothing)


def test_the_memory_is_used_while_nothing_changed(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    with store.write() as conn:
        _seed(conn)
        units_repo.upsert_unit(conn, "u9", mode="vehicle", now_ms=NOW)  # a unit of no squad: no change
    loads: list[int] = []
    real = people.load_squads
    monkeypatch.setattr(people, "load_squads", lambda conn, ids=None: loads.append(1) or real(conn, ids))
    memory = people.SquadMemory()
    with store.read() as conn:
        first = memory.squads(conn)
    with store.write() as conn:
        units_repo.upsert_unit(conn, "u9", mode="foot", name="renamed", now_ms=NOW)
    with store.read() as conn:
        again = memory.squads(conn)
        only_s1 = memory.squads(conn, ["s1", "nope"])
    assert len(loads) == 1
    assert again == first and [s.id for s in only_s1] == ["s1"]


def test_an_emptied_counter_never_matches_an_old_memory(store: Store) -> None:
    with store.write() as conn:
        _seed(conn)
    memory = people.SquadMemory()
    with store.read() as conn:
        held = memory.squads(conn)
    with store.write() as conn:
        conn.execute(sa.text("DELETE FROM squad_generation"))
        people.set_members(conn, "s1", ["p1", "p4"])  # the trigger brings the row back, at a random count
    with store.read() as conn:
        assert memory.squads(conn) == people.load_squads(conn) != held
