"""Demo squads for the demo county: CLEARLY SYNTHETIC people (names marked 演示, fake numbers), five
squads of 1 police officer + 2 auxiliary officers with round-the-clock rosters, and a squad token each.

Rosters: two day squads (08:00–20:00), two night squads (20:00–08:00) and a reserve on duty all day,
so at every hour at least three squads are on duty. The demo vehicles V01…V05 (when registered)
travel with squads 1…5 and give their positions. Seeding is idempotent (fixed ids); tokens are new.
"""

from __future__ import annotations

from sqlalchemy import select

from alerts.squads import Roster, Shift, validate_squad_ids
from ecopatrol.alerting import people
from ecopatrol.runtime import Runtime
from ecopatrol.store.alerts_schema import personnel, squads
from ecopatrol.store.tokens_repo import create_token

#: (police, auxiliary, auxiliary) per squad — invented names.
DEMO_CREW = (
    ("张建国", "李志强", "王海燕"),
    ("陈卫东", "刘晓峰", "赵丽萍"),
    ("杨立新", "黄志明", "周秀英"),
    ("吴国强", "徐春华", "孙桂兰"),
    ("马振华", "朱文斌", "胡美玲"),
)
DEMO_SQUAD_NAMES = ("一组", "二组", "三组", "四组", "机动组")
#: (start, end) of each squad's daily shift, local time; equal times: all day.
DEMO_SHIFTS = (("08:00", "20:00"), ("08:00", "20:00"), ("20:00", "08:00"), ("20:00", "08:00"),
               ("00:00", "00:00"))
DEMO_VEHICLES = ("V01", "V02", "V03", "V04", "V05")


def demo_squad_id(i: int) -> str:
    return f"demo-sq{i + 1}"


def seed_demo_squads(runtime: Runtime) -> dict[str, str]:
    """Create (or refresh) the demo personnel and squads; return a new squad token per squad id."""
    now = runtime.now_ms()
    tz = runtime.settings.deployment.timezone
    tokens: dict[str, str] = {}
    with runtime.store.write() as conn:
        existing_people = set(conn.execute(select(personnel.c.id)).scalars())
        existing_squads = set(conn.execute(select(squads.c.id)).scalars())
        vehicles = people.known_units(conn, DEMO_VEHICLES)
        for i, crew in enumerate(DEMO_CREW):
            squad_id = demo_squad_id(i)
            member_ids = []
            for k, name in enumerate(crew):
                person_id = f"demo-p{i + 1}{'pab'[k]}"
                values = {"name": f"{name}（演示）", "role": "police" if k == 0 else "auxiliary",
                          "phone": f"000-0000-{i + 1:02d}{k + 1:02d}", "status": "active", "unit_id": None}
                if person_id in existing_people:
                    people.update_person(conn, person_id, values, now)
                else:
                    people.insert_person(conn, person_id=person_id, now_ms=now, **values)  # type: ignore[arg-type]
                member_ids.append(person_id)
            name = f"演示巡护{DEMO_SQUAD_NAMES[i]}"
            if squad_id in existing_squads:
                people.update_squad(conn, squad_id, {"name": name}, now)
            else:
                people.insert_squad(conn, squad_id=squad_id, name=name, tz=tz, now_ms=now)
            problems = validate_squad_ids(member_ids, people.people_by_id(conn, member_ids),
                                          people.memberships(conn), squad_id)
            if problems:
                raise ValueError(f"demo squad {squad_id}: {'; '.join(problems)}")
            people.set_members(conn, squad_id, member_ids)
            start, end = DEMO_SHIFTS[i]
            people.set_roster(conn, squad_id, Roster(squad_id=squad_id, shifts=(Shift(start=start, end=end),),
                                                     tz=tz))
            vehicle = DEMO_VEHICLES[i]
            people.set_units(conn, squad_id, [vehicle] if vehicle in vehicles else [])
            tokens[squad_id] = create_token(conn, role="squad", name=f"{name} 手机（演示）",
                                            squad_id=squad_id, now_ms=now)
    return tokens


__all__ = ["seed_demo_squads"]
