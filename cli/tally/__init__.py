"""tally: exact, incremental, reconciled usage rollups."""

__version__ = "0.1.0"
