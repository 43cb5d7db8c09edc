"""Expectations shared by the hourly and daily rollup suites."""

from tally import measures


def rollup_expectations(gxe, future_rows_query: str, future_description: str) -> list:
    """Row count in range, no period in the future, measures non-negative (as column minimums,
    whose observed values Data Docs show), and an error ratio between 0 and 1 in every row."""
    return [
        gxe.ExpectTableRowCountToBeBetween(
            min_value={"$PARAMETER": "min_rollup_rows"},
            max_value={"$PARAMETER": "max_rollup_rows"},
        ),
        gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=future_rows_query, description=future_description
        ),
        *(
            gxe.ExpectColumnMinToBeBetween(column=measure, min_value=0)
            for measure in measures.names()
        ),
        gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=(
                "select * from {batch} where request_count <= 0"
                " or error_count * 1.0 / request_count not between 0 and 1"
            ),
            description="The error ratio (error_count / request_count) is between 0 and 1",
        ),
    ]
