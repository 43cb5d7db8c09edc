"""OpenTelemetry traces, sent by the real SDK exporters to a real OTLP receiver on 127.0.0.1 (HTTP
and gRPC) or the console: a span for the command, each file loaded, each dbt node and each SQL
statement; nothing of OpenTelemetry imported when no OTEL_* variable is set."""

import json
import os
import subprocess
import sys

import pytest
from conftest import PROJECT_DIR, query, run_tally
from otlp_receiver import GrpcReceiver, HttpReceiver
from test_audit import event, write_jsonl
from test_logs import json_lines

STATUS_ERROR = 2  # OTLP's Status.STATUS_CODE_ERROR


def otel_env(**variables) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return {**env, "OTEL_BSP_SCHEDULE_DELAY": "100", **variables}


def http_env(receiver) -> dict:
    return otel_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
    )


def test_load_traces_the_command_each_file_and_each_statement(clean_db, tmp_path):
    good = write_jsonl(tmp_path / "events_1.jsonl", [event("t1"), event("t2")])
    some_bad = write_jsonl(tmp_path / "events_2.jsonl", [event("t3"), {"event_id": "bad"}])
    with HttpReceiver() as receiver:
        result = run_tally("load", good, some_bad, env=http_env(receiver), check=False)
    assert result.returncode == 3, result.stderr

    (command,) = [s for s in receiver.spans if s.name == "tally load"]
    assert command.parent_span_id == "" and command.attributes["tally.command"] == "load"
    assert command.attributes["tally.exit_status"] == 3
    assert command.resource["service.name"] == "tally"
    assert {s.trace_id for s in receiver.spans} == {command.trace_id}

    files = {s.attributes["tally.file"]: s for s in receiver.spans if s.name == "tally.load.file"}
    assert set(files) == {good, some_bad}
    assert all(s.parent_span_id == command.span_id for s in files.values())
    second = files[some_bad].attributes
    assert second["tally.records.read"] == 2 and second["tally.records.quarantined"] == 1
    assert second["tally.records.loaded"] == 1 and second["tally.kind"] == "events"
    assert second["tally.file.bytes"] == os.path.getsize(some_bad)

    statements = [s for s in receiver.spans if "db.query.text" in s.attributes]
    copies = [s for s in statements if s.name == "copy"]
    assert {s.parent_span_id for s in copies} == {files[good].span_id, files[some_bad].span_id}
    assert all(s.attributes["db.system.name"] == "postgresql" for s in statements)
    # the ledger's own insert, by the audit, is traced too
    assert any("ops.pipeline_runs" in s.attributes["db.query.text"] for s in statements)
    # parameters are never in a trace: no loaded value reaches the collector
    assert not any("t3" in s.attributes["db.query.text"] for s in statements)


def test_rollup_traces_each_dbt_node_and_logs_carry_the_trace_id(clean_db, tmp_path):
    run_tally("load", write_jsonl(tmp_path / "events.jsonl", [event("n1"), event("n2")]))
    with HttpReceiver() as receiver:
        result = run_tally("rollup", env={**http_env(receiver), "TALLY_LOG_FORMAT": "json"})

    (command,) = [s for s in receiver.spans if s.name == "tally rollup"]
    (build,) = [s for s in receiver.spans if s.name == "dbt build"]
    assert build.parent_span_id == command.span_id
    nodes = {s.attributes["dbt.node.unique_id"]: s for s in receiver.spans
             if s.parent_span_id == build.span_id and "dbt.node.unique_id" in s.attributes}
    hourly = nodes["model.tally.fct_usage_hourly"]
    assert hourly.name == "dbt model fct_usage_hourly"
    assert hourly.attributes["dbt.node.status"] == "success"
    assert hourly.attributes["dbt.node.materialized"] == "incremental"
    rows = query(clean_db, "select count(*) from analytics.fct_usage_hourly")[0][0]
    assert hourly.attributes["dbt.node.rows_affected"] == rows == 1
    assert build.start_ns <= hourly.start_ns <= hourly.end_ns <= build.end_ns
    assert any(uid.startswith("test.tally.") for uid in nodes)
    assert all(s.status_code != STATUS_ERROR for s in receiver.spans)

    lines = json_lines(result.stderr)
    assert lines and {line.get("trace_id") for line in lines} == {command.trace_id}


def test_a_failed_command_marks_its_span(clean_db, tmp_path):
    broken = tmp_path / "events_broken.jsonl.gz"
    broken.write_bytes(b"not gzip")
    with HttpReceiver() as receiver:
        result = run_tally("load", str(broken), env=http_env(receiver), check=False)
    assert result.returncode == 1
    (command,) = [s for s in receiver.spans if s.name == "tally load"]
    (file,) = [s for s in receiver.spans if s.name == "tally.load.file"]
    assert command.status_code == file.status_code == STATUS_ERROR
    assert file.attributes["tally.file.status"] == "failed"


def test_grpc_and_console_exporters(clean_db, tmp_path):
    path = write_jsonl(tmp_path / "events_g.jsonl", [event("g1")])
    with GrpcReceiver() as receiver:
        run_tally("load", path, env=otel_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL="grpc"
        ))
    assert {"tally load", "tally.load.file", "copy"} <= {s.name for s in receiver.spans}

    console = run_tally(
        "db", "url", "--log-format", "json", env=otel_env(OTEL_TRACES_EXPORTER="console")
    )
    spans = [json.loads(line) for line in console.stderr.splitlines()]
    assert [s["name"] for s in spans] == ["tally db url"]
    assert console.stdout.startswith("postgresql://")  # spans never mix with the output


def test_an_unsupported_protocol_is_one_line(clean_db):
    result = run_tally("db", "url", env=otel_env(
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_EXPORTER_OTLP_PROTOCOL="http/json"
    ), check=False)
    assert result.returncode == 1
    assert result.stderr == (
        "Error: OTEL_EXPORTER_OTLP_PROTOCOL=http/json is not supported;"
        " choose one of: http/protobuf, grpc\n"
    )


@pytest.mark.parametrize("variables", [{}, {"OTEL_TRACES_EXPORTER": "none"},
                                       {"OTEL_SDK_DISABLED": "true",
                                        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}])
def test_nothing_of_opentelemetry_is_imported_when_tracing_is_off(clean_db, tmp_path, variables):
    path = write_jsonl(tmp_path / "events_off.jsonl", [event("o1")])
    program = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from tally.cli import cli\n"
        f"result = CliRunner().invoke(cli, ['load', {path!r}])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                            cwd=PROJECT_DIR, env=otel_env(**variables), check=True)
    assert result.stdout.strip() == "[]"
