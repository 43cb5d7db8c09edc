"""`tally rollup`: dbt build, one at a time per database, with a summary of what changed."""

from dataclasses import dataclass, field
from datetime import datetime

import click

from tally import locks, rollup_inputs
from tally.database import connect
from tally.dbt_invocation import artifacts_dir, run_dbt
from tally.errors import TallyError
from tally.migrations import apply_pending
from tally.paths import project_dir

# Unit tests prove the SQL, not the data: they run in `make test` and CI, and in `tally verify`;
# so do the data tests that compare whole tables (tag whole_table), which no index can scope.
ROLLUP_SELECTION = ("--exclude", "resource_type:unit_test", "tag:whole_table")
# Data tests selected by themselves, so that a node left out (its input unchanged) keeps the
# tests that read a relation the run changes: dbt's default (eager) indirect selection drops
# every test of an excluded node. Tests tagged database_enforced state a rule the database
# enforces on every write (the grain's unique index, NOT NULL, CHECK), whose presence the
# singular test assert_usage_constraints_are_in_place checks in the catalog.
WITH_TESTS_OF_SKIPPED_NODES = (
    "--select",
    *(f"resource_type:{kind}" for kind in ("model", "seed", "snapshot", "test")),
    "--indirect-selection",
    "empty",
    "--exclude",
    "tag:whole_table",
    "tag:database_enforced",
)


@dataclass
class RollupSummary:
    rows_changed: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    # seeds, snapshots, views and tables left as they were (their input unchanged)
    unchanged: list[str] = field(default_factory=list)
    # data tests left out: each passed before on the rows it would read
    tests_passed_before: int = 0
    # when nothing had changed since the last rollup: when that rollup was recorded (no dbt run)
    up_to_date_since: datetime | None = None


def _node_results(result) -> list:
    """Each node's result in dbt's result (none when dbt stopped before running nodes)."""
    return getattr(result.result, "results", None) or []


def _is_incremental_model(node) -> bool:
    return node.resource_type == "model" and node.config.materialized == "incremental"


def _summarise(result) -> RollupSummary:
    summary = RollupSummary()
    for node_result in _node_results(result):
        node = node_result.node
        if str(node_result.status) in {"error", "fail"}:
            summary.failed.append(node.name)
        elif _is_incremental_model(node):
            rows = (node_result.adapter_response or {}).get("rows_affected")
            summary.rows_changed[node.alias or node.name] = rows if rows is not None else -1
    return summary


def _run_on_spark(full_refresh: bool):
    """Spark: the raw layer cleaned of what a killed load left, then dbt build, one rollup at a
    time on this machine (the loader's lock). Seeds are rebuilt and data tests cover whole
    tables: the inputs' fingerprints and the run's scope live in PostgreSQL's ops schema."""
    from tally.spark.raw_layer import RawLayer, locked

    layer = RawLayer()
    with locked():
        layer.ensure()
        layer.clean()
        return run_dbt(
            "spark", "build", *ROLLUP_SELECTION, *(["--full-refresh"] if full_refresh else [])
        )


def run_rollup(target: str, full_refresh: bool = False) -> RollupSummary:
    """Build everything with dbt but the unit tests, the seeds, snapshots, views and tables whose
    input is unchanged and the data tests that passed on the rows they would read
    (tally.rollup_inputs); each data test covers what the run changed (TALLY_TEST_SCOPE=run, see
    macros/schema/get_where_subquery.sql). Nothing at all when nothing
    the rollup reads has changed since the last one. Rollups of the same database wait for each
    other."""
    from tally.targets import is_spark

    if is_spark(target):
        return _checked(_run_on_spark(full_refresh))
    with connect(target, autocommit=True) as lock_conn:
        apply_pending(lock_conn)
        if not lock_conn.execute("select pg_try_advisory_lock(%s)", [locks.ROLLUP]).fetchone()[0]:
            click.echo("waiting for another tally rollup on this database to finish...", err=True)
            lock_conn.execute("select pg_advisory_lock(%s)", [locks.ROLLUP])
        started_at = rollup_inputs.clock(lock_conn)
        code = rollup_inputs.code_digest(project_dir())
        run_inputs = rollup_inputs.run_inputs(lock_conn, code)
        if not full_refresh:
            since = rollup_inputs.nothing_to_build(lock_conn, run_inputs)
            if since is not None:
                return RollupSummary(up_to_date_since=since)
        manifest = artifacts_dir() / "manifest.json"
        latest = rollup_inputs.latest_batches(lock_conn)
        parsed = rollup_inputs.read_manifest(manifest)
        unchanged, passed = (
            ([], []) if full_refresh else rollup_inputs.left_out(lock_conn, code, parsed, latest)
        )
        rollup_inputs.forget_run(lock_conn)
        manifest_is_current = rollup_inputs.manifest_is_current(manifest, code, target)
        written_before = rollup_inputs.written_at(manifest)
        result = run_dbt(
            target,
            "build",
            *WITH_TESTS_OF_SKIPPED_NODES,
            *unchanged,
            *passed,
            *(["--full-refresh"] if full_refresh else []),
            *(["--no-write-json"] if manifest_is_current else []),
            env={"TALLY_TEST_SCOPE": "run"},
        )
        if manifest_is_current and hasattr(result.result, "write"):
            result.result.write(str(artifacts_dir() / "run_results.json"))
        elif rollup_inputs.written_at(manifest) != written_before:
            rollup_inputs.record_manifest(manifest, code, target)
            parsed = rollup_inputs.read_manifest(manifest)  # this run's: the graph it built
        if result.success:
            rollup_inputs.record_built(lock_conn, code, parsed, latest, _test_statuses(result))
            rollup_inputs.record_run(lock_conn, run_inputs, started_at)
            if full_refresh:
                _vacuum(lock_conn, _rebuilt_relations(lock_conn, result))
    summary = _checked(result)
    summary.unchanged = unchanged
    summary.tests_passed_before = len(passed)
    return summary


# fct_usage_hourly's sums per organization and hour, which its post-hook rebuilds on a full
# refresh (macros/rollup/usage_hourly_org_sums.sql)
HOURLY_ORG_SUMS = "ops.rollup_hourly_org_sums"


def _incremental_relations(result) -> list[str]:
    return [
        f'"{node_result.node.schema}"."{node_result.node.alias}"'
        for node_result in _node_results(result)
        if _is_incremental_model(node_result.node)
    ]


def _rebuilt_relations(conn, result) -> list[str]:
    """What a full refresh rebuilt: the incremental models' tables, and the hourly rollup's sums
    beside them."""
    sums = conn.execute("select to_regclass(%s) is not null", [HOURLY_ORG_SUMS]).fetchone()[0]
    return _incremental_relations(result) + ([HOURLY_ORG_SUMS] if sums else [])


def _vacuum(conn, relations: list[str]) -> None:
    """After a full refresh: the tables it rebuilt vacuumed and analyzed at once, rather than
    by an autovacuum worker whenever its round comes, which on large tables can be during the
    next rollups (docs/rollups.md, "After a full refresh")."""
    if not relations:
        return
    click.echo(f"vacuuming and analyzing the {len(relations)} rebuilt tables...", err=True)
    conn.execute(f"vacuum (analyze) {', '.join(relations)}")


def _test_statuses(result) -> dict[str, str]:
    return {
        node_result.node.name: str(node_result.status)
        for node_result in _node_results(result)
        if node_result.node.resource_type == "test"
    }


def _checked(result) -> RollupSummary:
    summary = _summarise(result)
    if not result.success:
        detail = ", ".join(summary.failed) or str(result.exception or "see dbt's output above")
        raise TallyError(f"dbt build failed: {detail}")
    return summary
