"""Drives the real pipeline for the rollup tests: files written, loaded with `tally load`,
rolled up with dbt in-process, against a copy of the dbt project whose prices a test may edit."""

import hashlib
import json
import shutil
from pathlib import Path

import psycopg
from click.testing import CliRunner
from conftest import PROJECT_DIR, SCHEMAS
from tally.cli import cli
from tally.dbt_invocation import run_dbt
from tally.migrations import apply_pending
from usage_reference import Ledger, PriceList, actual_by_model, actual_rollup, by_model

PROJECT_PARTS = (
    "dbt_project.yml",
    "profiles.example.yml",
    "models",
    "macros",
    "seeds",
    "snapshots",
    "tests",
    "analyses",
)
ROLLUPS = {
    "fct_usage_hourly": "hour",
    "fct_usage_daily_v1": "utc_date",
    "fct_usage_daily_v2": "local_date",
}
USAGE_SELECTION = (
    "--select",
    "+fct_usage_hourly",
    "+fct_usage_daily",
    "+fct_usage_daily_by_model",
    "+rpt_usage_reconciliation",
    "--exclude",
    "resource_type:test",
    "resource_type:unit_test",
)


def copy_project(destination: Path) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    for part in PROJECT_PARTS:
        source = PROJECT_DIR / part
        if source.is_dir():
            shutil.copytree(source, destination / part, dirs_exist_ok=True)
        else:
            shutil.copy2(source, destination / part)
    return destination


def reset_database(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for schema in SCHEMAS:
            conn.execute(f"drop schema if exists {schema} cascade")


class Pipeline:
    """One project copy and database, the files loaded into it, and the reference beside it."""

    def __init__(self, project: Path, url: str, workdir: Path):
        self.project, self.url, self.workdir = project, url, workdir
        self.ledger = Ledger()
        self.loaded_files: set[str] = set()
        self.batches = 0

    @property
    def prices_csv(self) -> Path:
        return self.project / "seeds" / "model_prices.csv"

    def load(self, kind: str, records: list[dict]) -> None:
        """Load one file of `kind`; a file with the same content as an earlier one loads nothing."""
        if not records:
            return
        self.batches += 1
        path = self.workdir / f"{kind}_{self.batches:04d}.jsonl"
        content = "".join(json.dumps(record) + "\n" for record in records)
        path.write_text(content)
        result = CliRunner().invoke(cli, ["load", "--kind", kind, str(path)])
        assert result.exit_code == 0, result.output
        digest = hashlib.sha256(f"{kind}\0{content}".encode()).hexdigest()
        if digest in self.loaded_files:
            return
        self.loaded_files.add(digest)
        getattr(self.ledger, f"load_{kind}")(records)

    def rollup(self, *extra: str) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            apply_pending(conn)
        result = run_dbt("local", "build", *USAGE_SELECTION, *extra)
        assert result.success, f"dbt build failed: {result.exception}"

    def assert_matches_reference(self) -> None:
        prices = PriceList.from_csv(self.prices_csv)
        with psycopg.connect(self.url) as conn:
            for table, grain in ROLLUPS.items():
                expected = self.ledger.rollup(prices, grain)
                actual = actual_rollup(conn, table)
                missing = {k: v for k, v in expected.items() if actual.get(k) != v}
                extra = {k: v for k, v in actual.items() if k not in expected}
                assert not missing and not extra, (
                    f"{table}: expected but not found {missing}; found but not expected {extra}"
                )
            expected = by_model(self.ledger.rollup(prices, "local_date"))
            assert actual_by_model(conn) == expected, "fct_usage_daily_by_model"
            mismatches = conn.execute(
                "select count(*) from analytics.rpt_usage_reconciliation where status != 'ok'"
            ).fetchone()[0]
            assert mismatches == 0

    def snapshot(self) -> dict[str, dict]:
        """Every rollup's rows, and the reconciliation's (but for the run that computed each)."""
        with psycopg.connect(self.url) as conn:
            tables = {table: actual_rollup(conn, table) for table in ROLLUPS}
            report = conn.execute(
                "select to_jsonb(report) - 'reconciled_by_invocation_id'"
                " from analytics.rpt_usage_reconciliation as report"
            ).fetchall()
        report_rows = {(row["org_id"], row["usage_date"]): row for (row,) in report}
        return {**tables, "rpt_usage_reconciliation": report_rows}
