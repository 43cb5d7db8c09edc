"""Connections to the active target's database."""

import psycopg

from tally.sql_spans import cursor_factory
from tally.targets import database_url


def connect(target: str, *, autocommit: bool = False) -> psycopg.Connection:
    """A connection whose session time zone is UTC, so no result depends on the server's."""
    return psycopg.connect(
        database_url(target),
        autocommit=autocommit,
        options="-c timezone=UTC",
        application_name="tally",
        cursor_factory=cursor_factory(),
    )
