"""Versioned SQL migrations of the raw layer, owned by the CLI.

Each migration is a pair `NNNN_name.up.sql` / `NNNN_name.down.sql` in the migrations folder;
applied versions are recorded in `ops.schema_migrations`. Every command that touches the raw
layer applies what is pending first, under an advisory lock so that concurrent commands agree.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tally import locks

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_FILE_NAME = re.compile(r"^(\d{4})_(\w+)\.up\.sql$")


@dataclass(frozen=True, order=True)
class Migration:
    version: int
    name: str

    @property
    def up(self) -> str:
        return (MIGRATIONS_DIR / f"{self.version:04d}_{self.name}.up.sql").read_text()

    @property
    def down(self) -> str:
        return (MIGRATIONS_DIR / f"{self.version:04d}_{self.name}.down.sql").read_text()


def available() -> list[Migration]:
    found = (_FILE_NAME.match(path.name) for path in MIGRATIONS_DIR.glob("*.up.sql"))
    return sorted(Migration(int(m[1]), m[2]) for m in found if m)


def _applied_versions(conn: psycopg.Connection) -> set[int]:
    conn.execute("select pg_advisory_xact_lock(%s)", [locks.MIGRATIONS])
    conn.execute("create schema if not exists ops")
    conn.execute(
        "create table if not exists ops.schema_migrations ("
        " version integer primary key, name text not null,"
        " applied_at timestamptz not null default now())"
    )
    return {row[0] for row in conn.execute("select version from ops.schema_migrations")}


def apply_pending(conn: psycopg.Connection) -> list[Migration]:
    """Apply every migration not yet applied, in one transaction; returns those applied."""
    with conn.transaction():
        applied = _applied_versions(conn)
        pending = [m for m in available() if m.version not in applied]
        for migration in pending:
            conn.execute(migration.up)
            conn.execute(
                "insert into ops.schema_migrations (version, name) values (%s, %s)",
                [migration.version, migration.name],
            )
    return pending


def revert_to(conn: psycopg.Connection, version: int) -> list[Migration]:
    """Run the down scripts of every applied migration above `version`, newest first."""
    with conn.transaction():
        applied = _applied_versions(conn)
        reverting = [
            m for m in reversed(available()) if m.version in applied and m.version > version
        ]
        for migration in reverting:
            conn.execute(migration.down)
            conn.execute(
                "delete from ops.schema_migrations where version = %s", [migration.version]
            )
    return reverting
