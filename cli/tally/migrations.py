"""Versioned SQL migrations of the tables tally owns, applied and reverted safely.

Each migration is a pair `NNNN_name.up.sql` / `NNNN_name.down.sql` in the migrations folder;
applied versions are recorded in `ops.schema_migrations` with when they were applied. Every
command that touches the raw layer applies what is pending first, under an advisory lock so that
concurrent commands agree. `migrate_to` goes up or down to a version in one transaction; a down
script that would drop data (a table that holds rows, or a column holding a value) is refused
unless the caller allows data loss, and then nothing changes. Each migration applied or reverted
is noted for the audit ledger (tally.audit) with how long it took.
"""

import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql

from tally import locks
from tally.audit import note
from tally.errors import TallyError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
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
    conn.execute("select pg_advisory_xact_lock(%s)", [locks.MIGRATIONS])
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


def _catalog(conn: psycopg.Connection) -> dict[str, set[str]]:
    """Every table of every schema but PostgreSQL's own, with its columns (names quoted)."""
    rows = conn.execute(
        "select format('%%I.%%I', n.nspname, c.relname), array_agg(quote_ident(a.attname))"
        " from pg_class as c"
        " join pg_namespace as n on n.oid = c.relnamespace"
        " join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped"
        " where c.relkind in ('r', 'p') and n.nspname <> all(%s)"
        " and n.nspname not like 'pg\\_temp\\_%%'"
        " group by n.nspname, c.relname",
        [list(SYSTEM_SCHEMAS)],
    ).fetchall()
    return {name: set(columns) for name, columns in rows}


def _gone(before: dict[str, set[str]], after: dict[str, set[str]]) -> list[tuple[str, str | None]]:
    """(table, None) for each table dropped, (table, column) for each column dropped."""
    gone: list[tuple[str, str | None]] = []
    for table, columns in sorted(before.items()):
        if table not in after:
            gone.append((table, None))
        else:
            gone += [(table, column) for column in sorted(columns - after[table])]
    return gone


def _holding_data(conn: psycopg.Connection, gone: list[tuple[str, str | None]]) -> list[str]:
    """Of the tables and columns a down script drops, those holding data: a table with a row,
    a column with a value that is not NULL (names come quoted from the catalog)."""
    lost = []
    for table, column in gone:
        where = sql.SQL(f"where {column} is not null" if column else "")
        query = sql.SQL("select exists (select from {} {})").format(sql.SQL(table), where)
        if conn.execute(query).fetchone()[0]:
            lost.append(f"column {table}.{column}" if column else f"table {table}")
    return lost


def _revert(
    conn: psycopg.Connection, reverting: list[Migration], allow_data_loss: bool
) -> list[Step]:
    """Run the down scripts, newest first. When they drop tables or columns, they are undone
    (savepoint) to look at what those held, and run again only if that is nothing or allowed."""
    before = _catalog(conn)
    with conn.transaction() as savepoint:
        steps = [_down(conn, m) for m in reverting]
        gone = _gone(before, _catalog(conn))
        if not gone:
            return steps
        raise psycopg.Rollback(savepoint)
    lost = _holding_data(conn, gone)
    if lost and not allow_data_loss:
        raise DataLossRefused(
            f"reverting {', '.join(m.label for m in reverting)} would drop data: "
            f"{'; '.join(lost)}. Nothing was changed; take a backup (tally db backup PATH)"
            " and run again with --allow-data-loss to go ahead",
            lost,
        )
    return [_down(conn, m) for m in reverting]


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
        steps = _revert(conn, reverting, allow_data_loss) if reverting else []
        steps += [_up(conn, m) for m in known if m.version <= target and m.version not in applied]
    return _noted(steps)
