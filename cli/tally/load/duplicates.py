"""First loaded wins: a copied batch gives up the records whose key was there before it.

A record of the batch loses when its key is held by an earlier batch (any other visible batch
committed before this one) or by an earlier record of the same file. The losers are removed
before commit, so the primary key finds each key once: deferred (migration 0011) on the
incremental path, where a concurrent load that commits one of the same keys meanwhile makes the
final check fail and the file loads again; built again after the losers are gone in bulk mode
(tally.load.bulk), where no other load can write the table until this one commits.
"""

import psycopg
from psycopg import errors

from tally.load.bulk import DroppedKey, build_key
from tally.load.copying import ASIDE_TABLE
from tally.load.kinds import Kind


def drop_duplicates(conn: psycopg.Connection, kind: Kind, batch_id: int) -> int:
    """Remove the batch's records that lose to an earlier one and check the keys that are left;
    returns how many were removed."""
    try:  # the common case, a file of new keys: PostgreSQL checks only keys that met another row
        with conn.transaction():
            conn.execute("set constraints all immediate")
        return 0
    except errors.UniqueViolation:
        pass
    # Each record of the batch looks up its key by index (a LATERAL subquery with LIMIT stays
    # one lookup per record). As a plain EXISTS, the planner could take a nested loop that reads
    # the whole table per record when the statistics say the table is empty: autovacuum's
    # analyze while a load is under way sees none of its rows. Measured: 160,000 events, minutes
    # instead of 0.3 s.
    key = kind.unique_key
    conn.execute(
        f"create temp table losers on commit drop as"
        f" select n.ctid as row_id, n.* from {kind.table} as n"
        f" cross join lateral ("
        f"   select from {kind.table} as o where o.{key} = n.{key}"
        f"   and (o.batch_id <> n.batch_id or o.record_number < n.record_number) limit 1"
        f" ) as earlier"
        f" where n.batch_id = %(batch_id)s",
        {"batch_id": batch_id},
    )
    dropped = _delete_losers(conn, kind)
    conn.execute("set constraints all immediate")
    return dropped


def drop_duplicates_in_bulk(
    conn: psycopg.Connection, kind: Kind, batch_id: int, key: DroppedKey
) -> int:
    """The same in bulk mode, where the table's key is dropped; builds the key again and
    returns how many records were removed.

    Into an empty table, the records whose key may repeat were set aside (tally.load.copying),
    so the copied keys are distinct: the key is built at once, and of the records set aside, the
    earliest of each key joins the table unless the table holds its key already. Otherwise one
    sort of the table by key finds the losers, each right after the record it loses to.
    """
    if key.table_was_empty:
        build_key(conn, key)
        return _settle_set_aside(conn, kind)
    column = kind.unique_key
    conn.execute(
        f"create temp table losers on commit drop as"
        f" select ctid as row_id, * from {kind.table} where ctid = any(array("
        f"   select row_id from ("
        f"     select ctid as row_id, batch_id, {column}, lag({column}) over ("
        f"       order by {column}, batch_id = %(batch_id)s, record_number) as previous"
        f"     from {kind.table}) as ordered"
        f"   where {column} = previous and batch_id = %(batch_id)s))",
        {"batch_id": batch_id},
    )
    dropped = _delete_losers(conn, kind)
    build_key(conn, key)
    return dropped


def _delete_losers(conn: psycopg.Connection, kind: Kind) -> int:
    """Delete the rows of the temporary table `losers` (by their row_id) from the raw table."""
    return conn.execute(
        f"delete from {kind.table} where ctid = any(array(select row_id from losers))"
    ).rowcount


def _settle_set_aside(conn: psycopg.Connection, kind: Kind) -> int:
    """Of the records set aside, the losers are all but the earliest of each key, and the
    earliest too when the table holds its key (one lookup by index each); the rest join the
    table. Returns how many lost."""
    column = kind.unique_key
    columns = ", ".join(kind.stored_names)
    lost = conn.execute(
        f"create temp table losers on commit drop as select {columns} from ("
        f"   select *, row_number() over (partition by {column} order by record_number) as nth"
        f"   from {ASIDE_TABLE}) as a"
        f" left join lateral ("
        f"   select true as taken from {kind.table} as t where t.{column} = a.{column} limit 1"
        f" ) as held on true"
        f" where a.nth > 1 or held.taken"
    ).rowcount
    conn.execute(
        f"insert into {kind.table} ({columns}) select {columns} from {ASIDE_TABLE}"
        f" where record_number not in (select record_number from losers)"
    )
    return lost


def record_conflicts(conn: psycopg.Connection, kind: Kind, batch_id: int) -> int:
    """Losers whose fields differ from the record that won; returns how many."""
    names = [f for f in kind.field_names if f != "event_id"]
    winner = ", ".join(f"e.{name}" for name in names)
    loser = ", ".join(f"l.{name}" for name in names)
    record = ", ".join(f"'{name}', l.{name}" for name in kind.field_names)
    return conn.execute(  # the winner looked up by index, as in drop_duplicates
        f"insert into raw.event_conflicts (event_id, batch_id, record_number, record)"
        f" select l.event_id, %(batch_id)s, l.record_number, jsonb_build_object({record})"
        f" from losers as l cross join lateral ("
        f"   select * from raw.events as w where w.event_id = l.event_id limit 1) as e"
        f" where ({winner}) is distinct from ({loser})",
        {"batch_id": batch_id},
    ).rowcount
