"""The Great Expectations suites of `tally verify`, kept as code: one module per suite.

Each module names the table it validates (SCHEMA, TABLE), a LABEL for the verify table, and
`expectations(gxe)` returning the suite's expectations (`gxe` is great_expectations.expectations,
passed in so that importing this package costs nothing). Values known only at run time (row
count bounds) are suite parameters, `{"$PARAMETER": name}`, filled by `parameters(tables)` below.
The SQL of the suites' unexpected-rows queries is the SQL both PostgreSQL and Spark read.
What each suite checks, and why it is not a dbt test, is in docs/data-quality.md.
"""

from tally.verify.suites import (
    fct_usage_daily,
    fct_usage_hourly,
    raw_events,
    rpt_usage_reconciliation,
)

SUITES = (raw_events, fct_usage_hourly, fct_usage_daily, rpt_usage_reconciliation)


def parameters(tables) -> dict[str, int]:
    """Run-time bounds: a rollup has at least one row when any event counts, and never more rows
    than there are counted (not voided) events, since every row holds at least one request."""
    [(counted,)] = tables.rows(
        """
        select count(*)
        from raw.events as events
        where not exists (select 1 from raw.voids as voids where voids.event_id = events.event_id)
        """
    )
    return {"min_rollup_rows": min(counted, 1), "max_rollup_rows": counted}
