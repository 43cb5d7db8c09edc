"""The `tally` command line: a thin click layer over the modules that do the work."""

import functools
import gc
import json
import sys
from pathlib import Path

import click

from tally import __version__, logs, tracing
from tally.audit import audited
from tally.load.kinds import FILE_KINDS
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


def unused_target_option(command):
    """`--target`, accepted like every command's by a command that reaches no database."""
    return click.option(
        "--target",
        "-t",
        expose_value=False,
        default=default_target,
        help="Accepted like every command's; this command reaches no database.",
    )(command)


def json_option(command):
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(
        command
    )


def _set_log_format(ctx, param, value):
    logs.configure(value, _command_name(ctx))


def log_format_option(command):
    """The shared `--log-format` option, given to the group and every command by TallyGroup."""
    return click.option(
        "--log-format",
        type=click.Choice(logs.FORMATS),
        envvar=logs.ENV_VAR,
        is_eager=True,
        expose_value=False,
        callback=_set_log_format,
        help=f"stderr as plain lines or one JSON object a line [default: ${logs.ENV_VAR} or text].",
    )(command)


def _command_name(ctx) -> str:
    return " ".join(ctx.command_path.split()[1:]) or "tally"


def _traced(callback):
    """A command's callback under the command's span; a failure or non-zero exit marks it."""

    @functools.wraps(callback)
    def wrapper(*args, **kwargs):
        command = _command_name(click.get_current_context())
        with tracing.span(
            f"tally {command}", **{"tally.command": command, "tally.target": kwargs.get("target")}
        ) as span:
            try:
                status = callback(*args, **kwargs)
            except click.exceptions.Exit as stop:
                span.set_attribute("tally.exit_status", stop.exit_code)
                if stop.exit_code:
                    tracing.mark_failed(span, f"exit status {stop.exit_code}")
                raise
            except click.ClickException as error:
                span.set_attribute("tally.exit_status", error.exit_code)
                tracing.mark_failed(span, error.format_message())
                raise
            exit_status = status if isinstance(status, int) else 0
            span.set_attribute("tally.exit_status", exit_status)
            if exit_status not in (0, 3):  # 3: loaded, some records quarantined
                tracing.mark_failed(span, f"exit status {exit_status}")
            return status

    return wrapper


class TallyGroup(click.Group):
    """A group whose commands all get the shared `--log-format` option and a span of their own
    (tally.tracing), however and wherever they are added."""

    group_class = type  # subgroups (`tally db`) are TallyGroups too

    def add_command(self, cmd, name=None):
        log_format_option(cmd)
        if not isinstance(cmd, click.Group) and cmd.callback is not None:
            cmd.callback = _traced(cmd.callback)
        super().add_command(cmd, name)


@click.group(cls=TallyGroup, context_settings=CONTEXT)
@log_format_option
@click.version_option(__version__, "--version", "-V", prog_name="tally")
def cli():
    """Exact, incremental, reconciled usage rollups for token-priced AI platforms.

    \b
    Example:
      tally load data/ && tally rollup && tally verify
    """


@cli.group(context_settings=CONTEXT)
def db():
    """Manage the target's database: the embedded server of `local`, its schema, its backups.

    \b
    Example:
      psql "$(tally db url)" -c 'select count(*) from analytics.fct_usage_hourly'
    """


@db.command(context_settings=CONTEXT)
@target_option
def start(target):
    """Start the embedded database and create tally's tables in it (commands that need it
    start it by themselves), so that `dbt build` can run on it by hand.

    \b
    Example:
      tally db start && eval "$(tally db env)" && dbt build
    """
    from tally.targets import embedded_server, start_embedded_database

    embedded_server(target)  # only `local` has one
    server, started = start_embedded_database()
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


@db.command(context_settings=CONTEXT)
@target_option
def env(target):
    """Print, as shell exports, the environment a hand-run dbt needs for the target (profiles,
    artifacts, the embedded database's socket).

    \b
    Example:
      eval "$(tally db env)" && dbt build
    """
    import shlex

    from tally.dbt_invocation import dbt_env

    for name, value in dbt_env(target).items():
        click.echo(f"export {name}={shlex.quote(value)}")


KIND_CHOICE = click.Choice(FILE_KINDS)


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
    Files named spans* (or --kind spans) are OpenTelemetry trace exports in OTLP/JSON (.json,
    .jsonl, .ndjson, maybe .gz): each span with GenAI token usage loads as an event.
    Exit status: 0 all loaded; 1 a file failed; 3 some records were quarantined.

    \b
    Example:
      tally load data/
      tally load --kind voids 'exports/voids-*.csv.gz' --json
      tally load --kind spans otel-export.json.gz
    """
    from tally.load.files import load_paths
    from tally.load.summary import text_lines

    summary = load_paths(target, list(paths), kind)
    if as_json:
        click.echo(json.dumps(summary.as_dict()))
    else:
        for line in text_lines(summary):
            click.echo(line)
    for failed in summary.failed:
        click.echo(f"Error: {failed.file}: {failed.error}", err=True)
    raise click.exceptions.Exit(summary.exit_status)


@cli.command(context_settings=CONTEXT)
@target_option
@click.option(
    "--full-refresh",
    is_flag=True,
    help="Rebuild every rollup from the raw events (then vacuum and analyze the new tables).",
)
@audited
def rollup(target, full_refresh):
    """Build seeds, snapshots, models and their tests incrementally (dbt build).

    Each data test covers what the run changed (the load batches it rolls up; rules the
    database enforces are checked in its catalog); unit tests and whole-table tests run in
    `tally verify`, `make test` and a plain `dbt build`. Seeds, snapshots, views and tables
    whose input is unchanged since the last rollup are left as they are, and a test that passed
    on the rows it would read is not run again (`tally verify` runs every test); when
    nothing it reads has changed (batches, code, migrations, prices or keys reaching their
    time), no dbt runs at all. Prints, per incremental model, the rows the run inserted,
    updated or deleted.

    \b
    Example:
      tally rollup
    """
    from tally.rollup import run_rollup

    summary = run_rollup(target, full_refresh)
    if summary.up_to_date_since:
        click.echo(
            "nothing to build: no new batches, code or schema changes since the last rollup"
            f" ({summary.up_to_date_since:%Y-%m-%d %H:%M:%S %Z})"
        )
    for table, rows in sorted(summary.rows_changed.items()):
        # Spark reports no count for a partition overwrite
        click.echo(f"{table}: {rows} rows changed" if rows >= 0 else f"{table}: rebuilt")
    if summary.unchanged:
        click.echo(f"input unchanged, not rebuilt: {', '.join(summary.unchanged)}")
    if summary.tests_passed_before:
        click.echo(
            f"{summary.tests_passed_before} data tests not run again: each passed before"
            " on the rows it reads"
        )


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
    type=click.Choice(["jsonl", "csv", "parquet", "sqlite"]),
    default="jsonl",
    show_default=True,
    help="File format; sqlite writes the legacy application's database, app.db.",
)
@click.option("--gzip", "gz", is_flag=True, help="Compress every file (.gz).")
@click.option("--days", type=click.IntRange(min=1), default=7, show_default=True)
@click.option("--late", type=click.FloatRange(0, 1), default=0.01, show_default=True)
@click.option("--duplicates", type=click.FloatRange(0, 1), default=0.005, show_default=True)
@click.option("--voided", type=click.FloatRange(0, 1), default=0.002, show_default=True)
@click.option("--bad", type=click.FloatRange(0, 1), default=0.001, show_default=True)
@unused_target_option
@json_option
def generate(events, out, seed, fmt, gz, days, late, duplicates, voided, bad, as_json):
    """Write a realistic synthetic data set, one file per kind, that `tally load DIR` loads.

    Fractions are shares of the events: late (up to 240 days old), duplicates (re-sent, one in
    five with a changed field), voided, and bad (each breaking one rule of the contract).
    --format sqlite writes the legacy application's database instead (tally load app.db).

    \b
    Example:
      tally generate --events 1000000 --out data/ --seed 7 --format csv --gzip
      tally generate --events 100000 --out legacy/ --format sqlite
    """
    from tally.generate import Fractions
    from tally.generate import generate as write_data_set

    fractions = Fractions(late=late, duplicates=duplicates, voided=voided, bad=bad)
    if fmt == "sqlite":
        from tally.generate import DEFAULT_END
        from tally.generate.legacy import write_legacy_database

        files = write_legacy_database(events, out, seed, vars(fractions), days, DEFAULT_END)
    else:
        files = write_data_set(events, out, seed, fmt, gz, fractions, days).files
    if as_json:
        click.echo(json.dumps(files))
    else:
        for path, rows in files.items():
            click.echo(f"{path}: {rows} records")


@cli.command(context_settings=CONTEXT)
@unused_target_option
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def init(folder):
    """Write a new tally project into FOLDER: the dbt project tally ships (models, macros,
    seeds, snapshots, tests, analyses), a profiles.yml and a .gitignore. tally runs the project
    of the current folder or its nearest parent.

    \b
    Example:
      tally init acme && cd acme && tally generate -n 10000 --out data && tally load data
    """
    from tally.init_project import init_project

    written = init_project(folder)
    click.echo(f"created {folder}: {', '.join(path.name for path in written)}")
    click.echo(f"next: cd {folder} && tally load DATA && tally rollup && tally verify")


@cli.command(context_settings=CONTEXT)
@target_option
@click.option(
    "--listen",
    metavar="ADDR",
    help="Serve GET /metrics on HOST:PORT (or :PORT, every interface) instead of printing.",
)
def metrics(target, listen):
    """Print the pipeline's state in the Prometheus text format, computed from the database:
    events loaded, records quarantined, rollup lag and duration, reconciliation mismatches,
    failed runs (docs/observability.md lists them all).

    \b
    Example:
      tally metrics | grep tally_rollup_lag_seconds
      tally metrics --listen 127.0.0.1:9464
    """
    from tally.metrics import read, serve

    if listen:
        serve(target, listen)
    else:
        click.echo(read(target), nl=False)


@cli.group(context_settings=CONTEXT)
def prices():
    """Maintain the price list, seeds/model_prices.csv.

    \b
    Example:
      tally prices import model_prices_and_context_window.json --models 'claude-*'
    """


@prices.command("import", context_settings=CONTEXT)
@unused_target_option
@click.option(
    "--effective-from",
    "effective_from",
    metavar="TS",
    help="When the imported prices take effect (ISO-8601; no offset = UTC). Default: now.",
)
@click.option("--models", metavar="GLOB", help="Import only the models whose name matches.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def import_(effective_from, models, file):
    """Append to seeds/model_prices.csv a row for each price of a LiteLLM price list
    (model_prices_and_context_window.json) that differs from the row in effect; print each row
    added. Cache, reasoning, batch/priority/flex and `_above_<N>k_tokens` prices map to the
    price list's optional columns. Nothing differs, nothing changes; `tally rollup` then
    re-prices what the new rows affect.

    \b
    Example:
      tally prices import model_prices_and_context_window.json --models 'gpt-5*' \\
          --effective-from 2025-08-07T00:00:00Z
    """
    from tally.paths import project_dir
    from tally.price_import import describe, import_prices, parse_effective_from

    seed = project_dir() / "seeds" / "model_prices.csv"
    added = import_prices(file, seed, parse_effective_from(effective_from), models)
    for row in added:
        click.echo(f"added {describe(row)}")
    click.echo(f"{len(added)} price rows added to {seed.name}")


@cli.command(context_settings=CONTEXT)
@target_option
@click.argument("table")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File to write: .csv or .parquet.",
)
def export(target, table, out):
    """Write every row of a table of `analytics` to CSV or Parquet, ordered by its grain.

    Columns and types as in the table; rows are streamed, so a table larger than memory exports.
    The file appears only when complete.

    \b
    Example:
      tally export fct_usage_hourly --out usage_hourly.parquet
      tally export fct_usage_daily_by_model --out by_model.csv
    """
    from tally.export import export_table

    rows = export_table(target, table, out)
    click.echo(f"{out}: {rows} rows of analytics.{table}")


@cli.command(context_settings=CONTEXT)
@target_option
@click.option("--org", "org_id", metavar="ORG", help="One organization's month instead of all.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The HTML file to write.",
)
def report(target, org_id, out):
    """Write a self-contained HTML report: cost and requests by day and model, the top
    organizations (or with --org one organization's month by model), error ratio by model, how
    late events arrive, unpriced events and the reconciliation's verdict. No server, no network:
    open the file in any browser.

    \b
    Example:
      tally report --out report.html
      tally report --org org_acme --out acme.html
    """
    from tally.report import write_report

    figures = write_report(target, org_id, out)
    click.echo(
        f"{out}: {figures.first_date} to {figures.last_date}, "
        f"reconciliation {figures.reconciliation['verdict']}"
    )


@db.command(name="migrations", context_settings=CONTEXT)
@target_option
@json_option
def migrations_(target, as_json):
    """List tally's schema migrations: applied (with when) and pending.

    \b
    Example:
      tally db migrations
      tally db migrations --json | jq '.[] | select(.status == "pending")'
    """
    from tally.database import connect
    from tally.migrations import status as migration_status

    with connect(target) as conn:
        states = migration_status(conn)
    if as_json:
        click.echo(json.dumps([state.as_dict() for state in states]))
        return
    for state in states:
        when = state.applied_at.strftime("%Y-%m-%d %H:%M:%S UTC") if state.applied_at else ""
        unknown = "" if state.known else "  (applied by a newer tally)"
        click.echo(
            f"{state.migration.label:<32} {'applied' if state.applied_at else 'pending':<8}"
            f" {when}{unknown}".rstrip()
        )


@db.command(context_settings=CONTEXT)
@target_option
@click.option(
    "--to",
    "version",
    type=click.IntRange(min=0),
    help="The version to end at, up or down (default: the newest; 0: none).",
)
@click.option(
    "--allow-data-loss",
    is_flag=True,
    help="Let a down migration drop tables or columns that hold data.",
)
@json_option
@audited
def migrate(target, version, allow_data_loss, as_json):
    """Apply or revert schema migrations, in one transaction; each step goes to the audit ledger.

    A down migration that would drop a table holding rows (or a column holding values) is
    refused, and nothing changes, unless --allow-data-loss is given. Any later command of this
    tally applies pending migrations again: go down only to run an older tally.

    \b
    Example:
      tally db migrate
      tally db migrate --to 11 --allow-data-loss
    """
    from tally.audit import note
    from tally.database import connect
    from tally.migrations import migrate_to

    with connect(target) as conn:
        steps = migrate_to(conn, version, allow_data_loss=allow_data_loss)
    note(schema_version=version)
    if as_json:
        click.echo(json.dumps([step.as_dict() for step in steps]))
    elif not steps:
        click.echo("nothing to do")
    for step in [] if as_json else steps:
        click.echo(f"{step.direction:<4} {step.migration.label} ({step.seconds:.2f} s)")


@db.command(name="backup", context_settings=CONTEXT)
@target_option
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@audited
def backup_(target, path):
    """Write a consistent backup of the target's database (every schema) to PATH.

    Loads may run meanwhile (a load not committed when the backup starts is not in it); a
    running rollup is waited for, and one that starts waits for the backup.

    \b
    Example:
      tally db backup backups/tally-$(date +%F).dump
    """
    from tally.audit import note
    from tally.backup import backup

    done = backup(target, path)
    note(backup={"path": str(done.path), "bytes": done.bytes, "seconds": round(done.seconds, 3)})
    click.echo(f"{done.path}: {done.bytes:,} bytes in {done.seconds:.1f} s")


@db.command(context_settings=CONTEXT)
@target_option
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@audited
def restore(target, path):
    """Replace the target's database with the backup in PATH, exactly, in one transaction.

    Every schema of the database is dropped and the backup's put back; if anything fails,
    nothing changed. Stop loads first: a load committing meanwhile is lost with the rest.

    \b
    Example:
      tally db restore backups/tally-2026-12-06.dump && tally rollup
    """
    from tally.audit import note
    from tally.backup import restore as restore_backup

    done = restore_backup(target, path)
    note(restore={"path": str(done.path), "seconds": round(done.seconds, 3)})
    click.echo(f"restored {done.path} in {done.seconds:.1f} s")


def main():
    """Run the CLI; a usage error is one line on stderr with exit status 2, as in Unix tools."""
    logs.configure(logs.requested_format(sys.argv[1:]))
    try:
        _run_cli()
    finally:
        # A command that ran dbt leaves hundreds of thousands of objects, which the interpreter's
        # collections at exit would walk for nothing: 0.4 s after a rollup, measured. Frozen,
        # they are freed by the process's exit instead.
        gc.freeze()


def _run_cli():
    try:
        status = cli.main(prog_name="tally", standalone_mode=False)
    except click.UsageError as error:
        where = error.ctx.command_path if error.ctx else "tally"
        if error.ctx:
            logs.configure(command=_command_name(error.ctx))
        click.echo(f"Error: {error.format_message()} (see '{where} --help')", err=True)
        sys.exit(error.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(130)
    sys.exit(status if isinstance(status, int) else 0)
