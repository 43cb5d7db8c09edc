"""OpenTelemetry spans as usage events: OTLP/JSON trace exports (`{"resourceSpans": [...]}`, one
object per file or one per line, maybe gzipped), each span with GenAI token usage one event.

The mapping (docs/loading.md) follows the GenAI semantic conventions: `event_id` is
`<traceId>-<spanId>`; the tokens come from `gen_ai.usage.*`; organization, user and key from
`tally.*` attributes, else the usual `tenant.id`, `user.id`, `enduser.id`. An attribute is looked
up on the span, then on its resource. A span without `gen_ai.usage.input_tokens` or
`gen_ai.usage.output_tokens` is no usage event: it is counted (Batch.skipped) and skipped. The
events then meet every rule of the events kind, in tally.load.validation, like any other.

The protobuf JSON mapping is read as it allows: integers as JSON numbers or strings, field
names in lowerCamelCase or as in the .proto file, a status code as a number or its enum name.
A line that is not a JSON export is one quarantined record, so the rest of its file loads.
"""

import json
from collections.abc import Iterator
from datetime import UTC, datetime

from tally.load.kinds import Kind
from tally.load.parsing import Batch, _rows_batch
from tally.load.reading import ByteSource, FileRejected

BATCH_ROWS = 50_000
STATUS_CODE_ERROR = 2
# event field: the attributes that give it, in order of preference
ATTRIBUTES = {
    "org_id": ("tally.org_id", "tenant.id"),
    "user_id": ("tally.user_id", "user.id", "enduser.id"),
    "api_key_id": ("tally.api_key_id",),
    "model_id": ("gen_ai.request.model", "gen_ai.response.model"),
    "input_tokens": ("gen_ai.usage.input_tokens",),
    "output_tokens": ("gen_ai.usage.output_tokens",),
    "cache_read_input_tokens": ("gen_ai.usage.cache_read.input_tokens",),
    "cache_write_input_tokens": ("gen_ai.usage.cache_creation.input_tokens",),
    "reasoning_tokens": ("gen_ai.usage.reasoning.output_tokens",),
    "service_tier": ("tally.service_tier", "openai.response.service_tier"),
}
USAGE = ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens")


def _get(obj: dict, camel: str, snake: str):
    return obj.get(camel, obj.get(snake))


def _value(any_value) -> str | None:
    """An AnyValue as text: scalars as written, arrays and maps as JSON."""
    if not isinstance(any_value, dict):
        return None
    for key in ("stringValue", "string_value", "intValue", "int_value", "doubleValue",
                "double_value"):
        if key in any_value and any_value[key] is not None:
            value = any_value[key]
            return value if isinstance(value, str) else json.dumps(value)
    for key in ("boolValue", "bool_value"):
        if key in any_value:
            return "true" if any_value[key] else "false"
    for key in ("arrayValue", "array_value", "kvlistValue", "kvlist_value"):
        if key in any_value:
            return json.dumps(any_value[key])
    return None


def _attributes(obj: dict) -> dict[str, str | None]:
    pairs = obj.get("attributes") or []
    return {p["key"]: _value(p.get("value")) for p in pairs if isinstance(p, dict) and "key" in p}


def _nanos(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _instant(nanos: int) -> str:
    """Unix nanoseconds as an ISO-8601 UTC timestamp, to the microsecond (the finest tally
    keeps)."""
    seconds, rest = divmod(nanos, 10**9)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000).isoformat()


def _status(span: dict) -> str:
    code = (span.get("status") or {}).get("code")
    return "error" if code in (STATUS_CODE_ERROR, "2", "STATUS_CODE_ERROR") else "success"


def event_of(span: dict, resource: dict[str, str | None]) -> dict[str, str | None] | None:
    """The usage event a span describes, as text fields; None for a span without usage."""
    attributes = {**resource, **_attributes(span)}
    if not any(attributes.get(name) is not None for name in USAGE):
        return None
    event = {
        field: next((attributes[a] for a in names if attributes.get(a) is not None), None)
        for field, names in ATTRIBUTES.items()
    }
    trace_id, span_id = _get(span, "traceId", "trace_id"), _get(span, "spanId", "span_id")
    event["event_id"] = f"{trace_id}-{span_id}" if trace_id and span_id else None
    start = _nanos(_get(span, "startTimeUnixNano", "start_time_unix_nano"))
    end = _nanos(_get(span, "endTimeUnixNano", "end_time_unix_nano"))
    event["event_time"] = _instant(start) if start is not None else None
    event["latency_ms"] = str((end - start) // 10**6) if start is not None and end else None
    event["status"] = _status(span)
    return event


def _scope_spans(resource_spans: dict) -> Iterator[dict]:
    for key in ("scopeSpans", "scope_spans", "instrumentationLibrarySpans"):
        for scope in resource_spans.get(key) or []:
            yield from scope.get("spans") or []


def spans_of(export) -> Iterator[tuple[dict, dict]]:
    """(span, resource attributes) of every span of an export request."""
    if not isinstance(export, dict):
        raise ValueError("not a JSON object")
    if "resourceSpans" not in export and "resource_spans" not in export:
        raise ValueError("no resourceSpans")
    for resource_spans in _get(export, "resourceSpans", "resource_spans") or []:
        resource = _attributes(resource_spans.get("resource") or {})
        for span in _scope_spans(resource_spans):
            yield span, resource


def _exports(text: str) -> Iterator[tuple[object, str]]:
    """(the export, or the error that stops it being one; its text): the whole file as one
    object, else each non-empty line."""
    try:
        yield json.loads(text), text
        return
    except json.JSONDecodeError:
        pass
    for line in text.splitlines():
        if line.strip():
            try:
                yield json.loads(line), line
            except json.JSONDecodeError as error:
                yield ValueError(f"not JSON ({error.msg})"), line


def otlp_json(kind: Kind, source: ByteSource) -> Iterator[Batch]:
    """The usage events of an OTLP/JSON file, numbered by their span's place in the file."""
    try:
        text = b"".join(source.blocks()).decode("utf-8")
    except UnicodeDecodeError as error:
        raise FileRejected("not UTF-8 text") from error
    if text.lstrip()[:1] != "{":
        raise FileRejected('not OTLP/JSON: expected {"resourceSpans": [...]} objects')
    numbers, rows, reasons, given, skipped, number = [], [], [], [], 0, 0
    for export, export_text in _exports(text):
        try:
            spans = list(spans_of(export)) if not isinstance(export, Exception) else None
        except (ValueError, AttributeError, TypeError) as error:
            export, spans = error, None
        if spans is None:  # a broken line: one quarantined record, the rest loads
            number += 1
            numbers.append(number)
            rows.append({})
            reasons.append(f"not an OTLP/JSON trace export: {export}")
            given.append(export_text)
            continue
        for span, resource in spans:
            number += 1
            event = event_of(span, resource) if isinstance(span, dict) else None
            if event is None:
                skipped += 1
                continue
            numbers.append(number)
            rows.append(event)
            reasons.append(None)
            given.append(json.dumps(span, separators=(",", ":")))
        if len(rows) >= BATCH_ROWS:
            yield _batch(kind, numbers, rows, reasons, given, skipped)
            numbers, rows, reasons, given, skipped = [], [], [], [], 0
    if rows or skipped:
        yield _batch(kind, numbers, rows, reasons, given, skipped)


def _batch(kind, numbers, rows, reasons, given, skipped) -> Batch:
    batch = _rows_batch(kind, numbers, rows, reasons, given)
    batch.skipped = skipped
    return batch

