"""The dbt targets tally runs against and how to reach each one's PostgreSQL database."""

import os
from urllib.parse import quote

from tally.embedded_db import EmbeddedServer
from tally.errors import TallyError
from tally.paths import tally_home

DEFAULT_TARGET = "local"
POSTGRES_TARGETS = ("local", "postgres")
SPARK_TARGET = "spark"  # Apache Spark through dbt-spark (tally.spark)


def is_spark(target: str) -> bool:
    return target == SPARK_TARGET


def default_target() -> str:
    return os.environ.get("TALLY_TARGET", DEFAULT_TARGET)


def embedded_server(target: str = DEFAULT_TARGET) -> EmbeddedServer:
    """The embedded server of the `local` target; any other target is a server of its own."""
    if target != DEFAULT_TARGET:
        raise TallyError(f"target '{target}' has no embedded database (only 'local' has one);"
                         f" its address: tally db url --target {target}")
    return EmbeddedServer(tally_home())


def _own_server_url() -> str:
    """The `postgres` target: a user's own server, from the libpq environment variables."""
    host = os.environ.get("PGHOST", "localhost")
    user = quote(os.environ.get("PGUSER", "postgres"), safe="")
    password = os.environ.get("PGPASSWORD", "")
    credentials = f"{user}:{quote(password, safe='')}" if password else user
    port = os.environ.get("PGPORT", "5432")
    database = quote(os.environ.get("PGDATABASE", "tally"), safe="")
    if host.startswith("/"):
        return f"postgresql://{credentials}@/{database}?host={quote(host, safe='')}&port={port}"
    return f"postgresql://{credentials}@{host}:{port}/{database}"


def start_embedded_database() -> tuple[EmbeddedServer, bool]:
    """Start the embedded server if it is not running and bring its raw layer and tally's own
    tables up to date, so that a hand-run `dbt build` finds them; (server, whether this call
    started it)."""
    import psycopg

    from tally.migrations import apply_pending

    server = embedded_server()
    started = server.start()
    with psycopg.connect(server.url(), autocommit=True) as conn:
        apply_pending(conn)
    return server, started


def database_url(target: str) -> str:
    """A libpq URI of the target's database, starting the embedded server when it is needed."""
    if target == "local":
        server = embedded_server()
        if not server.is_running():
            server, _ = start_embedded_database()
        return server.url()
    if target == "postgres":
        return _own_server_url()
    if is_spark(target):
        raise TallyError(
            "target 'spark' has no PostgreSQL database: its tables are in the Spark warehouse"
            " (spark-sql, or dbt with the spark target)"
        )
    raise TallyError(
        f"target '{target}' has no PostgreSQL database; choose one of: "
        + ", ".join(POSTGRES_TARGETS)
    )


def dbt_environment(target: str) -> dict[str, str]:
    """Variables the profile in profiles.example.yml reads for this target."""
    if target == "local":
        return {"TALLY_LOCAL_SOCKET_DIR": str(embedded_server().socket_dir)}
    if is_spark(target):
        from tally.spark.environment import dbt_variables, require_spark

        require_spark()
        return dbt_variables()
    return {}
