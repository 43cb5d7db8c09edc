"""Print the environment dbt needs for a target as shell exports, for tools that run dbt
themselves (sqlfluff's dbt templater, a hand-run `dbt`).

Example:
    eval "$(python -m tally.dbt_env)" && sqlfluff lint models
"""

import shlex
import sys

from tally.dbt_invocation import dbt_env
from tally.targets import default_target


def main(argv: list[str]) -> None:
    target = argv[0] if argv else default_target()
    for name, value in dbt_env(target).items():
        print(f"export {name}={shlex.quote(value)}")


if __name__ == "__main__":
    main(sys.argv[1:])
