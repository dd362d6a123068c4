"""Progress output: a redrawn bar on a terminal, periodic lines otherwise, nothing if quiet."""

from __future__ import annotations

import io
from itertools import count

from codesign.sweep.progress import Progress


def test_terminal_bar_redraws_in_place() -> None:
    out = io.StringIO()
    progress = Progress(10, out, tty=True, clock=count(0, 0.5).__next__)
    for i in range(10):
        progress.update(failed=i == 3)
    progress.close()
    text = out.getvalue()
    frames = text.split("\r")[1:]
    assert len(frames) == 10  # nine redraws while running, then the final frame
    assert frames[0].startswith("[##--------------------") and " 1/10 " in frames[0]
    assert "ETA" in frames[0] and text.count("\n") == 1 and text.endswith("\n")
    assert frames[-1].startswith("[########################] 10/10 100%")
    assert "1 failed" in frames[-1] and "done in" in frames[-1]


def test_plain_lines_are_periodic() -> None:
    out = io.StringIO()
    progress = Progress(100, out, tty=False, interval=10.0, clock=count(0, 1).__next__)
    for _ in range(100):
        progress.update()
    progress.close()
    lines = out.getvalue().splitlines()
    # one line per 10 s of (fake) time while running, then the summary
    assert len(lines) == 10
    assert lines[0].startswith("progress: 10/100 (10%)") and "ETA" in lines[0]
    assert lines[-1].startswith("progress: 100/100 (100%)") and "done in" in lines[-1]


def test_quiet_prints_nothing() -> None:
    out = io.StringIO()
    progress = Progress(3, out, quiet=True, tty=True)
    for _ in range(3):
        progress.update()
    progress.close()
    assert out.getvalue() == ""
