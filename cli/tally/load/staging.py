"""Checked batches into a temporary, typed `stage` table by COPY, one stream per file."""

import io

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from tally.load.kinds import Kind
from tally.load.parsing import Restart, batches, csv_slowly
from tally.load.reading import ByteSource
from tally.load.validation import Context, check

PG_TYPES = {"timestamp": "timestamptz", "bigint": "bigint"}
_CSV = pacsv.WriteOptions(include_header=False)


def create_stage(conn: psycopg.Connection, kind: Kind) -> list[str]:
    columns = ["record_number", "quarantine_reason", "record", *kind.field_names]
    types = ["bigint", "text", "text", *(PG_TYPES.get(f.type, "text") for f in kind.fields)]
    conn.execute(
        sql.SQL("create temp table stage ({}) on commit drop").format(
            sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t))
                for c, t in zip(columns, types, strict=True)
            )
        )
    )
    return columns


def _naive_utc(table: pa.Table) -> pa.Table:
    """Timestamps as naive UTC: pyarrow writes them ~20x faster than zoned ones, and the
    session's time zone is UTC, so PostgreSQL reads back the same instants."""
    for i, column in enumerate(table.columns):
        if pa.types.is_timestamp(column.type) and column.type.tz:
            table = table.set_column(i, table.field(i).name, column.cast(pa.timestamp("us")))
    return table


def _copy(conn: psycopg.Connection, columns: list[str], kind: Kind, stream, context) -> int:
    """COPY every batch of `stream`; returns the number of records."""
    records = 0
    statement = sql.SQL("copy stage ({}) from stdin (format csv)").format(
        sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.cursor().copy(statement) as copy:
        for batch in stream:
            table = _naive_utc(check(kind, batch, context))
            records += table.num_rows
            buffer = io.BytesIO()
            pacsv.write_csv(table, buffer, _CSV)
            copy.write(buffer.getbuffer())
    return records


def stage_file(
    conn: psycopg.Connection, fmt: str, kind: Kind, source: ByteSource, context: Context
) -> int:
    """Stage every record of a file; returns how many. Raises FileRejected for a bad file."""
    columns = create_stage(conn, kind)
    try:
        with conn.transaction():
            records = _copy(conn, columns, kind, batches(fmt, kind, source), context)
    except Restart:
        records = _copy(conn, columns, kind, csv_slowly(kind, source), context)
    conn.execute("analyze stage")  # the planner's row counts for what follows
    return records
