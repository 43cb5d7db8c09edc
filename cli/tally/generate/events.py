"""Usage events in vectorised chunks: daily cycle, hot keys, late, duplicate, bad, voided."""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tally.generate.population import Population

# Share of a day's requests in each local hour: quiet at night, busiest mid-afternoon.
HOURLY_CYCLE = np.array(
    [2, 1.5, 1, 1, 1, 1.5, 3, 5, 8, 10, 11, 11, 10, 11, 12, 12, 11, 9, 7, 6, 5, 4, 3, 2.5]
)
HOURLY_CYCLE = HOURLY_CYCLE / HOURLY_CYCLE.sum()
MAX_LATE_DAYS = 240
VOID_REASONS = ("customer refund", "test traffic", "fraud", "duplicate charge")
# Ways a record breaks the contract; each bad record breaks one.
BAD_KINDS = (
    "missing event_id",
    "event_id too long",
    "missing org_id",
    "missing model_id",
    "bad status",
    "negative input_tokens",
    "fractional output_tokens",
    "unparseable event_time",
    "missing event_time",
    "future event_time",
    "negative latency_ms",
    "cache reads beyond input_tokens",
    "unknown service_tier",
)
# Shares of requests: a busy (production) key repeats its long prompt prefix, so most of its
# requests read the prompt cache; other keys less often. A miss on a model that prices cache
# writes often writes the prefix. Reasoning models spend most output tokens on reasoning.
CACHE_HIT = {"busy": 0.8, "other": 0.25}
CACHE_WRITE_ON_MISS = 0.4
REASONING_MODELS = ("o1", "o3", "gpt-5", "deepseek-reasoner", "gemini-2.5")
REASONING_SHARE = (0.6, 0.9)
TIER_SHARES = {"batch": 0.03, "priority": 0.01, "flex": 0.01}  # where the model's tier is priced
TIERS = ("standard", *TIER_SHARES)


@dataclass
class Chunk:
    """Typed columns of one chunk; `bad` names the broken rule per row (-1: a valid row)."""

    event_id: pa.Array
    org: np.ndarray
    user: np.ndarray  # index into population.user_ids, -1 for none
    key: np.ndarray  # index into the keys, -1 for none
    model: np.ndarray
    event_time: np.ndarray  # seconds since the epoch, UTC
    local_offset: np.ndarray  # the organization's UTC offset then, in seconds
    time_style: np.ndarray  # 0: ...Z, 1: local time with its offset, 2: no offset (UTC)
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    is_error: np.ndarray
    latency_ms: np.ndarray  # -1 for none
    cache_read_input_tokens: np.ndarray  # -1 for absent
    cache_write_input_tokens: np.ndarray  # -1 for absent
    reasoning_tokens: np.ndarray  # -1 for absent
    tier: np.ndarray  # index into TIERS, -1 for absent (standard)
    bad: np.ndarray
    voids: dict


def _pick(rng, cumulative_rows: np.ndarray) -> np.ndarray:
    """Per row, an index drawn from that row's cumulative weights."""
    u = rng.random(len(cumulative_rows))
    return (u[:, None] > cumulative_rows).sum(axis=1)


def make_chunk(
    rng: np.random.Generator,
    people: Population,
    first: int,
    size: int,
    window_start_s: int,
    days: int,
    fractions: dict[str, float],
    seed: int,
) -> Chunk:
    org = rng.choice(len(people.org_ids), size, p=people.org_weights)
    key = np.searchsorted(people.key_cumulative, org + rng.random(size), side="right")
    key = np.minimum(key, len(people.key_org) - 1)
    user = people.key_user[key]
    keyless = rng.random(size) < 0.03  # console requests: a user, no key
    user = np.where(
        keyless,
        people.org_user_start[org] + rng.integers(0, 1 << 30, size) % people.org_user_count[org],
        user,
    )
    key = np.where(keyless, -1, key)
    model = _pick(rng, people.model_cumulative[org])

    day = rng.integers(0, days, size)
    hour = rng.choice(24, size, p=HOURLY_CYCLE)
    offset = people.tz_offsets[people.org_tz[org], day]
    event_time = window_start_s + day * 86400 + hour * 3600 + rng.integers(0, 3600, size) - offset
    late = rng.random(size) < fractions["late"]
    age_days = np.where(
        rng.random(size) < 0.9, rng.uniform(1, 30, size), rng.uniform(30, MAX_LATE_DAYS, size)
    )
    if late.any():  # at least one event arrives more than 200 days late
        age_days[np.flatnonzero(late)[0]] = rng.uniform(200, MAX_LATE_DAYS)
    event_time = np.where(late, event_time - (age_days * 86400).astype(np.int64), event_time)

    is_error = rng.random(size) < people.org_error_rate[org]
    input_tokens = rng.lognormal(np.log(people.model_input_median[model]), 1.0).astype(np.int64)
    output_tokens = rng.lognormal(np.log(people.model_output_median[model]), 0.9)
    output_tokens = np.where(is_error, 0, np.minimum(output_tokens, 64_000)).astype(np.int64)
    latency = 120 + output_tokens * rng.uniform(8, 30, size) + rng.lognormal(5, 1, size)
    latency_ms = np.where(rng.random(size) < 0.02, -1, latency.astype(np.int64))
    breakdown = _breakdowns(rng, people, key, model, input_tokens, output_tokens)
    numbers = pa.array(np.arange(first, first + size)).cast(pa.string())
    event_id = pc.binary_join_element_wise(f"ev{seed}_", numbers, "")

    bad = np.full(size, -1)
    bad_rows = np.flatnonzero(rng.random(size) < fractions["bad"])
    bad[bad_rows] = rng.integers(0, len(BAD_KINDS), len(bad_rows))
    chunk = Chunk(
        event_id=event_id,
        org=org,
        user=user,
        key=key,
        model=model,
        event_time=event_time,
        local_offset=offset,
        time_style=rng.choice(3, size, p=[0.85, 0.10, 0.05]),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        is_error=is_error,
        latency_ms=latency_ms,
        **breakdown,
        bad=bad,
        voids={},
    )
    chunk = _with_duplicates(rng, chunk, fractions["duplicates"])
    chunk.voids = _voids(rng, chunk, fractions["voided"], window_start_s + days * 86400)
    return chunk


def _breakdowns(rng, people: Population, key, model, input_tokens, output_tokens) -> dict:
    """Cache reads and writes, reasoning tokens and the service tier of each request; -1 where
    a record leaves the field out (a model without a cache or reasoning says nothing)."""
    size = len(model)
    facts = people.model_facts
    reads_cache = np.array([f.cache_read for f in facts])[model]
    writes_cache = np.array([f.cache_write for f in facts])[model]
    busy = np.where(key >= 0, people.key_busy[np.maximum(key, 0)], False)
    hit = rng.random(size) < np.where(busy, CACHE_HIT["busy"], CACHE_HIT["other"])
    cached = (input_tokens * rng.uniform(0.5, 0.95, size)).astype(np.int64)
    read = np.where(reads_cache, np.where(hit, cached, 0), -1)
    write = np.where(
        writes_cache & ~hit & (rng.random(size) < CACHE_WRITE_ON_MISS),
        (input_tokens * rng.uniform(0.3, 0.9, size)).astype(np.int64),
        np.where(writes_cache, 0, -1),
    )
    thinks = np.array([f.model_id.startswith(REASONING_MODELS) for f in facts])[model]
    share = rng.uniform(*REASONING_SHARE, size)
    reasoning = np.where(thinks, (output_tokens * share).astype(np.int64), -1)
    tier = np.full(size, -1)
    draw = rng.random(size)
    low = 0.0
    for name, share_of_tier in TIER_SHARES.items():
        priced = np.array([name in f.tiers for f in facts])[model]
        chosen = priced & (draw >= low) & (draw < low + share_of_tier)
        tier = np.where(chosen, TIERS.index(name), tier)
        low += share_of_tier
    tier = np.where((tier < 0) & (rng.random(size) < 0.3), 0, tier)  # some say "standard"
    return {
        "cache_read_input_tokens": read,
        "cache_write_input_tokens": write,
        "reasoning_tokens": reasoning,
        "tier": tier,
    }


def _with_duplicates(rng, chunk: Chunk, fraction: float) -> Chunk:
    """Re-sends of valid records appended at the end; one in five with a changed field."""
    valid = np.flatnonzero(chunk.bad < 0)
    count = int(round(len(chunk.org) * fraction))
    if not count or not len(valid):
        return chunk
    source = rng.choice(valid, count)
    changed = rng.random(count) < 0.2
    extra = {}
    for name, values in vars(chunk).items():
        if isinstance(values, np.ndarray):
            extra[name] = np.concatenate([values, values[source]])
    extra["output_tokens"][-count:] += np.where(changed, rng.integers(1, 100, count), 0)
    take = pa.array(source)
    extra["event_id"] = pa.concat_arrays([chunk.event_id, chunk.event_id.take(take)])
    return Chunk(**extra, voids={})


def _voids(rng, chunk: Chunk, fraction: float, end_s: int) -> dict:
    valid = np.flatnonzero(chunk.bad < 0)
    count = min(int(round(len(chunk.org) * fraction)), len(valid))
    rows = np.sort(rng.choice(valid, count, replace=False)) if count else np.array([], int)
    voided_at = np.minimum(chunk.event_time[rows] + rng.integers(60, 3 * 86400, count), end_s)
    return {
        "event_id": chunk.event_id.take(pa.array(rows, pa.int64())),
        "voided_at": voided_at,
        "reason": [VOID_REASONS[i] for i in rng.integers(0, len(VOID_REASONS), count)],
    }
