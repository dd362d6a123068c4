"""Longest first: the order a sweep hands its chunks out, by an estimate of their work.

Workers take chunks from one queue; a sweep whose biggest points come last ends with one
worker grinding them while the others idle. So chunks go out largest first (Graham's LPT
rule, within 4/3 of the best makespan for independent jobs), and the driver, one of the
local executor's processes, takes the smallest from the back. Results do not depend on the
order: a point's evaluation is a pure function of it.

A point's work is estimated from its workload's parameters, by convention: the product of
those that count the stream's items (``refs``, ``packets``, ``requests``, ``walks``,
``iterations``, ``cycles``, ``refs_per_cycle``), times, for a workload read from a file
(``path``), the file's size over :data:`BYTES_PER_ITEM` (at most ``max_refs`` or
``max_packets`` when set). Mechanisms are not weighed: the estimate orders points of one
sweep, whose costs differ mostly by their streams. A workload without such parameters
counts 1.

>>> from types import SimpleNamespace as P
>>> work(P(refs=1000, seed=3)), work(P(cycles=10, refs_per_cycle=50)), work(P(seed=1))
(1000.0, 500.0, 1.0)
>>> longest_first([["a"], ["b", "c"], ["d"]], {"a": 1.0, "b": 5.0, "c": 1.0, "d": 7.0}.get)
[['d'], ['b', 'c'], ['a']]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

SIZE_FIELDS = ("refs", "packets", "requests", "walks", "iterations", "cycles",
               "refs_per_cycle")
"""Workload parameters that count a stream's items."""
BYTES_PER_ITEM = 64
"""Bytes of an input file per item it holds, for the estimate only: a lackey line is 20 to
45 bytes (a data reference among instruction fetches), a pcap record 16 bytes of header and
60 to 1,514 of frame. An order of magnitude is all a schedule needs."""

T = TypeVar("T")


def work(workload_params: Any) -> float:
    """The estimated work of a point of a workload with these parameters (see the module
    docstring)."""
    n = 1.0
    for name in SIZE_FIELDS:
        value = getattr(workload_params, name, None)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            n *= value
    path = getattr(workload_params, "path", None)
    if isinstance(path, str) and path:
        try:
            items = os.stat(path).st_size / BYTES_PER_ITEM
        except OSError:
            items = 1.0
        cap = getattr(workload_params, "max_refs", 0) or getattr(workload_params,
                                                                "max_packets", 0)
        n *= max(1.0, min(items, cap) if cap else items)
    return n


def longest_first(chunks: Sequence[list[T]], work_of: Callable[[T], float | None],
                  ) -> list[list[T]]:
    """The chunks, those of most estimated work (the sum of their items') first; equal ones
    in their order."""
    def total(chunk: list[T]) -> float:
        return sum(work_of(item) or 0.0 for item in chunk)

    return sorted(chunks, key=total, reverse=True)
