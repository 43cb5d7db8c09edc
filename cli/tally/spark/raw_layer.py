"""The raw layer on Spark: each raw table a folder of parquet files, one file per load batch,
made visible by the ledger.

Without transactions, a load commits by registering its batch: its files are written first,
under names that carry the batch_id, then one small file with the batch's row is added to the
ledger (`load_batches/`) in one step (written aside, then renamed). Readers see only the files
of batches the ledger lists as loaded (the raw views that macros/spark/spark_raw_views.sql
defines filter on it, and the loader's key index reads only their keys), so a load killed
half-way leaves nothing visible; the next load or rollup deletes its files (`clean`).

Each table's folder also holds an empty file of its schema (batch 0), so that Spark knows the
columns before the first load: the Arrow schemas below are the tables' one definition.
"""

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from tally.load.kinds import KINDS, Kind
from tally.load.validation import TIMESTAMP, stage_types
from tally.spark.environment import raw_location, spark_home

LEDGER = "load_batches"
SCHEMA_BATCH = 0  # the batch_id of each folder's empty schema file, never registered

LEDGER_SCHEMA = pa.schema(
    [
        ("batch_id", pa.int64()),
        ("kind", pa.string()),
        ("file_name", pa.string()),
        ("file_sha256", pa.string()),
        ("file_format", pa.string()),
        ("file_size_bytes", pa.int64()),
        ("status", pa.string()),
        ("failure_reason", pa.string()),
        ("commit_seq", pa.int64()),
        ("records_read", pa.int64()),
        ("records_loaded", pa.int64()),
        ("records_duplicate", pa.int64()),
        ("records_conflicting", pa.int64()),
        ("records_quarantined", pa.int64()),
        ("records_skipped", pa.int64()),
        ("started_at", TIMESTAMP),
        ("finished_at", TIMESTAMP),
    ]
)
QUARANTINE_SCHEMA = pa.schema(
    [
        ("batch_id", pa.int64()),
        ("file_name", pa.string()),
        ("record_number", pa.int64()),
        ("record", pa.string()),
        ("reason", pa.string()),
        ("quarantined_at", TIMESTAMP),
    ]
)
CONFLICTS_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("batch_id", pa.int64()),
        ("record_number", pa.int64()),
        ("record", pa.string()),
        ("detected_at", TIMESTAMP),
    ]
)


def kind_schema(kind: Kind) -> pa.Schema:
    """A kind's raw table: its fields in their raw-layer types, the batch, the record number and
    the load time, as in PostgreSQL's raw layer."""
    types = stage_types(kind)
    return pa.schema(
        [(name, types[name]) for name in kind.field_names]
        + [("batch_id", pa.int64()), ("record_number", pa.int64()), ("loaded_at", TIMESTAMP)]
    )


def table_schemas() -> dict[str, pa.Schema]:
    """Every raw table (each a source of the dbt project on Spark) and its columns."""
    return {
        LEDGER: LEDGER_SCHEMA,
        **{name: kind_schema(kind) for name, kind in KINDS.items()},
        "quarantine": QUARANTINE_SCHEMA,
        "event_conflicts": CONFLICTS_SCHEMA,
    }


KEYS = "keys"  # the key index of tally.spark.keys, not a table of the dbt project


def file_name(batch_id: int) -> str:
    return f"{batch_id:020d}.parquet"


def now_us() -> int:
    return time.time_ns() // 1000


class RawLayer:
    """The raw layer's folder, on the local disk or a cluster's file system."""

    def __init__(self, location: str | None = None):
        self.location = location or raw_location()
        self.fs, self.root = pafs.FileSystem.from_uri(
            self.location if "://" in self.location else "file://" + self.location
        )

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def ensure(self) -> None:
        """Every table's folder with its schema file."""
        for table, schema in table_schemas().items():
            schema_file = self.path(table, file_name(SCHEMA_BATCH))
            if self.fs.get_file_info(schema_file).type == pafs.FileType.NotFound:
                self.fs.create_dir(self.path(table), recursive=True)
                self.write(schema.empty_table(), table, file_name(SCHEMA_BATCH))

    def write(self, table: pa.Table, *parts: str) -> None:
        self.fs.create_dir("/".join(self.path(*parts).split("/")[:-1]), recursive=True)
        pq.write_table(table, self.path(*parts), filesystem=self.fs)

    def ledger(self) -> pa.Table:
        """Every registered batch (loaded or failed)."""
        return ds.dataset(self.path(LEDGER), format="parquet", filesystem=self.fs).to_table()

    def register(self, row: dict) -> None:
        """The commit: the batch's ledger row, written aside and renamed into the ledger."""
        aside = self.path(LEDGER, f"_registering-{row['batch_id']}.parquet")
        pq.write_table(pa.Table.from_pylist([row], LEDGER_SCHEMA), aside, filesystem=self.fs)
        self.fs.move(aside, self.path(LEDGER, file_name(row["batch_id"])))

    def files(self, folder: str) -> Iterator[pafs.FileInfo]:
        selector = pafs.FileSelector(self.path(folder), recursive=True, allow_not_found=True)
        yield from (info for info in self.fs.get_file_info(selector) if info.is_file)

    def clean(self) -> int:
        """Delete every file of a batch the ledger does not list (a load killed half-way);
        returns how many. Call it holding `locked()`, so no load is under way."""
        registered = {SCHEMA_BATCH, *self.ledger()["batch_id"].to_pylist()}
        removed = 0
        for folder in [*table_schemas(), KEYS]:
            for info in self.files(folder):
                stem = info.base_name.removesuffix(".parquet")
                if stem.startswith("_registering-") or (
                    stem.isdigit() and int(stem) not in registered
                ):
                    self.fs.delete_file(info.path)
                    removed += 1
        return removed


@contextmanager
def locked() -> Iterator[None]:
    """One load (or clean-up) at a time on this machine's raw layer: a lock file under
    $TALLY_HOME/spark. Loads into a cluster's raw layer from several machines at once are not
    coordinated: run them from one place."""
    with open(spark_home() / "load.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
