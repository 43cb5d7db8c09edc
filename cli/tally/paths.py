"""Where tally finds its dbt project and keeps its state.

The project is found as dbt and git find theirs: $TALLY_PROJECT_DIR when set (as dbt's
DBT_PROJECT_DIR overrides the current folder), else the current folder or its nearest parent
holding a dbt_project.yml. The state folder is $TALLY_HOME, else the project's `.tally/`.
"""

import os
from pathlib import Path

from tally.errors import TallyError
from tally.project_layout import PROJECT_FILE

_PACKAGE_DIR = Path(__file__).resolve().parent


def shipped_project() -> Path:
    """The dbt project this installation of tally carries: tally/project in a wheel, the
    repository itself in an editable install."""
    for candidate in (_PACKAGE_DIR / "project", _PACKAGE_DIR.parents[1]):
        if (candidate / PROJECT_FILE).is_file():
            return candidate
    raise TallyError(f"this installation of tally carries no dbt project ({_PACKAGE_DIR})")


def find_project(start: Path | None = None) -> Path | None:
    """$TALLY_PROJECT_DIR, else the nearest folder from `start` (default: the current one)
    upwards that holds a dbt_project.yml; None when there is none."""
    if os.environ.get("TALLY_PROJECT_DIR"):
        return Path(os.environ["TALLY_PROJECT_DIR"]).resolve()
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / PROJECT_FILE).is_file():
            return candidate
    return None


def project_dir() -> Path:
    """The dbt project tally runs, or a one-line error saying how to get one."""
    found = find_project()
    if found is None:
        raise TallyError(
            f"no tally project in {Path.cwd()} or any parent folder (no {PROJECT_FILE}):"
            " create one with 'tally init DIR', or set TALLY_PROJECT_DIR"
        )
    if not (found / PROJECT_FILE).is_file():
        raise TallyError(f"TALLY_PROJECT_DIR={found} holds no {PROJECT_FILE}")
    return found


def tally_home() -> Path:
    """The state folder (embedded database, logs, dbt artifacts), created on first use."""
    if os.environ.get("TALLY_HOME"):
        home = Path(os.environ["TALLY_HOME"]).resolve()
    else:
        home = project_dir() / ".tally"
    home.mkdir(parents=True, exist_ok=True)
    return home
