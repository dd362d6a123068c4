"""Cache names for compiled functions that call compiled functions of other modules.

numba's on-disk cache stamps a compiled function with its own source file only, and a
compiled caller holds its own copies of the compiled functions it calls: after a change to a
callee's module, a cached caller would still run the old callee. :func:`compiled_after`
compiles a caller under a name that carries a digest of its callees' source files, so any
change to them compiles it afresh.

>>> from pathlib import Path
>>> len(digest([Path(__file__)]))
8
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numba


def digest(paths: Iterable[Path]) -> str:
    """CRC-32 of the files' contents, in order, as 8 hex digits."""
    crc = 0
    for path in paths:
        crc = zlib.crc32(path.read_bytes(), crc)
    return f"{crc:08x}"


def compiled_after(stamp: str) -> Callable[[Callable[..., Any]], Any]:
    """A decorator: ``numba.njit(cache=True)`` under the function's name suffixed with
    ``stamp`` (a :func:`digest` of the sources of the compiled functions it calls)."""
    def wrap(fn: Callable[..., Any]) -> Any:
        fn.__qualname__ = f"{fn.__qualname__}_{stamp}"
        return numba.njit(cache=True)(fn)
    return wrap


__all__ = ["compiled_after", "digest"]
