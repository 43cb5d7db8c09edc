"""`tally load app.db`: the legacy application's SQLite database into the raw layer.

Every table of LEGACY_TABLES is read in one SQLite read transaction (one snapshot, while the
application may keep writing), in rowid order and in blocks of BLOCK_ROWS, so memory is bounded
by a block. SQLite stores what it is given; the SELECT itself turns each value into the text the
loader's rules read (tally.load.validation): Unix seconds (integer, real or digits) into ISO-8601,
a whole real into an integer, the application's status spellings into success / error. A value
SQLite holds as a BLOB, or a metadata text that is not a JSON object, breaks its row. Each table
is one load batch (one transaction): valid rows go by COPY to the raw table, broken ones to
raw.quarantine under `<path>:<table>` and their rowid.

Loading the same database again reads only what is new. Append-only tables (usage events, audit
log) are read above the highest rowid an earlier batch read, when the row at that rowid still
has the id recorded with it; the rows below count as duplicates without being read again. The
reference tables are read whole (their rows change: a key revoked, a plan changed) and a row
equal to the version already loaded is a duplicate. Either way: rows in the table = loaded +
duplicates + quarantined, per table, in the summary and in raw.load_batches.
"""

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
from psycopg import errors

from tally.load.batch import _context, _record_failure, commit_batch
from tally.load.copying import copy_batches
from tally.load.discovery import InputFile
from tally.load.duplicates import drop_duplicates, record_conflicts
from tally.load.kinds import KINDS, Kind
from tally.load.parsing import Batch, first_line
from tally.load.reading import FileRejected
from tally.load.summary import Counts, FileResult

BLOCK_ROWS = 50_000
FORMAT = "sqlite"


@dataclass(frozen=True)
class LegacyTable:
    """A table of the legacy application: its kind and, per column, the field it loads as
    (None: known, read by nobody and not kept, such as a key's hash)."""

    name: str
    kind: str
    columns: dict[str, str | None]
    append_only: bool

    @property
    def id_column(self) -> str:
        return next(iter(self.columns))


# The legacy schema as the contract lists it: the one place its names and their mapping live.
LEGACY_TABLES = (
    LegacyTable(
        "organizations",
        "organizations",
        {
            "id": "org_id",
            "name": "name",
            "timezone": "timezone",
            "plan": "plan",
            "created_at": "created_at",
        },
        append_only=False,
    ),
    LegacyTable(
        "users",
        "users",
        {
            "id": "user_id",
            "organization_id": "org_id",
            "email": "email",
            "role": None,
            "created_at": "created_at",
            "deleted_at": None,
        },
        append_only=False,
    ),
    LegacyTable(
        "api_keys",
        "api_keys",
        {
            "id": "api_key_id",
            "organization_id": "org_id",
            "user_id": "user_id",
            "prefix": "key_prefix",
            "key_hash": None,
            "created_at": "created_at",
            "revoked_at": "revoked_at",
        },
        append_only=False,
    ),
    LegacyTable(
        "usage_events",
        "events",
        {
            "id": "event_id",
            "organization_id": "org_id",
            "user_id": "user_id",
            "api_key_id": "api_key_id",
            "model": "model_id",
            "created_at": "event_time",
            "prompt_tokens": "input_tokens",
            "completion_tokens": "output_tokens",
            "cached_tokens": "cache_read_input_tokens",
            "reasoning_tokens": "reasoning_tokens",
            "status": "status",
            "latency_ms": "latency_ms",
        },
        append_only=True,
    ),
    LegacyTable(
        "audit_log",
        "audit_events",
        {
            "id": "audit_event_id",
            "organization_id": "org_id",
            "actor_user_id": "actor_user_id",
            "action": "action",
            "target_type": "target_type",
            "target_id": "target_id",
            "metadata": "metadata",
            "created_at": "occurred_at",
        },
        append_only=True,
    ),
)
JSON_FIELDS = {"metadata"}
# The application's status spellings (any case): anything else is quarantined as a bad status.
SUCCESS = ("ok", "success", "200")
ERROR = ("error", "failed")  # and every 4xx / 5xx code


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _as_text(column: str, field_type: str) -> str:
    """A SQLite expression giving the column's value as the text tally's rules read."""
    c = _quote(column)
    if field_type == "timestamp":
        return (
            f"case typeof({c}) when 'integer' then strftime('%Y-%m-%dT%H:%M:%SZ', {c}, 'unixepoch')"
            f" when 'real' then strftime('%Y-%m-%dT%H:%M:%fZ', {c}, 'unixepoch')"
            f" when 'text' then case when {c} <> '' and {c} not glob '*[^0-9]*'"
            f" then strftime('%Y-%m-%dT%H:%M:%SZ', {c}, 'unixepoch') else {c} end end"
        )
    if field_type == "bigint":
        return (
            f"case when typeof({c}) = 'real' and {c} = cast({c} as integer)"
            f" then cast(cast({c} as integer) as text) else cast({c} as text) end"
        )
    if field_type == "status":
        spelled = f"lower(trim(cast({c} as text)))"
        return (
            f"case when {spelled} in ({', '.join(repr(s) for s in SUCCESS)}) then 'success'"
            f" when {spelled} in ({', '.join(repr(s) for s in ERROR)})"
            f" or {spelled} glob '[45][0-9][0-9]' then 'error' else cast({c} as text) end"
        )
    return f"cast({c} as text)"


@dataclass
class _Plan:
    """What to read of one table: its columns, and those tally does not know or does not keep."""

    table: LegacyTable
    kind: Kind
    present: list[str]
    unknown: list[str]
    not_kept: list[str]

    @property
    def loaded(self) -> dict[str, str]:
        """Present legacy column -> the kind's field, for the fields this tally stores."""
        return {
            column: field
            for column, field in self.table.columns.items()
            if column in self.present and field in self.kind.field_names
        }

    def select(self) -> str:
        types = {f.name: f.type for f in self.kind.fields}
        by_field = {field: column for column, field in self.loaded.items()}
        values = [
            f"nullif({_as_text(by_field[f], types[f])}, '')" if f in by_field else "null"
            for f in self.kind.field_names
        ]
        blobs = " ".join(
            f"when typeof({_quote(c)}) = 'blob' then '{c} is binary data (a BLOB)'"
            for c in self.loaded
        )
        reason = f"case {blobs} end" if blobs else "null"
        key = _quote(self.table.id_column)
        return (
            f"select rowid, {', '.join(values)}, {reason}, cast({key} as text)"
            f" from {_quote(self.table.name)} where rowid > ? order by rowid"
        )


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"pragma table_info({_quote(table)})")]


def _plans(db: sqlite3.Connection) -> tuple[list[_Plan], dict[str, int]]:
    """A plan per known table present, and the tables tally does not know with their rows."""
    tables = [
        name
        for (name,) in db.execute(
            "select name from sqlite_master where type = 'table' and name not like 'sqlite\\_%'"
            " escape '\\' order by name"
        )
    ]
    known = {t.name: t for t in LEGACY_TABLES}
    plans = []
    for table in LEGACY_TABLES:
        if table.name not in tables:
            continue
        present = _columns(db, table.name)
        kind = KINDS[table.kind]
        plans.append(
            _Plan(
                table,
                kind,
                present,
                unknown=[c for c in present if c not in table.columns],
                not_kept=[
                    c
                    for c, field in table.columns.items()
                    if c in present and field not in kind.field_names
                ],
            )
        )
    unknown = {
        name: db.execute(f"select count(*) from {_quote(name)}").fetchone()[0]
        for name in tables
        if name not in known
    }
    return plans, unknown


def _json_reasons(values: list[str | None]) -> list[str | None]:
    def reason(text: str | None) -> str | None:
        if text is None:
            return None
        try:
            value = json.loads(text, parse_constant=_reject_constant)
        except ValueError:
            return "metadata is not valid JSON"
        if not isinstance(value, dict):
            return "metadata is not a JSON object"
        if "\\u0000" in text:
            return "metadata contains a NUL character"
        return None

    return [reason(v) for v in values]


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _text(values: tuple) -> pa.Array:
    """SQLite's text as bytes to an Arrow string array, checked as UTF-8 in one pass; text that
    is not UTF-8 (SQLite stores what it is given) gets U+FFFD for its bad bytes."""
    try:
        return pa.array(values, pa.binary()).cast(pa.string())
    except pa.ArrowInvalid:
        return pa.array(
            [None if v is None else v.decode("utf-8", "replace") for v in values], pa.string()
        )


def _blocks(db: sqlite3.Connection, plan: _Plan, after: int, last: list):
    """The table's rows above rowid `after` as Batches; `last` gets (rowid, id) of the last.
    Text is fetched as bytes (sqlite3's fast path) and decoded by Arrow, a block at a time."""
    names = plan.kind.field_names
    db.text_factory = bytes
    try:
        cursor = db.execute(plan.select(), [after])
        while rows := cursor.fetchmany(BLOCK_ROWS):
            columns = list(zip(*rows, strict=True))
            fields = {n: _text(columns[1 + i]) for i, n in enumerate(names)}
            reasons = _text(columns[len(names) + 1]).to_pylist()
            for field in JSON_FIELDS & set(names):
                json_reasons = _json_reasons(fields[field].to_pylist())
                reasons = [r or j for r, j in zip(reasons, json_reasons, strict=True)]
            key = rows[-1][-1]
            last[:] = [rows[-1][0], key.decode("utf-8", "replace") if key is not None else None]
            yield Batch(
                record_number=np.array(columns[0], dtype=np.int64),
                columns=fields,
                shape_reason=reasons if any(reasons) else None,
            )
    finally:
        db.text_factory = str


def _watermark(conn: psycopg.Connection, db: sqlite3.Connection, plan: _Plan) -> int:
    """The rowid an earlier load read up to, if the row there still has the id it had."""
    if not plan.table.append_only:
        return 0
    candidates = conn.execute(
        "select source_rowid_max, source_key_at_max from raw.load_batches"
        " where kind = %s and source_table = %s and status = 'loaded'"
        " and source_rowid_max is not null order by commit_seq desc limit 5",
        [plan.kind.name, plan.table.name],
    ).fetchall()
    for rowid, key in candidates:
        found = db.execute(
            f"select cast({_quote(plan.table.id_column)} as text)"
            f" from {_quote(plan.table.name)} where rowid = ?",
            [rowid],
        ).fetchone()
        if found and found[0] == key:
            return rowid
    return 0


def _drop_unchanged_versions(conn: psycopg.Connection, kind: Kind, batch_id: int) -> int:
    """Reference rows equal to the version of their entity already loaded: duplicates."""
    key, fields = kind.fields[0].name, kind.field_names
    return conn.execute(
        f"delete from {kind.table} as n using ("
        f"   select distinct on (o.{key}) o.* from {kind.table} as o"
        f"   join raw.load_batches as b on b.batch_id = o.batch_id and b.status = 'loaded'"
        f"   order by o.{key}, b.commit_seq desc, o.record_number desc) as l"
        f" where n.batch_id = %s and n.{key} = l.{key}"
        f" and ({', '.join('n.' + f for f in fields)})"
        f" is not distinct from ({', '.join('l.' + f for f in fields)})",
        [batch_id],
    ).rowcount


def _drop_requarantined(conn: psycopg.Connection, source_table: str, batch_id: int) -> int:
    """Rows quarantined by an earlier load of the same table, the same again: duplicates."""
    return conn.execute(
        "delete from raw.quarantine as q using raw.load_batches as b"
        " where q.batch_id = %(batch)s and exists ("
        "   select from raw.quarantine as o join raw.load_batches as ob using (batch_id)"
        "   where ob.source_table = %(table)s and ob.status = 'loaded' and o.batch_id <> %(batch)s"
        "   and o.record_number = q.record_number and o.record = q.record and o.reason = q.reason)"
        " and b.batch_id = q.batch_id",
        {"batch": batch_id, "table": source_table},
    ).rowcount


def _load_table(
    conn: psycopg.Connection, db: sqlite3.Connection, path: Path, plan: _Plan
) -> FileResult:
    label = f"{path}:{plan.table.name}"
    kind = plan.kind
    result = FileResult(label, kind.name, FORMAT)
    started = time.monotonic()
    with conn.transaction():
        after = _watermark(conn, db, plan)
        below = db.execute(
            f"select count(*) from {_quote(plan.table.name)} where rowid <= ?", [after]
        ).fetchone()[0]
        batch_id = conn.execute(
            "insert into raw.load_batches (kind, file_name, file_sha256, file_size_bytes,"
            " file_format, status, source_table, unknown_columns)"
            " values (%s, %s, '', %s, %s, 'loading', %s, %s) returning batch_id",
            [kind.name, label, path.stat().st_size, FORMAT, plan.table.name, plan.unknown],
        ).fetchone()[0]
        last = [after, None]
        copied = copy_batches(
            conn, kind, _blocks(db, plan, after, last), _context(conn), batch_id, label
        )
        counts = Counts(read=copied.records + below, duplicate=below)
        if kind.unique_key:
            dropped = drop_duplicates(conn, kind, batch_id)
            counts.duplicate += dropped
            if kind.name == "events" and dropped:
                counts.conflicting = record_conflicts(conn, kind, batch_id)
        else:
            counts.duplicate += _drop_unchanged_versions(conn, kind, batch_id)
        requarantined = _drop_requarantined(conn, plan.table.name, batch_id)
        counts.duplicate += requarantined
        counts.quarantined = copied.quarantined - requarantined
        counts.reasons = dict(sorted(copied.reasons.items(), key=lambda r: (-r[1], r[0])))
        if requarantined:
            counts.reasons = _reasons_left(conn, batch_id)
        counts.loaded = counts.read - counts.duplicate - counts.quarantined
        if last[1] is None and after:  # nothing new: the watermark stays where it was
            last[1] = conn.execute(
                "select source_key_at_max from raw.load_batches where source_table = %s"
                " and source_rowid_max = %s and status = 'loaded' limit 1",
                [plan.table.name, after],
            ).fetchone()[0]
        conn.execute(
            "update raw.load_batches set file_sha256 = %s, records_read = %s,"
            " records_loaded = %s, records_duplicate = %s, records_conflicting = %s,"
            " records_quarantined = %s, source_rowid_max = %s, source_key_at_max = %s"
            " where batch_id = %s",
            [
                # what was read, named: the batch's rows have no file of their own to hash
                hashlib.sha256(f"{label}\0{batch_id}\0{after}\0{last[0]}".encode()).hexdigest(),
                counts.read,
                counts.loaded,
                counts.duplicate,
                counts.conflicting,
                counts.quarantined,
                last[0] if plan.table.append_only and last[1] is not None else None,
                last[1] if plan.table.append_only else None,
                batch_id,
            ],
        )
        commit_batch(conn, batch_id)
    result.status, result.mode = "loaded", "incremental"
    result.batch_id, result.counts = batch_id, counts
    result.unknown = [
        *(f"column {c} (unknown to tally)" for c in plan.unknown),
        *(f"column {c} (known, not kept by this tally)" for c in plan.not_kept),
    ]
    result.seconds = time.monotonic() - started
    return result


def _reasons_left(conn: psycopg.Connection, batch_id: int) -> dict[str, int]:
    rows = conn.execute(
        "select reason, count(*) from raw.quarantine where batch_id = %s group by reason"
        " order by 2 desc, 1",
        [batch_id],
    ).fetchall()
    return dict(rows)


def _open(path: Path) -> sqlite3.Connection:
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        db.execute("begin")  # one snapshot for every table, while the application writes on
        db.execute("select count(*) from sqlite_master").fetchone()
    except sqlite3.DatabaseError as error:
        raise FileRejected(f"not a SQLite database: {error}") from None
    return db


def load_legacy_file(conn: psycopg.Connection, file: InputFile) -> list[FileResult]:
    """Load a legacy database; one it cannot read fails alone, with one line, as a file does."""
    started = time.monotonic()
    try:
        return load_legacy(conn, file.path)
    except FileRejected as error:
        message = str(error)
    except OSError as error:
        message = f"cannot read: {error.strerror or error}"
    except psycopg.errors.DataError as error:
        message = f"the database refused a value: {first_line(error)}"
    _record_failure(conn, file, message)
    failed = FileResult(file.label, file.kind, FORMAT, status="failed", error=message)
    failed.seconds = time.monotonic() - started
    return [failed]


def load_legacy(conn: psycopg.Connection, path: Path) -> list[FileResult]:
    """Load every known table of a legacy database, each in its own batch; the tables tally does
    not know are reported with their row counts. Raises FileRejected for a file that is not one."""
    db = _open(path)
    try:
        plans, unknown = _plans(db)
        if not plans:
            raise FileRejected(
                "no table of the legacy application in it (expected: "
                + ", ".join(t.name for t in LEGACY_TABLES)
                + ")"
            )
        results = []
        for plan in plans:
            for attempt in range(3):  # another load of the same rows committed meanwhile
                try:
                    results.append(_load_table(conn, db, path, plan))
                    break
                except (errors.UniqueViolation, errors.DeadlockDetected):
                    if attempt == 2:
                        raise
        for name, rows in unknown.items():
            results.append(
                FileResult(
                    f"{path}:{name}",
                    "unknown",
                    FORMAT,
                    status="not loaded",
                    unknown=[f"table {name} ({rows} rows, unknown to tally)"],
                )
            )
        return results
    finally:
        db.close()
