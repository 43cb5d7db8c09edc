"""fct_usage_daily_by_model, the serving table: equal to fct_usage_daily summed over users and
keys after every incremental run (late events, voids, a price edit, a time-zone change), and
kept by deltas, never rebuilt."""

from datetime import UTC, datetime, timedelta

import pytest
from conftest import query
from rollup_harness import Pipeline, copy_project, reset_database

NOW = datetime.now(UTC).replace(microsecond=0)
MEASURES = (
    "request_count, success_count, error_count, input_tokens, output_tokens, total_tokens,"
    " priced_cost_usd, unpriced_request_count, cost_usd"
)
DAILY_SUMS = """
    select usage_date, org_id, model_id,
        sum(request_count), sum(success_count), sum(error_count), sum(input_tokens),
        sum(output_tokens), sum(total_tokens), sum(priced_cost_usd), sum(unpriced_request_count),
        case when sum(unpriced_request_count) = 0 then sum(priced_cost_usd) end
    from analytics.fct_usage_daily
    group by 1, 2, 3
    order by 1, 2, 3
"""
BY_MODEL = (
    f"select usage_date, org_id, model_id, {MEASURES} from analytics.fct_usage_daily_by_model"
)


@pytest.fixture
def pipeline(db_url, tmp_path, monkeypatch):
    project = copy_project(tmp_path / "project")
    monkeypatch.setenv("TALLY_PROJECT_DIR", str(project))
    reset_database(db_url)
    (tmp_path / "files").mkdir()
    return Pipeline(project, db_url, tmp_path / "files")


def _event(event_id, at, org="org_in", user="u1", key="k1", model="gpt-4o", status="success"):
    return {
        "event_id": event_id,
        "org_id": org,
        "user_id": user,
        "api_key_id": key,
        "model_id": model,
        "event_time": at.isoformat(),
        "input_tokens": 1200,
        "output_tokens": 300,
        "status": status,
    }


def _assert_equal_to_daily_sums(pipeline):
    by_model = query(pipeline.url, BY_MODEL + " order by 1, 2, 3")
    assert by_model == query(pipeline.url, DAILY_SUMS)
    assert by_model, "nothing to compare"
    pipeline.assert_matches_reference()


def _table_oid(url):
    return query(url, "select 'analytics.fct_usage_daily_by_model'::regclass::oid")[0][0]


@pytest.mark.slow
def test_by_model_equals_the_daily_sums_after_every_kind_of_change(pipeline):
    evening = datetime(2024, 8, 10, 20, tzinfo=UTC)  # 01:30 the next day in Kolkata
    pipeline.load(
        "events",
        [
            _event("a1", evening),
            _event("a2", evening, user="u2", key=None),
            _event("a3", evening, user=None, key=None, status="error"),
            _event("a4", evening - timedelta(hours=5), model="claude-3-5-sonnet"),
            _event("a5", evening, model="no-price-yet"),
            _event("b1", NOW - timedelta(hours=1), org="org_b", user="u9"),
        ],
    )
    pipeline.rollup()
    _assert_equal_to_daily_sums(pipeline)
    oid = _table_oid(pipeline.url)

    # late events (one 300 days old), into existing rows and new ones
    pipeline.load(
        "events",
        [
            _event("late1", evening, user="u3"),
            _event("late2", NOW - timedelta(days=300), org="org_b"),
        ],
    )
    pipeline.rollup()
    _assert_equal_to_daily_sums(pipeline)

    # voids: one of several events of a row, and the only event of another
    pipeline.load(
        "voids",
        [
            {"event_id": "a2", "voided_at": NOW.isoformat()},
            {"event_id": "a4", "voided_at": NOW.isoformat()},
        ],
    )
    pipeline.rollup()
    _assert_equal_to_daily_sums(pipeline)
    assert not query(pipeline.url, BY_MODEL + " where model_id = 'claude-3-5-sonnet'")

    # a price edit re-prices gpt-4o from June 2024, and a first price for an unpriced model
    with pipeline.prices_csv.open("a") as prices:
        prices.write("gpt-4o,openai,2024-06-01 00:00:00,1.25,7.50,standard,0,,,\n")
        prices.write("no-price-yet,acme,2024-01-01 00:00:00,1.00,2.00,standard,0,,,\n")
    pipeline.rollup()
    _assert_equal_to_daily_sums(pipeline)
    assert not query(pipeline.url, BY_MODEL + " where cost_usd is null")

    # the organization's time zone arrives: its evening moves to the next local date
    pipeline.load(
        "organizations", [{"org_id": "org_in", "name": "India", "timezone": "Asia/Kolkata"}]
    )
    pipeline.rollup()
    _assert_equal_to_daily_sums(pipeline)
    dates = {row[0] for row in query(pipeline.url, BY_MODEL + " where org_id = 'org_in'")}
    assert dates == {evening.date() + timedelta(days=1)}

    assert _table_oid(pipeline.url) == oid, "the serving table was rebuilt, not merged into"
    pipeline.rollup("--full-refresh")
    assert query(pipeline.url, BY_MODEL + " order by 1, 2, 3") == query(pipeline.url, DAILY_SUMS)


def test_by_model_has_the_indexes_the_questions_use(pipeline):
    pipeline.load("events", [_event("e", NOW - timedelta(hours=2))])
    pipeline.rollup()
    pipeline.rollup("--full-refresh")
    indexes = query(
        pipeline.url,
        "select indexrelid::regclass::text, pg_get_indexdef(indexrelid) like '%UNIQUE%'"
        " from pg_index where indrelid = 'analytics.fct_usage_daily_by_model'::regclass"
        " order by 1",
    )
    assert indexes == [
        ("analytics.fct_usage_daily_by_model__grain", True),
        ("analytics.fct_usage_daily_by_model__org_date", False),
    ]
