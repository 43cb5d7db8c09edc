"""A progress bar on stderr for loads that take more than a moment, only on a terminal."""

import sys
import time

DELAY_S = 1.0  # show nothing for a file that loads faster than this
INTERVAL_S = 0.2


class Progress:
    def __init__(self, label: str, total_bytes: int, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.label, self.total = label, max(total_bytes, 1)
        self.started = time.monotonic()
        self._last = 0.0
        self._shown = False

    def __call__(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.started < DELAY_S or now - self._last < INTERVAL_S:
            return
        self._last = now
        fraction = min(done / self.total, 1.0)
        bar = "#" * int(fraction * 30)
        rate = done / (now - self.started) / 1e6
        status = "validating" if fraction >= 1 else f"{rate:.0f} MB/s"
        self.stream.write(f"\r{self.label} [{bar:<30}] {fraction:4.0%} {status}  ")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
