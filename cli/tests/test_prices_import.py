"""`tally prices import`: a real LiteLLM price list (a committed subset, see fixtures/litellm)
mapped field by field into seeds/model_prices.csv rows, once."""

import csv
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import PROJECT_DIR
from tally.cli import cli

LITELLM = Path(__file__).parent / "fixtures" / "litellm" / "model_prices_and_context_window.json"
OLD_SEED = (
    "model_id,provider,effective_from,input_usd_per_1m,output_usd_per_1m\n"
    "gpt-5,openai,2025-08-07 00:00:00,1.25,10.00\n"
    "claude-sonnet-4-5,anthropic,2025-09-29 00:00:00,3.00,15.00\n"
)
PRICE_FIELDS = (
    "provider", "input_usd_per_1m", "output_usd_per_1m",
    "cache_read_usd_per_1m", "cache_write_usd_per_1m", "reasoning_usd_per_1m",
)
BEDROCK_SONNET = "claude-sonnet-4-5-20250929-v1:0"

# Read off the fixture by hand: LiteLLM's dollars per token times 10^6; an "above 200k" tier
# starts at 200,001 input tokens; a long-context row's missing price is its tier's base price.
EXPECTED = {
    # (model_id, service_tier, min_input_tokens):
    #     (provider, input, output, cache read, cache write, reasoning)
    ("gpt-5", "standard", "0"): ("openai", "1.25", "10", "0.125", "", ""),
    ("gpt-5", "batch", "0"): ("openai", "0.625", "5", "0.0625", "", ""),
    ("gpt-5", "flex", "0"): ("openai", "0.625", "5", "0.0625", "", ""),
    ("gpt-5", "priority", "0"): ("openai", "2.5", "20", "0.25", "", ""),
    ("gpt-5.4", "standard", "0"): ("openai", "2.5", "15", "0.25", "", ""),
    ("gpt-5.4", "standard", "272001"): ("openai", "5", "22.5", "0.5", "", ""),
    ("gpt-5.4", "priority", "0"): ("openai", "5", "30", "0.5", "", ""),
    ("claude-sonnet-4-5", "standard", "0"): ("anthropic", "3", "15", "0.3", "3.75", ""),
    ("claude-sonnet-4-5", "batch", "0"): ("anthropic", "1.5", "7.5", "0.15", "1.875", ""),
    (BEDROCK_SONNET, "standard", "0"): ("bedrock", "3", "15", "0.3", "3.75", ""),
    (BEDROCK_SONNET, "standard", "200001"): ("bedrock", "6", "22.5", "0.6", "7.5", ""),
    (BEDROCK_SONNET, "batch", "0"): ("bedrock", "1.5", "7.5", "", "", ""),
    ("gemini/gemini-2.5-pro", "standard", "0"): ("gemini", "1.25", "10", "0.125", "", ""),
    ("gemini/gemini-2.5-pro", "standard", "200001"): ("gemini", "2.5", "15", "0.25", "", ""),
    ("gemini/gemini-2.5-pro", "batch", "0"): ("gemini", "0.625", "5", "0.125", "", ""),
    ("gemini/gemini-2.5-pro", "batch", "200001"): ("gemini", "1.25", "7.5", "0.25", "", ""),
    ("gemini/gemini-2.5-pro", "priority", "200001"): ("gemini", "4.5", "27", "0.45", "", ""),
    ("gemini/gemini-2.5-flash", "standard", "0"): ("gemini", "0.3", "2.5", "0.03", "", "2.5"),
    ("deepseek/deepseek-chat", "standard", "0"): ("deepseek", "0.28", "0.42", "0.028", "0", ""),
    ("mistral/mistral-large-latest", "standard", "0"): ("mistral", "0.5", "1.5", "0.05", "", ""),
}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder whose price list is a short one without the optional columns."""
    shutil.copy(PROJECT_DIR / "dbt_project.yml", tmp_path)
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "model_prices.csv").write_text(OLD_SEED)
    monkeypatch.setenv("TALLY_PROJECT_DIR", str(tmp_path))
    return tmp_path


def _import(*args):
    return CliRunner().invoke(cli, ["prices", "import", str(LITELLM), *args])


def _rows(project):
    with (project / "seeds" / "model_prices.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def test_import_maps_every_price_field_of_a_real_litellm_file(project):
    result = _import("--effective-from", "2026-01-01T00:00:00Z")
    assert result.exit_code == 0, result.output
    rows = _rows(project)
    added = {(r["model_id"], r["service_tier"], r["min_input_tokens"]): r for r in rows[2:]}
    for key, expected in EXPECTED.items():
        row = added[key]
        assert tuple(row[field] for field in PRICE_FIELDS) == expected, key
        assert row["effective_from"] == "2026-01-01 00:00:00"
    # LiteLLM's sample_spec is its format's documentation, not a model; gpt-5's standard row
    # differs from the seed's (its cache price), claude-sonnet-4-5's too (its cache prices)
    assert not any(model == "sample_spec" for model, _, _ in added)
    assert "added gpt-5 (standard) from 2026-01-01 00:00:00" in result.output
    assert f"{len(added)} price rows added to model_prices.csv" in result.output
    # the old rows keep their values, empty in the columns they never had
    assert rows[0] == {
        "model_id": "gpt-5", "provider": "openai", "effective_from": "2025-08-07 00:00:00",
        "input_usd_per_1m": "1.25", "output_usd_per_1m": "10.00", "service_tier": "",
        "min_input_tokens": "", "cache_read_usd_per_1m": "", "cache_write_usd_per_1m": "",
        "reasoning_usd_per_1m": "",
    }


def test_a_second_import_changes_nothing(project):
    assert _import().exit_code == 0
    seed = (project / "seeds" / "model_prices.csv").read_bytes()
    result = _import()
    assert result.exit_code == 0, result.output
    assert result.output == "0 price rows added to model_prices.csv\n"
    assert (project / "seeds" / "model_prices.csv").read_bytes() == seed


def test_models_glob_and_unchanged_prices(project):
    """Only the matching models; a price equal to the one in effect (an empty cache price
    being the input price) adds nothing, a changed one adds its row."""
    seed = project / "seeds" / "model_prices.csv"
    seed.write_text(
        OLD_SEED.replace("\n", ",service_tier,min_input_tokens,cache_read_usd_per_1m,"
                         "cache_write_usd_per_1m,reasoning_usd_per_1m\n", 1)
        .replace("10.00\n", "10.00,standard,0,0.125,1.25,\n")
        .replace("15.00\n", "15.00,,,,,\n")
    )
    result = _import("--models", "gpt-5", "--effective-from", "2025-09-01 00:00:00")
    assert result.exit_code == 0, result.output
    added = [line.split(" from ")[0] for line in result.output.splitlines()[:-1]]
    assert added == ["added gpt-5 (batch)", "added gpt-5 (flex)", "added gpt-5 (priority)"]


def test_the_seed_agrees_with_litellm_where_both_name_a_model(tmp_path, monkeypatch):
    """The shipped price list holds the same prices as LiteLLM for the models both name."""
    shutil.copy(PROJECT_DIR / "dbt_project.yml", tmp_path)
    (tmp_path / "seeds").mkdir()
    shutil.copy(PROJECT_DIR / "seeds" / "model_prices.csv", tmp_path / "seeds")
    monkeypatch.setenv("TALLY_PROJECT_DIR", str(tmp_path))
    for glob in ("gpt-4o*", "o3", "gpt-5", "gpt-5-mini", "claude-haiku-4-5", "claude-opus-4-5"):
        result = _import("--models", glob, "--effective-from", "2026-01-01")
        assert result.output == "0 price rows added to model_prices.csv\n", glob


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("[1, 2]", [], "not a LiteLLM price list"),
        ("{", [], "not a JSON price list"),
        ('{"m": {"input_cost_per_token": "x", "output_cost_per_token": 1}}', [], "is not a number"),
        ("{}", ["--effective-from", "yesterday"], "not an ISO-8601 timestamp"),
    ],
)
def test_bad_input_is_one_line(project, tmp_path, content, args, message):
    path = tmp_path / "prices.json"
    path.write_text(content)
    result = CliRunner().invoke(cli, ["prices", "import", str(path), *args])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1
