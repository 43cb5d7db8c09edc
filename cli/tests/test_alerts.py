"""The alert rules: valid for promtool, their unit tests pass, and those tests catch a change of
a threshold; every metric a rule reads is one `tally metrics` exposes."""

import re
import subprocess

from prometheus_tools import RULE_TESTS, RULES, require
from tally.metrics import METRICS


def promtool(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([require("promtool"), *args], capture_output=True, text=True, cwd=cwd)


def test_rules_are_valid_and_pass_their_unit_tests():
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 5 rules found" in checked.stdout
    tested = promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_unit_tests_catch_a_changed_threshold(tmp_path):
    (tmp_path / RULES.name).write_text(RULES.read_text().replace("> 3600", "> 7200"))
    (tmp_path / RULE_TESTS.name).write_text(RULE_TESTS.read_text())
    tested = promtool("test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert tested.returncode == 1
    assert "TallyRollupLagOverBudget" in tested.stdout + tested.stderr


def test_rules_read_only_metrics_tally_exposes():
    exposed = {metric.name for metric in METRICS} | {"up"}
    used = set(re.findall(r"\b(up|tally_[a-z_]+)\b", RULES.read_text()))
    assert used and used <= exposed, used - exposed
