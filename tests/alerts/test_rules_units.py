import pytest

from alerts.model import Severity
from alerts.rules import RuleFacts, parse_rules
from alerts.rules.immobile_unit import stationary_since
from tests.alerts.helpers import MIN, NIGHT, unit

SILENT = {"kind": "silent_unit", "name": "silent-foot", "silent_min": 30}
IMMOBILE = {"kind": "immobile_unit", "name": "immobile", "radius_m": 50, "immobile_min": 45}


def _eval(table: dict, units: list, now_ms: int = NIGHT, **change: object) -> list:
    (rule,) = parse_rules([{**table, **change}])
    return rule.evaluate(RuleFacts(units=units), now_ms)


# ------------------------------------------------------------------------------- silent_unit


def test_a_silent_foot_patrol_fires_critical() -> None:
    u = unit("phone-7", last_fix_ms=NIGHT - 31 * MIN, last_x_m=10, last_y_m=20,
             squad_id="sq-2")
    (c,) = _eval(SILENT, [u])
    assert c.severity is Severity.critical
    assert c.fingerprint == "silent-foot/unit/phone-7"
    assert c.evidence.unit_ids == ("phone-7",) and c.evidence.squad_ids == ("sq-2",)
    assert c.starts_ms == NIGHT - 31 * MIN + 30 * MIN
    assert (c.x_m, c.y_m) == (10, 20)
    assert "31 分钟" in c.summary_zh


@pytest.mark.parametrize("kw, fires", [
    ({"last_fix_ms": NIGHT - 29 * MIN}, False),
    ({"last_fix_ms": NIGHT - 30 * MIN}, True),
    ({"last_fix_ms": NIGHT - 60 * MIN, "on_duty": False}, False),
    ({"last_fix_ms": NIGHT - 60 * MIN, "mode": "vehicle"}, False),
    ({"last_fix_ms": None}, False),  # never sent anything, duty start unknown
    ({"last_fix_ms": None, "on_duty_since_ms": NIGHT - 40 * MIN}, True),
    # yesterday's last fix does not count once the unit came on duty 10 minutes ago
    ({"last_fix_ms": NIGHT - 20 * 60 * MIN, "on_duty_since_ms": NIGHT - 10 * MIN}, False),
])
def test_silent_unit_table(kw: dict, fires: bool) -> None:
    mode = kw.pop("mode", "foot")
    assert bool(_eval(SILENT, [unit("u", mode, **kw)])) is fires


def test_silent_modes_are_configurable() -> None:
    u = unit("truck", "vehicle", last_fix_ms=NIGHT - 60 * MIN)
    assert len(_eval(SILENT, [u], modes=["foot", "vehicle"])) == 1


# ----------------------------------------------------------------------------- immobile_unit


def _track(points: list[tuple[int, float, float]]) -> tuple:
    return tuple((NIGHT - m * MIN, x, y) for m, x, y in points)


MOVED_THEN_STILL = _track([(120, 0, 0), (90, 500, 0), (60, 1000, 0), (50, 1010, 5),
                           (20, 1000, 10), (1, 1005, 0)])


def test_immobile_in_a_remote_area_fires() -> None:
    (c,) = _eval(IMMOBILE, [unit("u1", track=MOVED_THEN_STILL, remote=True)])
    assert c.severity is Severity.high
    assert c.starts_ms == NIGHT - 60 * MIN + 45 * MIN
    assert (c.x_m, c.y_m) == (1005, 0)


@pytest.mark.parametrize("kw, fires", [
    ({"remote": False}, False),
    ({"remote": True, "on_duty": False}, False),
    ({"remote": True, "track": _track([(30, 0, 0), (1, 0, 0)])}, False),  # only 30 min
    ({"remote": True, "track": _track([(50, 0, 0), (1, 0, 0)])}, True),
    ({"remote": True, "track": _track([(50, 0, 0)])}, False),  # one fix: silent, not immobile
    ({"remote": True, "track": _track([(120, 0, 0), (60, 0, 100), (1, 0, 0)])}, False),
])
def test_immobile_table(kw: dict, fires: bool) -> None:
    kw.setdefault("track", MOVED_THEN_STILL)
    assert bool(_eval(IMMOBILE, [unit("u1", **kw)])) is fires


def test_remote_only_can_be_turned_off() -> None:
    assert len(_eval(IMMOBILE, [unit("u1", track=MOVED_THEN_STILL)], remote_only=False)) == 1


def test_stationary_since_ignores_future_fixes_and_order() -> None:
    u = unit("u", track=((NIGHT + 5 * MIN, 9999, 0), *reversed(MOVED_THEN_STILL)))
    assert stationary_since(u, 50, NIGHT) == NIGHT - 60 * MIN
