"""One list of rollup measures and one definition per lock key: every copy the tools force on us
(dbt contracts in YAML, the tests' independent reference, dbt's var for a lock key) is checked
against the source, and a measure added to the list alone reaches the table through an
incremental run (the merge takes it from the same list)."""

from datetime import UTC, datetime, timedelta

import pytest
import yaml
from conftest import PROJECT_DIR, query
from rollup_harness import Pipeline, copy_project, reset_database
from tally import locks, measures
from usage_reference import MEASURES as REFERENCE_MEASURES

USAGE_MODELS = PROJECT_DIR / "models" / "marts" / "usage" / "_usage__models.yml"
ROLLUP_MODELS = ("fct_usage_hourly", "fct_usage_daily", "fct_usage_daily_by_model")


def _project_vars() -> dict:
    return yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]


def _model(name: str) -> dict:
    models = yaml.safe_load(USAGE_MODELS.read_text())["models"]
    return next(model for model in models if model["name"] == name)


def test_the_load_commit_lock_key_is_the_same_for_dbt_and_the_loader():
    assert _project_vars()["tally_load_commit_lock"] == locks.LOAD_COMMIT


def test_lock_keys_are_distinct():
    keys = [value for name, value in vars(locks).items() if name.isupper()]
    assert len(keys) == len(set(keys)) == 3


@pytest.mark.parametrize("model_name", ROLLUP_MODELS)
def test_each_rollup_contract_declares_every_measure_with_its_type(model_name):
    columns = {column["name"]: column for column in _model(model_name)["columns"]}
    grain = {"usage_hour", "usage_date", "org_id", "user_id", "api_key_id", "model_id"}
    assert set(columns) - grain == set(measures.names())
    for measure in measures.summed():
        assert columns[measure.name]["data_type"] == measure.data_type, measure.name
        assert {"type": "not_null"} in columns[measure.name]["constraints"], measure.name


@pytest.mark.parametrize("model_name", ROLLUP_MODELS)
def test_each_rollup_table_refuses_a_negative_measure(model_name):
    """`tally rollup` leaves the rows' rules to the database (its tests skip them): the
    contract's checks name every summed measure."""
    model = _model(model_name)
    checks = [c["expression"] for c in model.get("constraints", []) if c["type"] == "check"]
    for column in model["columns"]:
        checks += [c["expression"] for c in column.get("constraints", []) if c["type"] == "check"]
    rules = " and ".join(checks)
    for measure in measures.summed():
        assert f"{measure.name} >= 0" in rules or f"{measure.name} > 0" in rules, measure.name


def test_the_reference_computes_every_measure_in_the_projects_order():
    assert measures.names() == REFERENCE_MEASURES


def test_the_cli_reads_the_projects_list():
    assert [m.name for m in measures.summed()] == [
        entry["name"] for entry in _project_vars()["tally_usage_measures"]
    ]
    assert measures.names()[-1] == "cost_usd"


@pytest.mark.slow
def test_a_measure_added_to_the_list_is_summed_and_merged(db_url, tmp_path, monkeypatch):
    """The list and the contracts are all a new summed measure needs: a full refresh sums it and
    an incremental run merges its deltas (the MERGE takes its columns from the list)."""
    project = copy_project(tmp_path / "project")
    config = yaml.safe_load((project / "dbt_project.yml").read_text())
    config["vars"]["tally_usage_measures"].append(
        {"name": "latency_ms", "data_type": "numeric(38, 0)", "per_event": "latency_ms"}
    )
    (project / "dbt_project.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    models_yml = project / USAGE_MODELS.relative_to(PROJECT_DIR)
    models = yaml.safe_load(models_yml.read_text())
    for model in models["models"]:
        if model["name"] in ROLLUP_MODELS:
            model["columns"].append(
                {
                    "name": "latency_ms",
                    "data_type": "numeric(38, 0)",
                    "constraints": [{"type": "not_null"}],
                }
            )
    models_yml.write_text(yaml.safe_dump(models, sort_keys=False))
    monkeypatch.setenv("TALLY_PROJECT_DIR", str(project))
    reset_database(db_url)
    (tmp_path / "files").mkdir()
    pipeline = Pipeline(project, db_url, tmp_path / "files")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)

    def event(event_id, latency_ms):
        return {
            "event_id": event_id,
            "org_id": "org_a",
            "model_id": "gpt-4o",
            "event_time": (hour + timedelta(minutes=5)).isoformat(),
            "input_tokens": 1,
            "output_tokens": 1,
            "status": "success",
            "latency_ms": latency_ms,
        }

    pipeline.load("events", [event("a", 120)])
    pipeline.rollup("--full-refresh")
    pipeline.load("events", [event("b", 80)])
    pipeline.rollup()
    tables = ("fct_usage_hourly", "fct_usage_daily_v1", "fct_usage_daily_v2",
              "fct_usage_daily_by_model")
    for table in tables:
        assert query(db_url, f"select request_count, latency_ms from analytics.{table}") == [
            (2, 200)
        ], table
