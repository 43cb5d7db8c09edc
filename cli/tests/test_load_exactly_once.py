"""Each event once: first loaded wins, conflicts recorded, a file twice is skipped, a killed load
leaves nothing, and two loads at once of overlapping files agree."""

import json
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest
from conftest import PROJECT_DIR, query
from load_helpers import event, events, load, load_json, write
from tally import locks
from tally.generate import Fractions, generate


def test_first_loaded_wins_and_conflicts_are_recorded(clean_db, tmp_path):
    first = write(
        tmp_path / "a.jsonl",
        [
            event(event_id="e1", input_tokens=1),
            event(event_id="e2"),
            event(event_id="e1", input_tokens=2),  # same file, later: a conflicting duplicate
            event(event_id="e2"),  # an exact duplicate
        ],
    )
    second = write(tmp_path / "b.csv", [event(event_id="e2", status="error"), event(event_id="e3")])
    result = load_json(first, second)
    assert result["exit"] == 0
    by_file = {f["file"]: f for f in result["files"]}
    assert (by_file[str(first)]["loaded"], by_file[str(first)]["duplicate"]) == (2, 2)
    assert by_file[str(first)]["conflicting"] == 1
    assert (by_file[str(second)]["loaded"], by_file[str(second)]["conflicting"]) == (1, 1)
    loaded = events(clean_db)
    assert loaded["e1"][5] == 1 and loaded["e2"][7] == "success"
    conflicts = query(
        clean_db,
        "select event_id, record_number, record->>'status' from raw.event_conflicts"
        " order by conflict_id",
    )
    assert conflicts == [("e1", 3, "success"), ("e2", 1, "error")]


def test_a_file_loaded_twice_loads_nothing_the_second_time(clean_db, tmp_path):
    path = write(tmp_path / "events.jsonl", [event(event_id=f"e{i}") for i in range(50)])
    assert "50 loaded" in load(path).stdout
    copy = tmp_path / "renamed.jsonl"
    copy.write_bytes(path.read_bytes())
    again = load(path, copy)
    assert again.returncode == 0
    assert again.stdout.count("already loaded, skipped") == 2
    assert query(clean_db, "select count(*) from raw.load_batches where status = 'loaded'") == [
        (1,)
    ]


def test_voids_before_or_after_their_events(clean_db, tmp_path):
    write(tmp_path / "voids_early.jsonl", [{"event_id": "e1", "voided_at": "2026-11-20T11:00Z"}])
    assert load(tmp_path / "voids_early.jsonl").returncode == 0
    assert load(write(tmp_path / "events.jsonl", [event(), event(event_id="e2")])).returncode == 0
    write(
        tmp_path / "voids_late.csv",
        [
            {"event_id": "e2", "voided_at": "2026-12-01T00:00:00Z", "reason": "refund"},
            {"event_id": "e1", "voided_at": "2026-12-01T00:00:00Z", "reason": "again"},
        ],
    )
    result = load_json(tmp_path / "voids_late.csv")
    assert (result["totals"]["loaded"], result["totals"]["duplicate"]) == (1, 1)
    voids = dict(query(clean_db, "select event_id, reason from raw.voids"))
    assert voids == {"e1": None, "e2": "refund"}  # the first void of an event wins


def _tally(*args):
    return subprocess.Popen(
        [sys.executable, "-m", "tally", *map(str, args)],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_copy(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        copying = query(
            url,
            "select count(*) from pg_stat_activity where application_name = 'tally'"
            " and query ilike 'copy raw.events%%' and state = 'active'",
        )
        if copying[0][0]:
            return
        time.sleep(0.05)
    raise AssertionError("the load never started its COPY")


def _wait_for_the_commit_lock(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        waiting = query(
            url,
            "select count(*) from pg_stat_activity where application_name = 'tally'"
            " and wait_event_type = 'Lock' and wait_event = 'advisory'",
        )
        if waiting[0][0]:
            return
        time.sleep(0.05)
    raise AssertionError("the load never came to its commit")


@pytest.mark.parametrize("when", ["during its copy", "before its commit"])
def test_a_load_killed_mid_file_leaves_nothing_then_loads_in_full(clean_db, tmp_path, when):
    """Killed before its commit, with its key built, the load has left pg_class.reltuples at
    its file's records (a key build writes it in place): the reload must not count them, or it
    takes the incremental path (a flake, when the kill during the copy came that late)."""
    generate(200_000, tmp_path, seed=3, fmt="csv", fractions=Fractions(bad=0))
    path = tmp_path / "events.csv"
    with psycopg.connect(clean_db, autocommit=True) as commit_protocol:
        # the load waits for this lock to commit: on a quiet machine its COPY of 200,000 events
        # can end within the half second below, and the kill must still come before the commit
        commit_protocol.execute("select pg_advisory_lock(%s)", [locks.LOAD_COMMIT])
        process = _tally("load", path)
        if when == "during its copy":
            _wait_for_copy(clean_db)  # kill it once its COPY is under way
            time.sleep(0.5)
        else:
            _wait_for_the_commit_lock(clean_db)
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    time.sleep(1)  # the server notices the dead client and rolls its transaction back
    assert query(clean_db, "select count(*) from raw.events") == [(0,)]
    assert query(clean_db, "select count(*) from raw.load_batches where status = 'loaded'") == [
        (0,)
    ]
    # A file this large against an empty table loads in bulk mode, its key dropped: the key is
    # back with the rollback.
    assert query(
        clean_db,
        "select pg_get_constraintdef(oid) from pg_constraint"
        " where conrelid = 'raw.events'::regclass and contype = 'p'",
    ) == [("PRIMARY KEY (event_id) DEFERRABLE INITIALLY DEFERRED",)]
    result = load_json(path)
    assert result["exit"] == 0
    assert result["files"][0]["mode"] == "bulk"
    assert query(clean_db, "select count(*) from raw.events") == [(200_000,)]


def test_two_loads_at_once_of_overlapping_files(clean_db, tmp_path):
    left = write(tmp_path / "left.jsonl", [event(event_id=f"e{i:05d}") for i in range(0, 6000)])
    right = write(
        tmp_path / "right.csv",
        [event(event_id=f"e{i:05d}", input_tokens=7) for i in range(3000, 9000)],
    )
    both = [_tally("load", "--json", left), _tally("load", "--json", right), _tally("load", left)]
    outcomes = [process.communicate() + (process.returncode,) for process in both]
    assert [code for _, _, code in outcomes] == [0, 0, 0], outcomes
    loaded = events(clean_db)
    assert len(loaded) == 9000
    [(rows,)] = query(clean_db, "select count(*) from raw.events")
    assert rows == 9000
    [(batches,)] = query(clean_db, "select count(*) from raw.load_batches where status = 'loaded'")
    assert batches == 2  # left.jsonl once, however many times it was given
    overlap = {e: row[5] for e, row in loaded.items() if "e03000" <= e < "e06000"}
    assert len(set(overlap.values())) == 1  # one file won the whole overlap: no mixing
    [(conflicts,)] = query(clean_db, "select count(*) from raw.event_conflicts")
    assert conflicts == 3000


def test_an_analyze_during_a_load_does_not_stall_its_duplicate_check(clean_db, tmp_path):
    """An analyze while a load copies (autovacuum's, say) sees none of its rows and records the
    table as empty. The duplicate check must not trust that: as a plain join it read the whole
    table for each record, and this load took minutes instead of seconds."""
    generate(90_000, tmp_path, seed=8, fmt="csv", fractions=Fractions(bad=0))  # 0.5 % re-sent
    load_json(tmp_path / "organizations.csv")  # the raw layer exists before the load
    process = _tally("load", "--json", tmp_path / "events.csv")
    _wait_for_copy(clean_db)
    with psycopg.connect(clean_db, autocommit=True) as conn:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # most of the file copied: many pages, no rows seen
            size = conn.execute("select pg_relation_size('raw.events')").fetchone()[0]
            if size > 8 << 20 or process.poll() is not None:
                break
            time.sleep(0.02)
        conn.execute("analyze raw.events")
    try:
        output, _ = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    summary = json.loads(output)["files"][0]
    assert summary["mode"] == "incremental"
    assert summary["duplicate"] > 0
    [(rows, keys)] = query(clean_db, "select count(*), count(distinct event_id) from raw.events")
    assert rows == keys == summary["loaded"]
