"""``native``: a bare-metal MMU — TLB, then page-walk cache, then a 1D walk.

Replays a memory workload (an OS-event stream) through the guest-OS model
(:mod:`codesign.mmu.guest`, here the only OS: every (vm, pid) of the stream is one of its
processes) and the behavioural TLB and page walker (:mod:`codesign.mmu.replay`). Each ACCESS
looks up the TLB; a miss walks the ``guest.levels``-level table from CR3 through the
page-walk caches and fills the TLB. A CR3 write (SWITCH, or a VM_SWITCH, which natively is a
switch to another process) flushes the address space's entries unless ``tlb.pcid``;
UNMAP / PROTECT / COW faults INVLPG what changed; SHOOTDOWN sends IPIs (counted, not costed).

Metrics (the shape ``nested`` returns too):

- ``refs`` (ACCESS events), ``tlb.hits``, ``tlb.misses``, ``tlb.evictions``,
  ``tlb.invlpg`` (INV_ADDR operations), ``tlb.flushes`` (address-space / VM / full flushes)
- ``walks``, ``walk_refs.guest``, ``walk_refs.nested`` (0 natively), ``walk_refs.total``,
  ``walk_refs.per_walk``, ``pwc.guest_hits`` (walks that hit the guest page-walk cache),
  ``pwc.nested_hits``, ``ntlb.hits``, ``ntlb.misses``
- ``faults.page`` = ``faults.demand`` + ``faults.cow``: guest page faults. They are handled by
  the (guest) kernel without leaving it, so they are not traps; natively ``traps.total`` = 0.
- ``os.pte_writes``, ``os.cr3_writes``, ``os.shootdown_ipis``
- ``cycles.walk.guest`` / ``cycles.walk.nested`` = references x ``memory.latency``,
  ``cycles.fault.page`` = faults x ``fault.page``; ``cycles.total``, ``cycles.per_ref``
- ``latency.{mean,p50,p99}_cycles``: per translation (per ACCESS), the walk's references at
  ``memory.latency`` plus the handling of the fault the access raised (0 on a TLB hit).

Not costed (counted only): TLB flushes and INVLPGs themselves, CR3 writes, shootdown IPIs,
system-call entries. Natively ``tlb.vpid`` changes nothing (there are no VMs) and
``host.levels`` only bounds the guest-physical space the OS model allocates from.

>>> from codesign.harness import Point, evaluate
>>> m = evaluate(Point("sequential", "native", params={"workload.refs": 2048,
...     "workload.footprint_mb": 1, "workload.element_bytes": 64, "hw.cost": False}))
>>> m["refs"], m["tlb.misses"], m["faults.page"], m["walk_refs.per_walk"] < 4
(2048, 32, 32, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.hardware import TLBKeys, WalkerKeys
from codesign.metrics import Metrics, cycles, latency, traps
from codesign.mmu.guest import HUGE_POLICIES, GuestConfig
from codesign.mmu.replay import Counts, Setup, replay
from codesign.params import param
from codesign.platforms import Platform
from codesign.registry import Mechanism


@dataclass(frozen=True)
class NativeParams(TLBKeys, WalkerKeys):
    """Parameters of ``native``: the TLB's and walker's keys plus the OS's huge-page policy."""

    huge: str = param("none", key="guest.huge_pages", choices=HUGE_POLICIES,
                      doc="guest OS huge pages: none, or 2M where an aligned 2 MiB region "
                          "lies in one mapping (transparent huge pages on fault)")

    def __post_init__(self) -> None:
        TLBKeys.to_hw(self)
        WalkerKeys.to_hw(self)
        self.guest_config()

    def guest_config(self) -> GuestConfig:
        """The guest-OS model's configuration."""
        return GuestConfig(guest_levels=self.guest_levels, host_levels=self.host_levels,
                           huge=self.huge)

    def setup(self, nested: bool) -> Setup:
        """What :func:`~codesign.mmu.replay.replay` runs with."""
        return Setup(self.guest_config(), TLBKeys.to_hw(self), WalkerKeys.to_hw(self), nested)


def metrics(c: Counts, platform: Platform, nested: bool) -> Metrics:
    """Metrics of a replay's counts on a platform (shared by ``native`` and ``nested``).

    >>> from codesign.platforms import load_platform
    >>> c = Counts(refs=4, tlb_hits=3, tlb_misses=1, walks=1, walk_refs_guest=4,
    ...            per_access={(0, 0, 0): 3, (4, 0, 0): 1})
    >>> m = metrics(c, load_platform("kvm-nehalem"), nested=False)
    >>> m["cycles.total"], m["cycles.per_ref"], m["latency.p99_cycles"]
    (800.0, 200.0, 800.0)
    """
    mem = platform.value("memory.latency")
    fault = platform.value("fault.page")
    exit_cost = platform.value("vmexit.kernel") if nested else 0.0
    total_refs = c.walk_refs_guest + c.walk_refs_nested
    faults = c.faults_demand + c.faults_cow
    breakdown = {"walk.guest": c.walk_refs_guest * mem, "walk.nested": c.walk_refs_nested * mem,
                 "fault.page": faults * fault}
    trap_counts = {}
    if nested:
        breakdown["vmexit.ept_violation"] = c.backings * exit_cost
        trap_counts["vmexit.ept_violation"] = c.backings
    cyc = cycles(breakdown)
    if c.per_access:
        keys = np.array(list(c.per_access), dtype=np.float64)
        weights = np.array(list(c.per_access.values()), dtype=np.float64)
        values = keys[:, 0] * mem + keys[:, 1] * fault + keys[:, 2] * exit_cost
    else:
        values, weights = np.zeros(1), np.ones(1)
    return (
        Metrics({
            "refs": c.refs,
            "tlb.hits": c.tlb_hits,
            "tlb.misses": c.tlb_misses,
            "tlb.evictions": c.tlb_evictions,
            "tlb.invlpg": c.invlpg,
            "tlb.flushes": c.tlb_flushes,
            "walks": c.walks,
            "walk_refs.guest": c.walk_refs_guest,
            "walk_refs.nested": c.walk_refs_nested,
            "walk_refs.total": total_refs,
            "walk_refs.per_walk": total_refs / c.walks if c.walks else 0.0,
            "pwc.guest_hits": c.gpwc_hits,
            "pwc.nested_hits": c.npwc_hits,
            "ntlb.hits": c.ntlb_hits,
            "ntlb.misses": c.ntlb_misses,
            "faults.page": faults,
            "faults.demand": c.faults_demand,
            "faults.cow": c.faults_cow,
            "os.pte_writes": c.pte_writes,
            "os.cr3_writes": c.cr3_writes,
            "os.shootdown_ipis": c.ipis,
            "cycles.per_ref": cyc["cycles.total"] / c.refs if c.refs else 0.0,
        })
        | cyc
        | traps(trap_counts)
        | latency(values, "cycles", weights=weights)
    )


def run(events: np.ndarray, p: NativeParams, platform: Platform) -> Metrics:
    """Metrics of replaying ``events`` natively."""
    return metrics(replay(events, p.setup(nested=False)), platform, nested=False)


HEADLINE = ("cycles.per_ref", "walk_refs.per_walk", "tlb.misses", "traps.total",
            "latency.p99_cycles")

MECHANISM = Mechanism(
    name="native",
    accepts=("memory",),
    summary="bare-metal MMU: tagged TLB, page-walk caches, 1D walk over the OS's tables",
    params=NativeParams,
    run=run,
    costs=("memory.latency", "fault.page"),
    headline=HEADLINE,
    hardware=("tlb", "walker"),
)
