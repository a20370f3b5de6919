"""When a squad's duty began, as the silent-unit rule sees it (``facts.duty_since_ms``)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from alerts.squads import DutyWindow, Roster, Shift
from ecopatrol.alerting.facts import DUTY_LOOKBACK_MS, DUTY_STEP_MS, duty_since_ms

CST = timezone(timedelta(hours=8))
MIN = 60_000


def at(hh: int, mm: int, ss: int = 0) -> int:
    return int(datetime(2026, 11, 23, hh, mm, ss, tzinfo=CST).timestamp() * 1000)


def day_shift(start: str = "08:00", end: str = "20:00") -> Roster:
    return Roster(squad_id="sq1", shifts=(Shift(start=start, end=end),), tz="+08:00")


@pytest.mark.parametrize(("now", "expected"), [
    (at(10, 2, 30), at(8, 0)),      # two hours into the shift: its start, to the 5-minute grid
    (at(8, 0), at(8, 0)),           # the first instant
    (at(19, 59, 59), at(8, 0)),     # the last
    (at(20, 0), None),              # off duty
    (at(7, 59), None),
])
def test_duty_began_at_the_shift_start(now: int, expected: int | None) -> None:
    assert duty_since_ms(day_shift(), now) == expected


def test_a_shift_starting_between_grid_points_begins_no_earlier_than_now() -> None:
    roster = day_shift(start="08:02")
    assert duty_since_ms(roster, at(8, 3)) == at(8, 3)
    assert at(8, 0) <= duty_since_ms(roster, at(9, 30)) <= at(8, 5)  # type: ignore[operator]


def test_round_the_clock_duty_reaches_back_the_whole_lookback() -> None:
    roster = day_shift("00:00", "00:00")
    now = at(10, 2)
    since = duty_since_ms(roster, now)
    back = now - DUTY_LOOKBACK_MS
    assert since is not None and back - DUTY_STEP_MS < since <= back + DUTY_STEP_MS


def test_a_changed_roster_is_not_answered_from_the_old_one() -> None:
    now = at(12, 0)
    assert duty_since_ms(day_shift(), now) == at(8, 0)
    leave = Roster(squad_id="sq1", shifts=day_shift().shifts, tz="+08:00",
                   off=(DutyWindow(start_ms=at(9, 0), end_ms=at(10, 0)),))
    assert duty_since_ms(leave, now) == at(10, 0)  # back from leave at 10:00
    assert duty_since_ms(day_shift(), now + 10 * MIN) == at(8, 0)
