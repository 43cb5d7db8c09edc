"""Bulk mode: a file at least as large as its table loads with the table's key dropped and built
again (tally.load.bulk). It must keep exactly the records, duplicates and conflicts that the
incremental path keeps, into an empty table and into one that already holds some of its keys."""

import random
import time

import psycopg
import pyarrow as pa
import pytest
from conftest import query
from load_helpers import event, load_json, write
from tally.generate import Fractions, generate
from tally.load.repeats import RepeatFilter

KEPT = (
    "select event_id, batch_id, record_number, org_id, user_id, api_key_id, model_id,"
    " event_time, input_tokens, output_tokens, status, latency_ms from raw.events"
)
CONFLICTS = "select event_id, record_number, record from raw.event_conflicts"
KEY = (
    "select pg_get_constraintdef(oid) from pg_constraint"
    " where conrelid = 'raw.events'::regclass and contype = 'p'"
)
COUNTS = ("read", "loaded", "duplicate", "conflicting", "quarantined", "quarantined_by_reason")


def _outcome(url: str, results: list[dict]) -> dict:
    return {
        "counts": [{name: r["files"][0][name] for name in COUNTS} for r in results],
        "kept": sorted(query(url, KEPT)),
        "conflicts": sorted(query(url, CONFLICTS), key=str),
        "quarantined": query(url, "select count(*) from raw.quarantine"),
        "key": query(url, KEY),
    }


def _empty_raw_layer(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "truncate raw.events, raw.voids, raw.quarantine, raw.event_conflicts,"
            " raw.load_batches cascade"
        )
        conn.execute("alter table raw.load_batches alter batch_id restart")


@pytest.mark.parametrize("preloaded", [False, True], ids=["empty table", "table with rows"])
def test_bulk_and_incremental_loads_keep_the_same_records(clean_db, tmp_path, preloaded):
    generate(160_000, tmp_path, seed=5, fmt="csv")  # duplicates, conflicts and bad records
    big = tmp_path / "events.csv"
    # Loaded first, so it wins: some keys of the big file, half of them with other fields.
    small = write(
        tmp_path / "first.jsonl",
        [event(event_id=f"ev5_{i}", input_tokens=i % 2) for i in range(0, 4000, 4)],
    )
    files = [small, big] if preloaded else [big]

    bulk = [load_json(path) for path in files]
    assert bulk[-1]["files"][0]["mode"] == "bulk"
    in_bulk = _outcome(clean_db, bulk)

    _empty_raw_layer(clean_db)
    with psycopg.connect(clean_db) as reader:  # a reader of raw.events: no bulk mode now
        reader.execute("select from raw.events limit 1")
        incremental = [load_json(path) for path in files]
    assert incremental[-1]["files"][0]["mode"] == "incremental"

    assert _outcome(clean_db, incremental) == in_bulk
    assert in_bulk["key"] == [("PRIMARY KEY (event_id) DEFERRABLE INITIALLY DEFERRED",)]
    assert in_bulk["counts"][-1]["duplicate"] > 0 and in_bulk["counts"][-1]["conflicting"] > 0
    if preloaded:
        assert in_bulk["counts"][0]["loaded"] == 1000
        assert in_bulk["counts"][-1]["conflicting"] >= 500  # the small file's changed half


def test_the_repeat_filter_flags_every_repeated_key():
    """Every record whose key came earlier in the stream is flagged, whatever the key's length
    or characters, within a block or across blocks; and few others are."""
    rng = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_éü€😀"
    unique = sorted({"".join(rng.choices(alphabet, k=rng.randint(1, 128))) for _ in range(60_000)})
    stream = unique[:50_000] + rng.choices(unique, k=5_000) + unique[50_000:]
    rng.shuffle(stream)
    repeats, flagged = RepeatFilter(), set()
    for start in range(0, len(stream), 7_000):
        block = stream[start : start + 7_000]
        may_repeat = repeats.add(pa.array(block))
        flagged.update(key for key, flag in zip(block, may_repeat, strict=True) if flag)
    seen, repeated = set(), set()
    for key in stream:
        (repeated if key in seen else seen).add(key)
    assert repeated <= flagged
    assert len(flagged) < len(repeated) + 0.01 * len(stream)


def test_a_malformed_row_in_a_bulk_load_is_quarantined_and_the_rest_loads(clean_db, tmp_path):
    """A malformed CSV row sends the loader back to the start of the file, row by row; in bulk
    mode that must start the records set aside afresh too."""
    made = generate(160_000, tmp_path, seed=6, fmt="csv")
    path = tmp_path / "events.csv"
    with path.open("a") as handle:
        handle.write('"one","field","too","many","a","b","c","d","e","f","g"\n')
    result = load_json(path)
    counts = result["files"][0]
    assert counts["mode"] == "bulk"
    assert counts["read"] == made.files[str(path)] + 1
    width = len(path.read_text().split("\n", 1)[0].split(","))  # the generator's columns
    reason = f"wrong number of fields: 11, the header has {width}"
    assert counts["quarantined_by_reason"][reason] == 1
    [(rows, keys)] = query(clean_db, "select count(*), count(distinct event_id) from raw.events")
    assert rows == keys == counts["loaded"]
    assert counts["loaded"] + counts["duplicate"] + counts["quarantined"] == counts["read"]
    assert counts["duplicate"] > 0


def test_a_bulk_load_waits_for_autovacuum_not_for_a_reader(clean_db, tmp_path):
    """An autovacuum of raw.events (made slow here: it sleeps after every page) does not send a
    large file down the incremental path: the load waits, and PostgreSQL cancels the
    autovacuum. A reader holding the table does: a load never waits for a reader."""
    generate(130_000, tmp_path, seed=5, fmt="csv", fractions=Fractions(bad=0))
    write(tmp_path / "events_few.csv", [event(event_id=f"f{i}") for i in range(20_000)])
    assert load_json(tmp_path / "events_few.csv")["exit"] == 0
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute("delete from raw.events where event_id like 'f1%'")  # rows to vacuum
        conn.execute(
            "alter table raw.events set (autovacuum_vacuum_threshold = 0,"
            " autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_cost_delay = 100,"
            " autovacuum_vacuum_cost_limit = 1)"
        )
        conn.execute("alter system set autovacuum_naptime = 1")
        conn.execute("select pg_reload_conf()")
        try:
            _wait_for(conn, "autovacuum: VACUUM%raw.events")
            vacuumed = load_json(tmp_path / "events.csv")
        finally:
            conn.execute("alter system reset autovacuum_naptime")
            conn.execute("select pg_reload_conf()")
        assert vacuumed["exit"] == 0 and vacuumed["files"][0]["mode"] == "bulk", vacuumed
        conn.execute("truncate raw.events, raw.load_batches cascade")  # the same file again, as new
        with conn.transaction():
            conn.execute("lock table raw.events in access share mode")  # a reader
            read = load_json(tmp_path / "events.csv")
    assert read["exit"] == 0 and read["files"][0]["mode"] == "incremental", read


def _wait_for(conn: psycopg.Connection, activity: str) -> None:
    deadline = time.monotonic() + 60
    sql = "select 1 from pg_stat_activity where query like %s"
    while not conn.execute(sql, [activity]).fetchall():
        assert time.monotonic() < deadline, f"no {activity} in a minute"
        time.sleep(0.05)
