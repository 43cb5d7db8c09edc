"""First loaded wins: a copied batch gives up the records whose key was there before it.

A record of the batch loses when its key is held by an earlier batch (any other visible batch
committed before this one) or by an earlier record of the same file. The losers are removed
before commit, so the primary key finds each key once: deferred (migration 0011) on the
incremental path, where a concurrent load that commits one of the same keys meanwhile makes the
final check fail and the file loads again; built again after the losers are gone in bulk mode
(tally.load.bulk), where no other load can write the table until this one commits.
"""

import psycopg
import pyarrow as pa
from psycopg import errors

from tally.load import pg_binary
from tally.load.kinds import Kind
from tally.load.repeats import RepeatFilter


def drop_duplicates(conn: psycopg.Connection, kind: Kind, batch_id: int) -> int:
    """Remove the batch's records that lose to an earlier one and check the keys that are left;
    returns how many were removed."""
    try:  # the common case, a file of new keys: PostgreSQL checks only keys that met another row
        with conn.transaction():
            conn.execute("set constraints all immediate")
        return 0
    except errors.UniqueViolation:
        pass
    key = kind.unique_key
    conn.execute(
        f"create temp table losers on commit drop as"
        f" select n.* from {kind.table} as n"
        f" where n.batch_id = %(batch_id)s and exists ("
        f"   select from {kind.table} as o where o.{key} = n.{key}"
        f"   and (o.batch_id <> n.batch_id or o.record_number < n.record_number))",
        {"batch_id": batch_id},
    )
    dropped = conn.execute(
        f"delete from {kind.table} as t using losers as l"
        f" where t.{key} = l.{key} and t.batch_id = %(batch_id)s"
        f" and t.record_number = l.record_number",
        {"batch_id": batch_id},
    ).rowcount
    conn.execute("set constraints all immediate")
    return dropped


def drop_duplicates_in_bulk(
    conn: psycopg.Connection, kind: Kind, batch_id: int, repeats: RepeatFilter | None
) -> int:
    """The same, for a table without its key (bulk mode); returns how many were removed.

    Into an empty table, only the keys the loader flagged as it read the file can repeat: one
    pass over the table finds their records. Otherwise one sort of the table by key finds the
    losers, each right after the record it loses to.
    """
    key = kind.unique_key
    if repeats is not None and not repeats.overflowed:
        conn.execute("create temp table flagged_keys (key text) on commit drop")
        with conn.cursor().copy("copy flagged_keys from stdin (format binary)") as copy:
            copy.write(pg_binary.HEADER)
            for keys in repeats.flagged():
                copy.write(pg_binary.rows(pa.table({"key": keys})))
            copy.write(pg_binary.TRAILER)
        conn.execute("analyze flagged_keys")
        conn.execute(
            f"create temp table loser_rows on commit drop as"
            f" with candidates as ("
            f"   select ctid as row_id, {key} as key, record_number from {kind.table}"
            f"   where {key} in (select key from flagged_keys))"
            f" select row_id from candidates as c where exists ("
            f"   select from candidates as w where w.key = c.key"
            f"   and w.record_number < c.record_number)"
        )
    else:
        conn.execute(
            f"create temp table loser_rows on commit drop as"
            f" select row_id from ("
            f"   select ctid as row_id, batch_id, {key}, lag({key}) over ("
            f"     order by {key}, batch_id = %(batch_id)s, record_number) as previous"
            f"   from {kind.table}) as ordered"
            f" where {key} = previous and batch_id = %(batch_id)s",
            {"batch_id": batch_id},
        )
    conn.execute(
        f"create temp table losers on commit drop as select * from {kind.table}"
        f" where ctid = any(array(select row_id from loser_rows))"
    )
    return conn.execute(
        f"delete from {kind.table} where ctid = any(array(select row_id from loser_rows))"
    ).rowcount


def record_conflicts(conn: psycopg.Connection, kind: Kind, batch_id: int) -> int:
    """Losers whose fields differ from the record that won; returns how many."""
    names = [f for f in kind.field_names if f != "event_id"]
    winner = ", ".join(f"e.{name}" for name in names)
    loser = ", ".join(f"l.{name}" for name in names)
    record = ", ".join(f"'{name}', l.{name}" for name in kind.field_names)
    return conn.execute(
        f"insert into raw.event_conflicts (event_id, batch_id, record_number, record)"
        f" select l.event_id, %(batch_id)s, l.record_number, jsonb_build_object({record})"
        f" from losers as l join raw.events as e on e.event_id = l.event_id"
        f" where ({winner}) is distinct from ({loser})",
        {"batch_id": batch_id},
    ).rowcount
