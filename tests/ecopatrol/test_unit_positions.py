"""Where units are, as the alert pipeline reads it: each unit's newest usable fix in one query
(``fixes_repo.latest_fixes``), and the tracks the unit rules read (only units a rule can look at)."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

from alerts.squads import Roster, Shift
from ecopatrol.alerting import facts, people, service
from ecopatrol.runtime import Runtime
from ecopatrol.store import fixes_repo, units_repo
from tests.ecopatrol.helpers_alerting import MIN_MS, NIGHT_MS, load_alerting_county
from tests.ecopatrol.helpers_reports import IN_FOREST, NEAR_RIVER


def _store(runtime: Runtime, rows: list[tuple[str, int, float, float, bool]]) -> None:
    frame = pd.DataFrame({
        "unit_id": [r[0] for r in rows], "time_ms": [r[1] for r in rows], "lon": [r[2] for r in rows],
        "lat": [r[3] for r in rows], "accuracy_m": 5.0, "speed_mps": 0.0, "bearing_deg": float("nan"),
        "altitude_m": float("nan"), "battery_pct": float("nan"), "source": "test", "mode": "foot",
        "outlier": [r[4] for r in rows], "reach_id": None, "cell_id": None, "township": None,
        "received_ms": 0})
    with runtime.store.write() as conn:
        fixes_repo.insert_fixes(conn, frame)


def _naive(rows: list[tuple[str, int, float, float, bool]], units: list[str],
           until_ms: int | None) -> dict[str, tuple[int, float, float]]:
    out: dict[str, tuple[int, float, float]] = {}
    for unit, t, lon, lat, outlier in sorted(rows, key=lambda r: r[1]):
        if unit in units and not outlier and (until_ms is None or t <= until_ms):
            out[unit] = (t, lon, lat)
    return out


def test_latest_fixes_skip_outliers_and_later_fixes_and_match_a_plain_scan(runtime: Runtime) -> None:
    rng = random.Random(3)
    rows = [(f"u{u}", 1_000_000 + 1000 * k, 120.7 + rng.random() / 100, 28.8 + rng.random() / 100,
             rng.random() < 0.3) for u in range(40) for k in range(rng.randint(0, 30))]
    rows += [("all-outliers", 5_000, 120.7, 28.8, True), ("last-is-outlier", 1, 120.71, 28.81, False),
             ("last-is-outlier", 2, 120.72, 28.82, True)]
    _store(runtime, rows)
    # some unknown, one twice
    units = [f"u{u}" for u in range(45)] + ["all-outliers", "last-is-outlier", "u3"]
    with runtime.store.read() as conn:
        for until in (None, 1_000_000 + 12_500, 0):
            got = fixes_repo.latest_fixes(conn, units, until_ms=until)
            assert got == _naive(rows, units, until)
        assert fixes_repo.latest_fixes(conn, []) == {}
        assert people.last_fixes(conn, ["last-is-outlier"]) == {"last-is-outlier": (1, 120.71, 28.81)}


def test_unit_rules_read_tracks_only_of_units_they_can_look_at(runtime: Runtime, tmp_path: Path) -> None:
    runtime.clock.now = NIGHT_MS  # type: ignore[attr-defined]
    load_alerting_county(runtime, tmp_path / "layers")
    now = runtime.now_ms()
    with runtime.store.write() as conn:
        people.insert_squad(conn, squad_id="sq", name="测试", tz="Asia/Shanghai", now_ms=now)
        people.set_roster(conn, "sq", Roster(squad_id="sq", shifts=(Shift(start="00:00", end="00:00"),),
                                             tz="Asia/Shanghai"))
        for unit_id, mode in (("forest-foot", "foot"), ("river-foot", "foot"), ("forest-boat", "boat")):
            units_repo.upsert_unit(conn, unit_id, mode=mode, now_ms=now)
            units_repo.set_unit_squad(conn, unit_id, "sq")
    spots = {"forest-foot": IN_FOREST, "river-foot": NEAR_RIVER, "forest-boat": IN_FOREST}
    _store(runtime, [(u, now - k * MIN_MS, lon, lat, False)
                     for u, (lon, lat) in spots.items() for k in range(5)])
    with runtime.store.read() as conn:
        squads = people.load_squads(conn)
        index = runtime.layer_index()
        crs = runtime.settings.deployment.metric_crs
        every = {u.unit_id: u for u in facts.unit_facts(conn, squads, index, crs, now, 3_600_000)}
        some = {u.unit_id: u for u in facts.unit_facts(conn, squads, index, crs, now, 3_600_000,
                                                       track_modes={"foot"}, track_remote_only=True)}
    assert every["forest-foot"].remote and not every["river-foot"].remote
    assert all(len(u.track) == 5 for u in every.values())
    assert len(some["forest-foot"].track) == 5 and some["forest-foot"].track == every["forest-foot"].track
    assert some["river-foot"].track == () and some["forest-boat"].track == ()  # not remote; not foot
    # the shipped rules ask for what their immobile rule reads
    needs = facts.FactNeeds.of(service.alerting_config(runtime).scheduled_rules)
    immobile = [r for r in service.alerting_config(runtime).scheduled_rules if r.kind == "immobile_unit"]
    assert needs.track_modes == {str(m) for r in immobile for m in r.config.modes}  # type: ignore[attr-defined]
    assert needs.track_remote_only == all(r.config.remote_only for r in immobile)  # type: ignore[attr-defined]
