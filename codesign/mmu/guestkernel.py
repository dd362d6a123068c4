"""The guest model's 4 KiB demand fault, compiled: a run of them in one call.

A trace that touches many pages spends most of its replay in demand faults, and each one in
Python (the region lookup, the frame allocator, the host backing, two table walks and three
table writes) cost tens of microseconds. :func:`demand_faults` does the common case over
the model's own arrays -- the two memory images (:class:`hwmodels.pagewalk.tables.Memory`
tables), the free-frame stack and the bump allocators' positions -- with exactly the writes
:meth:`codesign.mmu.guest.GuestModel.fault` would make, in the same order:

- the page has no leaf (else it needs no demand fault: skipped);
- its region's protection is known (a sorted array of the process's regions);
- the table that holds its leaf entry exists (every level above it present, none a large
  page). A 2 MiB demand fault needs an empty level-2 slot, so with the level-1 table present
  the fault maps 4 KiB under either huge-page policy;
- the frame comes from the 4 KiB free stack (last freed first) or the bump allocator below
  its limit;
- backing it, when its host page is not backed yet, needs no new host table page.

Anything else -- a table page to allocate, a host table page, an unmapped address, an exhausted
allocator -- stops the run at that access *before* changing anything for it, and the caller
handles it in Python, then resumes. A run also stops before an access whose writes might not
fit an image (:func:`mem_room`), so the caller grows it first (:meth:`Memory.reserve`).

>>> from codesign.mmu.guest import GuestConfig, GuestModel
>>> from workloads.memory.events import StreamBuilder
>>> b = StreamBuilder(); b.spawn(1); b.switch(1); b.map(0x10000, pages=4)
>>> g = GuestModel(GuestConfig()); _ = [g.apply(e) for e in b.build()]
>>> _ = g.fault(0, 1, 0x10000, False)  # Python: the path's three table pages
>>> done = g.demand_faults(0, 1, np.array([0x11000, 0x12008, 0x13000]))
>>> [int(r[F_POS]) for r in done.rows], done.stop
([0, 1, 2], 3)
>>> g.translate(0, 1, 0x12008).gpa - int(done.rows[1, F_GPA])
8
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import hwmodels.pagewalk.tables as _tables
from hwmodels.pagewalk.tables import FRAME_MASK, PRESENT, PS, mem_get, mem_put, mem_room

from .jitcache import compiled_after, digest

DEPENDS = (Path(_tables.__file__),)
"""Source files of the compiled functions :func:`demand_faults` calls."""

# Columns of a fault row.
F_POS, F_VA, F_GPA, F_ENTRY, F_BACKED, F_HBASE, F_HPA, F_PROT, F_HOST = range(9)
N_COLS = 9

# Why a run stopped.
DONE, SLOW, GROW = range(3)

_WRITE, _EXEC = 2, 4  # workloads.memory.events.Prot
_USER_RW = PRESENT | 2 | 4
_NX = np.int64(-(1 << 63))


_compiled = compiled_after(digest(DEPENDS))


@_compiled
def _ept_slot(hk, hv, hm, eptp, hlevels, hleaf, addr):
    """Host address of the level-``hleaf`` EPT entry mapping guest-physical ``addr``; -1 when
    a table on the way is missing (or a larger page maps it)."""
    h = eptp
    for level in range(hlevels, hleaf, -1):
        e = mem_get(hk, hv, hm, h + 8 * ((addr >> (3 + 9 * level)) & 511))
        if e & PRESENT == 0 or e & PS:
            return -1
        h = e & FRAME_MASK
    return h + 8 * ((addr >> (3 + 9 * hleaf)) & 511)


@_compiled
def demand_faults(va, lo, nk, nv, nm, nn, hk, hv, hm, hn, offset, root, levels, eptp,
                  hlevels, hpage, vstart, vend, vprot, free, nfree, gnext, glimit, hnext,
                  hlimit, rows):
    """Demand-fault ``va[lo:]`` in order (see the module) over the native image (``nk``,
    ``nv``, ``nm``: its :meth:`Memory.table`; ``nn`` words) and the host image (``hk`` ..
    ``hn``), the VM's native-image ``offset``, the process's table ``root`` (guest-physical) of
    ``levels``, the EPT root ``eptp`` of ``hlevels``, host pages of ``hpage`` bytes, the
    regions (``vstart``, ``vend``, ``vprot``: sorted by start), the free stack
    ``free[:nfree]``, the guest and host bump allocators (next, limit). Each fault is a row of
    ``rows`` (columns ``F_*``); skipped accesses (already mapped) have none.

    Returns (why it stopped, the access it stopped at, rows written, the images' word counts,
    the free stack's size, the allocators' next addresses)."""
    nmask = offset ^ -1
    hleaf = 1 if hpage == 4096 else (2 if hpage == 1 << 21 else 3)
    count = 0
    for i in range(lo, len(va)):
        a = va[i]
        # the table holding the leaf entry: absent (a table to allocate: Python), or above it
        # a large page (mapped: no fault)
        t = root
        state = 0  # 0: found, 1: missing, 2: a large leaf maps the page
        for level in range(levels, 1, -1):
            e = mem_get(nk, nv, nm, offset | (t + 8 * ((a >> (3 + 9 * level)) & 511)))
            if e & PRESENT == 0:
                state = 1
                break
            if e & PS and level <= 3:
                state = 2
                break
            t = (e & nmask) & FRAME_MASK
        if state == 2:
            continue
        entry = t + 8 * ((a >> 12) & 511)
        if state == 0 and mem_get(nk, nv, nm, offset | entry) & PRESENT:
            continue
        r = np.searchsorted(vstart, a, side="right") - 1
        if state == 1 or r < 0 or vend[r] <= a:
            return SLOW, i, count, nn, hn, nfree, gnext, hnext
        if not mem_room(nk, nv, nm, 1) or not mem_room(hk, hv, hm, 2):
            return GROW, i, count, nn, hn, nfree, gnext, hnext
        prot = vprot[r]
        if nfree:
            gpa = free[nfree - 1]
        else:
            gpa = (gnext + 4095) & ~np.int64(4095)
            if gpa + 4096 > glimit:
                return SLOW, i, count, nn, hn, nfree, gnext, hnext
        # the frame's host page: backed already, or newly (its EPT slot must exist)
        hbase = gpa - gpa % hpage
        slot = _ept_slot(hk, hv, hm, eptp, hlevels, hleaf, hbase)
        if slot < 0:
            return SLOW, i, count, nn, hn, nfree, gnext, hnext
        hentry = mem_get(hk, hv, hm, slot)
        fresh = hentry & PRESENT == 0
        hpa = 0
        if fresh:
            hpa = (hnext + hpage - 1) & ~(hpage - 1)
            if hpa + hpage > hlimit:
                return SLOW, i, count, nn, hn, nfree, gnext, hnext
        # the leaf table's host address (tables are backed when allocated)
        tslot = _ept_slot(hk, hv, hm, eptp, hlevels, hleaf, t)
        thpa = (mem_get(hk, hv, hm, tslot) & FRAME_MASK & ~(hpage - 1)) + t % hpage
        # commit: allocate, back, write the leaf (GuestModel._alloc, _back, _write_leaf)
        if nfree:
            nfree -= 1
        else:
            gnext = gpa + 4096
        if fresh:
            hnext = hpa + hpage
            hn += mem_put(hk, hv, hm, slot, hpa | _USER_RW | (PS if hleaf > 1 else 0))
        word = gpa | PRESENT | 4 | (2 if prot & _WRITE else 0)
        if prot & _EXEC == 0:
            word |= _NX
        nn += mem_put(nk, nv, nm, offset | entry, word | offset)
        hn += mem_put(hk, hv, hm, thpa + (entry - t), word)
        row = rows[count]
        row[F_POS] = i
        row[F_VA] = a & ~np.int64(4095)
        row[F_GPA] = gpa
        row[F_ENTRY] = entry
        row[F_BACKED] = fresh
        row[F_HBASE] = hbase
        row[F_HPA] = hpa
        row[F_PROT] = prot
        row[F_HOST] = (hpa if fresh else hentry & FRAME_MASK) + gpa % hpage
        count += 1
    return DONE, len(va), count, nn, hn, nfree, gnext, hnext


__all__ = ["DEPENDS", "demand_faults"]
