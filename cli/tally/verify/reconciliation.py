"""Checks answered by SQL on the target: how far the rollups lag the raw layer, the
reconciliation report (raw events vs the hourly and daily rollups), and unpriced events. Each
reads its tables through `tally.verify.tables`, so the same check runs on PostgreSQL and Spark."""

from tally.dbt_invocation import run_dbt
from tally.verify.report import CheckResult

SHOWN = 5  # mismatching org/dates and unpriced models named in a detail
# The token breakdowns rpt_usage_reconciliation compares (raw_, daily_, raw_hour_basis_, hourly_).
BREAKDOWNS = ("cache_read_input_tokens", "cache_write_input_tokens", "reasoning_tokens")


def _breakdowns_agree() -> str:
    return " and ".join(
        f"raw_{b} = daily_{b} and raw_hour_basis_{b} = hourly_{b}" for b in BREAKDOWNS
    )


def rollup_lag(tables) -> tuple[CheckResult, bool]:
    """Load batches committed after the rollups' watermark. Returns the check and whether the
    rollups are current (then the reconciliation can be recomputed as of now)."""
    if not tables.exists("ops.rollup_watermarks") or not tables.exists("raw.load_batches"):
        return CheckResult("rollups current", "error", "no rollup yet: run `tally rollup`"), False
    [(watermark,)] = tables.rows("select min(applied_commit_seq) from ops.rollup_watermarks")
    if watermark is None:
        return CheckResult("rollups current", "error", "no rollup yet: run `tally rollup`"), False
    [(pending,)] = tables.rows(
        "select count(*) from raw.load_batches"
        f" where status = 'loaded' and commit_seq > {int(watermark)}"
    )
    data = {"watermark_commit_seq": watermark, "pending_batches": pending}
    if pending:
        detail = (
            f"{pending} load batch(es) committed after the last rollup: run `tally rollup`; "
            "the reconciliation below is as of the last rollup"
        )
        return CheckResult("rollups current", "warn", detail, data), False
    return CheckResult("rollups current", "pass", "every loaded batch is rolled up", data), True


def refresh_report(target: str) -> str | None:
    """Rebuild analytics.rpt_usage_reconciliation now, so that it compares the rollups as they
    are (not as they were at the last `tally rollup`). Returns an error message or None."""
    result = run_dbt(
        target,
        "run",
        "--select",
        "rpt_usage_reconciliation",
        "--full-refresh",
        "--log-level",
        "none",
    )
    if result.success:
        return None
    if result.exception is not None:
        return str(result.exception).strip().splitlines()[0]
    messages = [
        f"{r.node.name}: {r.message}"
        for r in getattr(result.result, "results", [])
        if str(r.status) not in ("success", "pass")
    ]
    return "; ".join(messages) or "dbt run failed"


def reconciliation(tables, refresh_error: str | None, rebuilt: bool = True) -> CheckResult:
    """Mismatching (org_id, usage_date) rows of analytics.rpt_usage_reconciliation. `rebuilt`
    False: the report was left as last built (loads wait for a rollup), and the detail says so."""
    result = _reconciliation(tables, refresh_error)
    if not rebuilt and result.status in ("pass", "fail"):
        result.detail += " (report as last built: loads wait for a rollup)"
        result.data["rebuilt"] = False
    return result


def _reconciliation(tables, refresh_error: str | None) -> CheckResult:
    if refresh_error:
        return CheckResult("reconciliation", "error", f"report not rebuilt: {refresh_error}")
    if not tables.exists("analytics.rpt_usage_reconciliation"):
        return CheckResult(
            "reconciliation", "error", "no reconciliation report: run `tally rollup`"
        )
    [(total, mismatched)] = tables.rows(
        "select count(*), count(case when status = 'mismatch' then 1 end)"
        " from analytics.rpt_usage_reconciliation"
    )
    first = tables.rows(
        """
        select
            org_id,
            usage_date,
            raw_request_count, daily_request_count,
            raw_hour_basis_request_count, hourly_request_count,
            raw_total_tokens, daily_total_tokens,
            raw_hour_basis_total_tokens, hourly_total_tokens,
            raw_cost_usd is not distinct from daily_cost_usd as daily_cost_agrees,
            raw_hour_basis_cost_usd is not distinct from hourly_cost_usd as hourly_cost_agrees,
            {BREAKDOWNS_AGREE} as breakdowns_agree
        from analytics.rpt_usage_reconciliation
        where status = 'mismatch'
        order by usage_date, org_id
        limit {SHOWN}
        """.replace("{BREAKDOWNS_AGREE}", _breakdowns_agree()).replace("{SHOWN}", str(SHOWN))
    )
    examples = [_describe(row) for row in first]
    data = {"org_dates": total, "mismatches": mismatched, "first": examples}
    if mismatched:
        more = f" and {mismatched - len(first)} more" if mismatched > len(first) else ""
        detail = f"{mismatched} of {total} org-dates mismatch: " + "; ".join(examples) + more
        return CheckResult("reconciliation", "fail", detail, data)
    return CheckResult(
        "reconciliation",
        "pass",
        f"{total} org-dates: raw = daily = hourly on every measure and cost",
        data,
    )


def _describe(row) -> str:
    (
        org_id,
        usage_date,
        raw_req,
        daily_req,
        raw_hour_req,
        hourly_req,
        raw_tok,
        daily_tok,
        raw_hour_tok,
        hourly_tok,
        daily_cost_ok,
        hourly_cost_ok,
        breakdowns_ok,
    ) = row
    differences = []
    if raw_req != daily_req or raw_tok != daily_tok or not daily_cost_ok:
        differences.append(f"raw {raw_req} req/{raw_tok} tok vs daily {daily_req}/{daily_tok}")
    if raw_hour_req != hourly_req or raw_hour_tok != hourly_tok or not hourly_cost_ok:
        differences.append(
            f"raw {raw_hour_req} req/{raw_hour_tok} tok vs hourly {hourly_req}/{hourly_tok}"
        )
    if not daily_cost_ok or not hourly_cost_ok:
        differences.append("cost differs")
    if not breakdowns_ok:
        differences.append("cache or reasoning tokens differ")
    if not differences:
        differences.append("another measure differs: see the report's raw_/daily_/hourly_ columns")
    return f"{org_id} {usage_date} ({', '.join(differences)})"


def unpriced(tables) -> CheckResult:
    """Events without a price (cost_usd NULL), by model_id. A warning: the rollups count them,
    only their cost is unknown until `seeds/model_prices.csv` has a row and `tally rollup` runs."""
    if not tables.exists("analytics.fct_usage_hourly"):
        return CheckResult("unpriced events", "error", "no rollups: run `tally rollup`")
    rows = tables.rows(
        """
        select
            model_id,
            cast(sum(unpriced_request_count) as bigint) as events,
            count(*) as hourly_rows
        from analytics.fct_usage_hourly
        where unpriced_request_count > 0
        group by model_id
        order by events desc, model_id
        """
    )
    [(daily_rows,)] = tables.rows(
        "select count(*) from analytics.fct_usage_daily where unpriced_request_count > 0"
    )
    by_model = {
        model_id: {"events": events, "hourly_rows": hours} for model_id, events, hours in rows
    }
    events = sum(row[1] for row in rows)
    hourly_rows = sum(row[2] for row in rows)
    data = {
        "events": events,
        "hourly_rows": hourly_rows,
        "daily_rows": daily_rows,
        "by_model": by_model,
    }
    if not events:
        return CheckResult("unpriced events", "pass", "every event has a price", data)
    named = ", ".join(f"{model_id} {events}" for model_id, events, _ in rows[:SHOWN])
    more = f" and {len(rows) - SHOWN} more models" if len(rows) > SHOWN else ""
    detail = (
        f"{events} events in {hourly_rows} hourly / {daily_rows} daily rows have no price "
        f"(cost_usd NULL): {named}{more}; add them to seeds/model_prices.csv"
    )
    return CheckResult("unpriced events", "warn", detail, data)
