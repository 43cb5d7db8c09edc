"""Fixtures: one embedded PostgreSQL per test session, in a TALLY_HOME of its own."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result
from tally.cli import cli
from tally.embedded_db import EmbeddedServer

PROJECT_DIR = Path(__file__).resolve().parents[2]
SCHEMAS = ("raw", "staging", "intermediate", "analytics", "reference", "snapshots", "ops")


@pytest.fixture(scope="session")
def tally_home():
    # mkdtemp, not tmp_path: when tests run as root the server runs as another user, who must be
    # able to reach the folder, and pytest's base folder is private to its owner.
    home = Path(tempfile.mkdtemp(prefix="tally-tests-"))
    home.chmod(0o755)
    previous = os.environ.get("TALLY_HOME")
    os.environ["TALLY_HOME"] = str(home)
    os.environ["TALLY_TARGET"] = "local"
    yield home
    EmbeddedServer(home).stop()
    shutil.rmtree(home, ignore_errors=True)
    if previous is None:
        os.environ.pop("TALLY_HOME")
    else:
        os.environ["TALLY_HOME"] = previous


# The contract: no result depends on the time zone of the machine, the session or the server.
# The test database's default session time zone is +13:45 (+12:45 in southern winter), so that
# a model relying on the session's zone fails its test.
HOSTILE_TIMEZONE = "Pacific/Chatham"


@pytest.fixture(scope="session")
def db_url(tally_home):
    server = EmbeddedServer(tally_home)
    server.start()
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"alter database tally set timezone to '{HOSTILE_TIMEZONE}'")
    return server.url()


@pytest.fixture
def clean_db(db_url):
    """An empty database: every tally schema dropped before the test."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        for schema in SCHEMAS:
            conn.execute(f"drop schema if exists {schema} cascade")
    return db_url


def invoke_tally(*args: str, check: bool = True, env: dict | None = None) -> Result:
    """Run a command in this process through click's runner; its exit code is the one the
    command raised. Subprocesses (run_tally) are for what needs a process of its own."""
    result = CliRunner().invoke(cli, list(args), env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    if check and result.exit_code != 0:
        raise AssertionError(
            f"tally {' '.join(args)} exited {result.exit_code}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def run_tally(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run the CLI as a user would, as a subprocess of this Python."""
    result = subprocess.run(
        [sys.executable, "-m", "tally", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        **kwargs,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"tally {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def query(url: str, sql: str, params=None) -> list[tuple]:
    with psycopg.connect(url, options="-c timezone=UTC") as conn:
        return conn.execute(sql, params).fetchall()
