"""Checked records straight into the kind's raw table by COPY, broken ones into the quarantine.

One pass over the file: each block is parsed and checked in the loading process while a
writer thread sends the previous one and PostgreSQL ingests it. Valid records go to the raw
table with their batch and record number, in binary COPY format; broken ones wait in a spool
(memory up to SPOOL_MEMORY, then a temporary file) and go to raw.quarantine once the file is
read.
"""

import io
import os
import queue
import socket
import tempfile
import threading
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import sql
from psycopg.copy import LibpqWriter

from tally.arrow_bytes import value_bytes, value_offsets
from tally.load import pg_binary
from tally.load.formats import Format
from tally.load.kinds import Kind
from tally.load.parsing import Restart
from tally.load.prefetch import prefetched
from tally.load.reading import ByteSource
from tally.load.repeats import RepeatFilter
from tally.load.validation import Context, check

SPOOL_MEMORY = 8 << 20
# The kernel's socket buffer between the writer thread and the server (asked for; Linux grants up
# to net.core.wmem_max). Its default, 208 KB, is about 3 ms of the server's work: the server sat
# idle whenever the writer thread waited that long for the GIL. 4 MB: paired loads 0.90
# (docs/decisions.md).
SEND_BUFFER = 4 << 20
QUEUED_BLOCKS = 2  # blocks parsed ahead, and sent ahead; psycopg's own queue would hold 128 MB
_CSV = pacsv.WriteOptions(include_header=False)
_QUARANTINE = (
    "copy raw.quarantine (batch_id, file_name, record_number, record, reason)"
    " from stdin (format csv)"
)


ASIDE_TABLE = "repeats_aside"  # a temporary table: records set aside (see copy_file)


@dataclass
class Copied:
    records: int = 0
    quarantined: int = 0
    skipped: int = 0  # read but no record of the kind (Batch.skipped)
    reasons: Counter = field(default_factory=Counter)


def _csv_bytes(table: pa.Table) -> memoryview:
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, _CSV)
    return buffer.getbuffer()


def _without(encoded: pa.Array, dropped: np.ndarray) -> bytes:
    """The encoded rows but the dropped ones, back to back: the runs between dropped rows joined
    in one copy (filtering the block's columns before encoding took 0.6 s of CPU at 5 M events)."""
    offsets, data = value_offsets(encoded), value_bytes(encoded)
    cuts = np.flatnonzero(dropped)
    starts = offsets[np.concatenate([[0], cuts + 1])] - offsets[0]
    ends = offsets[np.concatenate([cuts, [len(encoded)]])] - offsets[0]
    return b"".join(data[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True) if b > a)


def _copy_statement(kind: Kind, table: str) -> sql.Composed:
    return sql.SQL("copy {} ({}) from stdin (format binary)").format(
        sql.SQL(table), sql.SQL(", ").join(map(sql.Identifier, kind.stored_names))
    )


def _replay(conn: psycopg.Connection, spool, statement) -> None:
    spool.seek(0)
    with conn.cursor().copy(statement) as copy:
        while block := spool.read(1 << 20):
            copy.write(block)


class _Copier:
    """Splits each checked batch: valid records to the COPY, broken ones to the quarantine
    spool, and, when asked, valid records whose key may repeat an earlier one to the aside
    spool."""

    def __init__(self, kind: Kind, batch_id: int, file_name: str, context: Context, spools):
        self.kind, self.batch_id, self.file_name, self.context = kind, batch_id, file_name, context
        self.quarantine_spool, self.aside_spool = spools
        self.restart()

    def valid_rows(self, batch) -> bytes | memoryview | None:
        self.copied.skipped += batch.skipped
        if not len(batch):
            return None
        table = check(self.kind, batch, self.context)
        self.copied.records += table.num_rows
        if table["quarantine_reason"].null_count < table.num_rows:
            broken = pc.is_valid(table["quarantine_reason"])
            self._quarantine(table.filter(broken))
            table = table.filter(pc.invert(broken))
        if not table.num_rows:
            return None
        batch_ids = pa.array(np.full(table.num_rows, self.batch_id, dtype=np.int64))
        rows = table.select(self.kind.field_names).append_column("batch_id", batch_ids)
        rows = rows.append_column("record_number", table["record_number"])
        if self.repeats is None:
            return pg_binary.rows(rows)
        encoded = pg_binary.row_values(rows)
        may_repeat = self.repeats.add(table[self.kind.unique_key].combine_chunks())
        if not may_repeat.any():
            return value_bytes(encoded)
        self.aside_spool.write(value_bytes(encoded.filter(may_repeat)))
        return _without(encoded, may_repeat)

    def _quarantine(self, broken: pa.Table) -> None:
        reasons = broken["quarantine_reason"]
        self.copied.quarantined += broken.num_rows
        self.copied.reasons.update(reasons.to_pylist())
        n = broken.num_rows
        rows = pa.table(
            {
                "batch_id": pa.array(np.full(n, self.batch_id, dtype=np.int64)),
                "file_name": pa.array([self.file_name] * n, pa.string()),
                "record_number": broken["record_number"],
                "record": broken["record"],
                "reason": reasons,
            }
        )
        self.quarantine_spool.write(_csv_bytes(rows))

    def restart(self) -> None:
        self.copied = Copied()
        self.quarantine_spool.seek(0)
        self.quarantine_spool.truncate()
        self.repeats = None
        if self.aside_spool is not None:
            self.repeats = RepeatFilter()
            self.aside_spool.seek(0)
            self.aside_spool.truncate()
            self.aside_spool.write(pg_binary.HEADER)

    def flush(self, conn: psycopg.Connection) -> None:
        """The quarantined records to raw.quarantine, those set aside to ASIDE_TABLE."""
        if self.copied.quarantined:
            _replay(conn, self.quarantine_spool, _QUARANTINE)
        if self.aside_spool is not None:
            conn.execute(
                f"create temp table {ASIDE_TABLE} (like {self.kind.table} including defaults)"
                " on commit drop"
            )
            self.aside_spool.write(pg_binary.TRAILER)
            _replay(conn, self.aside_spool, _copy_statement(self.kind, ASIDE_TABLE))


class _BackgroundWriter(LibpqWriter):
    """Sends COPY data from a thread, so parsing the next block overlaps sending this one."""

    def __init__(self, cursor: psycopg.Cursor):
        super().__init__(cursor)
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUED_BLOCKS)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._send, daemon=True)
        self._thread.start()

    def _send(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is None:  # after an error, only drain the queue
                try:
                    super().write(data)
                except BaseException as error:  # re-raised in the caller's thread
                    self._error = error

    def write(self, data) -> None:
        if self._error:
            raise self._error
        self._queue.put(data)

    def finish(self, exc: BaseException | None = None) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error:
            raise self._error
        super().finish(exc)


def _parsed(fmt: Format, kind: Kind, source: ByteSource):
    """The file's batches; a format that asks for it (JSON Lines) parsed in a thread of its
    own, ahead of checking and encoding. Measured at 5 M events: JSON Lines 30-31 s to
    25.5-27.5 s; CSV and Parquet, whose parsing is light and whose server is the bottleneck,
    2 s slower, so not them."""
    stream = fmt.parse(kind, source)
    return prefetched(stream, QUEUED_BLOCKS) if fmt.parse_ahead else stream


def _widen_send_buffer(conn: psycopg.Connection) -> None:
    with socket.socket(fileno=os.dup(conn.fileno())) as connection_socket:
        connection_socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)


def _copy(conn: psycopg.Connection, copier: _Copier, stream) -> None:
    _widen_send_buffer(conn)
    cursor = conn.cursor()
    statement = _copy_statement(copier.kind, copier.kind.table)
    with cursor.copy(statement, writer=_BackgroundWriter(cursor)) as copy:
        copy.write(pg_binary.HEADER)
        for batch in stream:
            rows = copier.valid_rows(batch)
            if rows is not None:
                copy.write(rows)
        copy.write(pg_binary.TRAILER)


def copy_file(
    conn: psycopg.Connection,
    fmt: Format,
    kind: Kind,
    source: ByteSource,
    context: Context,
    batch_id: int,
    file_name: str,
    set_aside_repeats: bool = False,
) -> Copied:
    """Copy every record of a file into the raw layer. With set_aside_repeats, the records whose
    key may repeat an earlier record of the file go to the temporary ASIDE_TABLE instead, so the
    keys copied into the raw table are distinct. Raises FileRejected for a bad file."""
    with ExitStack() as spools:
        quarantine = spools.enter_context(tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY))
        aside = None
        if set_aside_repeats:
            aside = spools.enter_context(tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY))
        copier = _Copier(kind, batch_id, file_name, context, (quarantine, aside))
        try:
            with conn.transaction():
                _copy(conn, copier, _parsed(fmt, kind, source))
        except Restart:
            copier.restart()
            _copy(conn, copier, fmt.reparse(kind, source))
        copier.flush(conn)
    return copier.copied


def copy_batches(
    conn: psycopg.Connection, kind: Kind, stream, context: Context, batch_id: int, label: str
) -> Copied:
    """Copy records that arrive as Batches (a source other than a file, such as a legacy
    database's table) into the raw layer, broken ones into the quarantine under `label`."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY) as quarantine:
        copier = _Copier(kind, batch_id, label, context, (quarantine, None))
        _copy(conn, copier, stream)
        copier.flush(conn)
    return copier.copied
