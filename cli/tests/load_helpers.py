"""Helpers shared by the loading tests: write records in any format, load, read back."""

import csv
import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import query, run_tally

EVENT = {
    "event_id": "e1",
    "org_id": "org_a",
    "user_id": "u1",
    "api_key_id": "k1",
    "model_id": "gpt-4o",
    "event_time": "2026-11-20T10:00:00Z",
    "input_tokens": 100,
    "output_tokens": 20,
    "status": "success",
    "latency_ms": 300,
}


def event(**changes) -> dict:
    return {**EVENT, **changes}


def write(path: Path, records: list[dict], gz: bool | None = None) -> Path:
    """Records to `path` in the format its name says (.jsonl, .csv, .parquet, each maybe .gz)."""
    gz = path.name.endswith(".gz") if gz is None else gz
    fmt = path.name.removesuffix(".gz").rsplit(".", 1)[-1]
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(records), path)
        if gz:
            data = path.read_bytes()
            path.write_bytes(gzip.compress(data))
        return path
    opener = gzip.open if gz else open
    with opener(path, "wt", newline="", encoding="utf-8") as handle:
        if fmt == "csv":
            names = list(dict.fromkeys(k for r in records for k in r))
            writer = csv.DictWriter(handle, names)
            writer.writeheader()
            writer.writerows(records)
        else:
            for record in records:
                handle.write(json.dumps(record) + "\n")
    return path


def load(*args: str):
    return run_tally("load", *map(str, args), check=False)


def load_json(*args: str) -> dict:
    result = load("--json", *args)
    return json.loads(result.stdout) | {"exit": result.returncode, "stderr": result.stderr}


def events(url: str) -> dict[str, tuple]:
    rows = query(
        url,
        "select event_id, org_id, user_id, api_key_id, model_id, event_time, input_tokens,"
        " output_tokens, status, latency_ms from raw.events",
    )
    return {row[0]: row[1:] for row in rows}


def quarantine(url: str) -> list[tuple]:
    return query(url, "select record_number, reason, record from raw.quarantine order by 1")
