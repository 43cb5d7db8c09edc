"""Incremental rollup after 1% late events, against a full refresh, on generated events.

1. Generate N events (default 10 million) over 60 days and load them.
2. Full refresh of the rollups; then 1% more events, copies of loaded ones with new ids and
   event times spread over the last 30 days (late arrivals where traffic is), loaded and rolled
   up incrementally. Model execution times come from dbt's run_results.json of each run.
3. Check: the incremental tables equal a fresh full refresh, row for row.
4. The field's baseline: dbt microbatch (lookback 3 days) over the same events, built before the
   late events arrive and run again after; prints how many events it misses.

Usage: python benchmarks/bench_rollup.py [--events N]   (make bench-rollup)
Target: incremental model execution time <= 5% of the full refresh's.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import results  # benchmarks/results.py
import state_folder  # benchmarks/state_folder.py
from late_events import late_copies
from tally_command import tally  # benchmarks/tally_command.py

BENCHMARKS = Path(__file__).resolve().parent
ROLLUP_MODELS = (
    "fct_usage_hourly",
    "fct_usage_daily_v1",
    "fct_usage_daily_v2",
    "fct_usage_daily_by_model",
)
USAGE_SELECTION = (
    "--select",
    "+fct_usage_hourly",
    "+fct_usage_daily",
    "+fct_usage_daily_by_model",
    "+rpt_usage_reconciliation",
    "--exclude",
    "resource_type:test",
    "resource_type:unit_test",
)
TARGET_RATIO = 0.05


def timed_dbt(*args: str) -> tuple[float, dict[str, float]]:
    """Wall time of a dbt call, and each model's execution time from run_results.json."""
    from tally.dbt_invocation import artifacts_dir, run_dbt

    started = time.perf_counter()
    result = run_dbt("local", *args, "--quiet")
    wall = time.perf_counter() - started
    if not result.success:
        raise SystemExit(f"dbt {' '.join(args)} failed")
    results = json.loads((artifacts_dir() / "run_results.json").read_text())["results"]
    return wall, {
        r["unique_id"].split(".", 2)[-1].replace(".v", "_v"): r["execution_time"]
        for r in results
        if r["unique_id"].startswith("model.")
    }


def write_late_copies(events_file: Path, out: Path, share: float, seed: int) -> int:
    picked = late_copies(pq.read_table(events_file), share, seed)
    pq.write_table(picked, out)
    return picked.num_rows


def microbatch(url: str, *args: str) -> None:
    """dbt microbatch from the first event's day, daily batches over an event_time index (what a
    warehouse would get from partition pruning), so the baseline is not slowed by full scans."""
    from dbt.cli.main import dbtRunner
    from tally.dbt_invocation import dbt_env

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create index if not exists bench_events_time_idx on raw.events (event_time)")
        first = "select min(event_time) at time zone 'UTC' from raw.events"
        begin = conn.execute(first).fetchone()[0]
    os.environ.update(dbt_env("local"))
    project = BENCHMARKS / "microbatch"
    result = dbtRunner().invoke(
        [
            "run",
            *args,
            "--quiet",
            "--project-dir",
            str(project),
            "--target",
            "local",
            "--target-path",
            str(Path(os.environ["TALLY_HOME"]) / "microbatch-target"),
            "--vars",
            json.dumps({"microbatch_begin": begin.strftime("%Y-%m-%d")}),
        ]
    )
    if not result.success:
        raise SystemExit("the microbatch baseline failed")


def incremental_copies_match(conn, table: str) -> bool:
    difference = conn.execute(
        f"select count(*) from ((select * from incremental_{table} except all"
        f" select * from analytics.{table}) union all (select * from analytics.{table}"
        f" except all select * from incremental_{table})) as d"
    ).fetchone()[0]
    return difference == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--late-share", type=float, default=0.01)
    options = parser.parse_args()

    home = state_folder.fresh("tally-bench-rollup-")
    data = home / "data"
    print(f"state folder {home}; {options.events:,} events", flush=True)
    try:
        started = time.perf_counter()
        tally(
            "generate",
            "--events",
            str(options.events),
            "--out",
            str(data),
            "--seed",
            "11",
            "--days",
            "60",
            "--format",
            "parquet",
            "--bad",
            "0",
        )
        print(f"generated in {time.perf_counter() - started:.0f} s", flush=True)
        started = time.perf_counter()
        tally("load", str(data))
        print(f"loaded in {time.perf_counter() - started:.0f} s", flush=True)

        from tally.targets import database_url

        url = database_url("local")
        full_wall, full = timed_dbt("build", *USAGE_SELECTION, "--full-refresh")
        microbatch(url, "--full-refresh")
        late_file = home / "late" / "events_late.parquet"
        late_file.parent.mkdir()
        late = write_late_copies(data / "events.parquet", late_file, options.late_share, seed=12)
        tally("load", str(late_file))
        incremental_wall, incremental = timed_dbt("build", *USAGE_SELECTION)
        microbatch(url)

        with psycopg.connect(url, autocommit=True) as conn:
            for table in ROLLUP_MODELS:
                conn.execute(
                    f"create temp table incremental_{table} as select * from analytics.{table}"
                )
            raw_events = conn.execute("select count(*) from raw.events").fetchone()[0]
            counted = conn.execute(
                "select sum(request_count)::bigint from analytics_benchmark.usage_hourly_microbatch"
            ).fetchone()[0]
            timed_dbt("build", *USAGE_SELECTION, "--full-refresh")
            identical = all(incremental_copies_match(conn, table) for table in ROLLUP_MODELS)

        full_models = sum(full[m] for m in ROLLUP_MODELS)
        incremental_models = sum(incremental[m] for m in ROLLUP_MODELS)
        ratio = incremental_models / full_models
        print()
        print(f"{'':34} {'full refresh':>14} {'incremental':>14} {'ratio':>8}")
        for model in (*ROLLUP_MODELS, "rpt_usage_reconciliation"):
            print(
                f"{model:34} {full[model]:>12.1f} s {incremental[model]:>12.1f} s"
                f" {incremental[model] / full[model]:>8.1%}"
            )
        print(
            f"{'rollup models (target <= 5%)':34} {full_models:>12.1f} s"
            f" {incremental_models:>12.1f} s {ratio:>8.1%}"
        )
        print(
            f"{'end-to-end dbt run (wall)':34} {full_wall:>12.1f} s {incremental_wall:>12.1f} s"
            f" {incremental_wall / full_wall:>8.1%}"
        )
        print(f"late events loaded: {late:,}; incremental equals full refresh: {identical}")
        print(
            f"dbt microbatch (lookback 3 days): {raw_events - counted:,} of {raw_events:,}"
            f" events missing from its table"
        )
        print(
            f"target incremental <= {TARGET_RATIO:.0%} of full: "
            f"{'met' if ratio <= TARGET_RATIO else 'NOT met'} ({ratio:.1%})"
        )
        results.append(
            "rollup",
            {
                "events": options.events,
                "late_events": late,
                "full_refresh_seconds": {m: round(full[m], 1) for m in full},
                "incremental_seconds": {m: round(incremental[m], 1) for m in incremental},
                "rollup_models_ratio": round(ratio, 4),
                "wall_seconds": {
                    "full_refresh": round(full_wall, 1),
                    "incremental": round(incremental_wall, 1),
                },
                "incremental_equals_full_refresh": identical,
                "microbatch_missing_events": raw_events - counted,
            },
        )
    finally:
        subprocess.run([sys.executable, "-m", "tally", "db", "stop"], stdout=subprocess.DEVNULL)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
