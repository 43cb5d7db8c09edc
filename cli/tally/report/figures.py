"""What the report shows, read from the target's database: every figure comes from a rollup
table, the reconciliation report or the load ledger, never from an estimate.

Scope: every organization over the last 30 dates with usage, or one organization's calendar
month (its local dates) of its latest usage. Decimals stay exact (strings in the page's JSON).
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from tally.errors import TallyError

DAYS = 30
TOP_ORGANIZATIONS = 10
# Lateness = load time - event time, in these buckets (seconds; the last is open).
LATENESS_BUCKETS = (
    ("under 1 min", 0, 60),
    ("1-10 min", 60, 600),
    ("10-60 min", 600, 3600),
    ("1-6 h", 3600, 6 * 3600),
    ("6-24 h", 6 * 3600, 86400),
    ("1-7 days", 86400, 7 * 86400),
    ("7-30 days", 7 * 86400, 30 * 86400),
    ("over 30 days", 30 * 86400, None),
)


@dataclass
class Figures:
    scope: str
    org_id: str | None
    first_date: date
    last_date: date
    totals: dict = field(default_factory=dict)
    by_day_and_model: list[dict] = field(default_factory=list)
    organizations: list[dict] = field(default_factory=list)
    models: list[dict] = field(default_factory=list)
    lateness: list[dict] = field(default_factory=list)
    unpriced: list[dict] = field(default_factory=list)
    reconciliation: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        """Every figure of the page, as the page's JSON block holds it."""
        return _plain(self.__dict__)


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _rows(conn, sql: str, params: dict) -> list[dict]:
    cursor = conn.execute(sql, params)
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _period(conn, org_id: str | None) -> tuple[date, date]:
    if org_id is None:
        (last,) = conn.execute(
            "select max(usage_date) from analytics.fct_usage_daily_by_model"
        ).fetchone()
        if last is None:
            raise TallyError("no usage rolled up yet: run `tally load` and `tally rollup`")
        return last - timedelta(days=DAYS - 1), last
    (last,) = conn.execute(
        "select max(usage_date) from analytics.fct_usage_daily_by_model where org_id = %s",
        [org_id],
    ).fetchone()
    if last is None:
        raise TallyError(f"no usage for organization '{org_id}'")
    first = last.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


_SUMS = """
    coalesce(sum(request_count), 0)::bigint as request_count,
    coalesce(sum(error_count), 0)::bigint as error_count,
    coalesce(sum(total_tokens), 0) as total_tokens,
    coalesce(sum(priced_cost_usd), 0) as priced_cost_usd,
    coalesce(sum(unpriced_request_count), 0)::bigint as unpriced_request_count
"""


def read_figures(conn, org_id: str | None) -> Figures:
    first, last = _period(conn, org_id)
    scope = "organization" if org_id else "all"
    figures = Figures(scope, org_id, first, last)
    params = {"first": first, "last": last, "org": org_id}
    in_scope = (
        "usage_date between %(first)s and %(last)s"
        + (" and org_id = %(org)s" if org_id else "")
    )
    served = "analytics.fct_usage_daily_by_model"
    figures.totals = _rows(conn, f"select {_SUMS} from {served} where {in_scope}", params)[0]
    figures.by_day_and_model = _rows(
        conn,
        f"select usage_date, model_id, {_SUMS} from {served} where {in_scope}"
        " group by 1, 2 order by 1, 2",
        params,
    )
    figures.models = _rows(
        conn,
        f"select model_id, {_SUMS} from {served} where {in_scope}"
        " group by 1 order by priced_cost_usd desc, model_id",
        params,
    )
    if org_id is None:
        figures.organizations = _rows(
            conn,
            f"select org_id, {_SUMS} from {served} where {in_scope}"
            " group by 1 order by priced_cost_usd desc, org_id limit %(top)s",
            {**params, "top": TOP_ORGANIZATIONS},
        )
    figures.unpriced = _rows(
        conn,
        f"select model_id, sum(unpriced_request_count)::bigint as unpriced_request_count"
        f" from {served}"
        + (" where org_id = %(org)s" if org_id else "")
        + " group by 1 having sum(unpriced_request_count) > 0 order by 2 desc, 1",
        params,
    )
    figures.lateness = _lateness(conn, org_id)
    figures.reconciliation = _reconciliation(conn, org_id)
    return figures


def _lateness(conn, org_id: str | None) -> list[dict]:
    """Events of every age by how long after their event time they were loaded: the load
    ledger's commit of each event's batch (raw.load_batches.finished_at)."""
    cases = " ".join(
        f"when lateness < {upper} then {i}" for i, (_, _, upper) in enumerate(LATENESS_BUCKETS)
        if upper is not None
    )
    counted = dict(
        conn.execute(
            f"""
            select bucket, count(*) from (
                select case {cases} else {len(LATENESS_BUCKETS) - 1} end as bucket
                from (
                    select extract(epoch from batches.finished_at - events.event_time)
                        as lateness
                    from raw.events as events
                    join raw.load_batches as batches on batches.batch_id = events.batch_id
                    where batches.status = 'loaded'
                    {"and events.org_id = %(org)s" if org_id else ""}
                ) as loaded
            ) as bucketed
            group by 1
            """,
            {"org": org_id},
        ).fetchall()
    )
    return [
        {"bucket": label, "event_count": counted.get(i, 0)}
        for i, (label, _, _) in enumerate(LATENESS_BUCKETS)
    ]


def _reconciliation(conn, org_id: str | None) -> dict:
    (report,) = conn.execute("select to_regclass('analytics.rpt_usage_reconciliation')").fetchone()
    if report is None:
        return {"verdict": "missing", "compared": 0, "mismatched": 0}
    compared, mismatched = conn.execute(
        "select count(*), count(*) filter (where status = 'mismatch')"
        " from analytics.rpt_usage_reconciliation"
        + (" where org_id = %(org)s" if org_id else ""),
        {"org": org_id},
    ).fetchone()
    return {
        "verdict": "ok" if mismatched == 0 else "mismatch",
        "compared": compared,
        "mismatched": mismatched,
    }
