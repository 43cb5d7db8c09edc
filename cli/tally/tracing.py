"""OpenTelemetry traces of tally's commands, configured only by the standard OTEL_* variables.

Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
OTEL_TRACES_EXPORTER (other than `none`) is set, and OTEL_SDK_DISABLED is not `true`. Then each
command sends one trace: a span for the command, children for each file loaded
(tally.load), each dbt invocation and each dbt node (tally.dbt), and each SQL statement tally
runs itself (tally.sql_spans). OTEL_TRACES_EXPORTER names the exporters: `otlp` (default; over
OTEL_EXPORTER_OTLP_PROTOCOL `http/protobuf`, the default, or `grpc`) and `console` (one JSON
object a line on stderr). Endpoint, headers, timeout and service name come from the variables the
SDK reads itself (OTEL_SERVICE_NAME defaults to `tally`).

When tracing is off nothing of OpenTelemetry is imported: `span` yields a no-op and costs one
dictionary lookup (measured in docs/observability.md).
"""

import contextlib
import functools
import os
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from tally.errors import TallyError

_SWITCHES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_PROTOCOLS = ("http/protobuf", "grpc")


@functools.cache
def enabled() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return exporters != "none"
    return any(os.environ.get(name) for name in _SWITCHES)


class _NoSpan:
    """What `span` yields when tracing is off."""

    def set_attribute(self, key: str, value: Any) -> None:
        pass

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        pass


_NO_SPAN = _NoSpan()
_run_trace_id: str | None = None  # the first span's: one command, one trace


def _exporters():
    names = [n.strip() for n in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").lower().split(",")]
    for name in filter(None, names):
        if name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            # the real stderr, one compact object a line: JSON logs stay one object a line
            stream = getattr(sys.stderr, "stream", sys.stderr)
            yield ConsoleSpanExporter(out=stream, formatter=lambda s: s.to_json(indent=None) + "\n")
        elif name == "otlp":
            protocol = os.environ.get(
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ).strip()
            if protocol == "grpc":
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
            elif protocol == "http/protobuf":
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            else:
                raise TallyError(
                    f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol} is not supported; choose one of: "
                    + ", ".join(_PROTOCOLS)
                )
            yield OTLPSpanExporter()
        elif name != "none":
            raise TallyError(f"OTEL_TRACES_EXPORTER={name} is not supported (otlp, console, none)")


@functools.cache
def _tracer():
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from tally import __version__

    defaults = {"service.version": __version__}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        defaults["service.name"] = "tally"
    # shutdown_on_exit: the spans still queued are sent when the process ends
    provider = TracerProvider(resource=Resource.create(defaults))
    for exporter in _exporters():
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return trace.get_tracer("tally", __version__)


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[Any]:
    """A span around the block, child of the current one; attributes whose value is None are
    left out. An exception leaving the block marks the span as an error."""
    if not enabled():
        yield _NO_SPAN
        return
    global _run_trace_id
    given = {key: value for key, value in attributes.items() if value is not None}
    with _tracer().start_as_current_span(name, attributes=given) as current:
        _run_trace_id = _run_trace_id or format(current.get_span_context().trace_id, "032x")
        yield current


def current_trace_id() -> str | None:
    """The trace id (32 hex digits) of the span in progress, else of the run's first span (dbt's
    threads, which have no span of their own in progress), else None."""
    if not enabled():
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else _run_trace_id


def mark_failed(current: Any, description: str) -> None:
    """Set a span's status to ERROR (a no-op when tracing is off)."""
    if current is _NO_SPAN:
        return
    from opentelemetry.trace import Status, StatusCode

    current.set_status(Status(StatusCode.ERROR, description))


def _unix_ns(iso: str) -> int | None:
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:  # dbt writes its node times in UTC without an offset
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1e9)


_FAILED_NODE_STATUSES = {"error", "fail", "runtime error"}


def dbt_node_callback():
    """A dbt event callback that turns each finished node into a span (status, rows affected,
    timing from dbt's own NodeFinished event), child of the span current when it was made.
    None when tracing is off."""
    if not enabled():
        return None
    from opentelemetry import context as otel_context

    parent = otel_context.get_current()

    def on_event(event) -> None:
        if event.info.name != "NodeFinished":
            return
        node, result = event.data.node_info, event.data.run_result
        attributes = {
            "dbt.node.unique_id": node.unique_id,
            "dbt.node.resource_type": node.resource_type,
            "dbt.node.materialized": node.materialized,
            "dbt.node.status": result.status or node.node_status,
            "dbt.node.execution_time_s": result.execution_time,
        }
        if node.node_relation.relation_name:
            attributes["dbt.node.relation"] = node.node_relation.relation_name
        adapter = dict(result.adapter_response.items()) if result.adapter_response else {}
        if isinstance(adapter.get("rows_affected"), int | float) and adapter["rows_affected"] >= 0:
            attributes["dbt.node.rows_affected"] = int(adapter["rows_affected"])
        if result.num_failures:
            attributes["dbt.node.failures"] = result.num_failures
        started = _unix_ns(node.node_started_at) if node.node_started_at else None
        finished = _unix_ns(node.node_finished_at) if node.node_finished_at else None
        node_span = _tracer().start_span(
            f"dbt {node.resource_type} {node.node_name}",
            context=parent,
            attributes=attributes,
            start_time=started,
        )
        if str(result.status).lower() in _FAILED_NODE_STATUSES:
            mark_failed(node_span, result.message or str(result.status))
        node_span.end(end_time=finished if finished and started and finished >= started else None)

    return on_event
