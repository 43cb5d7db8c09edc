"""The rollups' measures, as the dbt project defines them (var `tally_usage_measures` of
dbt_project.yml): the one list that the rollup query, the merge, the data tests and the verify
suites all derive from.

Each summed measure is the sum of an expression over a rollup row's events; `cost_usd` is derived
from two of them (priced_cost_usd when unpriced_request_count is 0, else NULL).
"""

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from tally.paths import project_dir

DERIVED = ("cost_usd",)  # rollup columns computed from the summed measures, not summed


@dataclass(frozen=True)
class Measure:
    name: str
    data_type: str
    per_event: str


@cache
def _read(project: Path) -> tuple[Measure, ...]:
    config = yaml.safe_load((project / "dbt_project.yml").read_text())
    return tuple(Measure(**entry) for entry in config["vars"]["tally_usage_measures"])


def summed() -> tuple[Measure, ...]:
    """The summed measures, in the order the project lists them."""
    return _read(project_dir())


def names() -> tuple[str, ...]:
    """Every measure column of a rollup row: the summed ones, then the derived ones."""
    return (*(measure.name for measure in summed()), *DERIVED)
