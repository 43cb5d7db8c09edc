"""A span for each SQL statement tally runs itself: a psycopg cursor class that wraps execute,
executemany and COPY, given to the connections tally opens while tracing is on (tally.tracing).

Span names are the statement's first word (`select`, `insert`, `copy`, ...) as the database
semantic conventions suggest when no summary is known; `db.query.text` holds the statement
(parameters apart, so no value loaded ever reaches a trace), cut at 2,000 characters.
"""

import contextlib

import psycopg

from tally import tracing

_TEXT_LIMIT = 2000


def _text(conn, query) -> str:
    if isinstance(query, bytes):
        return query.decode("utf-8", "replace")
    if isinstance(query, str):
        return query
    try:
        return query.as_string(conn)
    except (psycopg.Error, TypeError, ValueError):
        return str(query)


def _span(conn, query):
    text = _text(conn, query).strip()
    verb = (text.split(None, 1) or ["sql"])[0].lower()
    return tracing.span(
        verb,
        **{
            "db.system.name": "postgresql",
            "db.namespace": conn.info.dbname,
            "db.operation.name": verb,
            "db.query.text": text[:_TEXT_LIMIT],
        },
    )


class TracedCursor(psycopg.Cursor):
    def execute(self, query, params=None, **kwargs):
        with _span(self.connection, query) as span:
            result = super().execute(query, params, **kwargs)
            if self.rowcount >= 0:
                span.set_attribute("db.response.returned_rows", self.rowcount)
            return result

    def executemany(self, query, params_seq, **kwargs):
        with _span(self.connection, query):
            return super().executemany(query, params_seq, **kwargs)

    @contextlib.contextmanager
    def copy(self, statement, params=None, **kwargs):
        with _span(self.connection, statement), super().copy(statement, params, **kwargs) as copy:
            yield copy


def cursor_factory() -> type[psycopg.Cursor]:
    """The cursor class for a new connection: traced while tracing is on."""
    return TracedCursor if tracing.enabled() else psycopg.Cursor
