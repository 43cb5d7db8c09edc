"""`tally load app.db`: a hostile legacy database (every looseness SQLite allows, every kind of
bad row, a table and a column tally does not know) loads with its per-table proof; its rollups
equal the events computed here; a second load after new rows adds exactly those."""

import hashlib
import hmac
import json
import sqlite3
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest
from conftest import query, run_tally

SCHEMA = """
create table organizations (id text primary key, name text, timezone text, plan text,
    created_at timestamp);
create table users (id text primary key, organization_id text, email text, role text,
    created_at timestamp, deleted_at timestamp, nickname text);
create table api_keys (id text primary key, organization_id text, user_id text, prefix text,
    key_hash text, created_at timestamp, revoked_at timestamp);
create table usage_events (id text primary key, organization_id text, user_id text,
    api_key_id text, model text, created_at timestamp, prompt_tokens integer,
    completion_tokens integer, cached_tokens integer, reasoning_tokens integer, status text,
    latency_ms integer);
create table audit_log (id integer primary key, organization_id text, actor_user_id text,
    action text, target_type text, target_id text, metadata text, created_at timestamp);
create table feature_flags (name text, enabled integer);
"""
T0 = 1_780_000_000  # 2026-05-28 20:26:40 UTC, Unix seconds
HOUR = datetime.fromtimestamp(T0 - T0 % 3600, UTC)

# (id, org, model, created_at, prompt, completion, status): valid rows, every looseness
GOOD_EVENTS = [
    ("e01", "o1", "m", T0, 10, 5, "ok"),  # Unix seconds, integer
    ("e02", "o1", "m", float(T0) + 0.5, "12", 3, "SUCCESS"),  # real seconds; tokens as text
    ("e03", "o1", "m", "2026-05-28 20:30:00", 7, 1, 200),  # naive text is UTC; HTTP 200
    ("e04", "o1", "m", "2026-05-29T01:59:00+05:30", 1, 1, "failed"),  # 20:29 UTC
    ("e05", "o2", "m", "2026-05-28T20:50:00Z", 3.0, 4, 404),  # a whole real is an integer
    ("e06", "o2", "m", str(T0), 2, 2, "503"),  # Unix seconds as text; status as text
    ("e07", "o2", "m", T0 + 60, 5, 0, "error"),
]
# (id, ..., the reason expected): each breaks one rule
BAD_EVENTS = [
    ("b01", "o1", "m", T0, 1, 1, "pending", "status is not success or error"),
    ("b02", "o1", "m", T0, "twelve", 1, "ok", "input_tokens is not an integer"),
    ("b03", "o1", "m", T0, -4, 1, "ok", "input_tokens is negative"),
    ("b04", "o1", "m", "yesterday", 1, 1, "ok", "event_time is not an ISO-8601 timestamp"),
    ("b05", "o1", None, T0, 1, 1, "ok", "missing model_id"),
    ("b06", "o1", b"\x00\x01", T0, 1, 1, "ok", "model is binary data (a BLOB)"),
    (None, "o1", "m", T0, 1, 1, "ok", "missing event_id"),
    ("b08", "o1", "m", T0, 12.5, 1, "ok", "input_tokens is not an integer"),
]


def _insert_events(db, rows) -> None:
    db.executemany(
        "insert into usage_events (id, organization_id, model, created_at, prompt_tokens,"
        " completion_tokens, status) values (?, ?, ?, ?, ?, ?, ?)",
        [row[:7] for row in rows],
    )


@pytest.fixture
def app_db(tmp_path):
    path = tmp_path / "app.db"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    db.executemany(
        "insert into organizations values (?, ?, ?, ?, ?)",
        [
            ("o1", "One", "Asia/Kolkata", "pro", T0 - 86400),
            ("o2", "Two", None, "free", "2025-01-01 00:00:00"),
            ("o3", "Three", "Mars/Olympus_Mons", "free", "2025-01-01"),  # quarantined
        ],
    )
    db.execute(
        "insert into users values ('u1', 'o1', ' Ann@Example.com', 'owner', ?, null, 'annie')",
        [T0 - 3600],
    )
    db.execute(
        "insert into api_keys values ('k1', 'o1', 'u1', 'sk-abc', 'deadbeef', ?, null)", [T0]
    )
    _insert_events(db, GOOD_EVENTS + BAD_EVENTS)
    db.executemany(
        "insert into audit_log (organization_id, actor_user_id, action, target_type, target_id,"
        " metadata, created_at) values (?, ?, ?, ?, ?, ?, ?)",
        [
            ("o1", "u1", "user.login", "user", "u1", '{"email": " Ann@Example.com", "n": 1}', T0),
            ("o2", None, "plan.changed", "organization", "o2", None, "2026-05-28 20:00:00"),
            ("o1", "u1", "x", "user", "u1", "{not json", T0),  # quarantined
            ("o1", "u1", "x", "user", "u1", "[1, 2]", T0),  # quarantined: not an object
            ("o1", "u1", "x", "user", "u1", '{"a": NaN}', T0),  # quarantined: NaN is no JSON
        ],
    )
    db.execute("insert into feature_flags values ('beta', 1)")
    db.commit()
    db.close()
    return path


def _by_table(summary: dict) -> dict:
    return {f["file"].rsplit(":", 1)[1]: f for f in summary["files"]}


@pytest.mark.slow
def test_a_hostile_legacy_database_loads_with_its_proof(clean_db, app_db):
    result = run_tally("load", str(app_db), "--json", check=False)
    assert result.returncode == 3, result.stderr
    tables = _by_table(json.loads(result.stdout))
    for name in ("organizations", "users", "api_keys", "usage_events", "audit_log"):
        t = tables[name]
        assert t["read"] == t["loaded"] + t["duplicate"] + t["quarantined"], name
    events = tables["usage_events"]
    assert (events["read"], events["loaded"], events["quarantined"]) == (15, 7, 8)
    assert events["quarantined_by_reason"] == dict(Counter(r[-1] for r in BAD_EVENTS))
    assert (tables["organizations"]["loaded"], tables["organizations"]["quarantined"]) == (2, 1)
    assert (tables["audit_log"]["loaded"], tables["audit_log"]["quarantined"]) == (2, 3)
    assert "column nickname (unknown to tally)" in tables["users"]["unknown"]
    assert "column key_hash (known, not kept by this tally)" in tables["api_keys"]["unknown"]
    assert tables["feature_flags"]["status"] == "not loaded"
    assert tables["feature_flags"]["unknown"] == ["table feature_flags (1 rows, unknown to tally)"]

    text = run_tally("load", str(app_db), check=False).stdout  # the proof, printed
    assert "15 rows = 0 loaded + 15 duplicate + 0 quarantined" in text

    # the ledger keeps the proof; bad rows sit in quarantine under table and rowid
    ledger = query(
        clean_db,
        "select source_table, records_read, records_loaded, records_duplicate,"
        " records_quarantined from raw.load_batches where source_table = 'usage_events'"
        " order by batch_id",
    )
    assert ledger == [("usage_events", 15, 7, 0, 8), ("usage_events", 15, 0, 15, 0)]
    quarantined = query(
        clean_db,
        "select record_number, reason from raw.quarantine"
        " where file_name = %s order by record_number",
        [f"{app_db}:usage_events"],
    )
    assert quarantined == [(len(GOOD_EVENTS) + i + 1, r[-1]) for i, r in enumerate(BAD_EVENTS)]
    assert "deadbeef" not in str(query(clean_db, "select * from raw.api_keys"))

    run_tally("rollup")
    _assert_rollup_is(clean_db, GOOD_EVENTS)
    key = b"tally-development-key-not-secret"
    email_hash = hmac.new(key, b"ann@example.com", hashlib.sha256).hexdigest()
    audit = dict(query(clean_db, "select audit_event_id, metadata from analytics.fct_audit_events"))
    assert audit == {"1": {"email": email_hash, "n": 1}, "2": None}

    # the application wrote on: a second load adds exactly the new rows
    new_events = [("n1", "o1", "m", T0 + 120, 9, 9, "ok"), ("n2", "o2", "m", T0, 1, 1, 500)]
    db = sqlite3.connect(app_db)
    _insert_events(db, new_events)
    db.commit()
    db.close()
    again = _by_table(json.loads(run_tally("load", str(app_db), "--json").stdout))
    assert (again["usage_events"]["read"], again["usage_events"]["loaded"]) == (17, 2)
    assert again["usage_events"]["duplicate"] == 15 and again["usage_events"]["conflicting"] == 0
    assert again["organizations"]["loaded"] == 0 and again["audit_log"]["loaded"] == 0
    run_tally("rollup")
    _assert_rollup_is(clean_db, GOOD_EVENTS + new_events)


def _assert_rollup_is(url: str, events) -> None:
    """fct_usage_hourly against the events summed here: one hour, per organization."""
    expected: dict = defaultdict(lambda: [0, 0, 0, 0])
    for _id, org, _model, _at, prompt, completion, status in events:
        row = expected[org]
        row[0] += 1
        row[1] += str(status).lower() in ("ok", "success", "200")
        row[2] += int(float(prompt))
        row[3] += completion
    actual = query(
        url,
        "select org_id, usage_hour, sum(request_count), sum(success_count), sum(input_tokens),"
        " sum(output_tokens) from analytics.fct_usage_hourly group by 1, 2 order by 1",
    )
    assert {org: (hour, *map(int, v)) for org, hour, *v in actual} == {
        org: (HOUR, *v) for org, v in sorted(expected.items())
    }
