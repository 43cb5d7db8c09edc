"""Billing-grade prices, each against a figure worked out by hand: cache reads and writes,
reasoning tokens, service tiers, long-context thresholds, a tier without a price, an edit of a
cache price re-pricing history, and a price list without the optional columns."""

import os
from decimal import Decimal

import psycopg
import pytest
from conftest import query
from rollup_harness import Pipeline, copy_project, reset_database
from tally.verify.reconciliation import unpriced
from tally.verify.tables import PostgresTables

# Model m: cache reads at a tenth of input, writes at 1.25x; batch at half with no cache prices
# of its own (= its input price); from 200,001 input tokens a long-context row at twice input.
# Model r: a reasoning price of its own. Model n: a standard price only.
PRICES = """\
model_id,provider,effective_from,input_usd_per_1m,output_usd_per_1m,service_tier,min_input_tokens,cache_read_usd_per_1m,cache_write_usd_per_1m,reasoning_usd_per_1m
m,p,2025-01-01 00:00:00,3.00,15.00,standard,0,0.30,3.75,
m,p,2025-01-01 00:00:00,6.00,22.50,standard,200001,0.60,7.50,
m,p,2025-01-01 00:00:00,1.50,7.50,batch,0,,,
r,p,2025-01-01 00:00:00,1.25,10.00,,,,,12.00
n,p,2025-01-01 00:00:00,0.50,1.50,,,,,
"""
AT = "2025-06-01T10:00:00Z"


def _event(name, model, tokens_in, tokens_out, **fields):
    return {
        "event_id": name,
        "org_id": "org_a",
        "user_id": name,  # one rollup row per event
        "model_id": model,
        "event_time": AT,
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "status": "success",
        **fields,
    }


EVENTS = [
    # (2,000 * 3 + 8,000 * 0.30 + 500 * 15) / 1e6
    (_event("cached", "m", 10_000, 500, cache_read_input_tokens=8_000), "0.0159"),
    # (4,000 * 3 + 6,000 * 3.75) / 1e6
    (_event("cache_write", "m", 10_000, 0, cache_write_input_tokens=6_000), "0.0345"),
    # (1,000 * 1.25 + 500 * 10 + 1,500 * 12) / 1e6
    (_event("reasoning", "r", 1_000, 2_000, reasoning_tokens=1_500), "0.02425"),
    # batch: (600 * 1.50 + 400 * 1.50 + 100 * 7.50) / 1e6, its cache read at its input price
    (_event("batch", "m", 1_000, 100, cache_read_input_tokens=400, service_tier="batch"),
     "0.00225"),
    # exactly at the threshold's edge: the standard row, (200,000 * 3 + 1,000 * 15) / 1e6
    (_event("at_200000", "m", 200_000, 1_000), "0.615"),
    # one token above: the long-context row prices it all, (200,001 * 6 + 1,000 * 22.50) / 1e6
    (_event("above_200000", "m", 200_001, 1_000), "1.222506"),
    # no new fields: input * input price + output * output price, as before they existed
    (_event("plain", "m", 1_000, 500), "0.0105"),
    # a tier with no price row: never priced at standard
    (_event("no_tier_price", "n", 100, 100, service_tier="batch"), None),
]


@pytest.fixture(scope="module")
def billed(tmp_path_factory, db_url):
    project = copy_project(tmp_path_factory.mktemp("project"))
    (project / "seeds" / "model_prices.csv").write_text(PRICES)
    previous = os.environ.get("TALLY_PROJECT_DIR")
    os.environ["TALLY_PROJECT_DIR"] = str(project)
    try:
        reset_database(db_url)
        pipeline = Pipeline(project, db_url, tmp_path_factory.mktemp("files"))
        pipeline.load("events", [event for event, _ in EVENTS])
        pipeline.rollup("--full-refresh")
        yield pipeline
    finally:
        if previous is None:
            os.environ.pop("TALLY_PROJECT_DIR")
        else:
            os.environ["TALLY_PROJECT_DIR"] = previous


def _costs(url, table="fct_usage_hourly"):
    return dict(query(url, f"select user_id, cost_usd from analytics.{table}"))


@pytest.mark.parametrize(("event", "figure"), EVENTS, ids=[e["event_id"] for e, _ in EVENTS])
def test_each_request_costs_the_hand_computed_figure(billed, event, figure):
    expected = None if figure is None else Decimal(figure)
    for table in ("fct_usage_hourly", "fct_usage_daily_v1", "fct_usage_daily_v2"):
        assert _costs(billed.url, table)[event["event_id"]] == expected, table


def test_the_breakdowns_are_summed_and_reconciled(billed):
    [row] = query(
        billed.url,
        "select sum(cache_read_input_tokens), sum(cache_write_input_tokens),"
        " sum(reasoning_tokens) from analytics.fct_usage_daily",
    )
    assert row == (8_400, 6_000, 1_500)
    billed.assert_matches_reference()


def test_an_unpriced_tier_is_reported_by_verify(billed):
    with psycopg.connect(billed.url) as conn:
        result = unpriced(PostgresTables(conn))
    assert result.status == "warn"
    assert result.data["by_model"] == {"n": {"events": 1, "hourly_rows": 1}}


def test_an_edit_of_a_cache_price_reprices_history(billed):
    """An incremental rollup after the cache read price of m goes from 0.30 to 0.50: the cached
    request now costs (2,000 * 3 + 8,000 * 0.50 + 500 * 15) / 1e6; the rest are unchanged."""
    before = _costs(billed.url)
    prices = billed.prices_csv
    prices.write_text(prices.read_text().replace("standard,0,0.30,", "standard,0,0.50,"))
    billed.rollup()
    after = _costs(billed.url)
    assert after.pop("cached") == Decimal("0.0175")
    before.pop("cached")
    assert after == before
    billed.assert_matches_reference()
    incremental = billed.snapshot()
    billed.rollup("--full-refresh")
    assert billed.snapshot() == incremental


def test_a_price_list_without_the_optional_columns_keeps_working(tmp_path, db_url, monkeypatch):
    """The five-column price list of before: every row standard, from 0 tokens, cache prices =
    input and reasoning = output, so (1,000 * 2.50 + 500 * 10) / 1e6 whatever the breakdowns."""
    project = copy_project(tmp_path / "project")
    (project / "seeds" / "model_prices.csv").write_text(
        "model_id,provider,effective_from,input_usd_per_1m,output_usd_per_1m\n"
        "gpt-4o,openai,2024-10-02 00:00:00,2.50,10.00\n"
    )
    monkeypatch.setenv("TALLY_PROJECT_DIR", str(project))
    reset_database(db_url)
    (tmp_path / "files").mkdir()
    pipeline = Pipeline(project, db_url, tmp_path / "files")
    pipeline.load(
        "events",
        [
            _event("old", "gpt-4o", 1_000, 500),
            _event("new", "gpt-4o", 1_000, 500, cache_read_input_tokens=900, reasoning_tokens=400),
        ],
    )
    pipeline.rollup()
    assert _costs(db_url) == {"old": Decimal("0.0075"), "new": Decimal("0.0075")}
    pipeline.assert_matches_reference()
