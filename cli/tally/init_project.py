"""`tally init DIR`: a new project folder holding the dbt project this installation ships."""

import shutil
from pathlib import Path

from tally.errors import TallyError
from tally.paths import shipped_project
from tally.project_layout import PROJECT_CONTENTS, PROJECT_FILE

GITIGNORE = ".tally/\ntarget/\ndbt_packages/\nlogs/\n"
IGNORED = shutil.ignore_patterns("__pycache__")


def init_project(folder: Path) -> list[Path]:
    """Write the shipped dbt project, a profiles.yml and a .gitignore into `folder` (new or
    empty of a project); returns what was written."""
    if (folder / PROJECT_FILE).exists():
        raise TallyError(f"{folder} already holds a dbt project ({PROJECT_FILE})")
    clashes = [name for name in PROJECT_CONTENTS if (folder / name).exists()]
    if clashes:
        raise TallyError(f"{folder} already holds {', '.join(clashes)}: choose an empty folder")
    source = shipped_project()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in PROJECT_CONTENTS:
        if (source / name).is_dir():
            shutil.copytree(source / name, folder / name, ignore=IGNORED)
        else:
            shutil.copy2(source / name, folder / name)
        written.append(folder / name)
    profiles = folder / "profiles.yml"
    if not profiles.exists():
        shutil.copy2(source / "profiles.example.yml", profiles)
        written.append(profiles)
    gitignore = folder / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(GITIGNORE)
        written.append(gitignore)
    return written
