"""Files named after their kind, in JSON Lines, CSV or Parquet, optionally gzipped."""

import gzip
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tally.arrow_bytes import value_bytes
from tally.generate.tables import json_lines

EXTENSIONS = {"jsonl": ".jsonl", "csv": ".csv", "parquet": ".parquet"}


class KindWriter:
    """Appends Arrow tables of one kind to `<kind>.<format>[.gz]` in a folder."""

    def __init__(self, folder: Path, kind: str, fmt: str, gz: bool):
        self.fmt, self.gz = fmt, gz
        self.path = folder / f"{kind}{EXTENSIONS[fmt]}{'.gz' if gz else ''}"
        self.rows = 0
        self._plain = self.path.with_suffix("") if gz and fmt == "parquet" else self.path
        self._handle = None
        self._writer = None

    def write(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        if self.fmt == "parquet":
            if self._writer is None:
                self._writer = pq.ParquetWriter(self._plain, table.schema, compression="zstd")
            self._writer.write_table(table)
            return
        if self._handle is None:
            # Kept open across write() calls and closed by close(): not a `with` block.
            self._handle = (
                gzip.open(self.path, "wb", compresslevel=1)  # noqa: SIM115
                if self.gz
                else open(self.path, "wb")  # noqa: SIM115
            )
        if self.fmt == "jsonl":
            lines = json_lines(table)  # one buffer of text: write it without copying rows
            self._handle.write(value_bytes(lines))
        else:
            if self._writer is None:
                self._writer = pacsv.CSVWriter(self._handle, table.schema)
            self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._handle is not None:
            self._handle.close()
        if self.fmt == "parquet" and self.gz and self._plain.exists():
            with open(self._plain, "rb") as source, gzip.open(self.path, "wb", 1) as target:
                shutil.copyfileobj(source, target, 1 << 20)
            self._plain.unlink()
