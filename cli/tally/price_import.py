"""`tally prices import`: LiteLLM's price list into the seed `model_prices.csv`.

LiteLLM's `model_prices_and_context_window.json` gives each model's prices in US dollars per
token, one field per price, service tier and long-context tier:

    <price>[_above_<N>k_tokens][_batches | _priority | _flex]

where <price> is `input_cost_per_token`, `output_cost_per_token`,
`cache_read_input_token_cost`, `cache_creation_input_token_cost` or
`output_cost_per_reasoning_token`. Each (service tier, threshold) with an input price becomes
one price row: `_batches` is the tier `batch`, no suffix is `standard`; `_above_<N>k_tokens`
applies to requests of more than N * 1000 input tokens, so its row has `min_input_tokens`
N * 1000 + 1 (no threshold: 0). A price a long-context row lacks is its tier's base price, as
LiteLLM's own cost calculator falls back; a cache or reasoning price a row lacks stays empty,
which the price list reads as the row's input (cache) or output (reasoning) price. Other
fields (per-image, audio, one-hour cache writes, ...) are not token prices of this price list
and are ignored. Prices are read as exact decimals and multiplied by 10^6.
"""

import csv
import fnmatch
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from tally.errors import TallyError

# The seed's columns, in order: the required five, then the optional ones.
REQUIRED_COLUMNS = (
    "model_id",
    "provider",
    "effective_from",
    "input_usd_per_1m",
    "output_usd_per_1m",
)
OPTIONAL_COLUMNS = (
    "service_tier",
    "min_input_tokens",
    "cache_read_usd_per_1m",
    "cache_write_usd_per_1m",
    "reasoning_usd_per_1m",
)
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

# LiteLLM's name of each price, by the seed column it fills.
LITELLM_PRICES = {
    "input_usd_per_1m": "input_cost_per_token",
    "output_usd_per_1m": "output_cost_per_token",
    "cache_read_usd_per_1m": "cache_read_input_token_cost",
    "cache_write_usd_per_1m": "cache_creation_input_token_cost",
    "reasoning_usd_per_1m": "output_cost_per_reasoning_token",
}
LITELLM_TIERS = {"": "standard", "_batches": "batch", "_priority": "priority", "_flex": "flex"}
PRICE_FIELD = re.compile(
    r"^(?P<price>{})(?:_above_(?P<thousands>\d+)k_tokens)?(?P<tier>{})?$".format(
        "|".join(LITELLM_PRICES.values()), "|".join(suffix for suffix in LITELLM_TIERS if suffix)
    )
)
PRICE_COLUMNS = tuple(LITELLM_PRICES)
# LiteLLM's documentation of its own format, not a model.
NOT_MODELS = {"sample_spec"}
PER_MILLION = 6


@dataclass(frozen=True)
class PriceRow:
    """One row of the price list; empty optional prices are None."""

    model_id: str
    provider: str
    effective_from: str
    service_tier: str
    min_input_tokens: int
    prices: dict  # column -> Decimal or None

    @property
    def key(self):
        return (self.model_id, self.service_tier, self.min_input_tokens)

    def effective_prices(self) -> tuple:
        """The five prices as billed: an empty cache price is the input price, an empty
        reasoning price the output price."""
        p = self.prices
        return (
            p["input_usd_per_1m"],
            p["output_usd_per_1m"],
            _or(p["cache_read_usd_per_1m"], p["input_usd_per_1m"]),
            _or(p["cache_write_usd_per_1m"], p["input_usd_per_1m"]),
            _or(p["reasoning_usd_per_1m"], p["output_usd_per_1m"]),
        )

    def as_csv(self) -> dict:
        return {
            "model_id": self.model_id,
            "provider": self.provider,
            "effective_from": self.effective_from,
            "service_tier": self.service_tier,
            "min_input_tokens": str(self.min_input_tokens),
            **{column: _decimal_text(self.prices[column]) for column in PRICE_COLUMNS},
        }


def _or(value, default):
    return default if value is None else value


def _decimal_text(value: Decimal | None) -> str:
    if value is None:
        return ""
    return format(value.normalize(), "f")


def litellm_rows(document: dict, effective_from: str, models: str | None) -> list[PriceRow]:
    """The price rows LiteLLM's price list gives, for the models matching the glob `models`."""
    rows = []
    for model_id, entry in document.items():
        if model_id in NOT_MODELS or not isinstance(entry, dict):
            continue
        if models is not None and not fnmatch.fnmatchcase(model_id, models):
            continue
        rows.extend(_entry_rows(model_id, entry, effective_from))
    return rows


def _entry_rows(model_id: str, entry: dict, effective_from: str) -> list[PriceRow]:
    found: dict[tuple[str, int], dict] = {}
    for field, value in entry.items():
        match = PRICE_FIELD.match(field)
        if match is None:
            continue
        column = next(c for c, name in LITELLM_PRICES.items() if name == match["price"])
        tier = LITELLM_TIERS[match["tier"] or ""]
        thousands = match["thousands"]
        threshold = int(thousands) * 1000 + 1 if thousands else 0
        found.setdefault((tier, threshold), {})[column] = _per_million(model_id, field, value)
    rows = []
    for (tier, threshold), prices in sorted(found.items()):
        if "input_usd_per_1m" not in prices:
            continue
        base = found.get((tier, 0), {}) if threshold else {}
        merged = {column: prices.get(column, base.get(column)) for column in PRICE_COLUMNS}
        if merged["output_usd_per_1m"] is None:
            continue
        rows.append(
            PriceRow(
                model_id=model_id,
                provider=str(entry.get("litellm_provider") or ""),
                effective_from=effective_from,
                service_tier=tier,
                min_input_tokens=threshold,
                prices=merged,
            )
        )
    return rows


def _per_million(model_id: str, field: str, value) -> Decimal:
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise TallyError(f"{model_id}: {field} is not a number: {value!r}") from None
    if not price.is_finite() or price < 0:
        raise TallyError(f"{model_id}: {field} is not a price: {value!r}")
    return price.scaleb(PER_MILLION)


def read_litellm(path: Path) -> dict:
    """LiteLLM's price list, every number read as an exact decimal."""
    try:
        with path.open(encoding="utf-8") as file:
            document = json.load(file, parse_float=Decimal)
    except OSError as error:
        raise TallyError(f"{path}: {error.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise TallyError(f"{path}: not a JSON price list ({error})") from None
    if not isinstance(document, dict):
        raise TallyError(f"{path}: not a LiteLLM price list (expected an object of models)")
    return document


def read_seed(path: Path) -> tuple[list[str], list[dict]]:
    """The seed's header and rows (as text)."""
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        header = list(reader.fieldnames or [])
        missing = [column for column in REQUIRED_COLUMNS if column not in header]
        if missing:
            raise TallyError(f"{path}: no column {', '.join(missing)}")
        return header, list(reader)


def seed_row(record: dict) -> PriceRow:
    """A seed row as a PriceRow, the optional columns' defaults filled in."""
    return PriceRow(
        model_id=record["model_id"],
        provider=record["provider"],
        effective_from=record["effective_from"],
        service_tier=record.get("service_tier") or "standard",
        min_input_tokens=int(record.get("min_input_tokens") or 0),
        prices={
            column: Decimal(record[column]) if record.get(column) else None
            for column in PRICE_COLUMNS
        },
    )


def in_effect(seed: list[PriceRow], key: tuple, at: datetime) -> PriceRow | None:
    """The seed's row for (model, tier, threshold) with the latest effective_from <= at."""
    candidates = [row for row in seed if row.key == key and _utc(row.effective_from) <= at]
    return max(candidates, key=lambda row: _utc(row.effective_from), default=None)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def parse_effective_from(text: str | None) -> datetime:
    """--effective-from: ISO-8601 (with an offset, that instant; without, UTC); default now."""
    if text is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise TallyError(f"--effective-from: not an ISO-8601 timestamp: {text!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def import_prices(
    source: Path, seed_path: Path, effective_from: datetime, models: str | None
) -> list[PriceRow]:
    """Append to the seed a row for each price of `source` that differs from the one in effect
    at `effective_from`; return the rows added (none when nothing differs)."""
    document = read_litellm(source)
    if not seed_path.is_file():
        raise TallyError(f"{seed_path}: no such price list")
    header, records = read_seed(seed_path)
    seed = [seed_row(record) for record in records]
    stamp = effective_from.strftime("%Y-%m-%d %H:%M:%S")
    added = []
    for row in litellm_rows(document, stamp, models):
        current = in_effect(seed, row.key, effective_from)
        if current is not None and current.effective_prices() == row.effective_prices():
            continue
        if current is not None and _utc(current.effective_from) == effective_from:
            raise TallyError(
                f"{seed_path}: {row.model_id} ({row.service_tier}, from {row.min_input_tokens} "
                f"input tokens) already has other prices at {stamp}"
            )
        added.append(row)
    if added:
        _append(seed_path, header, records, added)
    return added


def _append(
    seed_path: Path, header: list[str], records: list[dict], added: list[PriceRow]
) -> None:
    """Append the rows; a seed without the optional columns is first rewritten with them."""
    full_header = list(COLUMNS) + [column for column in header if column not in COLUMNS]
    if header != full_header:
        with seed_path.open("w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, full_header, lineterminator="\n")
            writer.writeheader()
            writer.writerows(records)
    with seed_path.open("a+", newline="", encoding="utf-8") as file:
        file.seek(0)
        text = file.read()
        if text and not text.endswith("\n"):
            file.write("\n")
        writer = csv.DictWriter(file, full_header, lineterminator="\n", restval="")
        writer.writerows(row.as_csv() for row in added)


def describe(row: PriceRow) -> str:
    """One line per added row, as the command prints it."""
    text = row.as_csv()
    prices = ", ".join(f"{column} {text[column]}" for column in PRICE_COLUMNS if text[column])
    threshold = f", from {row.min_input_tokens} input tokens" if row.min_input_tokens else ""
    return f"{row.model_id} ({row.service_tier}{threshold}) from {row.effective_from}: {prices}"
