"""Design points that differ only in their data cache, evaluated in one replay.

Which level of the data cache serves a reference changes nothing else a replay counts: not
the TLBs, the walks, the faults (a mechanism of this package decides nothing by what a
reference costs; only ``selective`` does, by measured walk cycles, and it is left out). So
the points of a sweep whose parameters differ only in the data cache's (:data:`CACHE_KEYS`:
every level's size and ways, the line, the inclusion, the placement) replay the same events
through the same state up to it, and one replay can run their data caches side by side:

- points that differ only in ``cache.llc.size`` and ``cache.llc.ways`` under
  ``cache.inclusion = "nine"`` run their LLCs on the references that reach it
  (:meth:`codesign.mmu.replay.Replay.vary_llc`). Mattson et al. (IBM Systems Journal,
  1970): one LRU stack serves every associativity of a set count (what
  ``hwmodels.cache.LLCVariants`` does within a set count); different set counts are run
  side by side, each on the batch of references of a run;
- points that differ in L2 too, under ``"nine"``, run each L2 and LLC pair as a hierarchy
  of its own on the references L1 does not serve; any other difference (L1, the line, an
  inclusive LLC, the placement and its seed) runs each data cache whole on every reference
  (:meth:`~codesign.mmu.replay.Replay.vary_tails`, ``hwmodels.cache.CacheTails``). Either
  way the translation -- TLBs, walks, faults, the guest kernel's work -- is replayed once
  (:meth:`~codesign.mmu.replay.Replay.vary_caches` picks the way).

:func:`one_pass` turns a mechanism's two halves -- building its replay from parameters, and
turning a driven replay into metrics -- into the ``Mechanism.run_many`` that does that; each
point's metrics are exactly those of its own ``run`` (``tests/mmu/test_onepass.py``), its
native reference included (:func:`codesign.mmu.native.native_totals`: one native replay for
all).

The other sizes a sweep varies -- the TLBs, the page-walk caches, the nested TLB
(:data:`TRANSLATION_KEYS`) -- change which references reach the data cache (a TLB miss's
walk goes through it), so no stack of one data cache gives every size's counts. They still
change nothing but counts: the guest model's faults and tables, the guest kernel's work, the
flushes, are the stream's. Where a mechanism decides nothing by what its walks find (``native``,
``nested``, ``pv-direct``: :data:`LANES`), points that differ in them, and in the data cache
too, share everything but the translation hardware: one replay runs a lane of TLBs, walker
and data cache per TLB and walk-cache configuration on the same translations
(:meth:`~codesign.mmu.replay.Replay.vary_hardware`), and on each lane the other data caches
of its points side by side (:meth:`~codesign.mmu.replay.Replay.vary` plans it), exactly each
point's own replay.
``shadow`` and ``agile`` trap on the walks that reach an entry not yet shadowed, which
changes the state every later walk sees: their points of other TLB sizes are replayed one by
one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from codesign.hardware import CacheKeys, STLBKeys, TLBKeys, WalkerKeys
from codesign.metrics import Metrics
from codesign.mmu.replay import Replay, drive
from codesign.params import specs
from codesign.platforms import Platform
from workloads.memory.chunked import Stream

CACHE_KEYS = tuple(spec.key for spec in specs(CacheKeys))
"""The parameters the points of one pass may differ in (a mechanism's ``one_pass``): the
data cache's, every one."""
_SIZES = {spec.key: spec.field for keys in (TLBKeys, STLBKeys, WalkerKeys) for spec in specs(keys)
          if spec.key.startswith(("tlb.l1.", "tlb.l2.", "pwc.", "ntlb."))}
TRANSLATION_KEYS = tuple(_SIZES)
"""The sizes, ways and policies of the TLBs, the page-walk caches and the nested TLB: what
lanes (:meth:`~codesign.mmu.replay.Replay.vary_hardware`) may differ in besides the data
cache."""
LANES = CACHE_KEYS + TRANSLATION_KEYS
"""The ``one_pass`` of a mechanism whose replay takes lanes."""
_FIELDS = tuple(spec.field for spec in specs(CacheKeys)) + tuple(_SIZES.values())


def same_but_hardware(ps: Sequence[Any]) -> bool:
    """True when the parameter objects ``ps`` differ only in the data cache's and the
    translation hardware's sizes (:data:`LANES`): what one pass requires (the data cache
    alone: no lanes).

    >>> from codesign.mmu.native import NativeParams
    >>> a = NativeParams()
    >>> same_but_hardware([a, NativeParams(cache_l2_size=128 << 10)])
    True
    >>> same_but_hardware([a, NativeParams(entries=32, pwc_entries=0)])
    True
    >>> same_but_hardware([a, NativeParams(guest_levels=5)])
    False
    """
    first = ps[0]
    keep = {f: getattr(first, f) for f in _FIELDS}
    return all(type(p) is type(first) and replace(p, **keep) == first for p in ps[1:])


def one_pass(make: Callable[[Any, Platform], Replay],
             finish: Callable[[Replay, Stream, Any, Platform], Metrics],
             ) -> Callable[[Stream, Sequence[Any], Platform], list[Metrics]]:
    """``run_many(events, ps, platform)`` of a mechanism whose ``run`` is
    ``finish(r, events, p, platform)`` after ``drive(r, events)`` of ``r = make(p,
    platform)``: the metrics of every parameter object of ``ps`` (:func:`same_but_hardware`,
    else ValueError), from one replay with their data caches side by side and, where they
    differ in more, a lane of translation hardware each (:meth:`Replay.vary`; ValueError
    for a replay that takes no lanes).

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
    >>> ps = [native.NativeParams(entries=e, cache_l2_size=s << 10) for e, s in ((64, 256),
    ...                                                                         (16, 64))]
    >>> ms = native.MECHANISM.run_many(events, ps, load_platform("kvm-nehalem"))
    >>> [m["tlb.l1.misses"] for m in ms] == [native.run(events, p, load_platform(
    ...     "kvm-nehalem"))["tlb.l1.misses"] for p in ps]
    True
    """

    def run_many(events: Stream, ps: Sequence[Any], platform: Platform) -> list[Metrics]:
        if not ps:
            return []
        if not same_but_hardware(ps):
            raise ValueError("one pass takes parameters that differ only in the data "
                             "cache's (cache.*) or, with lanes, in the sizes of the TLBs "
                             "and page-walk caches")
        from codesign.mmu.cost import Costs
        from codesign.mmu.native import native_totals

        r = make(ps[0], platform)
        if len(ps) > 1:  # ValueError where lanes are needed and the replay takes none
            r.vary([p.setup(nested=r.s.nested) for p in ps])
        drive(r, events)
        native_totals(events, ps, Costs.of(platform))  # the native references, one pass
        base = r.c
        counts = [r.counts_of(k) for k in range(len(ps))] if len(ps) > 1 else [base]
        out = []
        try:
            for p, c in zip(ps, counts, strict=True):
                r.c = c
                out.append(finish(r, events, p, platform))
        finally:
            r.c = base
        return out

    return run_many


__all__ = ["CACHE_KEYS", "LANES", "TRANSLATION_KEYS", "one_pass", "same_but_hardware"]
