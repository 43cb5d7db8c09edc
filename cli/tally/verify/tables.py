"""The tables verify's SQL checks read, on either engine: a PostgreSQL connection, the Spark
session (local mode) or a Spark Thrift Server's connection, behind the same two calls. The
checks' queries are written in the SQL both engines read (no casts with `::`, no
`filter (where ...)`, no `to_regclass`)."""


class PostgresTables:
    def __init__(self, conn):
        self.conn = conn

    def exists(self, table: str) -> bool:
        return self.conn.execute("select to_regclass(%s) is not null", [table]).fetchone()[0]

    def rows(self, query: str) -> list[tuple]:
        return self.conn.execute(query).fetchall()


class SparkTables:
    def __init__(self, session):
        self.session = session

    def exists(self, table: str) -> bool:
        return self.session.catalog.tableExists(table)

    def rows(self, query: str) -> list[tuple]:
        return [tuple(row) for row in self.session.sql(query).collect()]


class ThriftTables:
    """A Spark Thrift Server through a DB-API connection (tally.spark.thrift)."""

    def __init__(self, connection):
        self.connection = connection

    def exists(self, table: str) -> bool:
        from tally.spark.thrift import table_exists

        return table_exists(self.connection, table)

    def rows(self, query: str) -> list[tuple]:
        cursor = self.connection.cursor()
        cursor.execute(query)
        return cursor.fetchall()
