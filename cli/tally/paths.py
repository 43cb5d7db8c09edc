"""Where tally keeps its state and finds its dbt project."""

import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]


def project_dir() -> Path:
    """The dbt project tally runs: this repository, or $TALLY_PROJECT_DIR (a copy, in tests)."""
    return Path(os.environ.get("TALLY_PROJECT_DIR", PROJECT_DIR))


def tally_home() -> Path:
    """The state folder (embedded database, logs, dbt artifacts), created on first use."""
    home = Path(os.environ.get("TALLY_HOME", project_dir() / ".tally")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home
