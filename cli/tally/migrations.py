"""Versioned SQL migrations of the tables tally owns, applied and reverted safely.

Each migration is a pair `NNNN_name.up.sql` / `NNNN_name.down.sql` in the migrations folder;
applied versions are recorded in `ops.schema_migrations` with when they were applied. Every
command that touches the raw layer applies what is pending first, under an advisory lock so that
concurrent commands agree. `migrate_to` goes up or down to a version in one transaction; a down
script that would drop data (a table that holds rows, or a column of one) is refused unless the
caller allows data loss, and then nothing changes. Each migration applied or reverted is noted
for the audit ledger (tally.audit) with how long it took.
"""

import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql

from tally.audit import note
from tally.errors import TallyError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
LOCK_KEY = 7_424_911  # pg_advisory_xact_lock key that serialises migrations
_FILE_NAME = re.compile(r"^(\d{4})_(\w+)\.up\.sql$")
# Schemas that are PostgreSQL's own: never tally's data.
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


@dataclass(frozen=True, order=True)
class Migration:
    version: int
    name: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"

    @property
    def up(self) -> str:
        return (MIGRATIONS_DIR / f"{self.label}.up.sql").read_text()

    @property
    def down(self) -> str:
        return (MIGRATIONS_DIR / f"{self.label}.down.sql").read_text()


@dataclass(frozen=True)
class Step:
    """One migration applied (`up`) or reverted (`down`), and how long it took."""

    migration: Migration
    direction: str
    seconds: float

    def as_dict(self) -> dict:
        return {
            "version": self.migration.version,
            "name": self.migration.name,
            "direction": self.direction,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class State:
    """A migration known to this tally or recorded in the database; applied_at None = pending."""

    migration: Migration
    applied_at: datetime | None
    known: bool = True  # False: applied by a newer tally, whose scripts this one lacks

    def as_dict(self) -> dict:
        return {
            "version": self.migration.version,
            "name": self.migration.name,
            "status": "applied" if self.applied_at else "pending",
            "applied_at": self.applied_at.isoformat() if self.applied_at else None,
            "known": self.known,
        }


class DataLossRefused(TallyError):
    """A down migration would drop data and the caller did not allow it."""

    def __init__(self, message: str, lost: list[str]):
        super().__init__(message)
        self.lost = lost  # "table raw.events", "column raw.events.latency_ms", ...


def available() -> list[Migration]:
    found = (_FILE_NAME.match(path.name) for path in MIGRATIONS_DIR.glob("*.up.sql"))
    return sorted(Migration(int(m[1]), m[2]) for m in found if m)


def _applied(conn: psycopg.Connection) -> dict[int, tuple[str, datetime]]:
    """Locks the migrations and returns version -> (name, applied_at) of those applied."""
    conn.execute("select pg_advisory_xact_lock(%s)", [LOCK_KEY])
    conn.execute("create schema if not exists ops")
    conn.execute(
        "create table if not exists ops.schema_migrations ("
        " version integer primary key, name text not null,"
        " applied_at timestamptz not null default now())"
    )
    rows = conn.execute("select version, name, applied_at from ops.schema_migrations")
    return {version: (name, applied_at) for version, name, applied_at in rows}


def status(conn: psycopg.Connection) -> list[State]:
    """Every migration, applied or pending, in version order."""
    with conn.transaction():
        applied = _applied(conn)
    known = {m.version: m for m in available()}
    states = [State(m, applied.get(m.version, (None, None))[1]) for m in known.values()]
    states += [
        State(Migration(version, name), applied_at, known=False)
        for version, (name, applied_at) in applied.items()
        if version not in known
    ]
    return sorted(states, key=lambda s: s.migration)


def _up(conn: psycopg.Connection, migration: Migration) -> Step:
    started = time.monotonic()
    conn.execute(migration.up)
    conn.execute(
        "insert into ops.schema_migrations (version, name) values (%s, %s)",
        [migration.version, migration.name],
    )
    return Step(migration, "up", time.monotonic() - started)


def _down(conn: psycopg.Connection, migration: Migration) -> Step:
    started = time.monotonic()
    conn.execute(migration.down)
    conn.execute("delete from ops.schema_migrations where version = %s", [migration.version])
    return Step(migration, "down", time.monotonic() - started)


def _noted(steps: list[Step]) -> list[Step]:
    if steps:
        note(migrations=[step.as_dict() for step in steps])
    return steps


def apply_pending(conn: psycopg.Connection) -> list[Migration]:
    """Apply every migration not yet applied, in one transaction; returns those applied."""
    with conn.transaction():
        applied = _applied(conn)
        steps = [_up(conn, m) for m in available() if m.version not in applied]
    return [step.migration for step in _noted(steps)]


def _holdings(conn: psycopg.Connection) -> dict[str, set[str]]:
    """Every table that holds at least one row, with its columns: what a down script could lose."""
    tables = conn.execute(
        "select format('%%I.%%I', n.nspname, c.relname),"
        " array_agg(a.attname::text order by a.attnum)"
        " from pg_class as c"
        " join pg_namespace as n on n.oid = c.relnamespace"
        " join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped"
        " where c.relkind in ('r', 'p') and not c.relispartition"
        " and n.nspname <> all(%s) and n.nspname not like 'pg\\_temp\\_%%'"
        " group by n.nspname, c.relname",
        [list(SYSTEM_SCHEMAS)],
    ).fetchall()
    holding = {}
    for name, columns in tables:  # names quoted by format('%I.%I')
        query = sql.SQL("select exists (select from {})").format(sql.SQL(name))
        if conn.execute(query).fetchone()[0]:
            holding[name] = set(columns)
    return holding


def _lost(before: dict[str, set[str]], conn: psycopg.Connection) -> list[str]:
    """What held data before and is gone now: whole tables, or columns of tables."""
    after = _holdings_schema(conn)
    lost = []
    for table, columns in sorted(before.items()):
        if table not in after:
            lost.append(f"table {table}")
        else:
            lost += [f"column {table}.{c}" for c in sorted(columns - after[table])]
    return lost


def _holdings_schema(conn: psycopg.Connection) -> dict[str, set[str]]:
    """Every table and its columns, whether it holds rows or not."""
    rows = conn.execute(
        "select format('%%I.%%I', n.nspname, c.relname), array_agg(a.attname::text)"
        " from pg_class as c"
        " join pg_namespace as n on n.oid = c.relnamespace"
        " join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped"
        " where c.relkind in ('r', 'p') and n.nspname <> all(%s)"
        " group by n.nspname, c.relname",
        [list(SYSTEM_SCHEMAS)],
    ).fetchall()
    return {name: set(columns) for name, columns in rows}


def migrate_to(
    conn: psycopg.Connection, version: int | None = None, *, allow_data_loss: bool = False
) -> list[Step]:
    """Apply or revert migrations until every known one up to `version` is applied and none
    above it (None: the newest known; 0: none), in one transaction. Raises DataLossRefused,
    having changed nothing, when a down script would drop a table that holds rows or a column of
    one, unless allow_data_loss."""
    known = available()
    newest = known[-1].version if known else 0
    if version is not None and version > newest:
        raise TallyError(f"no migration {version:04d}: the newest this tally knows is {newest:04d}")
    target = newest if version is None else version
    with conn.transaction():
        applied = _applied(conn)
        unknown = sorted(v for v in applied if v > target and v not in {m.version for m in known})
        if unknown:
            raise TallyError(
                f"migration {unknown[0]:04d} was applied by a newer tally, whose down script this"
                " one does not have: revert it with that version first"
            )
        reverting = [m for m in reversed(known) if m.version in applied and m.version > target]
        before = _holdings(conn) if reverting else {}
        steps = [_down(conn, m) for m in reversed(known) if m in reverting]
        lost = _lost(before, conn) if reverting else []
        if lost and not allow_data_loss:
            raise DataLossRefused(
                f"reverting {', '.join(m.label for m in reverting)} would drop data: "
                f"{'; '.join(lost)}. Nothing was changed; take a backup (tally db backup PATH)"
                " and run again with --allow-data-loss to go ahead",
                lost,
            )
        steps += [_up(conn, m) for m in known if m.version <= target and m.version not in applied]
    return _noted(steps)
