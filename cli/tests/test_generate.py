"""`tally generate` is deterministic for a seed, realistic, and loads as it says."""

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime

import pyarrow.parquet as pq
from conftest import PROJECT_DIR, invoke_tally, query
from tally.generate import DEFAULT_END, generate


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_the_same_seed_writes_the_same_files(tmp_path):
    generate(5000, tmp_path / "a", seed=4)
    generate(5000, tmp_path / "b", seed=4)
    generate(5000, tmp_path / "c", seed=5)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a")["events.jsonl"] != _digest(tmp_path / "c")["events.jsonl"]


def test_the_data_looks_like_real_usage(tmp_path):
    generate(60_000, tmp_path, seed=9, fmt="parquet")
    events = pq.read_table(tmp_path / "events.parquet").to_pylist()
    orgs = pq.read_table(tmp_path / "organizations.parquet").to_pylist()
    zones = {org["timezone"] for org in orgs}
    assert {"Asia/Kolkata", "Asia/Kathmandu", "America/New_York"} <= zones
    per_org = Counter(e["org_id"] for e in events)
    sizes = sorted(per_org.values(), reverse=True)
    assert sizes[0] > 10 * sizes[len(sizes) // 2]  # heavy-tailed organization sizes
    biggest = sizes and max(per_org, key=per_org.get)
    keys = Counter(e["api_key_id"] for e in events if e["org_id"] == biggest)
    assert keys.most_common(1)[0][1] > 0.3 * per_org[biggest]  # a hot production key
    errors = sum(e["status"] == "error" for e in events) / len(events)
    assert 0.01 <= errors <= 0.03
    known = {org["org_id"] for org in orgs}
    assert any(org not in known for org in per_org)  # events of an organization not yet known
    times = [e["event_time"] for e in events if e["event_time"] is not None]
    oldest = min(t for t in times if t.year < 2999)
    assert (DEFAULT_END - oldest).days > 200  # late events, up to 240 days old
    hours = Counter(t.astimezone(UTC).hour for t in times)
    assert max(hours.values()) > 2 * min(hours.values())  # a daily cycle
    ids = Counter(e["event_id"] for e in events)
    assert sum(n > 1 for n in ids.values()) > 0  # duplicates
    prices = (PROJECT_DIR / "seeds" / "model_prices.csv").read_text().splitlines()
    priced = {line.split(",")[0] for line in prices[1:]}
    used = {e["model_id"] for e in events if e["model_id"]}
    assert used <= priced and len(used) >= 3
    assert pq.read_table(tmp_path / "voids.parquet").num_rows > 0
    assert datetime.now(UTC) > DEFAULT_END


def test_the_billing_mix_looks_real(tmp_path):
    """The busiest key's requests mostly read the prompt cache; a reasoning model's output is
    mostly reasoning; a few per cent of requests are batch; breakdowns stay within totals."""
    generate(60_000, tmp_path, seed=9, fmt="parquet")
    events = [
        e for e in pq.read_table(tmp_path / "events.parquet").to_pylist()
        if e["input_tokens"] is not None and e["output_tokens"] is not None and e["model_id"]
        and e["service_tier"] != "economy"
        and (e["cache_read_input_tokens"] or 0) <= e["input_tokens"]
    ]
    keys = Counter(e["api_key_id"] for e in events if e["api_key_id"])
    busy = [e for e in events if e["api_key_id"] == keys.most_common(1)[0][0]
            and e["cache_read_input_tokens"] is not None]
    assert sum(e["cache_read_input_tokens"] > 0 for e in busy) > 0.6 * len(busy)
    reasoning = [e for e in events if e["reasoning_tokens"] is not None]
    spent = sum(e["reasoning_tokens"] for e in reasoning)
    share = spent / sum(e["output_tokens"] for e in reasoning)
    assert 0.6 <= share <= 0.9
    assert all(e["model_id"].startswith(("o1", "o3", "gpt-5", "deepseek-r", "gemini-2.5"))
               for e in reasoning)
    tiers = Counter(e["service_tier"] or "standard" for e in events)
    assert 0.01 <= tiers["batch"] / len(events) <= 0.05
    assert any(e["cache_write_input_tokens"] for e in events)
    for e in events:
        reads, writes = e["cache_read_input_tokens"] or 0, e["cache_write_input_tokens"] or 0
        assert reads + writes <= e["input_tokens"]
        assert (e["reasoning_tokens"] or 0) <= e["output_tokens"]


def test_generate_then_load_the_folder(clean_db, tmp_path):
    out = tmp_path / "data"
    made = invoke_tally(
        "generate",
        "--events",
        "4000",
        "--out",
        str(out),
        "--seed",
        "2",
        "--format",
        "csv",
        "--gzip",
        "--json",
    )
    files = json.loads(made.stdout)
    assert sorted(p.rsplit("/", 1)[1] for p in files) == [
        "api_keys.csv.gz",
        "events.csv.gz",
        "organizations.csv.gz",
        "users.csv.gz",
        "voids.csv.gz",
    ]
    loaded = invoke_tally("load", "--json", str(out), check=False)
    assert loaded.exit_code == 3  # bad records are quarantined; the rest loaded
    totals = json.loads(loaded.stdout)["totals"]
    assert totals["files_loaded"] == 5 and totals["quarantined"] > 0
    assert totals["duplicate"] > 0 and totals["conflicting"] > 0
    [(events,)] = query(clean_db, "select count(*) from raw.events")
    generated = files[str(out / "events.csv.gz")]
    [(duplicates, quarantined)] = query(
        clean_db,
        "select sum(records_duplicate), sum(records_quarantined) from raw.load_batches"
        " where kind = 'events'",
    )
    assert events + duplicates + quarantined == generated
