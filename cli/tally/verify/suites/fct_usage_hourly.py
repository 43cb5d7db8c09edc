"""analytics.fct_usage_hourly: sane size, no hour in the future, sane measures."""

from tally.verify.suites._rollups import rollup_expectations

NAME = "fct_usage_hourly"
LABEL = "gx: fct_usage_hourly"
SCHEMA, TABLE = "analytics", "fct_usage_hourly"


def expectations(gxe) -> list:
    # An event may be stamped up to 24 h after its load (the contract's tolerance): its hour may
    # start up to 24 h from now, never later.
    return rollup_expectations(
        gxe,
        "select * from {batch} where usage_hour > now() + interval '24 hours'",
        "No usage_hour more than 24 h in the future",
    )
