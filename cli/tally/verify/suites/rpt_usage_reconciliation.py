"""analytics.rpt_usage_reconciliation: no mismatch, and which measure disagrees when one does.

dbt's singular test and verify's `reconciliation` check read the same `status`; the pairwise
expectations here say, in Data Docs, which comparison broke (counts, tokens or cost; the daily or
the hourly rollup) and show the unexpected rows.
"""

NAME = "rpt_usage_reconciliation"
LABEL = "gx: reconciliation"
SCHEMA, TABLE = "analytics", "rpt_usage_reconciliation"

PAIRS = (
    ("raw_request_count", "daily_request_count"),
    ("raw_total_tokens", "daily_total_tokens"),
    ("raw_hour_basis_request_count", "hourly_request_count"),
    ("raw_hour_basis_total_tokens", "hourly_total_tokens"),
)


def expectations(gxe) -> list:
    return [
        gxe.ExpectTableRowCountToBeBetween(min_value={"$PARAMETER": "min_rollup_rows"}),
        gxe.ExpectColumnValuesToBeInSet(column="status", value_set=["ok"]),
        *(gxe.ExpectColumnPairValuesToBeEqual(column_A=a, column_B=b) for a, b in PAIRS),
        gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=(
                "select * from {batch}"
                " where raw_cost_usd is distinct from daily_cost_usd"
                " or raw_hour_basis_cost_usd is distinct from hourly_cost_usd"
            ),
            description="Cost agrees between the raw events and both rollups (NULL = unpriced)",
        ),
    ]
