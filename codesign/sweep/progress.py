"""Sweep progress: a live bar on a terminal, periodic plain lines otherwise.

>>> import io
>>> out = io.StringIO()
>>> p = Progress(4, out, tty=False, interval=0.0, clock=iter(range(100)).__next__)
>>> for _ in range(4): p.update()
>>> p.close()
>>> out.getvalue().splitlines()[-1]
'progress: 4/4 (100%), 0.8 points/s, 0 failed, done in 5s'
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """Counts finished points and reports rate and ETA."""

    def __init__(
        self,
        total: int,
        stream: TextIO | None = None,
        *,
        quiet: bool = False,
        tty: bool | None = None,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = 0.1 if self.tty else interval
        self.clock = clock
        self.start = clock()
        self.last = self.start

    def update(self, failed: bool = False) -> None:
        """One more point finished."""
        self.done += 1
        self.failed += failed
        now = self.clock()
        if not self.quiet and self.done < self.total and now - self.last >= self.interval:
            self.last = now
            self._show(now, final=False)

    def close(self) -> None:
        """Final line."""
        if not self.quiet and self.total:
            self._show(self.clock(), final=True)

    def _show(self, now: float, final: bool) -> None:
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        share = self.done / self.total if self.total else 1.0
        if final:
            tail = f"done in {_duration(elapsed)}"
        else:
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            tail = f"ETA {_duration(eta)}" if eta != float("inf") else "ETA ?"
        if self.tty:
            width = 24
            filled = int(width * share)
            bar = "#" * filled + "-" * (width - filled)
            text = (f"\r[{bar}] {self.done}/{self.total} {share:4.0%}  {rate:,.1f} pt/s  "
                    f"{self.failed} failed  {tail}   ")
            self.stream.write(text + ("\n" if final else ""))
        else:
            self.stream.write(f"progress: {self.done}/{self.total} ({share:.0%}), "
                              f"{rate:,.1f} points/s, {self.failed} failed, {tail}\n")
        self.stream.flush()
