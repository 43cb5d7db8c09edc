"""First loaded wins: a copied batch gives up the records whose key was there before it.

A record of the batch loses when its key is held by an earlier batch (any other visible batch
committed before this one) or by an earlier record of the same file. The losers are removed
before commit, so the deferred primary key (migration 0011) finds each key once; a concurrent
load that commits one of the same keys meanwhile makes the final check fail, and the file loads
again.
"""

import psycopg
from psycopg import errors

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
