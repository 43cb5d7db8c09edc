"""The embedded PostgreSQL of the `local` target: start, share, stop, recover."""

import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
from conftest import run_tally
from tally.embedded_db import EmbeddedServer


def _postgres_pids(server: EmbeddedServer) -> list[int]:
    found = subprocess.run(["pgrep", "-f", str(server.pgdata)], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def test_url_answers_psql(db_url):
    result = subprocess.run(
        ["psql", run_tally("db", "url").stdout.strip(), "-Atc", "select 1"],
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == "1", result.stderr


def test_stop_leaves_no_server_and_any_command_restarts_it(tally_home, db_url):
    server = EmbeddedServer(tally_home)
    assert run_tally("db", "stop").stdout.strip() == "stopped"
    assert _postgres_pids(server) == []
    assert run_tally("db", "status", check=False).returncode == 3
    run_tally("db", "url")  # needs the database, so starts it
    assert run_tally("db", "status").stdout.startswith("running")


def test_kill_9_is_recovered_by_the_next_command(tally_home, db_url):
    server = EmbeddedServer(tally_home)
    server.start()
    with psycopg.connect(db_url) as conn:  # a backend that outlives its postmaster for a moment
        os.kill(server.pid(), signal.SIGKILL)
        time.sleep(0.2)
        assert not server.is_running()
        url = run_tally("db", "url").stdout.strip()
        del conn
    with psycopg.connect(url) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_concurrent_commands_share_one_server(tally_home, db_url):
    run_tally("db", "stop")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: run_tally("db", "start"), range(4)))
    outputs = [r.stdout.split(":")[0] for r in results]
    assert sorted(outputs) == ["already running"] * 3 + ["started"]
    assert len({r.stdout.split("pid ")[1].split(",")[0] for r in results}) == 1
