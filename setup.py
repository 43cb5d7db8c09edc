"""Puts the dbt project of this repository into the wheel, as the package's `tally/project`,
so that `tally init` can write it for a user who installed tally with pip. Everything else about
the package is in pyproject.toml."""

import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "cli"))
from tally.project_layout import PROJECT_CONTENTS  # noqa: E402


class BuildPyWithProject(build_py):
    def run(self):
        super().run()
        if self.editable_mode:  # an editable install runs the repository's own project
            return
        target = Path(self.build_lib) / "tally" / "project"
        shutil.rmtree(target, ignore_errors=True)
        for name in PROJECT_CONTENTS:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)


setup(cmdclass={"build_py": BuildPyWithProject})
