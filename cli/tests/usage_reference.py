"""An independent reference for the usage rollups: the contract (sections 2-4) in plain Python.

It knows nothing of the SQL: it replays loaded records in load order (first event_id wins,
first void wins, last organization record wins) and prices events with Decimal arithmetic.
"""

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from pathlib import Path
from zoneinfo import ZoneInfo

MEASURES = (
    "request_count",
    "success_count",
    "error_count",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "priced_cost_usd",
    "unpriced_request_count",
    "cache_read_input_tokens",
    "cache_write_input_tokens",
    "reasoning_tokens",
    "cost_usd",
)
BREAKDOWNS = ("cache_read_input_tokens", "cache_write_input_tokens", "reasoning_tokens")


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _price(row: dict, column: str, default: Decimal) -> Decimal:
    """An optional price column: empty or absent means the default."""
    return Decimal(row[column]) if row.get(column) else default


@dataclass
class PriceList:
    """Per (model, tier, min_input_tokens): (effective_from, prices) rows, prices being input,
    output, cache read, cache write and reasoning with the contract's defaults filled in."""

    rows: dict[tuple[str, str, int], list[tuple[datetime, tuple[Decimal, ...]]]]

    @classmethod
    def from_csv(cls, path: Path) -> "PriceList":
        rows: dict[tuple, list] = defaultdict(list)
        with path.open() as handle:
            for row in csv.DictReader(handle):
                effective_from = datetime.fromisoformat(row["effective_from"]).replace(tzinfo=UTC)
                input_price = Decimal(row["input_usd_per_1m"])
                output_price = Decimal(row["output_usd_per_1m"])
                key = (
                    row["model_id"],
                    row.get("service_tier") or "standard",
                    int(row.get("min_input_tokens") or 0),
                )
                rows[key].append(
                    (
                        effective_from,
                        (
                            input_price,
                            output_price,
                            _price(row, "cache_read_usd_per_1m", input_price),
                            _price(row, "cache_write_usd_per_1m", input_price),
                            _price(row, "reasoning_usd_per_1m", output_price),
                        ),
                    )
                )
        return cls({key: sorted(prices) for key, prices in rows.items()})

    def cost(self, event: dict, at: datetime):
        """The event's cost: per threshold of its model and tier the row in effect at `at`; of
        those, the greatest threshold at or below its input tokens prices it all."""
        tier = event.get("service_tier") or "standard"
        candidates = []
        for (model_id, row_tier, threshold), history in self.rows.items():
            if model_id != event["model_id"] or row_tier != tier:
                continue
            in_effect = [prices for since, prices in history if since <= at]
            if in_effect and threshold <= event["input_tokens"]:
                candidates.append((threshold, in_effect[-1]))
        if not candidates:
            return None
        input_price, output_price, read_price, write_price, reasoning_price = max(candidates)[1]
        tokens_in, tokens_out = event["input_tokens"], event["output_tokens"]
        read, write, reasoning = (event.get(name) or 0 for name in BREAKDOWNS)
        with localcontext() as exact:
            exact.prec = 100
            return (
                (tokens_in - read - write) * input_price
                + read * read_price
                + write * write_price
                + (tokens_out - reasoning) * output_price
                + reasoning * reasoning_price
            ) / Decimal(1_000_000)


@dataclass
class Ledger:
    """What has been loaded, in load order."""

    events: dict[str, dict] = field(default_factory=dict)
    voided: set[str] = field(default_factory=set)
    timezones: dict[str, str | None] = field(default_factory=dict)

    def load_events(self, records):
        for record in records:
            self.events.setdefault(record["event_id"], record)

    def load_voids(self, records):
        self.voided.update(record["event_id"] for record in records)

    def load_organizations(self, records):
        for record in records:
            self.timezones[record["org_id"]] = record.get("timezone") or None

    def rollup(self, prices: PriceList, grain: str) -> dict[tuple, tuple]:
        """Expected rows of a rollup; grain: hour, utc_date (daily v1) or local_date (v2)."""
        rows: dict[tuple, list] = {}
        for event_id, event in self.events.items():
            if event_id in self.voided:
                continue
            at = parse_time(event["event_time"]).astimezone(UTC)
            if grain == "hour":
                bucket = at.replace(minute=0, second=0, microsecond=0)
            elif grain == "utc_date":
                bucket = at.date()
            else:
                bucket = at.astimezone(
                    ZoneInfo(self.timezones.get(event["org_id"]) or "UTC")
                ).date()
            key = (
                bucket,
                event["org_id"],
                event.get("user_id"),
                event.get("api_key_id"),
                event["model_id"],
            )
            row = rows.setdefault(key, [0, 0, 0, 0, 0, 0, Decimal(0), 0, 0, 0, 0])
            success = event["status"] == "success"
            cost = prices.cost(event, at)
            row[0] += 1
            row[1] += success
            row[2] += not success
            row[3] += event["input_tokens"]
            row[4] += event["output_tokens"]
            row[5] += event["input_tokens"] + event["output_tokens"]
            if cost is None:
                row[7] += 1
            else:
                row[6] += cost
            for i, name in enumerate(BREAKDOWNS, start=8):
                row[i] += event.get(name) or 0
        return {key: (*row, row[6] if row[7] == 0 else None) for key, row in rows.items()}


def actual_rollup(conn, table: str) -> dict[tuple, tuple]:
    bucket = "usage_hour" if table == "fct_usage_hourly" else "usage_date"
    found = conn.execute(
        f"select {bucket}, org_id, user_id, api_key_id, model_id, {', '.join(MEASURES)}"
        f" from analytics.{table}"
    ).fetchall()
    return {
        tuple(row[:5]): tuple(
            v if name in ("priced_cost_usd", "cost_usd") else int(v)
            for name, v in zip(MEASURES, row[5:], strict=True)
        )
        for row in found
    }


def by_model(rows: dict[tuple, tuple]) -> dict[tuple, tuple]:
    """Rows of a daily rollup summed over users and API keys: fct_usage_daily_by_model's."""
    sums: dict[tuple, list] = {}
    for (bucket, org_id, _user, _key, model_id), row in rows.items():
        total = sums.setdefault((bucket, org_id, model_id), [0] * (len(MEASURES) - 1))
        for i, value in enumerate(row[:-1]):
            total[i] += value
    priced, unpriced = MEASURES.index("priced_cost_usd"), MEASURES.index("unpriced_request_count")
    return {
        key: (*total, total[priced] if total[unpriced] == 0 else None)
        for key, total in sums.items()
    }


def actual_by_model(conn) -> dict[tuple, tuple]:
    found = conn.execute(
        f"select usage_date, org_id, model_id, {', '.join(MEASURES)}"
        " from analytics.fct_usage_daily_by_model"
    ).fetchall()
    return {
        tuple(row[:3]): tuple(
            v if name in ("priced_cost_usd", "cost_usd") else int(v)
            for name, v in zip(MEASURES, row[3:], strict=True)
        )
        for row in found
    }
