"""``nested``: hardware-assisted nested paging (EPT / NPT) — VM-tagged TLB and 2D walks.

The guest OS runs its own page tables undisturbed: its PTE writes, CR3 writes and page faults
cause no VM exit. Each ACCESS looks up a TLB whose entries carry the VM's tag (VPID) and the
address space's (PCID); a miss walks two dimensions — every guest table pointer and the final
guest-physical page are translated through the VM's host (EPT) table — through the
page-walk caches of both dimensions and the nested TLB (:mod:`hwmodels.pagewalk`), and fills
the TLB with the smaller of the guest and host page. With ``tlb.vpid`` off, the TLB keeps no
VM tag and is flushed on every VM entry/exit (each VM_SWITCH and each exit).

The hypervisor backs guest-physical memory on first touch, ``host.page_size`` at a time; the
first touch of an unbacked page is a VM exit, ``traps.vmexit.ept_violation``, costed as an
exit handled in the host kernel (``vmexit.kernel``) plus the host's own fault behind it,
which scales with the host page (:meth:`~codesign.mmu.cost.Costs.host_fault`: ``fault.page``
and ``memory.zero_per_byte`` for the rest of a large page: a 2 MiB backing clears 2 MiB) --
unless ``host.prealloc`` says the host populated guest memory before the run (then the exit
only: EPT entries are still made on demand).
Guest page faults are the guest's own (``faults.page``, costed as natively).

Shootdown IPIs: sending one writes the virtual APIC's interrupt-command register, which
exits (``traps.vmexit.ipi``, ``vmexit.kernel``; no IPI virtualization is modelled), on top of
the guest's own ``ipi.shootdown`` cost.

Metrics: those of every MMU mechanism (:mod:`codesign.mmu.cost`) with
``traps.vmexit.ept_violation`` / ``traps.vmexit.ipi`` and their
``cycles.traps.vmexit.<reason>``; ``slowdown_vs_native`` replays the workload natively on
the same TLBs, walker and data cache. Every reference of a 2D walk (guest entries at the host
addresses backing the guest tables, host entries) and every data reference (host-physical)
goes through the data cache (:mod:`codesign.mmu.replay`).

>>> from codesign.harness import Point, evaluate
>>> p = {"workload.refs": 2048, "workload.footprint_mb": 1, "workload.element_bytes": 64,
...      "hw.cost": False}
>>> m = evaluate(Point("sequential", "nested", params=p))
>>> n = evaluate(Point("sequential", "native", params=p))
>>> m["refs"] == n["refs"], m["tlb.l1.misses"] == n["tlb.l1.misses"], m["traps.total"] > 0
(True, True, True)
>>> m["slowdown_vs_native"] > 1.0
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from codesign.metrics import Metrics
from codesign.mmu import cost
from codesign.mmu.cost import Costs
from codesign.mmu.guest import HOST_PAGES, GuestConfig
from codesign.mmu.native import HEADLINE, NativeParams, native_total
from codesign.mmu.onepass import LANES, one_pass
from codesign.mmu.replay import Replay, drive
from codesign.params import param
from codesign.platforms import Platform
from codesign.registry import Mechanism
from workloads.memory.chunked import Stream

PREALLOC_DOC = ("the host allocates and zeroes guest memory before the run (QEMU "
                "-mem-prealloc, or hugetlbfs pages reserved at boot), as Xen populates a "
                "paravirtual domain when it builds it: a first touch still exits to map "
                "the page (EPT violation, or shadow fill) but the host's own page fault is "
                "gone; false (KVM's default): memory is allocated on first touch")


@dataclass(frozen=True)
class NestedParams(NativeParams):
    """Parameters of ``nested``: ``native``'s plus the hypervisor's backing page size."""

    host_page: str = param("4K", key="host.page_size", choices=tuple(HOST_PAGES),
                           doc="page size with which the hypervisor backs guest memory "
                               "(on first touch)")
    prealloc: bool = param(False, key="host.prealloc", doc=PREALLOC_DOC)

    def guest_config(self) -> GuestConfig:
        """The guest-OS and hypervisor model's configuration."""
        return GuestConfig(guest_levels=self.guest_levels, host_levels=self.host_levels,
                           host_page=self.host_page, huge=self.huge)


def _make(p: NestedParams, platform: Platform) -> Replay:
    return Replay(p.setup(nested=True))


def _finish(r: Replay, events: Stream, p: NestedParams, platform: Platform) -> Metrics:
    c = r.c
    costs = Costs.of(platform)
    exit_cost = platform.value("vmexit.kernel")
    backing = exit_cost + (0.0 if p.prealloc else costs.host_fault(HOST_PAGES[p.host_page]))
    counts = {"vmexit.ept_violation": c.backings, "vmexit.ipi": c.ipis}
    return cost.metrics(c, costs, trap_counts=counts,
                        trap_cycles={"vmexit.ept_violation": c.backings * backing,
                                     "vmexit.ipi": c.ipis * exit_cost},
                        unit_cycles=backing, extra={},
                        native_total=native_total(events, p, costs))


def run(events: Stream, p: NestedParams, platform: Platform,
        walk_monitor: Callable[..., None] | None = None) -> Metrics:
    """Metrics of replaying ``events`` in VMs with nested paging (``walk_monitor``: a tap on
    the walks, :attr:`codesign.mmu.replay.Replay.walk_monitor`)."""
    r = _make(p, platform)
    r.walk_monitor = walk_monitor
    drive(r, events)
    return _finish(r, events, p, platform)


MECHANISM = Mechanism(
    name="nested",
    accepts=("memory",),
    summary="hardware nested paging (EPT/NPT): VM-tagged TLB, 2D walks with page-walk caches "
            "in both dimensions and a nested TLB, EPT violations on first touch",
    params=NestedParams,
    run=run,
    costs=(*cost.COSTS, "vmexit.kernel"),
    headline=HEADLINE,
    hardware=("tlb", "stlb", "walker"),
    version="12",
    run_many=one_pass(_make, _finish),
    one_pass=LANES,
)
