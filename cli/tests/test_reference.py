"""docs/reference.md carries every command's --help, generated (as sqlite-utils does): this test
fails when the page is stale; `make reference` (TALLY_WRITE_REFERENCE=1) writes it anew."""

import os

import click
from click.testing import CliRunner
from conftest import PROJECT_DIR
from tally.cli import cli

REFERENCE = PROJECT_DIR / "docs" / "reference.md"
START, END = "<!-- commands:start -->", "<!-- commands:end -->"


def _commands(group: click.Group, path=("tally",)):
    yield path
    for name in sorted(group.commands):
        command = group.commands[name]
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name)


def rendered_help() -> str:
    sections = []
    for path in _commands(cli):
        result = CliRunner().invoke(cli, [*path[1:], "--help"], prog_name="tally",
                                    terminal_width=100)
        assert result.exit_code == 0, result.output
        sections.append(f"#### `{' '.join(path)}`\n\n```text\n{result.output.rstrip()}\n```\n")
    return "\n".join(sections)


def test_the_reference_holds_every_commands_help():
    page = REFERENCE.read_text()
    before, rest = page.split(START)
    _, after = rest.split(END)
    fresh = f"{before}{START}\n{rendered_help()}{END}{after}"
    if os.environ.get("TALLY_WRITE_REFERENCE"):
        REFERENCE.write_text(fresh)
        return
    assert page == fresh, "docs/reference.md is stale: run `make reference`"
