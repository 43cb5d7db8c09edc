"""`tally db backup` / `tally db restore`: a backup taken while a load is under way holds the
state before it, and a restore brings that state back exactly (every table of every schema, the
rollup state included), after which the pipeline carries on."""

import subprocess
import sys
import time

import psycopg
from conftest import PROJECT_DIR, query, run_tally
from db_state import checksums
from tally import locks

LEDGER = "ops.pipeline_runs"  # each command appends its own row when it ends


def _wait_for_load_at_commit(url: str, timeout: float = 120) -> None:
    """Until a load has copied its file and waits for the commit lock the test holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = query(
            url,
            "select count(*) from pg_stat_activity where application_name = 'tally'"
            " and wait_event_type = 'Lock' and wait_event = 'advisory'",
        )[0][0]
        if waiting:
            return
        time.sleep(0.2)
    raise AssertionError("the load never reached its commit")


def test_backup_during_a_load_then_restore_gives_the_same_tables(clean_db, tmp_path):
    first, second, third = (tmp_path / name for name in ("first", "second", "third"))
    run_tally("generate", "--events", "2000", "--out", str(first), "--seed", "1")
    run_tally("generate", "--events", "1500", "--out", str(second), "--seed", "2")
    run_tally("generate", "--events", "500", "--out", str(third), "--seed", "3")
    assert run_tally("load", str(first), check=False).returncode in (0, 3)
    run_tally("rollup")
    before = checksums(clean_db, (LEDGER,))
    ledger_rows = query(clean_db, f"select count(*) from {LEDGER}")[0][0]

    backup = tmp_path / "tally.dump"
    with psycopg.connect(clean_db, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", [locks.LOAD_COMMIT])
        load = subprocess.Popen(
            [sys.executable, "-m", "tally", "load", str(second / "events.jsonl")],
            cwd=PROJECT_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_for_load_at_commit(clean_db)
        result = run_tally("db", "backup", str(backup))
        assert load.poll() is None, "the load ended before the backup: no overlap"
        holder.execute("select pg_advisory_unlock(%s)", [locks.LOAD_COMMIT])
    assert load.wait(timeout=120) in (0, 3), load.stderr
    assert "bytes in" in result.stdout

    assert run_tally("load", str(third), check=False).returncode in (0, 3)  # change everything
    run_tally("rollup")
    assert checksums(clean_db, (LEDGER,)) != before

    restored = run_tally("db", "restore", str(backup))
    assert restored.stdout.startswith("restored ")
    assert checksums(clean_db, (LEDGER,)) == before
    assert query(clean_db, f"select count(*) from {LEDGER}")[0][0] == ledger_rows + 1

    # The pipeline carries on: the load the backup did not hold loads again, and the rollup
    # picks it up from the restored state.
    again = run_tally("load", str(second / "events.jsonl"), check=False)
    assert again.returncode in (0, 3) and "already loaded" not in again.stdout
    run_tally("rollup")
    assert query(
        clean_db, "select count(*) from analytics.rpt_usage_reconciliation where status <> 'ok'"
    ) == [(0,)]


def test_restore_refuses_what_is_not_a_backup(clean_db, tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a backup")
    for args in (
        ["db", "restore", str(bogus)],
        ["db", "restore", str(tmp_path / "none.dump")],
        ["db", "backup", str(tmp_path / "missing" / "x.dump")],
    ):
        result = run_tally(*args, check=False)
        assert result.returncode == 1
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("Error: "), line
