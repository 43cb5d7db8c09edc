"""Property: whatever the events, their arrival order, duplicates, voids, late organizations and
price edits, every incremental rollup equals a full refresh and an independent Python reference.

The models drawn cover the price list's shapes: claude-sonnet-4 (cache read and write prices, a
batch tier, a long-context tier from 200,001 input tokens since 2025-08-12), gemini-1.5-pro (a
cache read price but no write price, a tier from 128,001 tokens, no batch tier), gpt-4 (no cache
prices: they are the input price) and a model without any price. Events carry cache reads and
writes, reasoning tokens and a service tier, or leave them out; token counts sit on the
thresholds' boundaries."""

import csv
import os
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rollup_harness import Pipeline, copy_project, reset_database

ORGS = ("org_a", "org_b", "org_c")
TIMEZONES = (
    None,
    "UTC",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
)
OFFSETS = ("Z", "+05:30", "-08:00", "+05:45", "")
ANCHORS = (
    datetime(2024, 5, 13, tzinfo=UTC),  # a price change of several models
    datetime(2026, 3, 8, 7, tzinfo=UTC),  # America/New_York springs forward
    datetime(2026, 11, 1, 6, tzinfo=UTC),  # ... and falls back
    datetime(2026, 11, 19, 18, 30, tzinfo=UTC),  # local midnight in Asia/Kolkata
    datetime(2025, 12, 31, 23, 59, tzinfo=UTC),
    datetime(2023, 6, 13, tzinfo=UTC),
    datetime(2025, 8, 12, tzinfo=UTC),  # claude-sonnet-4's long-context tier starts
    datetime(2024, 10, 8, tzinfo=UTC),  # Anthropic's batch tier starts
)
MODELS = ("claude-sonnet-4", "gemini-1.5-pro", "gpt-4", "unpriced-model")
TIERS = (None, "", "standard", "batch", "priority")
# input token counts at and around the long-context thresholds, besides small and huge ones
BOUNDARIES = (128_000, 128_001, 200_000, 200_001)


def _price_rows(pipeline):
    with pipeline.prices_csv.open() as handle:
        return list(csv.DictReader(handle))


def _models(rows):
    priced = {row["model_id"] for row in rows}
    assert set(MODELS[:-1]) <= priced
    return list(MODELS)


instants = st.builds(
    lambda anchor, seconds: anchor + timedelta(seconds=seconds),
    st.sampled_from(ANCHORS),
    st.one_of(st.sampled_from([-1, 0, 1]), st.integers(-3 * 86400, 3 * 86400)),
)


def _timestamp(moment: datetime, offset: str) -> str:
    if offset == "":
        return moment.replace(tzinfo=None).isoformat()
    hours, minutes = (0, 0) if offset == "Z" else (int(offset[1:3]), int(offset[4:6]))
    sign = -1 if offset.startswith("-") else 1
    local = moment.astimezone(UTC) + sign * timedelta(hours=hours, minutes=minutes)
    return local.replace(tzinfo=None).isoformat() + ("Z" if offset == "Z" else offset)


def _event(n, org, user, key, model, at, offset, tokens_in, tokens_out, ok, parts, tier):
    event = {
        "event_id": f"evt-{n}",
        "org_id": org,
        "user_id": user,
        "api_key_id": key,
        "model_id": model,
        "event_time": _timestamp(at, offset),
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "status": "success" if ok else "error",
    }
    if parts is not None:  # halves, none or all of a total; reads and writes share the input
        read, write, reasoning = parts
        event["cache_read_input_tokens"] = tokens_in * read // 2
        event["cache_write_input_tokens"] = (tokens_in - tokens_in * read // 2) * write // 2
        event["reasoning_tokens"] = tokens_out * reasoning // 2
    if tier is not None:
        event["service_tier"] = tier
    return event


def events(models):
    return st.builds(
        _event,
        st.integers(0, 30),
        st.sampled_from(ORGS),
        st.sampled_from([None, "u1", "u2"]),
        st.sampled_from([None, "k1"]),
        st.sampled_from(models),
        instants,
        st.sampled_from(OFFSETS),
        st.one_of(st.integers(0, 5000), st.sampled_from(BOUNDARIES), st.just(2**62)),
        st.integers(0, 5000),
        st.booleans(),
        st.one_of(st.none(), st.tuples(*[st.integers(0, 2)] * 3)),
        st.sampled_from(TIERS),
    )


def batches(models):
    return st.lists(
        st.fixed_dictionaries(
            {
                "organizations": st.lists(
                    st.builds(
                        lambda org, tz: {
                            "org_id": org,
                            "name": org.upper(),
                            "timezone": tz,
                            "plan": "pro",
                        },
                        st.sampled_from(ORGS),
                        st.sampled_from(TIMEZONES),
                    ),
                    max_size=2,
                ),
                "events": st.lists(events(models), max_size=8),
                "voids": st.lists(
                    st.builds(
                        lambda n: {
                            "event_id": f"evt-{n}",
                            "voided_at": "2026-11-21T00:00:00Z",
                            "reason": "refund",
                        },
                        st.integers(0, 30),
                    ),
                    max_size=3,
                ),
                "price_edit": st.one_of(
                    st.none(),
                    st.tuples(
                        st.integers(0, 10**6),
                        st.sampled_from(["reprice", "new_row", "cache_price"]),
                        instants,
                    ),
                ),
            }
        ),
        min_size=1,
        max_size=3,
    )


def _edit_prices(pipeline, edit, models):
    index, kind, at = edit
    rows = _price_rows(pipeline)
    priced = [row for row in rows if row["model_id"] in models]
    row = priced[index % len(priced)]
    if kind == "reprice":
        row["input_usd_per_1m"] = f"{index % 97 / 8:.3f}"
    elif kind == "cache_price":  # set, change or clear (= the input price) a cache price
        column = ("cache_read_usd_per_1m", "cache_write_usd_per_1m")[index % 2]
        row[column] = "" if index % 3 == 0 else f"{index % 13 / 16}"
    else:
        stamp = at.replace(tzinfo=None).isoformat(sep=" ")
        key = ("model_id", "service_tier", "min_input_tokens")
        if not any(
            all(r[k] == row[k] for k in key) and r["effective_from"] == stamp for r in rows
        ):
            rows.append({**row, "effective_from": stamp, "output_usd_per_1m": f"{index % 89 / 4}"})
    with pipeline.prices_csv.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("project"))


@settings(
    max_examples=int(os.environ.get("TALLY_PROPERTY_EXAMPLES", "8")),
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    # each step costs seconds of dbt: report the example found rather than shrink it
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_incremental_equals_full_refresh_and_reference(
    data, db_url, project, tmp_path, monkeypatch
):
    monkeypatch.setenv("TALLY_PROJECT_DIR", str(project))
    copy_project(project)  # every example starts from the repository's prices
    reset_database(db_url)
    workdir = tmp_path / f"files-{os.urandom(4).hex()}"
    workdir.mkdir()
    pipeline = Pipeline(project, db_url, workdir)
    models = _models(_price_rows(pipeline))

    for batch in data.draw(batches(models)):
        pipeline.load("organizations", batch["organizations"])
        pipeline.load("events", batch["events"])
        pipeline.load("voids", batch["voids"])
        if batch["price_edit"]:
            _edit_prices(pipeline, batch["price_edit"], models)
        pipeline.rollup()
        pipeline.assert_matches_reference()

    incremental = pipeline.snapshot()
    pipeline.rollup("--full-refresh")
    assert pipeline.snapshot() == incremental
