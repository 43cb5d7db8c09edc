"""Who makes the requests: organizations of heavy-tailed size, their users, keys and model mix."""

import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from tally.errors import TallyError
from tally.paths import find_project, shipped_project

# Time zones with whole, fractional (+05:30, +05:45, +12:45) and daylight-saving offsets.
TIMEZONES = {
    "America/New_York": 0.22,
    "America/Los_Angeles": 0.14,
    "Europe/London": 0.12,
    "Europe/Berlin": 0.12,
    "Asia/Kolkata": 0.10,
    "Asia/Kathmandu": 0.03,
    "Asia/Tokyo": 0.07,
    "Australia/Adelaide": 0.05,
    "America/Sao_Paulo": 0.05,
    "Pacific/Chatham": 0.02,
    "UTC": 0.08,
}
PLANS = ("free", "team", "business", "enterprise")
UNKNOWN_ORG_SHARE = 0.03  # organizations whose events arrive but whose record never does
NO_TIMEZONE_SHARE = 0.03


def price_list() -> Path:
    """The price seed of the current project, else the one this installation ships."""
    return (find_project() or shipped_project()) / "seeds" / "model_prices.csv"


@dataclass(frozen=True)
class ModelFacts:
    """What the price list says of a model: the tiers beyond standard that price it, and
    whether it has a cache price of its own (reads, writes)."""

    model_id: str
    tiers: frozenset[str]
    cache_read: bool
    cache_write: bool


def model_catalogue(oldest_event: datetime) -> list[ModelFacts]:
    """Models of the price seed with a standard price since before the oldest event, so every
    generated event has a price; a tier counts when it too is priced since then."""
    prices = price_list()
    cutoff = oldest_event.strftime("%Y-%m-%d %H:%M:%S")
    since: dict[tuple[str, str], str] = {}
    cache_read: set[str] = set()
    cache_write: set[str] = set()
    try:
        with prices.open(newline="") as handle:
            for row in csv.DictReader(handle):
                model, tier = row["model_id"], row.get("service_tier") or "standard"
                if (row.get("min_input_tokens") or "0") != "0":
                    continue
                key = (model, tier)
                since[key] = min(row["effective_from"], since.get(key, "~"))
                if row.get("cache_read_usd_per_1m"):
                    cache_read.add(model)
                if row.get("cache_write_usd_per_1m"):
                    cache_write.add(model)
    except (OSError, KeyError) as error:
        raise TallyError(f"cannot read the price list {prices}: {error}") from error
    priced = sorted(
        model for (model, tier), first in since.items() if tier == "standard" and first <= cutoff
    )
    if not priced:
        raise TallyError(f"{prices} prices no model since {cutoff}: no events to generate")
    return [
        ModelFacts(
            model_id=model,
            tiers=frozenset(
                tier for (m, tier), first in since.items()
                if m == model and tier != "standard" and first <= cutoff
            ),
            cache_read=model in cache_read,
            cache_write=model in cache_write,
        )
        for model in priced
    ]


@dataclass
class Population:
    org_ids: list[str]
    org_weights: np.ndarray  # share of traffic per organization
    org_tz: np.ndarray  # index into tz_names per organization
    org_error_rate: np.ndarray
    tz_names: list[str]
    tz_offsets: np.ndarray  # seconds east of UTC, per (time zone, day of the window)
    key_org: np.ndarray  # per key: its organization
    key_user: np.ndarray  # per key: index into user_ids, -1 for a service key
    key_cumulative: np.ndarray  # org index + cumulative key weight within the org
    user_ids: list[str]
    user_org: np.ndarray
    org_user_start: np.ndarray
    org_user_count: np.ndarray
    key_busy: np.ndarray  # per key: its organization's busiest (the production key)
    models: list[str]
    model_facts: list[ModelFacts]
    model_cumulative: np.ndarray  # per organization: cumulative model weights
    model_input_median: np.ndarray
    model_output_median: np.ndarray
    organizations: list[dict]
    users: list[dict]
    api_keys: list[dict]


def _offsets(tz_names: list[str], window_start: datetime, days: int) -> np.ndarray:
    offsets = np.zeros((len(tz_names), days), dtype=np.int64)
    for i, name in enumerate(tz_names):
        zone = ZoneInfo(name)
        for day in range(days):
            noon = window_start + timedelta(days=day, hours=12)
            offsets[i, day] = int(noon.astimezone(zone).utcoffset().total_seconds())
    return offsets


def build(rng: np.random.Generator, events: int, window_start: datetime, days: int, seed: int):
    n_orgs = int(min(3000, max(4, np.sqrt(events) / 3)))
    weights = rng.pareto(1.1, n_orgs) + 0.05
    weights /= weights.sum()
    tz_names = list(TIMEZONES)
    tz_p = np.array(list(TIMEZONES.values()))
    org_tz = rng.choice(len(tz_names), n_orgs, p=tz_p / tz_p.sum())
    org_ids = [f"org_{seed}_{i:05d}" for i in range(n_orgs)]
    scale = weights * n_orgs
    users_per_org = 1 + np.minimum(400, (scale * 4 * rng.uniform(0.5, 1.5, n_orgs))).astype(int)
    keys_per_org = 1 + np.minimum(80, (scale * 2 * rng.uniform(0.5, 1.5, n_orgs))).astype(int)

    org_user_start = np.concatenate([[0], np.cumsum(users_per_org)[:-1]])
    user_org = np.repeat(np.arange(n_orgs), users_per_org)
    user_ids = [f"user_{seed}_{i:07d}" for i in range(len(user_org))]

    key_org = np.repeat(np.arange(n_orgs), keys_per_org)
    rank = np.concatenate([np.arange(1, k + 1) for k in keys_per_org])
    key_weight = 1.0 / rank**1.8  # the production key dominates; most keys make few requests
    key_start = np.concatenate([[0], np.cumsum(keys_per_org)[:-1]])
    running = np.cumsum(key_weight)
    before = np.repeat(np.where(key_start > 0, running[key_start - 1], 0.0), keys_per_org)
    within = running - before
    key_cumulative = key_org + within / np.repeat(
        within[key_start + keys_per_org - 1], keys_per_org
    )
    key_user = np.where(
        rng.random(len(key_org)) < 0.8,
        org_user_start[key_org] + rng.integers(0, 1 << 30, len(key_org)) % users_per_org[key_org],
        -1,
    )

    facts = model_catalogue(window_start - timedelta(days=250))
    models = [fact.model_id for fact in facts]
    mix = rng.dirichlet(np.full(len(models), 0.25), n_orgs)
    model_cumulative = np.cumsum(mix, axis=1)
    model_cumulative[:, -1] = 1.0

    created = datetime(2024, 1, 1, tzinfo=UTC)
    organizations = [
        {
            "org_id": org_ids[i],
            "name": f"Organization {i}",
            "timezone": "" if rng.random() < NO_TIMEZONE_SHARE else tz_names[org_tz[i]],
            "plan": PLANS[min(3, int(scale[i]))],
            "created_at": _iso(created + timedelta(days=int(rng.integers(0, 600)))),
        }
        for i in range(n_orgs)
        if i == 0 or rng.random() >= UNKNOWN_ORG_SHARE
    ]
    users = [
        {
            "user_id": user_ids[u],
            "org_id": org_ids[user_org[u]],
            "email": f"person{u}@org{user_org[u]}.example.com",
            "created_at": _iso(created + timedelta(days=int(rng.integers(0, 650)))),
        }
        for u in range(len(user_ids))
    ]
    api_keys = [
        {
            "api_key_id": f"key_{seed}_{k:06d}",
            "org_id": org_ids[key_org[k]],
            "user_id": user_ids[key_user[k]] if key_user[k] >= 0 else "",
            "key_prefix": f"sk-{rng.integers(0, 16**5):05x}",
            "created_at": _iso(created + timedelta(days=int(rng.integers(0, 650)))),
            "revoked_at": "" if rng.random() > 0.05 else _iso(window_start - timedelta(days=1)),
        }
        for k in range(len(key_org))
    ]
    return Population(
        org_ids=org_ids,
        org_weights=weights,
        org_tz=org_tz,
        org_error_rate=rng.uniform(0.01, 0.03, n_orgs),
        tz_names=tz_names,
        tz_offsets=_offsets(tz_names, window_start, days),
        key_org=key_org,
        key_user=key_user,
        key_cumulative=key_cumulative,
        key_busy=rank == 1,
        user_ids=user_ids,
        user_org=user_org,
        org_user_start=org_user_start,
        org_user_count=users_per_org,
        models=models,
        model_facts=facts,
        model_cumulative=model_cumulative,
        model_input_median=rng.uniform(300, 3000, len(models)),
        model_output_median=rng.uniform(100, 900, len(models)),
        organizations=organizations,
        users=users,
        api_keys=api_keys,
    )


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
