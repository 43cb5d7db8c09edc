"""`tally verify --target spark`: the checks that run on Spark.

The reconciliation report rebuilt and read, the dbt tests (every data test; the unit tests state
PostgreSQL's deltas and are disabled on Spark) and source freshness, as on PostgreSQL. Not on
Spark: the Great Expectations suites (GX's Spark datasource works, but tally's suites run
through its PostgreSQL datasource, with bounds queried from PostgreSQL), the rollup lag and the
unpriced-events check (queries through the PostgreSQL connection); docs/spark.md says why.
"""

from tally.spark.session import spark_session
from tally.verify import dbt_checks, reconciliation
from tally.verify.report import CheckResult, Report

SHOWN = 5


def _reconciliation(refresh_error: str | None) -> CheckResult:
    if refresh_error:
        return CheckResult("reconciliation", "error", f"report not rebuilt: {refresh_error}")
    report = spark_session().table("analytics.rpt_usage_reconciliation")
    total = report.count()
    mismatching = report.where("status != 'ok'").orderBy("usage_date", "org_id")
    mismatched = mismatching.count()
    first = [
        f"{row.org_id} {row.usage_date}"
        for row in mismatching.select("org_id", "usage_date").limit(SHOWN).collect()
    ]
    data = {"org_dates": total, "mismatches": mismatched, "first": first}
    if mismatched:
        detail = f"{mismatched} of {total} org-dates mismatch: " + "; ".join(first)
        return CheckResult("reconciliation", "fail", detail, data)
    detail = f"{total} org-dates: raw = daily = hourly on counts, tokens, cost"
    return CheckResult("reconciliation", "pass", detail, data)


def run_checks() -> Report:
    report = Report()
    refresh_error = reconciliation.refresh_report("spark")  # starts Spark in this process
    report.add(dbt_checks.dbt_tests("spark"))
    report.add(_reconciliation(refresh_error))
    report.add(dbt_checks.source_freshness("spark"))
    return report
