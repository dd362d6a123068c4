"""``shadow``: software MMU virtualization by shadow page tables, as KVM's shadow MMU does it.

The hypervisor keeps *shadow pages* mapping guest-virtual straight to host-physical and points
the hardware at them: a TLB miss walks the shadow in one dimension (``guest.levels``
references, the same walks and caches as ``native``: a shadow has the guest table's shape).
The model follows KVM's shadow MMU as of Linux 6.10-6.12 (``arch/x86/kvm/mmu/mmu.c``,
``paging_tmpl.h``, ``page_track.c``, ``arch/x86/kvm/x86.c``; constants from
``arch/x86/include/asm/kvm_host.h``), one per VM (one vCPU):

**Shadow pages, a pool keyed by guest table page.** A shadow page shadows one guest
page-table page at one level; KVM keeps them in a hash table keyed by the table's guest frame
(``kvm_mmu_find_shadow_page`` / ``kvm_mmu_alloc_shadow_page``) and finds them again after a
switch away. A TLB miss on an address whose shadow entry is missing is a hidden page fault
(``shadow.fills``): ``FNAME(fetch)`` walks the guest table and, level by level, finds or
creates the shadow page of each guest table page on the path (``kvm_mmu_get_child_sp``),
links it and sets the leaf. Creating one *shadows* its guest page (``account_shadowed``):
upper levels are write-tracked (``__kvm_write_track_add_gfn``), the last level is
write-protected, and either way the guest's mappings of that frame become read-only. The pool
holds at most ``shadow.pool_pages`` pages per VM (``n_max_mmu_pages``); when fewer than
``KVM_MIN_FREE_MMU_PAGES`` = 5 are free, a fault or root load first zaps the oldest
(``make_mmu_pages_available`` → ``kvm_mmu_zap_oldest_mmu_pages``, ``KVM_REFILL_PAGES`` = 25;
creation order, ``active_mmu_pages`` is FIFO; loaded roots are skipped) (``shadow.reclaimed``).
The default is KVM's for a guest of ``GUEST_MEMORY_DEFAULT`` (1 GiB, an assumption): guest
pages / ``KVM_MEMSLOT_PAGES_TO_MMU_PAGES_RATIO`` (50; formerly ``KVM_PERMILLE_MMU_PAGES`` =
20 in ``kvm_mmu_calculate_default_mmu_pages``), at least ``KVM_MIN_ALLOC_MMU_PAGES`` = 64 —
5,242 pages (``kvm_arch_commit_memory_region``).

**Roots.** A guest CR3 load exits (``traps.vmexit.cr3_write``). If the new table's root is
the current one or one of the previous roots (``shadow.cache`` in all: 1 +
``KVM_MMU_NUM_PREV_ROOTS`` = 4) the switch is fast (``fast_pgd_switch``,
``cached_root_find_and_keep_current``); otherwise the least recently used root is dropped
from that set (``shadow.evictions``; its pages stay in the pool) and the root is looked up in
the pool (``shadow.root_lookups``; ``kvm_mmu_load`` → ``mmu_alloc_shadow_roots``), created when
absent (``shadow.builds``), and the VM's TLB context is flushed (``kvm_mmu_load`` →
``flush_tlb_current``). A CR3 load that flushes (every one without ``tlb.pcid``, and the
guest's reloads that flush an address space at FORK and EXIT) and every root lookup resync
the root's unsync pages (``kvm_invalidate_pcid`` → ``KVM_REQ_MMU_SYNC`` →
``kvm_mmu_sync_roots`` → ``mmu_sync_children``); with PCIDs a switch is a no-flush load.

**Which guest writes exit** (``traps.vmexit.pt_write``; all by the guest's writes to frames
KVM has made read-only, :attr:`ShadowMMU.wp`):

- a write to a frame with a write-tracked (upper-level) shadow page is emulated
  (``page_fault_handle_page_track`` → ``kvm_mmu_track_write``): one exit, the written shadow
  entry is zapped (``mmu_page_zap_pte``), and the page's flood counter counts up
  (``detect_write_flooding``: upper levels only); at 3 the page is zapped instead
  (``shadow.zapped_flood``, ``mmu_flooded``). The counter is reset whenever KVM's fault path
  walks through the page (``clear_sp_write_flooding_count`` in ``FNAME(fetch)`` and
  ``kvm_mmu_find_shadow_page``), on a CR3 load of it (``kvm_mmu_new_pgd``) and, for the
  current root, by each emulated write itself (``shadow_page_table_clear_flood``: the guest
  kernel writes a PTE through its direct map, whose walk starts at the current root) — so
  three writes to a table between two uses of it zap it, the current root never;
- a write to a frame with only last-level shadow pages makes them *unsync* instead
  (``mmu_try_to_unsync_pages`` → ``kvm_unsync_page``; ``shadow.unsync``): one exit, after
  which the frame is writable and further writes to it do not exit until a resync;
- a frame the guest reallocates (zeroed with ``rep stosb`` or copied with ``rep movs``: not
  page-table writing instructions for KVM's emulator) while a stale write-tracked shadow page
  remains on it is unprotected (``x86_emulate_instruction`` → ``kvm_mmu_unprotect_gfn_and_retry``
  zaps its shadow pages; ``shadow.unprotected``) and the retried write faults once more to
  make the mapping writable: two exits; with only last-level pages it unsyncs them (one exit);
- a frame whose shadow pages are gone keeps its read-only mapping until the next write to it
  faults once (no shadow page left: the mapping is made writable);
- a write to a frame no shadow page shadows does not exit — a fork's child tables, not yet
  walked, in particular.

**Resync.** The guest's INVLPG exits (``traps.vmexit.invlpg``) and resyncs that one entry in
every loaded root whose last-level page is unsync (``kvm_mmu_invlpg`` →
``__kvm_mmu_invalidate_addr`` → ``kvm_sync_spte``); a flushing CR3 load resyncs every entry
of every unsync page under the root and write-protects those pages again
(``mmu_sync_children`` → ``kvm_sync_page``); so does a fault that relinks an unsync page
(``kvm_mmu_find_shadow_page``). A resynced entry keeps its shadow entry (permissions
updated) unless the guest's leaf now maps another frame or none (``FNAME(sync_spte)``: drop).
Each resynced entry (``shadow.resyncs``, present entries only: ``kvm_sync_spte`` skips empty
ones) costs ``memory.latency`` on top of the exit that triggered it (an assumption: one read of
the guest PTE, ``kvm_vcpu_read_guest_atomic``, missing the caches; the tens of instructions
around it are folded in), in that exit's ``cycles.traps.vmexit.<reason>``.

**Teardown.** Linux's ``exit_mmap`` clears every present PTE of the dying address space
(``zap_pte_range``) and then every entry linking its table pages (``free_pgtables``) while
its CR3 is still loaded; those writes (``shadow.teardown_writes``, not in ``os.pte_writes``)
exit as above: a shadowed last-level table once (unsync), each entry of a shadowed upper
table until flood detection zaps it. The dead space's shadow pages stay in the pool until
flooded, reclaimed, or unprotected when the guest reuses their frames.

**Other exits.** A guest page fault exits and is injected (``shadow.injected``, also
``faults.page``, whose handler costs ``fault.page`` as natively; counted with the hidden
fills in ``traps.vmexit.page_fault``); each shootdown IPI the guest sends exits
(``traps.vmexit.ipi``: a write to the virtual APIC's interrupt-command register, no IPI
virtualization). A VM_SWITCH resumes the VM on its own current root without a guest trap.
Every exit is handled in the host kernel: ``cycles.traps.vmexit.<reason>`` = count x
``vmexit.kernel`` + that reason's resynced entries x ``memory.latency``. The per-access
latency adds the exits an access raised (its fault's, its handler's writes and INVLPGs, its
hidden fill) at ``vmexit.kernel`` each (resync work is in the cycles, not the latency).

**Metrics** beyond every MMU mechanism's: ``shadow.fills`` (hidden page faults),
``shadow.injected`` (guest page faults, as before); ``shadow.builds`` (root shadow pages
created by a root lookup: before version 3, every load of a root outside the cache built an
empty shadow, now a root is built once while its pages stay in the pool),
``shadow.evictions`` (roots dropped from the ``shadow.cache`` loaded roots: before, the
evicted shadow was discarded, now its pages stay), ``shadow.root_lookups``,
``shadow.unsync``, ``shadow.resyncs``, ``shadow.zapped_flood`` (pages zapped by flood
detection, with the unsync pages below them), ``shadow.unprotected``, ``shadow.reclaimed``,
``shadow.pages`` (most pages one VM's pool held), ``shadow.teardown_writes``,
``shadow.tlb_flushes`` (KVM's own flushes of a VM's TLB contexts) and ``shadow.backings``
(4 KiB host pages KVM backed guest memory with inside the faults that first touched it, each
costing the host's own fault, :meth:`~codesign.mmu.cost.Costs.host_fault`, in
``cycles.traps.vmexit.page_fault``).

Simplifications: the guest kernel's direct map (:mod:`codesign.mmu.kernel`) is shadowed at
boot and never written, so its references walk the shadow in 1D without hidden faults; its
shadow pages are not counted in the pool, and the kernel's own walks do not clear flood
counters; no ``FNAME(pte_prefetch)`` (it fills only neighbours
whose guest PTE has its accessed bit, which the guest model does not track); misaligned-write
detection never fires (the guest writes whole entries); KVM's remote TLB flushes after zaps,
unsync write-protection and dropped entries are one flush of the VM's TLB contexts per OS
event, and those a run of accesses raises (reclaim in a fill) take effect at the next OS
event; a fill's own write protection of the new page flushes nothing (it only matters for the
kernel's mappings); a fill's partial walk and the hypervisor's software walk of the guest
table are not costed (the walk is counted once); hypervisor backing of guest memory is done
inside these exits; TLB entries are tagged as natively (per address space). The shared
replay handles demand faults ahead of their accesses (at the start of their chunk of
accesses); the shadow MMU sees each one's
effects where its access translates (:class:`ShadowReplay`), as KVM does.

>>> from codesign.harness import Point, evaluate
>>> p = {"workload.iterations": 5, "hw.cost": False}
>>> m = evaluate(Point("forkwait", "shadow", params=p))
>>> m["traps.vmexit.pt_write"] < m["os.pte_writes"], m["walk.refs.nested"]
(True, 0)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from codesign.metrics import Metrics
from codesign.mmu import cost
from codesign.mmu.cost import Costs
from codesign.mmu.guest import PAGE_4K, Effects, GuestModel
from codesign.mmu.native import HEADLINE, NESTED_ONLY, NativeParams, native_total
from codesign.mmu.nested import PREALLOC_DOC
from codesign.mmu.onepass import CACHE_KEYS, one_pass
from codesign.mmu.replay import Replay, Setup, drive
from codesign.params import param
from codesign.platforms import Platform
from codesign.registry import Mechanism
from workloads.memory.chunked import Stream
from workloads.memory.events import Ev

KVM_MMU_NUM_PREV_ROOTS = 3
"""Previous roots KVM keeps for a fast CR3 switch (``arch/x86/include/asm/kvm_host.h``)."""
SHADOW_CACHE_DEFAULT = 1 + KVM_MMU_NUM_PREV_ROOTS
"""Roots loaded at once: the current one plus ``KVM_MMU_NUM_PREV_ROOTS``."""
KVM_MEMSLOT_PAGES_TO_MMU_PAGES_RATIO = 50
"""Guest pages per shadow page of the default pool (``kvm_host.h``; = 1000 /
``KVM_PERMILLE_MMU_PAGES`` (20) of older kernels)."""
KVM_MIN_ALLOC_MMU_PAGES = 64
"""Smallest pool KVM sets by default or accepts from ``KVM_SET_NR_MMU_PAGES`` (``kvm_host.h``,
``kvm_vm_ioctl_set_nr_mmu_pages``)."""
KVM_MIN_FREE_MMU_PAGES = 5
"""Fewer free pool pages than this and a fault or root load reclaims first (``kvm_host.h``,
``make_mmu_pages_available``)."""
KVM_REFILL_PAGES = 25
"""Pages a reclaim frees up to (``kvm_host.h``, ``make_mmu_pages_available``)."""
WRITE_FLOOD_LIMIT = 3
"""Emulated writes to an upper-level shadow page, without a use in between, that zap it
(``detect_write_flooding``: ``write_flooding_count >= 3``)."""
GUEST_MEMORY_DEFAULT = 1 << 30
"""Guest memory the default pool is sized for: 1 GiB, an assumption (the workloads touch a
few MiB; KVM sizes the pool by the memory slots, not by use)."""
SHADOW_POOL_DEFAULT = max(KVM_MIN_ALLOC_MMU_PAGES,
                          GUEST_MEMORY_DEFAULT // PAGE_4K // KVM_MEMSLOT_PAGES_TO_MMU_PAGES_RATIO)
"""KVM's default pool for a 1 GiB guest: 262,144 / 50 = 5,242 shadow pages."""

RESYNC_REASONS = ("page_fault", "cr3_write", "invlpg")
"""Exit reasons whose handling resyncs shadow entries (a relinking fault, a CR3 load, an
INVLPG)."""


@dataclass(frozen=True)
class ShadowParams(NativeParams):
    """Parameters of ``shadow``: ``native``'s plus KVM's root cache and shadow-page pool and
    whether the host populated guest memory up front."""

    cache: int = param(SHADOW_CACHE_DEFAULT, key="shadow.cache", min=1, max=1 << 16,
                       doc="shadow roots kept loaded, the current one included: a CR3 load "
                           "of one of them is a fast switch, of any other a root lookup in "
                           "the pool and a TLB flush (default 4: KVM's current root plus "
                           "KVM_MMU_NUM_PREV_ROOTS = 3)")
    pool: int = param(SHADOW_POOL_DEFAULT, key="shadow.pool_pages",
                      min=KVM_MIN_ALLOC_MMU_PAGES, max=1 << 40,
                      doc="shadow pages a VM may hold (KVM's n_max_mmu_pages); beyond it the "
                          "oldest are zapped (default 5242: KVM's for a 1 GiB guest, guest "
                          "pages / KVM_MEMSLOT_PAGES_TO_MMU_PAGES_RATIO = 50; at least "
                          "KVM_MIN_ALLOC_MMU_PAGES = 64)")
    prealloc: bool = param(False, key="host.prealloc", doc=PREALLOC_DOC)


@dataclass
class ShadowCounts:
    """Trap and shadow-MMU counts of a shadow replay."""

    pt_write: int = 0
    """Exits raised by guest writes to read-only (shadowed or once shadowed) frames."""
    injected: int = 0
    fills: int = 0
    cr3_write: int = 0
    invlpg: int = 0
    builds: int = 0
    """Root shadow pages created on a root lookup (none in the pool)."""
    evictions: int = 0
    """Roots dropped from the loaded set (their pages stay in the pool)."""
    root_lookups: int = 0
    unsync: int = 0
    resyncs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESYNC_REASONS, 0))
    """Shadow entries resynced, by the exit reason whose handling did it."""
    zapped_flood: int = 0
    unprotected: int = 0
    reclaimed: int = 0
    pages: int = 0
    """Most shadow pages one VM's pool held at once."""
    teardown_writes: int = 0
    tlb_flushes: int = 0
    """TLB flushes of a VM's contexts KVM made on its own (not the guest's)."""

    def metrics(self) -> dict[str, int]:
        """The ``shadow.*`` metrics."""
        return {"shadow.builds": self.builds, "shadow.evictions": self.evictions,
                "shadow.fills": self.fills, "shadow.injected": self.injected,
                "shadow.root_lookups": self.root_lookups, "shadow.unsync": self.unsync,
                "shadow.resyncs": sum(self.resyncs.values()),
                "shadow.zapped_flood": self.zapped_flood,
                "shadow.unprotected": self.unprotected, "shadow.reclaimed": self.reclaimed,
                "shadow.pages": self.pages, "shadow.teardown_writes": self.teardown_writes,
                "shadow.tlb_flushes": self.tlb_flushes}


def trap_costs(t: ShadowCounts, ipis: int, exit_cost: float,
               resync_cost: float) -> tuple[dict[str, int], dict[str, float]]:
    """Exits by ``vmexit.<reason>`` and their cycles: each exit at ``exit_cost``, each resynced
    entry at ``resync_cost`` in the reason that resynced it.

    >>> t = ShadowCounts(cr3_write=2, resyncs={"page_fault": 0, "cr3_write": 3, "invlpg": 0})
    >>> trap_costs(t, 0, 2565.0, 200.0)[1]["vmexit.cr3_write"]
    5730.0
    """
    counts = {"vmexit.pt_write": t.pt_write, "vmexit.page_fault": t.injected + t.fills,
              "vmexit.cr3_write": t.cr3_write, "vmexit.invlpg": t.invlpg, "vmexit.ipi": ipis}
    cycles = {k: n * exit_cost + t.resyncs.get(k.split(".", 1)[1], 0) * resync_cost
              for k, n in counts.items()}
    return counts, cycles


def _shift(level: int) -> int:
    """Lowest address bit a level-``level`` entry translates."""
    return 12 + 9 * (level - 1)


@dataclass(eq=False, slots=True)
class ShadowPage:
    """One shadow page (KVM's ``struct kvm_mmu_page``): the guest table page (frame and
    level) it shadows, for which address space and from which address, its present entries
    (links to child pages, leaves with the guest frame they map), its parents, and KVM's
    ``unsync``, ``write_flooding_count`` and ``root_count``."""

    gfn: int
    level: int
    pid: int
    base: int
    unsync: bool = False
    flood: int = 0
    roots: int = 0
    links: dict[int, ShadowPage] = field(default_factory=dict)
    leaves: dict[int, int] = field(default_factory=dict)
    parents: set[tuple[ShadowPage, int]] = field(default_factory=set)

    def va(self, index: int) -> int:
        """First address entry ``index`` translates."""
        return self.base + (index << _shift(self.level))

    def key(self, index: int) -> int:
        """Key of leaf ``index`` in :attr:`ShadowMMU.mapped`: its address, tagged with its
        size class (0: 4 KiB, 1: 2 MiB, 2: 1 GiB) in the low bits."""
        return self.va(index) | (self.level - 1)


class ShadowMMU:
    """KVM's shadow MMU of one VM (one vCPU).

    ``pages`` is the pool (KVM's hash table and ``active_mmu_pages``): (guest frame, level)
    to shadow page, in creation order; ``wp`` the guest frames KVM has made read-only;
    ``roots`` the loaded roots, current first; ``mapped`` per address space the leaves its
    shadow reaches from its root (what a TLB miss finds without a hidden fault).

    >>> from workloads.memory.events import StreamBuilder
    >>> from codesign.mmu.guest import GuestConfig
    >>> b = StreamBuilder(); b.spawn(1); b.switch(1); b.map(0x10000, pages=2)
    >>> g = GuestModel(GuestConfig()); t = ShadowCounts(); mmu = ShadowMMU(0, g, 4, 64, t)
    >>> for e in b.build(): _ = g.apply(e)
    >>> fx = g.fault(0, 1, 0x10000, True)
    >>> mmu.load_root(1, flushing=True); mmu.fill(1, 0x10000)   # walked: 4 pages shadowed
    >>> len(mmu.pages), t.builds
    (4, 1)
    >>> fx = g.fault(0, 1, 0x11000, True)      # a leaf written into a shadowed table...
    >>> [mmu.guest_write(gpa) for gpa, _ in fx.written], t.unsync  # ...exits once: unsync
    ([1], 1)
    """

    def __init__(self, vm: int, guest: GuestModel, cache: int, pool: int,
                 t: ShadowCounts) -> None:
        self.vm, self.guest, self.cache, self.pool, self.t = vm, guest, cache, pool, t
        self.levels = guest.cfg.guest_levels
        self.pages: dict[tuple[int, int], ShadowPage] = {}
        self.wp: set[int] = set()
        self.roots: list[ShadowPage] = []
        self.unsync: set[ShadowPage] = set()
        self.mapped: dict[int, set[int]] = {}
        self.flush_pending = False
        """KVM flushed (or would flush) the VM's TLB contexts since this was last cleared."""

    # -- the pool ------------------------------------------------------------------------

    def _at(self, gfn: int) -> list[ShadowPage]:
        """Shadow pages of one guest frame (one per level it is shadowed at)."""
        pages = self.pages
        return [sp for level in range(1, self.levels + 1)
                if (sp := pages.get((gfn, level))) is not None]

    def _create(self, gfn: int, level: int, pid: int, base: int) -> ShadowPage:
        """``kvm_mmu_alloc_shadow_page`` + ``account_shadowed``: the frame becomes read-only
        (write-tracked above the last level, write-protected at it)."""
        sp = ShadowPage(gfn, level, pid, base)
        self.pages[(gfn, level)] = sp
        self.wp.add(gfn)
        self.t.pages = max(self.t.pages, len(self.pages))
        return sp

    def _find(self, gfn: int, level: int, pid: int, base: int,
              reason: str) -> ShadowPage | None:
        """``kvm_mmu_find_shadow_page``: the pool's page for (frame, level), resynced if
        unsync, its flood counter reset; a new upper-level use of the frame zaps its unsync
        last-level pages first."""
        if level > 1:
            for other in self._at(gfn):
                if other.level != level and other.unsync:
                    self._zap(other)
        sp = self.pages.get((gfn, level))
        if sp is None:
            return None
        sp.pid, sp.base = pid, base
        if sp.unsync:
            self._sync_page(sp, reason)
        elif level > 1:
            # FNAME(fetch) syncs an upper page's unsync children before linking it
            self._sync_children(sp, reason)
        sp.flood = 0
        return sp

    def _make_room(self) -> None:
        """``make_mmu_pages_available``: with fewer than ``KVM_MIN_FREE_MMU_PAGES`` free,
        zap the oldest pages that are not loaded roots until ``KVM_REFILL_PAGES`` minus the
        free count went."""
        free = max(0, self.pool - len(self.pages))
        if free >= KVM_MIN_FREE_MMU_PAGES:
            return
        goal, zapped = KVM_REFILL_PAGES - free, 0
        for sp in list(self.pages.values()):
            if sp.roots or self.pages.get((sp.gfn, sp.level)) is not sp:
                continue
            zapped += self._zap(sp)
            if zapped >= goal:
                break
        self.t.reclaimed += zapped

    # -- entries -------------------------------------------------------------------------

    def _subtree(self, sp: ShadowPage) -> list[int]:
        """Keys of the leaves reachable below ``sp``."""
        out = [sp.key(i) for i in sp.leaves]
        for child in sp.links.values():
            out += self._subtree(child)
        return out

    def _drop_leaf(self, sp: ShadowPage, index: int) -> None:
        del sp.leaves[index]
        m = self.mapped.get(sp.pid)
        if m is not None:
            m.discard(sp.key(index))
        self.flush_pending = True

    def _unlink(self, parent: ShadowPage, index: int) -> None:
        """Drop the entry of ``parent`` that links a child page (``drop_parent_pte``): the
        child stays in the pool, its leaves no longer reachable from here."""
        child = parent.links.pop(index)
        child.parents.discard((parent, index))
        m = self.mapped.get(parent.pid)
        if m is not None:
            m.difference_update(self._subtree(child))
        self.flush_pending = True

    def _link(self, parent: ShadowPage, index: int, child: ShadowPage) -> None:
        """``link_shadow_page`` (a large leaf there is dropped first): the child's leaves
        become reachable."""
        if index in parent.leaves:
            self._drop_leaf(parent, index)
        parent.links[index] = child
        child.parents.add((parent, index))
        self.mapped.setdefault(parent.pid, set()).update(self._subtree(child))

    def _zap_entry(self, sp: ShadowPage, index: int) -> None:
        """``mmu_page_zap_pte``."""
        if index in sp.links:
            self._unlink(sp, index)
        elif index in sp.leaves:
            self._drop_leaf(sp, index)

    def _reaches(self, sp: ShadowPage, top: ShadowPage) -> bool:
        """Whether ``top`` links (through any chain) to ``sp``."""
        stack, seen = [sp], set()
        while stack:
            s = stack.pop()
            if s is top:
                return True
            if s not in seen:
                seen.add(s)
                stack.extend(p for p, _ in s.parents)
        return False

    def _zap(self, sp: ShadowPage) -> int:
        """``__kvm_mmu_prepare_zap_page``: zap ``sp`` and its unsync descendants
        (``mmu_zap_unsync_children``), unlink its children and parents, drop its leaves, drop
        it from the loaded roots (``KVM_REQ_MMU_FREE_OBSOLETE_ROOTS``); pages zapped."""
        if self.pages.get((sp.gfn, sp.level)) is not sp:
            return 0
        n = 1
        if sp.level > 1:
            for child in [u for u in self.unsync if self._reaches(u, sp)]:
                n += self._zap(child)
        for index in list(sp.links):
            self._unlink(sp, index)
        for index in list(sp.leaves):
            self._drop_leaf(sp, index)
        for parent, index in list(sp.parents):
            if parent.links.get(index) is sp:
                self._unlink(parent, index)
        del self.pages[(sp.gfn, sp.level)]
        self.unsync.discard(sp)
        sp.unsync = False
        if sp in self.roots:
            self.roots.remove(sp)
            sp.roots = 0
        self.flush_pending = True
        return n

    # -- resync --------------------------------------------------------------------------

    def _current(self, sp: ShadowPage, index: int) -> bool:
        """``FNAME(sync_spte)``: whether leaf ``index`` of ``sp`` still maps what the guest's
        entry maps (same frame, same page size); otherwise it is dropped."""
        space = self.guest.spaces.get((self.vm, sp.pid))
        if space is None:
            return False
        leaf = space.leaves.get(sp.va(index))
        return (leaf is not None and leaf.gpa == sp.leaves[index]
                and leaf.size == 1 << _shift(sp.level))

    def _sync_entry(self, sp: ShadowPage, index: int, reason: str) -> None:
        """``kvm_sync_spte`` of a present entry."""
        self.t.resyncs[reason] += 1
        if not self._current(sp, index):
            self._drop_leaf(sp, index)

    def _sync_page(self, sp: ShadowPage, reason: str) -> None:
        """``kvm_sync_page``: resync every present entry (it stays unsync)."""
        for index in list(sp.leaves):
            self._sync_entry(sp, index, reason)

    def _sync_children(self, top: ShadowPage, reason: str) -> None:
        """``mmu_sync_children``: write-protect every unsync page below ``top`` again, mark it
        synchronized and resync it (a write-protection flushes the TLB)."""
        for sp in [u for u in self.unsync if self._reaches(u, top)]:
            if sp.gfn not in self.wp:
                self.wp.add(sp.gfn)
                self.flush_pending = True
            sp.unsync = False
            self.unsync.discard(sp)
            self._sync_page(sp, reason)

    # -- what the guest does ---------------------------------------------------------------

    def guest_write(self, gpa: int, pt_insn: bool = True) -> int:
        """The guest writes at ``gpa`` (``pt_insn``: with an instruction KVM's emulator counts
        as a page-table write, as the kernel's PTE stores are; False: zeroing or copying a
        frame); the exits it raises."""
        gfn = gpa & ~(PAGE_4K - 1)
        if gfn not in self.wp:
            return 0
        pages = self._at(gfn)
        if all(sp.level == 1 for sp in pages):
            # mmu_try_to_unsync_pages: the mapping becomes writable
            for sp in pages:
                if not sp.unsync:
                    sp.unsync = True
                    self.unsync.add(sp)
                    self.t.unsync += 1
            self.wp.discard(gfn)
            return 1
        if not pt_insn:
            # kvm_mmu_unprotect_gfn_and_retry, then the retried write's fault finds no
            # shadow page and makes the mapping writable
            for sp in pages:
                self.t.unprotected += self._zap(sp)
            self.wp.discard(gfn)
            return 2
        if self.roots:  # shadow_page_table_clear_flood on the write's own walk
            self.roots[0].flood = 0
        index = (gpa >> 3) & 511
        for sp in pages:  # kvm_mmu_track_write
            if sp.level > 1:
                sp.flood += 1
                if sp.flood >= WRITE_FLOOD_LIMIT:
                    self.t.zapped_flood += self._zap(sp)
                    continue
            self._zap_entry(sp, index)
        return 1

    def allocated(self, gpa: int, size: int) -> int:
        """The guest allocated the frame at ``gpa`` and writes all of it; the exits."""
        wp = self.wp
        return sum(self.guest_write(g, pt_insn=False)
                   for g in range(gpa, gpa + size, PAGE_4K) if g in wp)

    def invlpg(self, va: int) -> None:
        """``kvm_mmu_invlpg``: resync ``va``'s entry in every loaded root's unsync page."""
        for root in self.roots:
            sp: ShadowPage | None = root
            while sp is not None:
                index = (va >> _shift(sp.level)) & 511
                if sp.unsync and index in sp.leaves:
                    self._sync_entry(sp, index, "invlpg")
                sp = sp.links.get(index)

    def load_root(self, pid: int, flushing: bool) -> None:
        """A CR3 load of ``pid``'s table (``kvm_set_cr3``): a fast switch to a loaded root, or
        a root lookup in the pool; ``flushing``: the load flushes the TLB, so unsync pages
        under the root are resynced."""
        gfn = self.guest.root(self.vm, pid)
        for i, root in enumerate(self.roots):
            if root.gfn == gfn:
                self.roots.insert(0, self.roots.pop(i))
                root.pid, root.flood = pid, 0
                if flushing:
                    self._sync_children(root, "cr3_write")
                return
        self.t.root_lookups += 1
        if len(self.roots) >= self.cache:
            self.roots.pop().roots -= 1
            self.t.evictions += 1
        self._make_room()
        root = self._find(gfn, self.levels, pid, 0, "cr3_write")
        if root is None:
            root = self._create(gfn, self.levels, pid, 0)
            self.t.builds += 1
        root.roots += 1
        self.roots.insert(0, root)
        self._sync_children(root, "cr3_write")
        self.flush_pending = True  # kvm_mmu_load: flush_tlb_current

    def flush(self, pid: int) -> None:
        """The guest reloads CR3 to flush ``pid``'s translations: its unsync pages are
        resynced if it is loaded (``kvm_invalidate_pcid``)."""
        if self.roots and self.roots[0].pid == pid:
            self._sync_children(self.roots[0], "cr3_write")

    def fill(self, pid: int, va: int) -> None:
        """A hidden page fault at ``va`` (``FNAME(page_fault)`` → ``FNAME(fetch)``): make room,
        link (finding or creating) a shadow page per guest table on the path, set the leaf."""
        self._make_room()
        if not self.roots or self.roots[0].pid != pid:
            # the current root went (a zap): KVM reloads it before entering the guest
            self.load_root(pid, flushing=False)
        sp = self.roots[0]
        sp.flood = 0
        path = self.guest.table_path(self.vm, pid, va)
        for gfn, level in path[1:]:
            index = (va >> _shift(sp.level)) & 511
            child = sp.links.get(index)
            if child is None or child.gfn != gfn:
                if child is not None:
                    self._unlink(sp, index)
                base = va & ~((1 << _shift(level + 1)) - 1)
                child = (self._find(gfn, level, pid, base, "page_fault")
                         or self._create(gfn, level, pid, base))
                self._link(sp, index, child)
            sp = child
            sp.flood = 0
        leaf = self.guest.spaces[(self.vm, pid)].leaf_at(va)
        if leaf is None:
            raise AssertionError(f"vm {self.vm} pid {pid}: fill of unpopulated {va:#x}")
        index = (va >> _shift(sp.level)) & 511
        sp.leaves[index] = leaf.gpa
        self.mapped.setdefault(pid, set()).add(sp.key(index))

    def exited(self, pid: int) -> None:
        """``pid``'s address space is gone (its shadow pages stay in the pool)."""
        self.mapped.pop(pid, None)


class ShadowReplay(Replay):
    """The shared replay (1D) plus KVM's shadow MMU per VM and the guest's exits.

    The shared replay handles demand faults ahead of their accesses, but under
    shadow paging a fault's PTE writes exit or not depending on which tables the hidden
    faults of the run's earlier accesses shadowed. So the shadow MMU sees a demand fault's
    effects where the faulting access translates (the faulting access always misses the
    TLB: :meth:`walk_traps` takes them in order, just before that access's fill);
    copy-on-write faults, which the shared replay handles in place, go to it at once.

    Data references address the host frames backing the guest's pages
    (:attr:`Replay.data_on_host`), as under nested paging: a shadow entry maps a guest
    page to its host frame, so on the hardware the same data lines are cached under either
    mode, and the comparison of the two is not one of two memory layouts. The shadow tables'
    own references stay in the native image, a region apart from the guest's memory, as
    KVM's shadow pages are (the guest kernel's writes to its own tables, at their host
    frames, do not warm the shadow's lines)."""

    data_on_host = True

    def __init__(self, setup: Setup, cache: int = SHADOW_CACHE_DEFAULT,
                 pool: int = SHADOW_POOL_DEFAULT) -> None:
        super().__init__(setup)
        self.cache, self.pool = cache, pool
        self.t = ShadowCounts()
        self.mmus: dict[int, ShadowMMU] = {}
        self._exits = 0
        """Exits the effects last applied raised (writes, INVLPGs, flushing reloads)."""
        self._vm_switch = False
        self._in_run = False
        self._held: Effects | None = None
        self._deferred: list[tuple[int, int, Effects]] = []
        """Demand faults of the run being replayed whose effects the shadow MMU has not seen
        yet: (vm, page of the faulting access, effects), in stream order."""

    def mmu(self, vm: int) -> ShadowMMU:
        """The shadow MMU of ``vm``."""
        m = self.mmus.get(vm)
        if m is None:
            m = self.mmus[vm] = ShadowMMU(vm, self.guest, self.cache, self.pool, self.t)
        return m

    def mark(self) -> None:
        super().mark()
        # in place: every shadow MMU counts into it; the pool's high-water mark is a state
        self.t.__dict__.update(vars(ShadowCounts(pages=self.t.pages)))

    def discard_shadows(self) -> None:
        """Forget every shadow page (the VMs start over with empty pools)."""
        self._flush_deferred()
        self.mmus.clear()

    traps_to_hypervisor = True

    def _effects(self, vm: int, fx: Effects) -> None:
        super()._effects(vm, fx)
        if self._in_run and fx.demand_faults and not fx.cow_faults:
            self._held = fx  # fault_traps learns its address and defers it
            self._exit_flush(fx.faults)  # the injected fault exits here
            return
        self._exits = self._apply(vm, fx)
        self._exit_flush(self._exits + fx.faults + fx.ipis)

    def _apply(self, vm: int, fx: Effects) -> int:
        """Show the shadow MMU what the guest did; the exits it raised."""
        m = self.mmu(vm)
        exits = sum(m.allocated(gpa, size) for gpa, size in fx.allocated)
        exits += sum(m.guest_write(gpa) for gpa, _ in fx.written)
        exits += sum(m.guest_write(gpa) for gpa, _ in fx.teardown)
        t = self.t
        t.teardown_writes += len(fx.teardown)
        t.pt_write += exits
        for va, _ in fx.invalidate:
            m.invlpg(va)
        for space in fx.flush:
            self.mmu(space[0]).flush(space[1])
        t.invlpg += len(fx.invalidate)
        t.cr3_write += len(fx.flush)
        return exits + len(fx.invalidate) + len(fx.flush)

    def _flush_deferred(self) -> None:
        """Apply deferred effects whose access never reached :meth:`walk_traps` (none are
        expected: a demand-faulting access always misses the TLB)."""
        while self._deferred:
            vm, _, fx = self._deferred.pop(0)
            self._apply(vm, fx)

    def accesses(self, block: np.ndarray) -> None:
        """Replay a run of accesses, its demand faults' effects deferred to their accesses.
        When exits flush the TLB (:attr:`exits_flush`), the run is split where a hidden fault
        may exit (the first access of each page the shadow does not map yet) and the TLB
        flushed there if it does."""
        self._flush_deferred()
        vm, pid = int(block["vm"][0]), int(block["pid"][0])
        pages = block["va"] >> np.uint64(12)
        cuts: set[int] = set()
        if self.exits_flush:
            _, first = np.unique(pages, return_index=True)
            cuts = {int(i) for i in first if not self._shadowed(vm, pid, int(pages[i]) << 12)}
        for lo, hi in itertools.pairwise(sorted({0, *cuts}) + [len(block)]):
            if lo in cuts and not self._shadowed(vm, pid, int(pages[lo]) << 12):
                self._flush_deferred()
                self._exit_flush()  # its hidden fault (or its fault) exits first
            self._in_run = True
            try:
                super().accesses(block[lo:hi])
            finally:
                self._in_run = False

    def _shadowed(self, vm: int, pid: int, addr: int) -> bool:
        """The shadow maps the page at ``addr`` (as a 4 KiB or a 2 MiB leaf) for ``pid``."""
        mapped = self.mmu(vm).mapped.get(pid, ())
        return (addr & ~0xFFF) in mapped or ((addr & ~0x1FFFFF) | 1) in mapped

    def fault_traps(self, vm: int, pid: int, va: int, fx: Effects) -> int:
        """Exits of a faulting access: the injected fault and those its handler raised (a
        demand fault's: counted with its access's fill, in :meth:`walk_traps`)."""
        self.t.injected += fx.faults
        if self._held is fx:
            self._held = None
            self._deferred.append((vm, va >> 12, fx))
            return fx.faults
        return fx.faults + self._exits

    def filling(self, vm: int, pid: int, va: int) -> None:
        """A hidden fault is about to fill the shadow for ``va`` (a hook: nothing here;
        ``selective`` counts the fills that rebuild what a mode switch discarded)."""

    def walk_traps(self, vm: int, pid: int, va: np.ndarray) -> np.ndarray:
        """Hidden page-fault exits of TLB misses the shadow cannot translate yet, and the
        exits of the demand faults deferred to these accesses."""
        m = self.mmu(vm)
        out = np.zeros(len(va), dtype=np.int64)
        mapped = m.mapped.setdefault(pid, set())
        deferred = self._deferred
        fills = 0
        for i, addr in enumerate(va.tolist()):
            while deferred and deferred[0][0] == vm and deferred[0][1] == addr >> 12:
                exits = self._apply(vm, deferred.pop(0)[2])
                out[i] += exits
                if self.exits_flush:
                    # exits at the faulting access, whose run began with a flush (see
                    # accesses): counted, nothing more to drop
                    self.c.tlb_flushes += exits
            if (addr & ~0xFFF) in mapped or ((addr & ~0x1FFFFF) | 1) in mapped:
                continue
            self.filling(vm, pid, addr)
            m.fill(pid, addr)
            mapped = m.mapped[pid]
            out[i] += 1
            fills += 1
        self.t.fills += fills
        return out

    def _cr3(self, vm: int, pid: int) -> None:
        super()._cr3(vm, pid)
        if not self._vm_switch and (vm, pid) in self.guest.spaces:
            # with PCIDs the guest switches without a flush (its entries survive, as in the
            # replay's TLB); without, every load flushes
            self.mmu(vm).load_root(pid, flushing=not self.s.pcid)

    def _hypervisor_flushes(self) -> None:
        """Apply KVM's own TLB flushes: every context of each VM that asked."""
        for vm, m in self.mmus.items():
            if not m.flush_pending:
                continue
            m.flush_pending = False
            self.t.tlb_flushes += 1
            self._flush_vm(vm)

    def event(self, e: np.void) -> None:
        op = int(e["op"])
        self._flush_deferred()
        self._hypervisor_flushes()  # those a run of accesses raised
        if op == Ev.SWITCH:
            self.t.cr3_write += 1
        self._vm_switch = op == Ev.VM_SWITCH
        try:
            super().event(e)
        finally:
            self._vm_switch = False
        if op == Ev.SWITCH:
            self._exit_flush()  # the guest's CR3 write exits
        if op == Ev.EXIT:
            self.mmu(int(e["vm"])).exited(int(e["pid"]))
        self._hypervisor_flushes()


def _make(p: ShadowParams, platform: Platform) -> ShadowReplay:
    return ShadowReplay(p.setup(nested=False), p.cache, p.pool)


def _finish(r: ShadowReplay, events: Stream, p: ShadowParams, platform: Platform) -> Metrics:
    costs = Costs.of(platform)
    exit_cost = platform.value("vmexit.kernel")
    counts, cycles = trap_costs(r.t, r.c.ipis, exit_cost, costs.memory)
    # KVM backs guest memory inside the faults that first touch it, as nested paging does
    # inside its EPT violations: the host's own fault for each 4 KiB page backed.
    if not p.prealloc:
        cycles["vmexit.page_fault"] += r.c.backings * costs.host_fault(4096)
    return cost.metrics(r.c, costs, trap_counts=counts, trap_cycles=cycles,
                        unit_cycles=exit_cost,
                        extra={**r.t.metrics(), "shadow.backings": r.c.backings},
                        native_total=native_total(events, p, costs))


def run(events: Stream, p: ShadowParams, platform: Platform) -> Metrics:
    """Metrics of replaying ``events`` in VMs with KVM's shadow paging."""
    r = _make(p, platform)
    drive(r, events)
    return _finish(r, events, p, platform)


MECHANISM = Mechanism(
    name="shadow",
    accepts=("memory",),
    summary="KVM-style shadow page tables: 1D walks of hypervisor-built shadow pages kept in "
            "a pool; writes to shadowed guest tables, page faults, CR3 loads and INVLPGs "
            "exit, last-level tables go unsync until the guest flushes",
    params=ShadowParams,
    run=run,
    costs=(*cost.COSTS, "vmexit.kernel"),
    headline=HEADLINE,
    hardware=("tlb", "stlb", "walker"),
    ignores=NESTED_ONLY,
    version="14",
    run_many=one_pass(_make, _finish),
    one_pass=CACHE_KEYS,
)
