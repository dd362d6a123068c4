"""The MMU cost model: what a replay's counts cost in cycles, and the metrics every MMU
mechanism returns.

One model for ``native``, ``shadow``, ``pv-direct``, ``nested`` and the hybrids, so that
their numbers differ only in what each counted. Cycles are the sum of

- ``cycles.base``: ``refs`` x ``cpu.cycles_per_ref``, the work of the references themselves
  (Patterson & Hennessy's CPI of 1 when every instruction makes one reference);
- ``cycles.translation``: walk references x ``memory.latency`` (``.walk.guest``,
  ``.walk.nested``) plus second-level TLB hits x ``tlb.l2.hit`` (``.tlb_l2``);
- ``cycles.traps``: the mechanism's traps, ``cycles.traps.<kind>.<reason>`` each;
- ``cycles.os``: what the (guest) kernel does the same under every mechanism: page-fault
  handling (``.fault``, ``fault.page`` each), TLB flushes (``.tlb_flush``), INVLPGs
  (``.invlpg``), shootdown IPIs sent (``.ipi``) and system-call entries (``.syscall``).

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
         "tlb.flush", "tlb.invlpg", "ipi.shootdown", "syscall.entry")
"""Platform costs every MMU mechanism uses (its own trap costs come on top)."""


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
    >>> Costs.of(load_platform("kvm-nehalem")).memory
    200.0
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

    @classmethod
    def of(cls, platform: Platform) -> Costs:
        """Read from a platform (InputError naming the profile when one is missing)."""
        return cls(*(platform.value(k) for k in COSTS))


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
    """
    translation = {"walk.guest": t.walk_refs_guest * costs.memory,
                   "walk.nested": t.walk_refs_nested * costs.memory,
                   "tlb_l2": t.l2_hits * costs.l2_hit}
    faults = t.faults_demand + t.faults_cow
    os = {"fault": faults * costs.fault, "tlb_flush": t.tlb_flushes * costs.flush,
          "invlpg": t.invlpg * costs.invlpg, "ipi": t.ipis * costs.ipi,
          "syscall": t.syscalls * costs.syscall}
    trap_total = float(sum(trap_cycles.values()))
    cyc = {
        "cycles.base": t.refs * costs.ref,
        "cycles.translation": float(sum(translation.values())),
        "cycles.traps": trap_total,
        "cycles.os": float(sum(os.values())),
    }
    total = float(sum(cyc.values()))
    detail = (with_total(translation, "cycles.translation")
              | with_total(os, "cycles.os") | with_total(dict(trap_cycles), "cycles.traps"))
    detail = {k: v for k, v in detail.items() if not k.endswith(".total")}
    walk_refs = t.walk_refs_guest + t.walk_refs_nested
    seconds = total / (costs.clock_mhz * 1e6) if costs.clock_mhz > 0 else 0.0
    if t.per_access:
        keys = np.array(list(t.per_access), dtype=np.float64)
        weights = np.array(list(t.per_access.values()), dtype=np.float64)
        values = (keys[:, 0] * costs.memory + keys[:, 1] * costs.fault
                  + keys[:, 2] * unit_cycles + keys[:, 3] * costs.l2_hit)
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
        "cycles.total": total,
        "cycles_per_ref": total / t.refs if t.refs else 0.0,
        "throughput.refs_per_s": t.refs / seconds if seconds > 0 else 0.0,
        "slowdown_vs_native": total / native_total if native_total else 1.0,
    }
    return (Metrics({**base, **extra, **cyc, **detail}) | traps(trap_counts)
            | latency(values, "cycles", weights=weights))


__all__ = ["COSTS", "Costs", "cpi", "metrics"]
