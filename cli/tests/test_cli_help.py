"""Every command explains itself; a wrong argument is one line and exit status 2."""

import click
import pytest
from click.testing import CliRunner
from conftest import run_tally
from tally.cli import cli


def _commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


@pytest.mark.parametrize("path", list(_commands(cli)), ids=" ".join)
def test_every_command_has_help_with_an_example(path):
    for flag in ("--help", "-h"):
        result = CliRunner().invoke(cli, [*path, flag])
        assert result.exit_code == 0, result.output
        assert "Example" in result.output


@pytest.mark.parametrize(
    "path", [p for p in _commands(cli) if not isinstance(cli.commands.get(p[0]), click.Group)
             or len(p) > 1], ids=" ".join)
def test_every_command_takes_target(path):
    """The contract: every command takes --target NAME."""
    assert "--target" in CliRunner().invoke(cli, [*path, "--help"]).output


def test_db_commands_refuse_a_target_without_embedded_database():
    result = run_tally("db", "status", "--target", "postgres", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: target 'postgres' has no embedded database")


def test_version():
    assert run_tally("--version").stdout.startswith("tally, version ")


@pytest.mark.parametrize("args", [["load", "--bogus", "x"], ["nosuchcommand"], ["rollup", "extra"]])
def test_wrong_argument_is_one_line_and_status_2(args):
    result = run_tally(*args, check=False)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("Error: ")


def test_unknown_target_is_one_line(tally_home):
    result = run_tally("db", "url", "--target", "nowhere", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: target 'nowhere' has no PostgreSQL database; choose one of: local, postgres"
    ]
