"""Paired loads: two checkouts of tally load the same file, turn about, into a fresh raw layer.

On a machine whose speed drifts within minutes, a change of a few per cent shows only between
loads run side by side: each pair runs A and B back to back (alternating which goes first), and
the figure is the median over pairs of B's time over A's.

    python benchmarks/paired_load.py FILE CHECKOUT_A CHECKOUT_B [--pairs N]

A checkout is a directory holding tally's `cli/` (a git worktree, or a copy); both run with this
project's Python and packages, against one embedded PostgreSQL started for the comparison.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR / "cli"))

from bench_load import fresh, run_child  # noqa: E402
from tally.embedded_db import EmbeddedServer  # noqa: E402


def load_seconds(checkout: Path, path: Path, url: str, env: dict) -> float:
    fresh(url)
    command = [sys.executable, "-m", "tally", "load", "--json", str(path)]
    seconds, _, _ = run_child(command, {**env, "PYTHONPATH": str(checkout / "cli")})
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("a", type=Path, help="the checkout to compare against")
    parser.add_argument("b", type=Path, help="the checkout with the change")
    parser.add_argument("--pairs", type=int, default=6)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="tally-paired-"))
    home.chmod(0o755)
    env = {**os.environ, "TALLY_HOME": str(home), "TALLY_TARGET": "local"}
    server = EmbeddedServer(home)
    try:
        server.start()
        url = server.url()
        ratios = []
        for pair in range(args.pairs):
            order = (args.a, args.b) if pair % 2 == 0 else (args.b, args.a)
            seconds = {checkout: load_seconds(checkout, args.file, url, env) for checkout in order}
            ratios.append(seconds[args.b] / seconds[args.a])
            print(f"pair {pair}: A {seconds[args.a]:.1f} s, B {seconds[args.b]:.1f} s", flush=True)
        print(
            f"B/A, median of {args.pairs} pairs: {statistics.median(ratios):.3f}"
            f" ({', '.join(f'{r:.2f}' for r in ratios)})"
        )
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
