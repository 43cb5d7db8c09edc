"""Moving in from the legacy SQLite database, backups and schema changes, timed on N events.

1. `tally generate --format sqlite` writes the legacy database (N usage events, N/50 audit
   entries). Baseline: reading the same rows with the sqlite3 command-line tool alone.
2. `tally load app.db` into an empty database: rows per second, against the baseline's.
3. Catch-up: 10,000 new usage events written to the legacy database, then `tally load app.db`
   again; its wall time is the downtime of a move (the application stopped meanwhile).
4. `tally rollup`, then `tally db backup` and `tally db restore` of the whole database.
5. Two analyst questions asked of the SQLite file and of the rollups, timed.
6. Each migration reverted and applied again (newest first: a migration that drops data is
   measured after those that keep it), each step's time.

Figures are appended to benchmarks/results/ops.jsonl (one line per run, benchmarks/results.py).
Usage: python benchmarks/bench_ops.py [--events N]   (make bench-ops; default 1,000,000)
"""

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import results  # benchmarks/results.py, beside this file
import state_folder  # benchmarks/state_folder.py
from tally_command import tally  # benchmarks/tally_command.py

CATCH_UP_ROWS = 10_000
TABLES = ("organizations", "users", "api_keys", "usage_events", "audit_log")


def sqlite3_alone(path: Path) -> float:
    """The sqlite3 tool reading every row of every table the load reads, to /dev/null."""
    selects = "".join(f"select * from {t};" for t in TABLES)
    started = time.perf_counter()
    with open(os.devnull, "w") as sink:
        subprocess.run(["sqlite3", "-readonly", str(path), selects], stdout=sink, check=True)
    return time.perf_counter() - started


def add_events(path: Path, rows: int) -> None:
    """New usage events, as the application would write them while the move is under way."""
    now = int(time.time())
    with sqlite3.connect(path) as db:
        db.executemany(
            "insert into usage_events (id, organization_id, model, created_at, prompt_tokens,"
            " completion_tokens, status, latency_ms) values (?, 'org_9_00000', 'gpt-4o', ?, ?,"
            " ?, 'ok', 300)",
            [(f"late_{i}", now - i, 100 + i % 50, 20 + i % 7) for i in range(rows)],
        )


# The same analyst questions asked of the legacy file (its looseness handled in SQL) and of the
# rollups: (question, SQLite, PostgreSQL).
_LEGACY_TIME = (
    "case typeof(created_at) when 'integer' then datetime(created_at, 'unixepoch')"
    " else datetime(created_at) end"
)
QUESTIONS = (
    (
        "tokens per organization and UTC day",
        f"select organization_id, date({_LEGACY_TIME}), sum(prompt_tokens + completion_tokens)"
        " from usage_events group by 1, 2",
        "select org_id, usage_hour::date, sum(total_tokens) from analytics.fct_usage_hourly"
        " group by 1, 2",
    ),
    (
        "error share per model",
        "select model, avg(lower(status) in ('error', 'failed') or status glob '[45][0-9][0-9]')"
        " from usage_events group by 1",
        "select model_id, sum(error_count)::numeric / sum(request_count)"
        " from analytics.fct_usage_hourly group by 1",
    ),
)


def timed_questions(app_db: Path, url: str) -> list[tuple[str, float, float]]:
    timings = []
    with sqlite3.connect(app_db) as db, psycopg.connect(url) as conn:
        for question, on_sqlite, on_tally in QUESTIONS:
            started = time.perf_counter()
            db.execute(on_sqlite).fetchall()
            middle = time.perf_counter()
            conn.execute(on_tally).fetchall()
            timings.append((question, middle - started, time.perf_counter() - middle))
    return timings


def migration_windows(url: str) -> list[tuple[str, float, float]]:
    from tally.migrations import available, migrate_to

    windows = []
    with psycopg.connect(url) as conn:
        for migration in reversed(available()):
            down = migrate_to(conn, migration.version - 1, allow_data_loss=True)
            up = migrate_to(conn)
            seconds = {s.direction: s.seconds for s in [*down, *up] if s.migration == migration}
            windows.append((migration.label, seconds["down"], seconds["up"]))
    return windows


def basebackup(folder: Path) -> tuple[float, float]:
    """The physical alternative, for the record: pg_basebackup of the embedded cluster (tar,
    WAL streamed alongside, an immediate checkpoint: the default spread one waits minutes);
    its time and size."""
    from tally.embedded_db import tool
    from tally.targets import embedded_server

    server = embedded_server()
    started = time.perf_counter()
    subprocess.run(
        [
            str(tool("pg_basebackup")),
            "-h",
            str(server.socket_dir),
            "-U",
            "postgres",
            "-D",
            str(folder),
            "-Ft",
            "-X",
            "stream",
            "--checkpoint=fast",
        ],
        check=True,
        capture_output=True,
    )
    seconds = time.perf_counter() - started
    return seconds, sum(f.stat().st_size for f in folder.iterdir()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    options = parser.parse_args()
    home = state_folder.fresh("tally-bench-ops-")
    data = home / "legacy"
    figures: dict[str, float] = {}
    try:
        tally(
            "generate",
            "--events",
            str(options.events),
            "--out",
            str(data),
            "--format",
            "sqlite",
            "--seed",
            "9",
        )
        app_db = data / "app.db"
        with sqlite3.connect(app_db) as db:
            rows = sum(db.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES)
        figures["sqlite3_alone_s"] = sqlite3_alone(app_db)
        tally("db", "start")
        figures["legacy_load_s"] = tally("load", str(app_db))
        figures["legacy_rows"] = rows
        add_events(app_db, CATCH_UP_ROWS)
        figures["catch_up_s"] = tally("load", str(app_db))
        figures["rollup_s"] = tally("rollup")
        from tally.targets import database_url

        questions = timed_questions(app_db, database_url("local"))
        backup = home / "tally.dump"
        figures["backup_s"] = tally("db", "backup", str(backup))
        figures["backup_mb"] = backup.stat().st_size / 1e6
        figures["restore_s"] = tally("db", "restore", str(backup))
        figures["basebackup_s"], figures["basebackup_mb"] = basebackup(home / "base")
        windows = migration_windows(database_url("local"))
    finally:
        subprocess.run([sys.executable, "-m", "tally", "db", "stop"], stdout=subprocess.DEVNULL)
        shutil.rmtree(home, ignore_errors=True)

    load_rate = figures["legacy_rows"] / figures["legacy_load_s"]
    alone_rate = figures["legacy_rows"] / figures["sqlite3_alone_s"]
    print(f"{options.events:,} usage events; {figures['legacy_rows']:,} legacy rows in all")
    print(f"sqlite3 alone reads them in {figures['sqlite3_alone_s']:.1f} s ({alone_rate:,.0f}/s)")
    print(
        f"tally load app.db: {figures['legacy_load_s']:.1f} s ({load_rate:,.0f} rows/s,"
        f" {load_rate / alone_rate:.0%} of sqlite3 alone's rate)"
    )
    print(
        f"catch-up of {CATCH_UP_ROWS:,} new rows (the move's downtime):"
        f" {figures['catch_up_s']:.1f} s"
    )
    print(f"rollup {figures['rollup_s']:.1f} s")
    print(
        f"backup {figures['backup_s']:.1f} s ({figures['backup_mb']:.0f} MB),"
        f" restore {figures['restore_s']:.1f} s"
    )
    print(
        f"for comparison, pg_basebackup {figures['basebackup_s']:.1f} s"
        f" ({figures['basebackup_mb']:.0f} MB, the whole cluster, uncompressed)"
    )
    for question, on_sqlite, on_tally in questions:
        print(f"{question}: SQLite file {on_sqlite:.2f} s, tally's rollup {on_tally:.3f} s")
    for label, down, up in windows:
        print(f"migration {label}: down {down:.2f} s, up {up:.2f} s")
    results.append(
        "ops",
        {
            "events": options.events,
            **{k: round(v, 3) for k, v in figures.items()},
            "questions": {q: [round(a, 3), round(b, 4)] for q, a, b in questions},
            "migrations": {label: [round(d, 3), round(u, 3)] for label, d, u in windows},
        },
    )


if __name__ == "__main__":
    main()
