"""Wall-clock timing shared by the benchmark scripts (never used by tests).

>>> value, seconds = timed(sum, [1, 2, 3])
>>> value, seconds >= 0
(6, True)
>>> wall, cpu = best_of(lambda: sum(range(10)), repeats=2)
>>> wall >= 0 and cpu >= 0
True
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """``fn(*args, **kwargs)`` and the wall-clock seconds it took."""
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def best_of(fn: Callable[[], object], repeats: int = 5) -> tuple[float, float]:
    """Best wall-clock and process-CPU seconds of ``fn()`` over ``repeats`` runs."""
    wall = cpu = float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def codesign_process(args: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak resident MiB) of one ``python -m codesign ARGS`` process, measured
    from outside (``wait4``'s ``ru_maxrss``); SystemExit with its error if it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "codesign", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        assert proc.stderr is not None
        raise SystemExit(f"codesign {args[0]} failed: {proc.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024
