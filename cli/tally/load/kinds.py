"""The record kinds of the contract (section 2): their fields, rules and raw tables."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # text | timestamp | bigint | status | timezone | service_tier
    required: bool = False
    max_length: int | None = None


@dataclass(frozen=True)
class Kind:
    name: str
    table: str
    fields: tuple[Field, ...]
    unique_key: str | None = None  # first loaded wins on this column (events, voids)
    # (total, its parts): the parts, absent = 0, may not add up to more than the total
    breakdowns: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def field_names(self) -> list[str]:
        return [field.name for field in self.fields]

    @property
    def stored_names(self) -> list[str]:
        """The columns the loader writes: the fields, then the batch and the record number."""
        return [*self.field_names, "batch_id", "record_number"]

    @property
    def required(self) -> list[str]:
        return [field.name for field in self.fields if field.required]


# Fields of an api_keys record that may carry a full secret: read only to derive a missing
# key_prefix, never stored (not even in quarantine).
SECRET_FIELDS = ("key", "secret", "api_key", "secret_key", "full_key")
KEY_PREFIX_LENGTH = 8
KEY_PREFIX_MAX = 16

KINDS = {
    kind.name: kind
    for kind in (
        Kind(
            "events",
            "raw.events",
            (
                Field("event_id", "text", required=True, max_length=128),
                Field("org_id", "text", required=True),
                Field("user_id", "text"),
                Field("api_key_id", "text"),
                Field("model_id", "text", required=True),
                Field("event_time", "timestamp", required=True),
                Field("input_tokens", "bigint", required=True),
                Field("output_tokens", "bigint", required=True),
                Field("status", "status", required=True),
                Field("latency_ms", "bigint"),
                Field("cache_read_input_tokens", "bigint"),
                Field("cache_write_input_tokens", "bigint"),
                Field("reasoning_tokens", "bigint"),
                Field("service_tier", "service_tier"),
            ),
            unique_key="event_id",
            breakdowns=(
                ("input_tokens", ("cache_read_input_tokens", "cache_write_input_tokens")),
                ("output_tokens", ("reasoning_tokens",)),
            ),
        ),
        Kind(
            "voids",
            "raw.voids",
            (
                Field("event_id", "text", required=True, max_length=128),
                Field("voided_at", "timestamp", required=True),
                Field("reason", "text"),
            ),
            unique_key="event_id",
        ),
        Kind(
            "organizations",
            "raw.organizations",
            (
                Field("org_id", "text", required=True),
                Field("name", "text"),
                Field("timezone", "timezone"),
                Field("plan", "text"),
                Field("created_at", "timestamp"),
            ),
        ),
        Kind(
            "users",
            "raw.users",
            (
                Field("user_id", "text", required=True),
                Field("org_id", "text"),
                Field("email", "text"),
                Field("created_at", "timestamp"),
            ),
        ),
        Kind(
            "api_keys",
            "raw.api_keys",
            (
                Field("api_key_id", "text", required=True),
                Field("org_id", "text"),
                Field("user_id", "text"),
                Field("key_prefix", "text", max_length=KEY_PREFIX_MAX),
                Field("created_at", "timestamp"),
                Field("revoked_at", "timestamp"),
            ),
        ),
        # The legacy application's audit log (docs/migration-from-sqlite.md); `metadata` is a JSON
        # object as text, checked by the legacy reader.
        Kind(
            "audit_events",
            "raw.audit_events",
            (
                Field("audit_event_id", "text", required=True, max_length=128),
                Field("org_id", "text", required=True),
                Field("actor_user_id", "text"),
                Field("action", "text", required=True),
                Field("target_type", "text"),
                Field("target_id", "text"),
                Field("metadata", "text"),
                Field("occurred_at", "timestamp", required=True),
            ),
            unique_key="audit_event_id",
        ),
    )
}

SERVICE_TIERS = ("standard", "batch", "priority", "flex")

# A directory loads reference entities first, then events, then voids (either order is correct:
# a void may arrive before its event).
LOAD_ORDER = ("organizations", "users", "api_keys", "events", "voids")
# Kinds of file whose records load as a kind above: OpenTelemetry spans are usage events
# (tally.load.otlp_spans), read from OTLP/JSON files (tally.load.formats).
LOADS_AS = {"spans": "events"}
FILE_KINDS = (*LOAD_ORDER, *LOADS_AS)
