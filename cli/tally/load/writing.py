"""Checked records from `stage` into the raw tables: quarantine, first-loaded-wins, conflicts."""

from dataclasses import dataclass, field

import psycopg

from tally.load.kinds import Kind
from tally.load.staging import Stage
from tally.load.validation import checked_sql, typed


@dataclass
class Counts:
    read: int = 0
    loaded: int = 0
    duplicate: int = 0
    conflicting: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def write_batch(
    conn: psycopg.Connection, kind: Kind, stage: Stage, batch_id: int, file_name: str
) -> Counts:
    checked = checked_sql(kind, stage)
    params = {"batch_id": batch_id, "file_name": file_name}
    counts = Counts()
    counts.quarantined = conn.execute(
        f"insert into raw.quarantine (batch_id, file_name, record_number, record, reason)"
        f" select %(batch_id)s, %(file_name)s, k.record_number, k.record, k.reason"
        f" from {checked} as k where k.reason is not null",
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
    on_conflict = f" on conflict ({kind.unique_key}) do nothing" if kind.unique_key else ""
    counts.loaded = conn.execute(
        f"insert into {kind.table} ({columns}, batch_id, record_number)"
        f" select {', '.join(typed(kind))}, %(batch_id)s, k.record_number"
        f" from {checked} as k where k.reason is null"
        f" order by k.record_number{on_conflict}",
        params,
    ).rowcount
    counts.read = _count_records(conn, stage)
    counts.duplicate = counts.read - counts.quarantined - counts.loaded
    if kind.name == "events" and counts.duplicate:
        counts.conflicting = _record_conflicts(conn, kind, checked, params)
    return counts


def _count_records(conn: psycopg.Connection, stage: Stage) -> int:
    blank = "line is null or btrim(line, E' \\t\\r') = ''" if stage.format == "jsonl" else "false"
    return conn.execute(f"select count(*) filter (where not ({blank})) from stage").fetchone()[0]


def _record_conflicts(conn: psycopg.Connection, kind: Kind, checked: str, params: dict) -> int:
    """Duplicates of this batch whose fields differ from the record that won; returns how many."""
    names = [f for f in kind.field_names if f != "event_id"]
    casts = dict(zip(kind.field_names, typed(kind), strict=True))
    winner = ", ".join(f"e.{name}" for name in names)
    loser = ", ".join(casts[name] for name in names)
    record = ", ".join(f"'{name}', {casts[name]}" for name in kind.field_names)
    return conn.execute(
        f"insert into raw.event_conflicts (event_id, batch_id, record_number, record)"
        f" select k.event_id, %(batch_id)s, k.record_number, jsonb_build_object({record})"
        f" from {checked} as k join raw.events as e on e.event_id = k.event_id"
        f" where k.reason is null"
        f" and (e.batch_id, e.record_number) <> (%(batch_id)s, k.record_number)"
        f" and ({winner}) is distinct from ({loser})",
        params,
    ).rowcount
