"""A user's Spark Thrift Server, as the tally process reads it: the tables dbt wrote there, through
PyHive (the driver dbt-spark's thrift method uses). In local mode the tally process holds the
Spark session itself (tally.spark.session); with a Thrift server it holds a connection.

The connection takes the profile's session settings that change a result (UTC, exact decimals,
ANSI off as dbt-spark sets it), so tally reads what dbt wrote as dbt wrote it.
"""

import os
import re

import pyarrow as pa

# A Thrift server applies a session's settings given as `set:hiveconf:<key>` and ignores plain keys.
SESSION_SETTINGS = {
    "set:hiveconf:spark.sql.ansi.enabled": "false",
    "set:hiveconf:spark.sql.session.timeZone": "UTC",
    "set:hiveconf:spark.sql.decimalOperations.allowPrecisionLoss": "false",
}


def server() -> tuple[str, int, str]:
    """Host, port and user: TALLY_SPARK_HOST, TALLY_SPARK_PORT (10000), TALLY_SPARK_USER."""
    return (
        os.environ["TALLY_SPARK_HOST"],
        int(os.environ.get("TALLY_SPARK_PORT") or 10000),
        os.environ.get("TALLY_SPARK_USER") or "tally",
    )


def sqlalchemy_url() -> str:
    """The server as SQLAlchemy names it (PyHive's `hive` dialect), for Great Expectations."""
    host, port, user = server()
    return f"hive://{user}@{host}:{port}/default"


def connect():
    from pyhive import hive

    host, port, user = server()
    return hive.connect(host=host, port=port, username=user, configuration=SESSION_SETTINGS)


def table_exists(connection, table: str) -> bool:
    schema, name = table.split(".")
    cursor = connection.cursor()
    cursor.execute(f"show tables in {schema} like '{name}'")
    return bool(cursor.fetchall())


_DECIMAL = re.compile(r"decimal\((\d+),\s*(\d+)\)")
_TYPES = {
    "bigint": pa.int64(),
    "int": pa.int32(),
    "smallint": pa.int16(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "string": pa.string(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


def arrow_type(spark_type: str) -> pa.DataType:
    """The Arrow type of a column as Spark's `describe` names it (bigint, decimal(38,12), ...)."""
    found = _DECIMAL.fullmatch(spark_type)
    if found:
        return pa.decimal128(int(found.group(1)), int(found.group(2)))
    return _TYPES[spark_type]


def read_table(connection, table: str, first: list[str]) -> pa.Table:
    """A table whole, the `first` columns that it has first, sorted by all its columns (NULLs
    last, as PostgreSQL sorts)."""
    cursor = connection.cursor()
    cursor.execute(f"describe {table}")
    described = []
    for name, spark_type, _ in cursor.fetchall():
        if not name or name.startswith("#"):
            break  # the partition section repeats the partition column
        described.append((name, spark_type))
    types = dict(described)
    columns = [name for name in first if name in types]
    columns += [name for name, _ in described if name not in columns]
    schema = pa.schema([(name, arrow_type(types[name])) for name in columns])
    listed = ", ".join(columns)
    order = ", ".join(f"{name} asc nulls last" for name in columns)
    cursor.execute(f"select {listed} from {table} order by {order}")
    rows = cursor.fetchall()
    return pa.table(
        [_column([row[i] for row in rows], field.type) for i, field in enumerate(schema)],
        schema=schema,
    )


def _column(values: list, arrow: pa.DataType) -> pa.Array:
    if pa.types.is_date(arrow):  # PyHive hands dates over as ISO text
        return pa.array(values, pa.string()).cast(arrow)
    return pa.array(values, type=arrow)
