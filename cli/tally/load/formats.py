"""The input formats tally reads, one entry each: the one list that discovery (which files a
folder holds), the dispatch (which parser reads a file), bulk mode (how many records a file
holds, by estimate) and the messages (what tally reads) take them from.

A new format is one entry of FORMATS: its name (recorded as the batch's `file_format`), its
extensions (each may be followed by `.gz`), a parser from a file's bytes to batches of records
(tally.load.parsing), and how to estimate its records. A file of no entry's extension fails
with one line, and is not read at all. A format may hold one kind of file only (OpenTelemetry
spans come in OTLP/JSON, which holds nothing else): the extension is then read as that format
for that kind alone.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tally.load import otlp_spans, parsing
from tally.load.kinds import LOAD_ORDER, Kind
from tally.load.parsing import Batch
from tally.load.reading import ByteSource

Parser = Callable[[Kind, ByteSource], Iterator[Batch]]


@dataclass(frozen=True)
class Format:
    name: str
    extensions: tuple[str, ...]  # lower case, with the dot; each may be followed by .gz
    parse: Parser | None  # None: recognised, so that it fails with `not_read`, but not read
    # After parse raises parsing.Restart (a record it cannot take), the file is read again by
    # this parser, record by record.
    reparse: Parser | None = None
    # Bytes of a record, for bulk mode's estimate from the file's size (above what tally
    # generate writes, so that the estimate errs towards the incremental path); None: no
    # estimate from the size.
    record_bytes: int | None = None
    # Records counted without reading the file (a count in its metadata); before record_bytes.
    count: Callable[[Path], int] | None = None
    parse_ahead: bool = False  # parsed in a thread of its own, ahead of checks and COPY
    not_read: str = ""  # the failure of a file whose format has no parser
    # A database of several tables (the legacy application's), loaded table by table by
    # tally.load.legacy rather than parsed as one kind's records.
    holds_tables: bool = False
    # The kinds of file it holds (tally.load.kinds): () for every kind of LOAD_ORDER.
    kinds: tuple[str, ...] = ()

    def reads(self, kind: str) -> bool:
        return kind in (self.kinds or LOAD_ORDER)


FORMATS = {
    entry.name: entry
    for entry in (
        # tally generate writes 260 bytes a record; parsing is the heavy part of a load, so it
        # runs ahead in a thread (tally.load.copying).
        Format(
            "jsonl",
            (".jsonl", ".ndjson"),
            parsing.jsonl,
            record_bytes=300,
            parse_ahead=True,
        ),
        # tally generate writes 125 bytes a record
        Format("csv", (".csv",), parsing.csv_blocks, parsing.csv_slowly, record_bytes=150),
        Format("parquet", (".parquet",), parsing.parquet, count=parsing.parquet_records),
        # OpenTelemetry trace exports: one request object per file or per line (about 1.5 kB a
        # GenAI span as the OpenAI instrumentation writes it)
        Format(
            "otlp_json",
            (".json", ".jsonl", ".ndjson"),
            otlp_spans.otlp_json,
            record_bytes=1500,
            kinds=("spans",),
        ),
        Format("sqlite", (".db", ".sqlite", ".sqlite3"), None, holds_tables=True),
    )
}
GZIP_RATIO = 4  # the size of a .gz file's content, by estimate, against the file's


def format_of(path: Path, kind: str = "events") -> tuple[Format | None, bool]:
    """(format, gzip) of a kind's file from its extension: `events.csv.gz` is (csv, True),
    `spans.jsonl` (kind spans) is (otlp_json, False)."""
    suffixes = [s.lower() for s in path.suffixes]
    gz = bool(suffixes) and suffixes[-1] == ".gz"
    if gz:
        suffixes = suffixes[:-1]
    for entry in FORMATS.values():
        if suffixes and suffixes[-1] in entry.extensions and entry.reads(kind):
            return entry, gz
    return None, gz


def readable_extensions(kind: str = "events") -> str:
    """`.jsonl, .ndjson, .csv or .parquet` (each maybe .gz): what the messages name."""
    names = [
        ext
        for entry in FORMATS.values()
        if (entry.parse or entry.holds_tables) and entry.reads(kind)
        for ext in entry.extensions
    ]
    return f"{', '.join(names[:-1])} or {names[-1]}"
