import pytest
from pydantic import ValidationError

from alerts.model import Alert, AlertState, Evidence, Severity
from alerts.squads import (
    DutyWindow,
    Person,
    PersonStatus,
    Role,
    Roster,
    Shift,
    Squad,
    SquadState,
    last_known_position,
    on_duty,
    squad_state,
    squad_status,
    validate_squad,
    validate_squad_ids,
)
from tests.alerts.helpers import HOUR, NIGHT, local_ms

ZHANG = Person("p1", "张三", Role.police, "13800000001")
LI = Person("p2", "李四", Role.police, "13800000002")
WANG = Person("p3", "王五", Role.auxiliary)
ZHAO = Person("p4", "赵六", Role.auxiliary)
QIAN = Person("p5", "钱七", Role.auxiliary)


@pytest.mark.parametrize("members, memberships, problems", [
    ([ZHANG, WANG, ZHAO], {}, []),
    ([ZHANG, LI, WANG], {}, [
        "a squad needs exactly 1 police officer, got 2: 张三, 李四",
        "a squad needs exactly 2 auxiliary officers, got 1: 王五",
    ]),
    ([WANG, ZHAO, QIAN], {}, [
        "a squad needs exactly 1 police officer, got 0",
        "a squad needs exactly 2 auxiliary officers, got 3: 王五, 赵六, 钱七",
    ]),
    ([ZHANG, WANG, WANG], {}, [
        "王五 (p3) is listed 2 times",
        "a squad needs exactly 2 auxiliary officers, got 1: 王五",
    ]),
    ([ZHANG, WANG, ZHAO], {"p3": "sq-9"}, ["王五 (p3) is already in squad sq-9"]),
    ([ZHANG, WANG, Person("p4", "赵六", Role.auxiliary, status=PersonStatus.on_leave)], {},
     ["赵六 (p4) is not active (on_leave)"]),
    ([], {}, ["a squad needs exactly 1 police officer, got 0",
              "a squad needs exactly 2 auxiliary officers, got 0"]),
])
def test_validate_squad(members: list, memberships: dict, problems: list) -> None:
    assert validate_squad(members, memberships) == problems


def test_editing_a_squad_keeps_its_own_members() -> None:
    memberships = {"p1": "sq-1", "p3": "sq-1", "p4": "sq-1"}
    assert validate_squad([ZHANG, WANG, ZHAO], memberships, squad_id="sq-1") == []
    assert validate_squad([ZHANG, WANG, ZHAO], memberships, squad_id="sq-2") != []


def test_validate_squad_ids_reports_unknown_people() -> None:
    people = {p.id: p for p in (ZHANG, WANG)}
    assert validate_squad_ids(["p1", "p3", "p404"], people) == [
        "unknown person id 'p404'",
        "a squad needs exactly 2 auxiliary officers, got 1: 王五",
    ]


DAY_SHIFT = Shift(start="08:00", end="20:00")
NIGHT_SHIFT = Shift(start="20:00", end="08:00", weekdays=(4,))  # starts Fridays only


@pytest.mark.parametrize("shift, when, duty", [
    (DAY_SHIFT, local_ms(2026, 11, 20, 8, 0), True),
    (DAY_SHIFT, local_ms(2026, 11, 20, 19, 59), True),
    (DAY_SHIFT, local_ms(2026, 11, 20, 20, 0), False),
    (DAY_SHIFT, local_ms(2026, 11, 20, 3, 0), False),
    (NIGHT_SHIFT, local_ms(2026, 11, 20, 22, 40), True),  # Friday night
    (NIGHT_SHIFT, local_ms(2026, 11, 21, 7, 59), True),  # into Saturday morning
    (NIGHT_SHIFT, local_ms(2026, 11, 21, 8, 0), False),
    (NIGHT_SHIFT, local_ms(2026, 11, 21, 22, 0), False),  # Saturday night: not rostered
    (NIGHT_SHIFT, local_ms(2026, 11, 20, 3, 0), False),  # Friday early: Thursday's shift
])
def test_on_duty_with_overnight_shifts(shift: Shift, when: int, duty: bool) -> None:
    assert on_duty(Roster(squad_id="s", shifts=(shift,)), when) is duty


def test_extra_and_off_windows() -> None:
    window = DutyWindow(start_ms=NIGHT - HOUR, end_ms=NIGHT + HOUR)
    assert on_duty(Roster(squad_id="s", extra=(window,)), NIGHT)
    assert not on_duty(Roster(squad_id="s", shifts=(Shift(start="00:00", end="00:00"),),
                              off=(window,)), NIGHT)
    assert not on_duty(None, NIGHT)


def test_roster_validation() -> None:
    with pytest.raises(ValidationError, match="weekdays are 0"):
        Shift(start="08:00", end="20:00", weekdays=(7,))
    with pytest.raises(ValidationError, match="HH:MM"):
        Shift(start="8am", end="20:00")
    with pytest.raises(ValidationError, match="unknown time zone"):
        Roster(squad_id="s", tz="Nowhere/Land")


def _alert(squad_id: str, state: AlertState) -> Alert:
    return Alert(f"a-{state}", "fp", "r", "report", Severity.high, {}, Evidence(), state,
                 NIGHT, NIGHT, NIGHT, squad_id=squad_id)


@pytest.mark.parametrize("alerts, roster, state", [
    ([], Roster(squad_id="s1", shifts=(Shift(start="00:00", end="00:00"),)),
     SquadState.available),
    ([_alert("s1", AlertState.acknowledged)],
     Roster(squad_id="s1", shifts=(Shift(start="00:00", end="00:00"),)), SquadState.available),
    ([_alert("s1", AlertState.en_route)],
     Roster(squad_id="s1", shifts=(Shift(start="00:00", end="00:00"),)), SquadState.busy),
    ([_alert("s2", AlertState.on_scene)],
     Roster(squad_id="s1", shifts=(Shift(start="00:00", end="00:00"),)), SquadState.available),
    ([_alert("s1", AlertState.on_scene)], None, SquadState.off_duty),
])
def test_squad_state(alerts: list, roster: Roster | None, state: SquadState) -> None:
    assert squad_state(Squad("s1", "一组", ("p1", "p3", "p4")), roster, alerts, NIGHT) is state


def test_squad_status_uses_the_freshest_member_fix() -> None:
    fixes = [(NIGHT - 10, 1.0, 1.0), (NIGHT - 5, 2.0, 2.0), (NIGHT - 20, 3.0, 3.0)]
    assert last_known_position(fixes) == (NIGHT - 5, 2.0, 2.0)
    assert last_known_position([]) is None
    status = squad_status(Squad("s1", "一组", ()), Roster(squad_id="s1", extra=(
        DutyWindow(start_ms=NIGHT - 1, end_ms=NIGHT + 1),)),
        [_alert("s1", AlertState.open), _alert("s1", AlertState.acknowledged)], fixes, NIGHT)
    assert (status.x_m, status.y_m, status.position_ms, status.load) == (2.0, 2.0, NIGHT - 5, 2)
    assert status.state is SquadState.available
