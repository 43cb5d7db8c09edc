"""Bulk mode: a file at least as large as its table loads with the table's key dropped, and the
key is built again, by sort, before commit.

PostgreSQL keeps a B-tree up to date row by row at about 2.4 us a row on this machine, where
building it from the loaded table by sort costs about 0.7 us a row (docs/loading.md). Dropping
the key needs an ACCESS EXCLUSIVE lock on the table until commit: readers wait for the load. The
lock is asked for without waiting, so a load never queues behind a reader or another load; when
it is not free, the file takes the incremental path (first loaded wins either way).
"""

from dataclasses import dataclass

import psycopg
from psycopg import errors, sql

from tally.load.discovery import InputFile
from tally.load.formats import FORMATS, GZIP_RATIO
from tally.load.kinds import Kind

# Below this, keeping the key up to date costs less than a second: not worth blocking readers.
MIN_RECORDS = 100_000
# A heap row of raw.events is about 160 bytes; the estimate of a table never analysed.
_ROW_BYTES = 200


@dataclass(frozen=True)
class DroppedKey:
    table: str
    name: str
    definition: str
    table_was_empty: bool  # then only the file's own records can share a key


def estimated_records(file: InputFile) -> int:
    """The file's records as its format estimates them (tally.load.formats); 0 for none."""
    fmt = FORMATS[file.format]
    if fmt.count and not file.gzip:
        return fmt.count(file.path)
    if not fmt.record_bytes:
        return 0
    return file.path.stat().st_size * (GZIP_RATIO if file.gzip else 1) // fmt.record_bytes


def _table_records(conn: psycopg.Connection, table: str) -> float:
    return conn.execute(
        "select greatest(reltuples, pg_relation_size(oid) / %s) from pg_class"
        " where oid = %s::regclass",
        [_ROW_BYTES, table],
    ).fetchone()[0]


def drop_key(conn: psycopg.Connection, kind: Kind, file: InputFile) -> DroppedKey | None:
    """In bulk mode, drop the table's primary key for this transaction and say how to build it
    again; None when the file takes the incremental path."""
    records = estimated_records(file)
    if records < MIN_RECORDS or records < _table_records(conn, kind.table):
        return None
    try:
        with conn.transaction():
            conn.execute(f"lock table {kind.table} in access exclusive mode nowait")
    except errors.LockNotAvailable:
        return None
    name, definition = conn.execute(
        "select conname, pg_get_constraintdef(oid) from pg_constraint"
        " where conrelid = %s::regclass and contype = 'p'",
        [kind.table],
    ).fetchone()
    empty = conn.execute(f"select not exists (select from {kind.table})").fetchone()[0]
    conn.execute(
        sql.SQL("alter table {} drop constraint {}").format(
            sql.SQL(kind.table), sql.Identifier(name)
        )
    )
    return DroppedKey(kind.table, name, definition, empty)


def build_key(conn: psycopg.Connection, key: DroppedKey) -> None:
    """Build the dropped key again; fails if a key is still there twice."""
    conn.execute(
        sql.SQL("alter table {} add constraint {} {}").format(
            sql.SQL(key.table), sql.Identifier(key.name), sql.SQL(key.definition)
        )
    )
