"""The rollups under what real data does: very late events, voids after the fact, loads that
commit while a rollup runs, a rollup killed mid-way, price edits, organizations that arrive late."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from click.testing import CliRunner
from conftest import PROJECT_DIR, invoke_tally, query
from rollup_harness import ROLLUPS, Pipeline, copy_project, reset_database
from tally.cli import cli
from tally.dbt_invocation import artifacts_dir, run_dbt
from tally.load.batch import commit_batch
from usage_reference import actual_by_model, actual_rollup

NOW = datetime.now(UTC).replace(microsecond=0)


def event(event_id, at, org="org_a", model="gpt-4o", tokens=(1000, 500), **fields):
    return {
        "event_id": event_id,
        "org_id": org,
        "user_id": "u1",
        "api_key_id": "k1",
        "model_id": model,
        "event_time": at.isoformat(),
        "input_tokens": tokens[0],
        "output_tokens": tokens[1],
        "status": "success",
        **fields,
    }


@pytest.fixture
def pipeline(db_url, tmp_path, monkeypatch):
    project = copy_project(tmp_path / "project")
    monkeypatch.setenv("TALLY_PROJECT_DIR", str(project))
    reset_database(db_url)
    workdir = tmp_path / "files"
    workdir.mkdir()
    return Pipeline(project, db_url, workdir)


def hourly_requests(url, org="org_a"):
    return query(
        url,
        "select usage_hour, sum(request_count) from analytics.fct_usage_hourly"
        " where org_id = %s group by 1 order by 1",
        [org],
    )


def test_an_event_200_days_late_is_counted(pipeline):
    pipeline.load("events", [event("recent", NOW - timedelta(hours=1))])
    pipeline.rollup()
    late = NOW - timedelta(days=200)
    pipeline.load("events", [event("late", late)])
    pipeline.rollup()
    pipeline.assert_matches_reference()
    hours = dict(hourly_requests(pipeline.url))
    assert hours[late.replace(minute=0, second=0)] == 1


def test_a_void_after_the_rollup_removes_the_event_and_its_empty_bucket(pipeline):
    lonely_hour = NOW - timedelta(days=3)
    pipeline.load(
        "events", [event("keep", NOW - timedelta(hours=2)), event("void-me", lonely_hour)]
    )
    pipeline.rollup()
    assert len(hourly_requests(pipeline.url)) == 2
    pipeline.load("voids", [{"event_id": "void-me", "voided_at": NOW.isoformat()}])
    pipeline.rollup()
    pipeline.assert_matches_reference()
    assert [hour for hour, _ in hourly_requests(pipeline.url)] == [
        (NOW - timedelta(hours=2)).replace(minute=0, second=0)
    ]
    daily = query(
        pipeline.url,
        "select count(*) from analytics.fct_usage_daily where usage_date = %s",
        [lonely_hour.date()],
    )
    assert daily == [(0,)]


def test_a_void_that_arrives_before_its_event_keeps_it_out(pipeline):
    pipeline.load("voids", [{"event_id": "early-void", "voided_at": NOW.isoformat()}])
    pipeline.rollup()
    pipeline.load("events", [event("early-void", NOW - timedelta(hours=5))])
    pipeline.rollup()
    assert hourly_requests(pipeline.url) == []


def _begin_load(url, event_id, at):
    """A load in flight, as the loader writes it, not yet committed."""
    conn = psycopg.connect(url)
    batch_id = conn.execute(
        "insert into raw.load_batches (kind, file_name, file_sha256, file_format, status)"
        " values ('events', 'in-flight.jsonl', %s, 'jsonl', 'loaded') returning batch_id",
        [os.urandom(8).hex()],
    ).fetchone()[0]
    conn.execute(
        "insert into raw.events (event_id, org_id, model_id, event_time, input_tokens,"
        " output_tokens, status, batch_id, record_number) values"
        " (%s, 'org_a', 'gpt-4o', %s, 10, 10, 'success', %s, 1)",
        [event_id, at, batch_id],
    )
    return conn, batch_id


def _wait_for_lock_wait(url, process, lock_kind, timeout=120):
    """Until a backend of the process under test waits on a lock of this kind."""
    deadline = time.monotonic() + timeout
    while not query(
        url,
        "select 1 from pg_stat_activity where wait_event_type = 'Lock' and wait_event = %s",
        [lock_kind],
    ):
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the rollup never reached the lock"
        time.sleep(0.2)


def test_a_load_committing_during_a_rollup_is_picked_up_by_the_next(pipeline):
    pipeline.load("events", [event("first", NOW - timedelta(hours=3))])
    pipeline.rollup()
    in_flight, batch_id = _begin_load(pipeline.url, "in-flight", NOW - timedelta(hours=3))
    pipeline.rollup()  # runs while the load is uncommitted
    assert dict(hourly_requests(pipeline.url)).popitem()[1] == 1
    commit_batch(in_flight, batch_id)
    in_flight.commit()
    in_flight.close()
    pipeline.rollup()
    assert dict(hourly_requests(pipeline.url)).popitem()[1] == 2


def test_a_rollup_waits_for_a_load_that_is_committing(pipeline):
    pipeline.load("events", [event("first", NOW - timedelta(hours=3))])
    pipeline.rollup()
    committing, batch_id = _begin_load(pipeline.url, "committing", NOW - timedelta(hours=3))
    commit_batch(committing, batch_id)  # holds the commit lock: the rollup's bound must wait
    rollup = subprocess.Popen(
        [sys.executable, "-m", "tally", "rollup"],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _wait_for_lock_wait(pipeline.url, rollup, "advisory")
    committing.commit()
    committing.close()
    output = rollup.communicate(timeout=300)[0]
    assert rollup.returncode == 0, output
    assert dict(hourly_requests(pipeline.url)).popitem()[1] == 2


def test_a_rollup_killed_mid_way_is_repaired_by_the_next(pipeline):
    pipeline.load("events", [event(f"e{i}", NOW - timedelta(hours=i)) for i in range(1, 6)])
    pipeline.rollup()
    pipeline.load("events", [event("later", NOW - timedelta(days=40))])
    pipeline.load("voids", [{"event_id": "e2", "voided_at": NOW.isoformat()}])
    blocker = psycopg.connect(pipeline.url)
    blocker.execute(
        "select * from ops.rollup_watermarks where model_name = 'fct_usage_daily_v2' for update"
    )  # the v2 model will wait here, after others committed
    rollup = subprocess.Popen(
        [sys.executable, "-m", "tally", "rollup"],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    _wait_for_lock_wait(pipeline.url, rollup, "transactionid")
    deadline = time.monotonic() + 120
    while (
        query(
            pipeline.url, "select count(*) from ops.rollup_watermarks where applied_commit_seq = 3"
        )[0][0]
        < 2
    ):  # hourly and v1 done
        assert time.monotonic() < deadline and rollup.poll() is None
        time.sleep(0.2)
    rollup.send_signal(signal.SIGKILL)
    rollup.wait()
    blocker.rollback()
    blocker.close()
    watermarks = dict(
        query(pipeline.url, "select model_name, applied_commit_seq from ops.rollup_watermarks")
    )
    assert watermarks["fct_usage_daily_v2"] < max(watermarks.values())  # v2 was left behind
    pipeline.rollup()
    pipeline.assert_matches_reference()


def test_a_price_edit_reprices_exactly_the_affected_rows(pipeline):
    old_era = datetime(2024, 1, 10, 12, tzinfo=UTC)
    new_era = datetime(2024, 8, 10, 12, tzinfo=UTC)
    pipeline.load(
        "events",
        [
            event("old", old_era, model="gpt-4o"),
            event("new", new_era, model="gpt-4o"),
            event("other", new_era, model="claude-3-5-sonnet"),
        ],
    )
    pipeline.rollup()
    before = pipeline.snapshot()["fct_usage_hourly"]
    lines = pipeline.prices_csv.read_text().splitlines()
    lines.append("gpt-4o,openai,2024-06-01 00:00:00,1.25,7.50")
    pipeline.prices_csv.write_text("\n".join(lines) + "\n")
    pipeline.rollup()
    pipeline.assert_matches_reference()
    after = pipeline.snapshot()["fct_usage_hourly"]
    changed = {
        f"{key[4]}@{key[0].astimezone(UTC).date()}" for key in after if after[key] != before[key]
    }
    assert changed == {"gpt-4o@2024-08-10"}
    # the new row ends gpt-4o's earlier band in June: the January event is not even re-merged
    # (re-pricing it at the same price would count its row as updated)
    [hourly] = [
        r
        for r in json.loads((artifacts_dir() / "run_results.json").read_text())["results"]
        if r["unique_id"] == "model.tally.fct_usage_hourly"
    ]
    assert hourly["adapter_response"]["rows_affected"] == 1
    new_cost = next(v for k, v in after.items() if k[4] == "gpt-4o" and k[0] == new_era)[-1]
    assert (
        new_cost
        == Decimal("1000") * Decimal("1.25") / 10**6 + Decimal("500") * Decimal("7.50") / 10**6
    )


def test_an_organization_arriving_late_moves_its_days_to_its_timezone(pipeline):
    late_evening_utc = datetime(2026, 11, 19, 20, tzinfo=UTC)  # 01:30 on the 20th in Kolkata
    pipeline.load("events", [event("e", late_evening_utc, org="org_in")])
    pipeline.rollup()
    assert query(pipeline.url, "select usage_date from analytics.fct_usage_daily") == [
        (late_evening_utc.date(),)
    ]
    pipeline.load(
        "organizations", [{"org_id": "org_in", "name": "India", "timezone": "Asia/Kolkata"}]
    )
    pipeline.rollup()
    pipeline.assert_matches_reference()
    assert query(pipeline.url, "select usage_date from analytics.fct_usage_daily") == [
        (late_evening_utc.date() + timedelta(days=1),)
    ]
    assert query(pipeline.url, "select usage_date from analytics.fct_usage_daily_v1") == [
        (late_evening_utc.date(),)
    ]


def test_a_full_refresh_over_existing_tables_keeps_the_grain_index(pipeline):
    pipeline.load("events", [event("e", NOW - timedelta(hours=1))])
    pipeline.rollup()
    pipeline.rollup("--full-refresh")
    indexed = query(
        pipeline.url,
        "select indrelid::regclass::text from pg_index"
        " where indisunique and indexrelid::regclass::text like 'analytics.%__grain'"
        " order by 1",
    )
    assert indexed == [
        ("analytics.fct_usage_daily_by_model",),
        ("analytics.fct_usage_daily_v1",),
        ("analytics.fct_usage_daily_v2",),
        ("analytics.fct_usage_hourly",),
        ("analytics.rpt_usage_reconciliation",),
    ]


def test_tally_rollup_full_refresh_leaves_the_rebuilt_tables_vacuumed(pipeline):
    """Left to autovacuum, the new tables' pages were written again minutes later, during the
    next rollups; `tally rollup --full-refresh` vacuums and analyzes them itself."""
    pipeline.load("events", [event("e", NOW - timedelta(hours=1))])
    result = CliRunner().invoke(cli, ["rollup", "--full-refresh"])
    assert result.exit_code == 0, result.output
    vacuumed = query(
        pipeline.url,
        "select relname from pg_stat_user_tables where last_vacuum is not null"
        " and schemaname in ('analytics', 'intermediate', 'ops') order by 1",
    )
    assert {
        "fct_usage_hourly",
        "int_events_indexed",
        "rpt_usage_reconciliation",
        "rollup_hourly_org_sums",
    } <= {name for (name,) in vacuumed}


def test_the_reconciliation_rechecks_what_the_run_touched_and_verify_rechecks_all(pipeline):
    """`tally rollup` recomputes the report's rows for the (org, date) pairs its change set
    touches, reading the daily rollup's rows of those dates and the hourly rollup's of the hours
    it touched; the rest wait for `--full-refresh` (what `tally verify` runs), which finds them."""
    noon = NOW.replace(hour=12, minute=0, second=0)
    touched, untouched = noon - timedelta(days=2), noon - timedelta(days=4)
    pipeline.load("events", [event("t1", touched), event("u1", untouched)])
    pipeline.rollup()
    with psycopg.connect(pipeline.url, autocommit=True) as conn:
        for table in ("fct_usage_daily_v2", "fct_usage_hourly"):
            conn.execute(
                f"update analytics.{table}"
                " set request_count = request_count + 1, success_count = success_count + 1"
            )
    pipeline.load("events", [event("t2", touched + timedelta(minutes=1))])
    pipeline.rollup()

    def mismatched():
        """Each mismatched date, with whether its daily and its hourly side differ from raw."""
        return query(
            pipeline.url,
            "select usage_date, daily_request_count <> raw_request_count,"
            " hourly_request_count <> raw_hour_basis_request_count"
            " from analytics.rpt_usage_reconciliation where status = 'mismatch' order by 1",
        )

    assert mismatched() == [(touched.date(), True, True)]
    assert run_dbt("local", "run", "--select", "rpt_usage_reconciliation", "--full-refresh").success
    assert mismatched() == [(untouched.date(), True, True), (touched.date(), True, True)]


def test_tally_rollup_tests_what_it_changed_and_finds_a_missing_check(pipeline):
    """`tally rollup` runs no unit test, its raw-layer tests read the run's new batches only (by
    their ids), seeds and snapshots run only when their input changed, a test that passed on the
    same rows does not run again, nothing runs when nothing changed, and the rules left to the
    database are checked in the catalog: a NOT NULL on the raw events or a CHECK constraint on a
    rollup dropped by hand fails the run."""
    pipeline.load("events", [event("e1", NOW - timedelta(hours=3))])
    assert CliRunner().invoke(cli, ["rollup"]).exit_code == 0
    results = json.loads((artifacts_dir() / "run_results.json").read_text())["results"]
    kinds = {result["unique_id"].split(".")[0] for result in results}
    assert "unit_test" not in kinds and "test" in kinds
    [load_status] = [
        r
        for r in results
        if r["unique_id"].startswith("test.tally.accepted_values_stg_platform__load_batches_")
    ]
    [(batch_id,)] = query(pipeline.url, "select max(batch_id) from raw.load_batches")
    assert f"batch_id in ({batch_id})" in load_status["compiled_code"]

    [(runs_before,)] = query(pipeline.url, "select count(*) from ops.rollup_runs")
    nothing_new = CliRunner().invoke(cli, ["rollup"])
    assert nothing_new.exit_code == 0 and "nothing to build" in nothing_new.output
    assert query(pipeline.url, "select count(*) from ops.rollup_runs") == [(runs_before,)]

    pipeline.load("events", [event("e2", NOW - timedelta(hours=2))])
    events_only = CliRunner().invoke(cli, ["rollup"])
    skipped = _left_out_nodes(events_only.output)
    # a view only changes with its code; dim_models reads the clock, which has passed no price
    # boundary since; the rollups always run
    assert {"model_prices", "snp_organizations", "dim_users", "stg_platform__events"} <= skipped
    assert "dim_models" in skipped and "fct_usage_hourly" not in skipped
    # the tests of what the new events change run; those that passed on the same rows do not
    events_run = _tests_run()
    assert "assert_usage_constraints_are_in_place" in events_run
    # the reconciliation's tests read the rows the run wrote
    [report_test] = [
        r
        for r in json.loads((artifacts_dir() / "run_results.json").read_text())["results"]
        if ".not_null_rpt_usage_reconciliation_org_id." in r["unique_id"]
    ]
    assert "reconciled_by_invocation_id = '" in report_test["compiled_code"]
    assert {"not_null_dim_users_user_id", "not_null_model_prices_model_id"}.isdisjoint(events_run)
    assert "data tests not run again" in events_only.output
    # the rules the database enforces are checked in the catalog, not row by row
    enforced = {"not_null_fct_usage_hourly_usage_hour", "not_null_stg_platform__events_event_id"}
    assert enforced.isdisjoint(events_run)
    with pipeline.prices_csv.open("a") as prices:
        prices.write("gpt-4o,openai,2024-06-01 00:00:00,1.25,7.50\n")
    repriced = CliRunner().invoke(cli, ["rollup"])
    assert repriced.exit_code == 0 and "not rebuilt" not in repriced.output
    assert {"not_null_model_prices_model_id", "not_null_dim_users_user_id"} <= _tests_run()
    pipeline.assert_matches_reference()

    with psycopg.connect(pipeline.url, autocommit=True) as conn:
        conn.execute("alter table raw.events alter column org_id drop not null")
    pipeline.load("events", [event("e3", NOW - timedelta(hours=2))])
    result = CliRunner().invoke(cli, ["rollup"])
    assert result.exit_code == 1
    assert "assert_usage_constraints_are_in_place" in result.output
    with psycopg.connect(pipeline.url, autocommit=True) as conn:
        conn.execute("alter table raw.events alter column org_id set not null")
        [(check,)] = conn.execute(
            "select conname from pg_constraint where contype = 'c'"
            " and conrelid = 'analytics.fct_usage_hourly'::regclass"
            " and pg_get_constraintdef(oid) like '%total_tokens%'"
        ).fetchall()
        conn.execute(f"alter table analytics.fct_usage_hourly drop constraint {check}")
    pipeline.load("events", [event("e4", NOW - timedelta(hours=2))])
    result = CliRunner().invoke(cli, ["rollup"])
    assert result.exit_code == 1
    assert "assert_usage_constraints_are_in_place" in result.output


def _tests_run():
    """The names of the data tests the last dbt call ran."""
    results = json.loads((artifacts_dir() / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2] for r in results if r["unique_id"].startswith("test.")}


def test_a_rollup_runs_again_a_test_that_did_not_pass(pipeline):
    """A data test is left out only when it passed on the rows it would read: one that warned
    runs (and warns) again, and passes once the rows are mended."""
    pipeline.load("events", [event("e1", NOW - timedelta(hours=3))])
    users = pipeline.workdir / "users.jsonl"
    users.write_text(json.dumps({"user_id": "u-orphan", "org_id": "org_nowhere"}) + "\n")
    assert CliRunner().invoke(cli, ["load", "--kind", "users", str(users)]).exit_code == 0
    first = CliRunner().invoke(cli, ["rollup"])
    assert first.exit_code == 0
    orphans = "relationships_dim_users_org_id__org_id__ref_dim_organizations_"
    assert orphans in _tests_run()
    pipeline.load("events", [event("e2", NOW - timedelta(hours=2))])
    assert CliRunner().invoke(cli, ["rollup"]).exit_code == 0
    assert orphans in _tests_run() and "not_null_model_prices_model_id" not in _tests_run()

    pipeline.load("organizations", [{"org_id": "org_nowhere", "name": "Found", "timezone": "UTC"}])
    mended = CliRunner().invoke(cli, ["rollup"])
    assert mended.exit_code == 0 and orphans in _tests_run()
    pipeline.load("events", [event("e3", NOW - timedelta(hours=1))])
    assert CliRunner().invoke(cli, ["rollup"]).exit_code == 0
    assert orphans not in _tests_run()


def _left_out_nodes(output):
    """The nodes a rollup printed as left out, their input unchanged."""
    line = re.search(r"^input unchanged, not rebuilt: (.*)$", output, re.M)
    return set(line.group(1).split(", ")) if line else set()


def test_a_rollup_with_nothing_new_still_follows_the_clock_and_the_catalog(pipeline):
    """Nothing loaded and no code changed, yet a price coming into force or a dropped table
    makes `tally rollup` build again: dim_models shows the price in force now. Until then a
    rollup of new events leaves dim_models as it is."""
    pipeline.load("events", [event("e1", NOW - timedelta(hours=3))])
    assert CliRunner().invoke(cli, ["rollup"]).exit_code == 0
    soon = datetime.now(UTC) + timedelta(seconds=30)
    with pipeline.prices_csv.open("a") as prices:
        prices.write(f"gpt-4o,openai,{soon:%Y-%m-%d %H:%M:%S},1.25,7.50\n")
    assert CliRunner().invoke(cli, ["rollup"]).exit_code == 0
    current = "select input_usd_per_1m from analytics.dim_models where model_id = 'gpt-4o'"
    [(price_before,)] = query(pipeline.url, current)
    assert price_before != Decimal("1.25")
    assert "nothing to build" in CliRunner().invoke(cli, ["rollup"]).output
    pipeline.load("events", [event("e2", NOW - timedelta(hours=2))])
    new_events = CliRunner().invoke(cli, ["rollup"])
    assert new_events.exit_code == 0 and "dim_models" in _left_out_nodes(new_events.output)
    assert datetime.now(UTC) < soon, "the steps before the price's start took too long"

    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 1)
    in_force = CliRunner().invoke(cli, ["rollup"])
    assert in_force.exit_code == 0 and "nothing to build" not in in_force.output
    assert "dim_models" not in _left_out_nodes(in_force.output)
    assert query(pipeline.url, current) == [(Decimal("1.25"),)]

    with psycopg.connect(pipeline.url, autocommit=True) as conn:
        conn.execute("drop table analytics.dim_users cascade")
    rebuilt = CliRunner().invoke(cli, ["rollup"])
    assert rebuilt.exit_code == 0 and "nothing to build" not in rebuilt.output
    assert query(pipeline.url, "select to_regclass('analytics.dim_users') is not null") == [(True,)]


def test_the_models_that_read_the_clock_are_the_ones_the_rollup_watches():
    from tally.rollup_inputs import CLOCK_DEPENDENT_MODELS

    reading = sorted(
        path.stem
        for path in (PROJECT_DIR / "models").rglob("*.sql")
        if "current_timestamp" in path.read_text()
    )
    assert reading == sorted(CLOCK_DEPENDENT_MODELS)


def _rollup_rows(url):
    """Every usage rollup's rows, by grain key, under the name `tally rollup` prints."""
    with psycopg.connect(url) as conn:
        tables = {table: actual_rollup(conn, table) for table in ROLLUPS}
        tables["fct_usage_daily_by_model"] = actual_by_model(conn)
    return tables


def _changed_rows(before, after):
    """Rows inserted, deleted or with any measure changed, table by table."""
    return {
        table: sum(
            before[table].get(key) != rows.get(key) for key in before[table].keys() | rows.keys()
        )
        for table, rows in after.items()
    }


def _printed_rows_changed(output):
    return {
        table: int(rows) for table, rows in re.findall(r"^(\S+): (\d+) rows changed$", output, re.M)
    }


def _events_in_every_null_pattern(prefix, at, model="gpt-4o"):
    """One event per pattern of NULLs in the nullable keys (user_id, api_key_id): each lands in
    a MERGE of its own, and the last MERGE (both NULL) holds one row of them."""
    return [
        event(f"{prefix}-both", at, model=model),
        event(f"{prefix}-no-user", at, model=model, user_id=None),
        event(f"{prefix}-no-key", at, model=model, api_key_id=None),
        event(f"{prefix}-neither", at, model=model, user_id=None, api_key_id=None),
    ]


def test_tally_rollup_counts_every_row_a_price_edit_reprices(pipeline):
    new_era = datetime(2024, 8, 10, 12, tzinfo=UTC)
    pipeline.load(
        "events",
        _events_in_every_null_pattern("new", new_era)
        + [event("other", new_era, model="claude-3-5-sonnet")],
    )
    invoke_tally("rollup")
    before = _rollup_rows(pipeline.url)
    with pipeline.prices_csv.open("a") as prices:
        prices.write("gpt-4o,openai,2024-06-01 00:00:00,1.25,7.50\n")
    printed = _printed_rows_changed(invoke_tally("rollup").output)
    changed = _changed_rows(before, _rollup_rows(pipeline.url))
    assert {table: printed[table] for table in changed} == changed
    assert changed["fct_usage_hourly"] == 4 and changed["fct_usage_daily_by_model"] == 1


def test_tally_rollup_counts_every_row_late_events_insert_update_or_delete(pipeline):
    recent, late = NOW - timedelta(hours=1), NOW - timedelta(days=40)
    pipeline.load(
        "events",
        _events_in_every_null_pattern("recent", recent) + [event("void-me", late, user_id="u2")],
    )
    invoke_tally("rollup")
    before = _rollup_rows(pipeline.url)
    pipeline.load(
        "events",
        # three rows of the first batch grow, none of them the last MERGE's
        _events_in_every_null_pattern("again", recent)[:3]
        # four new rows 40 days back, beside a row its void deletes
        + _events_in_every_null_pattern("late", late),
    )
    pipeline.load("voids", [{"event_id": "void-me", "voided_at": NOW.isoformat()}])
    printed = _printed_rows_changed(invoke_tally("rollup").output)
    changed = _changed_rows(before, _rollup_rows(pipeline.url))
    assert {table: printed[table] for table in changed} == changed
    assert changed["fct_usage_hourly"] == 3 + 4 + 1


def test_tally_rollup_writes_the_manifest_only_when_it_parsed_other_code(pipeline):
    """dbt's manifest.json (what the next rollup's fingerprints read) is written by the rollup
    that parses changed code or finds the file rewritten by another dbt call, not by the next
    ones, which still write run_results.json; the rollups stay exact throughout."""
    manifest, run_results = artifacts_dir() / "manifest.json", artifacts_dir() / "run_results.json"

    def rollup_after(event_id):
        pipeline.load("events", [event(event_id, NOW - timedelta(hours=2))])
        assert CliRunner().invoke(cli, ["rollup"]).exit_code == 0
        results = json.loads(run_results.read_text())["results"]
        assert any(r["unique_id"] == "model.tally.fct_usage_hourly" for r in results)
        return manifest.stat().st_mtime_ns

    first = rollup_after("e1")
    assert rollup_after("e2") == first
    model = pipeline.project / "models" / "marts" / "usage" / "fct_usage_hourly.sql"
    model.write_text(model.read_text() + "\n-- edited\n")
    edited = rollup_after("e3")
    assert edited != first
    assert run_dbt("local", "parse").success
    reparsed = manifest.stat().st_mtime_ns
    assert rollup_after("e4") != reparsed
    pipeline.assert_matches_reference()
