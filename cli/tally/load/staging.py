"""Each format into a temporary `stage` table of text columns, by COPY.

The fast path hands the file's bytes to PostgreSQL's COPY unchanged (CSV, and JSON Lines as one
text column per line); PostgreSQL checks UTF-8 and counts rows. Only when COPY finds a malformed
row does tally read the file again in Python, quarantining the rows it cannot split. Parquet is
read with pyarrow in row batches and sent as CSV. Memory stays bounded by a block or a batch.
"""

import csv
import io
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import errors, sql

from tally.load.kinds import SECRET_FIELDS, Kind
from tally.load.reading import ByteSource, FileRejected

PARQUET_BATCH_ROWS = 100_000
# JSON Lines through COPY's CSV mode: no valid JSON line holds a raw \x01 or \x02, so each line
# arrives as one text value; a blank line arrives as NULL, so record_number is the line number.
JSONL_COPY = "copy stage (line) from stdin (format csv, delimiter E'\\x01', quote E'\\x02')"


@dataclass
class Stage:
    format: str  # 'jsonl': one column `line`; 'table': a text column per field
    columns: frozenset[str] = frozenset()


def _copy_error_line(error: psycopg.Error) -> str:
    found = re.search(r"line (\d+)", error.diag.context or "")
    return f" (line {found[1]})" if found else ""


def _not_utf8(error: psycopg.Error) -> FileRejected:
    return FileRejected(f"not UTF-8 text{_copy_error_line(error)}")


def stage_file(conn: psycopg.Connection, fmt: str, kind: Kind, source: ByteSource) -> Stage:
    if fmt == "jsonl":
        return _stage_jsonl(conn, source)
    if fmt == "csv":
        return _stage_csv(conn, kind, source)
    if fmt == "parquet":
        return _stage_parquet(conn, kind, source)
    raise FileRejected(f"unsupported format {fmt}")


# --- JSON Lines -------------------------------------------------------------------------------


def _stage_jsonl(conn: psycopg.Connection, source: ByteSource) -> Stage:
    conn.execute(
        "create temp table stage (record_number bigint generated always as identity,"
        " line text) on commit drop"
    )
    try:
        with conn.transaction(), conn.cursor().copy(JSONL_COPY) as copy:
            for block in source.blocks():
                copy.write(block)
    except (errors.CharacterNotInRepertoire, errors.UntranslatableCharacter) as error:
        raise _not_utf8(error) from error
    except errors.BadCopyFileFormat:
        _stage_jsonl_slowly(conn, source)
    return Stage("jsonl")


def _stage_jsonl_slowly(conn: psycopg.Connection, source: ByteSource) -> None:
    """Line by line in Python, for files COPY cannot split (stray carriage returns, \\x01)."""
    conn.execute("truncate stage restart identity")
    source.restart()
    with conn.cursor().copy("copy stage (line) from stdin") as copy:
        pending = b""
        number = 0
        for block in source.blocks():
            lines = (pending + block).split(b"\n")
            pending = lines.pop()
            for raw in lines:
                number += 1
                copy.write_row([_decode(raw, number)])
        if pending:
            copy.write_row([_decode(pending, number + 1)])


def _decode(raw: bytes, number: int) -> str | None:
    try:
        text = raw.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as error:
        raise FileRejected(f"not UTF-8 text (line {number})") from error
    if "\x00" in text:
        raise FileRejected(f"not text: a NUL byte on line {number}")
    return text or None


# --- CSV --------------------------------------------------------------------------------------


def _header(first_line: bytes) -> list[str]:
    try:
        text = first_line.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FileRejected("not UTF-8 text (line 1)") from error
    names = next(csv.reader([text]), [])
    return [name.strip().lower() for name in names]


def _create_table_stage(conn: psycopg.Connection, kind: Kind, columns: list[str]) -> None:
    missing = [name for name in kind.required if name not in columns]
    if missing:
        raise FileRejected(f"not a {kind.name} table: no column {', '.join(missing)}")
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    if duplicated:
        raise FileRejected(f"column {', '.join(duplicated)} appears twice")
    conn.execute(
        sql.SQL(
            "create temp table stage (record_number bigint generated always as identity,"
            " _shape_error text, _raw text, {}) on commit drop"
        ).format(sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in columns))
    )


def _stage_csv(conn: psycopg.Connection, kind: Kind, source: ByteSource) -> Stage:
    blocks = source.blocks()
    head = b""
    for block in blocks:
        head += block
        if b"\n" in head or len(head) > (1 << 22):
            break
    columns = _header(head.split(b"\n", 1)[0].rstrip(b"\r"))
    _create_table_stage(conn, kind, columns)
    copy_sql = sql.SQL("copy stage ({}) from stdin (format csv, header true)").format(
        sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    try:
        with conn.transaction(), conn.cursor().copy(copy_sql) as copy:
            copy.write(head)
            for block in blocks:
                copy.write(block)
    except (errors.CharacterNotInRepertoire, errors.UntranslatableCharacter) as error:
        raise _not_utf8(error) from error
    except errors.BadCopyFileFormat:
        _stage_csv_slowly(conn, columns, source)
    return Stage("table", frozenset(columns))


class _BlockReader(io.RawIOBase):
    def __init__(self, blocks):
        self._blocks, self._pending = blocks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            self._pending = next(self._blocks, b"")
            if not self._pending:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size], self._pending = self._pending[:size], self._pending[size:]
        return size


def _stage_csv_slowly(conn: psycopg.Connection, columns: list[str], source: ByteSource) -> None:
    """Row by row with Python's csv module: a row with the wrong number of fields is quarantined."""
    conn.execute("truncate stage restart identity")
    source.restart()
    text = io.TextIOWrapper(
        io.BufferedReader(_BlockReader(source.blocks())), encoding="utf-8-sig", newline=""
    )
    target = ["_shape_error", "_raw", *columns]
    copy_sql = sql.SQL("copy stage ({}) from stdin").format(
        sql.SQL(", ").join(map(sql.Identifier, target))
    )
    width = len(columns)
    try:
        with conn.cursor().copy(copy_sql) as copy:
            rows = csv.reader(text, strict=True)
            next(rows, None)
            for row in rows:
                if len(row) == width:
                    copy.write_row([None, None, *row])
                elif row:
                    reason = f"wrong number of fields: {len(row)}, the header has {width}"
                    copy.write_row([reason, ",".join(row), *([None] * width)])
    except UnicodeDecodeError as error:
        raise FileRejected(f"not UTF-8 text (near line {rows.line_num + 1})") from error
    except csv.Error as error:
        where = f"line {rows.line_num}"
        if not source.ends_with_newline:
            raise FileRejected(f"truncated: the last record is cut short ({where})") from error
        raise FileRejected(f"not valid CSV at {where}: {error}") from error


# --- Parquet ----------------------------------------------------------------------------------


def _stage_parquet(conn: psycopg.Connection, kind: Kind, source: ByteSource) -> Stage:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="tally-load-") as scratch:
        path = source.path
        if source.gz:
            path = Path(scratch) / "file.parquet"
            with open(path, "wb") as out:
                for block in source.blocks():
                    out.write(block)
        else:
            for _ in source.blocks():  # checksum (and a clear line for an empty file)
                pass
        try:
            parquet = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as error:
            raise FileRejected(f"not a Parquet file ({_first_line(error)})") from error
        by_name = {name.strip().lower(): name for name in parquet.schema_arrow.names}
        wanted = [*kind.field_names, *(SECRET_FIELDS if kind.name == "api_keys" else ())]
        columns = [name for name in wanted if name in by_name]
        _create_table_stage(conn, kind, columns)
        copy_sql = sql.SQL("copy stage ({}) from stdin (format csv)").format(
            sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        options = pacsv.WriteOptions(include_header=False)
        try:
            with conn.cursor().copy(copy_sql) as copy:
                for batch in parquet.iter_batches(
                    batch_size=PARQUET_BATCH_ROWS, columns=[by_name[c] for c in columns]
                ):
                    table = pa.table([_as_text(column) for column in batch.columns], columns)
                    buffer = io.BytesIO()
                    pacsv.write_csv(table, buffer, options)
                    copy.write(buffer.getbuffer())
        except (pa.ArrowException, OSError) as error:
            raise FileRejected(f"unreadable Parquet data ({_first_line(error)})") from error
        shutil.rmtree(scratch, ignore_errors=True)
    return Stage("table", frozenset(columns))


def _as_text(column):
    """A Parquet column as text PostgreSQL reads back: timestamps in ISO form, naive ones as UTC."""
    import pyarrow as pa

    # A zoned timestamp casts to its UTC instant with a Z; a naive one casts without an offset.
    return column.cast(pa.string())


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
