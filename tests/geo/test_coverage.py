"""geo.coverage: segments, sweeping, incremental merge, summaries and gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.coverage import (
    CONTRIBUTION_COLUMNS,
    Segments,
    build_segments,
    coverage_gaps,
    coverage_summary,
    last_visits,
    local_day,
    merge_contributions,
    sweep,
)
from geo.layers import Layers
from geo.placement import Placer
from geo.testing import (
    METRIC_CRS,
    assert_contributions_equal,
    assert_shares_in_unit_interval,
    demo_layers,
    origin_m,
    square_forest,
    straight_river,
    township_grid,
)

X0, Y0 = origin_m()
T0 = 1_763_000_000_000  # 2025-11-13T02:13:20Z
WIDTHS = {"vehicle": 100.0, "foot": 30.0, "boat": 50.0}


@pytest.fixture(scope="module")
def layers() -> Layers:
    return demo_layers()


@pytest.fixture(scope="module")
def placer(layers: Layers) -> Placer:
    return Placer(layers)


def _track(x: np.ndarray, y: np.ndarray, *, unit: str = "V1", mode: str = "vehicle",
           step_s: float = 10.0, t0: int = T0) -> dict[str, np.ndarray]:
    n = len(x)
    return {"x_m": np.asarray(x, float), "y_m": np.asarray(y, float),
            "time_ms": t0 + (np.arange(n) * step_s * 1000).astype(np.int64),
            "piece_id": np.zeros(n, np.int64), "unit_id": np.full(n, unit, object),
            "mode": np.full(n, mode, object), "usable": np.ones(n, bool)}


def _sweep(track: dict[str, np.ndarray], placer: Placer | Layers) -> pd.DataFrame:
    return sweep(build_segments(**track), placer, sweep_width_m=WIDTHS)


# ----------------------------------------------------------------------------------------------
# segments


def test_segments_skip_unusable_rows_and_stop_at_piece_ends() -> None:
    track = _track(np.arange(6) * 100.0, np.zeros(6))
    track["usable"] = np.array([True, True, False, True, True, True])
    track["piece_id"] = np.array([0, 0, 0, 0, 1, 1])
    seg = build_segments(**track)
    assert list(zip(seg.start, seg.end, strict=True)) == [(0, 1), (1, 3), (4, 5)]
    np.testing.assert_allclose(seg.length_m, [100.0, 200.0, 100.0])
    np.testing.assert_allclose(seg.duration_s, [10.0, 20.0, 10.0])


def test_segments_sorted_by_unit_piece_and_time_even_when_piece_ids_restart() -> None:
    a = _track(np.array([0.0, 10, 20]), np.zeros(3), unit="A")
    b = _track(np.array([0.0, 5]), np.ones(2), unit="B")
    rows = {k: np.r_[a[k], b[k]] for k in a}
    order = np.array([4, 2, 0, 3, 1])  # shuffled; both units use piece 0
    seg = build_segments(**{k: v[order] for k, v in rows.items()})
    pairs = {(int(order[s]), int(order[e])) for s, e in zip(seg.start, seg.end, strict=True)}
    assert pairs == {(0, 1), (1, 2), (3, 4)}
    assert set(seg.unit_id) == {"A", "B"}


def test_segments_take_and_empty() -> None:
    seg = build_segments(**_track(np.arange(5) * 10.0, np.zeros(5)))
    assert len(seg.take(np.array([0, 2]))) == 2
    assert len(Segments.empty()) == 0
    out = sweep(Segments.empty(), demo_layers(), sweep_width_m=WIDTHS)
    assert list(out.columns) == list(CONTRIBUTION_COLUMNS) and out.empty


# ----------------------------------------------------------------------------------------------
# sweeping reaches


def test_vehicle_fixes_150m_apart_cover_every_reach_they_pass() -> None:
    short = Layers.build(metric_crs=METRIC_CRS, rivers=straight_river(5_000), reach_length_m=100)
    x = X0 + 40.0 + np.arange(0, 4_900, 150.0)  # 40 m .. 4,840 m, 60 m north of the river
    y = np.full(len(x), Y0 + 60.0)
    out = _sweep(_track(x, y), Placer(short))
    path = shapely.LineString(np.c_[x, y])
    reaches = short.reaches
    passed = reaches.loc[reaches.distance(path) <= WIDTHS["vehicle"], "reach_id"]
    at_fixes = Placer(short).place(x, y, WIDTHS["vehicle"])["reach_id"]
    assert len(set(at_fixes)) < len(passed) - 10  # the fixes alone miss many reaches
    assert set(out["feature_id"]) == set(passed)
    assert len(passed) == 50  # 0..4,840 m plus the width reaches the last one (4,900..5,000 m)
    assert out["km"].sum() == pytest.approx((x[-1] - x[0]) / 1000)
    assert out["hours"].sum() == pytest.approx((len(x) - 1) * 10 / 3600)
    assert (out["passes"] == 1).all()


def test_segment_km_split_evenly_between_reaches(layers: Layers) -> None:
    out = _sweep(_track(np.array([X0 + 400.0, X0 + 600.0]), np.full(2, Y0 + 20.0)), layers)
    assert out["feature_id"].tolist() == ["永安溪-0000", "永安溪-0001"]
    np.testing.assert_allclose(out["km"], [0.1, 0.1])
    np.testing.assert_allclose(out["hours"], [5 / 3600, 5 / 3600])


def test_sweep_width_depends_on_mode(layers: Layers) -> None:
    x = np.array([X0 + 200.0, X0 + 300.0])
    y = np.full(2, Y0 + 40.0)
    assert _sweep(_track(x, y, mode="foot"), layers).query("kind == 'reach'").empty
    assert len(_sweep(_track(x, y, mode="boat"), layers).query("kind == 'reach'")) == 1
    exactly = _sweep(_track(x, np.full(2, Y0 + 30.0), mode="foot"), layers)
    assert exactly["feature_id"].tolist() == ["永安溪-0000"]


def test_passes_count_returns_and_long_gaps(layers: Layers) -> None:
    x = X0 + np.array([100.0, 200.0, 200.0, 200.0, 100.0, 150.0, 160.0, 170.0, 180.0, 190.0])
    y = Y0 + np.array([0.0, 0.0, 800.0, 800.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    seconds = np.array([0, 60, 120, 180, 240, 300, 300 + 31 * 60, 360 + 31 * 60,
                        660 + 31 * 60, 720 + 31 * 60])
    track = _track(x, y)
    track["time_ms"] = (T0 + seconds * 1000).astype(np.int64)
    track["piece_id"] = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2, 2])
    out = _sweep(track, layers)
    # on (0-1, 1-2), away (2-3), back (3-4, 4-5); a 31 min break (6-7); a 5 min break (8-9)
    assert out.query("feature_id == '永安溪-0000'")["passes"].sum() == 3


def test_local_day_uses_the_offset() -> None:
    utc_16h = int(np.datetime64("2025-11-13T16:00", "ms").astype(np.int64))  # 00:00 at +08
    days = local_day(np.array([utc_16h - 1, utc_16h]), 8)
    assert days.tolist() == [20251113, 20251114]
    assert local_day(np.array([0]), 0).tolist() == [19700101]


# ----------------------------------------------------------------------------------------------
# sweeping cells


def test_cell_km_is_the_length_inside_each_cell(layers: Layers) -> None:
    x = np.array([X0 - 300.0, X0 + 2_300.0])
    y = np.full(2, Y0 + 1_250.0)
    out = _sweep(_track(x, y, mode="foot", step_s=2_600), layers).query("kind == 'cell'")
    assert len(out) == 4
    np.testing.assert_allclose(out["km"], 0.5)
    np.testing.assert_allclose(out["hours"], 500 / 2600 * 2600 / 3600)


def test_cell_km_with_a_clipped_cell() -> None:
    forest = square_forest(800, x_m=100, y_m=1_000)
    layers = Layers.build(metric_crs=METRIC_CRS, forests=forest, cell_size_m=500)
    x = np.array([X0, X0 + 1_000.0])
    out = _sweep(_track(x, np.full(2, Y0 + 1_200.0), mode="foot"), layers)
    np.testing.assert_allclose(sorted(out["km"]), [0.4, 0.4])
    assert out["km"].sum() == pytest.approx(0.8)


def test_segment_along_a_shared_cell_edge_is_not_counted_twice(layers: Layers) -> None:
    x = np.array([X0 + 100.0, X0 + 400.0])
    out = _sweep(_track(x, np.full(2, Y0 + 1_500.0), mode="foot"), layers)
    assert out.query("kind == 'cell'")["km"].sum() == pytest.approx(0.3)


# ----------------------------------------------------------------------------------------------
# incremental merge


def test_merge_adds_and_keeps_extremes() -> None:
    row = {"kind": "reach", "feature_id": "R", "unit_id": "U", "mode": "foot", "day": 20250101}
    a = pd.DataFrame([{**row, "km": 1.0, "hours": 0.5, "first_ms": 10, "last_ms": 20,
                       "passes": 1}])
    b = pd.DataFrame([{**row, "km": 2.0, "hours": 1.0, "first_ms": 5, "last_ms": 15,
                       "passes": 2}])
    out = merge_contributions(a, b)
    assert out[["km", "hours", "first_ms", "last_ms", "passes"]].iloc[0].tolist() == \
        [3.0, 1.5, 5, 20, 3]
    assert merge_contributions(a.iloc[:0], a.iloc[:0]).empty


def _random_walk(seed: int, n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = X0 + 2_500 + np.cumsum(rng.normal(0, 120, n))
    y = Y0 + 500 + np.cumsum(rng.normal(0, 120, n))
    track = _track(x, y, unit="U", mode=str(rng.choice(list(WIDTHS))),
                   step_s=float(rng.integers(5, 3_000)))
    track["piece_id"] = np.cumsum(rng.random(n) < 0.05)
    track["usable"] = rng.random(n) > 0.1
    return track


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 120), cut=st.floats(0, 1))
def test_sweeping_two_halves_and_merging_equals_one_sweep(seed: int, n: int, cut: float) -> None:
    track = _random_walk(seed, n)
    segments = build_segments(**track)
    whole = sweep(segments, PLACER, sweep_width_m=WIDTHS)
    k = int(cut * len(segments))
    first = sweep(segments.take(slice(0, k)), PLACER, sweep_width_m=WIDTHS)
    second = sweep(segments.take(slice(k, None)), PLACER, sweep_width_m=WIDTHS)
    merged = merge_contributions(first, second)
    assert_contributions_equal(merged, whole, check_passes=False)
    assert (merged["passes"] >= whole["passes"]).all() if len(whole) else True
    again = sweep(segments, PLACER, sweep_width_m=WIDTHS)
    pd.testing.assert_frame_equal(again, whole)


LAYERS = demo_layers()
PLACER = Placer(LAYERS)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 80),
       since=st.sampled_from([None, 20251112, 20251113, 20251120]))
def test_coverage_shares_within_unit_interval(seed: int, n: int, since: int | None) -> None:
    track = _random_walk(seed, max(n, 2))
    contributions = sweep(build_segments(**track), PLACER, sweep_width_m=WIDTHS)
    summary = coverage_summary(contributions, LAYERS, since_day=since, now_ms=T0 + 10 * 86_400_000)
    assert_shares_in_unit_interval(summary)


# ----------------------------------------------------------------------------------------------
# summaries and gaps


def test_summary_shares_by_mode_unit_and_township(layers: Layers) -> None:
    boat = _track(X0 + np.array([0.0, 2_400.0]), np.full(2, Y0), unit="B1", mode="boat")
    foot = _track(X0 + np.array([-100.0, 500.0]), np.full(2, Y0 + 1_250.0), unit="F1",
                  mode="foot")
    contributions = merge_contributions(_sweep(boat, layers), _sweep(foot, layers))
    summary = coverage_summary(contributions, layers, since_day=None, now_ms=T0 + 3_600_000)
    assert summary["river"]["share"] == pytest.approx(0.5)  # reaches 0-4 of 10
    assert summary["river"]["total_km"] == pytest.approx(5.0)
    assert summary["forest"]["share"] == pytest.approx(1 / 16)
    assert summary["by_mode"]["boat"]["river"]["share"] == pytest.approx(0.5)
    assert summary["by_mode"]["foot"]["river"]["share"] == 0.0
    assert summary["by_unit"]["F1"]["forest"]["covered_km2"] == pytest.approx(0.25)
    assert summary["km"] == pytest.approx(2.4 + 0.5)
    assert summary["river"]["patrol_km"] == pytest.approx(2.4)
    towns = summary["by_township"]
    # 镇0_0 spans x -1..4 km: reaches 0-7 (centres 0.25..3.75 km), forest rows y 1..2.5 km
    assert towns["镇0_0"]["river"]["share"] == pytest.approx(5 / 8)
    assert towns["镇1_0"]["river"]["share"] == 0.0
    assert towns["镇0_0"]["forest"]["share"] == pytest.approx(1 / 12)
    assert towns["镇0_1"]["forest"]["total_km2"] == pytest.approx(1.0)
    later = coverage_summary(contributions, layers, since_day=20991231, now_ms=T0 + 3_600_000)
    assert later["river"]["share"] == 0.0 and later["km"] == 0.0
    before = coverage_summary(contributions, layers, since_day=None, now_ms=T0 - 86_400_000)
    assert before["km"] == 0.0


def test_gaps_most_overdue_first(layers: Layers) -> None:
    visits = pd.DataFrame({"kind": ["reach", "reach", "cell"],
                           "feature_id": ["永安溪-0000", "永安溪-0001", layers.cells.cell_id[0]],
                           "last_ms": [T0 - 50 * 3_600_000, T0 - 2 * 3_600_000,
                                       T0 - 30 * 3_600_000]})
    gaps = coverage_gaps(visits, layers, now_ms=T0, older_than_hours=24)
    n_features = len(layers.reaches) + len(layers.cells)
    assert len(gaps) == n_features - 1
    assert np.isinf(gaps["hours_since"].iloc[: n_features - 3]).all()
    assert gaps["feature_id"].tolist()[-2:] == ["永安溪-0000", layers.cells.cell_id[0]]
    assert gaps["hours_since"].tolist()[-2:] == [50.0, 30.0]
    assert gaps["last_ms"].isna().sum() == n_features - 3
    high = coverage_gaps(visits, layers, now_ms=T0, older_than_hours=24, only_priority=True)
    assert high.empty
    assert gaps.loc[gaps["kind"] == "reach", "township"].notna().all()


def test_last_visits_from_contributions(layers: Layers) -> None:
    out = _sweep(_track(X0 + np.array([100.0, 200.0, 300.0]), np.full(3, Y0)), layers)
    visits = last_visits(out)
    assert visits["last_ms"].tolist() == [T0 + 20_000]
    gaps = coverage_gaps(visits, layers, now_ms=T0 + 20_000, older_than_hours=0)
    assert "永安溪-0000" not in set(gaps["feature_id"])


def test_gaps_only_priority_keeps_high_features() -> None:
    layers = Layers.build(metric_crs=METRIC_CRS, rivers=straight_river(1_000, priority="high"),
                          forests=square_forest(500), townships=township_grid())
    gaps = coverage_gaps(last_visits(pd.DataFrame(columns=list(CONTRIBUTION_COLUMNS))), layers,
                         now_ms=T0, older_than_hours=1, only_priority=True)
    assert set(gaps["kind"]) == {"reach"} and len(gaps) == 2
