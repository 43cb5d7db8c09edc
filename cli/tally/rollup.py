"""`tally rollup`: dbt build, one at a time per database, with a summary of what changed."""

from dataclasses import dataclass, field

import click

from tally import locks
from tally.database import connect
from tally.dbt_invocation import run_dbt
from tally.errors import TallyError
from tally.migrations import apply_pending


@dataclass
class RollupSummary:
    rows_changed: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)


def _summarise(result) -> RollupSummary:
    summary = RollupSummary()
    for node_result in getattr(result.result, "results", None) or []:
        node = node_result.node
        if str(node_result.status) in {"error", "fail"}:
            summary.failed.append(node.name)
        elif node.resource_type == "model" and node.config.materialized == "incremental":
            rows = (node_result.adapter_response or {}).get("rows_affected")
            summary.rows_changed[node.alias or node.name] = rows if rows is not None else -1
    return summary


def _run_on_spark(full_refresh: bool):
    """Spark: the raw layer cleaned of what a killed load left, then dbt build, one rollup at a
    time on this machine (the loader's lock)."""
    from tally.spark.raw_layer import RawLayer, locked

    layer = RawLayer()
    with locked():
        layer.ensure()
        layer.clean()
        return run_dbt("spark", "build", *(["--full-refresh"] if full_refresh else []))


def run_rollup(target: str, full_refresh: bool = False) -> RollupSummary:
    """Build everything with dbt; rollups of the same database wait for each other."""
    from tally.targets import is_spark

    if is_spark(target):
        return _checked(_run_on_spark(full_refresh))
    with connect(target, autocommit=True) as lock_conn:
        apply_pending(lock_conn)
        if not lock_conn.execute("select pg_try_advisory_lock(%s)", [locks.ROLLUP]).fetchone()[0]:
            click.echo("waiting for another tally rollup on this database to finish...", err=True)
            lock_conn.execute("select pg_advisory_lock(%s)", [locks.ROLLUP])
        result = run_dbt(target, "build", *(["--full-refresh"] if full_refresh else []))
    return _checked(result)


def _checked(result) -> RollupSummary:
    summary = _summarise(result)
    if not result.success:
        detail = ", ".join(summary.failed) or str(result.exception or "see dbt's output above")
        raise TallyError(f"dbt build failed: {detail}")
    return summary
