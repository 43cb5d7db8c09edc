"""What commands say on stderr: plain lines, or one JSON object a line.

Every command writes its messages, warnings and errors to stderr (click.echo(err=True), Python's
warnings and logging). With `--log-format json` or TALLY_LOG_FORMAT=json, sys.stderr is replaced
by a stream that writes each line as one JSON object: `ts` (UTC, ISO-8601), `level` (debug, info,
warning, error), `command` (e.g. `load`, `db start`), `msg`, and `trace_id` while a trace is
recorded (tally.tracing). dbt's own events, which dbt prints on stdout in text mode, come through
`dbt_callback` in the same form, with dbt's event name and node.
"""

import atexit
import io
import json
import re
import sys
from datetime import UTC, datetime

import click

FORMATS = ("text", "json")
ENV_VAR = "TALLY_LOG_FORMAT"
_DBT_LEVELS = {"debug": "debug", "info": "info", "warn": "warning", "error": "error"}
_ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
_command = "tally"


def _level_of(line: str) -> str:
    """A plain line's level from how tally words it: `Error: ...`, `Warning: ...`, else info."""
    head = line.lstrip().lower()
    if head.startswith(("error", "traceback", "aborted")):
        return "error"
    if head.startswith("warning"):
        return "warning"
    return "info"


class JsonLines(io.TextIOBase):
    """A text stream that writes every line given to it as one JSON object to `stream`."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, stream):
        self.stream = stream
        self._pending = ""
        atexit.register(self.write, "\n")  # a last line without its newline is a line too

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:  # no progress bars drawn with \r
        return False

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            # a line redrawn with \r (a progress bar): what a terminal would show at its end
            segments = [segment for segment in line.split("\r") if segment.strip()]
            self.emit(segments[-1] if segments else "")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def emit(self, msg: str, level: str | None = None, **fields) -> None:
        if not msg.strip():
            return
        from tally.tracing import current_trace_id

        record = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": level or _level_of(msg),
            "command": _command,
            "msg": msg,
            **fields,
        }
        trace_id = current_trace_id()
        if trace_id:
            record["trace_id"] = trace_id
        self.stream.write(json.dumps(record, default=str) + "\n")
        self.stream.flush()


def is_json() -> bool:
    return isinstance(sys.stderr, JsonLines)


def configure(log_format: str | None = None, command: str | None = None) -> None:
    """Set the format (None: leave it) and the command named in each line."""
    global _command
    if command:
        _command = command
    if log_format == "json" and not is_json():
        sys.stderr = JsonLines(sys.stderr)
    elif log_format == "text" and is_json():
        sys.stderr.flush()
        sys.stderr = sys.stderr.stream


def log(msg: str, level: str = "info", **fields) -> None:
    """One message on stderr: a line of text, or a JSON object with `fields` added."""
    if is_json():
        sys.stderr.emit(msg, level, **fields)
    else:
        click.echo(msg, err=True)


def dbt_callback(event) -> None:
    """dbt's events (info and above) as JSON lines, with the event's name and node."""
    level = _DBT_LEVELS.get(event.info.level, "info")
    if level == "debug" or not event.info.msg:
        return
    fields = {"logger": "dbt", "event": event.info.name}
    node = getattr(event.data, "node_info", None)
    if node is not None and node.unique_id:
        fields["node"] = node.unique_id
    for line in _ANSI_COLOUR.sub("", str(event.info.msg)).splitlines():
        log(line, level, **fields)


def requested_format(arguments: list[str]) -> str | None:
    """The format asked for on the command line or in $TALLY_LOG_FORMAT, read before click
    parses anything, so that even a usage error is written in it."""
    import os

    for i, argument in enumerate(arguments):
        if argument == "--":
            break
        if argument.startswith("--log-format="):
            return argument.split("=", 1)[1]
        if argument == "--log-format" and i + 1 < len(arguments):
            return arguments[i + 1]
    return os.environ.get(ENV_VAR) or None
