"""The compiled pipeline of one run of accesses: TLB, second-level TLB, walker, data cache.

:meth:`codesign.mmu.replay.Replay._run` translates a run of accesses of one address space
against fixed tables. Its steps -- the first-level TLB's lookups and fills, the second-level
TLB's for the first-level misses, the walks of the accesses that missed both, every walk
reference and every data reference through the data cache in stream order, and the per-walk
counts by serving level -- each ran as its own compiled batch, glued by numpy in Python. On a
recorded trace most runs are short (the guest kernel's work, runs cut at the chunks whose
demand faults are handled ahead of them), so the glue, not the batches, was most of a
replay's time. :func:`run_pipeline` runs the whole chain in one compiled call, on the
models' own state arrays and through their own kernels (``hwmodels.tlb``'s lookup-and-fill,
``hwmodels.pagewalk``'s walk, ``hwmodels.cache``'s access), so it is the same computation
step for step; what stays in Python is what needs the guest model (translations, faults)
and the mechanisms' hooks (trap units of walks).

**Cached compilations and the kernels it calls.** numba's on-disk cache stamps a compiled
function with its own source file only, and a compiled caller holds its own copies of the
compiled functions it calls: after a change to one of the models' kernels the cached pipeline
would run the old one. The cache names of the functions here that call them therefore carry a digest
of those source files (:data:`DEPENDS`, :data:`DIGEST`): any change to them compiles these
afresh.
"""

from __future__ import annotations

from pathlib import Path

import numba
import numpy as np

import hwmodels.cache.model as _cache_model
import hwmodels.pagewalk.model as _walk_model
import hwmodels.tlb.model as _tlb_model
from hwmodels.cache.model import (
    V_COUNT,
    access_addr,
    access_reach,
    tails_batch,
    variants_batch,
)
from hwmodels.pagewalk.model import _run_kernel as _walk_kernel
from hwmodels.tlb.model import _lookup_fill_kernel

from .jitcache import compiled_after, digest

DEPENDS = tuple(Path(m.__file__) for m in (_tlb_model, _walk_model, _cache_model))
"""Source files of the compiled functions the pipeline calls."""

STLB_2M_TAG = np.int64(1) << 47
"""The size bit of a 2 MiB entry in the second-level TLB's shared array: above every user
address (``workloads.memory.events.USER_TOP``), below the 48-bit tag space (see
:func:`codesign.mmu.replay.stlb_2m_key`)."""

# Slots of the pipeline's ``counts`` output.
(K_L1_MISSES, K_EVICTIONS, K_WALKS, K_REFS_GUEST, K_REFS_NESTED, K_GPWC, K_NPWC, K_NTLB_HIT,
 K_NTLB_MISS, K_BAD, K_BAD_FAULT, K_BAD_FRAME) = range(12)
K_SERVED = 12
"""``counts[K_SERVED + 4 * kind + level]``: references by kind (0 guest walk, 1 nested walk,
2 data) and serving level, as :attr:`codesign.mmu.replay.Counts.served`."""
N_COUNTS = K_SERVED + 12

ROW_L2_HIT = 6
"""Column of the second-level TLB hit in the rows (the histogram's layout: walk references by
level x 4, faults, trap units, L2 hit)."""


def _digest() -> str:
    return digest(DEPENDS)


DIGEST = _digest()
"""CRC-32 of the :data:`DEPENDS` sources, part of the cache names of the functions here that
call their kernels."""

_compiled = compiled_after(DIGEST)
"""``numba.njit(cache=True)`` under a name carrying :data:`DIGEST`, for a function that calls
compiled functions of :data:`DEPENDS` (see the module)."""


@_compiled
def stlb_lookup_fill(va, frame, perms, klass, stlb_2m, stlb_1g, cfg, vp, pc, gl, valid, glob,
                     evpid, epcid, etag, epfn, eperms, repl, lfsr, clock):
    """Look first-level misses (addresses, frames, permissions, TLB size classes, in order)
    up in the second-level TLB (its configuration, tags and state arrays, as
    :meth:`hwmodels.tlb.TLBModel.lookup_fill` passes them), filling it on a miss; 1 where one
    hit. A 4 KiB page uses the shared array; a 2 MiB page too, under its
    :func:`codesign.mmu.replay.stlb_2m_key`, when the STLB holds 2 MiB entries (``stlb_2m``);
    a 1 GiB page its own array when there is one (``stlb_1g``). A page size the STLB does
    not hold bypasses it (a miss, no fill)."""
    held = np.flatnonzero((klass == 0) | ((klass == 1) & stlb_2m) | ((klass == 2) & stlb_1g))
    out = np.zeros(len(va), dtype=np.int64)
    if len(held) == 0:
        return out
    key = va[held]
    c = klass[held]
    if stlb_2m:
        key = np.where(c == 1, STLB_2M_TAG | ((key >> 21) << 12), key)
    hit = np.zeros(len(held), dtype=np.uint8)
    _lookup_fill_kernel(cfg, vp, pc, gl, valid, glob, evpid, epcid, etag, epfn, eperms, repl,
                        lfsr, clock, key.astype(np.uint64), np.where(c == 2, 2, 0),
                        frame[held].astype(np.uint64), perms[held].astype(np.uint8), hit)
    out[held] = hit
    return out


@numba.njit(cache=True, inline="always")
def _seen_last(last, page, fill, mask):
    """The set-repeat rule for one lookup (see :func:`set_repeats`), updating ``last``, the
    page each set of the 4 KiB array last saw: True when the lookup can be skipped."""
    s = page & mask
    if fill != 0:
        last[s] = -1
    elif last[s] == page:
        return True
    else:
        last[s] = page
    return False


@numba.njit(cache=True)
def set_repeats(pages, fill, mask):
    """Which lookups of a run's (same-page-compressed) sequence the TLB must see: not those
    of a 4 KiB-array page (``fill`` 0) that the previous lookup in its set of that array
    named too. That entry is then the set's most recently used one and nothing has filled
    the set since, so the lookup hits it and changes no replacement order (true LRU: the
    order is kept; PLRU: the tree bits already point away from it; random: hits draw
    nothing); the fill after it rewrites the entry in place. A lookup of another page size
    probes the 4 KiB array too, so it clears its set's record. (:func:`run_pipeline` applies
    the same rule as it goes.)

    >>> set_repeats(np.array([1, 2, 1, 2, 17, 1]), np.zeros(6, np.int64), 15).tolist()
    [True, True, False, False, True, True]
    """
    out = np.ones(len(pages), dtype=np.bool_)
    last = np.full(mask + 1, -1, dtype=np.int64)
    for i in range(len(pages)):
        out[i] = not _seen_last(last, pages[i], fill[i], mask)
    return out


@numba.njit(cache=True, inline="always")
def _low_bit(mask):
    """Index of the lowest set bit of a non-zero mask."""
    v = 0
    while not (mask >> v) & 1:
        v += 1
    return v


@numba.njit(cache=True, inline="always")
def _reaching(cstate, addr, llc, tstart):
    """The level serving byte address ``addr`` in the data cache ``cstate``, and the key
    the variants take it by, or -1 when they do not see it: with LLC variants (``llc``) the
    LLC's name for the line of a reference that reached it; else the address of a reference
    that reached level ``tstart``, where other hierarchies start."""
    if llc:
        return access_reach(cstate, addr)
    lv = access_addr(cstate, addr)
    return lv, (addr if lv >= tstart else -1)


def _pipeline(va, page, inv, frame, klass, perms, dframe, fill_class, l4k_mask,
              t_cfg, t_vp, t_pc, t_gl, t_valid, t_glob, t_vpid, t_pcid, t_tag, t_pfn, t_perms,
              t_repl, t_lfsr, t_clock,
              has_stlb, stlb_2m, stlb_1g,
              s_cfg, s_vp, s_pc, s_valid, s_glob, s_vpid, s_pcid, s_tag, s_pfn, s_perms,
              s_repl, s_lfsr, s_clock,
              w_op, w_cr3, w_eptp, w_vm, w_asid, max_refs,
              w_cfg, pwc, ent, ntlb, mem_keys, mem_vals, mem_shift,
              has_cache, cstate, vstate, tstate, toff, tstart, vcounts, counts):
    n = len(va)
    # -- the first-level TLB: only the lookups that can change or miss it --------------------
    # An access to the page the previous access just looked up (and filled) hits, and a hit on
    # the most recent entry changes no replacement state: only the first access of each
    # same-page stretch goes to the TLB (unless no array holds the page size); and of those,
    # only the ones whose page is not already the most recent of its set in the 4 KiB array
    # (:func:`set_repeats`: a lookup of another size probes that array too and clears the
    # set's record).
    pos = np.empty(n, dtype=np.int64)
    last = np.full(max(l4k_mask + 1, 1), -1, dtype=np.int64)
    npos = 0
    for i in range(n):
        p = page[i]
        f = fill_class[klass[inv[i]]]
        if i > 0 and p == page[i - 1] and f >= 0:
            continue
        if l4k_mask >= 0 and _seen_last(last, p, f, l4k_mask):
            continue
        pos[npos] = i
        npos += 1
    pos = pos[:npos]
    d = inv[pos]
    hit = np.zeros(npos, dtype=np.uint8)
    counts[K_EVICTIONS] = _lookup_fill_kernel(
        t_cfg, t_vp, t_pc, t_gl, t_valid, t_glob, t_vpid, t_pcid, t_tag, t_pfn, t_perms,
        t_repl, t_lfsr, t_clock, va[pos].astype(np.uint64), fill_class[klass[d]],
        frame[d].astype(np.uint64), perms[d].astype(np.uint8), hit)
    l1_miss = pos[hit == 0]
    k = len(l1_miss)
    counts[K_L1_MISSES] = k
    rows = np.zeros((k, 7), dtype=np.int64)
    # -- the second-level TLB: the first-level misses of the page sizes it holds -------------
    if has_stlb and k:
        d = inv[l1_miss]
        rows[:, ROW_L2_HIT] = stlb_lookup_fill(
            va[l1_miss], frame[d], perms[d], klass[d], stlb_2m, stlb_1g, s_cfg, s_vp, s_pc,
            t_gl, s_valid, s_glob, s_vpid, s_pcid, s_tag, s_pfn, s_perms, s_repl, s_lfsr,
            s_clock)
    walked = np.flatnonzero(rows[:, ROW_L2_HIT] == 0)
    miss = l1_miss[walked]
    m = len(miss)
    counts[K_WALKS] = m
    counts[K_BAD] = -1
    # -- the walks, in order ----------------------------------------------------------------
    out = np.zeros((m, 11), dtype=np.int64)
    ref_addr = np.zeros(m * max_refs, dtype=np.int64)
    ref_dim = np.zeros(m * max_refs, dtype=np.int64)
    if m:
        _walk_kernel(w_cfg, pwc, ent, ntlb, mem_keys, mem_vals, mem_shift,
                     np.full(m, w_op, dtype=np.uint8), va[miss],
                     np.full(m, w_cr3, dtype=np.int64), np.full(m, w_eptp, dtype=np.int64),
                     np.full(m, w_vm, dtype=np.uint16), np.full(m, w_asid, dtype=np.uint16),
                     out, ref_addr, ref_dim)
        for x in range(m):
            if out[x, 0] != 0 or out[x, 3] != frame[inv[miss[x]]]:
                counts[K_BAD] = x
                counts[K_BAD_FAULT] = out[x, 0]
                counts[K_BAD_FRAME] = out[x, 3]
                return (l1_miss, miss, walked, rows, out[:, 6], ref_addr[:0], ref_dim[:0],
                        np.zeros((k, 0, 4), dtype=np.int64))
            if out[x, 7] > 0:
                counts[K_GPWC] += 1
            counts[K_NPWC] += out[x, 8]
            counts[K_NTLB_HIT] += out[x, 9]
            counts[K_NTLB_MISS] += out[x, 10]
    # -- the data cache: per access its walk's references, then its data reference ---------
    w = 0
    x = 0
    nv = vstate[V_COUNT]
    nt = toff.shape[0] - 1
    vrows = np.zeros((k, max(nv, nt), 4), dtype=np.int64)
    if has_cache and (nt or nv):
        # The same, and the references the variants see kept (the key they take -- an
        # address for other hierarchies, the LLC's name for the line for LLC variants --,
        # the miss whose walk made it or -1 for a data reference, the kind), then run through
        # them in one batch: per variant the references of each kind each of its levels
        # served, and per first-level miss the walk references each served.
        llc = nt == 0
        total = n
        for y in range(m):
            total += out[y, 6]
        reach = np.empty(total, dtype=np.int64)
        reach_row = np.empty(total, dtype=np.int64)
        reach_kind = np.empty(total, dtype=np.int64)
        nr = 0
        for i in range(n):
            if x < m and miss[x] == i:
                j = walked[x]
                for _ in range(out[x, 6]):
                    lv, key = _reaching(cstate, ref_addr[w], llc, tstart)
                    dim = ref_dim[w]
                    counts[K_SERVED + 4 * dim + lv] += 1
                    counts[K_REFS_NESTED] += dim
                    rows[j, lv] += 1
                    if key >= 0:
                        reach[nr], reach_row[nr], reach_kind[nr] = key, j, dim
                        nr += 1
                    w += 1
                x += 1
            lv, key = _reaching(cstate, (dframe[inv[i]] << 12) | (va[i] & 0xFFF), llc, tstart)
            counts[K_SERVED + 8 + lv] += 1
            if key >= 0:
                reach[nr], reach_row[nr], reach_kind[nr] = key, -1, 2
                nr += 1
        if llc:  # hwmodels.cache.LLCVariants: a mask of the LLCs that hit, per reference
            hits = np.zeros(nr, dtype=np.int64)
            variants_batch(vstate, reach[:nr], hits)
            for r in range(nr):
                mask = hits[r]
                while mask:
                    v = _low_bit(mask)
                    vcounts[v, reach_kind[r], 2] += 1
                    if reach_row[r] >= 0:
                        vrows[reach_row[r], v, 2] += 1
                    mask &= mask - 1
        else:  # hwmodels.cache.CacheTails: the level each served, per reference
            levels = np.zeros((nr, nt), dtype=np.int64)
            tails_batch(tstate, toff, reach[:nr], levels)
            for r in range(nr):
                for v in range(nt):
                    lv = levels[r, v]
                    vcounts[v, reach_kind[r], lv] += 1
                    if reach_row[r] >= 0:
                        vrows[reach_row[r], v, lv] += 1
    elif has_cache:
        for i in range(n):
            if x < m and miss[x] == i:
                j = walked[x]
                for _ in range(out[x, 6]):
                    lv = access_addr(cstate, ref_addr[w])
                    dim = ref_dim[w]
                    counts[K_SERVED + 4 * dim + lv] += 1
                    counts[K_REFS_NESTED] += dim
                    rows[j, lv] += 1
                    w += 1
                x += 1
            lv = access_addr(cstate, (dframe[inv[i]] << 12) | (va[i] & 0xFFF))
            counts[K_SERVED + 8 + lv] += 1
    else:  # every walk reference is served by memory
        for x in range(m):
            rows[walked[x], 3] = out[x, 6]
            for _ in range(out[x, 6]):
                counts[K_REFS_NESTED] += ref_dim[w]
                w += 1
    counts[K_REFS_GUEST] = w - counts[K_REFS_NESTED]
    return l1_miss, miss, walked, rows, out[:, 6], ref_addr[:w], ref_dim[:w], vrows


run_pipeline = _compiled(_pipeline)
"""Translate a run of accesses through the first-level TLB, the second-level TLB (when
``has_stlb``), the walker and the data cache (when ``has_cache``; ``vstate``: LLC variants
run beside its LLC, :attr:`hwmodels.cache.LLCVariants.state`, none when their count is 0;
or ``tstate``, ``toff`` and ``tstart``: other hierarchies run beside its own from level
``tstart`` on, :class:`hwmodels.cache.CacheTails`, none when ``toff`` has one entry),
updating the models' state arrays in place. Per access: ``va``, ``page`` and ``inv`` (its
distinct page's number); per distinct page: ``frame``, ``klass`` (TLB size class),
``perms`` and ``dframe`` (the frame its data reference addresses). Adds into ``counts``
(see the ``K_*`` slots) and into ``vcounts[v, kind, level]`` the references of each kind
that variant ``v``'s levels served (only from ``tstart`` on; an LLC variant: only its
LLC's hits); returns ``(l1_miss, miss, walked, rows, wrefs, ref_addr, ref_dim, vrows)``:
the positions of the first-level misses, of the walked accesses, the walked accesses'
numbers among the misses, per miss its histogram row (walk references by serving level,
-, -, second-level hit), per walk its number of references, the walks' references
(addresses, dimensions) in order, and per miss the walk references each variant's levels
served (``vrows[miss, v, level]``, likewise).
``counts[K_BAD]`` is the first walk whose result disagrees with ``frame`` (-1: none),
which stops the run there.
Called by :meth:`codesign.mmu.replay.Replay._run`, whose doctests and the mechanisms' tests
exercise it."""

__all__ = ["DEPENDS", "DIGEST", "N_COUNTS", "run_pipeline", "set_repeats", "stlb_lookup_fill"]
