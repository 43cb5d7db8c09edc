"""`tally verify --target spark`: verify's checks on Spark.

The same checks as on PostgreSQL: the rollup lag, the reconciliation report rebuilt (when the
rollups are current) and read, the dbt tests (every data test; the unit tests state PostgreSQL's
deltas and are disabled on Spark), the Great Expectations suites, source freshness and unpriced
events. Their SQL reads the tables through the Spark session of this process in local mode, or
through a connection to the user's Thrift server. Spark has no advisory lock: a `tally rollup`
running meanwhile is not waited for.
"""

from contextlib import closing

from tally.paths import tally_home
from tally.spark.environment import is_local
from tally.verify import (
    dbt_checks,
    guarded,
    guarded_parameters,
    gx_checks,
    one_line,
    reconciliation,
)
from tally.verify.report import CheckResult, Report
from tally.verify.tables import SparkTables, ThriftTables


def _gx_suites(batches, parameters: dict) -> tuple[list[CheckResult], str | None]:
    try:
        return gx_checks.run_suites(batches, tally_home(), parameters)
    except Exception as error:  # noqa: BLE001 - reported as the suites' error row
        return [CheckResult("gx suites", "error", one_line(error))], None


def run_checks() -> Report:
    if is_local():
        from tally.spark.session import spark_session

        session = spark_session()  # started through dbt, with the profile's settings
        return _checks(SparkTables(session), gx_checks.spark_batches(session))
    from tally.spark import thrift

    with closing(thrift.connect()) as connection:
        batches = gx_checks.thrift_batches(thrift.sqlalchemy_url(), thrift.SESSION_SETTINGS)
        return _checks(ThriftTables(connection), batches)


def _checks(tables, batches) -> Report:
    report = Report()
    lag, current = reconciliation.rollup_lag(tables)
    report.add(lag)
    refresh_error = reconciliation.refresh_report("spark") if current else None
    recon = reconciliation.reconciliation(tables, refresh_error, rebuilt=current)
    tests = guarded("dbt tests", dbt_checks.dbt_tests, "spark")
    gx_results, report.data_docs = _gx_suites(batches, guarded_parameters(tables))
    freshness = guarded("source freshness", dbt_checks.source_freshness, "spark")
    unpriced = guarded("unpriced events", reconciliation.unpriced, tables)
    for result in (tests, *gx_results, recon, freshness, unpriced):
        report.add(result)
    return report
