"""Prometheus' rules (observability/prometheus/rules/) checked and unit-tested by promtool.

`promtool check rules` on every rules file, `promtool test rules` on every test file, and a check that the
tests cover the rules: each alert fires in one case and stays silent in another, each recorded name is
looked at by at least one test expression.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO_ROOT / "observability" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.rules.yml"))
TEST_FILES = sorted((PROMETHEUS / "tests").glob("*.test.yml"))
RECORDING_RULES = PROMETHEUS / "rules" / "airflow-statsd.rules.yml"
ALERT_RULES = PROMETHEUS / "rules" / "alerts.rules.yml"


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: apt-get install prometheus (make install does it)")
    return path


def run_promtool(*args: str, cwd: Path) -> None:
    done = subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"promtool {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"


def rules(path: Path) -> list[dict]:
    return [rule for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


def test_the_rule_and_test_files_are_there() -> None:
    assert RECORDING_RULES in RULE_FILES and ALERT_RULES in RULE_FILES
    assert {"airflow-statsd.test.yml", "alerts.test.yml"} <= {path.name for path in TEST_FILES}


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda path: path.name)
def test_promtool_check_rules(path: Path) -> None:
    run_promtool("check", "rules", str(path), cwd=REPO_ROOT)


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda path: path.name)
def test_promtool_test_rules(path: Path) -> None:
    # From the test file's folder: its rule_files are relative to it (../rules/...).
    run_promtool("test", "rules", path.name, cwd=path.parent)


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    alerts = {rule["alert"] for rule in rules(ALERT_RULES) if "alert" in rule}
    firing: set[str] = set()
    silent: set[str] = set()
    for path in TEST_FILES:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    assert alerts, "no alert rules found"
    assert alerts - firing == set(), "alerts without a test case where they fire"
    assert alerts - silent == set(), "alerts without a test case where they must not fire (exp_alerts: [])"
    assert (firing | silent) - alerts == set(), "tests of alerts that do not exist"


def test_every_recorded_name_is_tested() -> None:
    recorded = {rule["record"] for rule in rules(RECORDING_RULES) if "record" in rule}
    expressions = " ".join(
        check["expr"]
        for path in TEST_FILES
        for case in yaml.safe_load(path.read_text())["tests"]
        for check in case.get("promql_expr_test", [])
    )
    assert recorded, "no recording rules found"
    untested = {name for name in recorded if not re.search(rf"\b{re.escape(name)}\b", expressions)}
    assert untested == set(), "recorded names that no promql_expr_test looks at"
