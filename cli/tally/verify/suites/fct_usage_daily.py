"""analytics.fct_usage_daily (the latest version): sane size, no date in the future, sane
measures."""

from tally.verify.suites._rollups import rollup_expectations

NAME = "fct_usage_daily"
LABEL = "gx: fct_usage_daily"
SCHEMA, TABLE = "analytics", "fct_usage_daily"


def expectations(gxe) -> list:
    # The latest allowed instant is now + 24 h (the loader's tolerance); in the furthest-ahead
    # time zone (+14:00) its local date is that of now + 38 h in UTC (both engines' sessions
    # run in UTC, so the cast to a date is UTC's).
    return rollup_expectations(
        gxe,
        "select * from {batch} where usage_date > cast(now() + interval '38 hours' as date)",
        "No usage_date beyond tomorrow in the furthest-ahead time zone (+14:00)",
    )
