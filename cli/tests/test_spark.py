"""The spark target against PostgreSQL: the same files, loaded in two batches with a rollup
after each, give the same rows in every contract table; a load killed half-way leaves nothing
visible. Each dbt call on Spark pays for a JVM's work, so these tests are few."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from conftest import PROJECT_DIR, invoke_tally
from rollup_harness import USAGE_SELECTION, copy_project, reset_database
from tally import measures
from tally.dbt_invocation import run_dbt
from tally.spark.session import spark_session

pytestmark = pytest.mark.spark

GRAINS = {
    "fct_usage_hourly": ["usage_hour", "org_id", "user_id", "api_key_id", "model_id"],
    "fct_usage_daily": ["usage_date", "org_id", "user_id", "api_key_id", "model_id"],
    "fct_usage_daily_v1": ["usage_date", "org_id", "user_id", "api_key_id", "model_id"],
    "fct_usage_daily_by_model": ["usage_date", "org_id", "model_id"],
    "rpt_usage_reconciliation": ["org_id", "usage_date"],
}


def _sorted(rows) -> list[tuple]:
    """Rows in one order whatever their NULLs."""
    return sorted(rows, key=lambda row: tuple((value is None, str(value)) for value in row))


def _canonical(value):
    """A value as both engines' drivers can agree on: instants in UTC, numbers as Decimals."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return Decimal(value).normalize()
    return None if value is None else str(value)


def _columns(table: str, url: str) -> list[str]:
    if table.startswith("fct_"):
        return GRAINS[table] + list(measures.names())
    with psycopg.connect(url) as conn:
        found = conn.execute(f"select * from analytics.{table} limit 0")
        # which dbt run computed a row differs by nature between two targets' runs
        return [
            column.name for column in found.description
            if column.name != "reconciled_by_invocation_id"
        ]


def _postgres_rows(url: str, table: str, columns: list[str]) -> list[tuple]:
    with psycopg.connect(url, options="-c timezone=UTC") as conn:
        rows = conn.execute(f"select {', '.join(columns)} from analytics.{table}").fetchall()
    return _sorted(tuple(map(_canonical, row)) for row in rows)


def _spark_rows(table: str, columns: list[str]) -> list[tuple]:
    spark = spark_session()  # the session dbt's rollup started in this process
    # timestamps as text in the session's zone (UTC): pyspark would turn them into naive
    # datetimes in this process's zone
    types = dict(spark.table(f"analytics.{table}").dtypes)
    selected = [
        f"cast({name} as string) as {name}" if types[name] == "timestamp" else name
        for name in columns
    ]
    rows = spark.sql(f"select {', '.join(selected)} from analytics.{table}").collect()
    return _sorted(tuple(map(_canonical, row)) for row in rows)


def _load_both(folder) -> None:
    """The same files loaded into PostgreSQL (the embedded database) and Spark."""
    for target in ("local", "spark"):
        result = invoke_tally("load", str(folder), "--target", target, check=False)
        assert result.exit_code in (0, 3), f"{target}: {result.output}"


def _rollup_both() -> None:
    """The rollup models on both (without the data tests: minutes each on Spark)."""
    for target in ("local", "spark"):
        result = run_dbt(target, "build", *USAGE_SELECTION)
        assert result.success, f"{target}: dbt build failed: {result.exception}"


@pytest.fixture
def sample(tmp_path):
    """A generated sample (late, duplicate, voided and bad records) in two batches: the first
    without organizations (their days in UTC until they arrive) and without voids."""
    data = tmp_path / "sample"
    invoke_tally(
        "generate", "--events", "400", "--out", str(data), "--seed", "11",
        "--late", "0.05", "--duplicates", "0.05", "--voided", "0.03", "--bad", "0.01",
    )
    lines = (data / "events.jsonl").read_text().splitlines(keepends=True)
    half = len(lines) // 2
    (data / "events.jsonl").unlink()
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "events-1.jsonl").write_text("".join(lines[:half]))
    # the second batch repeats some of the first's events: duplicates across loads
    (second / "events-2.jsonl").write_text("".join(lines[half:] + lines[: half // 10]))
    for name in ("users.jsonl", "api_keys.jsonl"):
        shutil.move(data / name, first / name)
    for name in ("organizations.jsonl", "voids.jsonl"):
        shutil.move(data / name, second / name)
    return first, second


def test_spark_rollups_equal_postgres_row_for_row(db_url, sample, tmp_path, monkeypatch):
    project = copy_project(tmp_path / "project")
    monkeypatch.setenv("TALLY_PROJECT_DIR", str(project))
    monkeypatch.setenv("TALLY_SPARK_RAW", str(tmp_path / "spark-raw"))
    reset_database(db_url)
    first, second = sample

    _load_both(first)
    _rollup_both()

    # a price edit between the batches: events of the last three days re-priced
    prices = project / "seeds" / "model_prices.csv"
    since = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")
    edits = [
        f"{model},edited,{since},0.123456,1.5,standard,0,,," for model in ("gpt-4o", "gpt-4o-mini")
    ]
    prices.write_text(prices.read_text().rstrip("\n") + "\n" + "\n".join(edits) + "\n")
    _load_both(second)
    _rollup_both()  # incremental: new events, voids, an organization's zone, the edited prices

    for table in GRAINS:
        columns = _columns(table, db_url)
        expected = _postgres_rows(db_url, table, columns)
        assert expected, f"{table} is empty on PostgreSQL: the test proves nothing"
        assert _spark_rows(table, columns) == expected, table

    # tally export: the same rows in the same (grain) order from either target; the columns
    # are the same, PostgreSQL's in the contract's order, Spark's in the query's
    # (fct_usage_daily has NULL user_ids: both sort them last)
    for table in ("fct_usage_daily_by_model", "fct_usage_daily"):
        assert _exported(table, tmp_path, "spark") == _exported(table, tmp_path, "local"), table

    _verify_on_spark_passes_then_finds_a_bad_hourly_row()


def _exported(table: str, folder, target: str) -> list[dict]:
    """`tally export` of a table from a target: its rows in the order written, canonical."""
    out = folder / f"{table}-{target}.parquet"
    invoke_tally("export", table, "--out", str(out), "--target", target)
    rows = [{name: _canonical(value) for name, value in row.items()}
            for row in pq.read_table(out).to_pylist()]
    assert rows, f"{table} exported no rows from {target}: the test proves nothing"
    return rows


def _verify_checks() -> tuple[int, dict[str, str], str]:
    """verify's exit status, each check's status, and every check's detail (for a failure)."""
    result = invoke_tally("verify", "--target", "spark", "--json", check=False)
    checks = json.loads(result.stdout)["checks"]
    details = "\n".join(f"{c['check']}: {c['status']}: {c['detail']}" for c in checks)
    return result.exit_code, {check["check"]: check["status"] for check in checks}, details


def _verify_on_spark_passes_then_finds_a_bad_hourly_row() -> None:
    """After `tally rollup --target spark` (every model, the tests of what it built),
    `tally verify --target spark` runs every check of PostgreSQL's, the Great Expectations suites
    on Spark's tables among them; a negative hourly row fails the reconciliation, the dbt tests
    and the hourly suite."""
    invoke_tally("rollup", "--target", "spark")
    exit_code, checks, details = _verify_checks()
    assert exit_code == 0, details
    assert set(checks) == {
        "rollups current", "reconciliation", "dbt tests", "source freshness", "unpriced events",
        "gx: raw events", "gx: fct_usage_hourly", "gx: fct_usage_daily", "gx: reconciliation",
    }
    assert {checks[name] for name in checks if name.startswith("gx: ")} == {"pass"}, details

    from pyspark.sql import functions

    hourly = spark_session().table("analytics.fct_usage_hourly")
    hourly.limit(1).withColumn("request_count", functions.lit(-1)).write.insertInto(
        "analytics.fct_usage_hourly"
    )
    exit_code, checks, details = _verify_checks()
    assert exit_code == 1, details
    assert checks["gx: fct_usage_hourly"] == "fail", details
    assert checks["reconciliation"] == "fail"
    assert checks["dbt tests"] == "fail"
    assert checks["gx: raw events"] == "pass"


def _raw_rows(raw, table: str):
    """What the raw views show: the rows of batches the ledger lists as loaded."""
    ledger = ds.dataset(raw / "load_batches", format="parquet").to_table()
    loaded = ledger.filter(pc.equal(ledger["status"], "loaded"))["batch_id"]
    rows = ds.dataset(raw / table, format="parquet").to_table()
    return rows.filter(pc.is_in(rows["batch_id"], value_set=loaded))


def _files(folder) -> set[str]:
    return {path.name for path in folder.rglob("*.parquet")}


def test_a_load_killed_half_way_leaves_nothing_visible_and_is_cleaned(tmp_path):
    data = tmp_path / "data"
    invoke_tally("generate", "--events", "60000", "--out", str(data), "--seed", "5")
    raw = tmp_path / "raw"
    env = {**os.environ, "TALLY_HOME": str(tmp_path / "home"), "TALLY_SPARK_RAW": str(raw)}
    command = [sys.executable, "-m", "tally", "load", "--target", "spark",
               str(data / "events.jsonl")]
    loader = subprocess.Popen(command, env=env, cwd=PROJECT_DIR, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    # killed once it has written some of the batch's files (its key index comes first)
    while not any((raw / "keys").rglob("*.parquet")) and time.monotonic() < deadline:
        assert loader.poll() is None, "the load ended before it could be killed"
        time.sleep(0.01)
    loader.send_signal(signal.SIGKILL)
    loader.wait()
    # files of the batch are there, its ledger row is not: nothing of it is visible
    assert _files(raw / "keys")
    assert ds.dataset(raw / "load_batches", format="parquet").count_rows() == 0
    assert _raw_rows(raw, "events").num_rows == 0

    result = subprocess.run(command, env=env, cwd=PROJECT_DIR, capture_output=True, text=True)
    assert result.returncode in (0, 3), result.stderr
    events = _raw_rows(raw, "events")
    ids = events["event_id"]
    assert pc.count_distinct(ids).as_py() == events.num_rows  # each event once
    # no file of the killed batch is left: each folder holds the schema file and the batch's
    ledger = ds.dataset(raw / "load_batches", format="parquet").to_table()
    batches = {f"{batch_id:020d}.parquet" for batch_id in ledger["batch_id"].to_pylist()}
    assert _files(raw / "events") - batches == {f"{0:020d}.parquet"}
    assert {path.name for path in (raw / "keys").rglob("*.parquet")} <= batches


def test_without_java_the_spark_target_says_so_in_one_line(tmp_path):
    env = {
        key: value for key, value in os.environ.items() if key not in ("JAVA_HOME", "PATH")
    }
    env.update(PATH=str(tmp_path / "no-java-here"), TALLY_HOME=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "tally", "rollup", "--target", "spark"],
        env=env, cwd=PROJECT_DIR, capture_output=True, text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: the spark target needs Java 17 or newer (a `java` on PATH, or JAVA_HOME);"
        " install it, e.g. `apt-get install openjdk-17-jre-headless`"
    ]


@pytest.fixture
def thrift_server(tmp_path, monkeypatch):
    """A Spark Thrift Server as a user's cluster would run one (local[2] here, started from the
    jars pyspark ships), its warehouse and metastore its own; the spark target pointed at it."""
    import pyspark

    spark_home = Path(pyspark.__file__).parent
    folder = tmp_path / "thrift-server"
    folder.mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            str(spark_home / "bin" / "spark-submit"), "--master", "local[2]",
            "--driver-memory", "2g",
            "--class", "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
            "--conf", f"spark.sql.warehouse.dir={folder / 'warehouse'}",
            "--conf", "spark.ui.enabled=false",
            "--hiveconf", f"hive.server2.thrift.port={port}",
            "--hiveconf", "hive.server2.thrift.bind.host=127.0.0.1",
            "spark-internal",
        ],
        cwd=folder,  # its Derby metastore and log
        env={**os.environ, "SPARK_HOME": str(spark_home)},
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "server.log", "w"),  # noqa: SIM115 - the server's lifetime
    )
    deadline = time.monotonic() + 300
    while True:
        assert server.poll() is None, (folder / "server.log").read_text()[-2000:]
        assert time.monotonic() < deadline, "the Thrift server did not listen within 300 s"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(1)
    monkeypatch.setenv("TALLY_SPARK_HOST", "127.0.0.1")
    monkeypatch.setenv("TALLY_SPARK_PORT", str(port))
    monkeypatch.setenv("TALLY_SPARK_RAW", str(tmp_path / "spark-raw"))
    yield
    server.terminate()
    server.wait(timeout=60)


def test_through_a_thrift_server_the_same_rows_as_postgres(
    db_url, sample, tmp_path, monkeypatch, thrift_server
):
    """The Thrift path of the spark target, as a user's cluster is reached: `tally load`,
    `rollup` (twice: the second incremental), `verify` and `export`, with the same rows as
    PostgreSQL in every contract table."""
    from tally.spark import thrift

    project = copy_project(tmp_path / "project")
    monkeypatch.setenv("TALLY_PROJECT_DIR", str(project))
    reset_database(db_url)
    for batch in sample:
        _load_both(batch)
        for target in ("local", "spark"):
            invoke_tally("rollup", "--target", target)

    with closing(thrift.connect()) as connection:
        for table in GRAINS:
            columns = _columns(table, db_url)
            expected = _postgres_rows(db_url, table, columns)
            assert expected, f"{table} is empty on PostgreSQL: the test proves nothing"
            read = thrift.read_table(connection, f"analytics.{table}", []).select(columns)
            rows = _sorted(tuple(map(_canonical, row.values())) for row in read.to_pylist())
            assert rows == expected, table

    result = invoke_tally("verify", "--target", "spark", "--json", check=False)
    checks = {check["check"]: check for check in json.loads(result.stdout)["checks"]}
    assert result.exit_code == 0, checks
    assert {checks[name]["status"] for name in checks if name.startswith("gx: ")} == {"pass"}

    assert _exported("fct_usage_daily", tmp_path, "spark") == _exported(
        "fct_usage_daily", tmp_path, "local"
    )
