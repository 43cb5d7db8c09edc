"""The questions analysts ask, timed on four shapes of the same data.

1. Generate N events (default 3 million) over 30 days, load them and roll them up, in a state
   folder of its own ($TALLY_HOME/bench-queries; reused by a later run with the same N).
2. Four questions, each asked of four sources:
   - raw: tally's raw layer (the staging view over raw.events, priced by a join to the price
     bands, voids left out), as a user without rollups would ask it;
   - tokenledger: the shape of TokenLedger (an event log with each event's cost stored at write
     time, B-tree indexes on (org_id, event_at desc) and (event_at desc), questions asked of a
     view that groups it by UTC date, organization and model);
   - billing: the billing grain, fct_usage_hourly / fct_usage_daily (hour or date, organization,
     user, key, model);
   - serving: fct_usage_daily_by_model (date, organization, model); a question of the last 24
     hours needs hours, so it is asked of fct_usage_hourly there too.
3. Each (question, source) runs after two warm-up runs, `--runs` times on the rollups and
   `--baseline-runs` times on raw events and the TokenLedger view (seconds a run at 3 M
   events); prints p50 and p95 in milliseconds (measured in the client, round trip included)
   and the speedup of p95 over raw.

Usage: python benchmarks/bench_queries.py [--events N] [--runs R]   (make bench-queries)
Targets: every question at most 20 ms p95 on the serving table; the questions across all
organizations at least 10x faster there than on raw events.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))
from results import append  # noqa: E402
from tally_command import tally  # noqa: E402

P95_TARGET_MS = 20.0
SPEEDUP_TARGET = 10.0

# The raw layer as a user without rollups would price it: each event of raw.events joined to
# its price band (the bands copied once into a table, as such a user would keep a price list),
# voided events left out.
RAW_PRICED = """
    select
        events.org_id,
        events.model_id,
        events.event_time as event_at,
        events.status = 'success' as is_success,
        events.input_tokens + events.output_tokens as total_tokens,
        (
            (events.input_tokens - coalesce(events.cache_read_input_tokens, 0)
                - coalesce(events.cache_write_input_tokens, 0)) * prices.input_usd_per_1m
            + coalesce(events.cache_read_input_tokens, 0) * prices.cache_read_usd_per_1m
            + coalesce(events.cache_write_input_tokens, 0) * prices.cache_write_usd_per_1m
            + (events.output_tokens - coalesce(events.reasoning_tokens, 0))
                * prices.output_usd_per_1m
            + coalesce(events.reasoning_tokens, 0) * prices.reasoning_usd_per_1m
        ) * 0.000001 as cost_usd
    from raw.events as events
    left join bench.price_bands as prices
        on events.model_id = prices.model_id
        and coalesce(events.service_tier, 'standard') = prices.service_tier
        and events.event_time >= prices.effective_from
        and (prices.effective_to is null or events.event_time < prices.effective_to)
        and events.input_tokens >= prices.min_input_tokens
        and (prices.next_min_input_tokens is null
             or events.input_tokens < prices.next_min_input_tokens)
    where not exists (select 1 from raw.voids where voids.event_id = events.event_id)
"""

TOKENLEDGER_SETUP = f"""
    create schema if not exists bench;
    drop table if exists bench.price_bands;
    create table bench.price_bands as select * from intermediate.int_model_prices_banded;
    analyze bench.price_bands;
    drop table if exists bench.token_ledger_events cascade;
    create table bench.token_ledger_events as {RAW_PRICED};
    create index on bench.token_ledger_events (org_id, event_at desc);
    create index on bench.token_ledger_events (event_at desc);
    create view bench.token_ledger_daily as
    select
        (event_at at time zone 'UTC')::date as usage_date,
        org_id,
        model_id,
        count(*) as request_count,
        count(*) filter (where not is_success) as error_count,
        sum(total_tokens) as total_tokens,
        sum(cost_usd) as cost_usd
    from bench.token_ledger_events
    group by 1, 2, 3;
    vacuum analyze bench.token_ledger_events;
"""

# {now}: the latest event time; {org}: the organization with the most events.
QUESTIONS = {
    "org_month_by_day": {
        "raw": """
            select (event_at at time zone 'UTC')::date, count(*), sum(total_tokens), sum(cost_usd)
            from ({raw}) as events
            where org_id = %(org)s and event_at >= %(now)s::timestamptz - interval '30 days'
            group by 1 order by 1""",
        "tokenledger": """
            select usage_date, sum(request_count), sum(total_tokens), sum(cost_usd)
            from bench.token_ledger_daily
            where org_id = %(org)s and usage_date > %(today)s::date - 30
            group by 1 order by 1""",
        "billing": """
            select usage_date, sum(request_count), sum(total_tokens), sum(cost_usd)
            from analytics.fct_usage_daily
            where org_id = %(org)s and usage_date > %(today)s::date - 30
            group by 1 order by 1""",
        "serving": """
            select usage_date, sum(request_count), sum(total_tokens), sum(cost_usd)
            from analytics.fct_usage_daily_by_model
            where org_id = %(org)s and usage_date > %(today)s::date - 30
            group by 1 order by 1""",
    },
    "org_error_ratio_24h": {
        "raw": """
            select model_id, count(*) filter (where not is_success)::numeric / count(*)
            from ({raw}) as events
            where org_id = %(org)s and event_at >= %(now)s::timestamptz - interval '24 hours'
            group by 1 order by 1""",
        "tokenledger": """
            select model_id, count(*) filter (where not is_success)::numeric / count(*)
            from bench.token_ledger_events
            where org_id = %(org)s and event_at >= %(now)s::timestamptz - interval '24 hours'
            group by 1 order by 1""",
        "billing": """
            select model_id, sum(error_count)::numeric / sum(request_count)
            from analytics.fct_usage_hourly
            where org_id = %(org)s and usage_hour >= %(hour)s::timestamptz - interval '23 hours'
            group by 1 order by 1""",
        "serving": """
            select model_id, sum(error_count)::numeric / sum(request_count)
            from analytics.fct_usage_hourly
            where org_id = %(org)s and usage_hour >= %(hour)s::timestamptz - interval '23 hours'
            group by 1 order by 1""",
    },
    "top_models_7d": {
        "raw": """
            select model_id, sum(cost_usd), count(*)
            from ({raw}) as events
            where event_at >= %(now)s::timestamptz - interval '7 days'
            group by 1 order by 2 desc nulls last limit 10""",
        "tokenledger": """
            select model_id, sum(cost_usd), sum(request_count)
            from bench.token_ledger_daily
            where usage_date > %(today)s::date - 7
            group by 1 order by 2 desc nulls last limit 10""",
        "billing": """
            select model_id, sum(cost_usd), sum(request_count)
            from analytics.fct_usage_hourly
            where usage_hour >= %(hour)s::timestamptz - interval '167 hours'
            group by 1 order by 2 desc nulls last limit 10""",
        "serving": """
            select model_id, sum(cost_usd), sum(request_count)
            from analytics.fct_usage_daily_by_model
            where usage_date > %(today)s::date - 7
            group by 1 order by 2 desc nulls last limit 10""",
    },
    "month_to_date_bills": {
        "raw": """
            select org_id, sum(cost_usd), count(*) filter (where cost_usd is null)
            from ({raw}) as events
            where event_at >= date_trunc('month', %(now)s::timestamptz at time zone 'UTC')
                at time zone 'UTC'
            group by 1 order by 1""",
        "tokenledger": """
            select org_id, sum(cost_usd), sum(request_count)
            from bench.token_ledger_daily
            where usage_date >= date_trunc('month', %(today)s::date)::date
            group by 1 order by 1""",
        "billing": """
            select org_id, sum(priced_cost_usd), sum(unpriced_request_count)
            from analytics.fct_usage_daily
            where usage_date >= date_trunc('month', %(today)s::date)::date
            group by 1 order by 1""",
        "serving": """
            select org_id, sum(priced_cost_usd), sum(unpriced_request_count)
            from analytics.fct_usage_daily_by_model
            where usage_date >= date_trunc('month', %(today)s::date)::date
            group by 1 order by 1""",
    },
}
ALL_ORGANIZATIONS = ("top_models_7d", "month_to_date_bills")


def prepare(home: Path, events: int) -> None:
    """Generate, load and roll up `events` events once; a marker file records it."""
    marker = home / "bench-queries.events"
    if marker.exists() and marker.read_text().strip() == str(events):
        print(f"reusing the {events:,} events loaded in {home}")
        return
    tally("db", "stop")
    subprocess.run(["rm", "-rf", str(home)], check=True)
    home.mkdir(parents=True)
    home.chmod(0o755)
    data = home / "data"
    steps = [
        (
            "generate",
            [
                "generate",
                "--events",
                str(events),
                "--out",
                str(data),
                "--days",
                "30",
                "--format",
                "parquet",
                "--seed",
                "1",
            ],
        ),
        ("load", ["load", str(data)]),
        ("rollup", ["rollup"]),
    ]
    for name, args in steps:
        started = time.perf_counter()
        tally(*args)
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    subprocess.run(["rm", "-rf", str(data)], check=True)
    marker.write_text(str(events))


def time_query(conn, sql: str, params: dict, runs: int) -> tuple[float, float]:
    timings = []
    for run in range(runs + 2):
        started = time.perf_counter()
        conn.execute(sql, params).fetchall()
        if run >= 2:  # two warm-up runs
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return statistics.median(timings), timings[max(0, round(0.95 * len(timings)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3_000_000)
    parser.add_argument("--runs", type=int, default=30, help="runs per rollup question")
    parser.add_argument(
        "--baseline-runs",
        type=int,
        default=5,
        help="runs per question on raw events and the TokenLedger view",
    )
    args = parser.parse_args()

    home = Path(os.environ.get("TALLY_HOME", ".tally")).resolve() / "bench-queries"
    os.environ["TALLY_HOME"] = str(home)
    prepare(home, args.events)
    from tally.targets import database_url

    with psycopg.connect(database_url("local"), autocommit=True, options="-c timezone=UTC") as conn:
        for statement in TOKENLEDGER_SETUP.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(
            "vacuum analyze analytics.fct_usage_hourly, analytics.fct_usage_daily_v2,"
            " analytics.fct_usage_daily_by_model"
        )
        (loaded,) = conn.execute("select count(*) from raw.events").fetchone()
        now, org = conn.execute(
            "select (select max(event_time) from raw.events),"
            " (select org_id from raw.events group by 1 order by count(*) desc limit 1)"
        ).fetchone()
        rows = dict(
            conn.execute(
                "select 'hourly', count(*) from analytics.fct_usage_hourly union all"
                " select 'daily', count(*) from analytics.fct_usage_daily union all"
                " select 'by_model', count(*) from analytics.fct_usage_daily_by_model"
            ).fetchall()
        )
        params = {
            "now": now,
            "org": org,
            "today": now.date(),
            "hour": now.replace(minute=0, second=0, microsecond=0),
        }
        print(f"{loaded:,} events; rows: {rows}; organization {org}; now {now:%Y-%m-%d %H:%M}")
        print(f"{'question':<22}{'source':<13}{'p50 ms':>9}{'p95 ms':>9}{'raw/this p95':>14}")
        figures, met = {}, True
        for question, sources in QUESTIONS.items():
            figures[question] = {}
            for source, sql in sources.items():
                runs = args.runs if source in ("billing", "serving") else args.baseline_runs
                p50, p95 = time_query(conn, sql.format(raw=RAW_PRICED), params, runs)
                raw_p95 = figures[question].get("raw", {}).get("p95_ms", p95)
                speedup = raw_p95 / p95
                figures[question][source] = {
                    "p50_ms": round(p50, 2),
                    "p95_ms": round(p95, 2),
                    "speedup_vs_raw": round(speedup, 1),
                }
                print(f"{question:<22}{source:<13}{p50:9.1f}{p95:9.1f}{speedup:13.1f}x", flush=True)
            serving = figures[question]["serving"]
            met &= serving["p95_ms"] <= P95_TARGET_MS
            if question in ALL_ORGANIZATIONS:
                met &= serving["speedup_vs_raw"] >= SPEEDUP_TARGET
    print(
        f"targets (serving p95 <= {P95_TARGET_MS:.0f} ms; all-organization questions "
        f">= {SPEEDUP_TARGET:.0f}x raw): {'met' if met else 'NOT met'}"
    )
    append(
        "queries",
        {
            "events": loaded,
            "runs": args.runs,
            "baseline_runs": args.baseline_runs,
            "rollup_rows": rows,
            "questions": figures,
            "targets_met": met,
        },
    )


if __name__ == "__main__":
    main()
