"""`tally load --target spark`: the same discovery, parsing and validation as on PostgreSQL
(tally.load), written as parquet files of the raw layer and committed by its ledger.

Per file: skipped when a loaded batch has its checksum; records checked by the contract's rules
(broken ones to `quarantine/`); of each event_id (void: event_id) the first record in file
order, and only if no loaded batch holds it already (tally.spark.keys), goes to the kind's
folder; a later one whose fields differ is written to `event_conflicts/`. Then the batch is
registered in the ledger, which makes all of it visible at once (tally.spark.raw_layer).
"""

import json
import secrets
import time
import zoneinfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tally.errors import TallyError
from tally.load.discovery import InputFile, discover
from tally.load.formats import FORMATS, readable_extensions
from tally.load.kinds import KINDS, Kind
from tally.load.parsing import Restart
from tally.load.progress import Progress
from tally.load.reading import ByteSource, FileRejected, sha256_of
from tally.load.summary import Counts, FileResult, LoadSummary
from tally.load.validation import TIMESTAMP, Context, check
from tally.spark import keys
from tally.spark.raw_layer import (
    CONFLICTS_SCHEMA,
    QUARANTINE_SCHEMA,
    RawLayer,
    file_name,
    kind_schema,
    locked,
    now_us,
)

TIMEZONES = frozenset(zoneinfo.available_timezones() | {"UTC"})


def _checked(
    kind: Kind, file: InputFile, source: ByteSource, context: Context
) -> tuple[pa.Table, int]:
    """Every record of the file, checked (tally.load.validation.check's columns), and how many
    were read but hold no record of the kind (spans without token usage)."""
    fmt = FORMATS[file.format]

    def read(batches):
        batches = list(batches)
        return [check(kind, batch, context) for batch in batches], sum(b.skipped for b in batches)

    try:
        tables, skipped = read(fmt.parse(kind, source))
    except Restart:
        tables, skipped = read(fmt.reparse(kind, source))
    if not tables or (not sum(t.num_rows for t in tables) and not skipped):
        raise FileRejected("no records")
    return pa.concat_tables(tables), skipped


def _quarantine(broken: pa.Table, batch_id: int, label: str, at: pa.Scalar) -> pa.Table:
    n = broken.num_rows
    return pa.table(
        {
            "batch_id": pa.array(np.full(n, batch_id, np.int64)),
            "file_name": pa.array([label] * n, pa.string()),
            "record_number": broken["record_number"],
            "record": broken["record"],
            "reason": broken["quarantine_reason"],
            "quarantined_at": pa.array([at.value] * n, TIMESTAMP),
        },
        schema=QUARANTINE_SCHEMA,
    )


def _first_wins(layer, kind: Kind, rows: pa.Table, loaded: set[int], batch_id: int, at):
    """The rows that win (first of their key in the file, and not loaded before), the count of
    those that lose, and the losers whose fields differ from the winner's (events only)."""
    key = rows[kind.unique_key].combine_chunks()
    others = [name for name in kind.field_names if name != kind.unique_key]
    prints = keys.fingerprints(rows, others)
    first = keys.first_occurrences(key)
    held = keys.earlier(layer, kind.name, key, loaded)
    new = first & ~keys.is_in(key, held["key"])
    losers = rows.filter(pa.array(~new))
    conflicts = CONFLICTS_SCHEMA.empty_table()
    if kind.name == "events" and losers.num_rows:
        winner_print = dict(
            zip(held["key"].to_pylist(), held["fingerprint"].to_pylist(), strict=True)
        )
        for k, p, is_new in zip(key.to_pylist(), prints.tolist(), new.tolist(), strict=True):
            if is_new:
                winner_print[k] = p
        loser_prints = prints[~new]
        differs = np.array(
            [
                winner_print.get(k, p) != p
                for k, p in zip(
                    losers[kind.unique_key].to_pylist(), loser_prints.tolist(), strict=True
                )
            ],
            dtype=bool,
        )
        conflicting = losers.filter(pa.array(differs))
        records = [
            json.dumps({name: _jsonable(row[name]) for name in kind.field_names})
            for row in conflicting.select(kind.field_names).to_pylist()
        ]
        n = conflicting.num_rows
        conflicts = pa.table(
            {
                "event_id": conflicting["event_id"],
                "batch_id": pa.array(np.full(n, batch_id, np.int64)),
                "record_number": conflicting["record_number"],
                "record": pa.array(records, pa.string()),
                "detected_at": pa.array([at.value] * n, TIMESTAMP),
            },
            schema=CONFLICTS_SCHEMA,
        )
    winners = rows.filter(pa.array(new))
    keys.add(layer, kind.name, batch_id, winners[kind.unique_key].combine_chunks(), prints[new])
    return winners, losers.num_rows, conflicts


def _jsonable(value):
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _load_file(layer: RawLayer, file: InputFile, ledger: pa.Table) -> FileResult:
    kind = KINDS[file.kind]
    result = FileResult(file.label, file.kind, file.format)
    size = file.path.stat().st_size
    loaded = ledger.filter(pc.equal(ledger["status"], "loaded"))
    sha = sha256_of(file.path)
    same = pc.and_(pc.equal(loaded["kind"], file.kind), pc.equal(loaded["file_sha256"], sha))
    if pc.any(same).as_py():
        result.status = "skipped"
        return result
    batch_id = secrets.randbits(62) + 1
    started = now_us()
    at = pa.scalar(started, TIMESTAMP)
    progress = Progress(file.label, size)
    try:
        source = ByteSource(file.path, file.gzip, progress)
        table, skipped = _checked(
            kind, file, source, Context(load_time_us=started, timezones=TIMEZONES)
        )
    finally:
        progress.close()
    broken = pc.is_valid(table["quarantine_reason"])
    counts = Counts(read=table.num_rows, skipped=skipped)
    quarantined = table.filter(broken)
    counts.quarantined = quarantined.num_rows
    reasons = pc.value_counts(quarantined["quarantine_reason"]).to_pylist()
    counts.reasons = dict(
        sorted(((r["values"], r["counts"]) for r in reasons), key=lambda r: (-r[1], r[0]))
    )
    n = table.num_rows - counts.quarantined
    rows = table.filter(pc.invert(broken)).select(kind.field_names)
    rows = rows.append_column("batch_id", pa.array(np.full(n, batch_id, np.int64)))
    rows = rows.append_column("record_number", table.filter(pc.invert(broken))["record_number"])
    rows = rows.append_column("loaded_at", pa.array([started] * n, TIMESTAMP))
    rows = rows.cast(kind_schema(kind))
    if kind.unique_key:
        batch_ids = set(loaded["batch_id"].to_pylist())
        rows, counts.duplicate, conflicts = _first_wins(layer, kind, rows, batch_ids, batch_id, at)
        counts.conflicting = conflicts.num_rows
        if conflicts.num_rows:
            layer.write(conflicts, "event_conflicts", file_name(batch_id))
    counts.loaded = rows.num_rows
    layer.write(rows, kind.name, file_name(batch_id))
    if counts.quarantined:
        layer.write(
            _quarantine(quarantined, batch_id, file.label, at), "quarantine", file_name(batch_id)
        )
    commit_seq = max([0, *(s for s in ledger["commit_seq"].to_pylist() if s is not None)]) + 1
    layer.register(
        _ledger_row(file, batch_id, sha, size, "loaded", None, commit_seq, counts, started)
    )
    result.status, result.mode = "loaded", "parquet"
    result.batch_id, result.counts = batch_id, counts
    return result


def _ledger_row(file, batch_id, sha, size, status, reason, commit_seq, counts, started) -> dict:
    counts = counts or Counts()
    return {
        "batch_id": batch_id,
        "kind": file.kind,
        "file_name": file.label,
        "file_sha256": sha,
        "file_format": file.format or "unknown",
        "file_size_bytes": size,
        "status": status,
        "failure_reason": reason,
        "commit_seq": commit_seq,
        "records_read": counts.read,
        "records_loaded": counts.loaded,
        "records_duplicate": counts.duplicate,
        "records_conflicting": counts.conflicting,
        "records_quarantined": counts.quarantined,
        "records_skipped": counts.skipped,
        "started_at": started,
        "finished_at": now_us(),
    }


def _failed(layer: RawLayer, file: InputFile, reason: str) -> FileResult:
    """A failed file: a 'failed' batch in the ledger (of a batch_id of its own: whatever the
    attempt wrote stays unregistered and is cleaned) with its reason, and no rows."""
    try:
        sha, size = sha256_of(file.path), file.path.stat().st_size
    except OSError:
        sha, size = "", None
    layer.register(
        _ledger_row(
            file, secrets.randbits(62) + 1, sha, size, "failed", reason, None, None, now_us()
        )
    )
    return FileResult(file.label, file.kind, file.format, status="failed", error=reason)


def load_paths(arguments: list[str], kind: str | None = None) -> LoadSummary:
    """Load every file the arguments name into the Spark raw layer, one at a time."""
    files = discover(arguments, kind)
    if not files:
        raise TallyError(
            f"nothing to load in {' '.join(arguments)}: no {readable_extensions()} file"
        )
    layer = RawLayer()
    summary = LoadSummary()
    with locked():
        layer.ensure()
        layer.clean()
        for file in files:
            started = time.monotonic()
            try:
                if file.format is None:
                    raise FileRejected(
                        f"unknown extension (expected {readable_extensions()}, maybe .gz)"
                    )
                if FORMATS[file.format].parse is None:
                    raise FileRejected(FORMATS[file.format].not_read)
                result = _load_file(layer, file, layer.ledger())
            except FileRejected as error:
                result = _failed(layer, file, str(error))
            except OSError as error:
                result = FileResult(
                    file.label,
                    file.kind,
                    file.format,
                    status="failed",
                    error=f"cannot read: {error.strerror or error}",
                )
            result.seconds = time.monotonic() - started
            summary.files.append(result)
    return summary
