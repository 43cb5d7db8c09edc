"""The audit ledger ops.pipeline_runs: every load/rollup/verify recorded, secrets redacted,
append-only, closed to the reading roles; recording never changes a command's outcome.

(A real rollup's row, with dbt's rows affected, is checked in test_access.py, which runs
rollups anyway.)
"""

import json
import time

import psycopg
import pytest
from conftest import query, run_tally
from tally.audit import REDACTED, _dbt_changes, redact


def event(event_id: str, org_id: str = "org_a", **fields) -> dict:
    return {
        "event_id": event_id,
        "org_id": org_id,
        "model_id": "gpt-4o",
        "event_time": "2026-01-05T10:00:00Z",
        "input_tokens": 3,
        "output_tokens": 4,
        "status": "success",
        **fields,
    }


def write_jsonl(path, records) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def ledger(url: str) -> list[dict]:
    rows = query(
        url,
        "select row_to_json(r)::text from (select * from ops.pipeline_runs order by run_id) r",
    )
    return [json.loads(row[0]) for row in rows]


def test_load_runs_are_recorded_with_what_they_changed(clean_db, tmp_path):
    good = write_jsonl(tmp_path / "events_good.jsonl", [event("e1"), event("e2")])
    run_tally("load", good)
    bad_record = write_jsonl(tmp_path / "events_some_bad.jsonl", [event("e3"), {"event_id": "x"}])
    assert run_tally("load", bad_record, check=False).returncode == 3
    unreadable = tmp_path / "events_broken.jsonl.gz"
    unreadable.write_bytes(b"not gzip at all")
    failed = run_tally("load", str(unreadable), check=False)
    assert failed.returncode == 1

    first, partial, failure = ledger(clean_db)
    assert first["command"] == "load" and first["outcome"] == "success"
    assert first["arguments"]["paths"] == [good] and first["target"] == "local"
    assert first["changes"]["load"]["events"]["loaded"] == 2
    assert first["os_user"] and first["db_user"] == "postgres" and first["duration_ms"] >= 0
    assert first["started_at"] <= first["finished_at"]

    assert partial["outcome"] == "success" and partial["changes"]["exit_status"] == 3
    assert partial["changes"]["load"]["events"]["quarantined"] == 1

    assert failure["outcome"] == "failure"
    assert failure["error"] and "\n" not in failure["error"]
    assert "events_broken" in failure["error"]


def test_secrets_never_reach_the_ledger(clean_db, tmp_path):
    folder = tmp_path / "token=hunter2"
    folder.mkdir()
    path = write_jsonl(folder / "events_password=hunter2.jsonl", [event("s1")])
    run_tally("load", path)
    run_tally("load", str(folder))  # already loaded: the directory argument is recorded too
    text = json.dumps(ledger(clean_db))
    assert "hunter2" not in text
    assert REDACTED in text


def test_the_ledger_is_append_only(clean_db, tmp_path):
    run_tally("load", write_jsonl(tmp_path / "events.jsonl", [event("a1")]))
    with psycopg.connect(clean_db, autocommit=True) as conn:
        for statement in (
            "update ops.pipeline_runs set outcome = 'failure'",
            "delete from ops.pipeline_runs",
            "truncate ops.pipeline_runs",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement)
    assert len(ledger(clean_db)) == 1


def test_the_reading_roles_cannot_see_the_ledger(clean_db, tmp_path):
    run_tally("load", write_jsonl(tmp_path / "events.jsonl", [event("r1")]))
    with psycopg.connect(clean_db, autocommit=True) as conn:
        for role in ("tally_analyst", "tally_tenant"):
            if not conn.execute("select 1 from pg_roles where rolname = %s", [role]).fetchone():
                conn.execute(f"create role {role} nologin")
        for role in ("tally_analyst", "tally_tenant"):
            conn.execute(f"set role {role}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("select * from ops.pipeline_runs")
            conn.execute("reset role")


def test_a_command_failing_before_the_database_is_reachable(clean_db, tmp_path):
    run_tally("load", write_jsonl(tmp_path / "events.jsonl", [event("f1")]))
    before = len(ledger(clean_db))
    for args in (["load", "--target", "nowhere", str(tmp_path)], ["rollup", "-t", "nowhere"]):
        result = run_tally(*args, check=False)
        assert result.returncode == 1
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("Error: target 'nowhere'"), result.stderr
    assert len(ledger(clean_db)) == before


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "postgresql://alice:s3cr%40t@db.example:5432/tally",
            "postgresql://alice:***@db.example:5432/tally",
        ),
        ("host=h password='a b' user=u", "host=h password=*** user=u"),
        ("PGPASSWORD=abc tally load x", "PGPASSWORD=*** tally load x"),
        ("https://h/x?api_key=abc&y=1", "https://h/x?api_key=***&y=1"),
        ("data/api_keys.jsonl", "data/api_keys.jsonl"),
        ("org_'; drop table raw.events; --", "org_'; drop table raw.events; --"),
    ],
)
def test_redact_strings(value, expected):
    assert redact(value) == expected


def test_redact_by_name():
    assert redact({"db_password": "x", "secret_token": ["a"], "kind": "api_keys", "n": 3}) == {
        "db_password": REDACTED,
        "secret_token": REDACTED,
        "kind": "api_keys",
        "n": 3,
    }
    assert redact({"dim_api_keys": 3}, by_name=False) == {"dim_api_keys": 3}


def test_rows_affected_come_from_dbt_run_results(tmp_path, monkeypatch):
    monkeypatch.setenv("TALLY_HOME", str(tmp_path))
    (tmp_path / "target").mkdir()
    results = [
        {
            "unique_id": "model.tally.fct_usage_hourly",
            "status": "success",
            "adapter_response": {"rows_affected": 12},
        },
        {
            "unique_id": "model.tally.fct_usage_daily.v2",
            "status": "success",
            "adapter_response": {"rows_affected": 5},
        },
        {"unique_id": "test.tally.unique_x", "status": "pass", "adapter_response": {}},
        {"unique_id": "model.tally.broken", "status": "error", "adapter_response": {}},
    ]
    (tmp_path / "target" / "run_results.json").write_text(json.dumps({"results": results}))
    assert _dbt_changes(0)["dbt"] == {
        "nodes": 4,
        "statuses": {"success": 2, "pass": 1, "error": 1},
        "rows_affected": 17,
        "rows_affected_by_model": {"fct_usage_hourly": 12, "fct_usage_daily.v2": 5},
    }
    assert _dbt_changes(2**40) == {}  # written before the command started: not its own


@pytest.mark.parametrize("value", ["t" * 10_000, "a=" * 5_000, "x://" * 2_500, "ab:" * 3_000 + "@"])
def test_redact_takes_linear_time_on_long_values(value):
    started = time.monotonic()
    redact({"target": value, "paths": [value]})
    assert time.monotonic() - started < 1.0
