"""tally on Spark local[2] beside the embedded PostgreSQL: the same events, the same steps.

1. Generate N events (default 1 million) over 30 days as CSV, and 1 % late events (copies of
   loaded events with new ids, event times spread over the last 30 days).
2. For each engine, the `spark` target then the `local` one (the embedded PostgreSQL), in a
   TALLY_HOME and project copy of its own: load, `tally rollup --full-refresh`, load the late
   events, `tally rollup` (incremental), `tally verify`; each step timed end to end (`tally` as
   a subprocess: wall clock, the JVM's start and dbt's fixed costs included).
3. Check that the contract tables hold the same rows on both: the row count and the sum of
   every measure of fct_usage_hourly, fct_usage_daily and fct_usage_daily_by_model (exported
   with `tally export`).
4. Print each step per engine and the ratio Spark / PostgreSQL; append one line per run to
   benchmarks/results/spark.jsonl (commit, UTC time, figures).

Usage: python benchmarks/bench_spark.py [--events N]   (make bench-spark)
Exits non-zero when a step fails or the engines' tables differ.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import results  # benchmarks/results.py
import state_folder  # benchmarks/state_folder.py (puts tally on the path)
import tally_command  # benchmarks/tally_command.py
from late_events import late_copies
from tally import measures

ENGINES = {"spark": "spark", "postgres": "local"}  # engine: tally target
STEPS = ("load", "full_refresh", "late_load", "late_rollup", "verify")
TABLES = ("fct_usage_hourly", "fct_usage_daily", "fct_usage_daily_by_model")


def tally(target: str, *args: str, accept: tuple[int, ...] | None = (0,)) -> float:
    """`tally ARGS --target TARGET`; its wall clock in seconds."""
    return tally_command.tally(*args, "--target", target, accept=accept)


def summary(target: str, home: Path) -> dict[str, dict[str, str]]:
    """Per contract table: its row count and the sum of each measure, as exact strings."""
    found = {}
    for table in TABLES:
        out = home / f"{table}.parquet"
        tally(target, "export", table, "--out", str(out))
        rows = pq.read_table(out)
        figures = {"rows": str(rows.num_rows)}
        for name in measures.names():
            total = pc.sum(rows[name]).as_py()
            figures[name] = f"{Decimal(total or 0).normalize():f}"  # 1008040, not 1.00804E+6
        found[table] = figures
    return found


def run_engine(engine: str, parent: Path, data: Path, late: Path) -> tuple[dict, dict]:
    """The steps on one engine in a home of its own: their wall clocks and the tables' summary."""
    target = ENGINES[engine]
    home = parent / engine
    state_folder.with_project(home)
    wall: dict[str, float] = {}
    try:
        for step, args in (
            ("load", ("load", str(data))),
            ("full_refresh", ("rollup", "--full-refresh")),
            ("late_load", ("load", str(late))),
            ("late_rollup", ("rollup",)),
            ("verify", ("verify",)),
        ):
            # verify's verdict is not the benchmark's: a warning or a failure still times it
            wall[step] = tally(target, *args, accept=None if step == "verify" else (0,))
            print(f"{engine:8} {step:12} {wall[step]:8.1f} s", flush=True)
        return wall, summary(target, home)
    finally:
        if target == "local":
            subprocess.run([sys.executable, "-m", "tally", "db", "stop"], stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--late-share", type=float, default=0.01)
    options = parser.parse_args()

    measured = results.commit()  # the code measured: the checkout may move on while the run goes
    parent = Path(tempfile.mkdtemp(prefix="tally-bench-spark-"))
    parent.chmod(0o755)
    data, late = parent / "data", parent / "late" / "events_late.csv"
    late.parent.mkdir()
    os.environ["TALLY_HOME"] = str(parent)  # generate's; each engine gets its own below
    print(f"state folders under {parent}; {options.events:,} events", flush=True)
    wall: dict[str, dict[str, float]] = {}
    tables: dict[str, dict] = {}
    try:
        generate = ("generate", "--events", str(options.events), "--out", str(data))
        tally("local", *generate, "--seed", "11", "--days", "30", "--format", "csv", "--bad", "0")
        picked = late_copies(pacsv.read_csv(data / "events.csv"), options.late_share, 12)
        pacsv.write_csv(picked, late)
        for engine in ENGINES:
            wall[engine], tables[engine] = run_engine(engine, parent, data, late)
    finally:
        shutil.rmtree(parent, ignore_errors=True)

    print()
    print(f"{'step':12} {'spark':>9} {'postgres':>9} {'spark/pg':>9}")
    for step in STEPS:
        spark, postgres = wall["spark"][step], wall["postgres"][step]
        print(f"{step:12} {spark:8.1f}s {postgres:8.1f}s {spark / postgres:8.1f}x")
    same = tables["spark"] == tables["postgres"]
    for table in TABLES:
        agree = tables["spark"][table] == tables["postgres"][table]
        rows, requests = (tables["postgres"][table][key] for key in ("rows", "request_count"))
        verdict = "agree" if agree else "DIFFER"
        print(f"{table:26} {rows:>9} rows, {requests:>9} requests: counts and sums {verdict}")
        if not agree:
            for engine in ENGINES:
                print(f"  {engine:8} {tables[engine][table]}")
    results.append(
        "spark",
        {
            "events": options.events,
            "late_events": picked.num_rows,
            "wall_seconds": {
                engine: {step: round(wall[engine][step], 1) for step in STEPS} for engine in ENGINES
            },
            "spark_to_postgres": {
                step: round(wall["spark"][step] / wall["postgres"][step], 2) for step in STEPS
            },
            "same_rows": same,
        },
        measured_commit=measured,
    )
    if not same:
        raise SystemExit("the engines' contract tables differ")


if __name__ == "__main__":
    main()
