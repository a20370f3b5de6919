"""Alerting configuration: invalid rules refused at start naming the key and the reason; defaults for
the parts config.toml leaves out; ``ecopatrol rules test FILE`` like ``promtool test rules``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ecopatrol.alerting.settings import AlertingConfigError, load_alerting
from ecopatrol.cli_rules import rules_app
from ecopatrol.config import ConfigError, Settings, load_settings
from ecopatrol.runtime import Runtime

RUNNER = CliRunner()


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "c.db"}"\n' + textwrap.dedent(body),
                    encoding="utf-8")
    return path


def _problems(settings: Settings) -> dict[str, str]:
    with pytest.raises(AlertingConfigError) as err:
        load_alerting(settings)
    assert isinstance(err.value, ConfigError)
    return dict(err.value.problems)


@pytest.mark.parametrize(("rule", "key", "reason"), [
    ({"kind": "cluster", "name": "c", "severity": "high", "categories": ["snare"], "radius_m": -5,
      "window_hours": 48}, "rules[0].radius_m", "greater than 0"),
    ({"kind": "report", "name": "r", "severity": "urgent", "categories": ["firearm"]},
     "rules[0].severity", "critical"),
    ({"kind": "report", "name": "r", "severity": "high", "categories": ["firearm"],
      "local_time_from": "22:00"}, "rules[0]", "local_time_to"),
    ({"kind": "report", "name": "r", "severity": "high", "categories": ["firearm"], "radius": 3},
     "rules[0].radius", "unknown key"),
    ({"kind": "patrol", "name": "r", "severity": "high"}, "rules[0].kind", "unknown kind"),
    ({"kind": "silent_unit", "name": "s", "silent_min": 30, "cron": "61 * * * *"}, "rules[0].cron",
     "crontab"),
    ({"kind": "silent_unit", "name": "s", "silent_min": 30, "cron": "* * * * *", "interval_min": 1},
     "rules[0].cron", "not both"),
])
def test_an_invalid_rule_is_refused_naming_the_key_and_the_reason(rule: dict, key: str, reason: str) -> None:  # type: ignore[type-arg]
    problems = _problems(Settings(rules=[rule]))
    assert key in problems, problems
    assert reason in problems[key]


def test_every_problem_is_listed_and_duplicate_names_are_refused() -> None:
    good = {"kind": "report", "name": "same", "severity": "high", "categories": ["firearm"]}
    problems = _problems(Settings(rules=[good, good, {"kind": "report", "name": "x"}]))
    assert "duplicate" in problems["rules[1].name"]
    assert {"rules[2].severity", "rules[2].categories"} <= set(problems)


def test_bad_escalation_and_routes_are_refused_by_key() -> None:
    problems = _problems(Settings(escalation={"policies": {"critical": {"ack_within_min": 0, "step_min": 5}},
                                              "routes": [{"name": "r", "escalation_policy": "nope"}]}))
    assert "greater than 0" in problems["escalation.policies.critical.ack_within_min"]
    assert "nope" in problems["routes[0].escalation_policy"]


def test_the_app_refuses_to_start_with_a_broken_rule(runtime: Runtime, tmp_path: Path) -> None:
    from ecopatrol.alerting.wiring import install_alerting
    from ecopatrol.api.app import create_app

    path = _config(tmp_path, """
        [[rules]]
        name = "snare-cluster"
        kind = "cluster"
        severity = "high"
        categories = ["snare"]
        radius_m = 500
        window_hours = 0
    """)
    settings = load_settings(path, environ={})
    broken = Runtime(settings=settings, store=runtime.store, clock=runtime.clock)
    with pytest.raises(ConfigError, match=r"rules\[0\]\.window_hours: .*greater than 0"):
        install_alerting(create_app(broken), scheduler=False)


def test_the_shipped_defaults_are_used_for_what_config_leaves_out(tmp_path: Path) -> None:
    path = _config(tmp_path, """
        [[rules]]
        name = "every-firearm"
        kind = "report"
        severity = "critical"
        categories = ["firearm"]
    """)
    cfg = load_alerting(load_settings(path, environ={}))
    assert [r.name for r in cfg.rules] == ["every-firearm"]
    assert cfg.sources == {"rules": "config", "escalation": "defaults", "routes": "defaults",
                           "inhibit": "defaults"}
    critical = cfg.policies["critical"]
    assert (critical.ack_within_min, critical.on_scene_within_min) == (2, 30)
    assert critical.levels == ("duty_commander", "station_chief")
    assert (cfg.report_targets.triage_min, cfg.report_targets.assign_min) == (3, 5)
    defaults = load_alerting(Settings())
    kinds = {r.kind for r in defaults.rules}
    assert kinds == {"report", "cluster", "coverage_gap", "silent_unit", "immobile_unit"}


# --- rules test FILE ---------------------------------------------------------------------------------

CASES = """
[[tests]]
name = "night firearm by the river"
at = "2026-11-20T22:45:00+08:00"
  [[tests.reports]]
  id = "r1"
  category = "firearm"
  observed_at = "2026-11-20T22:40:00+08:00"
  lon = 120.73
  lat = 28.85
  dist_to_river_m = 150
  [[tests.squads]]
  id = "near"
  lon = 120.731
  lat = 28.851
  [[tests.squads]]
  id = "far"
  lon = 120.80
  lat = 28.90
  [[tests.expected]]
  rule = "firearm-night-river"
  severity = "critical"
  reports = ["r1"]
  squad = "near"

[[tests]]
name = "three snares in 48 h: one cluster, no singles"
at = "2026-11-22T09:45:00+08:00"
  [[tests.reports]]
  id = "s1"
  category = "snare"
  observed_at = "2026-11-20T10:00:00+08:00"
  lon = 120.740
  lat = 28.8095
  [[tests.reports]]
  id = "s2"
  category = "snare"
  observed_at = "2026-11-21T06:00:00+08:00"
  lon = 120.7418
  lat = 28.8100
  [[tests.reports]]
  id = "s3"
  category = "snare"
  observed_at = "2026-11-22T09:30:00+08:00"
  lon = 120.7405
  lat = 28.8082
  [[tests.expected]]
  rule = "hunting-cluster"
  severity = "high"
  reports = ["s1", "s2", "s3"]

[[tests]]
name = "a foot patrol silent for 40 minutes"
at = "2026-11-20T10:40:00+08:00"
  [[tests.units]]
  unit_id = "F01"
  mode = "foot"
  on_duty_since = "2026-11-20T08:00:00+08:00"
  fixes = [["2026-11-20T09:50:00+08:00", 120.70, 28.80], ["2026-11-20T10:00:00+08:00", 120.701, 28.80]]
  [[tests.expected]]
  rule = "foot-patrol-silent"
  severity = "critical"
  units = ["F01"]
"""


def test_rule_cases_pass_and_a_wrong_expectation_fails(tmp_path: Path) -> None:
    config = _config(tmp_path, "")
    cases = tmp_path / "cases.toml"
    cases.write_text(CASES, encoding="utf-8")
    result = RUNNER.invoke(rules_app, ["test", str(cases), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert result.output.count("PASS") == 3 and "3 passed, 0 failed" in result.output

    wrong = CASES.replace('rule = "hunting-cluster"\n  severity = "high"', 'rule = "hunting-cluster"\n  '
                          'severity = "critical"')
    cases.write_text(wrong, encoding="utf-8")
    result = RUNNER.invoke(rules_app, ["test", str(cases), "--config", str(config)])
    assert result.exit_code == 1
    assert "FAIL  three snares" in result.output and "2 passed, 1 failed" in result.output
    assert "raised but not expected: rule=hunting-cluster severity=high" in result.output


def test_a_case_file_may_bring_its_own_rules(tmp_path: Path) -> None:
    cases = tmp_path / "cases.json"
    cases.write_text("""{"rules": [{"kind": "report", "name": "any-fishing", "severity": "low",
                                    "categories": ["illegal_fishing"]}],
        "tests": [{"name": "day fishing", "at": 1763600000000,
                   "reports": [{"id": "f1", "category": "illegal_fishing", "observed_at": 1763599000000,
                                "lon": 120.7, "lat": 28.8}],
                   "expected": [{"rule": "any-fishing", "severity": "low"}]}]}""", encoding="utf-8")
    result = RUNNER.invoke(rules_app, ["test", str(cases), "--config", str(_config(tmp_path, ""))])
    assert result.exit_code == 0, result.output


def test_a_bad_case_file_names_the_case_and_key(tmp_path: Path) -> None:
    cases = tmp_path / "cases.toml"
    cases.write_text('[[tests]]\nname = "x"\nat = 5\n[[tests.reports]]\nid = "r"\ncategory = "dragon"\n',
                     encoding="utf-8")
    result = RUNNER.invoke(rules_app, ["test", str(cases), "--config", str(_config(tmp_path, ""))])
    assert result.exit_code == 2
    assert "tests[0].reports[0]" in result.output
