"""One thin real path: a file of events goes in, an hourly rollup comes out, reconciled."""

from conftest import PROJECT_DIR, invoke_tally, query, run_tally

SAMPLE = PROJECT_DIR / "samples" / "events.jsonl"


def test_load_rollup_reconcile(clean_db):
    assert "300 loaded" in invoke_tally("load", str(SAMPLE)).stdout
    assert "already loaded" in invoke_tally("load", str(SAMPLE)).stdout
    invoke_tally("rollup")
    [(requests, tokens)] = query(
        clean_db, "select sum(request_count), sum(total_tokens) from analytics.fct_usage_hourly"
    )
    [(raw_requests, raw_tokens)] = query(
        clean_db, "select count(*), sum(input_tokens + output_tokens) from raw.events"
    )
    assert (requests, tokens) == (raw_requests, raw_tokens) == (300, raw_tokens)
    invoke_tally("verify")


def test_the_same_path_as_a_user_runs_it(clean_db):
    """Smoke test of the installed entry point, as a subprocess: exit codes and output as a
    shell sees them."""
    assert "300 loaded" in run_tally("load", str(SAMPLE)).stdout
    run_tally("rollup")
    assert "OK:" in run_tally("verify").stdout
