"""Bulk mode: a file at least as large as its table loads with the table's key dropped, and the
key is built again, by sort, before commit.

PostgreSQL keeps a B-tree up to date row by row at about 2.4 us a row on this machine, where
building it from the loaded table by sort costs about 0.7 us a row (docs/loading.md). Dropping
the key needs an ACCESS EXCLUSIVE lock on the table until commit: readers wait for the load. The
lock is asked for without waiting, so a load never queues behind a reader or another load; when
it is not free, the file takes the incremental path (first loaded wins either way). Only
autovacuum is waited for, briefly: PostgreSQL cancels an autovacuum that holds up a lock.
"""

from dataclasses import dataclass

import psycopg
from psycopg import errors, sql

from tally.load.discovery import InputFile
from tally.load.formats import FORMATS, GZIP_RATIO
from tally.load.kinds import Kind

# Below this, keeping the key up to date costs less than a second: not worth blocking readers.
MIN_RECORDS = 100_000
# How long a load waits for the table when only autovacuum holds it (vacuuming the dead rows of
# a killed load, say): PostgreSQL cancels an autovacuum that holds up a lock for longer than
# deadlock_timeout (1 s by default). Readers queue behind the load meanwhile.
AUTOVACUUM_PATIENCE = "3s"


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


def _table_records(conn: psycopg.Connection, kind: Kind) -> int:
    """The table's records as the ledger counts them: those of committed loads. Not the table's
    statistics: a key build writes pg_class.reltuples in place, outside the transaction, so a
    load killed after building its key left its records counted though they were rolled back,
    and the reload took the incremental path; nor the heap's size, which counts the dead rows
    of a killed load until a vacuum."""
    return conn.execute(
        "select coalesce(sum(records_loaded), 0) from raw.load_batches"
        " where kind = %s and status = 'loaded'",
        [kind.name],
    ).fetchone()[0]


def _lock(conn: psycopg.Connection, table: str) -> bool:
    """ACCESS EXCLUSIVE on the table, asked without waiting; when only autovacuum holds it,
    asked again waiting at most AUTOVACUUM_PATIENCE. False when it is not had."""
    try:
        with conn.transaction():
            conn.execute(f"lock table {table} in access exclusive mode nowait")
        return True
    except errors.LockNotAvailable:
        pass
    holders = conn.execute(
        "select array_agg(distinct a.backend_type) from pg_locks as l"
        " join pg_stat_activity as a on a.pid = l.pid"
        " where l.relation = %s::regclass and l.granted and l.pid <> pg_backend_pid()",
        [table],
    ).fetchone()[0]
    if holders != ["autovacuum worker"]:
        return False
    try:
        with conn.transaction():
            conn.execute(f"set local lock_timeout = '{AUTOVACUUM_PATIENCE}'")
            conn.execute(f"lock table {table} in access exclusive mode")
    except errors.LockNotAvailable:  # lock_timeout: an autovacuum against wraparound, say
        return False
    conn.execute("set local lock_timeout to default")
    return True


def drop_key(conn: psycopg.Connection, kind: Kind, file: InputFile) -> DroppedKey | None:
    """In bulk mode, drop the table's primary key for this transaction and say how to build it
    again; None when the file takes the incremental path."""
    records = estimated_records(file)
    if records < MIN_RECORDS or records < _table_records(conn, kind):
        return None
    if not _lock(conn, kind.table):
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
