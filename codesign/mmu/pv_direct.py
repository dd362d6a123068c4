"""``pv-direct``: Xen paravirtual direct paging — the guest's validated tables are the real ones.

The hardware walks the guest's own tables in one dimension (the same walks, TLB and
page-walk caches as ``native``); they hold machine addresses and are read-only to the guest,
so the guest changes them only through hypercalls (Barham et al., SOSP 2003; Xen interface
manual), each costed ``hypercall.null`` plus its work:

- ``traps.hypercall.mmu_update``: a queue of (ptr, val) PTE updates. Inside a system call the
  guest is in lazy-MMU mode: the PTE writes of one call (the stream's ``syscall`` ordinal) are
  queued and issued ``pv.batch`` at a time, ceil(k / ``pv.batch``) hypercalls for k writes.
  In a page-fault handler (no lazy mode) each PTE write is its own hypercall. Each update
  also costs ``pv.update`` (Xen validates and writes the entry).
- ``traps.hypercall.mmuext_op``: extended MMU operations. A CR3 load (each SWITCH) is one
  ``NEW_BASEPTR``; pinned tables need no revalidation on it (Barham et al.). New table pages
  are pinned, which validates them, ``pv.validate_page`` each (``pv.validated_pages``): one
  pin for the table pages of an event (a SPAWN's root, a FORK's child tree) and one per table
  page a fault handler allocates. TLB maintenance is also an mmuext_op (the guest kernel
  cannot INVLPG or reload CR3 itself): one op per INVLPG of a changed leaf and per
  address-space flush. Inside a system call the call's pins and flush ops are queued too and
  issued ``pv.batch`` at a time.
- ``traps.pf_bounce``: a guest page fault enters Xen, which bounces it to the guest kernel
  (costed ``hypercall.null``: one entry into the hypervisor and one return to the guest,
  the shape of a null hypercall; an assumption, ANCHORS.md has no bounce cost). The handler
  itself costs ``fault.page`` as natively.

``cycles.traps.hypercall.mmu_update`` = calls x ``hypercall.null`` + updates x
``pv.update``; ``cycles.traps.hypercall.mmuext_op`` = calls x ``hypercall.null`` + validated
pages x ``pv.validate_page``; ``cycles.traps.pf_bounce`` = bounces x ``hypercall.null``. A
shootdown is one more queued mmuext_op (``INVLPG_MULTI``): Xen sends the IPIs itself. The
per-access
latency adds what the fault it raised cost in traps (rounded to whole cycles).

- ``traps.syscall_bounce`` and ``traps.hypercall.iret`` (``pv.x86_64``, the default): an
  x86-64 PV guest kernel runs in ring 3 with its own page table, so a system call (each
  SYSCALL event) enters Xen, which switches to the kernel's table and bounces it there, and
  the kernel returns through the iret hypercall; each costed ``hypercall.null`` (an
  assumption: an entry into Xen and a return). The switch to the kernel's table and back is
  two CR3 loads (Xen's ``toggle_guest_mode``), at every system call and every bounced page
  fault. Without ``tlb.pcid`` (Xen before it gave PV guests PCIDs) Xen makes the guest's
  *user* mappings global (``USER_MAPPINGS_ARE_GLOBAL``) so that they survive these loads,
  and the guest kernel's mappings are not: the kernel's TLB entries (its direct map,
  :mod:`codesign.mmu.kernel`) and the paging-structure caches die at every kernel entry, and
  every other flush -- a process switch's new base pointer, the guest's TLB-flush ops -- is a
  full one (Xen's ``write_cr3`` toggles CR4.PGE) that drops the global user entries too.
  With PCIDs the switches flush nothing and the entries are tagged as natively.
  Approximation: the toggles of a run's bounced demand faults are made where the shared
  replay handles those faults, before the run (as their kernel work), not at each faulting
  access: the paging-structure caches and the kernel's entries are flushed once per run of
  accesses rather than once per fault, which understates pv-direct's walks without PCIDs
  on fault-heavy runs (cutting the run at every fault, as exact placement needs, made GUPS
  9x slower to replay).

Simplifications: the PTE writes of a fork to the child's not yet pinned tables are queued as
updates (Linux writes unpinned tables directly and pins the tree afterwards); the guest model
writes a leaf once per change, as ``ptep_modify_prot_start/commit`` does under Xen, so an
mprotect of N PTEs is N queued updates; a VM_SWITCH is Xen's own base-pointer switch
(no hypercall); memory is backed by Xen up front (no backing traps).

>>> from codesign.harness import Point, evaluate
>>> p = {"workload.iterations": 5, "hw.cost": False}
>>> m = evaluate(Point("forkwait", "pv-direct", params=p))
>>> m["traps.hypercall.mmu_update"] < m["os.pte_writes"], m["walk.refs.nested"]
(True, 0)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from codesign.metrics import Metrics
from codesign.mmu import cost
from codesign.mmu.cost import Costs
from codesign.mmu.guest import Effects
from codesign.mmu.native import HEADLINE, NESTED_ONLY, NativeParams, native_total
from codesign.mmu.onepass import LANES, one_pass
from codesign.mmu.replay import Replay, Setup, drive
from codesign.params import param
from codesign.platforms import Platform
from codesign.registry import Mechanism
from hwmodels.pagewalk import WalkRequest
from hwmodels.tlb import TLBOp
from workloads.memory.chunked import Stream
from workloads.memory.events import Ev

PV_BATCH_DEFAULT = 32
"""Linux's Xen multicall buffer: ``MC_BATCH`` = 32 entries and ``MC_ARGS`` = 32 x 16 bytes,
i.e. 32 16-byte ``mmu_update`` requests (``arch/x86/xen/multicalls.c``); not an ANCHORS.md
row."""


def hypercalls(queued: int, batch: int) -> int:
    """Hypercalls that issue ``queued`` lazily queued operations ``batch`` at a time.

    >>> hypercalls(0, 32), hypercalls(1, 32), hypercalls(32, 32), hypercalls(33, 32)
    (0, 1, 1, 2)
    """
    return -(-queued // batch)


@dataclass(frozen=True)
class PVParams(NativeParams):
    """Parameters of ``pv-direct``: ``native``'s plus the lazy-MMU batch size."""

    batch: int = param(PV_BATCH_DEFAULT, key="pv.batch", min=1, max=1 << 16,
                       doc="most queued operations per mmu_update / mmuext_op hypercall "
                           "(lazy-MMU mode batches the updates of one system call); default "
                           "32: Linux's Xen multicall buffer (MC_BATCH)")
    x86_64: bool = param(True, key="pv.x86_64",
                         doc="an x86-64 PV guest: its kernel runs in ring 3 with a page table "
                             "of its own, so every system call enters Xen first "
                             "(traps.syscall_bounce) and returns by the iret hypercall "
                             "(traps.hypercall.iret); false: a 32-bit guest, whose system "
                             "calls go straight to its kernel")


@dataclass
class PVCounts:
    """Hypercall and bounce counts of a pv-direct replay."""

    mmu_update: int = 0
    mmuext_op: int = 0
    pf_bounce: int = 0
    syscall_bounce: int = 0
    updates: int = 0
    pins: int = 0
    validated_pages: int = 0
    fault_cycles: float = 0.0


class PVReplay(Replay):
    """The shared replay (1D over the guest's own tables) plus the guest's hypercalls.

    Tables and data are addressed in the native image, as natively: a paravirtual guest's
    tables hold machine frames, and Xen populates a PV domain's memory when it builds it,
    in large contiguous extents, so the guest's own frame allocation is its machine layout
    (an assumption: no per-page host backing order, unlike a demand-paged HVM guest's)."""

    def __init__(self, setup: Setup, batch: int, null: float, update: float,
                 validate: float) -> None:
        super().__init__(setup)
        self.x86_64 = True
        self.batch = batch
        self.cost_null, self.cost_update, self.cost_validate = null, update, validate
        self.t = PVCounts()
        self.call_updates: defaultdict[int, int] = defaultdict(int)
        """Per system call (ordinal): PTE updates queued in lazy-MMU mode."""
        self.call_ops: defaultdict[int, int] = defaultdict(int)
        """Per system call: mmuext operations (pins, INVLPGs, flushes) queued."""
        self._call: int | None = None

    def mark(self) -> None:
        super().mark()
        self.t = PVCounts()
        # the hypercalls queued per system call so far were issued before the mark
        self.call_updates.clear()
        self.call_ops.clear()

    def event(self, e: np.void) -> None:
        if int(e["op"]) == Ev.SWITCH:
            self.t.mmuext_op += 1  # NEW_BASEPTR: the table is pinned, nothing to validate
        elif int(e["op"]) == Ev.SYSCALL and self.x86_64:
            self.t.syscall_bounce += 1
            self._toggle(int(e["vm"]))
        self._call = int(e["syscall"])
        try:
            super().event(e)
        finally:
            self._call = None

    @property
    def user_global(self) -> bool:  # type: ignore[override]
        """Xen x86-64 makes a PV guest's user mappings global (``USER_MAPPINGS_ARE_GLOBAL``)
        so that they survive the switches between the guest's kernel and user tables; with
        PCIDs those switches flush nothing and the entries stay as natively."""
        return self.x86_64 and not self.s.pcid

    @property
    def kernel_global(self) -> bool:  # type: ignore[override]
        """The guest kernel's mappings are not global under Xen x86-64 PV (without PCIDs):
        they die at every switch back to the user's table."""
        return not self.user_global

    def _toggle(self, vm: int) -> None:
        """Into the guest kernel's table and back (Xen's ``toggle_guest_mode``, a CR3 load
        that keeps global entries, each way): without PCIDs the kernel's entries and the
        paging-structure caches do not survive them."""
        if self.user_global:
            Replay._flush_asid(self, vm, 0)
            Replay._flush_asid(self, vm, 0)

    def _flush_asid(self, vm: int, pcid: int) -> None:
        """With global user mappings every other flush is a full one: Xen's ``write_cr3``
        toggles CR4.PGE, so a new base pointer (a process switch) and the guest's TLB-flush
        ops drop the global entries too."""
        if self.user_global:
            self._tlb([TLBOp.invalidate_all()])
            self._walker([WalkRequest.flush_asid(self.vm_tag(vm), pcid)])
        else:
            super()._flush_asid(vm, pcid)

    def _effects(self, vm: int, fx: Effects) -> None:
        super()._effects(vm, fx)
        if self._call is None:  # a fault: fault_traps accounts for it
            return
        t = self.t
        pins = 1 if fx.table_pages else 0
        t.pins += pins
        t.validated_pages += fx.table_pages
        t.updates += fx.pte_writes
        # A shootdown is one INVLPG_MULTI / TLB_FLUSH_MULTI op: Xen sends the IPIs itself.
        ops = pins + len(fx.invalidate) + len(fx.flush) + (1 if fx.ipis else 0)
        if self._call:
            self.call_updates[self._call] += fx.pte_writes
            self.call_ops[self._call] += ops
        else:  # outside a system call (SPAWN): nothing is queued
            t.mmu_update += fx.pte_writes
            t.mmuext_op += ops

    def fault_traps(self, vm: int, pid: int, va: int, fx: Effects) -> int:
        """Cycles of a fault's traps: the bounce, one mmu_update per PTE write, one pin per
        new table page and one mmuext_op per INVLPG (no lazy mode in a fault handler)."""
        t = self.t
        ext = fx.table_pages + len(fx.invalidate) + len(fx.flush)
        t.pf_bounce += fx.faults
        if self.x86_64:
            for _ in range(fx.faults):  # the bounce enters the guest kernel, iret leaves it
                self._toggle(vm)
        t.mmu_update += fx.pte_writes
        t.updates += fx.pte_writes
        t.mmuext_op += ext
        t.pins += fx.table_pages
        t.validated_pages += fx.table_pages
        cyc = (self.cost_null * (fx.faults + fx.pte_writes + ext)
               + self.cost_update * fx.pte_writes + self.cost_validate * fx.table_pages)
        t.fault_cycles += cyc
        return round(cyc)

    def totals(self) -> tuple[int, int]:
        """(mmu_update, mmuext_op) hypercalls, the lazily queued batches included."""
        t = self.t
        return (t.mmu_update + sum(hypercalls(k, self.batch) for k in self.call_updates.values()),
                t.mmuext_op + sum(hypercalls(k, self.batch) for k in self.call_ops.values()))


def _make(p: PVParams, platform: Platform) -> PVReplay:
    r = PVReplay(p.setup(nested=False), p.batch, platform.value("hypercall.null"),
                 platform.value("pv.update"), platform.value("pv.validate_page"))
    r.x86_64 = p.x86_64
    return r


def _finish(r: PVReplay, events: Stream, p: PVParams, platform: Platform) -> Metrics:
    null = platform.value("hypercall.null")
    update = platform.value("pv.update")
    validate = platform.value("pv.validate_page")
    t = r.t
    mmu_update, mmuext_op = r.totals()
    counts = {"hypercall.mmu_update": mmu_update, "hypercall.mmuext_op": mmuext_op,
              "pf_bounce": t.pf_bounce}
    if p.x86_64:
        counts |= {"syscall_bounce": t.syscall_bounce, "hypercall.iret": t.syscall_bounce}
    trap_cycles = {"hypercall.mmu_update": mmu_update * null + t.updates * update,
                   "hypercall.mmuext_op": mmuext_op * null + t.validated_pages * validate,
                   "pf_bounce": t.pf_bounce * null,
                   **({"syscall_bounce": t.syscall_bounce * null,
                       "hypercall.iret": t.syscall_bounce * null} if p.x86_64 else {})}
    extra = {"pv.updates": t.updates, "pv.pins": t.pins,
             "pv.validated_pages": t.validated_pages}
    costs = Costs.of(platform)
    return cost.metrics(r.c, costs, trap_counts=counts, trap_cycles=trap_cycles,
                        unit_cycles=1.0, extra=extra,
                        native_total=native_total(events, p, costs))


def run(events: Stream, p: PVParams, platform: Platform) -> Metrics:
    """Metrics of replaying ``events`` in Xen PV guests with direct paging."""
    r = _make(p, platform)
    drive(r, events)
    return _finish(r, events, p, platform)


MECHANISM = Mechanism(
    name="pv-direct",
    accepts=("memory",),
    summary="Xen paravirtual direct paging: 1D walks of validated guest tables; updates "
            "by batched mmu_update hypercalls, base-pointer switches and pins by mmuext_op, "
            "page faults bounced",
    params=PVParams,
    run=run,
    costs=(*cost.COSTS, "hypercall.null", "pv.update", "pv.validate_page"),
    headline=HEADLINE,
    hardware=("tlb", "stlb", "walker"),
    ignores=NESTED_ONLY,
    version="13",
    run_many=one_pass(_make, _finish),
    one_pass=LANES,
)
