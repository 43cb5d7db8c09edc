"""raw.events as loaded: ids present, tokens non-negative, statuses valid, nothing far in the
future. The loader validates every record and the table's constraints repeat the rules; this
suite audits the table itself, whoever wrote to it (docs/data-quality.md)."""

NAME = "raw_events"
LABEL = "gx: raw events"
SCHEMA, TABLE = "raw", "events"


def expectations(gxe) -> list:
    # event_id not null and unique are dbt tests on the source: not repeated here.
    return [
        gxe.ExpectColumnValueLengthsToBeBetween(column="event_id", min_value=1, max_value=128),
        gxe.ExpectColumnValuesToNotBeNull(column="org_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="model_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="event_time"),
        gxe.ExpectColumnValuesToBeBetween(column="input_tokens", min_value=0),
        gxe.ExpectColumnValuesToBeBetween(column="output_tokens", min_value=0),
        gxe.ExpectColumnValuesToBeBetween(column="latency_ms", min_value=0),
        gxe.ExpectColumnValuesToBeInSet(column="status", value_set=["success", "error"]),
        gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=(
                "select * from {batch} where event_time > loaded_at + interval '24 hours'"
            ),
            description="No event more than 24 h after its load (loaded_at)",
        ),
    ]
