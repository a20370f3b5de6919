import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.model import ReportFact
from alerts.rules import RuleFacts, parse_rules
from alerts.rules.cluster import find_clusters
from tests.alerts.helpers import HOUR, NIGHT, report

SNARES = {"kind": "cluster", "name": "snare-cluster", "severity": "high",
          "categories": ["snare", "illegal_hunting"], "min_reports": 3, "radius_m": 500,
          "window_hours": 72}


def _eval(reports: list[ReportFact], now_ms: int = NIGHT, **change: object) -> list:
    (rule,) = parse_rules([{**SNARES, **change}])
    return rule.evaluate(RuleFacts(reports=reports), now_ms)


def _snares(n: int, *, spacing_m: float = 100.0, hours_apart: float = 20.0) -> list[ReportFact]:
    return [report(f"s{i}", "snare", NIGHT - int((n - 1 - i) * hours_apart * HOUR),
                   x_m=5000 + i * spacing_m, y_m=8000, cell_id="F12")
            for i in range(n)]


def test_three_snares_in_one_block_over_two_days_make_one_cluster() -> None:
    (c,) = _eval(_snares(3))
    assert c.evidence.report_ids == ("s0", "s1", "s2")
    assert c.fingerprint == "snare-cluster/cluster/s0"
    assert c.labels["inhibits"] == "singles"
    assert c.evidence.cells == ("F12",)
    assert c.x_m == pytest.approx(5100.0)


def test_two_snares_are_not_a_cluster() -> None:
    assert _eval(_snares(2)) == []


def test_fingerprint_is_stable_as_the_cluster_grows() -> None:
    reports = _snares(4)
    (three,) = _eval(reports[:3], now_ms=reports[2].observed_ms)
    (four,) = _eval(reports, now_ms=reports[3].observed_ms)
    assert three.fingerprint == four.fingerprint
    assert four.evidence.report_ids == ("s0", "s1", "s2", "s3")


def test_reports_outside_the_window_do_not_count() -> None:
    assert _eval(_snares(3, hours_apart=40)) == []  # spans 80 h > 72 h


def test_far_reports_do_not_count() -> None:
    assert _eval(_snares(3, spacing_m=600)) == []


def test_categories_not_listed_do_not_count() -> None:
    reports = [*_snares(2), report("f", "illegal_fishing", NIGHT, x_m=5050, y_m=8000)]
    assert _eval(reports) == []


def test_a_sparse_line_is_not_a_cluster() -> None:
    # six reports 400 m apart: single linkage would chain them into one "cluster"; with
    # min_reports=4 no report has 4 within 500 m, so there is none
    line = [report(f"l{i}", "snare", NIGHT - i * HOUR, x_m=i * 400.0, y_m=0) for i in range(6)]
    assert _eval(line, radius_m=500, min_reports=4) == []
    # with min_reports=3 the middle four are cores and the two ends join them
    (c,) = _eval(line, radius_m=500, min_reports=3)
    assert sorted(c.evidence.report_ids) == [f"l{i}" for i in range(6)]


def test_two_separate_clusters() -> None:
    a = [report(f"a{i}", "snare", NIGHT - i * HOUR, x_m=i * 50.0, y_m=0) for i in range(3)]
    b = [report(f"b{i}", "snare", NIGHT - i * HOUR - 1, x_m=10_000 + i * 50.0, y_m=0)
         for i in range(3)]
    cands = _eval(a + b)
    assert sorted(c.evidence.report_ids for c in cands) == [("a2", "a1", "a0"),
                                                            ("b2", "b1", "b0")]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 3000)), min_size=1, max_size=25),
       st.randoms(use_true_random=False))
def test_clusters_do_not_depend_on_input_order(points: list, rnd) -> None:
    reports = [report(f"p{i}", "snare", NIGHT - i * 1000, x_m=float(x), y_m=float(y))
               for i, (x, y) in enumerate(points)]
    shuffled = list(reports)
    rnd.shuffle(shuffled)
    first = {c.fingerprint: c.evidence.report_ids for c in _eval(reports)}
    second = {c.fingerprint: c.evidence.report_ids for c in _eval(shuffled)}
    assert first == second


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 2000)), min_size=1, max_size=25))
def test_every_cluster_member_is_near_a_core(points: list) -> None:
    reports = [report(f"p{i}", "snare", NIGHT, x_m=float(x), y_m=float(y))
               for i, (x, y) in enumerate(points)]
    for members in find_clusters(reports, 300.0, 3):
        assert len(members) >= 3
        for i in members:
            near = [j for j in members
                    if ((reports[i].x_m - reports[j].x_m) ** 2
                        + (reports[i].y_m - reports[j].y_m) ** 2) <= 300.0 ** 2]
            assert len(near) >= 2  # itself and at least one other member


def _reference_dbscan(points: list[tuple[int, int]], radius: int, k: int) -> list[list[int]]:
    """Textbook DBSCAN, quadratic and obvious, to check the vectorized one against."""
    n = len(points)
    near = [[j for j in range(n) if (points[i][0] - points[j][0]) ** 2
             + (points[i][1] - points[j][1]) ** 2 <= radius ** 2] for i in range(n)]
    core = [len(near[i]) >= k for i in range(n)]
    label = [-1] * n
    for start in range(n):
        if core[start] and label[start] == -1:
            label[start] = start
            stack = [start]
            while stack:
                i = stack.pop()
                for j in near[i]:
                    if core[j] and label[j] == -1:
                        label[j] = start
                        stack.append(j)
    for i in range(n):
        if not core[i]:
            cores = [j for j in near[i] if core[j]]
            if cores:
                label[i] = label[min(cores)]
    groups: dict[int, list[int]] = {}
    for i, lab in enumerate(label):
        if lab >= 0:
            groups.setdefault(lab, []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1500), st.integers(0, 1500)), min_size=1, max_size=40),
       st.integers(2, 5))
def test_find_clusters_matches_textbook_dbscan(points: list, k: int) -> None:
    reports = [report(f"p{i}", "snare", NIGHT, x_m=float(x), y_m=float(y))
               for i, (x, y) in enumerate(points)]
    assert find_clusters(reports, 300.0, k) == _reference_dbscan(points, 300, k)
