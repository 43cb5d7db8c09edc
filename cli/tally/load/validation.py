"""The contract's record rules, vectorised with pyarrow over a batch of records.

`check` returns the batch as a table: the record number, the first rule the
record breaks (NULL for a valid record), the record as given (for a broken one only) and each
field in its raw-layer type. It runs in the loading process while PostgreSQL ingests the
previous batch, so validation costs the database nothing.
"""

import json
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tally.arrow_bytes import value_bytes
from tally.load.kinds import (
    KEY_PREFIX_LENGTH,
    KEY_PREFIX_MAX,
    SECRET_FIELDS,
    SERVICE_TIERS,
    Field,
    Kind,
)
from tally.load.parsing import Batch

ISO_8601 = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$"
_DATE_ONLY = r"^\d{4}-\d{2}-\d{2}$"
_FRACTION_BEYOND_MICROSECONDS = r"(:\d{2}\.\d{6})\d+"
_HAS_ZONE = r"(Z|[+-]\d{2}(:?\d{2})?)$"
MAX_BIGINT = "9223372036854775807"
# A number in decimal or exponent notation (not plain digits, which the fast path takes).
_DECIMAL = r"^-?[0-9]+(\.[0-9]*([eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+)$"
FUTURE_SLACK_US = 24 * 3600 * 1_000_000  # event_time may be at most 24 h after the load's start
TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Context:
    load_time_us: int  # the loading transaction's now(), microseconds since the epoch
    timezones: frozenset[str]  # pg_timezone_names of the database


def stage_types(kind: Kind) -> dict[str, pa.DataType]:
    types = {"timestamp": TIMESTAMP, "bigint": pa.int64()}
    return {f.name: types.get(f.type, pa.string()) for f in kind.fields}


class _Reasons:
    """The first broken rule per record, filled rule by rule."""

    def __init__(self, n: int, shape: list[str | None] | None):
        self.n = n
        self.values = np.array(shape, dtype=object) if shape else None  # made at the first
        self.open = np.array([r is None for r in shape], dtype=bool) if shape else np.ones(n, bool)

    def add(self, broken, reason: str) -> None:
        if not isinstance(broken, np.ndarray) and not pc.any(broken).as_py():
            return  # the common case: nobody breaks this rule, so skip the conversion
        mask = _np(broken) & self.open
        if mask.any():
            if self.values is None:
                self.values = np.full(self.n, None, dtype=object)
            self.values[mask] = reason
            self.open &= ~mask

    def column(self) -> pa.Array:
        if self.values is None:
            return pa.nulls(self.n, pa.string())
        return pa.array(self.values, pa.string())


def _np(array) -> np.ndarray:
    if isinstance(array, np.ndarray):
        return array
    return pc.fill_null(array, False).to_numpy(zero_copy_only=False)


def _timestamps(column: pa.Array, field: Field, reasons: _Reasons) -> pa.Array:
    if pa.types.is_timestamp(column.type):
        return _to_microseconds(column)
    if not pa.types.is_string(column.type):
        column = column.cast(pa.string())
    in_utc = pc.ends_with(column, "Z")
    if pc.all(in_utc).as_py():  # the common case; pyarrow parses only ISO-8601
        try:
            return column.cast(TIMESTAMP)
        except pa.ArrowInvalid:
            pass
    zoned = _has_zone(column, in_utc)
    try:  # some without an offset: those are UTC
        return pc.if_else(zoned, column, pc.binary_join_element_wise(column, "Z", "")).cast(
            TIMESTAMP
        )
    except pa.ArrowInvalid:
        pass
    # pyarrow parses at most six fractional digits into microseconds: more (.NET's seven, Go's
    # nine) are cut, never rounded, so 00:59:59.9999999 stays in hour 00.
    column = pc.replace_substring_regex(column, _FRACTION_BEYOND_MICROSECONDS, r"\1")
    shaped = pc.match_substring_regex(column, ISO_8601)
    reasons.add(pc.and_(pc.is_valid(column), pc.invert(shaped)), _not_iso(field))
    text = pc.if_else(shaped, column, pa.scalar(None, pa.string()))
    text = pc.if_else(
        pc.match_substring_regex(text, _DATE_ONLY),
        pc.binary_join_element_wise(text, "T00:00:00", ""),
        text,
    )
    text = pc.if_else(_has_zone(text), text, pc.binary_join_element_wise(text, "Z", ""))
    cast, impossible = _cast_halving(text)
    if impossible.any():
        reasons.add(impossible, _not_iso(field))
    return cast


def _cast_halving(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """ISO-8601 text to timestamps, and which values could not be (an impossible date such as
    2026-02-30, which the shape's regular expression lets through). A part that fails is cast
    again in halves: a few such values in a block cost a few dozen casts, where casting value by
    value cost 20 s a million rows."""
    try:
        return text.cast(TIMESTAMP), np.zeros(len(text), dtype=bool)
    except pa.ArrowInvalid:
        if len(text) == 1:
            return pa.nulls(1, TIMESTAMP), np.ones(1, dtype=bool)
    middle = len(text) // 2
    first, first_bad = _cast_halving(text.slice(0, middle))
    second, second_bad = _cast_halving(text.slice(middle))
    return pa.concat_arrays([first, second]), np.concatenate([first_bad, second_bad])


def _to_microseconds(column: pa.Array) -> pa.Array:
    """A timestamp column in microseconds, zoned ones their instant, naive ones UTC; nanoseconds
    floored (cut towards the past, as the digits of a text timestamp are)."""
    tz = column.type.tz or "UTC"
    if column.type.unit != "ns":
        return column.cast(pa.timestamp("us", tz=tz))
    nanoseconds = column.cast(pa.int64())
    floored = np.floor_divide(nanoseconds.fill_null(0).to_numpy(), 1000)
    return pa.array(floored, pa.timestamp("us", tz=tz), mask=_np(pc.is_null(nanoseconds)))


def _has_zone(column: pa.Array, in_utc: pa.Array | None = None) -> pa.Array:
    """Whether each timestamp ends in an offset (NULL counts as zoned: nothing to add). Values
    known to end in Z skip the regular expression."""
    if in_utc is None:
        return pc.fill_null(pc.match_substring_regex(column, _HAS_ZONE), True)
    zoned = pc.fill_null(in_utc, True).to_numpy(zero_copy_only=False)
    others = np.flatnonzero(~zoned)
    zoned[others] = _np(pc.match_substring_regex(column.take(others), _HAS_ZONE))
    return pa.array(zoned)


def _not_iso(field: Field) -> str:
    return f"{field.name} is not an ISO-8601 timestamp"


def _integers(column: pa.Array, field: Field, reasons: _Reasons) -> pa.Array:
    if pa.types.is_integer(column.type):
        reasons.add(pc.less(column, 0), f"{field.name} is negative")
        return column.cast(pa.int64())
    if not pa.types.is_string(column.type):
        column = column.cast(pa.string())
    # The common case: digits only, at most 64 bits. pyarrow's cast would also take a minus
    # sign and hexadecimal (0x1F), which the contract does not.
    if not _may_hold(column, b"-xX"):
        try:
            return column.cast(pa.int64())
        except pa.ArrowInvalid:
            pass
    column = _whole_numbers_as_digits(column)
    digits = pc.match_substring_regex(column, r"^[0-9]+$")
    present = pc.is_valid(column)
    negative = pc.match_substring_regex(column, r"^-[0-9]+$")
    reasons.add(negative, f"{field.name} is negative")
    reasons.add(pc.and_(present, pc.invert(digits)), f"{field.name} is not an integer")
    length = pc.utf8_length(column)
    too_big = pc.or_(
        pc.greater(length, 19), pc.and_(pc.equal(length, 19), pc.greater(column, MAX_BIGINT))
    )
    reasons.add(pc.and_(digits, too_big), f"{field.name} exceeds 64 bits")
    keep = pc.and_(digits, pc.invert(pc.fill_null(too_big, False)))
    return pc.if_else(keep, column, pa.scalar(None, pa.string())).cast(pa.int64())


def _whole_numbers_as_digits(column: pa.Array) -> pa.Array:
    """Decimal and exponent notation of a whole number as its digits: `12.0`, `12.00`, `1.2e1`
    and `1.2E+1` are 12 (JSON writers and spreadsheets write integers so); `12.5` stays as
    given, not an integer. Such values are rare: each is read by Python's Decimal."""
    decimal = pc.match_substring_regex(column, _DECIMAL)
    rows = np.flatnonzero(_np(decimal))
    if not len(rows):
        return column
    values = column.to_pylist()
    for row in rows.tolist():
        number = Decimal(values[row])
        if number == number.to_integral_value():  # too large for 64 bits: 20 digits say so
            big = number.adjusted() >= len(MAX_BIGINT)
            values[row] = str(int(number)) if not big else "-" * (number < 0) + "9" * 20
    return pa.array(values, pa.string())


def _may_hold(column: pa.Array, characters: bytes) -> bool:
    """Whether any value of a string column may hold one of these bytes: one scan of its
    character data, far cheaper than a string function per value."""
    data = np.frombuffer(value_bytes(column), np.uint8)
    return any(np.any(data == character) for character in characters)


def _text(column: pa.Array) -> pa.Array:
    return column if pa.types.is_string(column.type) else column.cast(pa.string())


def check(kind: Kind, batch: Batch, context: Context) -> pa.Table:
    n = len(batch)
    reasons = _Reasons(n, batch.shape_reason)
    typed: dict[str, pa.Array] = {}
    if kind.name == "api_keys":
        _derive_key_prefix(batch)
    for field in kind.fields:
        column = batch.columns[field.name]
        if field.required:
            reasons.add(pc.is_null(column), f"missing {field.name}")
        if field.type == "timestamp":
            typed[field.name] = _timestamps(column, field, reasons)
            if field.name == "event_time":
                limit = pa.scalar(context.load_time_us + FUTURE_SLACK_US, TIMESTAMP)
                reasons.add(
                    pc.greater(typed[field.name], limit),
                    "event_time more than 24 h after load time",
                )
            continue
        if field.type == "bigint":
            typed[field.name] = _integers(column, field, reasons)
            continue
        column = _text(column)
        if _may_hold(column, b"\x00"):  # PostgreSQL text cannot hold a NUL character
            reasons.add(
                pc.match_substring(column, "\x00"), f"{field.name} contains a NUL character"
            )
        # A value of at most max_length bytes has at most max_length characters.
        if field.max_length and (pc.max(pc.binary_length(column)).as_py() or 0) > field.max_length:
            reasons.add(
                pc.greater(pc.utf8_length(column), field.max_length),
                f"{field.name} longer than {field.max_length} characters",
            )
        if field.type == "status":
            reasons.add(
                pc.invert(pc.is_in(column, pa.array(["success", "error"]))),
                f"{field.name} is not success or error",
            )
        if field.type == "service_tier":
            reasons.add(
                pc.and_(pc.is_valid(column), pc.invert(pc.is_in(column, pa.array(SERVICE_TIERS)))),
                f"{field.name} is not {', '.join(SERVICE_TIERS[:-1])} or {SERVICE_TIERS[-1]}",
            )
        if field.type == "timezone":
            known = pc.is_in(column, pa.array(sorted(context.timezones)))
            reasons.add(
                pc.and_(pc.is_valid(column), pc.invert(known)),
                f"{field.name} is not an IANA time zone known to the database",
            )
        typed[field.name] = column
    for total, parts in kind.breakdowns:
        _breakdown(typed, total, parts, reasons)
    broken = ~reasons.open
    if broken.any():  # a broken record is kept as given, not as fields (which may hold a NUL)
        mask = pa.array(broken)
        typed = {k: pc.if_else(mask, pa.scalar(None, v.type), v) for k, v in typed.items()}
    return pa.table(
        {
            "record_number": pa.array(batch.record_number),
            "quarantine_reason": reasons.column(),
            "record": _given(kind, batch, broken),
            **typed,
        }
    )


def _breakdown(typed: dict[str, pa.Array], total: str, parts: tuple[str, ...], reasons) -> None:
    """Parts of a total (absent = 0) that add up to more than it. Each part is compared with
    what the earlier ones leave, so that no sum can overflow 64 bits."""
    present = [part for part in parts if typed[part].null_count < len(typed[part])]
    if not present:  # the common case for a file without the breakdown
        return
    left = typed[total]
    broken = pa.nulls(len(left), pa.bool_())
    for part in parts:
        value = pc.fill_null(typed[part], 0)
        broken = pc.or_kleene(broken, pc.greater(value, left))
        left = pc.subtract(left, value)
    reasons.add(broken, f"{' + '.join(parts)} exceeds {total}")


def _derive_key_prefix(batch: Batch) -> None:
    """A record that carries a full key but no key_prefix keeps only the key's first characters."""
    prefix = batch.columns["key_prefix"]
    for name in SECRET_FIELDS:
        if name in batch.extra:
            secret = _text(batch.extra[name])
            prefix = pc.coalesce(
                _text(prefix), pc.utf8_slice_codeunits(secret, 0, KEY_PREFIX_LENGTH)
            )
    batch.columns["key_prefix"] = prefix


def _given(kind: Kind, batch: Batch, broken: np.ndarray) -> pa.Array:
    """The record as given, for broken records only: its text where it has one (JSON Lines,
    CSV), else its fields as JSON (Parquet; api_keys, whose text may hold a secret)."""
    rows = np.flatnonzero(broken)
    if not len(rows):
        return pa.nulls(len(batch), pa.string())
    given: list[str | None] = [None] * len(batch)
    if batch.as_given is not None and kind.name != "api_keys":
        for row, text in zip(rows.tolist(), batch.as_given(rows.tolist()), strict=True):
            if text is not None:
                given[row] = text.replace("\x00", "\\u0000")  # text cannot hold NUL
    take = pa.array(rows)
    columns = {name: batch.columns[name].take(take).to_pylist() for name in kind.field_names}
    for i, row in enumerate(rows):
        if given[row] is not None:
            continue
        record = {name: _jsonable(values[i]) for name, values in columns.items()}
        prefix = record.get("key_prefix")
        if isinstance(prefix, str) and len(prefix) > KEY_PREFIX_MAX:
            record["key_prefix"] = prefix[:KEY_PREFIX_LENGTH] + "..."
        given[row] = json.dumps(record)
    return pa.array(given, pa.string())


def _jsonable(value):
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
