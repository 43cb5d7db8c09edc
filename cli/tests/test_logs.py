"""`--log-format json` / TALLY_LOG_FORMAT=json: every line a command writes on stderr is one JSON
object (ts, level, command, msg), dbt's own lines included; text stays the default."""

import json
import os

from click.testing import CliRunner
from conftest import run_tally
from tally.cli import cli
from test_audit import event, write_jsonl


def json_lines(stderr: str) -> list[dict]:
    """Every line parsed, each with the four fields; fails on the first line that is not."""
    records = []
    for line in stderr.splitlines():
        record = json.loads(line)
        assert isinstance(record, dict), line
        assert {"ts", "level", "command", "msg"} <= record.keys(), line
        assert record["level"] in {"debug", "info", "warning", "error"}, line
        assert record["ts"].endswith("Z"), line
        records.append(record)
    return records


def test_load_writes_json_lines_and_text_by_default(clean_db, tmp_path):
    path = write_jsonl(tmp_path / "events_a.jsonl", [event("j1"), {"event_id": "broken"}])
    result = run_tally("load", "--log-format", "json", path, check=False)
    assert result.returncode == 3
    json_lines(result.stderr)  # quarantine is reported on stdout; stderr may be empty
    again = run_tally(
        "load", path, env={**os.environ, "TALLY_LOG_FORMAT": "json"}, check=False
    )
    assert again.returncode == 0
    assert "already loaded" in again.stdout
    json_lines(again.stderr)
    plain = run_tally("load", str(tmp_path / "missing.jsonl"), check=False)
    assert plain.stderr.startswith("Error: no such file or directory")


def test_failing_commands_say_why_in_one_json_error_line(clean_db, tmp_path):
    broken = tmp_path / "events_broken.jsonl.gz"
    broken.write_bytes(b"not gzip at all")
    result = run_tally("load", str(broken), "--log-format=json", check=False)
    assert result.returncode == 1
    (line,) = json_lines(result.stderr)
    assert line["level"] == "error" and line["command"] == "load"
    assert line["msg"].startswith(f"Error: {broken}")

    usage = run_tally("--log-format", "json", "load", "--no-such-option", check=False)
    assert usage.returncode == 2
    (line,) = json_lines(usage.stderr)
    assert line["level"] == "error" and "--no-such-option" in line["msg"]

    sub = run_tally("db", "status", "--target", "postgres", "--log-format", "json", check=False)
    assert sub.returncode == 1
    (line,) = json_lines(sub.stderr)
    assert line["command"] == "db status" and line["level"] == "error"


def test_rollup_in_json_gives_dbt_lines_as_json_on_stderr_only(clean_db, tmp_path):
    run_tally("load", write_jsonl(tmp_path / "events_r.jsonl", [event("r1"), event("r2")]))
    result = run_tally("rollup", env={**os.environ, "TALLY_LOG_FORMAT": "json"})
    records = json_lines(result.stderr)
    dbt = [r for r in records if r.get("logger") == "dbt"]
    assert any(r["msg"].startswith("Running with dbt=") for r in dbt)
    assert any(r.get("node") == "model.tally.fct_usage_hourly" for r in dbt)
    assert all(r["command"] == "rollup" for r in records)
    assert not any("\x1b[" in r["msg"] for r in records)  # no terminal colours
    # stdout holds the command's own output only, none of dbt's lines
    assert "Running with dbt" not in result.stdout
    assert "fct_usage_hourly: " in result.stdout


def test_every_command_takes_the_log_format_option():
    from test_cli_help import _commands

    for path in [(), *_commands(cli)]:
        assert "--log-format" in CliRunner().invoke(cli, [*path, "--help"]).output, path
