"""Design points that differ only in the data cache's L2 and LLC, evaluated in one replay.

Under a non-inclusive data cache (``cache.inclusion = "nine"``) the last-level cache changes
nothing upstream of it -- not the TLBs, the walks, L1 or L2 -- and L2 nothing upstream of
it either; and a mechanism of this package decides nothing by what it costs (only
``selective`` does, by measured walk cycles). So the points of a sweep whose parameters
differ only in the sizes and associativities of those levels (:data:`CACHE_KEYS`) replay
the same events through the same state up to them:

- points that differ only in ``cache.llc.size`` and ``cache.llc.ways`` (:data:`LLC_KEYS`)
  run their LLCs side by side on the references that reach it
  (:meth:`codesign.mmu.replay.Replay.vary_llc`). Mattson et al. (IBM Systems Journal,
  1970): one LRU stack serves every associativity of a set count (what
  ``hwmodels.cache.LLCVariants`` does within a set count); different set counts are run
  side by side, each on the batch of references of a run;
- points that differ in L2 too run each L2 and LLC pair as a hierarchy of its own on the
  references L1 does not serve (:meth:`~codesign.mmu.replay.Replay.vary_tails`,
  ``hwmodels.cache.CacheTails``): the translation, the walks and L1 are replayed once.

:func:`one_pass` turns a mechanism's two halves -- building its replay from parameters, and
turning a driven replay into metrics -- into the ``Mechanism.run_many`` that does that; each
point's metrics are exactly those of its own ``run`` (``tests/mmu/test_onepass.py``), its
native reference included (:func:`codesign.mmu.native.native_totals`: one native replay for
all).

The other sizes a sweep varies -- the TLBs, the page-walk caches, L1 -- change which
references reach the levels after them (a TLB miss's walk goes through the data cache; L1
decides what L2 sees), so no one pass gives every size's counts exactly: their points are
replayed one by one.
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
"""The parameters in which points whose LLCs run side by side differ."""
CACHE_KEYS = ("cache.l2.size", "cache.l2.ways", *LLC_KEYS)
"""The parameters the points of one pass may differ in (a mechanism's ``one_pass``)."""
_LLC_FIELDS = ("cache_llc_size", "cache_llc_ways")
_FIELDS = ("cache_l2_size", "cache_l2_ways", *_LLC_FIELDS)


def same_but_cache(ps: Sequence[Any], fields: Sequence[str] = _FIELDS) -> bool:
    """True when the parameter objects ``ps`` differ only in :data:`CACHE_KEYS` (or the
    fields ``fields``) and share a non-inclusive data cache: what one pass requires.

    >>> from codesign.mmu.native import NativeParams
    >>> a, b = NativeParams(), NativeParams(cache_l2_size=128 << 10)
    >>> same_but_cache([a, b]), same_but_cache([a, NativeParams(cache_l1_size=16 << 10)])
    (True, False)
    >>> same_but_cache([NativeParams(cache_inclusion="inclusive")] * 2)
    False
    """
    first = ps[0]
    if first.cache_inclusion != "nine":
        return False
    keep = {f: getattr(first, f) for f in fields}
    return all(type(p) is type(first) and replace(p, **keep) == first for p in ps[1:])


def same_but_llc(ps: Sequence[Any]) -> bool:
    """:func:`same_but_cache` for :data:`LLC_KEYS` alone: points whose LLCs can run side by
    side in Mattson stacks.

    >>> from codesign.mmu.native import NativeParams
    >>> a, b = NativeParams(), NativeParams(cache_llc_size=4 << 20)
    >>> same_but_llc([a, b]), same_but_llc([a, NativeParams(cache_l2_size=128 << 10)])
    (True, False)
    """
    return same_but_cache(ps, _LLC_FIELDS)


def one_pass(make: Callable[[Any, Platform], Replay],
             finish: Callable[[Replay, Stream, Any, Platform], Metrics],
             ) -> Callable[[Stream, Sequence[Any], Platform], list[Metrics]]:
    """``run_many(events, ps, platform)`` of a mechanism whose ``run`` is
    ``finish(r, events, p, platform)`` after ``drive(r, events)`` of ``r = make(p,
    platform)``: the metrics of every parameter object of ``ps`` (:func:`same_but_cache`,
    else ValueError), from one replay with their data caches side by side (their LLCs, or
    their L2 and LLC pairs).

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
    >>> ps = [native.NativeParams(cache_l2_size=s << 10) for s in (64, 512)]
    >>> ms = native.MECHANISM.run_many(events, ps, load_platform("kvm-nehalem"))
    >>> [m["cycles.total"] for m in ms] == [native.run(events, p, load_platform(
    ...     "kvm-nehalem"))["cycles.total"] for p in ps]
    True
    """

    def run_many(events: Stream, ps: Sequence[Any], platform: Platform) -> list[Metrics]:
        if not ps:
            return []
        if not same_but_cache(ps):
            raise ValueError("one pass takes parameters that differ only in "
                             f"{', '.join(CACHE_KEYS)}, with cache.inclusion = 'nine'")
        from codesign.mmu.cost import Costs
        from codesign.mmu.native import native_totals

        r = make(ps[0], platform)
        vary(r, ps[1:], same_but_llc(ps))
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


def vary(r: Replay, ps: Sequence[Any], llc_only: bool) -> None:
    """Run the data caches of parameter objects ``ps`` beside ``r``'s own: their LLCs
    (``llc_only``: they differ from it only there) or their L2 and LLC pairs."""
    if not ps:
        return
    if llc_only:
        r.vary_llc([CacheKeys.to_hw(p).llc for p in ps])
    else:
        r.vary_tails([CacheKeys.to_hw(p) for p in ps])


__all__ = ["CACHE_KEYS", "LLC_KEYS", "one_pass", "same_but_cache", "same_but_llc", "vary"]
