"""One file, one transaction, one load batch; the commit protocol the incremental rollups rely on.

A batch commits together with its rows. Just before commit it takes the advisory lock
locks.LOAD_COMMIT and draws `commit_seq` from raw.load_commit_seq, so every batch whose commit_seq
is at or below a value a rollup read under the same lock is already visible (see
macros/rollup/rollup_begin_run.sql). A killed load commits nothing: its batch and rows vanish
together.
"""

import time
from collections.abc import Callable

import psycopg
from psycopg import errors

from tally import locks
from tally.load import bulk
from tally.load.copying import copy_file
from tally.load.discovery import InputFile
from tally.load.duplicates import drop_duplicates, drop_duplicates_in_bulk, record_conflicts
from tally.load.formats import FORMATS, readable_extensions
from tally.load.kinds import KINDS
from tally.load.parsing import first_line
from tally.load.reading import ByteSource, FileRejected, sha256_of
from tally.load.summary import Counts, FileResult
from tally.load.validation import Context

# Two loads of overlapping files: the later to commit a key fails (unique violation or
# deadlock) and loads its file again, now seeing the other's rows as duplicates.
RETRIES = 10
# Room for the sorts and hashes of the duplicate check (tally.load.duplicates); measured when it
# hashed a file's keys: 5 M keys in one batch instead of four spilled to disk, 19.5 s to 10.6 s.
WORK_MEM = "512MB"
# A killed load's backend notices its client is gone only when it next reads from or writes to
# it: in the middle of a statement (a key build, a duplicate check) it runs the statement to its
# end, holding the table. Checked every second instead, it ends within about a second (a 20 s
# statement whose client was killed: 20.0 s to 1.0 s; Linux, PostgreSQL 14 and later).
DEAD_CLIENT_CHECK = "1s"


class _AlreadyLoaded(Exception):  # noqa: N818 - control flow out of the transaction
    pass


def commit_batch(conn: psycopg.Connection, batch_id: int) -> None:
    """Mark a batch loaded and give it its commit_seq; the caller's transaction then commits."""
    conn.execute("select pg_advisory_xact_lock(%s)", [locks.LOAD_COMMIT])
    conn.execute(
        "update raw.load_batches set status = 'loaded', finished_at = clock_timestamp(),"
        " commit_seq = nextval('raw.load_commit_seq') where batch_id = %s",
        [batch_id],
    )


def prepare_session(conn: psycopg.Connection) -> None:
    """UTC, so that recorded conflicts show their times in UTC; room for the duplicate check;
    a backend that ends within DEAD_CLIENT_CHECK of its load's death."""
    conn.execute("set timezone = 'UTC'")
    conn.execute(f"set work_mem = '{WORK_MEM}'")
    conn.execute(f"set client_connection_check_interval = '{DEAD_CLIENT_CHECK}'")
    conn.commit()


_TIMEZONES: frozenset[str] | None = None


def _context(conn: psycopg.Connection) -> Context:
    """What validation needs from the database: the load's start and the known time zones."""
    global _TIMEZONES
    if _TIMEZONES is None:
        rows = conn.execute("select name from pg_timezone_names").fetchall()
        _TIMEZONES = frozenset(name for (name,) in rows)
    now = conn.execute("select (extract(epoch from now()) * 1000000)::bigint").fetchone()[0]
    return Context(load_time_us=now, timezones=_TIMEZONES)


def _loaded_before(conn: psycopg.Connection, kind: str, sha: str) -> bool:
    return bool(
        conn.execute(
            "select 1 from raw.load_batches where kind = %s and file_sha256 = %s"
            " and status = 'loaded'",
            [kind, sha],
        ).fetchone()
    )


def _same_size_loaded(conn: psycopg.Connection, kind: str, size: int) -> bool:
    return bool(
        conn.execute(
            "select 1 from raw.load_batches where kind = %s and file_size_bytes = %s"
            " and status = 'loaded' limit 1",
            [kind, size],
        ).fetchone()
    )


def _load_once(
    conn: psycopg.Connection, file: InputFile, on_progress: Callable[[int], None] | None
) -> FileResult:
    kind = KINDS[file.kind]
    result = FileResult(file.label, file.kind, file.format)
    size = file.path.stat().st_size
    try:
        with conn.transaction():
            # A file of a size loaded before is checksummed first, so a second load is quick.
            if _same_size_loaded(conn, file.kind, size) and _loaded_before(
                conn, file.kind, sha256_of(file.path)
            ):
                raise _AlreadyLoaded
            batch_id = conn.execute(
                "insert into raw.load_batches"
                " (kind, file_name, file_sha256, file_size_bytes, file_format, status)"
                " values (%s, %s, '', %s, %s, 'loading') returning batch_id",
                [file.kind, file.label, size, file.format],
            ).fetchone()[0]
            dropped_key = bulk.drop_key(conn, kind, file) if kind.unique_key else None
            source = ByteSource(file.path, file.gzip, on_progress)
            set_aside = bool(dropped_key and dropped_key.table_was_empty)
            fmt = FORMATS[file.format]
            copied = copy_file(
                conn, fmt, kind, source, _context(conn), batch_id, file.label, set_aside
            )
            if copied.records == 0 and not copied.skipped:
                raise FileRejected("no records")
            counts = Counts(
                read=copied.records,
                skipped=copied.skipped,
                quarantined=copied.quarantined,
                reasons=dict(sorted(copied.reasons.items(), key=lambda r: (-r[1], r[0]))),
            )
            if dropped_key:
                counts.duplicate = drop_duplicates_in_bulk(conn, kind, batch_id, dropped_key)
            elif kind.unique_key:
                counts.duplicate = drop_duplicates(conn, kind, batch_id)
            if kind.name == "events" and counts.duplicate:
                counts.conflicting = record_conflicts(conn, kind, batch_id)
            counts.loaded = counts.read - counts.quarantined - counts.duplicate
            conn.execute(
                "update raw.load_batches set file_sha256 = %s, records_read = %s,"
                " records_loaded = %s, records_duplicate = %s, records_conflicting = %s,"
                " records_quarantined = %s, records_skipped = %s where batch_id = %s",
                [
                    source.hexdigest(),
                    counts.read,
                    counts.loaded,
                    counts.duplicate,
                    counts.conflicting,
                    counts.quarantined,
                    counts.skipped,
                    batch_id,
                ],
            )
            try:
                with conn.transaction():
                    commit_batch(conn, batch_id)
            except errors.UniqueViolation:  # the same file committed meanwhile
                raise _AlreadyLoaded from None
    except _AlreadyLoaded:
        result.status = "skipped"
        return result
    result.status = "loaded"
    result.mode = "bulk" if dropped_key else "incremental"
    result.batch_id = batch_id
    result.counts = counts
    return result


def _record_failure(conn: psycopg.Connection, file: InputFile, reason: str) -> None:
    """A failed file leaves a 'failed' batch with its reason and no rows."""
    try:
        sha, size = sha256_of(file.path), file.path.stat().st_size
    except OSError:
        sha, size = "", None
    with conn.transaction():
        conn.execute(
            "insert into raw.load_batches (kind, file_name, file_sha256, file_size_bytes,"
            " file_format, status, failure_reason, finished_at)"
            " values (%s, %s, %s, %s, %s, 'failed', %s, clock_timestamp())",
            [file.kind, file.label, sha, size, file.format or "unknown", reason],
        )


def load_file(
    conn: psycopg.Connection, file: InputFile, on_progress: Callable[[int], None] | None = None
) -> FileResult:
    """Load one file in one transaction; a file tally cannot read fails alone, with one line."""
    started = time.monotonic()
    try:
        if file.format is None:
            expected = readable_extensions(file.named_as or file.kind)
            raise FileRejected(f"unknown extension (expected {expected}, maybe .gz)")
        if FORMATS[file.format].parse is None:
            raise FileRejected(FORMATS[file.format].not_read)
        for attempt in range(RETRIES):
            try:
                result = _load_once(conn, file, on_progress)
                break
            except (errors.UniqueViolation, errors.DeadlockDetected, errors.SerializationFailure):
                if attempt == RETRIES - 1:
                    raise
    except FileRejected as error:
        result = FileResult(file.label, file.kind, file.format, status="failed", error=str(error))
        _record_failure(conn, file, str(error))
    except psycopg.errors.DataError as error:  # a value validation let through: still one line
        message = f"the database refused a value: {first_line(error)}"
        result = FileResult(file.label, file.kind, file.format, status="failed", error=message)
        _record_failure(conn, file, message)
    except OSError as error:
        message = f"cannot read: {error.strerror or error}"
        result = FileResult(file.label, file.kind, file.format, status="failed", error=message)
    result.seconds = time.monotonic() - started
    return result
