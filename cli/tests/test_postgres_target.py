"""The `postgres` target on Debian's PostgreSQL 15 (ci/postgres15.sh installs it): a cluster of
the test's own, started as an unprivileged user on a Unix socket, and a build role that is no
superuser and may not create roles. The migration cycle and one whole pipeline run there: load,
rollup, verify, backup and restore, and row-level security holds for tenants."""

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from conftest import query, run_tally
from db_state import check_migration_cycle, checksums
from tally.migrations import available

PG15_BIN = Path(os.environ.get("TALLY_PG15_BIN", "/usr/lib/postgresql/15/bin"))
PORT = 5415  # names the socket file: the cluster opens no TCP port
BUILD_ROLE = "tally_build"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (PG15_BIN / "initdb").exists(),
        reason="PostgreSQL 15 is not installed: run ci/postgres15.sh",
    ),
]


def _url(socket_dir: Path, user: str, database: str) -> str:
    return f"postgresql://{user}@/{database}?host={quote(str(socket_dir), safe='')}&port={PORT}"


@pytest.fixture(scope="module")
def pg15():
    """A PostgreSQL 15 cluster (as `postgres` when the tests run as root), its database
    `tally` owned by a plain login role, and the environment that makes it the target."""
    root = Path(tempfile.mkdtemp(prefix="tally-pg15-"))
    root.chmod(0o755)
    data, sockets = root / "data", root / "run"
    sockets.mkdir()
    owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    ids = {"user": owner.pw_uid, "group": owner.pw_gid} if owner else {}
    if owner:
        os.chown(root, owner.pw_uid, owner.pw_gid)
        os.chown(sockets, owner.pw_uid, owner.pw_gid)

    def pg(tool: str, *args: str) -> None:
        subprocess.run(
            [str(PG15_BIN / tool), *args], check=True, capture_output=True, cwd=root, **ids
        )

    pg("initdb", "-D", str(data), "-U", "admin", "--auth=trust", "--locale=C", "-E", "UTF8")
    options = f"-c listen_addresses='' -k {sockets} -p {PORT}"
    pg("pg_ctl", "start", "-D", str(data), "-l", str(root / "server.log"), "-w", "-o", options)
    admin = _url(sockets, "admin", "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"create role {BUILD_ROLE} login nosuperuser nocreaterole nocreatedb")
        conn.execute("create role tally_analyst nologin")
        conn.execute("create role tally_tenant nologin")
        conn.execute(f"create database tally owner {BUILD_ROLE}")
    env = {
        **os.environ,
        "TALLY_TARGET": "postgres",
        "TALLY_HOME": str(root / "home"),
        "PGHOST": str(sockets),
        "PGPORT": str(PORT),
        "PGUSER": BUILD_ROLE,
        "PGDATABASE": "tally",
    }
    yield {"env": env, "admin": admin, "sockets": sockets, "root": root}
    pg("pg_ctl", "stop", "-D", str(data), "-m", "fast", "-w")
    shutil.rmtree(root, ignore_errors=True)


def test_a_whole_pipeline_on_postgresql_15(pg15, tmp_path):
    env, url = pg15["env"], _url(pg15["sockets"], BUILD_ROLE, "tally")
    assert query(
        url, "select rolsuper or rolcreaterole from pg_roles where rolname = current_user"
    )[0] == (False,)
    assert query(url, "select current_setting('server_version_num')::int / 10000")[0][0] == 15
    first, second = tmp_path / "first", tmp_path / "second"
    run_tally("generate", "--events", "3000", "--out", str(first), "--seed", "5", env=env)
    run_tally("generate", "--events", "1000", "--out", str(second), "--seed", "6", env=env)
    assert run_tally("load", str(first), check=False, env=env).returncode == 3
    run_tally("rollup", env=env)
    verified = run_tally("verify", check=False, env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    backup = tmp_path / "pg15.dump"
    run_tally("db", "backup", str(backup), env=env)
    before = checksums(url, ("ops.pipeline_runs",))
    assert run_tally("load", str(second), check=False, env=env).returncode == 3
    run_tally("rollup", env=env)
    assert checksums(url, ("ops.pipeline_runs",)) != before
    run_tally("db", "restore", str(backup), env=env)
    assert checksums(url, ("ops.pipeline_runs",)) == before
    run_tally("rollup", env=env)

    # row-level security: a tenant sees its own organization's rows, the analyst all
    with psycopg.connect(pg15["admin"].replace("/postgres?", "/tally?"), autocommit=True) as conn:
        total, orgs = conn.execute(
            "select count(*), count(distinct org_id) from analytics.fct_usage_hourly"
        ).fetchone()
        org = conn.execute("select min(org_id) from analytics.fct_usage_hourly").fetchone()[0]
        own = conn.execute(
            "select count(*) from analytics.fct_usage_hourly where org_id = %s", [org]
        ).fetchone()[0]
        conn.execute("set role tally_tenant")
        assert conn.execute("select count(*) from analytics.fct_usage_hourly").fetchone() == (0,)
        conn.execute("select set_config('tally.org_id', %s, false)", [org])
        seen = conn.execute(
            "select count(*), min(org_id), max(org_id) from analytics.fct_usage_hourly"
        )
        assert seen.fetchone() == (own, org, org) and orgs > 1
        conn.execute("reset role")
        conn.execute("set role tally_analyst")
        assert conn.execute("select count(*) from analytics.fct_usage_hourly").fetchone() == (
            total,
        )


@pytest.mark.parametrize("migration", available(), ids=lambda m: m.label)
def test_the_migration_cycle_on_postgresql_15(pg15, migration, tmp_path):
    env, admin = pg15["env"], pg15["admin"]
    url = _url(pg15["sockets"], BUILD_ROLE, "tally")
    if not query(url, "select to_regclass('raw.events') is not null")[0][0]:
        run_tally("generate", "--events", "2000", "--out", str(tmp_path), "--seed", "7", env=env)
        run_tally("load", str(tmp_path), check=False, env=env)
        run_tally("rollup", env=env)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("drop database if exists tally_cycle")
        conn.execute(f"create database tally_cycle owner {BUILD_ROLE} template tally")
    check_migration_cycle(_url(pg15["sockets"], BUILD_ROLE, "tally_cycle"), migration)
