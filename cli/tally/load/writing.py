"""The staged records into the raw tables: quarantine, first loaded wins, conflicts."""

from dataclasses import dataclass, field

import psycopg

from tally.load.kinds import Kind


@dataclass
class Counts:
    read: int = 0
    loaded: int = 0
    duplicate: int = 0
    conflicting: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def write_batch(conn: psycopg.Connection, kind: Kind, batch_id: int, file_name: str) -> Counts:
    params = {"batch_id": batch_id, "file_name": file_name}
    counts = Counts()
    counts.quarantined = conn.execute(
        "insert into raw.quarantine (batch_id, file_name, record_number, record, reason)"
        " select %(batch_id)s, %(file_name)s, record_number, record, quarantine_reason"
        " from stage where quarantine_reason is not null",
        params,
    ).rowcount
    if counts.quarantined:
        counts.reasons = dict(
            conn.execute(
                "select reason, count(*) from raw.quarantine where batch_id = %s"
                " group by reason order by count(*) desc, reason",
                [batch_id],
            ).fetchall()
        )
    columns = ", ".join(kind.field_names)
    if not kind.unique_key:
        counts.loaded = conn.execute(
            f"insert into {kind.table} ({columns}, batch_id, record_number)"
            f" select {columns}, %(batch_id)s, record_number from stage"
            f" where quarantine_reason is null order by record_number",
            params,
        ).rowcount
        return counts
    # First loaded wins: within the file the first record of each key (by record number);
    # against earlier batches, a key already loaded. One sort by key decides both and leaves
    # the winners in key order, which is also the cheapest order to add them to the index.
    key = kind.unique_key
    conn.execute(
        f"create temp table keyed on commit drop as"
        f" select s.*, row_number() over (partition by s.{key} order by s.record_number) = 1"
        f" and not exists (select from {kind.table} as t where t.{key} = s.{key}) as wins"
        f" from stage as s where s.quarantine_reason is null"
    )
    # A plain insert, twice as fast as ON CONFLICT: a concurrent load that commits one of these
    # keys first makes it fail with a unique violation, and the file loads again.
    counts.loaded = conn.execute(
        f"insert into {kind.table} ({columns}, batch_id, record_number)"
        f" select {columns}, %(batch_id)s, record_number from keyed where wins",
        params,
    ).rowcount
    return counts


def record_conflicts(conn: psycopg.Connection, kind: Kind, batch_id: int) -> int:
    """Duplicates of this batch whose fields differ from the record that won; returns how many."""
    names = [f for f in kind.field_names if f != "event_id"]
    winner = ", ".join(f"e.{name}" for name in names)
    loser = ", ".join(f"k.{name}" for name in names)
    record = ", ".join(f"'{name}', k.{name}" for name in kind.field_names)
    return conn.execute(
        f"insert into raw.event_conflicts (event_id, batch_id, record_number, record)"
        f" select k.event_id, %(batch_id)s, k.record_number, jsonb_build_object({record})"
        f" from keyed as k join raw.events as e on e.event_id = k.event_id"
        f" where not k.wins and ({winner}) is distinct from ({loser})",
        {"batch_id": batch_id},
    ).rowcount
