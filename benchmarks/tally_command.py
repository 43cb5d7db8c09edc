"""`tally` run by a benchmark as a user runs it: a subprocess, its output discarded, its progress
and errors on the terminal."""

import subprocess
import sys
import time

QUARANTINED = 3  # tally load's exit status when it loaded a file and quarantined some records


def tally(*args: str, accept: tuple[int, ...] | None = (0, QUARANTINED)) -> float:
    """Run `tally ARGS`; its wall clock in seconds. An exit status outside `accept` ends the
    benchmark (tally has printed why); `accept=None` takes any (a verdict the benchmark times
    but does not judge, such as verify's)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tally", *args], stdout=subprocess.DEVNULL)
    if accept is not None and done.returncode not in accept:
        raise SystemExit(f"tally {' '.join(args)} failed (exit {done.returncode})")
    return time.perf_counter() - started
