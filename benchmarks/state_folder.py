"""A benchmark's state folder: a TALLY_HOME of its own with a copy of the project (so that a
price edit or a run's files touch no checkout), made the environment's for the `tally`
subprocesses it starts."""

import os
import shutil
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT / "cli"))
from tally.project_layout import PROJECT_CONTENTS  # noqa: E402


def fresh(prefix: str) -> Path:
    """A new state folder in the temporary folder, readable by the database server's user, made
    the environment's TALLY_HOME."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    home.chmod(0o755)
    os.environ["TALLY_HOME"] = str(home)
    return home


def with_project(home: Path) -> Path:
    """Make `home` (readable by the database server's user) with the project copied into
    home/project, and set TALLY_HOME and TALLY_PROJECT_DIR to them; returns the project."""
    project = home / "project"
    project.mkdir(parents=True)
    home.chmod(0o755)
    for part in PROJECT_CONTENTS:
        source = PROJECT / part
        if source.is_dir():
            shutil.copytree(source, project / part)
        else:
            shutil.copy2(source, project / part)
    os.environ["TALLY_HOME"] = str(home)
    os.environ["TALLY_PROJECT_DIR"] = str(project)
    return project
