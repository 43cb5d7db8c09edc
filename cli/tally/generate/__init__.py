"""`tally generate`: a realistic synthetic data set, deterministic for a seed.

Organizations of heavy-tailed size in several time zones (fractional and daylight-saving ones
included), users and API keys with traffic concentrated on a few keys and models per
organization, a daily cycle in local time, 1-3 % errors, and configurable fractions of late,
duplicate (some conflicting), voided and bad records. Events are made in vectorised chunks, so
ten million take well under a minute and memory stays bounded by a chunk.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from tally.generate import population
from tally.generate.events import make_chunk
from tally.generate.tables import text_events, typed_events
from tally.generate.writers import KindWriter

CHUNK_ROWS = 500_000
DEFAULT_END = datetime(2026, 11, 21, tzinfo=UTC)  # fixed, so a seed always gives the same files
ENTITY_TIMESTAMPS = {"created_at", "revoked_at"}


@dataclass
class Fractions:
    late: float = 0.01
    duplicates: float = 0.005
    voided: float = 0.002
    bad: float = 0.001


@dataclass
class Generated:
    files: dict[str, int] = field(default_factory=dict)  # path -> records


def _entity_table(records: list[dict], typed: bool) -> pa.Table:
    table = pa.Table.from_pylist(records)
    if not typed:
        return table
    columns = {}
    for name in table.column_names:
        column = table[name]
        if name in ENTITY_TIMESTAMPS:
            column = pa.compute.if_else(
                pa.compute.equal(column, ""), pa.scalar(None, pa.string()), column
            )
            column = pa.compute.strptime(
                column, format="%Y-%m-%dT%H:%M:%SZ", unit="s", error_is_null=True
            )
            column = column.cast(pa.timestamp("s", tz="UTC"))
        columns[name] = column
    return pa.table(columns)


def generate(
    events: int,
    out: Path,
    seed: int = 0,
    fmt: str = "jsonl",
    gz: bool = False,
    fractions: Fractions | None = None,
    days: int = 7,
    end: datetime = DEFAULT_END,
) -> Generated:
    fractions = fractions or Fractions()
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    window_start = end - timedelta(days=days)
    people = population.build(rng, events, window_start, days, seed)
    typed = fmt == "parquet"
    writers = {k: KindWriter(out, k, fmt, gz) for k in ("organizations", "users", "api_keys")}
    writers["organizations"].write(_entity_table(people.organizations, typed))
    writers["users"].write(_entity_table(people.users, typed))
    writers["api_keys"].write(_entity_table(people.api_keys, typed))
    writers["events"] = KindWriter(out, "events", fmt, gz)
    writers["voids"] = KindWriter(out, "voids", fmt, gz)
    start_s = int(window_start.timestamp())
    to_table = typed_events if typed else text_events
    shares = vars(fractions)
    for first in range(0, events, CHUNK_ROWS):
        size = min(CHUNK_ROWS, events - first)
        chunk = make_chunk(rng, people, first, size, start_s, days, shares, seed)
        writers["events"].write(to_table(chunk, people, seed))
        writers["voids"].write(_voids_table(chunk.voids, typed))
    for writer in writers.values():
        writer.close()
    return Generated({str(w.path): w.rows for w in writers.values()})


def _voids_table(voids: dict, typed: bool) -> pa.Table:
    voided_at = pa.array(voids["voided_at"], pa.timestamp("s", tz="UTC"))
    if not typed:
        text = pa.compute.replace_substring(
            voided_at.cast(pa.timestamp("s")).cast(pa.string()), " ", "T", max_replacements=1
        )
        voided_at = pa.compute.binary_join_element_wise(text, "Z", "")
    return pa.table(
        {
            "event_id": voids["event_id"],
            "voided_at": voided_at,
            "reason": pa.array(voids["reason"], pa.string()),
        }
    )
