"""``examples/lackey`` runs as its README says: record a trace, then summarize it twice."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "lackey"


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_record_and_summarize(tmp_path: Path, cache: Path) -> None:
    trace = tmp_path / "true.lackey"
    recorded = subprocess.run([str(EXAMPLE / "record.sh"), str(trace), "true"],
                              capture_output=True, text=True, timeout=120)
    assert recorded.returncode == 0, recorded.stderr
    assert f"references of 'true' in {trace}" in recorded.stdout
    env = {**os.environ, "CODESIGN_CACHE": str(cache)}
    runs = [subprocess.run([sys.executable, str(EXAMPLE / "summarize.py"), str(trace), kinds],
                           capture_output=True, text=True, timeout=120, env=env)
            for kinds in ("LSM", "ILSM")]
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert "SYSCALL    execve #1" in run.stdout
    assert "fetches" not in runs[0].stdout and "fetches" in runs[1].stdout
    assert len(list(cache.glob("lackey-*.npz"))) == 1  # both runs share one parse


def test_summarize_reports_bad_input_in_one_line(tmp_path: Path, cache: Path) -> None:
    bad = tmp_path / "bad.lackey"
    bad.write_text(" L 1000,4\nhello\n")
    run = subprocess.run([sys.executable, str(EXAMPLE / "summarize.py"), str(bad)],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "CODESIGN_CACHE": str(cache)})
    assert run.returncode == 2
    assert run.stderr.strip() == (f"error: {bad}:2: malformed lackey line 'hello'; expected "
                                  "'I  ADDR,SIZE', ' L ADDR,SIZE', ' S ...', ' M ...' or a "
                                  "==PID== banner (workload.skip_bad_lines = true skips "
                                  "bad lines)")


def test_summarize_surveys_a_streamed_trace(trace: Path, cache: Path) -> None:
    run = subprocess.run([sys.executable, str(EXAMPLE / "summarize.py"), str(trace)],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "CODESIGN_CACHE": str(cache),
                              "CODESIGN_STREAM_BYTES": "0"})
    assert run.returncode == 0, run.stderr
    assert "SYSCALL    execve #1" in run.stdout
    assert "streamed: 6," in run.stdout and " 6,000 references" in run.stdout
    assert not list(cache.glob("lackey-*.npz"))  # surveyed, not parsed into the cache
    whole = subprocess.run([sys.executable, str(EXAMPLE / "summarize.py"), str(trace)],
                           capture_output=True, text=True, timeout=120,
                           env={**os.environ, "CODESIGN_CACHE": str(cache)})
    def counts(text: str) -> list[str]:
        return [line for line in text.splitlines() if re.fullmatch(r" *[a-z_]+  [\d,]+", line)]

    assert counts(run.stdout) and counts(run.stdout) == counts(whole.stdout)  # same summary
