"""The contract's record rules as set-based SQL over the `stage` table.

`checked_sql` yields one row per staged record: its record_number, the record as given (text),
each field as text (an empty string is NULL: absent and empty mean the same), and `reason`,
NULL for a valid record or the first rule it breaks. Writers cast the text of valid records.
"""

from tally.load.kinds import KEY_PREFIX_LENGTH, KEY_PREFIX_MAX, SECRET_FIELDS, Field, Kind
from tally.load.staging import Stage

ISO_8601 = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?)?([Zz]|[+-]\d{2}(:?\d{2})?)?$"
FUTURE_SLACK = "24 hours"  # event_time may be at most this far after the load's start
WITHHELD = "(withheld: an api_keys record that cannot be parsed may hold a secret)"

CAST = {"timestamp": "timestamptz", "bigint": "bigint"}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _field_rules(field: Field, kind: Kind) -> list[str]:
    """CASE branches `when <broken> then <reason>` for one field, in the order they are tried."""
    x, name = field.name, field.name
    rules = []
    if field.required:
        rules.append(f"when {x} is null then 'missing {name}'")
    if field.max_length:
        rules.append(
            f"when length({x}) > {field.max_length}"
            f" then '{name} longer than {field.max_length} characters'"
        )
    if field.type == "timestamp":
        rules.append(
            f"when not ({x} ~ {_quote(ISO_8601)} and pg_input_is_valid({x}, 'timestamptz'))"
            f" then '{name} is not an ISO-8601 timestamp'"
        )
        if kind.name == "events" and name == "event_time":
            rules.append(
                f"when {x}::timestamptz > now() + interval '{FUTURE_SLACK}'"
                f" then '{name} more than 24 h after load time'"
            )
    elif field.type == "bigint":
        rules.append(
            f"when {x} !~ '^[0-9]+$' then case when {x} ~ '^-[0-9]+$'"
            f" then '{name} is negative' else '{name} is not an integer' end"
        )
        rules.append(
            f"when length({x}) >= 19 and not pg_input_is_valid({x}, 'bigint')"
            f" then '{name} exceeds 64 bits'"
        )
    elif field.type == "status":
        rules.append(f"when {x} not in ('success', 'error') then '{name} is not success or error'")
    elif field.type == "timezone":
        rules.append(
            f"when {x} not in (select tz.name from pg_timezone_names as tz)"
            f" then '{name} is not an IANA time zone known to the database'"
        )
    return rules


def _masked_prefix(prefix: str) -> str:
    """A jsonb that hides a key_prefix long enough to be a full secret (merged into a record)."""
    return (
        f"case when length({prefix}) > {KEY_PREFIX_MAX} then jsonb_build_object('key_prefix',"
        f" left({prefix}, {KEY_PREFIX_LENGTH}) || '...') else '{{}}'::jsonb end"
    )


def _jsonl_source(kind: Kind) -> str:
    secrets = "array[" + ", ".join(map(_quote, SECRET_FIELDS)) + "]"
    fields = {f.name: f"nullif(j ->> {_quote(f.name)}, '')" for f in kind.fields}
    scalar_checks = " ".join(
        f"when jsonb_typeof(j -> {_quote(f.name)}) in ('object', 'array', 'boolean')"
        f" then '{f.name} is not a string or number'"
        for f in kind.fields
        if f.type == "text"
    )
    record = "line"
    if kind.name == "api_keys":
        fields["key_prefix"] = (
            f"coalesce({fields['key_prefix']}, left(nullif(coalesce("
            + ", ".join(f"j ->> {_quote(s)}" for s in SECRET_FIELDS)
            + f"), ''), {KEY_PREFIX_LENGTH}))"
        )
        record = (
            f"case when j is null then {_quote(WITHHELD)}"
            f" else (j - {secrets} || {_masked_prefix('j ->> ' + _quote('key_prefix'))})::text end"
        )
    columns = ",\n        ".join(f"{expr} as {name}" for name, expr in fields.items())
    return f"""
    select record_number, {record} as record,
        case when j is null then 'not valid JSON'
             when jsonb_typeof(j) <> 'object' then 'not a JSON object'
             {scalar_checks} end as shape_error,
        {columns}
    from (
        select record_number, line,
            case when pg_input_is_valid(line, 'jsonb') then line::jsonb end as j
        from stage
        where line is not null and btrim(line, E' \\t\\r') <> ''
    ) as parsed"""


def _table_source(kind: Kind, present: frozenset[str]) -> str:
    fields = {
        f.name: (f"nullif(s.\"{f.name}\", '')" if f.name in present else "null::text")
        for f in kind.fields
    }
    hidden = ["record_number", "_shape_error", "_raw"]
    raw = "s._raw"
    if kind.name == "api_keys":
        given = [f's."{name}"' for name in SECRET_FIELDS if name in present]
        if given:
            fields["key_prefix"] = (
                f"coalesce({fields['key_prefix']}, left(nullif(coalesce({', '.join(given)}),"
                f" ''), {KEY_PREFIX_LENGTH}))"
            )
        hidden += SECRET_FIELDS
        raw = f"case when s._raw is not null then {_quote(WITHHELD)} end"
    without = "array[" + ", ".join(map(_quote, hidden)) + "]"
    columns = ",\n        ".join(f"{expr} as {name}" for name, expr in fields.items())
    record = f"to_jsonb(s) - {without}"
    if kind.name == "api_keys" and "key_prefix" in present:
        record += " || " + _masked_prefix('s."key_prefix"')
    return f"""
    select s.record_number, coalesce({raw}, ({record})::text) as record,
        s._shape_error as shape_error,
        {columns}
    from stage as s"""


def checked_sql(kind: Kind, stage: Stage) -> str:
    source = _jsonl_source(kind) if stage.format == "jsonl" else _table_source(kind, stage.columns)
    rules = "\n            ".join(rule for f in kind.fields for rule in _field_rules(f, kind))
    return f"""(
    select c.*,
        case when c.shape_error is not null then c.shape_error
            {rules}
        end as reason
    from ({source}
    ) as c
)"""


def typed(kind: Kind, alias: str = "k") -> list[str]:
    """The select list that casts a checked row's text to the raw table's types."""
    return [
        f"{alias}.{f.name}::{CAST[f.type]}" if f.type in CAST else f"{alias}.{f.name}"
        for f in kind.fields
    ]
