"""`tally generate --format sqlite`: the legacy application's SQLite database, with its looseness.

The same population and traffic as the other formats, written as the earlier application kept
them: one `app.db` with organizations, users, API keys, usage events and an audit log, plus a
table of its own (`schema_migrations`) that tally does not load. SQLite stores what it is given,
and so did the application: timestamps as ISO-8601 text with or without an offset, as
`YYYY-MM-DD HH:MM:SS` or as Unix seconds; token counts sometimes as text; statuses as ok,
success, 200, error, failed or an HTTP code. The `bad` share of events and audit entries break a
rule (the file formats' bad kinds, plus statuses and metadata of their own).
"""

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import numpy as np

from tally.generate import population
from tally.generate.events import make_chunk
from tally.generate.tables import text_events

FILE_NAME = "app.db"
SCHEMA = """
create table organizations (id text primary key, name text, timezone text, plan text,
    created_at timestamp);
create table users (id text primary key, organization_id text, email text, role text,
    created_at timestamp, deleted_at timestamp);
create table api_keys (id text primary key, organization_id text, user_id text, prefix text,
    key_hash text, created_at timestamp, revoked_at timestamp);
create table usage_events (id text primary key, organization_id text, user_id text,
    api_key_id text, model text, created_at timestamp, prompt_tokens integer,
    completion_tokens integer, cached_tokens integer, reasoning_tokens integer, status text,
    latency_ms integer);
create table audit_log (id integer primary key autoincrement, organization_id text,
    actor_user_id text, action text, target_type text, target_id text, metadata text,
    created_at timestamp);
create table schema_migrations (version text primary key, applied_at timestamp);
"""
ACTIONS = (
    ("api_key.created", "api_key"),
    ("api_key.revoked", "api_key"),
    ("user.invited", "user"),
    ("user.role_changed", "user"),
    ("organization.plan_changed", "organization"),
    ("user.login", "user"),
)
SUCCESS_SPELLINGS = ("ok", "success", "200")
ERROR_SPELLINGS = ("error", "failed", "500", "429", "503")


def _loose_time(iso_z: str, rng: np.random.Generator) -> str | int:
    """An ISO `...Z` instant as the application may have stored it."""
    style = rng.random()
    if style < 0.6:
        return iso_z.replace("T", " ").rstrip("Z")  # naive: UTC
    if style < 0.8:
        return int(np.datetime64(iso_z.rstrip("Z"), "s").astype(np.int64))
    return iso_z


def _entities(db: sqlite3.Connection, people: population.Population, rng) -> None:
    db.executemany(
        "insert into organizations values (?, ?, ?, ?, ?)",
        [
            (
                o["org_id"],
                o["name"],
                o["timezone"] or None,
                o["plan"],
                _loose_time(o["created_at"], rng),
            )
            for o in people.organizations
        ],
    )
    db.executemany(
        "insert into users values (?, ?, ?, ?, ?, ?)",
        [
            (
                u["user_id"],
                u["org_id"],
                u["email"],
                ("owner", "member", "viewer")[i % 3],
                _loose_time(u["created_at"], rng),
                None if i % 40 else u["created_at"],
            )
            for i, u in enumerate(people.users)
        ],
    )
    db.executemany(
        "insert into api_keys values (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                k["api_key_id"],
                k["org_id"],
                k["user_id"] or None,
                k["key_prefix"],
                f"{rng.integers(0, 1 << 62):016x}",
                _loose_time(k["created_at"], rng),
                _loose_time(k["revoked_at"], rng) if k["revoked_at"] else None,
            )
            for k in people.api_keys
        ],
    )


def _events(chunk, people, seed: int, first: int, rng) -> list[tuple]:
    table = text_events(chunk, people, seed)
    n = table.num_rows
    status = table["status"].to_numpy(zero_copy_only=False)
    spelled = np.where(
        status == "success",
        np.array(SUCCESS_SPELLINGS)[rng.integers(0, len(SUCCESS_SPELLINGS), n)],
        np.array(ERROR_SPELLINGS)[rng.integers(0, len(ERROR_SPELLINGS), n)],
    )
    spelled = np.where(status == "ok", "pending", spelled)  # the bad status of the files
    unix = (rng.random(n) < 0.2) & (chunk.bad < 0)  # a bad time stays as the files have it
    times = [
        int(seconds) if as_unix else text
        for text, seconds, as_unix in zip(
            table["event_time"].to_pylist(), chunk.event_time, unix, strict=True
        )
    ]
    # SQLite lets a TEXT primary key be NULL (more than once), but not the same text twice
    ids = [
        e if e is None or len(e) <= 128 else f"{e[:123]}{first + i:06d}"
        for i, e in enumerate(table["event_id"].to_pylist())
    ]
    inputs = table["input_tokens"].to_pylist()
    outputs = table["output_tokens"].to_pylist()
    as_text = rng.random(n) < 0.1
    cached = (chunk.input_tokens * rng.uniform(0, 0.6, n)).astype(np.int64)
    reasoning = (chunk.output_tokens * rng.uniform(0, 0.3, n)).astype(np.int64)
    return [
        (
            event_id,
            org,
            user,
            key,
            model,
            time,
            _number(i, text),
            _number(o, text),
            int(c) if rng_c else None,
            int(r) if rng_c else None,
            str(st),
            _number(lat, False),
        )
        for event_id, org, user, key, model, time, i, o, text, c, r, rng_c, st, lat in zip(
            ids,
            table["org_id"].to_pylist(),
            table["user_id"].to_pylist(),
            table["api_key_id"].to_pylist(),
            table["model_id"].to_pylist(),
            times,
            inputs,
            outputs,
            as_text,
            cached,
            reasoning,
            rng.random(n) < 0.5,
            spelled,
            table["latency_ms"].to_pylist(),
            strict=True,
        )
    ]


def _number(text: str | None, keep_text: bool) -> str | int | None:
    """A count as the application stored it: an integer, or now and then its text."""
    if text is None or keep_text or not text.lstrip("-").isdigit():
        return text
    return int(text)


def _audit(people: population.Population, rows: int, bad: float, rng, end) -> list[tuple]:
    entries = []
    for i in range(rows):
        action, target_type = ACTIONS[int(rng.integers(0, len(ACTIONS)))]
        user = int(rng.integers(0, len(people.user_ids)))
        org = people.org_ids[people.user_org[user]]
        moment = end - timedelta(seconds=int(rng.integers(0, 86400 * 30)))
        metadata = json.dumps(
            {
                "ip": f"203.0.113.{int(rng.integers(1, 255))}",
                "email": f"person{user}@org{people.user_org[user]}.example.com",
                "via": ("console", "api")[i % 2],
            }
        )
        created = _loose_time(moment.strftime("%Y-%m-%dT%H:%M:%SZ"), rng)
        if rng.random() < bad:
            kind = int(rng.integers(0, 3))
            metadata = "{not json" if kind == 0 else metadata
            created = "last tuesday" if kind == 1 else created
            org = None if kind == 2 else org
        target = people.user_ids[user] if target_type == "user" else f"{target_type}_{i}"
        entries.append((org, people.user_ids[user], action, target_type, target, metadata, created))
    return entries


def write_legacy_database(
    events: int, out: Path, seed: int, fractions: dict[str, float], days: int, end
) -> dict[str, int]:
    """Write out/app.db; returns its path -> rows per table."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    path = out / FILE_NAME
    path.unlink(missing_ok=True)
    window_start = end - timedelta(days=days)
    people = population.build(rng, events, window_start, days, seed)
    db = sqlite3.connect(path)
    try:
        db.executescript(SCHEMA)
        db.execute("insert into schema_migrations values ('20240101_init', '2024-01-01')")
        _entities(db, people, rng)
        shares = {**fractions, "duplicates": 0.0, "voided": 0.0}  # a primary key, no voids
        start_s = int(window_start.timestamp())
        for first in range(0, events, 200_000):
            size = min(200_000, events - first)
            chunk = make_chunk(rng, people, first, size, start_s, days, shares, seed)
            db.executemany(
                "insert into usage_events values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _events(chunk, people, seed, first, rng),
            )
        db.executemany(
            "insert into audit_log (organization_id, actor_user_id, action, target_type,"
            " target_id, metadata, created_at) values (?, ?, ?, ?, ?, ?, ?)",
            _audit(people, max(10, events // 50), fractions["bad"], rng, end),
        )
        db.commit()
        counts = {
            table: db.execute(f"select count(*) from {table}").fetchone()[0]
            for table in ("organizations", "users", "api_keys", "usage_events", "audit_log")
        }
    finally:
        db.close()
    return {f"{path}:{table}": rows for table, rows in counts.items()}
