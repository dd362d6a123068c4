"""A sweep driver killed with SIGKILL leaves no worker behind: each worker notices that its
driver is gone and exits (issue 15: no orphans), the local pool's by its watchdog and a local
Dask cluster's by losing its nanny."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SPEC = """version = 1
name = "orphans"
[workload]
name = "random"
refs = 200000
footprint_mb = 8
seed = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
[mechanism]
name = "nested"
"tlb.l1.entries" = [16, 32, 64, 128]
[hardware]
"hw.cost" = false
"""


def _children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _parent(int(entry.name)) == pid:
            out.append(int(entry.name))
    return out


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, ...


def _parent(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[1]) if fields else None


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")  # a zombie has exited


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize("executor", [["--jobs", "3"], ["--executor", "dask", "--jobs", "2"]],
                         ids=["local", "dask"])
def test_sigkill_of_a_sweep_leaves_no_worker(tmp_path: Path, executor: list[str]) -> None:
    if "dask" in executor:
        pytest.importorskip("distributed")
    spec = tmp_path / "orphans.toml"
    spec.write_text(SPEC)
    driver = subprocess.Popen([sys.executable, "-m", "codesign", "sweep", str(spec),
                               "--store", str(tmp_path / "o.sqlite"), *executor,
                               "--quiet"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        workers: list[int] = []
        deadline = time.monotonic() + 60
        # The driver's children: multiprocessing's resource tracker and two workers (the
        # local pool's, --jobs 3 counting the driver; or a local Dask cluster's, whose
        # nannies run in the driver).
        while len(workers) < 3 and time.monotonic() < deadline and driver.poll() is None:
            time.sleep(0.2)
            workers = _children(driver.pid)
        assert len(workers) >= 3, "the sweep did not start its workers"
        time.sleep(1.0)  # the workers now hold work (and numba compiles)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=10)
        deadline = time.monotonic() + 5
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [w for w in workers if _alive(w)]
        for w in left:  # never leave them to the next test
            os.kill(w, signal.SIGKILL)
        assert left == [], f"workers still alive 5 s after the driver's SIGKILL: {left}"
    finally:
        if driver.poll() is None:
            driver.kill()
