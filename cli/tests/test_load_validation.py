"""Every rule of the contract sends its record to quarantine with its reason; a file tally cannot
read fails alone, with one clear line, and loads nothing; the rest still loads."""

import gzip
import json

import psycopg
import pytest
from conftest import query
from load_helpers import event, events, load, load_json, quarantine, write

BROKEN_EVENTS = [
    (event(event_id=None), "missing event_id"),
    (event(event_id="x" * 129), "event_id longer than 128 characters"),
    (event(org_id=None), "missing org_id"),
    (event(org_id=""), "missing org_id"),
    (event(model_id=None), "missing model_id"),
    (event(event_time=None), "missing event_time"),
    (event(event_time="yesterday"), "event_time is not an ISO-8601 timestamp"),
    (event(event_time="2026-02-30T10:00:00Z"), "event_time is not an ISO-8601 timestamp"),
    (event(event_time="20/11/2026 10:00"), "event_time is not an ISO-8601 timestamp"),
    (event(event_time="2999-01-01T00:00:00Z"), "event_time more than 24 h after load time"),
    (event(input_tokens=None), "missing input_tokens"),
    (event(input_tokens=-5), "input_tokens is negative"),
    (event(input_tokens="12.5"), "input_tokens is not an integer"),
    (event(input_tokens="0x10"), "input_tokens is not an integer"),
    (event(output_tokens="99999999999999999999"), "output_tokens exceeds 64 bits"),
    (event(output_tokens="9223372036854775808"), "output_tokens exceeds 64 bits"),
    (event(status="ok"), "status is not success or error"),
    (event(status=None), "missing status"),
    (event(latency_ms=-1), "latency_ms is negative"),
    (event(latency_ms="fast"), "latency_ms is not an integer"),
    (event(org_id="a\u0000b"), "org_id contains a NUL character"),
    (event(cache_read_input_tokens=-1), "cache_read_input_tokens is negative"),
    (event(cache_write_input_tokens="many"), "cache_write_input_tokens is not an integer"),
    (event(reasoning_tokens=-2), "reasoning_tokens is negative"),
    (
        event(cache_read_input_tokens=101),
        "cache_read_input_tokens + cache_write_input_tokens exceeds input_tokens",
    ),
    (
        event(cache_read_input_tokens=60, cache_write_input_tokens=41),
        "cache_read_input_tokens + cache_write_input_tokens exceeds input_tokens",
    ),
    (event(reasoning_tokens=21), "reasoning_tokens exceeds output_tokens"),
    (event(service_tier="economy"), "service_tier is not standard, batch, priority or flex"),
]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_every_event_rule_quarantines_with_its_reason(clean_db, tmp_path, fmt):
    good = [event(event_id="good1"), event(event_id="good2", output_tokens="9223372036854775807")]
    records = [*good]
    for i, (record, _) in enumerate(BROKEN_EVENTS):
        records.append(
            {**record, "event_id": record["event_id"] if record["event_id"] != "e1" else f"bad{i}"}
        )
    result = load_json(write(tmp_path / f"events.{fmt}", records))
    assert result["exit"] == 3  # loaded, but some records quarantined
    assert set(events(clean_db)) == {"good1", "good2"}
    reasons = [reason for _, reason, _ in quarantine(clean_db)]
    assert reasons == [reason for _, reason in BROKEN_EVENTS]
    assert result["totals"]["quarantined"] == len(BROKEN_EVENTS)
    numbers = [number for number, _, _ in quarantine(clean_db)]
    assert numbers == list(range(3, 3 + len(BROKEN_EVENTS)))  # line / row numbers


@pytest.mark.parametrize(
    ("event_id", "input_tokens", "output_tokens", "status", "latency_ms", "accepted"),
    [
        ("é" * 128, 1, 1, "error", None, True),  # 256 bytes, 128 characters
        ("é" * 129, 1, 1, "success", 1, False),
        ("", 1, 1, "success", 1, False),
        ("a", -1, 1, "success", 1, False),
        ("a", 1, -1, "success", 1, False),
        ("a", 1, 1, "ok", None, False),
        ("a", 1, 1, "success", -1, False),
    ],
)
def test_raw_events_refuses_a_row_the_loader_would_quarantine(
    clean_db, tmp_path, event_id, input_tokens, output_tokens, status, latency_ms, accepted
):
    """raw.events repeats the loader's rules in one check, for rows written by other hands."""
    load(write(tmp_path / "events.csv", [event()]))  # the raw layer, migrated
    insert = (
        "insert into raw.events (event_id, org_id, model_id, event_time, input_tokens,"
        " output_tokens, status, latency_ms, batch_id, record_number)"
        " values (%s, 'o', 'm', now(), %s, %s, %s, %s, 0, 0)"
    )
    values = [event_id, input_tokens, output_tokens, status, latency_ms]
    with psycopg.connect(clean_db) as conn:
        if accepted:
            conn.execute(insert, values)
        else:
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute(insert, values)


def test_json_shape_rules(clean_db, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(
        json.dumps(event()) + "\n"
        "not json\n"
        "[1, 2]\n"
        "\n"
        + json.dumps(event(event_id="e2", org_id={"nested": 1}))
        + "\n"
        + json.dumps(event(event_id="e3", user_id=True))
        + "\n"
        + json.dumps(event(event_id="e4", model_id=7))
        + "\n"
    )
    result = load_json(path)
    assert result["exit"] == 3
    assert [(n, r) for n, r, _ in quarantine(clean_db)] == [
        (2, "not valid JSON"),
        (3, "not a JSON object"),
        (5, "org_id is not a string or number"),
        (6, "user_id is not a string or number"),
    ]
    assert quarantine(clean_db)[0][2] == "not json"  # the record as given
    assert set(events(clean_db)) == {"e1", "e4"}


def test_a_csv_row_with_the_wrong_number_of_fields(clean_db, tmp_path):
    path = tmp_path / "events.csv"
    write(path, [event(), event(event_id="e2")])
    path.write_text(path.read_text() + "e3,org_a,only,four\n")
    assert load(path).returncode == 3
    [(number, reason, record)] = quarantine(clean_db)
    assert (number, record) == (3, "e3,org_a,only,four")
    assert reason == "wrong number of fields: 4, the header has 10"
    assert set(events(clean_db)) == {"e1", "e2"}


def test_reference_entity_rules(clean_db, tmp_path):
    write(
        tmp_path / "organizations.jsonl",
        [
            {"org_id": "o1", "timezone": "Asia/Kathmandu"},
            {"org_id": "o2", "timezone": "Mars/Olympus"},
            {"org_id": None, "name": "nameless"},
            {"org_id": "o3", "created_at": "soon"},
        ],
    )
    write(tmp_path / "users.csv", [{"user_id": "", "email": "a@b.c"}, {"user_id": "u1"}])
    write(
        tmp_path / "voids.jsonl",
        [
            {"event_id": "e1", "voided_at": "2026-11-20T11:00:00Z", "reason": "refund"},
            {"event_id": "e2"},
        ],
    )
    result = load_json(tmp_path)
    assert result["exit"] == 3
    assert sorted(r for _, r, _ in quarantine(clean_db)) == [
        "created_at is not an ISO-8601 timestamp",
        "missing org_id",
        "missing user_id",
        "missing voided_at",
        "timezone is not an IANA time zone known to the database",
    ]
    assert query(clean_db, "select org_id from raw.organizations") == [("o1",)]


def test_a_full_secret_key_is_never_stored(clean_db, tmp_path):
    secret = "sk-live-abcdefghijklmnopqrstuvwxyz0123456789"
    write(
        tmp_path / "api_keys.jsonl",
        [
            {"api_key_id": "k1", "org_id": "o", "key": secret},
            {"api_key_id": "k2", "key_prefix": "sk-ab", "secret": secret},
            {"api_key_id": "k3", "key_prefix": secret},
            {"api_key_id": None, "secret": secret},
        ],
    )
    assert load(tmp_path / "api_keys.jsonl").returncode == 3
    keys = dict(query(clean_db, "select api_key_id, key_prefix from raw.api_keys"))
    assert keys == {"k1": "sk-live-", "k2": "sk-ab"}
    [(dump,)] = query(
        clean_db,
        "select string_agg(t::text, ' ') from (select * from raw.api_keys union all"
        " select null, null, null, null, null, record, null, null, null from raw.quarantine) t",
    )
    assert "abcdefghijklmnop" not in dump


BAD_FILES = {
    "events_empty.jsonl": (b"", "empty file"),
    "events_latin1.csv": (
        b"event_id,org_id,model_id,event_time,input_tokens,output_tokens,status\n"
        b"e\xe9,o,m,2026-11-20T10:00:00Z,1,2,success\n",
        "not UTF-8 text",
    ),
    "events_binary.jsonl": (b"\x89PNG\r\n\x1a\n\x00\x00", "not JSON Lines"),
    "events_really.csv": (json.dumps(event()).encode() + b"\n", "not a events table"),
    "events_cut.jsonl": (
        json.dumps(event()).encode() + b"\n" + b'{"event_id": "e2", "or',
        "truncated",
    ),
    "events_cut.jsonl.gz": (gzip.compress(json.dumps(event()).encode() * 50)[:40], "truncated"),
    "events_plain.csv.gz": (b"event_id\ne1\n", "not a gzip file"),
    "events_fake.parquet": (b"PAR1 not really", "not a Parquet file"),
    "events_header.csv": (
        b"event_id,org_id,model_id,event_time,input_tokens,output_tokens,status\n",
        "no records",
    ),
    "legacy.db": (b"SQLite format 3\x00", "not a SQLite database: file is not a database"),
    "events.txt": (b"hello\n", "unknown extension"),
}


def test_a_file_tally_cannot_read_fails_alone_with_one_line(clean_db, tmp_path):
    for name, (content, _) in BAD_FILES.items():
        (tmp_path / name).write_bytes(content)
    write(tmp_path / "events_good.jsonl", [event(event_id="good")])
    paths = [tmp_path / name for name in BAD_FILES] + [tmp_path / "events_good.jsonl"]
    result = load(*paths)
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == len(BAD_FILES), result.stderr
    for line, (name, (_, message)) in zip(errors, BAD_FILES.items(), strict=True):
        assert line.startswith(f"Error: {tmp_path / name}: ") and message in line, line
    assert "Traceback" not in result.stderr
    assert set(events(clean_db)) == {"good"}  # nothing of a failed file, all of the good one
    failed = query(clean_db, "select count(*) from raw.load_batches where status = 'failed'")
    assert failed == [(len(BAD_FILES),)]  # each failure is in the ledger, with no rows


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_token_breakdowns_and_tier_load_in_every_format(clean_db, tmp_path, fmt):
    """The optional fields load as given, up to their totals exactly; absent or empty they are
    NULL in the raw layer and 0 / standard for the rollups (the staging view)."""
    records = [
        event(event_id="full", cache_read_input_tokens=60, cache_write_input_tokens=40,
              reasoning_tokens=20, service_tier="batch"),
        event(event_id="plain", cache_read_input_tokens=None, cache_write_input_tokens=None,
              reasoning_tokens=None, service_tier=""),
        event(event_id="flex", cache_read_input_tokens=0, reasoning_tokens=5, service_tier="flex"),
    ]
    if fmt == "parquet":  # a Parquet column has one type: integers, and the tier as text
        records[1]["service_tier"] = None
    result = load_json(write(tmp_path / f"events.{fmt}", records))
    assert result["exit"] == 0, result
    stored = query(
        clean_db,
        "select event_id, cache_read_input_tokens, cache_write_input_tokens, reasoning_tokens,"
        " service_tier from raw.events order by event_id",
    )
    assert stored == [
        ("flex", 0, None, 5, "flex"),
        ("full", 60, 40, 20, "batch"),
        ("plain", None, None, None, None),
    ]


@pytest.mark.parametrize(
    "values",
    ["101, null, null, null", "60, 41, null, null", "null, null, 21, null", "null, null, null, 'x'",
     "-1, null, null, null"],
)
def test_the_raw_table_refuses_a_breakdown_beyond_its_total(clean_db, tmp_path, values):
    """The database's own check (behind the loader's rules): input 100, output 20."""
    load(write(tmp_path / "events.csv", [event()]))  # the raw layer, migrated
    with psycopg.connect(clean_db) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "insert into raw.events (event_id, org_id, model_id, event_time, input_tokens,"
            " output_tokens, status, batch_id, record_number, cache_read_input_tokens,"
            f" cache_write_input_tokens, reasoning_tokens, service_tier) values ('x', 'o', 'm',"
            f" now(), 100, 20, 'success', 1, 1, {values})"
        )
