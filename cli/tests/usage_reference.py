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
    "cost_usd",
)


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class PriceList:
    rows: dict[str, list[tuple[datetime, Decimal, Decimal]]]

    @classmethod
    def from_csv(cls, path: Path) -> "PriceList":
        rows: dict[str, list] = defaultdict(list)
        with path.open() as handle:
            for row in csv.DictReader(handle):
                effective_from = datetime.fromisoformat(row["effective_from"]).replace(tzinfo=UTC)
                rows[row["model_id"]].append(
                    (
                        effective_from,
                        Decimal(row["input_usd_per_1m"]),
                        Decimal(row["output_usd_per_1m"]),
                    )
                )
        return cls({model: sorted(prices) for model, prices in rows.items()})

    def cost(self, model_id: str, at: datetime, input_tokens: int, output_tokens: int):
        in_effect = [p for p in self.rows.get(model_id, []) if p[0] <= at]
        if not in_effect:
            return None
        _, input_price, output_price = in_effect[-1]
        with localcontext() as exact:
            exact.prec = 100
            return (input_tokens * input_price + output_tokens * output_price) / Decimal(1_000_000)


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
            row = rows.setdefault(key, [0, 0, 0, 0, 0, 0, Decimal(0), 0])
            success = event["status"] == "success"
            cost = prices.cost(event["model_id"], at, event["input_tokens"], event["output_tokens"])
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
        return {key: (*row, row[6] if row[7] == 0 else None) for key, row in rows.items()}


def actual_rollup(conn, table: str) -> dict[tuple, tuple]:
    bucket = "usage_hour" if table == "fct_usage_hourly" else "usage_date"
    found = conn.execute(
        f"select {bucket}, org_id, user_id, api_key_id, model_id, {', '.join(MEASURES)}"
        f" from analytics.{table}"
    ).fetchall()
    return {
        tuple(row[:5]): tuple(int(v) if i < 6 else v for i, v in enumerate(row[5:]))
        for row in found
    }
