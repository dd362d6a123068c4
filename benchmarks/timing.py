"""Wall-clock timing shared by the benchmark scripts (never used by tests).

>>> value, seconds = timed(sum, [1, 2, 3])
>>> value, seconds >= 0
(6, True)
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
