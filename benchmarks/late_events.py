"""Late events for the rollup benchmarks: copies of a share of loaded events with new ids and
event times spread over the last 30 days (late arrivals where the traffic is)."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa


def late_copies(table: pa.Table, share: float, seed: int) -> pa.Table:
    """Copies of `share` of the table's events, new ids (late_N), event times in the last 30
    days, in the event_time column's own type."""
    rng = np.random.default_rng(seed)
    picked = table.take(
        pa.array(rng.choice(table.num_rows, int(table.num_rows * share), replace=False))
    )
    now = datetime.now(UTC).replace(microsecond=0)
    seconds_ago = rng.integers(3600, 30 * 86400, picked.num_rows)
    moments = [now - timedelta(seconds=int(s)) for s in seconds_ago]
    time_type = table.schema.field("event_time").type
    times = (
        pa.array([moment.isoformat() for moment in moments], type=pa.string())
        if pa.types.is_string(time_type)
        else pa.array(moments, type=pa.timestamp("us", tz="UTC")).cast(time_type)
    )
    ids = pa.array([f"late_{i}" for i in range(picked.num_rows)])
    picked = picked.set_column(picked.schema.get_field_index("event_id"), "event_id", ids)
    return picked.set_column(picked.schema.get_field_index("event_time"), "event_time", times)
