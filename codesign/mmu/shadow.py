"""``shadow``: software MMU virtualization by shadow page tables (trap and emulate).

The hypervisor keeps, per guest address space, a *shadow* table mapping guest-virtual
straight to host-physical, and points the hardware at it: a TLB miss walks the shadow table
in one dimension (``guest.levels`` references, the same walks and page-walk caches as
``native``: the shadow has the guest table's shape). To keep shadows in step, the guest's
page-table pages are write-protected and the guest's privileged MMU operations exit. Every
exit is handled in the host kernel's MMU code and costed ``vmexit.kernel``:

- ``traps.vmexit.pt_write``: every guest PTE write (``os.pte_writes``) traps and is
  emulated; the emulation *zaps* the shadow entry derived from it (the next walk refills it);
- ``traps.vmexit.page_fault``: a guest page fault (demand or copy-on-write) exits and is
  injected into the guest (``shadow.injected``, also ``faults.page``, whose handler costs
  ``fault.page`` as natively); a TLB miss on a page the current shadow does not map yet exits
  too and is hidden from the guest: the hypervisor fills the shadow entry from the guest
  table (``shadow.fills``);
- ``traps.vmexit.cr3_write``: the guest loads CR3 (each SWITCH), and reloads it to flush an
  address space's translations (each FORK and EXIT flush); a load switches to the address
  space's shadow root when the shadow cache holds it and otherwise builds an empty one
  (``shadow.builds``), evicting the least recently loaded root when ``shadow.cache`` roots
  are cached (``shadow.evictions``; the evicted root's TLB and page-walk-cache entries are
  flushed). A guest flush drops the space's shadow entries;
- ``traps.vmexit.invlpg``: each INVLPG the guest issues (one per changed leaf);
- ``traps.vmexit.ipi``: each shootdown IPI the guest sends (a write to the virtual APIC's
  interrupt-command register; no IPI virtualization is modelled).

A VM_SWITCH (the hypervisor resuming a VM) loads that VM's running shadow root without a
guest trap. ``cycles.traps.vmexit.<reason>`` = count x ``vmexit.kernel``; the per-access latency
adds the exits an access raised (its fault's, its handler's PTE writes and INVLPGs, its
hidden fill) at ``vmexit.kernel`` each.

Simplifications: every guest PTE write traps, also to page-table pages no shadow maps yet (a
fork's child tables; KVM write-protects only shadowed pages, and unsyncs leaf pages instead
of trapping every write); a fill's partial walk and the hypervisor's software walk of the
guest table are not costed (the walk is counted once); hypervisor backing of guest memory is
done inside these exits, so it raises none of its own; TLB entries are tagged as natively
(per address space), ``tlb.vpid`` changes nothing.

>>> from codesign.harness import Point, evaluate
>>> p = {"workload.iterations": 5, "hw.cost": False}
>>> m = evaluate(Point("forkwait", "shadow", params=p))
>>> m["traps.vmexit.pt_write"] == m["os.pte_writes"] > 0, m["walk.refs.nested"]
(True, 0)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from codesign.metrics import Metrics
from codesign.mmu import cost
from codesign.mmu.cost import Costs
from codesign.mmu.guest import PAGE_4K, Effects
from codesign.mmu.native import HEADLINE, NativeParams, native_total
from codesign.mmu.replay import Replay, Setup, drive
from codesign.params import param
from codesign.platforms import Platform
from codesign.registry import Mechanism
from hwmodels.tlb.params import PAGE_SHIFTS
from workloads.memory.events import Ev

SHADOW_CACHE_DEFAULT = 4
"""Shadow roots kept: the current one plus 3 previous, as KVM's ``KVM_MMU_NUM_PREV_ROOTS = 3``
(Linux ``arch/x86/include/asm/kvm_host.h``); an assumption, not an ANCHORS.md row."""


@dataclass(frozen=True)
class ShadowParams(NativeParams):
    """Parameters of ``shadow``: ``native``'s plus the shadow-root cache size."""

    cache: int = param(SHADOW_CACHE_DEFAULT, key="shadow.cache", min=1, max=1 << 16,
                       doc="shadow roots the hypervisor caches; loading an uncached address "
                           "space builds an empty shadow (default 4: KVM's current root plus "
                           "KVM_MMU_NUM_PREV_ROOTS = 3; an assumption)")


@dataclass
class ShadowCounts:
    """Trap and shadow-cache counts of a shadow replay."""

    pt_write: int = 0
    injected: int = 0
    fills: int = 0
    cr3_write: int = 0
    invlpg: int = 0
    builds: int = 0
    evictions: int = 0


class ShadowReplay(Replay):
    """The shared replay (1D) plus the hypervisor's shadow cache and the guest's exits."""

    def __init__(self, setup: Setup, cache: int) -> None:
        super().__init__(setup)
        self.cache = cache
        self.shadows: OrderedDict[tuple[int, int], set[int]] = OrderedDict()
        """Cached shadow roots: per address space, the guest leaves (base va) it maps."""
        self.t = ShadowCounts()

    def _effects(self, vm: int, fx: Effects) -> None:
        super()._effects(vm, fx)
        t = self.t
        t.pt_write += fx.pte_writes
        t.invlpg += len(fx.invalidate)
        t.cr3_write += len(fx.flush)
        filled = self.shadows.get((vm, self.guest.running(vm)))
        if filled:
            for va, size in fx.invalidate:
                filled.discard(va)
                if size > PAGE_4K:
                    filled.difference_update(range(va, va + size, PAGE_4K))
        for space in fx.flush:
            if space in self.shadows:
                self.shadows[space].clear()

    def fault_traps(self, vm: int, pid: int, va: int, fx: Effects) -> int:
        """Exits of a faulting access: the injected fault, its PTE writes and INVLPGs."""
        self.t.injected += fx.faults
        return fx.faults + fx.pte_writes + len(fx.invalidate) + len(fx.flush)

    def walk_traps(self, vm: int, pid: int, va: np.ndarray) -> np.ndarray:
        """Hidden page-fault exits of TLB misses on leaves the shadow does not map yet."""
        filled = self.shadows.setdefault((vm, pid), set())
        out = np.zeros(len(va), dtype=np.int64)
        for i, addr in enumerate(va.tolist()):
            base = addr & ~((1 << PAGE_SHIFTS[self.page_class(vm, pid, addr)]) - 1)
            if base not in filled:
                filled.add(base)
                out[i] = 1
        self.t.fills += int(out.sum())
        return out

    def _cr3(self, vm: int, pid: int) -> None:
        super()._cr3(vm, pid)
        space = (vm, pid)
        if space in self.shadows:
            self.shadows.move_to_end(space)
            return
        self.t.builds += 1
        if len(self.shadows) >= self.cache:
            victim, _ = self.shadows.popitem(last=False)
            self.t.evictions += 1
            if self.s.pcid:
                pcid = self.pcids.live.get(victim)
                if pcid is not None:
                    self._flush_asid(victim[0], pcid)
        self.shadows[space] = set()

    def event(self, e: np.void) -> None:
        op = int(e["op"])
        if op == Ev.SWITCH:
            self.t.cr3_write += 1
        super().event(e)
        if op == Ev.EXIT:
            self.shadows.pop((int(e["vm"]), int(e["pid"])), None)


def run(events: np.ndarray, p: ShadowParams, platform: Platform) -> Metrics:
    """Metrics of replaying ``events`` in VMs with shadow paging."""
    r = ShadowReplay(p.setup(nested=False), p.cache)
    drive(r, events)
    t = r.t
    costs = Costs.of(platform)
    exit_cost = platform.value("vmexit.kernel")
    counts = {"vmexit.pt_write": t.pt_write, "vmexit.page_fault": t.injected + t.fills,
              "vmexit.cr3_write": t.cr3_write, "vmexit.invlpg": t.invlpg,
              "vmexit.ipi": r.c.ipis}
    extra = {"shadow.builds": t.builds, "shadow.evictions": t.evictions,
             "shadow.fills": t.fills, "shadow.injected": t.injected}
    return cost.metrics(r.c, costs, trap_counts=counts,
                        trap_cycles={k: n * exit_cost for k, n in counts.items()},
                        unit_cycles=exit_cost, extra=extra,
                        native_total=native_total(events, p, costs))


MECHANISM = Mechanism(
    name="shadow",
    accepts=("memory",),
    summary="shadow page tables: 1D walks of a hypervisor-built guest-virtual to host "
            "table; guest PTE writes, page faults, CR3 loads and INVLPGs exit",
    params=ShadowParams,
    run=run,
    costs=(*cost.COSTS, "vmexit.kernel"),
    headline=HEADLINE,
    hardware=("tlb", "stlb", "walker"),
    version="2",
)
