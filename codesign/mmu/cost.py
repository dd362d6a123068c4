"""The MMU cost model: what a replay's counts cost in cycles, and the metrics every MMU
mechanism returns.

One model for ``native``, ``shadow``, ``pv-direct``, ``nested`` and the hybrids, so that
their numbers differ only in what each counted. Cycles are the sum of

- ``cycles.base``: ``refs`` x ``cpu.cycles_per_ref``, the work of the references themselves
  (Patterson & Hennessy's CPI of 1 when every instruction makes one reference). The base
  CPI *includes an L1 hit*: a textbook CPI-1 pipeline hides the L1D load-to-use latency of
  its own reference, so a data reference served by L1 costs nothing more;
- ``cycles.data``: data references by the level of the data cache that served them
  (:mod:`hwmodels.cache`, through the replay), each priced at what it adds to the base,
  ``latency(level) - cache.l1.latency`` (at least 0): ``.l2``, ``.llc``, ``.memory``, with
  ``cache.l2.latency``, ``cache.llc.latency`` and ``memory.latency`` the load-to-use cycles
  of a reference served there. Without a data cache (``Counts.served`` empty) it is 0: the
  model before the cache existed;
- ``cycles.translation``: walk references by the level that served them, each at that
  level's *full* latency (the walker's references are serial and not hidden by the pipeline;
  a reference served by memory costs ``memory.latency``), by dimension (``.walk.guest``,
  ``.walk.nested``), plus second-level TLB hits x ``tlb.l2.hit`` (``.tlb_l2``). Walk
  references whose level was not counted (a :class:`~codesign.mmu.replay.Counts` made by
  hand) are priced as served by memory;
- ``cycles.traps``: the mechanism's traps, ``cycles.traps.<kind>.<reason>`` each;
- ``cycles.os``: what the (guest) kernel does the same under every mechanism: page-fault
  handling (``.fault``: ``fault.page`` each, which includes zeroing or copying 4 KiB, plus
  ``memory.zero_per_byte`` for every further byte a large-page fault zeroes and twice that
  for every further byte a large-page COW fault copies: a 2 MiB fault clears 2 MiB), TLB
  flushes (``.tlb_flush``), INVLPGs (``.invlpg``), shootdown IPIs sent (``.ipi``) and
  system-call entries (``.syscall``). The per-access latency prices a fault at
  ``fault.page`` (its large-page zeroing is in the totals only);
- ``cycles.kernel``: the rest of the guest kernel's work (:mod:`codesign.mmu.kernel`, key
  ``kernel.work``): its instruction budgets at ``cpu.cycles_per_ref`` (``.instructions``),
  its references to its own data by serving level as data references are priced
  (``.data``), and the walks and second-level TLB hits of all its references, the page
  zeroing and copying streams included (``.translation``). Counted in ``kernel.*``:
  ``kernel.instructions``, ``kernel.refs`` (priced) and ``kernel.refs.stream``,
  ``kernel.tlb.l1.misses``, ``kernel.walks``, ``kernel.walk.refs``,
  ``kernel.data.refs.{l1,l2,llc,memory}``.

``cycles_per_ref`` = ``cycles.total`` / ``refs``; ``throughput.refs_per_s`` = ``refs`` per
second at ``cpu.clock_mhz``; ``slowdown_vs_native`` = ``cycles.total`` over the native
mechanism's on the same workload and hardware. The closed form of the model is :func:`cpi`,
the textbook check of Patterson & Hennessy Ex. 5.14 (ANCHORS.md):

>>> round(cpi(miss_rate=0.2e-3, miss_cycles=200), 4)       # nested: TLB misses cost
1.04
>>> round(cpi(fault_rate=0.001e-3, fault_cycles=30000), 4)  # shadow: faults cost
1.03
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from codesign.metrics import Metrics, latency, traps, with_total
from codesign.mmu.replay import Counts
from codesign.platforms import Platform

COSTS = ("cpu.cycles_per_ref", "cpu.clock_mhz", "memory.latency", "tlb.l2.hit", "fault.page",
         "tlb.flush", "tlb.invlpg", "ipi.shootdown", "syscall.entry", "cache.l1.latency",
         "cache.l2.latency", "cache.llc.latency", "memory.zero_per_byte")
"""Platform costs every MMU mechanism uses (its own trap costs come on top)."""

LEVELS = ("l1", "l2", "llc", "memory")
"""What serves a reference, by the data cache's level number (metric name suffixes)."""


def cpi(*, base: float = 1.0, miss_rate: float = 0.0, miss_cycles: float = 0.0,
        fault_rate: float = 0.0, fault_cycles: float = 0.0) -> float:
    """Cycles per instruction: ``base`` plus TLB misses and faults per instruction at their
    cost — the closed form of :func:`metrics` with one reference per instruction.

    >>> cpi(base=1.0, miss_rate=0.01, miss_cycles=100)
    2.0
    """
    return base + miss_rate * miss_cycles + fault_rate * fault_cycles


@dataclass(frozen=True)
class Costs:
    """The platform costs of :data:`COSTS`, read once.

    >>> from codesign.platforms import load_platform
    >>> c = Costs.of(load_platform("kvm-nehalem"))
    >>> c.memory, c.latencies
    (200.0, (4.0, 10.0, 40.0, 200.0))
    """

    ref: float
    clock_mhz: float
    memory: float
    l2_hit: float
    fault: float
    flush: float
    invlpg: float
    ipi: float
    syscall: float
    l1: float
    l2: float
    llc: float
    zero: float

    @classmethod
    def of(cls, platform: Platform) -> Costs:
        """Read from a platform (InputError naming the profile when one is missing)."""
        return cls(*(platform.value(k) for k in COSTS))

    @property
    def latencies(self) -> tuple[float, float, float, float]:
        """Load-to-use cycles of a reference served by L1, L2, the LLC, memory."""
        return (self.l1, self.l2, self.llc, self.memory)

    @property
    def data_extra(self) -> tuple[float, float, float, float]:
        """What a data reference served by each level costs beyond the base CPI (which
        includes an L1 hit)."""
        return tuple(max(0.0, lat - self.l1) for lat in self.latencies)  # type: ignore[return-value]

    def host_fault(self, page: int) -> float:
        """What the host spends backing guest memory with one page of ``page`` bytes on first
        touch, the exit excluded: its own anonymous page fault (``fault.page``, which
        includes zeroing 4 KiB) and the zeroing of the rest of a large page
        (``memory.zero_per_byte``).

        >>> from codesign.platforms import load_platform
        >>> c = Costs.of(load_platform("kvm-nehalem"))
        >>> c.host_fault(4096), c.host_fault(2 << 20) > 100 * c.host_fault(4096)
        (3000.0, True)
        """
        return self.fault + (page - 4096) * self.zero


def _walk_levels(t: Counts) -> list[list[int]]:
    """Walk references by dimension (guest, nested) and serving level (L1, L2, LLC, memory);
    references whose level was not counted are served by memory."""
    counted = [t.walk_served(0), t.walk_served(1)]
    unknown = [t.walk_refs_guest - sum(counted[0]), t.walk_refs_nested - sum(counted[1])]
    return [[*counted[d][:3], counted[d][3] + max(0, unknown[d])] for d in range(2)]


def _walk_cycles(levels: list[list[int]], lat: tuple[float, ...]) -> list[float]:
    """Cycles of :func:`_walk_levels`' references by dimension, each at its level's latency."""
    return [float(sum(n * x for n, x in zip(levels[d], lat, strict=True))) for d in range(2)]


def _kernel(t: Counts, costs: Costs) -> dict[str, float]:
    """``cycles.kernel.*``: the guest kernel's instructions at the base CPI, its priced data
    references by serving level (as a process's), and the translation of all its references
    (walks and second-level TLB hits, streams included)."""
    k, ks = t.kernel, t.kernel_stream
    if k is None or ks is None:
        return {"instructions": t.kernel_instructions * costs.ref, "data": 0.0,
                "translation": 0.0}
    data = sum(n * x for n, x in zip(k.data_served(), costs.data_extra, strict=True))
    translation = sum(sum(_walk_cycles(_walk_levels(c), costs.latencies))
                      + c.l2_hits * costs.l2_hit for c in (k, ks))
    return {"instructions": t.kernel_instructions * costs.ref, "data": float(data),
            "translation": float(translation)}


def _kernel_counts(t: Counts) -> dict[str, int]:
    """``kernel.*`` counts (all 0 without kernel work)."""
    k, ks = t.kernel or Counts(), t.kernel_stream or Counts()
    return {
        "kernel.instructions": t.kernel_instructions,
        "kernel.refs": k.refs,
        "kernel.refs.stream": ks.refs,
        "kernel.tlb.l1.misses": k.tlb_misses + ks.tlb_misses,
        "kernel.walks": k.walks + ks.walks,
        "kernel.walk.refs": k.walk_refs_guest + k.walk_refs_nested + ks.walk_refs_guest
        + ks.walk_refs_nested,
        **{f"kernel.data.refs.{name}": k.data_served()[lv] for lv, name in enumerate(LEVELS)},
    }


def metrics(t: Counts, costs: Costs, *, trap_counts: Mapping[str, int],
            trap_cycles: Mapping[str, float], unit_cycles: float,
            extra: Mapping[str, int | float], native_total: float | None = None) -> Metrics:
    """The metrics of a replay's counts: the counts, ``extra`` (mechanism-specific counters), the
    cycle breakdown, traps, per-translation latency and the rates.

    ``trap_counts`` / ``trap_cycles`` are by ``kind.reason``; ``unit_cycles`` is what one
    trap unit of the per-access histogram costs; ``native_total`` is the native mechanism's
    ``cycles.total`` on the same workload (None: this is the native mechanism).

    >>> from codesign.platforms import load_platform
    >>> c = Costs.of(load_platform("kvm-nehalem"))
    >>> t = Counts(refs=4, tlb_hits=3, tlb_misses=1, l2_misses=1, walks=1, walk_refs_guest=4,
    ...            per_access={(0, 0, 0, 0): 3, (4, 0, 0, 0): 1})
    >>> m = metrics(t, c, trap_counts={}, trap_cycles={}, unit_cycles=0.0, extra={})
    >>> m["cycles.translation"], m["cycles.total"], m["slowdown_vs_native"]
    (800.0, 804.0, 1.0)

    With the levels counted (a replay with a data cache): the walk's four references served
    by L1, L2, the LLC and memory, and the four data references by L1, L1, L2 and memory:

    >>> t.served = [1, 1, 1, 1, 0, 0, 0, 0, 2, 1, 0, 1]
    >>> t.per_access = {(0, 0, 0, 0, 0, 0, 0): 3, (1, 1, 1, 1, 0, 0, 0): 1}
    >>> m = metrics(t, c, trap_counts={}, trap_cycles={}, unit_cycles=0.0, extra={})
    >>> m["cycles.translation"], m["cycles.data"], m["walk.refs.memory"], m["cycles.total"]
    (254.0, 202.0, 1, 460.0)
    """
    lat = costs.latencies
    counted = _walk_levels(t)
    walk = _walk_cycles(counted, lat)
    translation = {"walk.guest": float(walk[0]), "walk.nested": float(walk[1]),
                   "tlb_l2": t.l2_hits * costs.l2_hit}
    data_refs = t.data_served()
    data = {name: float(n * x) for name, n, x in zip(LEVELS, data_refs, costs.data_extra,
                                                     strict=True) if name != "l1"}
    faults = t.faults_demand + t.faults_cow
    fault_cycles = faults * costs.fault + (t.fault_zeroed_large
                                           + 2 * t.fault_copied_large) * costs.zero
    os = {"fault": fault_cycles, "tlb_flush": t.tlb_flushes * costs.flush,
          "invlpg": t.invlpg * costs.invlpg, "ipi": t.ipis * costs.ipi,
          "syscall": t.syscalls * costs.syscall}
    kernel = _kernel(t, costs)
    trap_total = float(sum(trap_cycles.values()))
    cyc = {
        "cycles.base": t.refs * costs.ref,
        "cycles.data": float(sum(data.values())),
        "cycles.translation": float(sum(translation.values())),
        "cycles.traps": trap_total,
        "cycles.os": float(sum(os.values())),
        "cycles.kernel": float(sum(kernel.values())),
    }
    total = float(sum(cyc.values()))
    detail = (with_total(translation, "cycles.translation") | with_total(data, "cycles.data")
              | with_total(os, "cycles.os") | with_total(dict(trap_cycles), "cycles.traps")
              | with_total(kernel, "cycles.kernel"))
    detail = {k: v for k, v in detail.items() if not k.endswith(".total")}
    walk_refs = t.walk_refs_guest + t.walk_refs_nested
    seconds = total / (costs.clock_mhz * 1e6) if costs.clock_mhz > 0 else 0.0
    if t.per_access:
        # (walk refs by level x 4, faults, units, L2 hit); a 4-field key is the older
        # (walk refs, faults, units, L2 hit), its references served by memory.
        keys = np.array([k if len(k) == 7 else (0, 0, 0, *k[:3], k[3])
                         for k in t.per_access], dtype=np.float64)
        weights = np.array(list(t.per_access.values()), dtype=np.float64)
        values = (keys[:, :4] @ np.array(lat) + keys[:, 4] * costs.fault
                  + keys[:, 5] * unit_cycles + keys[:, 6] * costs.l2_hit)
    else:
        values, weights = np.zeros(1), np.ones(1)
    base = {
        "refs": t.refs,
        "tlb.l1.hits": t.tlb_hits,
        "tlb.l1.misses": t.tlb_misses,
        "tlb.l2.hits": t.l2_hits,
        "tlb.l2.misses": t.l2_misses,
        "walks": t.walks,
        "walk.refs": walk_refs,
        "walk.refs.guest": t.walk_refs_guest,
        "walk.refs.nested": t.walk_refs_nested,
        "walk.refs_per_walk": walk_refs / t.walks if t.walks else 0.0,
        **{f"walk.refs.{name}": counted[0][lv] + counted[1][lv]
           for lv, name in enumerate(LEVELS)},
        **{f"data.refs.{name}": data_refs[lv] for lv, name in enumerate(LEVELS)},
        **{f"cache.{name}.hits": counted[0][lv] + counted[1][lv] + data_refs[lv]
           for lv, name in enumerate(LEVELS[:3])},
        "walk.pwc_hits": t.gpwc_hits + t.npwc_hits,
        "walk.pwc_hits.guest": t.gpwc_hits,
        "walk.pwc_hits.nested": t.npwc_hits,
        "walk.ntlb_hits": t.ntlb_hits,
        "walk.ntlb_misses": t.ntlb_misses,
        "tlb.evictions": t.tlb_evictions,
        "faults.page": faults,
        "faults.demand": t.faults_demand,
        "faults.cow": t.faults_cow,
        "os.pte_writes": t.pte_writes,
        "os.cr3_writes": t.cr3_writes,
        "os.tlb_flushes": t.tlb_flushes,
        "os.invlpg": t.invlpg,
        "os.shootdown_ipis": t.ipis,
        "os.syscalls": t.syscalls,
        **_kernel_counts(t),
        "cycles.total": total,
        "cycles_per_ref": total / t.refs if t.refs else 0.0,
        "throughput.refs_per_s": t.refs / seconds if seconds > 0 else 0.0,
        "slowdown_vs_native": total / native_total if native_total else 1.0,
    }
    return (Metrics({**base, **extra, **cyc, **detail}) | traps(trap_counts)
            | latency(values, "cycles", weights=weights))


__all__ = ["COSTS", "LEVELS", "Costs", "cpi", "metrics"]
