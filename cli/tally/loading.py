"""`tally load`: files into the raw layer, one transaction per file."""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tally.errors import TallyError

COMMIT_LOCK_KEY = 7_424_912  # shared with macros/rollup_upper_bound.sql
EVENT_COLUMNS = (
    "event_id",
    "org_id",
    "user_id",
    "api_key_id",
    "model_id",
    "event_time",
    "input_tokens",
    "output_tokens",
    "status",
    "latency_ms",
)


@dataclass
class LoadResult:
    file_name: str
    loaded: int = 0
    duplicate: int = 0
    skipped: bool = False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def commit_batch(conn: psycopg.Connection, batch_id: int) -> None:
    """Mark a batch loaded and give it its commit_seq; the caller's transaction then commits."""
    conn.execute("select pg_advisory_xact_lock(%s)", [COMMIT_LOCK_KEY])
    conn.execute(
        "update raw.load_batches set status = 'loaded', finished_at = clock_timestamp(),"
        " commit_seq = nextval('raw.load_commit_seq') where batch_id = %s",
        [batch_id],
    )


def load_events_jsonl(conn: psycopg.Connection, path: Path) -> LoadResult:
    result = LoadResult(path.name)
    sha = _sha256(path)
    with conn.transaction():
        seen = conn.execute(
            "select 1 from raw.load_batches where kind = 'events' and file_sha256 = %s"
            " and status = 'loaded'",
            [sha],
        ).fetchone()
        if seen:
            result.skipped = True
            return result
        batch_id = conn.execute(
            "insert into raw.load_batches (kind, file_name, file_sha256, file_format, status)"
            " values ('events', %s, %s, 'jsonl', 'loaded') returning batch_id",
            [str(path), sha],
        ).fetchone()[0]
        conn.execute(
            "create temp table incoming (like raw.events including defaults) on commit drop"
        )
        with conn.cursor().copy(
            f"copy incoming ({', '.join(EVENT_COLUMNS)}, batch_id, record_number) from stdin"
        ) as copy:
            for number, line in enumerate(path.open(encoding="utf-8"), start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise TallyError(f"{path}:{number}: not JSON: {error.msg}") from error
                copy.write_row([record.get(c) for c in EVENT_COLUMNS] + [batch_id, number])
        loaded = conn.execute(
            "insert into raw.events select * from incoming order by record_number"
            " on conflict (event_id) do nothing"
        ).rowcount
        total = conn.execute("select count(*) from incoming").fetchone()[0]
        result.loaded, result.duplicate = loaded, total - loaded
        conn.execute(
            "update raw.load_batches set records_read = %s, records_loaded = %s,"
            " records_duplicate = %s where batch_id = %s",
            [total, loaded, total - loaded, batch_id],
        )
        commit_batch(conn, batch_id)
    return result
