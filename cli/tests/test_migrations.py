"""Safe schema changes: every migration up, down and up again on a populated database keeps
every row; a down migration that would drop data refuses unless allowed; `tally db migrations`
and `tally db migrate`, recorded in the audit ledger."""

import json
import re

import psycopg
import pytest
from conftest import query, run_tally
from db_state import MOVING, check_migration_cycle, checksums
from tally.migrations import available

TEMPLATE = "tally_cycle_template"


def _url(url: str, database: str) -> str:
    return re.sub(r"/[^/?]+\?", f"/{database}?", url, count=1)


def _copy_database(admin_url: str, source: str, copy: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"drop database if exists {copy}")
        conn.execute(f"create database {copy} template {source}")


@pytest.fixture(scope="module")
def populated(db_url, tmp_path_factory):
    """The session's database with a generated data set loaded, rolled up and in the ledgers,
    copied to a template database that each cycle starts from."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        for schema in (
            "raw",
            "staging",
            "intermediate",
            "analytics",
            "reference",
            "snapshots",
            "ops",
        ):
            conn.execute(f"drop schema if exists {schema} cascade")
    data = tmp_path_factory.mktemp("cycle")
    run_tally("generate", "--events", "3000", "--out", str(data), "--seed", "3")
    assert run_tally("load", str(data), check=False).returncode in (0, 3)
    run_tally("rollup")
    admin = _url(db_url, "postgres")
    _copy_database(admin, "tally", TEMPLATE)
    yield admin
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"drop database if exists {TEMPLATE}")
        conn.execute("drop database if exists tally_cycle")


@pytest.mark.slow
@pytest.mark.parametrize("migration", available(), ids=lambda m: m.label)
def test_up_down_up_keeps_every_row(populated, migration):
    _copy_database(populated, TEMPLATE, "tally_cycle")
    check_migration_cycle(_url(populated, "tally_cycle"), migration)


def test_a_down_migration_that_drops_data_refuses_without_the_flag(clean_db, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(
        json.dumps(
            {
                "event_id": "e1",
                "org_id": "o",
                "model_id": "m",
                "event_time": "2026-01-01T00:00:00Z",
                "input_tokens": 1,
                "output_tokens": 2,
                "status": "success",
            }
        )
        + "\n"
    )
    run_tally("load", str(path))
    ledger = "ops.pipeline_runs"  # gains a row per command
    before = checksums(clean_db, (*MOVING, ledger))

    refused = run_tally("db", "migrate", "--to", "0", check=False)
    assert refused.returncode == 1
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("Error: reverting ") and "table raw.events" in line
    assert "--allow-data-loss" in line
    assert checksums(clean_db, (*MOVING, ledger)) == before

    listed = json.loads(run_tally("db", "migrations", "--json").stdout)
    assert [m["version"] for m in listed] == [m.version for m in available()]
    assert all(m["status"] == "applied" and m["applied_at"] for m in listed)

    newest = available()[-1]
    if newest.version > 1:  # the newest migration alone, on the populated database
        previous = [m for m in available() if m.version < newest.version][-1]
        result = run_tally("db", "migrate", "--to", str(previous.version), "--allow-data-loss")
        assert f"down {newest.label}" in result.stdout
        text = run_tally("db", "migrations").stdout
        assert f"{newest.label}" in text and "pending" in text.splitlines()[-1]
        runs = query(
            clean_db,
            "select command, outcome, changes from ops.pipeline_runs"
            " where command = 'db migrate' order by run_id",
        )
        assert [r[:2] for r in runs] == [("db migrate", "failure"), ("db migrate", "success")]
        assert runs[-1][2]["migrations"][0] | {"seconds": 0} == {
            "version": newest.version,
            "name": newest.name,
            "direction": "down",
            "seconds": 0,
        }
        up = run_tally("db", "migrate")
        assert f"up   {newest.label}" in up.stdout
    assert checksums(clean_db, (*MOVING, ledger)) == before


def test_migrate_to_an_unknown_version_is_one_line(clean_db):
    result = run_tally("db", "migrate", "--to", "9999", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "no migration 9999: the newest this tally knows is" in result.stderr
