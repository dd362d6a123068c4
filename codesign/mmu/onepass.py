"""Design points that differ only in the LLC, evaluated in one replay.

Under a non-inclusive data cache (``cache.inclusion = "nine"``) the last-level cache changes
nothing upstream of it -- not the TLBs, the walks, L1 or L2 -- and a mechanism of this
package decides nothing by what it costs (only ``selective`` does, by measured walk cycles).
So the points of a sweep whose parameters differ only in ``cache.llc.size`` and
``cache.llc.ways`` (:data:`LLC_KEYS`) replay the same events through the same state up to
the LLC, and :meth:`codesign.mmu.replay.Replay.vary_llc` runs their LLCs side by side on
the references that reach it. :func:`one_pass` turns a mechanism's two halves -- building
its replay from parameters, and turning a driven replay into metrics -- into the
``Mechanism.run_many`` that does that; each point's metrics are exactly those of its own
``run`` (``tests/mmu/test_onepass.py``), its native reference included
(:func:`codesign.mmu.native.native_totals`: one native replay for all).

Mattson et al. (IBM Systems Journal, 1970) for one LRU stack serving every associativity of
a set count (what ``hwmodels.cache.LLCVariants`` does within a set count); different set
counts are run side by side, each on the batch of references of a run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from codesign.hardware import CacheKeys
from codesign.metrics import Metrics
from codesign.mmu.replay import Replay, drive
from codesign.platforms import Platform
from workloads.memory.chunked import Stream

LLC_KEYS = ("cache.llc.size", "cache.llc.ways")
"""The parameters the points of one pass may differ in."""
_FIELDS = ("cache_llc_size", "cache_llc_ways")


def same_but_llc(ps: Sequence[Any]) -> bool:
    """True when the parameter objects ``ps`` differ only in :data:`LLC_KEYS` and share a
    non-inclusive data cache: what one pass requires.

    >>> from codesign.mmu.native import NativeParams
    >>> a, b = NativeParams(), NativeParams(cache_llc_size=4 << 20)
    >>> same_but_llc([a, b]), same_but_llc([a, NativeParams(cache_l2_size=128 << 10)])
    (True, False)
    >>> same_but_llc([NativeParams(cache_inclusion="inclusive")] * 2)
    False
    """
    first = ps[0]
    if first.cache_inclusion != "nine":
        return False
    keep = {f: getattr(first, f) for f in _FIELDS}
    return all(type(p) is type(first) and replace(p, **keep) == first for p in ps[1:])


def one_pass(make: Callable[[Any, Platform], Replay],
             finish: Callable[[Replay, Stream, Any, Platform], Metrics],
             ) -> Callable[[Stream, Sequence[Any], Platform], list[Metrics]]:
    """``run_many(events, ps, platform)`` of a mechanism whose ``run`` is
    ``finish(r, events, p, platform)`` after ``drive(r, events)`` of ``r = make(p,
    platform)``: the metrics of every parameter object of ``ps`` (:func:`same_but_llc`, else
    ValueError), from one replay with their LLCs side by side.

    >>> from codesign.mmu import native
    >>> from codesign.platforms import load_platform
    >>> from workloads.memory.events import StreamBuilder
    >>> b = StreamBuilder(); b.spawn(1); b.switch(1); b.map(0x10000, pages=64)
    >>> for i in range(64): b.access(0x10000 + 4096 * i)
    >>> events = b.build()
    >>> ps = [native.NativeParams(cache_llc_size=s << 20) for s in (1, 8)]
    >>> ms = native.MECHANISM.run_many(events, ps, load_platform("kvm-nehalem"))
    >>> [m["cycles.total"] for m in ms] == [native.run(events, p, load_platform(
    ...     "kvm-nehalem"))["cycles.total"] for p in ps]
    True
    """

    def run_many(events: Stream, ps: Sequence[Any], platform: Platform) -> list[Metrics]:
        if not ps:
            return []
        if not same_but_llc(ps):
            raise ValueError("one pass takes parameters that differ only in "
                             f"{', '.join(LLC_KEYS)}, with cache.inclusion = 'nine'")
        from codesign.mmu.cost import Costs
        from codesign.mmu.native import native_totals

        r = make(ps[0], platform)
        if len(ps) > 1:
            r.vary_llc([CacheKeys.to_hw(p).llc for p in ps[1:]])
        drive(r, events)
        native_totals(events, ps, Costs.of(platform))  # the native references, one pass
        base = r.c
        out = []
        try:
            for k, p in enumerate(ps):
                r.c = base if k == 0 else base.variant(k - 1)
                out.append(finish(r, events, p, platform))
        finally:
            r.c = base
        return out

    return run_many


__all__ = ["LLC_KEYS", "one_pass", "same_but_llc"]
