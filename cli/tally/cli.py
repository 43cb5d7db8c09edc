"""The `tally` command line: a thin click layer over the modules that do the work."""

import json
import sys
from pathlib import Path

import click

from tally import __version__
from tally.audit import audited
from tally.targets import default_target

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def target_option(command):
    """The shared `--target` option: a dbt target name, default $TALLY_TARGET or `local`."""
    return click.option(
        "--target",
        "-t",
        default=default_target,
        show_default="$TALLY_TARGET or local",
        help="dbt target to run against.",
    )(command)


def json_option(command):
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(
        command
    )


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "--version", "-V", prog_name="tally")
def cli():
    """Exact, incremental, reconciled usage rollups for token-priced AI platforms.

    \b
    Example:
      tally load data/ && tally rollup && tally verify
    """


@cli.group(context_settings=CONTEXT)
def db():
    """Manage the embedded PostgreSQL of the `local` target.

    \b
    Example:
      psql "$(tally db url)" -c 'select count(*) from analytics.fct_usage_hourly'
    """


@db.command(context_settings=CONTEXT)
@target_option
def start(target):
    """Start the embedded database (commands that need it start it by themselves).

    \b
    Example:
      tally db start
    """
    from tally.targets import embedded_server

    server = embedded_server(target)
    started = server.start()
    click.echo(
        f"{'started' if started else 'already running'}: pid {server.pid()}, "
        f"data in {server.pgdata}"
    )


@db.command(context_settings=CONTEXT)
@target_option
def stop(target):
    """Stop the embedded database.

    \b
    Example:
      tally db stop
    """
    from tally.targets import embedded_server

    click.echo("stopped" if embedded_server(target).stop() else "not running")


@db.command(context_settings=CONTEXT)
@target_option
@json_option
def status(target, as_json):
    """Say whether the embedded database runs, where, and its URL; exit 3 when it does not run.

    \b
    Example:
      tally db status --json
    """
    from tally.targets import embedded_server

    server = embedded_server(target)
    state = {
        "running": server.is_running(),
        "pid": server.pid(),
        "data": str(server.pgdata),
        "log": str(server.log_file),
        "url": server.url(),
    }
    if as_json:
        click.echo(json.dumps(state))
    else:
        click.echo(
            f"{'running' if state['running'] else 'stopped'}"
            + (f" (pid {state['pid']})" if state["running"] else "")
        )
        for key in ("data", "log", "url"):
            click.echo(f"{key}: {state[key]}")
    sys.exit(0 if state["running"] else 3)


@db.command(context_settings=CONTEXT)
@target_option
def url(target):
    """Print a libpq URI of the target's database (starting the embedded one if needed).

    \b
    Example:
      psql "$(tally db url)"
    """
    from tally.targets import database_url

    click.echo(database_url(target))


KIND_CHOICE = click.Choice(["events", "voids", "organizations", "users", "api_keys"])


@cli.command(context_settings=CONTEXT)
@target_option
@click.option(
    "--kind",
    type=KIND_CHOICE,
    help="Load every file as this kind (default: from the file name's start, else events).",
)
@json_option
@click.argument("paths", nargs=-1, required=True)
@audited
def load(target, kind, as_json, paths):
    """Load files, directories or globs into the raw layer, each file once, each event once.

    Formats by extension: .jsonl/.ndjson, .csv, .parquet, each optionally .gz. Bad records go to
    raw.quarantine with their reason; a file tally cannot read fails alone and loads nothing.
    Exit status: 0 all loaded; 1 a file failed; 3 some records were quarantined.

    \b
    Example:
      tally load data/
      tally load --kind voids 'exports/voids-*.csv.gz' --json
    """
    from tally.load import load_paths
    from tally.load.summary import text_lines

    summary = load_paths(target, list(paths), kind)
    if as_json:
        click.echo(json.dumps(summary.as_dict()))
    else:
        for line in text_lines(summary):
            click.echo(line)
    for failed in summary.failed:
        click.echo(f"Error: {failed.file}: {failed.error}", err=True)
    return summary.exit_status


@cli.command(context_settings=CONTEXT)
@target_option
@click.option("--full-refresh", is_flag=True, help="Rebuild every rollup from the raw events.")
@audited
def rollup(target, full_refresh):
    """Build seeds, snapshots, models and their tests incrementally (dbt build).

    Each data test covers what the run changed (the load batches it rolls up; rules the
    database enforces are checked in its catalog); unit tests and whole-table tests run in
    `tally verify`, `make test` and a plain `dbt build`. Seeds and snapshots whose input is
    unchanged since the last rollup are left as they are.

    \b
    Example:
      tally rollup
    """
    from tally.rollup import run_rollup

    summary = run_rollup(target, full_refresh)
    for table, rows in sorted(summary.rows_changed.items()):
        click.echo(f"{table}: {rows} rows changed")
    if summary.unchanged:
        click.echo(f"input unchanged, not rebuilt: {', '.join(summary.unchanged)}")


@cli.command(context_settings=CONTEXT)
@target_option
@json_option
@audited
def verify(target, as_json):
    """Run every data-quality check and print one table: dbt tests, the Great Expectations
    suites, the reconciliation, source freshness and unpriced events.

    Status per check: pass, warn, fail, or error (the check could not run). Exit status 0 when
    nothing failed or errored (warnings do not fail), else 1. Data Docs go to $TALLY_HOME/gx.

    \b
    Example:
      tally verify
      tally verify --json | jq '.checks[] | select(.status != "pass")'
    """
    from tally.audit import note
    from tally.verify import run_checks

    report = run_checks(target)
    note(verify={r.check: r.status for r in report.checks})
    if as_json:
        click.echo(json.dumps(report.as_dict(), default=str))
    else:
        for line in report.text_lines():
            click.echo(line)
    if not report.ok:
        raise click.exceptions.Exit(1)


@cli.command(context_settings=CONTEXT)
@click.option("--events", "-n", type=click.IntRange(min=0), required=True, help="How many events.")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same files.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "parquet"]),
    default="jsonl",
    show_default=True,
)
@click.option("--gzip", "gz", is_flag=True, help="Compress every file (.gz).")
@click.option("--days", type=click.IntRange(min=1), default=7, show_default=True)
@click.option("--late", type=click.FloatRange(0, 1), default=0.01, show_default=True)
@click.option("--duplicates", type=click.FloatRange(0, 1), default=0.005, show_default=True)
@click.option("--voided", type=click.FloatRange(0, 1), default=0.002, show_default=True)
@click.option("--bad", type=click.FloatRange(0, 1), default=0.001, show_default=True)
@click.option("--target", "-t", expose_value=False, default=default_target,
              help="Accepted like every command's; generate writes files only.")
@json_option
def generate(events, out, seed, fmt, gz, days, late, duplicates, voided, bad, as_json):
    """Write a realistic synthetic data set, one file per kind, that `tally load DIR` loads.

    Fractions are shares of the events: late (up to 240 days old), duplicates (re-sent, one in
    five with a changed field), voided, and bad (each breaking one rule of the contract).

    \b
    Example:
      tally generate --events 1000000 --out data/ --seed 7 --format csv --gzip
    """
    from tally.generate import Fractions
    from tally.generate import generate as write_data_set

    fractions = Fractions(late=late, duplicates=duplicates, voided=voided, bad=bad)
    result = write_data_set(events, out, seed, fmt, gz, fractions, days)
    if as_json:
        click.echo(json.dumps(result.files))
    else:
        for path, rows in result.files.items():
            click.echo(f"{path}: {rows} records")


def main():
    """Run the CLI; a usage error is one line on stderr with exit status 2, as in Unix tools."""
    try:
        status = cli.main(prog_name="tally", standalone_mode=False)
    except click.UsageError as error:
        where = error.ctx.command_path if error.ctx else "tally"
        click.echo(f"Error: {error.format_message()} (see '{where} --help')", err=True)
        sys.exit(error.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(130)
    sys.exit(status if isinstance(status, int) else 0)
