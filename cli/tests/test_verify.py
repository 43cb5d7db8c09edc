"""`tally verify`: passes on clean data; names the failing check when a rollup row, a raw token
count or the reconciliation is corrupted; warns (exit 0) on unpriced events and pending loads.

verify runs in-process (CliRunner): dbt and Great Expectations are imported once for the module.
Each corruption is undone before the next test, so the tests share one loaded, rolled-up database.
"""

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from conftest import PROJECT_DIR, SCHEMAS, invoke_tally
from tally.cli import cli
from tally.dbt_invocation import run_dbt

SAMPLE = PROJECT_DIR / "samples" / "events.jsonl"
UNPRICED_MODEL = "acme-internal-llm"


def verify(*args: str):
    """Run `tally verify --json` in-process: (exit code, {check: result}, whole report)."""
    result = CliRunner().invoke(cli, ["verify", "--json", *args])
    try:
        report = json.loads(result.output)
    except ValueError as error:
        raise AssertionError(f"not JSON (exit {result.exit_code}):\n{result.output}") from error
    return result.exit_code, {check["check"]: check for check in report["checks"]}, report


def failing(checks: dict) -> dict[str, str]:
    return {name: c["detail"] for name, c in checks.items() if c["status"] in ("fail", "error")}


def execute(url: str, sql: str, params=None):
    with psycopg.connect(url, options="-c timezone=UTC", autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def rebuild_report() -> None:
    """Rebuild the reconciliation report after undoing a corruption: verify rebuilt it while the
    rollups were corrupt, and a later verify with loads pending would read it as it was left."""
    assert run_dbt(
        "local",
        "run",
        "--select",
        "rpt_usage_reconciliation",
        "--full-refresh",
        "--log-level",
        "none",
    ).success


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


@pytest.fixture(scope="module")
def loaded(db_url, tally_home):
    """300 sample events, an organization with a time zone, a void, and two unpriced events,
    loaded and rolled up."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        for schema in SCHEMAS:
            conn.execute(f"drop schema if exists {schema} cascade")
    folder = tally_home / "verify-input"
    folder.mkdir(exist_ok=True)
    organizations = write_jsonl(
        folder / "organizations.jsonl",
        [{"org_id": "org_acme", "name": "Acme", "timezone": "Asia/Kolkata", "plan": "pro"}],
    )
    voids = write_jsonl(
        folder / "voids.jsonl", [{"event_id": "evt_00001", "voided_at": "2026-11-21T00:00:00Z"}]
    )
    unpriced = write_jsonl(
        folder / "events-unpriced.jsonl",
        [
            {
                "event_id": f"evt_unpriced_{n}",
                "org_id": "org_globex",
                "model_id": UNPRICED_MODEL,
                "event_time": "2026-11-20T10:00:00Z",
                "input_tokens": 100,
                "output_tokens": 10,
                "status": "success",
            }
            for n in range(2)
        ],
    )
    invoke_tally("load", str(organizations), str(voids), str(SAMPLE), str(unpriced))
    # The rollup without dbt's unit tests: those of the incremental models need the models'
    # tables to exist (dbt's get_fixture_sql), which on an empty database they do not yet.
    # `tally verify` runs them (dbt test), on the built tables.
    build = run_dbt("local", "build", "--exclude", "resource_type:unit_test", "--log-level", "none")
    assert build.success, build.exception
    return db_url


def test_clean_data_passes_with_unpriced_warning(loaded, tally_home):
    code, checks, report = verify()
    assert code == 0, failing(checks)
    assert report["ok"] is True
    assert {"rollups current", "dbt tests", "reconciliation", "source freshness"} <= set(checks)
    assert {"gx: raw events", "gx: fct_usage_hourly", "gx: fct_usage_daily"} <= set(checks)
    assert checks["reconciliation"]["status"] == "pass"
    assert checks["unpriced events"]["status"] == "warn"
    assert UNPRICED_MODEL in checks["unpriced events"]["detail"]
    assert checks["unpriced events"]["data"]["events"] == 2
    docs = Path(report["data_docs"])
    assert docs.is_file() and docs.is_relative_to(tally_home / "gx")


def test_corrupt_rollup_row_fails_dbt_tests(loaded):
    """A row whose tokens no longer add up, written past the table's check: dbt's
    usage_measures_are_consistent catches it, and the catalog test names the missing check."""
    [(check_name, check)] = execute(
        loaded,
        "select conname, pg_get_constraintdef(oid) from pg_constraint"
        " where conrelid = 'analytics.fct_usage_hourly'::regclass and contype = 'c'"
        " and pg_get_constraintdef(oid) like '%total_tokens%'",
    )
    execute(loaded, f"alter table analytics.fct_usage_hourly drop constraint {check_name}")
    [(hour, org_id)] = execute(
        loaded,
        "update analytics.fct_usage_hourly set input_tokens = input_tokens + 1"
        " where ctid = (select min(ctid) from analytics.fct_usage_hourly)"
        " returning usage_hour, org_id",
    )
    try:
        result = CliRunner().invoke(cli, ["verify"])
    finally:
        execute(
            loaded,
            "update analytics.fct_usage_hourly set input_tokens = input_tokens - 1"
            " where usage_hour = %s and org_id = %s"
            " and input_tokens + output_tokens <> total_tokens",
            [hour, org_id],
        )
        execute(
            loaded, f"alter table analytics.fct_usage_hourly add constraint {check_name} {check}"
        )
        rebuild_report()
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["check", "status", "detail"]  # one table, nothing before it
    [dbt_line] = [line for line in lines if line.startswith("dbt tests ")]
    assert dbt_line.split()[2] == "fail"
    assert "usage_measures_are_consistent" in result.output
    assert "assert_usage_constraints_are_in_place" in result.output
    assert any(line.startswith("Data Docs: ") for line in lines)
    assert "Calculating Metrics" not in result.output  # no progress bars


def test_corrupt_raw_token_count_fails(loaded):
    """A negative token count written past the table's check: GX's raw suite and the
    reconciliation both fail."""
    [(check,)] = execute(
        loaded,
        "select pg_get_constraintdef(oid) from pg_constraint"
        " where conrelid = 'raw.events'::regclass and conname = 'events_values_check'",
    )
    execute(loaded, "alter table raw.events drop constraint events_values_check")
    [(before,)] = execute(
        loaded,
        "update raw.events as e set input_tokens = -1 from raw.events as old"
        " where e.event_id = 'evt_00010' and old.event_id = e.event_id"
        " returning old.input_tokens",
    )
    try:
        code, checks, _ = verify()
    finally:
        execute(
            loaded, "update raw.events set input_tokens = %s where event_id = 'evt_00010'", [before]
        )
        execute(loaded, f"alter table raw.events add constraint events_values_check {check}")
        rebuild_report()
    assert code == 1
    assert checks["gx: raw events"]["status"] == "fail"
    assert "input_tokens" in checks["gx: raw events"]["detail"]
    assert checks["reconciliation"]["status"] == "fail"


def test_deleted_daily_row_fails_reconciliation(loaded):
    [row] = execute(
        loaded,
        "delete from analytics.fct_usage_daily_v2"
        " where ctid = (select min(ctid) from analytics.fct_usage_daily_v2) returning *",
    )
    org_id, usage_date = row[1], row[0]
    try:
        code, checks, _ = verify()
    finally:
        placeholders = ", ".join(["%s"] * len(row))
        execute(loaded, f"insert into analytics.fct_usage_daily_v2 values ({placeholders})", row)
        rebuild_report()
    assert code == 1
    detail = checks["reconciliation"]["detail"]
    assert checks["reconciliation"]["status"] == "fail", detail
    assert f"{org_id} {usage_date.isoformat()}" in detail
    assert checks["gx: reconciliation"]["status"] == "fail"


def test_load_after_rollup_warns(loaded, tally_home):
    """Batches loaded after the last rollup are a warning, not a failure: the reconciliation
    stays as of that rollup. (Last of the tests on `loaded`: its rollups are behind now.)"""
    late = write_jsonl(
        tally_home / "verify-input" / "events-late.jsonl",
        [
            {
                "event_id": "evt_late_1",
                "org_id": "org_acme",
                "model_id": "gpt-4o",
                "event_time": "2026-11-19T10:00:00Z",
                "input_tokens": 7,
                "output_tokens": 3,
                "status": "error",
            }
        ],
    )
    invoke_tally("load", str(late))
    code, checks, _ = verify()
    assert code == 0, failing(checks)
    assert checks["rollups current"]["status"] == "warn"
    assert "tally rollup" in checks["rollups current"]["detail"]


def test_verify_before_any_rollup_errors(clean_db):
    code, checks, _ = verify()
    assert code == 1
    assert checks["rollups current"]["status"] == "error"
    assert "tally rollup" in checks["rollups current"]["detail"]


def test_help_does_not_import_great_expectations():
    """GX takes seconds to import: only `tally verify` may pay for it."""
    probe = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from tally.cli import cli\n"
        "for args in (['--help'], ['verify', '--help']):\n"
        "    assert CliRunner().invoke(cli, args).exit_code == 0\n"
        "heavy = [m for m in ('great_expectations', 'dbt', 'pandas') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
