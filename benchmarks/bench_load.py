"""Loading benchmark: 5 million generated events from CSV, JSON Lines and Parquet, each into a
fresh raw layer, beside `psql \\copy` of the same CSV into a bare table, in the same run.

Prints events/s, the ratio to \\copy and the loader's peak RSS. Targets (issue 3): CSV at least
70 % of \\copy's rate, JSON Lines and Parquet at least 50 %, peak RSS under 500 MB. Into a fresh
raw layer each file loads in bulk mode; the CSV loads once more on the incremental path (a reader
holds raw.events), for the rate of a load that is small against its table.

The machine's speed drifts by a quarter within minutes (\\copy of the same file: 9 s to 14 s), so
the loads and \\copy alternate in rounds: each round is a \\copy and one load of each format, and
each load's ratio is to the mean of the \\copy before and after it. A format's figure is the
median of its rounds; every round is printed.

    python benchmarks/bench_load.py [--events N] [--rounds R] [--keep DIR]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from itertools import pairwise
from pathlib import Path

import psycopg

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR / "cli"))

import results  # noqa: E402  (benchmarks/results.py)
from tally.embedded_db import EmbeddedServer, _binaries  # noqa: E402
from tally.generate import Fractions, generate  # noqa: E402

TARGETS = {"csv": 0.70, "jsonl": 0.50, "parquet": 0.50}
MAX_RSS_MB = 500
BARE = """
create table bench_bare (
    event_id text, org_id text, user_id text, api_key_id text, model_id text,
    event_time timestamptz, input_tokens bigint, output_tokens bigint, status text,
    latency_ms bigint, cache_read_input_tokens bigint, cache_write_input_tokens bigint,
    reasoning_tokens bigint, service_tier text
)"""


def fresh(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for schema in ("raw", "ops"):
            conn.execute(f"drop schema if exists {schema} cascade")
        conn.execute("drop table if exists bench_bare")
        conn.execute("checkpoint")


def _peak_rss_mb(pid: int) -> int:
    """VmHWM of a running process: its own peak, not counting what it inherited at fork."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def run_child(command: list[str], env: dict) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MB (polled from /proc: getrusage of a child would count the
    memory of this process at fork) and stdout of a child process."""
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    peak = 0
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.append(child.stdout.read()))
    reader.start()
    while child.poll() is None:
        peak = max(peak, _peak_rss_mb(child.pid))
        time.sleep(0.1)
    reader.join()
    elapsed = time.perf_counter() - started
    if child.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(command)} exited {child.returncode}")
    return elapsed, peak, "".join(output)


def copy_seconds(url: str, csv_path: Path) -> float:
    fresh(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(BARE)
    psql = str(_binaries() / "psql")
    command = [psql, url, "-qc", f"\\copy bench_bare from '{csv_path}' csv header"]
    seconds, _, _ = run_child(command, dict(os.environ))
    return seconds


def load_seconds(path: Path, rows: int, env: dict) -> tuple[float, int]:
    """Wall seconds and peak RSS of `tally load` of one file, checked against the file."""
    command = [sys.executable, "-m", "tally", "load", "--json", str(path)]
    seconds, rss, output = run_child(command, env)
    summary = json.loads(output)
    totals = summary["totals"]
    assert totals["loaded"] + totals["duplicate"] + totals["quarantined"] == rows
    mode = summary["files"][0]["mode"]
    print(f"loaded {path.name}: {seconds:.1f} s, peak RSS {rss} MB, {mode}", flush=True)
    return seconds, rss


def report(rows: int, copies: list[float], loads: dict, incremental, incremental_copy: float):
    """Each round's figures, then each format's median ratio against its target."""
    print(f"\npsql \\copy into a bare table: {', '.join(f'{s:.1f} s' for s in copies)}")
    header = ("format", "events/s", "vs \\copy", "target", "peak RSS", "rounds")
    print("{:8} {:>10} {:>9} {:>7} {:>9}  {}".format(*header))
    met = True
    figures = {}
    for fmt, runs in loads.items():
        ratios = [  # \copy's seconds (mean of the one before and the one after) / the load's
            (before + after) / 2 / seconds
            for (before, after), (seconds, _) in zip(pairwise(copies), runs, strict=True)
        ]
        ratio = statistics.median(ratios)
        rss = max(peak for _, peak in runs)
        ok = ratio >= TARGETS[fmt] and rss < MAX_RSS_MB
        met &= ok
        rate = statistics.median(rows / seconds for seconds, _ in runs)
        figures[fmt] = {"vs_copy": round(ratio, 3), "rounds": [round(r, 3) for r in ratios],
                        "events_per_second": round(rate), "peak_rss_mb": rss}
        print(
            f"{fmt:8} {rate:>10,.0f} {ratio:>8.0%} {TARGETS[fmt]:>7.0%} {rss:>6} MB "
            f" {' '.join(f'{r:.0%}' for r in ratios)}  {'ok' if ok else 'MISSED'}"
        )
    seconds, rss = incremental
    print(
        f"csv, incremental path (no target): {rows / seconds:,.0f} events/s,"
        f" {incremental_copy / seconds:.0%} of \\copy, peak RSS {rss} MB"
    )
    print(f"\n{rows:,} events per format on {os.cpu_count()} cores; all targets met: {met}")
    results.append("load", {
        "events": rows,
        "copy_seconds": [round(s, 2) for s in copies],
        "formats": figures,
        "csv_incremental_vs_copy": round(incremental_copy / seconds, 3),
        "csv_incremental_peak_rss_mb": rss,
        "all_targets_met": met,
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the generated files here")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="tally-bench-"))
    home.chmod(0o755)
    data = args.keep or home / "data"
    env = {**os.environ, "TALLY_HOME": str(home), "TALLY_TARGET": "local"}
    server = EmbeddedServer(home)
    try:
        server.start()
        url = server.url()
        # No bad records, so that \copy into typed columns takes the same file; duplicates, late
        # and voided records as by default.
        fractions = Fractions(bad=0)
        files = {}
        for fmt in ("csv", "jsonl", "parquet"):
            started = time.perf_counter()
            made = generate(args.events, data / fmt, seed=1, fmt=fmt, fractions=fractions)
            files[fmt] = data / fmt / f"events.{fmt}"
            print(
                f"generated {made.files[str(files[fmt])]:,} events as {fmt}"
                f" ({files[fmt].stat().st_size / 1e6:,.0f} MB) in"
                f" {time.perf_counter() - started:.1f} s",
                flush=True,
            )
        rows = made.files[str(files["parquet"])]
        copies = [copy_seconds(url, files["csv"])]
        loads: dict[str, list[tuple[float, int]]] = {fmt: [] for fmt in files}
        for _ in range(args.rounds):
            for fmt, path in files.items():
                fresh(url)
                loads[fmt].append(load_seconds(path, rows, env))
            copies.append(copy_seconds(url, files["csv"]))
        # The same CSV on the incremental path: a reader of raw.events keeps bulk mode out.
        fresh(url)
        run_child([sys.executable, "-m", "tally", "load", str(data / "csv" / "users.csv")], env)
        with psycopg.connect(url) as reader:
            reader.execute("select from raw.events limit 1")
            incremental = load_seconds(files["csv"], rows, env)
        incremental_copy = copy_seconds(url, files["csv"])
        report(rows, copies, loads, incremental, (copies[-1] + incremental_copy) / 2)
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
