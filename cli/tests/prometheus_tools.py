"""Prometheus and promtool for tests, installed through the project's own `make prometheus`
(Debian's package); a test that needs them is skipped, with the reason, where they cannot be."""

import shutil
import socket
import subprocess

import pytest
from conftest import PROJECT_DIR

RULES = PROJECT_DIR / "ops" / "prometheus" / "tally-alerts.yml"
RULE_TESTS = PROJECT_DIR / "ops" / "prometheus" / "tally-alerts.test.yml"
DASHBOARD = PROJECT_DIR / "ops" / "grafana" / "tally-dashboard.json"


def require(tool: str) -> str:
    """The tool's path, installing it first if needed; skips the test when it cannot be had."""
    if not shutil.which(tool):
        made = subprocess.run(["make", "-s", "prometheus"], cwd=PROJECT_DIR,
                              capture_output=True, text=True)
        if made.returncode != 0 or not shutil.which(tool):
            reason = (made.stderr.strip().splitlines() or ["not on the PATH"])[-1]
            pytest.skip(f"{tool} cannot be installed here: {reason}")
    return shutil.which(tool)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
