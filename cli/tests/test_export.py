"""`tally export`: every row of a rollup table, its columns and types, in grain order, as CSV
and Parquet, on the `local` and `postgres` targets; bounded memory; one line for bad input."""

import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import PROJECT_DIR, run_tally
from rollup_harness import Pipeline, copy_project, reset_database
from tally.cli import cli

NOW = datetime.now(UTC).replace(microsecond=0)
GRAINS = {
    "fct_usage_hourly": ["usage_hour", "org_id", "user_id", "api_key_id", "model_id"],
    "fct_usage_daily": ["usage_date", "org_id", "user_id", "api_key_id", "model_id"],
}


def _event(i, org, user, key, model, hours_ago, status="success"):
    return {
        "event_id": f"x{i}",
        "org_id": org,
        "user_id": user,
        "api_key_id": key,
        "model_id": model,
        "event_time": (NOW - timedelta(hours=hours_ago)).isoformat(),
        "input_tokens": 1000 + i,
        "output_tokens": 7 * i,
        "status": status,
    }


@pytest.fixture(scope="module")
def rolled_up(db_url, tmp_path_factory):
    """Rollups of events with NULL users and keys, an unpriced model and two organizations."""
    tmp = tmp_path_factory.mktemp("export")
    project = copy_project(tmp / "project")
    os.environ["TALLY_PROJECT_DIR"] = str(project)
    reset_database(db_url)
    (tmp / "files").mkdir()
    pipeline = Pipeline(project, db_url, tmp / "files")
    events = [
        _event(i, org, user, key, model, hours_ago=i % 50, status="error" if i % 7 else "success")
        for i, (org, user, key, model) in enumerate(
            [
                ("org_b", "u1", "k1", "gpt-4o"),
                ("org_a", None, "k2", "gpt-4o"),
                ("org_a", "u2", None, "claude-3-5-sonnet"),
                ("org_a", None, None, "no-price-model"),
                ("org_b", "u3", "k3", "gpt-4o-mini"),
            ]
            * 12
        )
    ]
    pipeline.load("events", events)
    pipeline.rollup()
    yield pipeline
    os.environ.pop("TALLY_PROJECT_DIR")


def _expected(url, table):
    order = ", ".join(GRAINS[table])
    with psycopg.connect(url, options="-c timezone=UTC") as conn:
        cursor = conn.execute(f"select * from analytics.{table} order by {order}")
        names = [column.name for column in cursor.description]
        return names, [tuple(row) for row in cursor.fetchall()]


def _read(path, schema=None):
    if path.suffix == ".parquet":
        return pq.read_table(path)
    return pa_csv.read_csv(
        path,
        convert_options=pa_csv.ConvertOptions(
            column_types=schema,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )


@pytest.mark.parametrize("table", list(GRAINS))
def test_export_writes_every_row_and_column_in_grain_order(rolled_up, tmp_path, table):
    names, rows = _expected(rolled_up.url, table)
    assert len(rows) > 10 and any(row[2] is None for row in rows)
    parquet = tmp_path / f"{table}.parquet"
    csv = tmp_path / f"{table}.csv"
    for out in (parquet, csv):
        result = CliRunner().invoke(cli, ["export", table, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == f"{out}: {len(rows)} rows of analytics.{table}"
    from_parquet = _read(parquet)
    assert from_parquet.column_names == names
    assert from_parquet.schema.field("request_count").type == pa.int64()
    assert pa.types.is_decimal(from_parquet.schema.field("cost_usd").type)
    from_csv = _read(csv, from_parquet.schema)
    for exported in (from_parquet, from_csv):
        assert [tuple(row.values()) for row in exported.to_pylist()] == rows


def test_export_from_the_postgres_target(rolled_up, tmp_path):
    """The `postgres` target reaches the same database through the libpq variables."""
    url = urlparse(rolled_up.url)
    params = {k: v[0] for k, v in parse_qs(url.query).items()}
    env = {
        **os.environ,
        "PGHOST": params["host"],
        "PGPORT": params["port"],
        "PGUSER": url.username,
        "PGDATABASE": url.path.lstrip("/"),
    }
    out = tmp_path / "daily.parquet"
    run_tally("export", "fct_usage_daily", "--out", str(out), "--target", "postgres", env=env)
    assert [tuple(r.values()) for r in pq.read_table(out).to_pylist()] == _expected(
        rolled_up.url, "fct_usage_daily"
    )[1]


def test_export_of_an_empty_table_writes_its_header(rolled_up, tmp_path):
    with psycopg.connect(rolled_up.url, autocommit=True) as conn:
        conn.execute("create table analytics.export_empty (a bigint, b text)")
    try:
        out = tmp_path / "empty.csv"
        run_tally("export", "export_empty", "--out", str(out))
        assert out.read_text() == '"a","b"\n'
    finally:
        with psycopg.connect(rolled_up.url, autocommit=True) as conn:
            conn.execute("drop table analytics.export_empty")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "x.csv"], "Error: no table analytics.nope; tables: fct_usage_daily, "),
        (
            ["fct_usage_hourly", "x.xlsx"],
            "Error: cannot export to 'x.xlsx': the file name must end in .csv or .parquet",
        ),
    ],
)
def test_bad_input_is_one_line_and_no_file(rolled_up, tmp_path, args, message):
    table, file_name = args
    result = run_tally("export", table, "--out", str(tmp_path / file_name), check=False)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith(message)
    assert list(tmp_path.iterdir()) == []


def _resident_mb(pid: int) -> float:
    """The process's resident memory now (ru_maxrss of a child would include the memory of
    this test process, which it had before exec)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(found[1]) / 1024 if found else 0.0


@pytest.mark.slow
def test_export_streams_a_table_much_larger_than_its_memory(rolled_up, tmp_path):
    """300 MB of rows exported by a process whose peak memory stays a fraction of that."""
    with psycopg.connect(rolled_up.url, autocommit=True) as conn:
        conn.execute(
            "create table analytics.export_wide as select g as row_id, repeat('x', 500) as"
            " padding from generate_series(1, 600000) as g"
        )
    try:
        for suffix in ("csv", "parquet"):
            out = tmp_path / f"wide.{suffix}"
            child = subprocess.Popen(
                [sys.executable, "-m", "tally", "export", "export_wide", "--out", str(out)],
                cwd=PROJECT_DIR,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            peak_mb = 0.0
            while child.poll() is None:
                peak_mb = max(peak_mb, _resident_mb(child.pid))
                time.sleep(0.05)
            assert child.returncode == 0, child.stderr.read()
            assert 50 < peak_mb < 200, f"{suffix}: peak {peak_mb:.0f} MB for a 300 MB table"
        assert pq.read_metadata(tmp_path / "wide.parquet").num_rows == 600000
        assert (tmp_path / "wide.csv").stat().st_size > 300_000_000
    finally:
        with psycopg.connect(rolled_up.url, autocommit=True) as conn:
            conn.execute("drop table analytics.export_wide")
