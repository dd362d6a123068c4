"""Wall-clock timing shared by the benchmark scripts (never used by tests).

>>> value, seconds = timed(sum, [1, 2, 3])
>>> value, seconds >= 0
(6, True)
>>> wall, cpu = best_of(lambda: sum(range(10)), repeats=2)
>>> wall >= 0 and cpu >= 0
True
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
