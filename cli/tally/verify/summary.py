"""A per-organization summary of the rollups, for `make analytics-verify` to print last.

Example:
    python -m tally.verify.summary --target local
"""

import sys

QUERY = """
with

hourly as (

    select
        org_id,
        sum(request_count) as requests,
        sum(error_count) as errors,
        sum(total_tokens) as tokens,
        sum(unpriced_request_count) as unpriced,
        sum(priced_cost_usd) as priced_cost_usd
    from analytics.fct_usage_hourly
    group by org_id

),

daily as (

    select
        org_id,
        count(distinct usage_date) as days,
        sum(request_count) as requests
    from analytics.fct_usage_daily
    group by org_id

)

select
    hourly.org_id,
    coalesce(organizations.timezone, 'UTC') as timezone,
    daily.days,
    hourly.requests,
    daily.requests as daily_requests,
    hourly.errors,
    hourly.tokens,
    hourly.unpriced,
    round(hourly.priced_cost_usd, 2) as priced_cost_usd
from hourly
left join daily on hourly.org_id = daily.org_id
left join analytics.dim_organizations as organizations on hourly.org_id = organizations.org_id
order by hourly.requests desc, hourly.org_id
"""

HEADER = (
    "org_id",
    "timezone",
    "days",
    "requests",
    "daily req",
    "errors",
    "tokens",
    "unpriced",
    "cost_usd",
)


def summary_lines(conn, limit: int = 15) -> list[str]:
    rows = conn.execute(QUERY).fetchall()
    shown = [tuple("" if value is None else str(value) for value in row) for row in rows[:limit]]
    totals = [sum(int(row[i] or 0) for row in rows) for i in (3, 4, 5, 6, 7)]
    footer = ("total", f"{len(rows)} orgs", "", *map(str, totals), "")
    table = [HEADER, *shown, footer]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    lines = []
    for number, row in enumerate(table):
        if number == len(table) - 1:
            lines.append("  ".join("-" * width for width in widths))
        lines.append(
            "  ".join(
                cell.ljust(width) if i < 2 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    if len(rows) > limit:
        lines.insert(len(lines) - 2, f"... {len(rows) - limit} more organizations")
    return lines


def main(argv: list[str]) -> int:
    from tally.database import connect
    from tally.targets import default_target

    target = argv[argv.index("--target") + 1] if "--target" in argv else default_target()
    with connect(target) as conn:
        for line in summary_lines(conn):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
