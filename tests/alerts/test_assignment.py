import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.assignment import assign_alert, choose_squad
from alerts.model import Alert, AlertState, Evidence, Severity
from alerts.reasons import AssignReason
from alerts.squads import SquadState
from tests.alerts.helpers import NIGHT, squad

HERE = (0.0, 0.0)


@pytest.mark.parametrize("squads, expected, reason", [
    ([squad("s1", 1000, 0), squad("s2", 3000, 0)], "s1", AssignReason.nearest_available),
    ([squad("s2", 3000, 0), squad("s1", 1000, 0)], "s1", AssignReason.nearest_available),
    # s1 and s2 within 100 m of each other: s2 has fewer open alerts
    ([squad("s1", 1000, 0, load=2), squad("s2", 1080, 0, load=1)], "s2",
     AssignReason.tie_least_busy),
    # equally busy: lowest id
    ([squad("s2", 1000, 0), squad("s1", 1050, 0)], "s1", AssignReason.tie_lowest_id),
    # 101 m further is not a tie: nearest wins despite its load
    ([squad("s1", 1000, 0, load=5), squad("s2", 1101, 0)], "s1",
     AssignReason.nearest_available),
    ([squad("s1", 10, 0, state=SquadState.busy), squad("s2", 5000, 0)], "s2",
     AssignReason.nearest_available),
    ([squad("s1", 10, 0, state=SquadState.off_duty)], None, AssignReason.none_available),
    ([], None, AssignReason.none_available),
    ([squad("s1", None, None, load=1), squad("s2", None, None)], "s2",
     AssignReason.no_position_known),
    # a located squad beats unlocated ones
    ([squad("s1", None, None), squad("s2", 9000, 0, load=3)], "s2",
     AssignReason.nearest_available),
])
def test_choose_squad(squads: list, expected: str | None, reason: AssignReason) -> None:
    decision = choose_squad(HERE, squads)
    assert (decision.squad_id, decision.reason) == (expected, reason)


def test_distance_and_considered_are_reported() -> None:
    d = choose_squad(HERE, [squad("s1", 300, 400), squad("s2", 0, 9000)])
    assert d.distance_m == 500.0 and d.considered == 2


def test_no_location_picks_least_busy() -> None:
    d = choose_squad(None, [squad("s1", 0, 0, load=1), squad("s2", 9, 9)])
    assert (d.squad_id, d.reason) == ("s2", AssignReason.no_location)


def test_batch_load_breaks_ties() -> None:
    squads = [squad("s1", 1000, 0), squad("s2", 1010, 0)]
    assert choose_squad(HERE, squads, extra_load={"s1": 1}).squad_id == "s2"


def test_declined_and_subject_squads_are_excluded() -> None:
    alert = Alert("a1", "fp", "silent", "silent_unit", Severity.critical, {},
                  Evidence(squad_ids=("s1",)), AlertState.open, NIGHT, NIGHT, NIGHT,
                  x_m=0.0, y_m=0.0, declined_squads=("s2",))
    squads = [squad("s1", 10, 0), squad("s2", 20, 0), squad("s3", 5000, 0)]
    assert assign_alert(alert, squads).squad_id == "s3"
    only_excluded = assign_alert(alert, squads[:2])
    assert (only_excluded.squad_id, only_excluded.reason) == (None, AssignReason.none_available)


coords = st.floats(-20_000, 20_000, allow_nan=False)


@given(st.lists(st.tuples(coords, coords, st.integers(0, 3)), min_size=1, max_size=12),
       coords, coords)
def test_chosen_squad_is_within_the_tie_distance_of_the_nearest(squads_: list, x: float,
                                                                 y: float) -> None:
    squads = [squad(f"s{i}", sx, sy, load) for i, (sx, sy, load) in enumerate(squads_)]
    d = choose_squad((x, y), squads, tie_m=100.0)
    nearest = min(((s.x_m - x) ** 2 + (s.y_m - y) ** 2) ** 0.5 for s in squads)
    chosen = next(s for s in squads if s.squad_id == d.squad_id)
    dist = ((chosen.x_m - x) ** 2 + (chosen.y_m - y) ** 2) ** 0.5
    assert dist <= nearest + 100.0 + 1e-6
    rivals = [s for s in squads
              if ((s.x_m - x) ** 2 + (s.y_m - y) ** 2) ** 0.5 <= nearest + 100.0 - 1e-6]
    assert chosen.load <= min(s.load for s in rivals)


def test_squad_status_is_plain() -> None:
    s = squad("s1", 1, 2)
    assert s.to_dict()["state"] == "available"
    assert dataclasses.replace(s, load=3).load == 3
