"""Hostile values through every command-line argument and record field that reaches SQL.

Quotes, semicolons, SQL, unicode (RTL override, emoji), NUL bytes, format placeholders and
10 kB strings as record fields of every kind, as file and directory names, as `--target` and
TALLY_TARGET values, and in TALLY_HOME. Each either loads verbatim, is quarantined with its
reason, or fails with one clear line; nothing is executed and no table is harmed.
(Hostile org ids through the rollups and row-level security: test_access.py.)
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import PROJECT_DIR, query, run_tally
from tally.embedded_db import EmbeddedServer

DROP = "'; drop table raw.events; --"
HOSTILE = [
    "o'rg",
    'o"rg',
    "a;b",
    DROP,
    "Robert'); drop table raw.events;--",
    "$$; drop table raw.events; $$",
    "組織-ü-🙂\u202eevil",
    "back\\slash %s %(x)s {0} $1 \\x00",
    "tab\tnew\nline\r",
    "x" * 10_000,
    " ",
]
EVENT_FIELDS = ("event_id", "org_id", "user_id", "api_key_id", "model_id")
RAW_TABLES = ("events", "voids", "organizations", "users", "api_keys", "load_batches", "quarantine")


NUL = "nul\u0000byte"


def storable(value: str) -> bool:
    """PostgreSQL text cannot hold NUL: such a record must be quarantined, not loaded."""
    return "\u0000" not in value


def base_event(event_id: str) -> dict:
    return {
        "event_id": event_id,
        "org_id": "org_h",
        "user_id": "u",
        "api_key_id": "k",
        "model_id": "gpt-4o",
        "event_time": "2026-01-05T10:00:00Z",
        "input_tokens": 1,
        "output_tokens": 2,
        "status": "success",
        "latency_ms": 5,
    }


def hostile_events() -> list[dict]:
    records = []
    for i, value in enumerate(HOSTILE):
        for field in EVENT_FIELDS:
            records.append({**base_event(f"ev-{field}-{i}"), field: value})
    for field in ("event_time", "input_tokens", "output_tokens", "status", "latency_ms"):
        for i, value in enumerate((DROP, "1; drop table raw.events", "x" * 10_000)):
            records.append({**base_event(f"bad-{field}-{i}"), field: value})
    return records


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def quarantined(url: str, fragment: str) -> bool:
    """A quarantined record holding `fragment` has a reason."""
    rows = query(
        url,
        "select reason from raw.quarantine where strpos(record, %s) > 0",
        [json.dumps(fragment)[1:-1]],
    )
    return bool(rows) and all(reason for (reason,) in rows)


def assert_raw_layer_intact(url: str) -> None:
    for table in RAW_TABLES:
        assert query(url, "select to_regclass(%s) is not null", [f"raw.{table}"]) == [(True,)]


def assert_batches_add_up(url: str) -> None:
    for kind, read, loaded, duplicate, quarantined in query(
        url,
        "select kind, records_read, records_loaded, records_duplicate, records_quarantined"
        " from raw.load_batches where status = 'loaded'",
    ):
        assert read == loaded + duplicate + quarantined, kind


def test_hostile_record_fields_load_verbatim_or_are_quarantined(clean_db, tmp_path):
    events = hostile_events()
    write_jsonl(tmp_path / "events.jsonl", events)
    write_jsonl(
        tmp_path / "organizations.jsonl",
        [
            {
                "org_id": v,
                "name": v,
                "timezone": "Asia/Kolkata",
                "plan": v,
                "created_at": "2025-01-01T00:00:00Z",
            }
            for v in HOSTILE
        ]
        + [
            {
                "org_id": "org_tz",
                "name": "n",
                "timezone": f"UTC{DROP}",
                "plan": "p",
                "created_at": "2025-01-01T00:00:00Z",
            }
        ],
    )
    write_jsonl(
        tmp_path / "users.jsonl",
        [
            {
                "user_id": v,
                "org_id": v,
                "email": f"{v}@x.test",
                "created_at": "2025-01-01T00:00:00Z",
            }
            for v in HOSTILE
        ],
    )
    write_jsonl(
        tmp_path / "api_keys.jsonl",
        [
            {
                "api_key_id": v,
                "org_id": v,
                "user_id": v,
                "key_prefix": v[:16],
                "created_at": "2025-01-01T00:00:00Z",
                "revoked_at": None,
            }
            for v in HOSTILE
        ],
    )
    write_jsonl(
        tmp_path / "voids.jsonl",
        [{"event_id": v, "voided_at": "2026-01-06T00:00:00Z", "reason": v} for v in HOSTILE],
    )
    result = run_tally("load", str(tmp_path), check=False)
    assert result.returncode in (0, 3), result.stderr
    assert "Traceback" not in result.stderr
    assert_raw_layer_intact(clean_db)
    assert_batches_add_up(clean_db)

    for i, value in enumerate(HOSTILE):
        for field in EVENT_FIELDS:
            event_id = value if field == "event_id" else f"ev-{field}-{i}"
            fragment = value[:60] if field == "event_id" else event_id
            loaded = query(
                clean_db,
                f"select {field} from raw.events where event_id = %s",
                [event_id.replace("\u0000", "")],
            )
            if storable(value) and not (field == "event_id" and len(value) > 128):
                assert loaded == [(value,)] or quarantined(clean_db, fragment), (
                    f"{field}={value[:30]!r} neither loaded verbatim nor quarantined"
                )
            else:
                assert loaded == [], f"{field}={value[:30]!r} loaded"
                assert quarantined(clean_db, fragment)
        if storable(value):
            organizations = query(
                clean_db,
                "select count(*) from raw.organizations where org_id = %s and name = %s"
                " and plan = %s",
                [value, value, value],
            )
            assert organizations == [(1,)] or quarantined(clean_db, value[:50])
    for field in ("event_time", "input_tokens", "output_tokens", "status", "latency_ms"):
        assert query(
            clean_db, "select count(*) from raw.events where event_id like %s", [f"bad-{field}-%"]
        ) == [(0,)], f"a non-{field} loaded"
    assert query(clean_db, "select count(*) from raw.organizations where org_id = 'org_tz'") == [
        (0,)
    ]
    # The hostile values, read back through the audit ledger's record of the command, too.
    [(arguments,)] = query(clean_db, "select arguments from ops.pipeline_runs")
    assert arguments["paths"] == [str(tmp_path)]


def test_nul_bytes_are_quarantined_or_fail_their_file_in_one_line(clean_db, tmp_path):
    """PostgreSQL text cannot hold NUL (JSON "\\u0000"): never loaded, never a traceback."""
    records = {
        "events": [{**base_event("nul-1"), "org_id": NUL}, base_event("nul-ok")],
        "organizations": [{"org_id": NUL, "name": NUL}, {"org_id": "org_ok", "name": "ok"}],
        "users": [{"user_id": "u_nul", "org_id": "o", "email": f"{NUL}@x.test"}],
        "api_keys": [{"api_key_id": NUL, "org_id": "o", "key_prefix": "sk"}],
        "voids": [{"event_id": NUL, "voided_at": "2026-01-06T00:00:00Z", "reason": NUL}],
    }
    for kind, rows in records.items():
        write_jsonl(tmp_path / f"{kind}.jsonl", rows)
    result = run_tally("load", str(tmp_path), check=False)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (1, 3), result.stderr
    failed = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    for kind in records:
        # each file: its NUL record quarantined (the rest loaded), or the file failed alone
        batch = query(
            clean_db,
            "select status, records_quarantined from raw.load_batches where kind = %s",
            [kind],
        )
        file_failed = any(f"{kind}.jsonl" in line for line in failed)
        assert file_failed or batch == [("loaded", 1)] or batch[0][1] >= 1, (kind, batch)
    assert query(clean_db, "select count(*) from raw.events where strpos(org_id, 'nul') > 0") == [
        (0,)
    ]
    assert_raw_layer_intact(clean_db)


def test_hostile_csv_fields(clean_db, tmp_path):
    path = tmp_path / "events.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(base_event("x")))
        writer.writeheader()
        for i, value in enumerate(v for v in HOSTILE if storable(v)):
            writer.writerow({**base_event(f"csv-{i}"), "org_id": value, "user_id": value})
    result = run_tally("load", str(path), check=False)
    assert result.returncode in (0, 3) and "Traceback" not in result.stderr, result.stderr
    for i, value in enumerate(v for v in HOSTILE if storable(v)):
        rows = query(
            clean_db, "select org_id, user_id from raw.events where event_id = %s", [f"csv-{i}"]
        )
        # csv may not round-trip a bare \r inside a field: loaded verbatim or quarantined
        assert rows in ([(value, value)], []), value[:30]
    assert_raw_layer_intact(clean_db)


FILE_NAMES = [
    'events it\'s; "quoted".jsonl',
    f"events {DROP}.jsonl",
    "events $(touch pwned) `id`.jsonl",
    "events 組織 🙂.jsonl",
    "events %s %(x)s {0}.jsonl",
    "events " + "y" * 200 + ".jsonl",
]


@pytest.mark.parametrize("name", FILE_NAMES, ids=range(len(FILE_NAMES)))
def test_hostile_file_names(clean_db, tmp_path, name):
    folder = tmp_path / 'dir it\'s; "x"'
    folder.mkdir()
    path = folder / name
    write_jsonl(path, [base_event(f"file-{len(name)}-{name[7:12]}")])
    result = run_tally("load", str(path), check=False)
    assert result.returncode == 0, result.stderr
    assert not (PROJECT_DIR / "pwned").exists()
    [(file_name, loaded)] = query(
        clean_db, "select file_name, records_loaded from raw.load_batches"
    )
    assert file_name.endswith(name) and loaded == 1
    [(arguments,)] = query(clean_db, "select arguments from ops.pipeline_runs")
    assert arguments["paths"] == [str(path)]
    assert_raw_layer_intact(clean_db)


TARGETS = [DROP, "o'rg", 'a"b', "x;y", "組織🙂", "t" * 10_000, "$(touch pwned)", "local "]

# Runs `tally.cli.main` as the `tally` program does, once per (argv, env), in one Python process
# (40 subprocesses would cost a minute); prints exit status and stderr of each as JSON lines.
DRIVER = """
import contextlib, io, json, os, sys
from tally.cli import main
for argv, env in json.loads(sys.stdin.read()):
    os.environ.pop("TALLY_TARGET", None)
    os.environ.update(env)
    err = io.StringIO()
    sys.argv = ["tally", *argv]
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main()
            code = 0
        except SystemExit as exit:
            code = exit.code
        except BaseException as error:
            code, err = "raised", io.StringIO(repr(error))
    print(json.dumps([code, err.getvalue()]))
"""


def test_hostile_target_values(clean_db, tmp_path):
    events = tmp_path / "events.jsonl"
    write_jsonl(events, [base_event("t1")])
    run_tally("load", str(events))
    calls = []
    for target in TARGETS:
        calls += [
            (["load", "--target", target, str(events)], {}),
            (["rollup", "--target", target], {}),
            (["verify", "-t", target], {}),
            (["db", "url", "--target", target], {}),
            (["load", str(events)], {"TALLY_TARGET": target}),
        ]
    driver = subprocess.run(
        [sys.executable, "-c", DRIVER],
        input=json.dumps(calls),
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        check=True,
    )
    results = [json.loads(line) for line in driver.stdout.splitlines()]
    assert len(results) == len(calls), driver.stderr[-2000:]
    for (argv, env), (code, stderr) in zip(calls, results, strict=True):
        lines = stderr.strip().splitlines()
        assert code == 1 and len(lines) == 1, (argv[:2], env.keys(), code, stderr[:500])
        assert lines[0].startswith("Error: target "), stderr[:500]
    assert not (PROJECT_DIR / "pwned").exists()
    assert_raw_layer_intact(clean_db)
    assert query(clean_db, "select count(*) from raw.events") == [(1,)]


def test_tally_home_with_spaces_quotes_and_semicolons(db_url):
    base = Path(tempfile.mkdtemp(prefix="th-"))
    base.chmod(0o755)
    home = base / "it's a; home"
    home.mkdir()
    home.chmod(0o755)
    env = {**os.environ, "TALLY_HOME": str(home)}
    server = EmbeddedServer(home)
    try:
        events = home / "events.jsonl"
        write_jsonl(events, [base_event("h1")])
        run_tally("load", str(events), env=env)
        url = run_tally("db", "url", env=env).stdout.strip()
        assert query(url, "select count(*) from raw.events") == [(1,)]
        assert query(url, "select command, outcome from ops.pipeline_runs") == [("load", "success")]
    finally:
        server.stop()
    bad = base / 'dq"home'
    result = run_tally("db", "start", check=False, env={**os.environ, "TALLY_HOME": str(bad)})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    shutil.rmtree(base, ignore_errors=True)


def test_hostile_kind_is_a_usage_error(tmp_path):
    events = tmp_path / "events.jsonl"
    write_jsonl(events, [base_event("k1")])
    result = run_tally("load", "--kind", DROP, str(events), check=False)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
