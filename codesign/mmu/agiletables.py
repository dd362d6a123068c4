"""The shadow half of agile paging's page tables, written in host memory where the walker
reads them.

Agile paging (Gandhi, Hill and Swift, ISCA 2016) lets the hypervisor shadow the stable upper
levels of a guest page table and hand the levels the guest updates often to the hardware: a
shadow entry with the switch bit (``hwmodels.pagewalk.tables.SWITCH``) holds the
guest-physical address of the guest's next-level table, and the walker goes on from there in
two dimensions (``WalkOp.AGILE``; ``hwmodels.pagewalk.model``). :class:`AgileTables` keeps
that shadow for one VM, as real words in the host image (``GuestModel.host``, the image
nested walks read), so the replay's compiled walker walks it as the hardware would:

- every guest table page is in *shadow* mode or in *nested* mode (:meth:`set_nested`,
  :meth:`set_shadow`; the policy that moves pages between them is the mechanism's);
- a shadowed guest table page, once a walk needs it, has a shadow page (one 4 KiB host page
  from a region of its own, :data:`SHADOW_BASE`): its entries link the shadow pages of the
  shadowed tables below it, carry the switch bit and the guest-physical address of those in
  nested mode, or, at the guest's leaves, map the host-physical page itself;
- shadow pages are built lazily, as KVM's shadow MMU builds them: :meth:`fill` (a hidden
  page fault) completes the path of one address down to its leaf or its switch, and the
  address space's root (:meth:`root`) is built on a CR3 load;
- a guest write to a shadowed table page (which the hypervisor write-protects: the write
  exits) drops the shadow entry it changes -- and with a link the shadow pages below it --
  for the next walk's hidden fault to rebuild (:meth:`guest_write`; KVM's
  ``mmu_page_zap_pte`` without the unsync optimisation, which agile paging's policy
  replaces: a page whose entries the guest rewrites goes to nested mode, where writes do
  not exit);
- a frame the guest reallocates loses its shadow pages (:meth:`forget`).

A guest leaf larger than the host page that backs it (a 2 MiB guest page on 4 KiB host
pages) is shadowed as KVM does, by a *direct* last-level shadow page under the guest leaf's
level: 512 entries, one per 4 KiB host page, filled as walks need them.

The hypervisor keeps the hardware coherent: every change that drops or rewrites a shadow
entry sets :attr:`flush_pending`, and the replay flushes the VM's TLB contexts and walk
caches before the guest runs again (as ``shadow``'s hypervisor flushes).

>>> from codesign.mmu.guest import GuestConfig, GuestModel
>>> from workloads.memory.events import StreamBuilder
>>> b = StreamBuilder(); b.spawn(1); b.switch(1); b.map(0x10000, pages=2); b.access(0x10000)
>>> g = GuestModel(GuestConfig()); _ = [g.apply(e) for e in b.build()]
>>> t = AgileTables(g, 0)
>>> root = t.root(1); t.fill(1, 0x10000)   # 3 links and the leaf: entries written
4
>>> hpa = g.host_address(0, g.translate(0, 1, 0x10000).gpa)[0]
>>> len(t.pages), t.translate(1, 0x10000) == hpa  # one shadow page per level
(4, True)
>>> leaf_table = g.table_path(0, 1, 0x10000)[-1][0]
>>> t.set_nested(leaf_table); len(t.pages), t.switch_level(1, 0x10000)  # leaf level: 2D
(3, 2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import hwmodels.pagewalk.tables as _tables
from hwmodels.pagewalk.tables import (
    FRAME_MASK,
    PAGE_4K,
    PRESENT,
    PS,
    SWITCH,
    FrameAllocator,
    level_shift,
    make_entry,
    mem_get,
)

from .guest import _EXEC, _WRITE, GuestModel
from .jitcache import compiled_after, digest

_compiled = compiled_after(digest([Path(_tables.__file__)]))

SHADOW_BASE = 1 << 45
"""Host-physical base of the shadow pages (VM ``v``'s from ``SHADOW_BASE + v <<
SHADOW_VM_SHIFT``): above any host page the guest's memory is backed with, so that shadow
pages do not move the guest's own backing (and the data cache sees the same addresses as
under ``nested``). A modelling choice: the hypervisor's own allocations come from its own
memory."""
SHADOW_VM_SHIFT = 36
"""Bytes of shadow pages per VM: 64 GiB (16 M pages), far above any pool the workloads
build."""
_UPPER = PRESENT | 0b110  # present, writable, user: the leaf decides (tables.py)


@_compiled
def _gaps(slots, cells, meta, root, pages, levels):  # pragma: no cover (compiled)
    """Which of ``pages`` a walk of the shadow at ``root`` finds no complete path for: an
    entry not present before the leaf or a switch (the 2D part below a switch is the
    guest's own table)."""
    out = np.zeros(len(pages), dtype=np.bool_)
    for i in range(len(pages)):
        va = pages[i] << 12
        table = root
        for level in range(levels, 0, -1):
            e = mem_get(slots, cells, meta, table + 8 * ((va >> (12 + 9 * (level - 1))) & 511))
            if e & 1 == 0:
                out[i] = True
                break
            if level == 1 or (e >> 7) & 1 or (e >> 52) & 1:
                break
            table = e & FRAME_MASK
    return out


@dataclass(eq=False, slots=True)
class ShadowTable:
    """One shadow page: the guest table page (frame, level) it shadows, or for a *direct*
    page the guest leaf's 2 MiB / 1 GiB frame; where it is in host memory; its present
    entries (index -> the shadow page it links, None for a leaf or switch entry); and the
    entries that link it."""

    gfn: int
    level: int
    hpa: int
    direct: bool = False
    links: dict[int, ShadowTable | None] = field(default_factory=dict)
    parents: set[tuple[ShadowTable, int]] = field(default_factory=set)


class AgileTables:
    """The agile shadow of one VM (see the module): ``pages`` holds the shadow page of each
    shadowed (guest table frame, level), ``direct`` those of guest leaves split for their
    host pages, ``nested`` the guest table frames in nested mode, ``roots`` each address
    space's root shadow page."""

    def __init__(self, guest: GuestModel, vm: int) -> None:
        self.guest, self.vm = guest, vm
        self.mem = guest.host
        self.levels = guest.cfg.guest_levels
        base = SHADOW_BASE + (vm << SHADOW_VM_SHIFT)
        self._alloc = FrameAllocator(base, base + (1 << SHADOW_VM_SHIFT))
        self._free: list[int] = []
        self.pages: dict[tuple[int, int], ShadowTable] = {}
        self.direct: dict[int, ShadowTable] = {}
        self.nested: set[int] = set()
        self.switches: dict[int, set[tuple[ShadowTable, int]]] = {}
        """Guest table frame in nested mode -> the shadow entries switching to it."""
        self.frames: dict[int, int] = {}
        """Guest frame -> how many shadow pages shadow it (write-protected while any)."""
        self.flush_pending = False
        """A shadow entry was dropped or rewritten since this was last cleared."""

    # -- shadow pages ------------------------------------------------------------------

    def _new(self, gfn: int, level: int, direct: bool = False) -> ShadowTable:
        hpa = self._free.pop() if self._free else self._alloc.alloc(PAGE_4K)
        sp = ShadowTable(gfn, level, hpa, direct)
        if direct:
            self.direct[gfn] = sp
        else:
            self.pages[(gfn, level)] = sp
            self.frames[gfn] = self.frames.get(gfn, 0) + 1
        return sp

    def _set(self, sp: ShadowTable, index: int, word: int, child: ShadowTable | None) -> None:
        """Write entry ``index`` of ``sp`` (dropping what it held)."""
        if index in sp.links:
            self._clear(sp, index)
        self.mem.write(sp.hpa + 8 * index, word)
        sp.links[index] = child
        if child is not None:
            child.parents.add((sp, index))
        elif word & SWITCH:
            self.switches.setdefault(word & FRAME_MASK, set()).add((sp, index))

    def _clear(self, sp: ShadowTable, index: int) -> None:
        """Drop entry ``index`` of ``sp``: a linked shadow page goes with it (it is reachable
        from nowhere else: a shadow has the guest table's tree shape)."""
        child = sp.links.pop(index)
        word = self.mem.read(sp.hpa + 8 * index)
        self.mem.write(sp.hpa + 8 * index, 0)
        self.flush_pending = True
        if child is not None:
            child.parents.discard((sp, index))
            if not child.parents:
                self._drop(child)
        elif word & SWITCH:
            users = self.switches.get(word & FRAME_MASK)
            if users is not None:
                users.discard((sp, index))
                if not users:
                    del self.switches[word & FRAME_MASK]

    def _drop(self, sp: ShadowTable) -> None:
        """Free ``sp`` and everything below it; unlink it from its parents."""
        for parent, index in list(sp.parents):
            if parent.links.get(index) is sp:
                self._clear(parent, index)
        for index in list(sp.links):
            self._clear(sp, index)
        if sp.direct:
            del self.direct[sp.gfn]
        else:
            del self.pages[(sp.gfn, sp.level)]
            n = self.frames.pop(sp.gfn) - 1
            if n:
                self.frames[sp.gfn] = n
        self.mem.clear(sp.hpa, PAGE_4K)
        self._free.append(sp.hpa)
        self.flush_pending = True

    # -- the address spaces ---------------------------------------------------------------

    def root(self, pid: int) -> int | None:
        """Host-physical address of ``pid``'s root shadow page, built if absent (a CR3
        load); None when the root table is in nested mode (the whole walk is 2D)."""
        gfn = self.guest.root(self.vm, pid)
        if gfn in self.nested:
            return None
        sp = self.pages.get((gfn, self.levels))
        if sp is None:
            sp = self._new(gfn, self.levels)
        return sp.hpa

    def fill(self, pid: int, va: int) -> int:
        """A hidden page fault at ``va``: complete its shadow path, from the root down to its
        leaf or to the entry that switches to a table in nested mode; the entries written.
        The address must be populated in the guest."""
        if self.root(pid) is None:
            return 0
        st = self.guest.vms[self.vm]
        gfn = self.guest.root(self.vm, pid)
        sp = self.pages[(gfn, self.levels)]
        written = 0
        for level in range(self.levels, 0, -1):
            index = (va >> level_shift(level)) & 511
            e = st.read(gfn + 8 * index)
            if not e & PRESENT:
                raise KeyError(f"vm {self.vm} pid {pid}: {va:#x} is not populated")
            if level == 1 or e & PS:
                return written + self._fill_leaf(pid, sp, index, va, level)
            child_gfn = e & FRAME_MASK
            child = sp.links.get(index)
            if child_gfn in self.nested:
                word = child_gfn | SWITCH | _UPPER
                if self.mem.read(sp.hpa + 8 * index) != word:
                    self._set(sp, index, word, None)
                    written += 1
                return written
            if child is None or child.gfn != child_gfn:
                child = self.pages.get((child_gfn, level - 1))
                if child is None:
                    child = self._new(child_gfn, level - 1)
                self._set(sp, index, child.hpa | _UPPER, child)
                written += 1
            sp, gfn = child, child_gfn
        raise AssertionError("unreachable: the last level is a leaf")

    def _fill_leaf(self, pid: int, sp: ShadowTable, index: int, va: int, level: int) -> int:
        leaf = self.guest.spaces[(self.vm, pid)].leaf_at(va)
        if leaf is None:
            raise KeyError(f"vm {self.vm} pid {pid}: {va:#x} is not populated")
        writable = bool(leaf.prot & _WRITE) and not leaf.cow
        nx = not leaf.prot & _EXEC
        host = self.guest.host_page
        if leaf.size <= host:
            hpa = self.guest.host_address(self.vm, leaf.gpa)[0]
            word = make_entry(hpa, writable=writable, nx=nx, huge=leaf.size > PAGE_4K)
            if self.mem.read(sp.hpa + 8 * index) == word:
                return 0
            self._set(sp, index, word, None)
            return 1
        # a guest page larger than its host pages: a direct page of 4 KiB entries below
        direct = sp.links.get(index)
        written = 0
        if direct is None or not direct.direct or direct.gfn != leaf.gpa:
            direct = self.direct.get(leaf.gpa) or self._new(leaf.gpa, 1, direct=True)
            self._set(sp, index, direct.hpa | _UPPER, direct)
            written += 1
        i = (va >> 12) & 511
        gpa = leaf.gpa + (va % leaf.size & ~(PAGE_4K - 1))
        word = make_entry(self.guest.host_address(self.vm, gpa)[0] & ~(PAGE_4K - 1),
                          writable=writable, nx=nx)
        if self.mem.read(direct.hpa + 8 * i) != word:
            self._set(direct, i, word, None)
            written += 1
        return written

    # -- what the guest and the policy do ------------------------------------------------------

    def gaps(self, pid: int, pages: np.ndarray) -> np.ndarray:
        """The pages of ``pages`` (int64 page numbers) whose shadow path is not complete:
        those a walk would take a hidden fault on (none when the root is in nested mode)."""
        root = self.root(pid)
        if root is None or not len(pages):
            return pages[:0]
        return pages[_gaps(*self.mem.table(), root, pages, self.levels)]

    def guest_write(self, gpa: int) -> bool:
        """The guest wrote the table entry at ``gpa``: drop the shadow entries it changes;
        whether the write exits (its page is shadowed, hence write-protected)."""
        gfn = gpa & ~(PAGE_4K - 1)
        if gfn not in self.frames:
            return False
        index = (gpa >> 3) & 511
        for level in range(1, self.levels + 1):
            sp = self.pages.get((gfn, level))
            if sp is not None and index in sp.links:
                self._clear(sp, index)
        return True

    def forget(self, gfn: int) -> int:
        """The guest reallocated the frame at ``gfn`` (to zero or copy it): drop its shadow
        pages (and its nested mode: a table built there later starts shadowed); how many
        shadow pages went."""
        if gfn in self.nested:
            self.set_shadow(gfn)
        if gfn not in self.frames:
            return 0
        pages = [sp for level in range(1, self.levels + 1)
                 if (sp := self.pages.get((gfn, level))) is not None]
        for sp in pages:
            if self.pages.get((sp.gfn, sp.level)) is sp:
                self._drop(sp)
        return len(pages)

    def set_nested(self, gfn: int) -> None:
        """Move the guest table page at ``gfn`` to nested mode: the shadow entries that link
        its shadow page switch to the guest's table instead, and its shadow pages (with
        everything below them) go."""
        if gfn in self.nested:
            return
        self.nested.add(gfn)
        for level in range(1, self.levels + 1):
            sp = self.pages.get((gfn, level))
            if sp is None:
                continue
            for parent, index in list(sp.parents):
                self._set(parent, index, gfn | SWITCH | _UPPER, None)
            if self.pages.get((gfn, level)) is sp:
                self._drop(sp)
        self.flush_pending = True

    def set_shadow(self, gfn: int, rebuild: bool = False) -> int:
        """Move the guest table page at ``gfn`` back to shadow mode: the entries switching
        to it are dropped, for hidden faults to rebuild its shadow -- or, with ``rebuild``,
        replaced by links to a shadow page built now from the guest's table (the
        composition of its entries with the host's mapping): its 4 KiB leaves at once, its
        other entries left to hidden faults. How many shadow entries that wrote."""
        if gfn not in self.nested:
            return 0
        self.nested.discard(gfn)
        written = 0
        for sp, index in list(self.switches.get(gfn, ())):
            if not rebuild:
                self._clear(sp, index)
                continue
            child = self.pages.get((gfn, sp.level - 1)) or self._new(gfn, sp.level - 1)
            self._set(sp, index, child.hpa | _UPPER, child)
            written += 1 + (self._rebuild(child) if child.level == 1 else 0)
        self.switches.pop(gfn, None)
        # a root back in shadow mode has no switch entry to drop, but its address space's
        # walks change from nested to agile: the walk caches hold nested walks' entries
        self.flush_pending = True
        return written

    def _rebuild(self, sp: ShadowTable) -> int:
        """Fill the last-level shadow page ``sp`` from its guest table: each present 4 KiB
        leaf, mapped to the host page behind its frame; the entries written."""
        st = self.guest.vms[self.vm]
        written = 0
        for index in range(512):
            e = st.read(sp.gfn + 8 * index)
            if not e & PRESENT or index in sp.links:
                continue
            hpa = st.hpa(e & FRAME_MASK)
            if hpa is None:  # not backed yet: its first touch will fault anyway
                continue
            word = make_entry(hpa & ~(PAGE_4K - 1), writable=bool(e & 0b10), nx=bool(e >> 63))
            self._set(sp, index, word, None)
            written += 1
        return written

    # -- reading it back (tests, checks) ------------------------------------------------------

    def switch_level(self, pid: int, va: int) -> int:
        """Level of the shadow entry where a walk of ``va`` switches to two dimensions (0: it
        does not; ``levels + 1``: the root is in nested mode)."""
        root = self.root(pid)
        if root is None:
            return self.levels + 1
        table = root
        for level in range(self.levels, 0, -1):
            e = self.mem.read(table + 8 * ((va >> level_shift(level)) & 511))
            if not e & PRESENT or level == 1 or e & PS:
                return 0
            if e & SWITCH:
                return level
            table = e & FRAME_MASK
        return 0

    def translate(self, pid: int, va: int) -> int:
        """Host-physical address of ``va`` by the shadow alone (a walk that switches or
        finds no entry raises ``KeyError``)."""
        table = self.root(pid)
        if table is None:
            raise KeyError(f"{va:#x}: the root is in nested mode")
        for level in range(self.levels, 0, -1):
            e = self.mem.read(table + 8 * ((va >> level_shift(level)) & 511))
            if not e & PRESENT or e & SWITCH:
                raise KeyError(f"{va:#x}: no shadow entry at level {level}")
            if level == 1 or e & PS:
                return (e & FRAME_MASK) + va % (1 << level_shift(level))
            table = e & FRAME_MASK
        raise AssertionError("unreachable")


__all__ = ["SHADOW_BASE", "SHADOW_VM_SHIFT", "AgileTables", "ShadowTable"]
