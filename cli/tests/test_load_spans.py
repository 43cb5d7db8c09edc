"""OpenTelemetry spans (OTLP/JSON) load as usage events, mapped as the contract says; spans
without token usage are counted and skipped; the events' rules apply as to any event."""

import gzip
import json

import pytest
from conftest import query, run_tally

TRACE = "5b8efff798038103d269b633813fc60c"
START = 1767607200123456789  # 2026-01-05T10:00:00.123456789Z


def attribute(key: str, value) -> dict:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):  # as the protobuf JSON mapping writes int64: a string
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def span(span_id: str, attributes: dict, *, start=START, duration_ns=1_500_000_000,
         status=None, trace=TRACE) -> dict:
    return {
        "traceId": trace,
        "spanId": span_id,
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + duration_ns),
        "attributes": [attribute(k, v) for k, v in attributes.items()],
        "status": status or {},
    }


def export(spans: list[dict], resource: dict | None = None) -> dict:
    return {"resourceSpans": [{
        "resource": {"attributes": [attribute(k, v) for k, v in (resource or {}).items()]},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
    }]}


USAGE = {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 100,
         "gen_ai.usage.output_tokens": 40}


def raw_events(url: str) -> dict[str, tuple]:
    rows = query(url, "select event_id, org_id, user_id, api_key_id, model_id, event_time,"
                      " input_tokens, output_tokens, status, latency_ms, cache_read_input_tokens,"
                      " cache_write_input_tokens, reasoning_tokens, service_tier from raw.events")
    return {row[0]: row[1:] for row in rows}


def test_spans_map_to_events_as_the_contract_says(clean_db, tmp_path):
    spans = [
        span("00000000000000a1", {
            **USAGE, "tally.org_id": "org_t", "tenant.id": "org_ignored", "user.id": "u_1",
            "enduser.id": "u_ignored", "tally.api_key_id": "key_1",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.cache_read.input_tokens": 30,
            "gen_ai.usage.cache_creation.input_tokens": 10,
            "gen_ai.usage.reasoning.output_tokens": 25,
            "openai.response.service_tier": "flex",
        }),
        # resource attributes fill in what the span lacks; the span's win where both have one
        span("00000000000000a2", {
            "gen_ai.response.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 5,
            "gen_ai.usage.output_tokens": 0, "enduser.id": "u_2",
            "tally.service_tier": "batch", "openai.response.service_tier": "priority",
        }, status={"code": 2, "message": "rate limited"}, duration_ns=999_999),
        span("00000000000000a3", {"http.route": "/chat"}),  # no usage: skipped
        span("00000000000000a4", {"db.system": "postgresql"}),  # no usage: skipped
    ]
    document = export(spans, {"tenant.id": "org_r", "service.name": "chat"})
    # one object over several lines, as a collector's file exporter may pretty-print it
    path = tmp_path / "spans_2026.json"
    path.write_text(json.dumps(document, indent=2))
    result = run_tally("load", str(path), "--json")
    totals = json.loads(result.stdout)["totals"]
    assert (totals["read"], totals["loaded"], totals["skipped"]) == (2, 2, 2)

    events = raw_events(clean_db)
    first = events[f"{TRACE}-00000000000000a1"]
    assert first[:4] == ("org_t", "u_1", "key_1", "gpt-4o")
    assert first[4].isoformat() == "2026-01-05T10:00:00.123456+00:00"
    assert first[5:] == (100, 40, "success", 1500, 30, 10, 25, "flex")
    second = events[f"{TRACE}-00000000000000a2"]
    assert second[:4] == ("org_r", "u_2", None, "gpt-4o-mini")
    assert second[5:] == (5, 0, "error", 0, None, None, None, "batch")
    assert query(clean_db, "select kind, file_format, records_read, records_skipped"
                           " from raw.load_batches") == [("events", "otlp_json", 2, 2)]


@pytest.mark.parametrize("name", ["spans.jsonl", "spans-part.ndjson.gz", "export.json"])
def test_one_export_per_line_numbers_as_json_numbers_and_gzip(clean_db, tmp_path, name):
    lines = []
    for i in range(3):
        document = export([span(f"{i:016x}", {**USAGE, "tenant.id": "org_l"})])
        int_value = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"][1]
        int_value["value"]["intValue"] = 100  # a number, as the mapping also allows
        document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["startTimeUnixNano"] = START
        lines.append(json.dumps(document))
    data = ("\n".join(lines) + "\n").encode()
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    args = ["load", str(path)] if name.startswith("spans") else ["load", "--kind", "spans",
                                                                 str(path)]
    assert "3 loaded" in run_tally(*args).stdout
    assert {e[5] for e in raw_events(clean_db).values()} == {100}
    assert "already loaded" in run_tally(*args).stdout


def test_the_events_rules_apply_and_a_broken_line_is_one_quarantined_record(clean_db, tmp_path):
    good = span("00000000000000b1", {**USAGE, "tenant.id": "org_q"})
    no_output = span("00000000000000b2", {"gen_ai.request.model": "m",
                                          "gen_ai.usage.input_tokens": 3, "tenant.id": "org_q"})
    too_cached = span("00000000000000b3", {**USAGE, "tenant.id": "org_q",
                                           "gen_ai.usage.cache_read.input_tokens": 101})
    no_org = span("00000000000000b4", USAGE)
    lines = [json.dumps(export([good, no_output])), "{not json", json.dumps({"spans": []}),
             json.dumps(export([too_cached, no_org]))]
    path = tmp_path / "spans_rules.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = run_tally("load", str(path), "--json", check=False)
    assert result.returncode == 3
    totals = json.loads(result.stdout)["totals"]
    assert (totals["read"], totals["loaded"], totals["quarantined"]) == (6, 1, 5)
    reasons = dict(query(clean_db, "select record_number, reason from raw.quarantine"))
    assert set(reasons) == {2, 3, 4, 5, 6}
    assert "output_tokens" in reasons[2] and "org_id" in reasons[6]
    assert reasons[3].startswith("not an OTLP/JSON trace export: not JSON")
    assert reasons[4] == "not an OTLP/JSON trace export: no resourceSpans"
    [(record,)] = query(clean_db, "select record from raw.quarantine where record_number = 5")
    assert json.loads(record)["spanId"] == "00000000000000b3"  # the span as given

    # the same span in another file is a duplicate: first loaded wins
    again = tmp_path / "spans_again.json"
    again.write_text(json.dumps(export([good])))
    assert json.loads(run_tally("load", str(again), "--json").stdout)["totals"]["duplicate"] == 1


def test_a_spans_file_of_another_format_fails_in_one_line(clean_db, tmp_path):
    path = tmp_path / "spans.csv"
    path.write_text("a,b\n1,2\n")
    result = run_tally("load", str(path), check=False)
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: {path}: unknown extension (expected .json, .jsonl or .ndjson, maybe .gz)\n"
    )
    not_otlp = tmp_path / "spans.json"
    not_otlp.write_text("[1, 2]")
    result = run_tally("load", str(not_otlp), check=False)
    assert result.stderr.endswith('not OTLP/JSON: expected {"resourceSpans": [...]} objects\n')


def test_a_folder_loads_its_spans_files_and_passes_over_other_json(clean_db, tmp_path):
    (tmp_path / "spans.json").write_text(json.dumps(export([span("00000000000000c1", {
        **USAGE, "tenant.id": "org_f"}), span("00000000000000c2", {})])))
    (tmp_path / "notes.json").write_text("{}")
    assert "1 loaded" in run_tally("load", str(tmp_path)).stdout
    metrics = run_tally("metrics").stdout
    assert "tally_events_loaded_total 1\n" in metrics
    assert 'tally_records_skipped_total{kind="events"} 1\n' in metrics
