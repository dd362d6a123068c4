"""The guest OS and the hypervisor's memory, replayed from an OS-event stream.

Every MMU mechanism replays the same :mod:`workloads.memory.events` stream through one
:class:`GuestModel`, so they walk the same tables and differ only in what each event costs
them. The model owns no cache and charges no cost: it changes page tables and reports what it
did (:class:`Effects`), and the mechanism turns that into TLB / page-walk-cache operations,
traps and cycles.

**Guest OS.** Per VM, a guest-physical frame allocator and, per process, an address space:
its mapped regions (VMAs, from MAP / UNMAP / PROTECT) and a radix page table of
``guest_levels`` levels built with :class:`hwmodels.pagewalk.tables.PageTable` at concrete
guest-physical addresses. MAP only records a region; the first ACCESS of a page in it is a
*demand fault* that allocates a zeroed frame and writes the leaf entry (and any missing table
page on its path). With ``huge="2M"`` a demand fault maps a 2 MiB page when the aligned 2 MiB
region around the address lies inside one VMA and has no page table below its level-2 entry
(Linux's transparent huge page on fault); otherwise a 4 KiB page. Leaves carry the region's
protection: writable iff ``WRITE`` (and not copy-on-write), no-execute iff not ``EXEC``, user.
UNMAP and PROTECT rewrite the populated leaves of the range (a 2 MiB leaf the range covers
only in part is first split into 512 4 KiB leaves of the same frame) and ask for an INVLPG of
each changed leaf -- unless the changed leaves span more than ``FLUSH_CEILING`` pages (of
their size), when Linux flushes the whole address space instead (``flush_tlb_mm_range``
against ``tlb_single_page_flush_ceiling``, 33 by default, ``arch/x86/mm/tlb.c``). FORK
gives the child a copy of the parent's regions and of every populated
leaf (Linux copies the page tables of private anonymous memory at fork); every writable leaf,
in parent and child, becomes read-only copy-on-write, and the parent's translations are
flushed. A write to a copy-on-write leaf is a *COW fault*: the leaf gets a fresh frame (the
old one is released) unless it is the frame's only reference, in which case it is made
writable in place; then its address is invalidated. EXIT frees every frame and table page of
the process -- the leaves' frames in address order, as ``zap_pte_range`` clears them -- and
flushes its translations. Freed frames go to a per-size free list and are
reused last-freed first.

**Where the writes land** (for mechanisms that shadow the guest's tables): each PTE write is
also reported with the guest-physical address of the entry and the level of the table page
holding it (:attr:`Effects.written`), every frame the guest allocates (and so zeroes or
copies into) is reported (:attr:`Effects.allocated`), and EXIT reports the entries Linux's
``exit_mmap`` clears before it frees the tables (:attr:`Effects.teardown`: every present leaf
entry, as ``zap_pte_range`` / ``zap_huge_pmd`` clear them, then every upper-level entry
pointing at a table page, as ``free_pgtables`` clears them with ``pmd_clear`` / ``pud_clear``
/ ``p4d_clear``). Teardown writes are not in ``pte_writes``: the mechanisms that count PTE
writes keep their meaning (Xen's ``xen_exit_mmap`` unpins the tables before the teardown, so
under pv-direct those writes are plain stores). :meth:`GuestModel.table_path` names the table
pages a walk of an address passes through.

**Hypervisor.** Per VM, a host (EPT) table of ``host_levels`` levels in host memory. A guest
frame is *touched* when the guest allocates it (the guest kernel zeroes a data page and
writes a table page), and a touched guest-physical page not yet backed gets a host frame of
``host_page`` bytes: one ``backing`` each, which a nested MMU sees as an EPT violation.
Host frames are never reclaimed (no ballooning), so a reused guest frame is already backed.

**Two images.** The model keeps every guest table word twice: in :attr:`GuestModel.native`, a
physical memory where VM ``v``'s guest-physical address ``g`` lives at ``v << VM_SHIFT | g``
and its entries point there too (what a native walker reads: for a single VM,
guest-physical = physical), and in
:attr:`GuestModel.host`, host memory holding the EPT tables and the guest tables at the host
addresses that back them (what a 2D walker reads).

**Compiled first touches.** :meth:`GuestModel.demand_faults` makes a run of 4 KiB demand
faults in one compiled call (:mod:`codesign.mmu.guestkernel`) over the model's own state --
the two images, the free-frame stack, the allocators -- with the writes :meth:`fault` makes,
and leaves to :meth:`fault` what needs a new table page (guest or host), a 2 MiB page, or
an error; the model ends in the same state either way (tested on random streams). Per-page
state is in arrays, not Python objects: each space's populated leaves in a compiled hash
table (:mod:`codesign.mmu.leaves`; a run's faults stored in one call, its pages' leaves
looked up in one: :meth:`translate_pages`), the per-frame records in
:mod:`codesign.mmu.frames`.

**Simplifications** (documented, deterministic): the walk that discovers a fault is not
replayed (the fault is handled, then the access translates); a first read maps a private
frame (no shared zero page); page-table pages are freed only at EXIT; regions are never
merged; a COW fault on a piece of a split 2 MiB page always copies; a COW fault on a 2 MiB
leaf copies the whole 2 MiB frame.

>>> from workloads.memory.events import StreamBuilder
>>> b = StreamBuilder(); b.spawn(1); b.switch(1); b.map(0x10000, pages=2); b.access(0x10008)
>>> g = GuestModel(GuestConfig())
>>> [g.apply(e).faults for e in b.build()]
[0, 0, 0, 0, 1]
>>> g.translate(0, 1, 0x10008)
Translation(gpa=1052680, size=4096, perms=11)
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

import numpy as np

from hwmodels.pagewalk.tables import (
    FRAME_MASK,
    PAGE_1G,
    PAGE_2M,
    PAGE_4K,
    PRESENT,
    PS,
    FrameAllocator,
    Memory,
    PageTable,
)
from hwmodels.tlb import Perm
from workloads.memory.events import Access, Ev, Prot, sorted_distinct

from .frames import FrameMap, FrameStack, RefCounts
from .guestkernel import F_BACKED, F_GPA, F_HBASE, F_HPA, F_PROT, F_VA, GROW, N_COLS, demand_faults
from .leaves import Leaf, Leaves

# Plain ints for the per-page paths: an operation on an IntFlag member builds a new member
# (a quarter of a fault-heavy replay's time went to enum.__call__).
_WRITE, _EXEC = int(Prot.WRITE), int(Prot.EXEC)
_PERM_RU, _PERM_W, _PERM_X = int(Perm.R | Perm.U), int(Perm.W), int(Perm.X)
IntArray = TypeVar("IntArray", int, np.ndarray)

VM_SHIFT = 40
"""VM ``v``'s guest-physical space sits at ``v << VM_SHIFT`` in the native image."""
GUEST_BASE = 0x10_0000
"""First guest-physical address the guest allocates (below it: firmware, as on a PC)."""
HOST_BASE = 1 << 32
"""First host-physical address of the host pages backing guest memory."""
EPT_BASE = 1 << 44
"""First host-physical address of the host (EPT) table pages: a region of their own, as KVM
takes them from the kernel's page allocator (its MMU page caches), apart from the guest's
memory, which a user process backs (QEMU's anonymous mappings). So the frames backing guest
memory -- the addresses of every data reference of a virtualized guest -- come in the order
the guest first touches them whatever the host table's depth (``host.levels``;
``host.page_size`` sets their size), and a mechanism that never walks the host table
(shadow paging) sees the same data addresses as one that does. Between :data:`HOST_BASE`
and ``agiletables.SHADOW_BASE`` (2**45)."""
HOST_PAGES = {"4K": PAGE_4K, "2M": PAGE_2M, "1G": PAGE_1G}
KERNEL_PID = 0
"""The guest kernel's own address space in :attr:`GuestModel.spaces` (a stream's pids are
>= 1)."""
KERNEL_DIRECT = 0x8880_0000_0000
"""Base of the guest kernel's direct map of guest-physical memory under 4-level tables: Linux
x86-64's ``__PAGE_OFFSET`` (0xffff888000000000, PML4 entry 273) without its sign extension
(the model's addresses are 48-bit). VM ``v``'s kernel maps its memory at ``KERNEL_DIRECT +
(v << VM_SHIFT)`` -- a relocated direct map, as KASLR relocates it -- so that kernels of
different VMs never share a TLB tag where a mechanism has no VM tags."""
KERNEL_DIRECT_L5 = 0x0111_0000_0000_0000
"""The same under 5-level tables: ``__PAGE_OFFSET_BASE_L5`` (0xff11000000000000, PML5 entry
273) without its sign extension (57-bit). At the 4-level base the direct map would sit under
PML5 entry 0 with the user half, and the kernel's table (walked from a root of its own, see
:class:`KernelSpace`) would give that entry another PML4 than the process's: a page-walk
cache entry of one walk would send the other into the wrong table."""


def kernel_direct(guest_levels: int) -> int:
    """Base of the guest kernel's direct map under tables of ``guest_levels`` levels.

    >>> hex(kernel_direct(4)), hex(kernel_direct(5))
    ('0x888000000000', '0x111000000000000')
    """
    return KERNEL_DIRECT_L5 if guest_levels == 5 else KERNEL_DIRECT


KERNEL_BYTES = 32 << 20
"""The guest kernel's own memory: the top ``KERNEL_BYTES`` of each VM's guest-physical space
(its page tables in the first MiB, then task and ``struct page`` slots: see
:mod:`codesign.mmu.kernel`). Backed by the host where the kernel first uses it, as boot-time
work (no EPT violation is reported); user frames are allocated below it."""
KERNEL_TABLES = 1 << 20
"""Bytes at the start of the kernel's memory that hold its page-table pages."""
HUGE_POLICIES = ("none", "2M")


def tlb_perms(prot: IntArray, cow: bool = False) -> IntArray:
    """TLB permissions (``hwmodels.tlb.Perm``) of leaves of region protection ``prot`` (an
    int or an array of them): readable and user always, writable when the region is and the
    leaf is not copy-on-write, executable when the region is.

    >>> tlb_perms(int(Prot.READ | Prot.WRITE)), tlb_perms(int(Prot.READ | Prot.WRITE), True)
    (11, 9)
    """
    return (_PERM_RU | ((prot & _WRITE) != 0) * (not cow) * _PERM_W
            | ((prot & _EXEC) != 0) * _PERM_X)


FLUSH_CEILING = 33
"""Linux x86's ``tlb_single_page_flush_ceiling`` (``arch/x86/mm/tlb.c``, default 33): a
range flush of more pages than this flushes the address space instead of one INVLPG per
page."""


def _ceiling(fx: Effects, first: int, vm: int, pid: int) -> None:
    """Linux's choice for the leaves ``fx.invalidate[first:]`` one UNMAP or PROTECT changed:
    an INVLPG each, or -- when they span more than :data:`FLUSH_CEILING` pages of their size
    (the stride ``flush_tlb_mm_range`` is given) -- one flush of the address space."""
    changed = fx.invalidate[first:]
    if len(changed) <= FLUSH_CEILING:
        return
    stride = min(size for _, size in changed)
    span = max(va + size for va, size in changed) - min(va for va, _ in changed)
    if span // stride > FLUSH_CEILING:
        del fx.invalidate[first:]
        if (vm, pid) not in fx.flush:
            fx.flush.append((vm, pid))


@dataclass(frozen=True)
class GuestConfig:
    """Shape of the guest and host tables and the page-size policies.

    >>> GuestConfig(host_levels=2, host_page="1G")
    Traceback (most recent call last):
    ValueError: host.page_size=1G needs host.levels >= 3, got 2
    """

    guest_levels: int = 4
    host_levels: int = 4
    host_page: str = "4K"
    huge: str = "none"

    def __post_init__(self) -> None:
        if self.guest_levels not in (4, 5):
            raise ValueError(f"guest.levels: memory workloads use 47-bit user addresses, "
                             f"which need 4 or 5 levels, got {self.guest_levels}")
        if not 2 <= self.host_levels <= 5:
            raise ValueError(f"host.levels: expected 2 .. 5, got {self.host_levels}")
        if self.host_page not in HOST_PAGES:
            raise ValueError(f"host.page_size: expected one of {tuple(HOST_PAGES)}, "
                             f"got {self.host_page!r}")
        need = {"4K": 1, "2M": 2, "1G": 3}[self.host_page]
        if self.host_levels < need:
            raise ValueError(f"host.page_size={self.host_page} needs host.levels >= {need}, "
                             f"got {self.host_levels}")
        if self.huge not in HUGE_POLICIES:
            raise ValueError(f"guest.huge_pages: expected one of {HUGE_POLICIES}, "
                             f"got {self.huge!r}")


@dataclass
class Effects:
    """What replaying one event (or one faulting access) did.

    ``faults`` = ``demand_faults + cow_faults`` (guest page faults); ``pte_writes``: guest
    page-table words written; ``table_pages``: guest page-table pages allocated;
    ``backings``: host pages newly backing guest-physical memory; ``invalidate``: (va, size)
    of leaves whose translation changed in the running address space (INVLPG each);
    ``flush``: (vm, pid) address spaces whose translations must all go; ``ipis``: TLB
    shootdown IPIs sent; ``cr3``: the event loaded CR3 (SWITCH).

    Where the writes land (additive; ``pte_writes``, ``table_pages`` and ``backings`` keep
    their meaning): ``written``: (guest-physical address of the entry, level of its table
    page) of each PTE write, in order, one per ``pte_writes``; ``allocated``: (guest-physical
    address, size) of each frame allocated (data or table page: the guest kernel writes every
    byte of it, zeroing or copying); ``teardown``: (entry address, level) of each entry an
    EXIT clears before freeing the tables, in Linux's order (leaves, then upper levels from
    the bottom up), not counted in ``pte_writes``.
    """

    demand_faults: int = 0
    cow_faults: int = 0
    pte_writes: int = 0
    table_pages: int = 0
    backings: int = 0
    invalidate: list[tuple[int, int]] = field(default_factory=list)
    flush: list[tuple[int, int]] = field(default_factory=list)
    ipis: int = 0
    cr3: bool = False
    written: list[tuple[int, int]] = field(default_factory=list)
    allocated: list[tuple[int, int]] = field(default_factory=list)
    teardown: list[tuple[int, int]] = field(default_factory=list)
    zeroed_large: int = 0
    """Bytes beyond the first 4 KiB of the pages the faults zeroed (a 2 MiB demand fault
    clears 2 MiB, a 4 KiB one 4 KiB: what fault handling costs beyond ``fault.page``)."""
    copied_large: int = 0
    """Bytes beyond the first 4 KiB of the pages the COW faults copied."""
    copied: list[tuple[int, int]] = field(default_factory=list)
    """(guest-physical address, size) of each frame a COW fault copied from."""
    frames: list[int] = field(default_factory=list)
    """Guest frames whose ``struct page`` the kernel updated: each frame allocated, each leaf
    a FORK shared (``get_page``), each reference released (``put_page``)."""
    leaves_copied: int = 0
    """Leaf entries a FORK copied into the child (``copy_pte_range``)."""
    leaves_zapped: int = 0
    """Leaf entries an UNMAP or EXIT cleared (``zap_pte_range``)."""

    @property
    def faults(self) -> int:
        """Guest page faults (demand + copy-on-write)."""
        return self.demand_faults + self.cow_faults


class DemandRun(NamedTuple):
    """What :meth:`GuestModel.demand_faults` did: a row per fault (columns
    ``codesign.mmu.guestkernel.F_*``: the access's index, the page, its frame, the leaf
    entry's guest-physical address, whether its host page was newly backed, the host page and
    the host frame newly backing it, the region's protection, the frame's host-physical
    address) and the access it stopped at (the length: none)."""

    rows: np.ndarray
    stop: int


class Translation(NamedTuple):
    """What one address maps to: guest-physical address, guest page size, TLB perms."""

    gpa: int
    size: int
    perms: int


class Space:
    """One process's address space: regions, page table, populated leaves, table pages."""

    def __init__(self, model: GuestModel, vm: int) -> None:
        self.vm = vm
        self.vmas: list[tuple[int, int, int]] = []  # (start va, end va, prot), sorted
        self.leaves = Leaves()
        self.tables: list[int] = []
        vmstate = model.vms[vm]

        def alloc() -> int:
            gpa = model._alloc(vmstate, PAGE_4K)
            if not self.tables:  # PageTable allocates its root before anything else
                vmstate.levels[gpa] = model.cfg.guest_levels
            self.tables.append(gpa)
            model._fx.table_pages += 1
            return gpa

        self.pt = PageTable(model.cfg.guest_levels, alloc, vmstate.read, vmstate.write,
                            record=False)

    def prot_at(self, va: int) -> int | None:
        """Protection of the region holding ``va`` (None: unmapped)."""
        i = bisect.bisect_right(self.vmas, (va, 1 << 64, 0)) - 1
        if i >= 0 and self.vmas[i][0] <= va < self.vmas[i][1]:
            return self.vmas[i][2]
        return None

    def vma_covering(self, start: int, end: int) -> bool:
        """True when one region holds all of [start, end)."""
        i = bisect.bisect_right(self.vmas, (start, 1 << 64, 0)) - 1
        return i >= 0 and self.vmas[i][0] <= start and end <= self.vmas[i][1]

    def leaf_at(self, va: int) -> Leaf | None:
        """The populated leaf covering ``va``."""
        return self.leaves.at(va)

    def carve(self, start: int, end: int) -> list[tuple[int, int, int]]:
        """Regions overlapping [start, end), removed from the list (split at the edges)."""
        keep, cut = [], []
        for a, b, p in self.vmas:
            if b <= start or a >= end:
                keep.append((a, b, p))
                continue
            if a < start:
                keep.append((a, start, p))
            if b > end:
                keep.append((end, b, p))
            cut.append((max(a, start), min(b, end), p))
        self.vmas = sorted(keep)
        return cut


class KernelSpace(Space):
    """The guest kernel's half of every address space: its direct map of guest-physical
    memory in 2 MiB leaves (Linux maps it with large pages at boot), in a table of its own
    whose pages live in the kernel's memory. Leaves are written when a region is first
    referenced (boot-time work: :meth:`GuestModel.kernel_va` counts nothing).

    Simplification: a kernel reference is walked from this table's root, where the hardware
    starts at the running process's root, whose kernel entries point to the same lower tables:
    the same number of levels, one top-level line apart."""

    def __init__(self, model: GuestModel, vm: int) -> None:
        st = model.vms[vm]
        self.vm = vm
        self.vmas = []
        self.leaves = Leaves()
        self.tables = []
        tables = FrameAllocator(st.kbase, st.kbase + KERNEL_TABLES)

        def alloc() -> int:
            gpa = tables.alloc(PAGE_4K)
            model._back(st, gpa, PAGE_4K)  # at boot: inside GuestModel._booting
            if not self.tables:
                st.levels[gpa] = model.cfg.guest_levels
            self.tables.append(gpa)
            return gpa

        self.pt = PageTable(model.cfg.guest_levels, alloc, st.read, st.write, record=False)


class VMState:
    """One VM: guest-physical allocator, free lists, EPT table and backing map."""

    def __init__(self, model: GuestModel, vm: int) -> None:
        cfg = model.cfg
        self.vm = vm
        self.offset = vm << VM_SHIFT
        limit = min(1 << VM_SHIFT, 1 << (12 + 9 * cfg.host_levels))
        self.kbase = limit - KERNEL_BYTES
        """Guest-physical base of the kernel's own memory (:data:`KERNEL_BYTES`)."""
        self.alloc = FrameAllocator(GUEST_BASE, self.kbase)
        self.free: dict[int, FrameStack] = {PAGE_4K: FrameStack(), PAGE_2M: FrameStack()}
        self.refs = RefCounts(top=self.kbase)
        """References to each allocation (base, size): the leaves holding it."""
        self.ept = PageTable.in_memory(model.host, cfg.host_levels, model.ept_alloc,
                                       record=False)
        self.backed = FrameMap(model.host_page, top=self.kbase, end=limit)
        """Host-page-aligned guest-physical address -> the host frame backing it."""
        self.levels: dict[int, int] = {}
        """Guest table page -> its level (the root's at allocation, the others' when the entry
        linking them is written)."""
        self.parents: dict[int, int] = {}
        """Guest table page (not a root) -> address of the entry that links it."""
        self.running = 0
        self._model = model

    def hpa(self, gpa: int) -> int | None:
        """Host-physical address backing ``gpa`` (None: not backed)."""
        size = self._model.host_page
        base = self.backed.get(gpa - gpa % size)
        return base + gpa % size if base else None

    def read(self, gpa: int) -> int:
        """A guest table word (from the native image, its frame back in guest-physical)."""
        word = self._model.native.read(self.offset | gpa)
        return word & ~self.offset if word & 1 else word

    def write(self, gpa: int, word: int) -> None:
        """Write a guest table word into both images."""
        model = self._model
        # Natively the VM's space sits at ``offset``: so do the frames its entries point to.
        model.native.write(self.offset | gpa, word | self.offset if word & 1 else word)
        hpa = self.hpa(gpa)
        if hpa is None:
            raise AssertionError(f"vm {self.vm}: guest table word at unbacked {gpa:#x}")
        model.host.write(hpa, word)
        model._fx.pte_writes += 1
        level = self.levels.get(gpa & ~(PAGE_4K - 1), 0)
        model._fx.written.append((gpa, level))
        if level > 1 and word & PRESENT and not word & PS:
            child = word & FRAME_MASK
            self.levels[child] = level - 1
            self.parents[child] = gpa


class GuestModel:
    """Replays OS events: guest page tables, demand paging, COW, host backing.

    ``apply(event)`` handles one stream record (ACCESS records: their faults only, see
    :meth:`fault`) and returns its :class:`Effects`; :meth:`translate` answers what an address
    maps to now. State per VM and process is created by SPAWN (and FORK).
    """

    def __init__(self, cfg: GuestConfig) -> None:
        self.cfg = cfg
        self.host_page = HOST_PAGES[cfg.host_page]
        self.native = Memory()
        self.host = Memory()
        self.host_alloc = FrameAllocator(HOST_BASE, EPT_BASE)
        """Host pages backing guest memory."""
        self.ept_alloc = FrameAllocator(EPT_BASE, 1 << 45)  # agiletables.SHADOW_BASE above
        """Host table pages (:data:`EPT_BASE`)."""
        self.vms: dict[int, VMState] = {}
        self.spaces: dict[tuple[int, int], Space] = {}
        self.vm = 0
        self._fx = Effects()

    # -- frames ------------------------------------------------------------------------------

    def _vm(self, vm: int) -> VMState:
        state = self.vms.get(vm)
        if state is None:
            state = self.vms[vm] = VMState(self, vm)
        return state

    def _alloc(self, st: VMState, size: int) -> int:
        """A guest frame of ``size`` (free list first), touched: backed if it was not."""
        gpa = st.free[size].pop() if st.free[size] else st.alloc.alloc(size)
        self._fx.allocated.append((gpa, size))
        self._fx.frames.append(gpa)
        self._back(st, gpa, size)
        return gpa

    def _back(self, st: VMState, gpa: int, size: int) -> None:
        """Back [gpa, gpa + size) with host pages where it is not yet backed."""
        for off in range(0, size, min(size, self.host_page)):
            page = gpa + off
            if st.hpa(page) is None:
                base = page - page % self.host_page
                hpa = self.host_alloc.alloc(self.host_page)
                st.ept.map(base, hpa, self.host_page)
                st.backed[base] = hpa
                self._fx.backings += 1

    def _release(self, st: VMState, leaf: Leaf) -> None:
        self._fx.frames.append(leaf.gpa)
        n = st.refs[leaf.alloc] - 1
        if n:
            st.refs[leaf.alloc] = n
        else:
            del st.refs[leaf.alloc]
            st.free[leaf.alloc[1]].append(leaf.alloc[0])

    def _release_all(self, st: VMState, leaves: list[Leaf]) -> None:
        """:meth:`_release` of each leaf in order, the reference counts in bulk."""
        self._fx.frames.extend(leaf.gpa for leaf in leaves)
        for base, size in st.refs.release([leaf.alloc for leaf in leaves]):
            st.free[size].append(base)

    def _write_leaf(self, sp: Space, va: int, leaf: Leaf) -> None:
        sp.pt.map(va, leaf.gpa, leaf.size, writable=bool(leaf.prot & _WRITE) and not leaf.cow,
                  user=True, nx=not leaf.prot & _EXEC)
        sp.leaves[va] = leaf

    def _clear_leaf(self, sp: Space, va: int) -> Leaf:
        leaf = sp.leaves.pop(va)
        sp.pt.unmap(va, leaf.size)
        return leaf

    def _split(self, sp: Space, va2m: int) -> None:
        """Replace the 2 MiB leaf at ``va2m`` by 512 4 KiB leaves of the same frame."""
        leaf = self._clear_leaf(sp, va2m)
        st = self.vms[sp.vm]
        st.refs[leaf.alloc] += PAGE_2M // PAGE_4K - 1
        for off in range(0, PAGE_2M, PAGE_4K):
            self._write_leaf(sp, va2m + off,
                             Leaf(leaf.gpa + off, PAGE_4K, leaf.prot, leaf.cow, leaf.alloc))
        self._fx.invalidate.append((va2m, PAGE_2M))

    def _leaves_in(self, sp: Space, start: int, end: int) -> list[int]:
        """Leaf addresses inside [start, end), splitting 2 MiB leaves the range cuts."""
        for edge in (start, end):
            leaf = sp.leaves.get(edge & ~(PAGE_2M - 1))
            if leaf is not None and leaf.size == PAGE_2M and edge % PAGE_2M:
                self._split(sp, edge & ~(PAGE_2M - 1))
        if (end - start) // PAGE_4K < len(sp.leaves):
            out = []
            va = start
            while va < end:
                leaf = sp.leaves.get(va)
                if leaf is not None:
                    out.append(va)
                    va += leaf.size
                else:
                    va += PAGE_4K
            return out
        return sp.leaves.in_range(start, end)

    # -- events ------------------------------------------------------------------------------

    def apply(self, e: np.void) -> Effects:
        """Replay one event record; what it did."""
        self._fx = fx = Effects()
        op, vm, pid = int(e["op"]), int(e["vm"]), int(e["pid"])
        va, end = int(e["va"]), int(e["va"]) + int(e["pages"]) * PAGE_4K
        st = self._vm(vm)
        if op == Ev.ACCESS:
            self._fault(vm, pid, va, int(e["arg"]) == Access.WRITE)
        elif op == Ev.SPAWN:
            self.spaces[(vm, pid)] = Space(self, vm)
        elif op == Ev.SWITCH:
            st.running = pid
            fx.cr3 = True
        elif op == Ev.VM_SWITCH:
            self.vm = vm
        elif op == Ev.MAP:
            sp = self.spaces[(vm, pid)]
            bisect.insort(sp.vmas, (va, end, int(e["arg"])))
        elif op == Ev.UNMAP:
            sp = self.spaces[(vm, pid)]
            first = len(fx.invalidate)
            gone = []
            for leaf_va in self._leaves_in(sp, va, end):
                leaf = self._clear_leaf(sp, leaf_va)
                gone.append(leaf)
                fx.invalidate.append((leaf_va, leaf.size))
                fx.leaves_zapped += 1
            self._release_all(st, gone)
            _ceiling(fx, first, vm, pid)
            sp.carve(va, end)
        elif op == Ev.PROTECT:
            sp = self.spaces[(vm, pid)]
            prot = int(e["arg"])
            first = len(fx.invalidate)
            for leaf_va in self._leaves_in(sp, va, end):
                leaf = sp.leaves[leaf_va]
                leaf.prot = prot
                self._write_leaf(sp, leaf_va, leaf)
                fx.invalidate.append((leaf_va, leaf.size))
            _ceiling(fx, first, vm, pid)
            for a, b, _ in sp.carve(va, end):
                bisect.insort(sp.vmas, (a, b, prot))
        elif op == Ev.FORK:
            self._fork(st, pid, int(e["arg"]))
        elif op == Ev.EXIT:
            self._exit(st, pid)
        elif op == Ev.SHOOTDOWN:
            fx.ipis = int(e["arg"])
        return fx

    def _fork(self, st: VMState, pid: int, child: int) -> None:
        parent = self.spaces[(st.vm, pid)]
        sp = self.spaces[(st.vm, child)] = Space(self, st.vm)
        sp.vmas = list(parent.vmas)
        allocs = []
        for va, leaf in parent.leaves.items():  # address order, as copy_page_range
            if leaf.prot & _WRITE and not leaf.cow:
                leaf.cow = True
                self._write_leaf(parent, va, leaf)
            allocs.append(leaf.alloc)
            self._write_leaf(sp, va, Leaf(leaf.gpa, leaf.size, leaf.prot, leaf.cow, leaf.alloc))
            self._fx.frames.append(leaf.gpa)
        st.refs.add(allocs)
        self._fx.leaves_copied += len(parent.leaves)
        self._fx.flush.append((st.vm, pid))

    def _exit(self, st: VMState, pid: int) -> None:
        sp = self.spaces.pop((st.vm, pid))
        self._teardown(st, sp)
        self._fx.leaves_zapped += len(sp.leaves)
        self._release_all(st, list(sp.leaves.values()))
        for gpa in sp.tables:
            st.levels.pop(gpa, None)
            st.parents.pop(gpa, None)
            self.native.clear(st.offset | gpa, PAGE_4K)
            # Host pages are 4 KiB or larger: the table page lies in one, backed or not.
            hpa = st.hpa(gpa)
            if hpa is not None:
                self.host.clear(hpa, PAGE_4K)
            st.free[PAGE_4K].append(gpa)
        self._fx.flush.append((st.vm, pid))
        if st.running == pid:
            st.running = 0

    def _teardown(self, st: VMState, sp: Space) -> None:
        """Report the entries ``exit_mmap`` clears: each present leaf entry (``unmap_vmas``
        runs before ``free_pgtables``), then each entry linking a table page, bottom level
        first (``free_pgtables`` clears a table's entry in its parent once the table is
        emptied)."""
        out = self._fx.teardown
        for va, leaf in sp.leaves.items():  # address order
            level = 1 if leaf.size == PAGE_4K else 2
            entry = sp.pt.entry_address(va, level)
            if entry is not None:
                out.append((entry, level))
        links = sorted((st.levels.get(t, 0), st.parents[t]) for t in sp.tables
                       if t in st.parents)
        out.extend((entry, level + 1) for level, entry in links)

    def fault(self, vm: int, pid: int, va: int, write: bool) -> Effects:
        """Handle what an access needs before it can translate: a demand fault on an
        unpopulated page, a COW fault on a write to a copy-on-write leaf; nothing otherwise."""
        self._fx = Effects()
        self._fault(vm, pid, va, write)
        return self._fx

    def needs_fault(self, vm: int, pid: int, va: int, write: bool) -> bool:
        """Whether :meth:`fault` would do anything for this access now."""
        word = self.spaces[(vm, pid)].leaves.word_at(va)
        return not word or (write and Leaves.is_cow(word))

    def is_cow(self, vm: int, pid: int, va: int) -> bool:
        """Whether ``va``'s page holds a copy-on-write leaf (a write to it faults)."""
        return Leaves.is_cow(self.spaces[(vm, pid)].leaves.word_at(va))

    def demand_faults(self, vm: int, pid: int, va: np.ndarray, lo: int = 0) -> DemandRun:
        """Demand-fault the pages of ``va[lo:]`` (int64 addresses of one process) in order,
        compiled, as :meth:`fault` would, until an access it cannot handle there (see
        :mod:`codesign.mmu.guestkernel`): the caller gives that one to :meth:`fault` and
        resumes after it. Accesses to mapped pages are skipped (no row). Effects are not
        collected: the rows say what each fault did (a demand fault of 4 KiB: one PTE write
        at its entry, one frame allocated, at most one backing)."""
        sp = self.spaces[(vm, pid)]
        st = self.vms[vm]
        cfg = self.cfg
        regions = np.array(sp.vmas, dtype=np.int64).reshape(-1, 3).T.copy()
        rows = np.empty((len(va) - lo, N_COLS), dtype=np.int64)
        done = 0
        free = st.free[PAGE_4K]
        while True:
            nk, nv, nm = self.native.table()
            hk, hv, hm = self.host.table()
            nn, hn = len(self.native), len(self.host)
            why, lo, count, nn2, hn2, free.n, st.alloc.next, self.host_alloc.next = \
                demand_faults(va, lo, nk, nv, nm, nn, hk, hv, hm, hn, st.offset,
                              sp.pt.root, cfg.guest_levels, st.ept.root, cfg.host_levels,
                              self.host_page, *regions, free.arr, free.n, st.alloc.next,
                              st.alloc.limit, self.host_alloc.next, self.host_alloc.limit,
                              rows[done:])
            self.native.added(nn2 - nn)
            self.host.added(hn2 - hn)
            new = rows[done:done + count]
            sp.leaves.put_4k(new[:, F_VA], new[:, F_GPA], new[:, F_PROT])
            st.refs.by_size[PAGE_4K].put(new[:, F_GPA], 1)
            fresh = new[:, F_BACKED] != 0
            st.backed.put(new[fresh, F_HBASE], new[fresh, F_HPA])
            done += count
            if why != GROW:
                return DemandRun(rows[:done], lo)
            self.native.reserve(1)
            self.host.reserve(2)

    def _fault(self, vm: int, pid: int, va: int, write: bool) -> None:
        sp = self.spaces[(vm, pid)]
        st = self.vms[vm]
        fx = self._fx
        leaf = sp.leaf_at(va)
        if leaf is None:
            prot = sp.prot_at(va)
            if prot is None:
                raise ValueError(f"vm {vm} pid {pid}: access to unmapped {va:#x}")
            size = PAGE_4K
            if self.cfg.huge == "2M":
                region = va & ~(PAGE_2M - 1)
                slot = sp.pt.entry_address(region, 2)
                if (sp.vma_covering(region, region + PAGE_2M)
                        and (slot is None or not st.read(slot) & 1)):
                    size = PAGE_2M
            base = va & ~(size - 1)
            gpa = self._alloc(st, size)
            st.refs[(gpa, size)] = 1
            self._write_leaf(sp, base, Leaf(gpa, size, prot, False, (gpa, size)))
            fx.demand_faults += 1
            fx.zeroed_large += size - PAGE_4K
        elif write and leaf.cow:
            base = va & ~(leaf.size - 1)
            if st.refs[leaf.alloc] > 1 or leaf.alloc[1] != leaf.size:
                self._release(st, leaf)
                fx.copied.append((leaf.gpa, leaf.size))
                gpa = self._alloc(st, leaf.size)
                fx.copied_large += leaf.size - PAGE_4K
                st.refs[(gpa, leaf.size)] = 1
                leaf = Leaf(gpa, leaf.size, leaf.prot, False, (gpa, leaf.size))
            else:
                leaf.cow = False
            self._write_leaf(sp, base, leaf)
            fx.cow_faults += 1
            fx.invalidate.append((base, leaf.size))

    # -- queries -----------------------------------------------------------------------------

    def running(self, vm: int | None = None) -> int:
        """The process running in ``vm`` (default: the running VM); 0 when none."""
        return self._vm(self.vm if vm is None else vm).running

    def root(self, vm: int, pid: int) -> int:
        """Guest-physical address of the process's top-level table (its CR3)."""
        return self.spaces[(vm, pid)].pt.root

    def table_path(self, vm: int, pid: int, va: int) -> list[tuple[int, int]]:
        """(guest-physical address, level) of each table page a walk of ``va`` reads, from
        the root down to the table that holds ``va``'s leaf entry (or where the walk stops).

        >>> from workloads.memory.events import StreamBuilder
        >>> b = StreamBuilder(); b.spawn(1); b.switch(1); b.map(0x10000, pages=1)
        >>> b.access(0x10000)
        >>> g = GuestModel(GuestConfig()); fx = [g.apply(e) for e in b.build()]
        >>> [level for _, level in g.table_path(0, 1, 0x10000)]
        [4, 3, 2, 1]
        >>> [level for _, level in fx[-1].written]  # the fault linked 3 tables, wrote a leaf
        [4, 3, 2, 1]
        >>> fx[-1].written[-1] == (g.table_path(0, 1, 0x10000)[-1][0] + 8 * 16, 1)
        True
        """
        st = self.vms[vm]
        table = self.spaces[(vm, pid)].pt.root
        out = []
        for level in range(self.cfg.guest_levels, 0, -1):
            out.append((table, level))
            e = st.read(table + 8 * ((va >> (12 + 9 * (level - 1))) & 511))
            if level == 1 or not e & PRESENT or e & PS:
                break
            table = e & FRAME_MASK
        return out

    def translate_pages(self, vm: int, pid: int, pages: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`translate` of the start of each 4 KiB page number of ``pages`` (int64), as
        arrays: guest-physical addresses, guest page sizes, TLB permissions.

        >>> from workloads.memory.events import StreamBuilder
        >>> b = StreamBuilder(); b.spawn(1); b.switch(1); b.map(0x10000, pages=2)
        >>> b.access(0x11008)
        >>> g = GuestModel(GuestConfig()); _ = [g.apply(e) for e in b.build()]
        >>> [x.tolist() for x in g.translate_pages(0, 1, np.array([0x11]))]
        [[1052672], [4096], [11]]
        """
        words = self.spaces[(vm, pid)].leaves.covering(pages)
        if not words.all():
            self.translate(vm, pid, int(pages[np.argmin(words != 0)]) << 12)  # raises
        gpa, size, prot, cow = Leaves.fields(words)
        perms = tlb_perms(prot) & ~(cow * _PERM_W)
        return gpa + (pages << 12) % size, size, perms

    def host_addresses(self, vm: int, gpa: np.ndarray) -> tuple[np.ndarray, int]:
        """:meth:`host_address` of each guest-physical address of ``gpa`` (int64): the
        host-physical addresses, and the host page size."""
        size = self.host_page
        offset = gpa % size
        base = self.vms[vm].backed.get_many(gpa - offset)
        if not base.all():
            self.host_address(vm, int(gpa[np.argmin(base != 0)]))  # raises
        return base + offset, size

    def eptp(self, vm: int) -> int:
        """Host-physical address of the VM's top-level EPT table."""
        return self.vms[vm].ept.root

    def translate(self, vm: int, pid: int, va: int) -> Translation:
        """What ``va`` maps to now (the page must be populated): guest-physical address,
        guest page size, and TLB permissions (``hwmodels.tlb.Perm``)."""
        leaf = self.spaces[(vm, pid)].leaf_at(va)
        if leaf is None:
            raise KeyError(f"vm {vm} pid {pid}: {va:#x} is not populated")
        return Translation(leaf.gpa + va % leaf.size, leaf.size,
                           tlb_perms(leaf.prot, leaf.cow))

    @contextmanager
    def _booting(self) -> Iterator[None]:
        """Work done at boot: its effects are not reported."""
        saved, self._fx = self._fx, Effects()
        try:
            yield
        finally:
            self._fx = saved

    def kernel(self, vm: int) -> Space:
        """The guest kernel's address space of ``vm`` (created the first time it is asked
        for: the VM has booted)."""
        sp = self.spaces.get((vm, KERNEL_PID))
        if sp is None:
            self._vm(vm)
            with self._booting():
                sp = self.spaces[(vm, KERNEL_PID)] = KernelSpace(self, vm)
        return sp

    def kernel_va(self, vm: int, gpa: np.ndarray) -> np.ndarray:
        """Kernel virtual addresses of guest-physical addresses ``gpa`` in ``vm``'s direct
        map, mapping the 2 MiB regions not mapped yet.

        >>> g = GuestModel(GuestConfig())
        >>> hex(int(g.kernel_va(1, np.array([0x201008], dtype=np.int64))[0]))
        '0x898000201008'
        >>> g.translate(1, KERNEL_PID, 0x898000201008)
        Translation(gpa=2101256, size=2097152, perms=11)
        """
        sp = self.kernel(vm)
        base = kernel_direct(self.cfg.guest_levels) + (vm << VM_SHIFT)
        gpa = np.asarray(gpa, dtype=np.int64)
        st = self.vms[vm]
        own = gpa[(gpa >= st.kbase) & (gpa < st.kbase + KERNEL_BYTES)]
        if len(own):
            # the kernel's own memory, backed by the host where the kernel first uses it
            # (boot-time work: not reported)
            unbacked = [p for p in sorted_distinct(own >> 12).tolist()
                        if st.hpa(p << 12) is None]
            if unbacked:
                with self._booting():
                    for p in unbacked:
                        self._back(st, p << 12, PAGE_4K)
        new = [r for r in sorted_distinct(gpa >> 21).tolist()
               if base + (r << 21) not in sp.leaves]
        if new:
            with self._booting():
                for r in new:
                    va, frame = base + (r << 21), r << 21
                    sp.pt.map(va, frame, PAGE_2M, writable=True, user=False, nx=True)
                    sp.leaves[va] = Leaf(frame, PAGE_2M, int(Prot.READ | Prot.WRITE), False,
                                         (frame, PAGE_2M))
        return gpa + base

    def host_address(self, vm: int, gpa: int) -> tuple[int, int]:
        """(host-physical address, host page size) backing ``gpa``."""
        hpa = self.vms[vm].hpa(gpa)
        if hpa is None:
            raise KeyError(f"vm {vm}: {gpa:#x} is not backed")
        return hpa, self.host_page
