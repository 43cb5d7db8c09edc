"""`tally metrics`: the pipeline's state in the Prometheus text exposition format (version 0.0.4),
computed from the database on every call or scrape, so that any scraper or a node_exporter
textfile collector can read it.

Sources: the load ledger (raw.load_batches), the rollup state (ops.rollup_watermarks: the load
commit_seq each incremental model reflects), the audit ledger (ops.pipeline_runs) and the
reconciliation (analytics.rpt_usage_reconciliation). A source that does not exist yet (no load,
no rollup) gives the metric's empty value: 0 for an unlabelled metric, no sample otherwise.
Reading is all it does: it applies no migration and writes no ledger row.
"""

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg

from tally import logs
from tally.errors import TallyError
from tally.load.kinds import KINDS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# The kinds whose records are usage events (raw.events): one list, from the kinds themselves.
EVENT_KINDS = tuple(kind.name for kind in KINDS.values() if kind.table == "raw.events")
_EVENT_KINDS_SQL = ", ".join(f"'{name}'" for name in EVENT_KINDS)

# Batches a rollup has not applied yet: committed after the watermark of the model furthest
# behind. {applied} is filled in by `exposition`: before the first rollup there is no
# ops.rollup_watermarks and every batch waits.
_WAITING_BATCHES = """
    from raw.load_batches
    where status = 'loaded' and commit_seq > coalesce({applied}, 0)
"""
_APPLIED = "(select min(applied_commit_seq) from ops.rollup_watermarks)"
_LATEST_RUNS = """
    select distinct on (command) command, outcome, duration_ms, finished_at
    from ops.pipeline_runs order by command, run_id desc
"""


@dataclass(frozen=True)
class Metric:
    name: str
    type: str  # counter | gauge
    help: str
    sql: str  # rows of (label values..., value)
    tables: tuple[str, ...]
    labels: tuple[str, ...] = ()


METRICS = (
    Metric(
        "tally_events_loaded_total", "counter",
        "Usage events loaded into raw.events (load ledger; duplicates and quarantined excluded).",
        "select coalesce(sum(records_loaded), 0) from raw.load_batches"
        f" where status = 'loaded' and kind in ({_EVENT_KINDS_SQL})",
        ("raw.load_batches",),
    ),
    Metric(
        "tally_records_read_total", "counter", "Records read from loaded files, per kind.",
        "select kind, sum(records_read) from raw.load_batches where status = 'loaded'"
        " group by kind order by kind",
        ("raw.load_batches",), ("kind",),
    ),
    Metric(
        "tally_records_loaded_total", "counter", "Records loaded, per kind.",
        "select kind, sum(records_loaded) from raw.load_batches where status = 'loaded'"
        " group by kind order by kind",
        ("raw.load_batches",), ("kind",),
    ),
    Metric(
        "tally_records_quarantined_total", "counter",
        "Records that broke a rule of the input contract and went to raw.quarantine, per kind.",
        "select kind, sum(records_quarantined) from raw.load_batches where status = 'loaded'"
        " group by kind order by kind",
        ("raw.load_batches",), ("kind",),
    ),
    Metric(
        "tally_records_skipped_total", "counter",
        "Items read but no record of their kind: OpenTelemetry spans without token usage.",
        "select kind, sum(records_skipped) from raw.load_batches where status = 'loaded'"
        " group by kind order by kind",
        ("raw.load_batches",), ("kind",),
    ),
    Metric(
        "tally_records_duplicate_total", "counter",
        "Records not loaded because their key was loaded before (first loaded wins), per kind.",
        "select kind, sum(records_duplicate) from raw.load_batches where status = 'loaded'"
        " group by kind order by kind",
        ("raw.load_batches",), ("kind",),
    ),
    Metric(
        "tally_load_files_total", "counter", "Files tally tried to load, per kind and outcome.",
        "select kind, status, count(*) from raw.load_batches group by kind, status"
        " order by kind, status",
        ("raw.load_batches",), ("kind", "status"),
    ),
    Metric(
        "tally_rollup_lag_seconds", "gauge",
        "How long the oldest loaded batch not yet applied by a rollup has waited (0: none).",
        "select coalesce(extract(epoch from now() - min(finished_at)), 0)" + _WAITING_BATCHES,
        ("raw.load_batches",),
    ),
    Metric(
        "tally_rollup_pending_batches", "gauge",
        "Loaded batches not yet applied by a rollup.",
        "select count(*)" + _WAITING_BATCHES,
        ("raw.load_batches",),
    ),
    Metric(
        "tally_rollup_duration_seconds", "gauge", "Duration of the latest tally rollup.",
        f"select duration_ms / 1000.0 from ({_LATEST_RUNS}) as runs where command = 'rollup'",
        ("ops.pipeline_runs",),
    ),
    Metric(
        "tally_rollup_last_success_timestamp_seconds", "gauge",
        "When the latest successful tally rollup finished (Unix time).",
        "select extract(epoch from max(finished_at)) from ops.pipeline_runs"
        " where command = 'rollup' and outcome = 'success' having count(*) > 0",
        ("ops.pipeline_runs",),
    ),
    Metric(
        "tally_reconciliation_mismatches", "gauge",
        "(org_id, usage_date) rows of analytics.rpt_usage_reconciliation whose rollups disagree"
        " with the raw events, as of the latest rollup.",
        "select count(*) from analytics.rpt_usage_reconciliation where status = 'mismatch'",
        ("analytics.rpt_usage_reconciliation",),
    ),
    Metric(
        "tally_runs_total", "counter", "Pipeline commands run (audit ledger), per outcome.",
        "select command, outcome, count(*) from ops.pipeline_runs group by command, outcome"
        " order by command, outcome",
        ("ops.pipeline_runs",), ("command", "outcome"),
    ),
    Metric(
        "tally_last_run_failed", "gauge", "1 when the latest run of the command failed, else 0.",
        f"select command, (outcome = 'failure')::int from ({_LATEST_RUNS}) as runs"
        " order by command",
        ("ops.pipeline_runs",), ("command",),
    ),
)


def _label_value(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(metric: Metric, row) -> str:
    *label_values, value = row
    labels = ",".join(
        f'{name}="{_label_value(v)}"' for name, v in zip(metric.labels, label_values, strict=True)
    )
    number = float(value) if value is not None else float("nan")
    text = str(int(number)) if number.is_integer() else repr(number)
    return f"{metric.name}{{{labels}}} {text}" if labels else f"{metric.name} {text}"


def exposition(conn: psycopg.Connection) -> str:
    """Every metric, HELP and TYPE first, in the order of METRICS."""
    tables = sorted({"ops.rollup_watermarks", *(t for metric in METRICS for t in metric.tables)})
    present = conn.execute(
        "select t from unnest(%s::text[]) as t where to_regclass(t) is not null", [tables]
    ).fetchall()
    present = {table for (table,) in present}
    lines = []
    for metric in METRICS:
        lines += [f"# HELP {metric.name} {metric.help}", f"# TYPE {metric.name} {metric.type}"]
        if all(table in present for table in metric.tables):
            applied = _APPLIED if "ops.rollup_watermarks" in present else "null"
            rows = conn.execute(metric.sql.replace("{applied}", applied)).fetchall()
        else:
            rows = [] if metric.labels else [(0,)]
        lines += [_sample(metric, row) for row in rows]
    return "\n".join(lines) + "\n"


def read(target: str) -> str:
    """The exposition of the target's database; a database that cannot be read is one line."""
    from tally.database import connect

    try:
        with connect(target, autocommit=True) as conn:
            return exposition(conn)
    except psycopg.Error as error:
        lines = str(error).strip().splitlines()
        raise TallyError(f"cannot read the metrics: {lines[0] if lines else error}") from None


def parse_address(address: str) -> tuple[str, int]:
    """`HOST:PORT`, `:PORT` (every interface) or `PORT` (127.0.0.1)."""
    host, _, port = address.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise TallyError(f"--listen {address}: expected HOST:PORT, :PORT or PORT")
    if not _:
        host = "127.0.0.1"
    return host.strip("[]") or "0.0.0.0", int(port)


def serve(target: str, address: str, ready: threading.Event | None = None) -> None:
    """Serve GET /metrics, computed afresh for each scrape, until interrupted."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            if self.path.split("?")[0] != "/metrics":
                self._reply(404, "text/plain", "not found: the metrics are at /metrics\n")
                return
            try:
                body = read(target)
            except TallyError as error:
                logs.log(f"Error: {error.format_message()}", "error")
                self._reply(503, "text/plain", f"tally metrics: {error.format_message()}\n")
                return
            self._reply(200, CONTENT_TYPE, body)

        def _reply(self, status: int, content_type: str, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    host, port = parse_address(address)
    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as error:
        raise TallyError(f"cannot listen on {address}: {error.strerror or error}") from None
    bound_host, bound_port = server.server_address[:2]
    logs.log(f"serving http://{bound_host}:{bound_port}/metrics (Ctrl-C stops)")
    if ready:
        ready.set()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
