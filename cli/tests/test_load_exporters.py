"""Inputs as real exporters write them: long fractional seconds, keys and column names in any
case, unnamed CSV columns, whole numbers written as decimals; a quarantined record keeps its
text byte for byte."""

import gzip
import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import query
from load_helpers import EVENT, event, events, load_json, quarantine, write

FORMATS = ["jsonl", "csv", "parquet"]

# given -> stored (microseconds, cut, never rounded: the hour stays the hour given)
TIMES = {
    "2026-01-01T00:59:59.9999999Z": "2026-01-01 00:59:59.999999",  # .NET round trip ("o")
    "2026-01-01T00:59:59.999999999Z": "2026-01-01 00:59:59.999999",  # Go RFC3339Nano
    "2026-01-01T01:59:59.123456789+01:00": "2026-01-01 00:59:59.123456",
    "2026-01-01T00:59:59.1234567": "2026-01-01 00:59:59.123456",  # no offset: UTC
    "2026-01-01 00:00:00.123456789012Z": "2026-01-01 00:00:00.123456",
    "2026-01-01T00:00:00.5Z": "2026-01-01 00:00:00.5",
}


def _stored_times(url: str) -> dict[str, str]:
    rows = query(
        url,
        "select event_id, to_char(event_time at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
        " from raw.events",
    )
    return {event_id: text.rstrip("0").rstrip(".") for event_id, text in rows}


@pytest.mark.parametrize("fmt", FORMATS)
def test_fractional_seconds_of_any_length_are_cut_to_the_microsecond(clean_db, tmp_path, fmt):
    records = [event(event_id=f"t{i}", event_time=given) for i, given in enumerate(TIMES)]
    result = load_json(write(tmp_path / f"events.{fmt}", records))
    assert result["exit"] == 0, result
    expected = {f"t{i}": stored.rstrip("0").rstrip(".") for i, stored in enumerate(TIMES.values())}
    assert _stored_times(clean_db) == expected


def test_parquet_nanosecond_timestamps_are_floored_to_the_microsecond(clean_db, tmp_path):
    last_ns = int(datetime(2026, 1, 1, 1, tzinfo=UTC).timestamp()) * 10**9 - 1  # 00:59:59.999999999
    table = pa.Table.from_pylist([event(event_id="n1"), event(event_id="n2")]).set_column(
        5, "event_time", pa.array([last_ns, None], pa.timestamp("ns", tz="UTC"))
    )
    pq.write_table(table, tmp_path / "events.parquet")
    result = load_json(tmp_path / "events.parquet")
    assert result["exit"] == 3, result
    assert _stored_times(clean_db) == {"n1": "2026-01-01 00:59:59.999999"}
    assert [reason for _, reason, _ in quarantine(clean_db)] == ["missing event_time"]


def _in_case(record: dict, spell) -> dict:
    return {spell(key): value for key, value in record.items()}


@pytest.mark.parametrize("fmt", FORMATS)
def test_keys_and_column_names_match_without_case(clean_db, tmp_path, fmt):
    records = [
        _in_case(event(event_id=f"k{i}", latency_ms=None if i % 2 else 300), str.upper)
        for i in range(4)
    ]
    write(tmp_path / f"events.{fmt}", records)
    result = load_json(tmp_path / f"events.{fmt}")
    assert result["exit"] == 0, result
    loaded = events(clean_db)
    assert set(loaded) == {"k0", "k1", "k2", "k3"}
    assert loaded["k0"] == events_row(latency_ms=300) and loaded["k1"] == events_row(
        latency_ms=None
    )


def events_row(**changes) -> tuple:
    record = event(**changes)
    time = datetime.fromisoformat(record["event_time"])
    return (*(record[k] for k in list(EVENT)[1:5]), time, *(record[k] for k in list(EVENT)[6:]))


def test_json_lines_keys_in_other_case_among_plain_ones(clean_db, tmp_path):
    """A few lines of a large block spell keys otherwise: pyarrow would read those fields as
    absent; each record loads whole, and a key spelled as the field wins over its variant."""
    lines = [json.dumps(event(event_id=f"p{i}")) for i in range(500)]
    lines[100] = json.dumps(_in_case(event(event_id="upper"), str.upper))
    lines[200] = json.dumps(_in_case(event(event_id="title", latency_ms=7), str.title))
    lines[300] = json.dumps({**event(event_id="both", latency_ms=None), "LATENCY_MS": 9})
    lines[400] = json.dumps({**event(event_id="twice", model_id="first"), "MODEL_ID": "second"})
    optional_only = {k: v for k, v in event(event_id="optional").items() if k != "latency_ms"}
    lines[450] = json.dumps({**optional_only, "Latency_Ms": 5})  # every required key as spelled
    (tmp_path / "events.jsonl").write_text("\n".join(lines) + "\n")
    result = load_json(tmp_path / "events.jsonl")
    assert result["exit"] == 0, result
    loaded = events(clean_db)
    assert len(loaded) == 500
    assert loaded["upper"] == events_row()
    assert loaded["title"] == events_row(latency_ms=7)
    assert loaded["both"] == events_row(latency_ms=None)  # "latency_ms": null wins
    assert loaded["twice"] == events_row(model_id="first")
    assert loaded["optional"] == events_row(latency_ms=5)


def test_unnamed_csv_columns_are_ignored(clean_db, tmp_path):
    path = tmp_path / "events.csv"
    write(path, [event(), event(event_id="e2", status="ok")])
    header, *rows = path.read_text().splitlines()
    path.write_text(
        "\n".join([header + ",,, ", *(row + ",,note," for row in rows)]) + "\n", newline=""
    )
    result = load_json(path)
    assert result["exit"] == 3, result
    assert set(events(clean_db)) == {"e1"}
    assert quarantine(clean_db) == [(2, "status is not success or error", rows[1] + ",,note,")]


def test_a_column_named_twice_in_other_case_still_fails_its_file(clean_db, tmp_path):
    path = tmp_path / "events.csv"
    write(path, [{**event(), "Event_ID": "e9"}])
    result = load_json(path)
    assert result["exit"] == 1
    assert result["stderr"].strip() == f"Error: {path}: column event_id appears twice"


WHOLE = ["12.0", "12.00", "1.2e1", "1.2E+1", "120e-1", "12."]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_whole_numbers_are_integers_and_others_are_not(clean_db, tmp_path, fmt):
    """As JSON numbers (written as is) and as text (a CSV field, a JSON string)."""
    path = tmp_path / f"events.{fmt}"
    numbers = [*WHOLE, "12.5", "1.25e1", "-12.0", "1e30"]
    records = [event(event_id=f"w{i}", input_tokens=n) for i, n in enumerate(numbers)]
    write(path, records)
    if fmt == "jsonl":  # numbers, not strings: "input_tokens": 1.2e1
        path.write_text(
            "".join(
                json.dumps(r).replace(f'"input_tokens": "{n}"', f'"input_tokens": {n}') + "\n"
                for r, n in zip(records, numbers, strict=True)
                if n != "12."  # not a JSON number
            )
        )
    result = load_json(path)
    assert result["exit"] == 3, result
    expected = {f"w{i}": 12 for i, n in enumerate(WHOLE) if fmt == "csv" or n != "12."}
    assert {k: row[5] for k, row in events(clean_db).items()} == expected
    assert [reason for _, reason, _ in quarantine(clean_db)] == [
        "input_tokens is not an integer",
        "input_tokens is not an integer",
        "input_tokens is negative",
        "input_tokens exceeds 64 bits",
    ]


def test_whole_numbers_in_parquet_float_and_string_columns(clean_db, tmp_path):
    table = pa.Table.from_pylist(
        [event(event_id=f"f{i}", output_tokens=str(n)) for i, n in enumerate([12.0, 12.5, 7])]
    ).set_column(6, "input_tokens", pa.array([12.0, 3.0, 12.5], pa.float64()))
    pq.write_table(table, tmp_path / "events.parquet")
    result = load_json(tmp_path / "events.parquet")
    assert result["exit"] == 3, result
    assert {k: row[5:7] for k, row in events(clean_db).items()} == {"f0": (12, 12)}
    assert [reason for _, reason, _ in quarantine(clean_db)] == [
        "output_tokens is not an integer",
        "input_tokens is not an integer",
    ]


# Broken records as exporters write them: spacing, key order, escapes, unknown fields, CRLF.
JSON_LINES = [
    '{ "event_id" : "q1",  "status":"ok", "org_id":"o", "model_id":"m",'
    ' "event_time":"2026-11-20T10:00:00Z", "input_tokens":1, "output_tokens":2, "x":[1,{}]}',
    '{"event_id":"q2","org_id":"\\u00e9t\\u00e9","model_id":"m","event_time":"2026-11-20T10:00:00Z",'
    '"input_tokens":1,"output_tokens":2,"status":"success","latency_ms":-1}\r',
    '{"event_id":"q3","org_id":"o","model_id":"m","event_time":"2026-11-20T10:00:00Z"}',
]


@pytest.mark.parametrize("shape", ["whole", "with a bad line"])
def test_a_quarantined_json_line_keeps_its_text_byte_for_byte(clean_db, tmp_path, shape):
    """Whole: pyarrow parses the block and validation breaks the records; with a bad line the
    block is parsed line by line in Python."""
    good = [json.dumps(event(event_id=f"g{i}")) for i in range(100)]
    lines = [*good, *JSON_LINES, *(["{not json"] if shape != "whole" else [])]
    (tmp_path / "events.jsonl").write_bytes(("\n".join(lines) + "\n").encode())
    result = load_json(tmp_path / "events.jsonl")
    assert result["exit"] == 3, result
    texts = [record for _, _, record in quarantine(clean_db)]
    expected = [line.removesuffix("\r") for line in lines[100:]]  # the line ending is not kept
    assert texts == expected
    assert len(events(clean_db)) == 100


CSV_ROWS = [
    "event_id,org_id,model_id,event_time,input_tokens,output_tokens,status,note",
    'g1,o,m,2026-11-20T10:00:00Z,1,2,success,"fine"',
    'q1,"o, ""quoted""",m,2026-11-20T10:00:00Z,1,2,ok,  spaced  ',
    '"q2\nwith a break",o,m,2026-11-20T10:00:00Z,1.5,2,success,"x\r\ny"',
    "",
    "q3,o,m,2026-11-20T10:00:00+0545,1,2,success,tail,",
    "g2,o,m,2026-11-20T10:00:00Z,1,2,success,",
    "q4,,m,2026-11-20T10:00:00Z,1,2,success,été",
    "q5,o,m,2026-11-20T10:00:00Z,-1,2,success,",
]
# A quote inside a field: pyarrow reads it as a character, Python's strict csv refuses the file.
QUOTE_INSIDE = '"q6"x,o,m,2026-11-20T10:00:00Z,1,2,ok,'
BROKEN_ROWS = [CSV_ROWS[2], CSV_ROWS[3], CSV_ROWS[5], CSV_ROWS[7], CSV_ROWS[8]]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("shape", ["read by pyarrow", "read row by row"])
def test_a_quarantined_csv_row_keeps_its_text_byte_for_byte(clean_db, tmp_path, gz, shape):
    """A field too many (q3) makes pyarrow give up: the file is read row by row in Python.
    Without it pyarrow reads the file, and the broken rows' text is read again from the file."""
    if shape == "read row by row":
        rows, expected = CSV_ROWS, BROKEN_ROWS
    else:
        rows = [r.replace(",tail,", ",tail") for r in CSV_ROWS] + [QUOTE_INSIDE]
        expected = [rows[i] for i in (2, 3, 7, 8, 9)]
    data = ("\r\n".join(rows) + "\n").encode()
    path = tmp_path / ("events.csv.gz" if gz else "events.csv")
    path.write_bytes(gzip.compress(data) if gz else data)
    result = load_json(path)
    assert result["exit"] == 3, result
    assert [record for _, _, record in quarantine(clean_db)] == expected
    assert set(events(clean_db)) == {"g1", "g2"} | ({"q3"} if shape == "read by pyarrow" else set())
