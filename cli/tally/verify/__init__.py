"""`tally verify`: every data-quality check at once, with one verdict.

The checks, in order (docs/data-quality.md says which layer checks what and why):

- rollups current: load batches committed after the rollups' watermark (warn);
- reconciliation: rebuilds analytics.rpt_usage_reconciliation when the rollups are current, so it
  compares the tables as they are now, then names the first mismatching org/dates (fail);
- dbt tests: `dbt test`, every data test and unit test (fail);
- gx: one row per Great Expectations suite, Data Docs under $TALLY_HOME/gx (fail);
- source freshness: `dbt source freshness` (warn after warn_after, fail after error_after);
- unpriced events: events without a price, by model_id (warn).

A check that cannot run at all reports `error`, which fails the run like `fail` does. On Spark
the same checks run (tally.spark.verify), their SQL through `tally.verify.tables`.
"""

import click

from tally import locks
from tally.verify.report import CheckResult, Report


def run_checks(target: str) -> Report:
    from tally.targets import is_spark

    if is_spark(target):
        from tally.spark.verify import run_checks as run_checks_on_spark

        return run_checks_on_spark()
    from tally.database import connect
    from tally.migrations import apply_pending
    from tally.paths import tally_home
    from tally.targets import database_url
    from tally.verify import dbt_checks, reconciliation
    from tally.verify.gx_checks import Worker
    from tally.verify.tables import PostgresTables

    report = Report()
    url = database_url(target)
    gx = Worker(tally_home())  # imports GX meanwhile
    try:
        with connect(target, autocommit=True) as conn:
            apply_pending(conn)
            tables = PostgresTables(conn)
            # The rollups hold still while they are checked: a `tally rollup` waits for verify
            # to end, and verify waits for a running one. Loads go on; they change no rollup.
            if not conn.execute("select pg_try_advisory_lock(%s)", [locks.ROLLUP]).fetchone()[0]:
                click.echo("waiting for a running tally rollup to finish...", err=True)
                conn.execute("select pg_advisory_lock(%s)", [locks.ROLLUP])
            lag, current = reconciliation.rollup_lag(tables)
            report.add(lag)
            refresh_error = reconciliation.refresh_report(target) if current else None
            recon = reconciliation.reconciliation(tables, refresh_error, rebuilt=current)
            gx.start(url, guarded_parameters(tables))  # validates while dbt runs below
            tests = guarded("dbt tests", dbt_checks.dbt_tests, target)
            freshness = guarded("source freshness", dbt_checks.source_freshness, target)
            unpriced = guarded("unpriced events", reconciliation.unpriced, tables)
            gx_results, report.data_docs = gx.results()
            for result in (tests, *gx_results, recon, freshness, unpriced):
                report.add(result)
    finally:
        gx.stop()
    return report


def guarded_parameters(tables) -> dict:
    """The suites' run-time parameters; without raw.events (nothing loaded) the bounds are 0."""
    from tally.verify import suites

    try:
        return suites.parameters(tables)
    except Exception:  # noqa: BLE001 - the raw suite then reports the missing table
        return {"min_rollup_rows": 0, "max_rollup_rows": 0}


def guarded(name: str, check, *args) -> CheckResult:
    """Run one check; an exception becomes an `error` row instead of ending the run."""
    try:
        return check(*args)
    except Exception as error:  # noqa: BLE001 - reported, not swallowed
        return CheckResult(name, "error", one_line(error))


def one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]


__all__ = ["CheckResult", "Report", "guarded", "guarded_parameters", "one_line", "run_checks"]
