"""The benchmarks' results files: each run appends one JSON object to
benchmarks/results/<benchmark>.jsonl (commit, UTC time, machine, figures), so that a table or a
plot of any figure over time is one `jq` or pandas call away. docs/benchmarks.md holds the method
and the current figures; these files hold every run."""

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _commit() -> str:
    found = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
        cwd=RESULTS.parent,
    )
    return found.stdout.strip() or "unknown"


def commit() -> str:
    """The checkout's commit, as a run that takes long should read it at its start."""
    return _commit()


def append(benchmark: str, figures: dict, measured_commit: str | None = None) -> Path:
    """Append one run's figures to the benchmark's results file; returns its path."""
    RESULTS.mkdir(exist_ok=True)
    run = {
        "commit": measured_commit or _commit(),
        "utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cores": os.cpu_count(),
        **figures,
    }
    path = RESULTS / f"{benchmark}.jsonl"
    with path.open("a") as handle:
        handle.write(json.dumps(run, sort_keys=False) + "\n")
    print(f"results appended to {path}")
    return path
