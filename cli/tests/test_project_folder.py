"""The project folder, found as dbt and git find theirs; `tally init`; plain dbt on it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_DIR, invoke_tally, query
from tally.paths import find_project, project_dir, tally_home
from tally.project_layout import PROJECT_CONTENTS


@pytest.fixture
def no_project_settings(monkeypatch):
    """Neither TALLY_PROJECT_DIR nor TALLY_HOME: tally must find its folders itself."""
    monkeypatch.delenv("TALLY_PROJECT_DIR", raising=False)
    monkeypatch.delenv("TALLY_HOME", raising=False)


def test_the_nearest_project_upwards_is_found(tmp_path, monkeypatch, no_project_settings):
    invoke_tally("init", str(tmp_path / "acme"))
    deep = tmp_path / "acme" / "models" / "marts"
    monkeypatch.chdir(deep)
    assert project_dir() == tmp_path / "acme"
    assert tally_home() == tmp_path / "acme" / ".tally"
    monkeypatch.setenv("TALLY_PROJECT_DIR", str(PROJECT_DIR))
    assert find_project() == PROJECT_DIR  # the variable names the project, as DBT_PROJECT_DIR


def test_without_a_project_a_command_says_so_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("TALLY_PROJECT_DIR", "TALLY_HOME")}
    result = subprocess.run(
        [sys.executable, "-m", "tally", "rollup"], capture_output=True, text=True,
        cwd=tmp_path, env=env,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Error: no tally project in {tmp_path} or any parent folder (no dbt_project.yml):"
        " create one with 'tally init DIR', or set TALLY_PROJECT_DIR"
    ]


def test_init_writes_the_shipped_project_and_refuses_to_overwrite(tmp_path, no_project_settings):
    folder = tmp_path / "acme"
    result = invoke_tally("init", str(folder))
    for name in PROJECT_CONTENTS:
        shipped, written = PROJECT_DIR / name, folder / name
        if shipped.is_dir():
            assert sorted(p.name for p in written.rglob("*")) == sorted(
                p.name for p in shipped.rglob("*") if "__pycache__" not in p.parts
            )
        else:
            assert written.read_bytes() == shipped.read_bytes()
    example = PROJECT_DIR / "profiles.example.yml"
    assert (folder / "profiles.yml").read_bytes() == example.read_bytes()
    assert ".tally/" in (folder / ".gitignore").read_text()
    assert "next: cd" in result.stdout

    again = invoke_tally("init", str(folder), check=False)
    assert again.exit_code == 1
    assert again.stderr.strip() == f"Error: {folder} already holds a dbt project (dbt_project.yml)"


def test_db_start_creates_the_raw_layer_for_a_hand_run_dbt(clean_db, tally_home, tmp_path):
    """`tally db start`, then plain dbt with only TALLY_HOME set and the example profile."""
    invoke_tally("db", "start")
    assert query(clean_db, "select to_regclass('raw.load_batches') is not null") == [(True,)]

    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copy(PROJECT_DIR / "profiles.example.yml", profiles / "profiles.yml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "TALLY_LOCAL"))}
    # PWD: the folder the profile would fall back on, where no database runs
    env.update(TALLY_HOME=str(tally_home), PWD=str(tmp_path), DBT_USE_COLORS="false",
               DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "debug", "--profiles-dir", str(profiles),
         "--project-dir", str(PROJECT_DIR), "--target", "local"],
        capture_output=True, text=True, cwd=tmp_path, env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Connection test: [OK connection ok]" in result.stdout
