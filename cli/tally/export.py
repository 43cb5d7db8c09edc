"""`tally export`: every row of a table of `analytics` to CSV or Parquet, in grain order, streamed.

Reading and writing meet at an Arrow `RecordBatchReader`: one small reader per engine
(`READERS`) turns a table into batches, one writer per file format (`WRITERS`) writes them.
Neither holds the table: memory stays at a few batches whatever the table's size.

PostgreSQL: `COPY (select ... order by <grain>) TO STDOUT (FORMAT csv)` read in chunks and
parsed by Arrow's streaming CSV reader into types taken from the catalog. The grain is the
columns of the table's unique index (a view's base table's); a table without one is ordered by
all its columns, whose leading ones are its grain.
"""

import io
import os
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from tally.errors import TallyError
from tally.targets import POSTGRES_TARGETS

SCHEMA = "analytics"
BLOCK_BYTES = 1 << 20  # Arrow parses the COPY stream a megabyte at a time


def export_table(target: str, table: str, out: Path) -> int:
    """Write every row of analytics.<table> to `out` (.csv or .parquet); returns the row count.
    The file appears whole or not at all: rows go to a temporary file renamed at the end."""
    write = WRITERS.get(out.suffix.lower())
    if write is None:
        raise TallyError(
            f"cannot export to '{out.name}': the file name must end in " + " or ".join(WRITERS)
        )
    read = READERS.get(engine(target))
    if read is None:
        raise TallyError(f"target '{target}' cannot be exported from")
    partial = out.with_name(f".{out.name}.partial")
    try:
        with read(target, table) as batches:
            rows = write(batches, partial)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return rows


def engine(target: str) -> str:
    return "postgres" if target in POSTGRES_TARGETS else target


def _write_csv(batches: pa.RecordBatchReader, path: Path) -> int:
    rows = 0
    with pa_csv.CSVWriter(path, batches.schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def _write_parquet(batches: pa.RecordBatchReader, path: Path) -> int:
    rows = 0
    with pq.ParquetWriter(path, batches.schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


WRITERS = {".csv": _write_csv, ".parquet": _write_parquet}


# PostgreSQL

_POSTGRES_TYPES = {
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp with time zone": pa.timestamp("us", "UTC"),
    "timestamp without time zone": pa.timestamp("us"),
    "double precision": pa.float64(),
    "real": pa.float32(),
}

_GRAIN_SQL = """
with relation as (
    -- a view over one relation (fct_usage_daily over its latest version) takes its grain
    select coalesce(
        (select min(dependency.refobjid)::regclass
         from pg_rewrite as rewrite
         join pg_depend as dependency
             on dependency.objid = rewrite.oid
             and dependency.classid = 'pg_rewrite'::regclass
             and dependency.refobjid != rewrite.ev_class
         where rewrite.ev_class = %(relation)s::regclass
         having count(distinct dependency.refobjid) = 1),
        %(relation)s::regclass
    ) as oid
)
select array(
    select attribute.attname::text
    from unnest(index.indkey) with ordinality as key (attnum, position)
    join pg_attribute as attribute
        on attribute.attrelid = index.indrelid and attribute.attnum = key.attnum
    order by key.position
)
from pg_index as index
where index.indrelid = (select oid from relation) and index.indisunique
order by index.indisprimary desc, index.indnatts, index.indexrelid
limit 1
"""


class _CopyStream(io.RawIOBase):
    """A readable file over the chunks of a COPY TO STDOUT, for Arrow's CSV reader."""

    def __init__(self, copy):
        self._chunks = iter(copy)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def at_end(self) -> bool:
        """No byte left (Arrow refuses to open an empty CSV stream: a table without rows)."""
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return True
            self._pending = memoryview(chunk)
        return False

    def readinto(self, buffer) -> int:
        """Fills the buffer whole (but at the end): COPY sends a row per chunk, and Arrow
        makes a batch of each read."""
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view) and not self.at_end():
            size = min(len(view) - filled, len(self._pending))
            view[filled : filled + size] = self._pending[:size]
            self._pending = self._pending[size:]
            filled += size
        return filled


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _postgres_columns(conn, table: str) -> list[tuple[str, pa.DataType | None]]:
    """(name, Arrow type) of each column; the type None for a numeric without a declared scale,
    whose scale is read from the data."""
    rows = conn.execute(
        "select column_name, data_type, numeric_precision, numeric_scale"
        " from information_schema.columns where table_schema = %s and table_name = %s"
        " order by ordinal_position",
        [SCHEMA, table],
    ).fetchall()
    if not rows:
        known = [
            name
            for (name,) in conn.execute(
                "select table_name from information_schema.tables where table_schema = %s"
                " order by 1",
                [SCHEMA],
            )
        ]
        raise TallyError(
            f"no table {SCHEMA}.{table}; tables: {', '.join(known)}"
            if known
            else f"no table {SCHEMA}.{table}: schema {SCHEMA} is empty (run `tally rollup`)"
        )
    columns = []
    for name, data_type, precision, scale in rows:
        if data_type == "numeric":
            arrow_type = None if precision is None else _decimal(precision, scale)
        else:
            arrow_type = _POSTGRES_TYPES.get(data_type, pa.string())
        columns.append((name, arrow_type))
    return columns


def _decimal(precision: int, scale: int) -> pa.DataType:
    precision = max(precision, scale, 1)
    if precision <= 38:
        return pa.decimal128(precision, scale)
    if precision <= 76:
        return pa.decimal256(precision, scale)
    raise TallyError(f"a numeric of {precision} digits does not fit a decimal column")


def _unbounded_numerics(conn, relation: str, columns) -> dict[str, pa.DataType]:
    """An exact decimal type for each numeric column without a declared scale: 38 digits (76
    when its values need more) with the largest scale found (one pass over the table)."""
    names = [name for name, arrow_type in columns if arrow_type is None]
    if not names:
        return {}
    found = conn.execute(
        "select "
        + ", ".join(
            f"coalesce(max(scale({_quoted(n)})), 0),"
            f" coalesce(max(length(trunc(abs({_quoted(n)}))::text)), 1)"
            for n in names
        )
        + f" from {relation}"
    ).fetchone()
    return {
        name: _decimal(max(38, found[2 * i] + found[2 * i + 1]), found[2 * i])
        for i, name in enumerate(names)
    }


def _postgres_grain(conn, relation: str, columns) -> list[str]:
    row = conn.execute(_GRAIN_SQL, {"relation": relation}).fetchone()
    names = {name for name, _ in columns}
    if row and row[0] and set(row[0]) <= names:
        return row[0]
    return [name for name, _ in columns]


@contextmanager
def read_postgres(target: str, table: str) -> Iterator[pa.RecordBatchReader]:
    """analytics.<table> of a PostgreSQL target as a stream of Arrow batches, in grain order."""
    from tally.database import connect

    with connect(target) as conn:
        conn.execute("set transaction isolation level repeatable read, read only")
        columns = _postgres_columns(conn, table)
        relation = f"{SCHEMA}.{_quoted(table)}"
        exact = _unbounded_numerics(conn, relation, columns)
        schema = pa.schema([(name, arrow_type or exact[name]) for name, arrow_type in columns])
        # COPY writes every type as its text form; Arrow parses it into the schema's types
        select_list = ", ".join(_quoted(name) for name, _ in columns)
        order = ", ".join(_quoted(name) for name in _postgres_grain(conn, relation, columns))
        cursor = conn.cursor()
        with cursor.copy(
            f"copy (select {select_list} from {relation} order by {order}) to stdout (format csv)"
        ) as copy:
            stream = _CopyStream(copy)
            if stream.at_end():
                yield pa.RecordBatchReader.from_batches(schema, [])
                return
            parsed = pa_csv.open_csv(
                stream,
                read_options=pa_csv.ReadOptions(
                    column_names=schema.names, block_size=BLOCK_BYTES, use_threads=False
                ),
                convert_options=pa_csv.ConvertOptions(
                    column_types=schema,
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                    true_values=["t"],
                    false_values=["f"],
                ),
            )
            yield pa.RecordBatchReader.from_batches(schema, parsed)


# Spark

BUCKETS = ("usage_hour", "usage_date")  # a rollup's partition column, last in Spark's tables


@contextmanager
def read_spark(target: str, table: str) -> Iterator[pa.RecordBatchReader]:
    """analytics.<table> of the spark target in grain order: the time bucket first, as on
    PostgreSQL, then the other columns, sorted by all of them (NULLs last, as PostgreSQL sorts).
    Spark hands the result over whole (toArrow in local mode, rows from a Thrift server), so the
    table must fit in this process's memory."""
    from tally.spark.environment import is_local

    if not is_local():
        from tally.spark import thrift

        with closing(thrift.connect()) as connection:
            if not thrift.table_exists(connection, f"{SCHEMA}.{table}"):
                raise TallyError(f"no table {SCHEMA}.{table} on the spark target")
            yield thrift.read_table(connection, f"{SCHEMA}.{table}", list(BUCKETS)).to_reader()
        return
    from pyspark.sql import functions

    from tally.spark.session import spark_session

    session = spark_session()
    if not session.catalog.tableExists(f"{SCHEMA}.{table}"):
        raise TallyError(f"no table {SCHEMA}.{table} on the spark target")
    frame = session.table(f"{SCHEMA}.{table}")
    front = [name for name in BUCKETS if name in frame.columns]
    columns = front + [name for name in frame.columns if name not in front]
    ordered = frame.select(*columns).orderBy(*(functions.asc_nulls_last(c) for c in columns))
    yield ordered.toArrow().to_reader()


READERS = {"postgres": read_postgres, "spark": read_spark}
