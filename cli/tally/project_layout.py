"""What a tally project folder holds: the dbt project that `tally init` writes and the wheel
ships. Free of imports, so that the package's build (setup.py) can read it too."""

PROJECT_FILE = "dbt_project.yml"
PROJECT_CONTENTS = (
    PROJECT_FILE,
    "profiles.example.yml",
    "models",
    "macros",
    "seeds",
    "snapshots",
    "tests",
    "analyses",
)
