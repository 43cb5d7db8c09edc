"""Where tally keeps its state and finds its dbt project."""

import os
from pathlib import Path

PROJECT_DIR = Path(os.environ.get("TALLY_PROJECT_DIR", Path(__file__).resolve().parents[2]))


def tally_home() -> Path:
    """The state folder (embedded database, logs, dbt artifacts), created on first use."""
    home = Path(os.environ.get("TALLY_HOME", PROJECT_DIR / ".tally")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home
