"""Every format, compressed or not, loads the same records; kinds come from names or --kind."""

import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import query
from load_helpers import event, events, load, load_json, write
from tally.generate import Fractions, generate
from tally.load import parsing, reading
from tally.load.formats import FORMATS as FORMATS_REGISTRY
from tally.load.formats import format_of, readable_extensions
from tally.load.kinds import KINDS

FORMATS = ["jsonl", "csv", "parquet"]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """The same synthetic data set (no bad records) in every format, plain and gzipped."""
    root = tmp_path_factory.mktemp("formats")
    clean = Fractions(late=0.02, duplicates=0.01, voided=0.01, bad=0)
    for fmt in FORMATS:
        for gz in (False, True):
            generate(
                3000, root / f"{fmt}{'-gz' if gz else ''}", seed=11, fmt=fmt, gz=gz, fractions=clean
            )
    return root


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_loads_the_same_records(clean_db, datasets, fmt, gz):
    result = load_json(datasets / f"{fmt}{'-gz' if gz else ''}")
    assert result["exit"] == 0, result
    totals = result["totals"]
    assert totals["files_loaded"] == 5 and totals["quarantined"] == 0
    assert totals["duplicate"] == 30 and totals["conflicting"] > 0
    loaded = events(clean_db)
    [events_file] = [f for f in result["files"] if f["kind"] == "events"]
    assert len(loaded) == events_file["loaded"] == 3000
    if (fmt, gz) == ("jsonl", False):
        test_every_format_loads_the_same_records.reference = loaded
    reference = getattr(test_every_format_loads_the_same_records, "reference", None)
    if reference is not None:
        assert loaded == reference
    kinds = dict(query(clean_db, "select kind, count(*) from raw.load_batches group by 1"))
    assert kinds == {"organizations": 1, "users": 1, "api_keys": 1, "events": 1, "voids": 1}
    [(voids,)] = query(clean_db, "select count(*) from raw.voids")
    assert voids == 30


def test_kind_from_the_file_name_or_the_option(clean_db, tmp_path):
    write(tmp_path / "users_2026.csv", [{"user_id": "u1", "org_id": "o", "email": "a@b.c"}])
    write(tmp_path / "export.jsonl", [event()])
    write(tmp_path / "cancelled.csv", [{"event_id": "e1", "voided_at": "2026-11-20T11:00:00Z"}])
    assert load(tmp_path / "users_2026.csv", tmp_path / "export.jsonl").returncode == 0
    assert load("--kind", "voids", tmp_path / "cancelled.csv").returncode == 0
    assert query(clean_db, "select user_id from raw.users") == [("u1",)]
    assert query(clean_db, "select event_id from raw.events") == [("e1",)]
    assert query(clean_db, "select event_id, reason from raw.voids") == [("e1", None)]


def test_a_directory_loads_reference_entities_first_and_a_glob_works(clean_db, tmp_path):
    write(tmp_path / "events.jsonl", [event()])
    write(tmp_path / "voids.jsonl", [{"event_id": "e0", "voided_at": "2026-11-20T11:00:00Z"}])
    write(tmp_path / "organizations.csv", [{"org_id": "org_a", "timezone": "Asia/Kolkata"}])
    (tmp_path / "README.txt").write_text("not data")
    assert load(tmp_path).returncode == 0
    kinds = [k for (k,) in query(clean_db, "select kind from raw.load_batches order by batch_id")]
    assert kinds == ["organizations", "events", "voids"]
    (tmp_path / "more").mkdir()
    write(tmp_path / "more" / "events_2.ndjson", [event(event_id="e2")])
    assert load(f"{tmp_path}/more/*.ndjson").returncode == 0
    assert len(events(clean_db)) == 2


def test_parquet_timestamp_columns_zoned_and_naive(clean_db, tmp_path):
    instant = datetime(2026, 11, 20, 4, 30, tzinfo=UTC)
    micros = int(instant.timestamp() * 1_000_000)
    base = {k: [v] for k, v in event().items() if k != "event_time"}
    zoned = pa.array([micros], pa.timestamp("us", tz="Asia/Kolkata"))
    naive = pa.array([micros], pa.timestamp("us"))
    pq.write_table(pa.table({**base, "event_time": zoned}), tmp_path / "a.parquet")
    base["event_id"] = ["e2"]
    pq.write_table(pa.table({**base, "event_time": naive}), tmp_path / "b.parquet")
    assert load(tmp_path / "a.parquet", tmp_path / "b.parquet").returncode == 0
    times = {e: row[4] for e, row in events(clean_db).items()}
    assert times == {"e1": instant, "e2": instant}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_timestamps_with_and_without_offset(clean_db, tmp_path, fmt):
    records = [
        event(event_id="kolkata", event_time="2026-11-20T10:00:00+05:30"),
        event(event_id="kathmandu", event_time="2026-11-20T10:00:00+0545"),
        event(event_id="naive", event_time="2026-11-20T04:30:00"),
        event(event_id="space", event_time="2026-11-20 04:30:00.000Z"),
        event(event_id="date", event_time="2026-11-20"),
    ]
    write(tmp_path / f"events.{fmt}", records)
    assert load(tmp_path / f"events.{fmt}").returncode == 0
    times = {e: row[4].isoformat() for e, row in events(clean_db).items()}
    assert times == {
        "kolkata": "2026-11-20T04:30:00+00:00",
        "kathmandu": "2026-11-20T04:15:00+00:00",
        "naive": "2026-11-20T04:30:00+00:00",
        "space": "2026-11-20T04:30:00+00:00",
        "date": "2026-11-20T00:00:00+00:00",
    }


def test_empty_optional_ids_are_null(clean_db, tmp_path):
    write(tmp_path / "events.csv", [event(user_id="", api_key_id="", latency_ms="")])
    assert load(tmp_path / "events.csv").returncode == 0
    [row] = events(clean_db).values()
    assert row[1] is None and row[2] is None and row[8] is None


def test_json_lines_cut_anywhere_keep_each_record_under_its_line_number(tmp_path, monkeypatch):
    """Blocks of a few lines read a few bytes at a time: cuts fall inside lines and lines span
    reads, yet each record comes once, numbered by its line; a bad line and a blank one in
    between keep the numbering."""
    monkeypatch.setattr(reading, "BLOCK", 37)
    monkeypatch.setattr(parsing, "BLOCK_BYTES", 200)
    ids = [f"e{i}" + "x" * (i % 90) for i in range(400)]
    lines = [json.dumps(event(event_id=event_id)) for event_id in ids]
    lines[17], lines[250] = "{not json", ""
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    seen = {}
    for batch in parsing.jsonl(KINDS["events"], reading.ByteSource(path, gz=False)):
        reasons = batch.shape_reason or [None] * len(batch)
        numbers, values = batch.record_number.tolist(), batch.columns["event_id"].to_pylist()
        for number, value, reason in zip(numbers, values, reasons, strict=True):
            assert number not in seen
            seen[number] = reason or value
    expected = {i + 1: event_id for i, event_id in enumerate(ids) if i not in (17, 250)}
    assert seen == {**expected, 18: "not valid JSON"}


def test_json_lines_a_block_goes_the_python_way_alone(tmp_path, monkeypatch):
    """Among many blocks pyarrow takes whole, a block whose key is spelled in other case or whose
    line is bad goes the Python way alone, records still in file order; a file cut short fails
    at its last block."""
    monkeypatch.setattr(reading, "BLOCK", 500)
    monkeypatch.setattr(parsing, "BLOCK_BYTES", 1000)
    lines = [json.dumps(event(event_id=f"e{i}", latency_ms=i)) for i in range(300)]
    upper = {key.upper(): value for key, value in event(event_id="upper", latency_ms=7).items()}
    lines[40] = json.dumps(upper)
    lines[41] = json.dumps({**event(event_id="e41"), "latency_ms": None, "note": "unknown"})
    lines[150] = '{"event_id": "cut'
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    batches = list(parsing.jsonl(KINDS["events"], reading.ByteSource(path, gz=False)))
    assert len(batches) > 10
    numbers = [number for batch in batches for number in batch.record_number.tolist()]
    assert numbers == list(range(1, 301))
    latency = {}
    for batch in batches:
        ids, values = batch.columns["event_id"], batch.columns["latency_ms"]
        for event_id, value in zip(ids.to_pylist(), values.to_pylist(), strict=True):
            latency[event_id] = None if value is None else int(value)
        if batch.shape_reason:
            [bad] = [row for row, reason in enumerate(batch.shape_reason) if reason]
            assert batch.shape_reason[bad] == "not valid JSON"
            assert batch.as_given([bad]) == [lines[150]]
    assert latency["upper"] == 7 and latency["e41"] is None and latency["e299"] == 299

    path.write_text("\n".join(lines)[:-5])  # the last line cut short, with no line ending
    with pytest.raises(reading.FileRejected, match=r"truncated: the last line \(300\)"):
        list(parsing.jsonl(KINDS["events"], reading.ByteSource(path, gz=False)))


@pytest.mark.parametrize("name", ["events.json", "events.txt.gz", "events.gz", "events"])
def test_an_unknown_extension_fails_with_one_line(clean_db, tmp_path, name):
    """Not read at all (once, any file tally did not know was read as Parquet)."""
    path = tmp_path / name
    path.write_text(json.dumps(event()) + "\n")
    result = load(path)
    assert result.returncode == 1
    expected = (
        "unknown extension (expected .jsonl, .ndjson, .csv, .parquet, .db, .sqlite or .sqlite3,"
        " maybe .gz)"
    )
    assert result.stderr == f"Error: {path}: {expected}\n"
    assert events(clean_db) == {}
    assert query(clean_db, "select file_format, failure_reason from raw.load_batches") == [
        ("unknown", expected)
    ]


def test_the_registry_of_formats_is_what_discovery_and_messages_read(tmp_path):
    for fmt in FORMATS_REGISTRY.values():
        for kind in fmt.kinds or ("events",):
            for extension in fmt.extensions:
                for gz in (False, True):
                    path = tmp_path / f"{kind}{extension.upper()}{'.gz' if gz else ''}"
                    assert format_of(path, kind) == (fmt, gz)
    readable = [ext for fmt in FORMATS_REGISTRY.values() if fmt.parse and not fmt.kinds
                for ext in fmt.extensions]
    assert all(ext in readable_extensions() for ext in readable)
    assert readable_extensions("spans") == ".json, .jsonl or .ndjson"
    (tmp_path / "notes.json").write_text("{}")  # a folder's file of no format: passed over
    result = load(tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: nothing to load in {tmp_path}: no .jsonl, .ndjson, .csv, .parquet, .db, .sqlite"
        " or .sqlite3 file\n"
    )
