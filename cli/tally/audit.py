"""The audit ledger `ops.pipeline_runs`: one row per pipeline command, however it ends.

`@audited` wraps a click command's callback. When the command ends (success, error or Ctrl-C)
it appends a row: the command, its parameters with secrets redacted, the operating-system and
database users, the host, when it started, how long it took, what it changed and its outcome
with a one-line error. What it changed is read from where the work leaves its trace:

- load batches committed while the command ran (`raw.load_batches`, per kind: files, records
  read, loaded, duplicate, conflicting, quarantined);
- dbt's `run_results.json` when the command ran dbt (rows affected per model, from
  `adapter_response.rows_affected`, and the count of each node status);
- anything a module adds with `note(...)` while the command runs.

Batches are attributed by time: a load running at the same time in another process would be
counted too (docs/access.md). Recording never changes a command's outcome: when the database
cannot be reached (the command failed before it could, or the embedded server is not running)
the row is skipped, with a one-line warning only if the command itself succeeded.
"""

import contextvars
import functools
import getpass
import json
import os
import re
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from tally import __version__

REDACTED = "***"
PARTIAL_EXIT_STATUS = 3  # `tally load`: everything loaded but some records were quarantined
_SECRET_NAME = re.compile(r"pass|pwd|secret|key|token|credential", re.IGNORECASE)
# user:password@ in a URL. Both patterns bound their repetitions, so that they take linear time
# on long input (a 10 kB argument took 25 s with plain `*`).
_URL_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]{0,31}://[^/\s:@]{0,256}:)[^@\s]{0,1024}@",
    re.IGNORECASE,
)
# name=value where the name says secret: PGPASSWORD=x, ?password=x, sslkey='x y', api_key=x
_ASSIGNMENT = re.compile(
    r"(?P<name>[\w.-]{1,128})\s*=\s*(?:'[^']*'|\"[^\"]*\"|[^\s&;,]*)"
)


def _redact_assignment(match: re.Match) -> str:
    name = match["name"]
    return f"{name}={REDACTED}" if _SECRET_NAME.search(name) else match[0]


_changes: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "tally_audit_changes", default=None
)


def redact(value: Any, name: str = "", *, by_name: bool = True) -> Any:
    """`value` with secrets replaced by ***: values whose name says secret (dict keys, unless
    not `by_name`), passwords in URLs, and `name=value` pairs whose name says secret, in strings,
    lists and dicts alike."""
    if by_name and name and _SECRET_NAME.search(name) and value not in (None, "", [], (), {}):
        return REDACTED
    if isinstance(value, dict):
        return {str(k): redact(v, str(k), by_name=by_name) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, by_name=by_name) for v in value]
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        value = _URL_PASSWORD.sub(rf"\g<head>{REDACTED}@", value)
        return _ASSIGNMENT.sub(_redact_assignment, value)
    return value


def note(**changes: Any) -> None:
    """Add to what the running command changed (a no-op outside an audited command)."""
    current = _changes.get()
    if current is not None:
        current.update(changes)


def _one_line(error: BaseException) -> str:
    if isinstance(error, click.ClickException):
        message = error.format_message()
    elif isinstance(error, KeyboardInterrupt | click.Abort):
        message = "interrupted"
    else:
        message = f"{type(error).__name__}: {error}"
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return redact(lines[0] if lines else type(error).__name__)[:2000]


def _outcome(error: BaseException | None, status: Any) -> tuple[str, str | None]:
    """success or failure, and the one-line error, from what the callback raised or its exit
    status (0 success, PARTIAL_EXIT_STATUS done with records quarantined, else failed)."""
    if error is None:
        if isinstance(status, int) and status not in (0, PARTIAL_EXIT_STATUS):
            return "failure", f"exit status {status}"
        return "success", None
    return "failure", _one_line(error)


def _dbt_changes(since: float) -> dict[str, Any]:
    """What the dbt call of this command did, from run_results.json written after `since`."""
    from tally.dbt_invocation import artifacts_dir

    path = artifacts_dir() / "run_results.json"
    try:
        if path.stat().st_mtime < since:
            return {}
        results = json.loads(path.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return {}
    statuses: dict[str, int] = {}
    rows: dict[str, int] = {}
    for result in results:
        status = str(result.get("status", "unknown"))
        statuses[status] = statuses.get(status, 0) + 1
        affected = (result.get("adapter_response") or {}).get("rows_affected")
        unique_id = result.get("unique_id", "")
        if isinstance(affected, int) and affected >= 0 and unique_id.startswith("model."):
            rows[unique_id.split(".", 2)[-1]] = affected
    return {
        "dbt": {
            "nodes": len(results),
            "statuses": statuses,
            "rows_affected": sum(rows.values()),
            "rows_affected_by_model": rows,
        }
    }


def _load_changes(conn, started_at: datetime) -> dict[str, Any]:
    """Load batches committed since the command started, per kind."""
    if conn.execute("select to_regclass('raw.load_batches')").fetchone()[0] is None:
        return {}
    rows = conn.execute(
        "select kind, count(*), sum(records_read), sum(records_loaded), sum(records_duplicate),"
        " sum(records_conflicting), sum(records_quarantined)"
        " from raw.load_batches where status = 'loaded' and finished_at >= %s"
        " group by kind order by kind",
        [started_at],
    ).fetchall()
    names = ("files", "read", "loaded", "duplicate", "conflicting", "quarantined")
    changes: dict[str, Any] = {}
    loaded = {kind: dict(zip(names, map(int, counts), strict=True)) for kind, *counts in rows}
    if loaded:
        changes["load"] = loaded
    failed = conn.execute(
        "select file_name, failure_reason from raw.load_batches"
        " where status = 'failed' and started_at >= %s order by batch_id",
        [started_at],
    ).fetchall()
    if failed:
        changes["load_failed"] = [{"file": name, "reason": reason} for name, reason in failed]
    return changes


def _connect(target: str):
    """A connection to the target's database, or None when it cannot be had without starting
    anything: the embedded server is not started just to write the ledger."""
    import psycopg

    from tally.sql_spans import cursor_factory
    from tally.targets import database_url, embedded_server

    if target == "local" and not embedded_server().is_running():
        return None
    return psycopg.connect(
        database_url(target),
        autocommit=True,
        connect_timeout=10,
        options="-c timezone=UTC",
        application_name="tally audit",
        cursor_factory=cursor_factory(),
    )


def _record(row: dict[str, Any], started_wall: float) -> None:
    from tally.migrations import apply_pending
    from tally.targets import is_spark

    if is_spark(row["target"]):  # the run ledger is a PostgreSQL table; Spark keeps none
        return
    conn = _connect(row["target"])
    if conn is None:
        raise RuntimeError("the database is not running")
    with conn:
        # `tally db migrate` leaves the schema where it was asked to, ledger included
        if "schema_version" not in row["noted"]:
            apply_pending(conn)
        if conn.execute("select to_regclass('ops.pipeline_runs')").fetchone()[0] is None:
            raise RuntimeError("ops.pipeline_runs does not exist (its migration was reverted)")
        changes = {
            **_load_changes(conn, row["started_at"]),
            **_dbt_changes(started_wall),
            **row.pop("noted"),
        }
        if row["outcome"] == "failure" and changes.get("load_failed") and row["error"]:
            first = changes["load_failed"][0]
            row["error"] = f"{first['file']}: {first['reason']}".strip().splitlines()[0][:2000]
        if row["exit_status"]:
            changes["exit_status"] = row["exit_status"]
        # model and kind names such as dim_api_keys are no secrets: redact values only
        changes = redact(changes, by_name=False)
        row["error"] = redact(row["error"])
        conn.execute(
            "insert into ops.pipeline_runs (command, arguments, target, os_user, host, pid,"
            " tally_version, started_at, finished_at, duration_ms, outcome, error, changes)"
            " values (%s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)",
            [
                row["command"],
                json.dumps(row["arguments"], default=str),
                row["target"],
                row["os_user"],
                row["host"],
                os.getpid(),
                __version__,
                row["started_at"],
                row["finished_at"],
                row["duration_ms"],
                row["outcome"],
                row["error"],
                json.dumps(changes, default=str),
            ],
        )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def audited(callback):
    """Decorator for a click command callback: record the run in ops.pipeline_runs."""

    @functools.wraps(callback)
    def wrapper(*args, **kwargs):
        ctx = click.get_current_context(silent=True)
        command = " ".join(ctx.command_path.split()[1:]) if ctx else callback.__name__
        started_wall, started_monotonic = time.time(), time.monotonic()
        started_at = datetime.now(UTC)
        noted: dict[str, Any] = {}
        token = _changes.set(noted)
        error: BaseException | None = None
        status = None
        try:
            status = callback(*args, **kwargs)
            return status
        except (SystemExit, click.exceptions.Exit) as raised:  # the command's own exit status
            status = raised.code if isinstance(raised, SystemExit) else raised.exit_code
            raise
        except BaseException as raised:
            error = raised
            raise
        finally:
            _changes.reset(token)
            outcome, message = _outcome(error, status)
            row = {
                "command": command,
                "arguments": redact(kwargs),
                "target": kwargs.get("target") or os.environ.get("TALLY_TARGET", "local"),
                "os_user": _os_user(),
                "host": socket.gethostname(),
                "started_at": started_at,
                "finished_at": datetime.now(UTC),
                "duration_ms": round((time.monotonic() - started_monotonic) * 1000),
                "outcome": outcome,
                "error": message,
                "noted": noted,
                "exit_status": status if isinstance(status, int) else None,
            }
            try:
                _record(row, started_wall)
            except Exception as failure:  # the ledger never changes the command's outcome
                if outcome == "success":
                    click.echo(
                        f"Warning: this run was not recorded in ops.pipeline_runs: "
                        f"{_one_line(failure)}",
                        err=True,
                    )

    return wrapper
