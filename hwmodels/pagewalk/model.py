"""Behavioural page walker with page-walk caches and a nested TLB: the reference for the RTL.

One compiled kernel (numba, ``cache=True``) applies a batch of requests to numpy state; the
same code is the specification, so it is written to be read. Semantics (also the RTL's):

**Walk.** Native: read the level ``n_g .. 1`` entries of the table at ``cr3``. 2D: ``cr3`` is a
guest-physical address; before each guest table is read its gPA is translated by a host walk
(from ``eptp``), and after the guest leaf the data page's gPA is translated too, so the
reference order is, per guest level, the host walk of that table then the guest entry, and
last the host walk of the data page: ``(n_g+1)(n_h+1)-1`` references uncached. An entry
without the present bit faults (guest page fault / EPT violation by dimension, with its
level, and for the nested dimension the guest ``step`` -- the level of the guest table being
translated, 0 for the data page). PS ends the walk at level 2 (2 MiB) or 3 (1 GiB) in either
dimension; PS at level 4 or 5 is reserved (guest reserved-bit fault / EPT misconfiguration).
Permissions accumulate along each dimension (writable and user: AND; no-execute: OR); the
result is writable if both dimensions allow it, executable likewise, user per the guest.

**Agile walks** (Gandhi, Hill and Swift, ISCA 2016; a walker built with
``WalkerParams.agile``): ``cr3`` is the host-physical root of a *shadow* table, read in one
dimension as a native walk reads its table, until a non-leaf entry carries the switch bit
(``tables.SWITCH``): its frame is then the guest-physical address of the guest's next-level
table, and the walk goes on in two dimensions from there -- each lower guest table and the
data page translated through the host table at ``eptp``. A walk that meets no switch ends
in the shadow leaf (a host-physical frame, as a shadow walk); one that switches below the
top costs ``s + g (n_h + 1) + n_h`` references uncached, ``s`` shadow levels read and ``g``
guest levels left (4, 12, 16, 20 for 4 x 4 levels against nested paging's 24). The guest
page-walk cache holds both kinds of entry: an agile walk's entry carries a mode bit
(``P_GPA``, above the permissions: its base is guest-physical), so a hit resumes in the
dimension the walk was in below that level.

**Page-walk caches** (paging-structure caches), one per level 2..5 and dimension, fully
associative, LRU. The level-``L`` cache of a dimension maps the address bits that select a
level-``L`` entry -- ``x >> (12 + 9(L-1))`` with ``x`` the VA (guest) or gPA (nested) -- to
what reading that entry gave: the base of the level ``L-1`` table *as the entry states it*
and the permissions accumulated so far. Guest entries are tagged (VM, ASID); nested entries
(VM). A nested entry states a host-physical base. A guest entry states a *guest-physical* base
in a 2D walk (a physical one natively): the guest page-walk cache holds guest page entries as
read, as the page-walk cache of Bhargava et al. (ASPLOS 2008) holds page entries, so a guest
hit skips the guest reads and the host walks of the tables above the hit, and the table it
points to still needs one host translation -- which is what the nested TLB saves. A walk
probes all levels of its dimension at once and resumes below the lowest level that hits
(only that level's LRU order is touched). Fills: a level-``L`` entry of either dimension is
cached right after it is read. A fill never meets an entry with its own key (that key just
missed in this walk and nothing else fills that cache in between), so it takes the lowest
invalid entry, else the LRU victim.

**Nested TLB** (Bhargava et al., ASPLOS 2008: it caches nested translations, gPA -> host
physical, so that a hit skips a whole host walk): (VM, gPA 4 KiB page) -> host-physical 4 KiB
frame, host page size, host permissions; set-associative (set = low bits of the gPA page
number), LRU with the TLB's conventions (power-on order by way, way 0 the most recent;
lowest invalid way first). It serves the host translations of *guest page-table pages* (the
table at ``cr3`` and each table a guest entry, read or cached, points to): such a translation
first probes the nested TLB (hit: no references), then the nested page-walk cache, and a
completed host walk fills the nested TLB. *Assumption* (labelled; the paper's text was not at
hand): the final translation, of the data page's gPA, neither probes nor fills it. Its result
goes into the TLB as part of the gVA -> host-physical entry, so the nested TLB would see that
page again only after the TLB (1536+ entries) has evicted it -- long after a 16-entry nested TLB
has -- and each such fill evicts a guest-table translation that the next walk needs. Measured
on the steady-state GUPS mix over 32 MiB: filling the data pages too drops the nested TLB's
hit rate from 81% to 20%. Huge host pages are stored splintered to the 4 KiB page translated:
one size-indexed array, no multi-size probing.

**Flushes** clear valid bits only (replacement order stays): all; per VM (both dimensions and
the nested TLB); per (VM, ASID) for the guest dimension.

Callers keep caches coherent with the tables (flush after changing them) and keep native
and 2D walks under distinct VM tags (the guest cache stores a physical base for the one, a
guest-physical base for the other).

**Replacement state.** The RTL keeps LRU ranks (0 = most recent), which a touch rotates; this
model keeps per entry the stamp of its last use (``F_USED``; power-on stamps ``-position``,
so the power-on order is the RTL's), which a touch sets in one store, and a kernel call's
clock starts one past the latest stamp (:func:`_clock`). Both orders are the order of last
use, so the victim (lowest invalid entry, else the least recently used) is the same entry:
the differential tests hold the two to the same events. Rotating ranks in the model cost
about a third of its walks' time: on nested paging's GUPS replay (200,000 references over 256
MiB, ``modern-x86``; 157,000 walks, about 0.11 s of the replay's compiled pipeline) the
pipeline went from 0.229 s to 0.195 s, same results.
"""

from __future__ import annotations

import numba
import numpy as np

from hwmodels.pagewalk.ops import (
    EVENT_FIELDS,
    CacheOp,
    Fault,
    WalkBatch,
    WalkEvent,
    WalkEvents,
    WalkOp,
    WalkRequest,
)
from hwmodels.pagewalk.params import WalkerParams
from hwmodels.pagewalk.tables import FRAME_MASK, HASH_MUL, M_SHIFT, ROW_SHIFT, ROW_WORDS, Memory

# Fields of a cache entry (last axis of the state arrays); F_USED: the stamp of its last use.
F_VALID, F_VM, F_ASID, F_TAG, F_BASE, F_PERM, F_USED = range(7)
N_FIELDS = 7
F_SIZE = F_ASID  # the nested TLB has no address-space tag; its host size class uses the column
GUEST, NESTED = 0, 1
# Internal permission bits: what every entry so far allows (AND-accumulated).
A_W, A_U, A_X = 1, 2, 4
# cfg columns handed to the kernel
C_NG, C_NH, C_PAMASK, C_VMMASK, C_ASIDMASK, C_SETS, C_WAYS, C_SETBITS = range(8)

_NATIVE, _NESTED, _AGILE = int(WalkOp.NATIVE), int(WalkOp.NESTED), int(WalkOp.AGILE)
_SWITCH_BIT = 52  # tables.SWITCH
P_GPA = 8
"""A guest page-walk cache entry's mode bit, above its permissions: the base it holds is
guest-physical (an agile walk's entry at or below its switch)."""
_LOOKUP, _FILL = int(CacheOp.LOOKUP), int(CacheOp.FILL)
_FALL, _FVM, _FASID = int(WalkOp.FLUSH_ALL), int(WalkOp.FLUSH_VM), int(WalkOp.FLUSH_ASID)
_GPF, _EPTV = int(Fault.GUEST_PF), int(Fault.EPT_VIOLATION)
_GRSVD, _EPTM = int(Fault.GUEST_RSVD), int(Fault.EPT_MISCONFIG)
_FRAME_MASK = FRAME_MASK
_ROW_SHIFT, _ROW_WORDS, _M_SHIFT = ROW_SHIFT, ROW_WORDS, M_SHIFT


@numba.njit(cache=True)
def _read(mem_slots, mem_cells, mem_meta, addr):
    """The word at ``addr`` in a :class:`Memory` image (``Memory.table``; 0 when absent): the
    row key's home slot, linear probing to the key or an empty slot, then the word in its row
    (``tables.mem_get``, copied here: numba's disk cache keys this module on its own source)."""
    mask = (len(mem_slots) >> 1) - 1
    key = addr >> _ROW_SHIFT
    i = np.int64((np.uint64(key) * np.uint64(HASH_MUL)) >> np.uint64(mem_meta[_M_SHIFT]))
    while True:
        k = mem_slots[2 * i]
        if k == key:
            return mem_cells[mem_slots[2 * i + 1] * _ROW_WORDS + ((addr >> 3) & (_ROW_WORDS - 1))]
        if k < 0:
            return np.int64(0)
        i = (i + 1) & mask


@numba.njit(cache=True)
def _allow(e):
    nx = 1 if e < 0 else 0
    return ((e >> 1) & 1) * A_W | ((e >> 2) & 1) * A_U | (1 - nx) * A_X


@numba.njit(cache=True, inline="always")
def _victim(valid, used, n):
    """The lowest invalid entry of ``n``, else the least recently used."""
    v = 0
    for u in range(n):
        if valid[u] == 0:
            return u
        if used[u] < used[v]:
            v = u
    return v


@numba.njit(cache=True, inline="always")
def _next(clk):
    """The next use stamp of a kernel call's clock (:func:`_clock`), which it advances."""
    t = clk[0]
    clk[0] = t + 1
    return t


@numba.njit(cache=True)
def _clock(pwc, ntlb):
    """The use clock of a kernel call: one past the latest use stamp in ``pwc`` and ``ntlb``
    (a one-element array the helpers advance). Stamps only ever grow, so the state carries
    no clock of its own."""
    return np.array([max(pwc[..., F_USED].max(), ntlb[..., F_USED].max()) + 1], dtype=np.int64)


@numba.njit(cache=True)
def _pwc_probe(pwc, ent, d, top, x, vm, asid, clk):
    """Lowest level (2..top) of dimension ``d`` holding ``x``'s entry, and the lowest entry
    matching there: (level, entry, base, perm); level 0 on a miss."""
    for L in range(2, top + 1):
        n = ent[d, L - 2]
        tag = x >> (12 + 9 * (L - 1))
        c = pwc[d, L - 2]
        for e in range(n):
            if (c[e, F_TAG] == tag and c[e, F_VALID] == 1 and c[e, F_VM] == vm
                    and c[e, F_ASID] == asid):
                c[e, F_USED] = _next(clk)
                return L, e, c[e, F_BASE], c[e, F_PERM]
    return 0, 0, np.int64(0), np.int64(0)


@numba.njit(cache=True)
def _pwc_fill(pwc, ent, d, L, x, vm, asid, base, perm, clk):
    """Write ``x``'s level-``L`` entry: (entry written, a valid entry was evicted); (-1, 0)
    when the level has no entries."""
    n = ent[d, L - 2]
    if n == 0:
        return -1, 0
    c = pwc[d, L - 2]
    e = _victim(c[:n, F_VALID], c[:n, F_USED], n)
    evicted = c[e, F_VALID]
    c[e, F_VALID] = 1
    c[e, F_VM] = vm
    c[e, F_ASID] = asid
    c[e, F_TAG] = x >> (12 + 9 * (L - 1))
    c[e, F_BASE] = base
    c[e, F_PERM] = perm
    c[e, F_USED] = _next(clk)
    return e, evicted


@numba.njit(cache=True)
def _pwc_flush(pwc, d, kind, vm, asid):
    """Apply flush ``kind`` to dimension ``d``; the number of valid entries cleared."""
    cleared = 0
    for li in range(pwc.shape[1]):
        for e in range(pwc.shape[2]):
            c = pwc[d, li, e]
            if c[F_VALID] == 1 and (
                    kind == _FALL or (kind == _FVM and c[F_VM] == vm)
                    or (kind == _FASID and d == GUEST and c[F_VM] == vm and c[F_ASID] == asid)):
                c[F_VALID] = 0
                cleared += 1
    return cleared


@numba.njit(cache=True)
def _ntlb_slot(page, sets, set_bits):
    """(set, tag) of a guest-physical page number: the set is its low bits."""
    return page & (sets - 1), page >> set_bits


@numba.njit(cache=True)
def _ntlb_probe(t, ways, tag, vm, clk):
    """Lowest way of set ``t`` holding (``vm``, ``tag``), touched; -1 on a miss."""
    for w in range(ways):
        if t[w, F_TAG] == tag and t[w, F_VALID] == 1 and t[w, F_VM] == vm:
            t[w, F_USED] = _next(clk)
            return w
    return -1


@numba.njit(cache=True)
def _ntlb_fill(t, ways, vm, tag, frame, size, perm, clk):
    """Write an entry into set ``t``: (way written, a valid entry was evicted)."""
    w = _victim(t[:, F_VALID], t[:, F_USED], ways)
    evicted = t[w, F_VALID]
    t[w, F_VALID] = 1
    t[w, F_VM] = vm
    t[w, F_TAG] = tag
    t[w, F_BASE] = frame
    t[w, F_SIZE] = size
    t[w, F_PERM] = perm
    t[w, F_USED] = _next(clk)
    return w, evicted


@numba.njit(cache=True)
def _ntlb_flush(ntlb, kind, vm):
    """Apply flush ``kind`` (per-ASID flushes spare it); the number of valid entries cleared."""
    cleared = 0
    if kind == _FASID:
        return cleared
    for s in range(ntlb.shape[0]):
        for w in range(ntlb.shape[1]):
            if ntlb[s, w, F_VALID] == 1 and (kind == _FALL or ntlb[s, w, F_VM] == vm):
                ntlb[s, w, F_VALID] = 0
                cleared += 1
    return cleared


@numba.njit(cache=True)
def _host_translate(cfg, pwc, ent, ntlb, mem_slots, mem_cells, mem_meta, gpa, eptp, vm, step,
                    ref_addr, ref_dim, nref, counts, clk):
    """Translate ``gpa``, the base of the level-``step`` guest table (0: the data page):
    (fault, fault level, hPA, host size class, host perms, nref)."""
    nh = cfg[C_NH]
    pa_mask = cfg[C_PAMASK]
    x = gpa & ((np.int64(1) << (12 + 9 * nh)) - 1)
    # Only guest page-table pages go through the nested TLB (see the module docstring): the
    # data page's translation is the TLB's to keep, and filling it here would evict them.
    ways = cfg[C_WAYS] if step > 0 else 0
    s, tag = _ntlb_slot(x >> 12, cfg[C_SETS], cfg[C_SETBITS])
    t = ntlb[s] if ways > 0 else ntlb[0]
    if ways > 0:
        w = _ntlb_probe(t, ways, tag, vm, clk)
        if w >= 0:
            counts[1] += 1
            return 0, 0, (t[w, F_BASE] << 12) | (x & 0xFFF), t[w, F_SIZE], t[w, F_PERM], nref
        counts[2] += 1
    L, _, base, perm = _pwc_probe(pwc, ent, NESTED, nh, x, vm, 0, clk)
    if L:
        counts[0] += 1
        L -= 1
    else:
        L, base, perm = nh, eptp & pa_mask & ~np.int64(0xFFF), np.int64(A_W | A_U | A_X)
    while True:
        addr = base + 8 * ((x >> (12 + 9 * (L - 1))) & 511)
        ref_addr[nref] = addr
        ref_dim[nref] = NESTED
        nref += 1
        e = _read(mem_slots, mem_cells, mem_meta, addr)
        if (e & 1) == 0:
            return _EPTV, L, 0, 0, 0, nref
        huge = (e >> 7) & 1
        if huge and L >= 4:
            return _EPTM, L, 0, 0, 0, nref
        perm &= _allow(e)
        frame = e & _FRAME_MASK & pa_mask
        if L == 1 or huge:
            span = (np.int64(1) << (12 + 9 * (L - 1))) - 1
            hpa = (frame & ~span) | (x & span)
            if ways > 0:
                _ntlb_fill(t, ways, vm, tag, hpa >> 12, L - 1, perm, clk)
            return 0, 0, hpa, L - 1, perm, nref
        _pwc_fill(pwc, ent, NESTED, L, x, vm, 0, frame, perm, clk)
        base = frame
        L -= 1


@numba.njit(cache=True)
def _flush(pwc, ntlb, kind, vm, asid):
    for d in range(2):
        _pwc_flush(pwc, d, kind, vm, asid)
    _ntlb_flush(ntlb, kind, vm)


# Batch kernels of the standalone caches' twins (``caches``). They live in this file because
# numba's on-disk cache is keyed by the source file of the function compiled: a kernel in another
# module would keep running stale copies of the helpers above after they change.
@numba.njit(cache=True)
def _pwc_kernel(pwc, ent, d, top, op, addr, vm, asid, level, base, perm, out):
    clk = _clock(pwc, pwc)  # a twin's one array for both
    for i in range(len(op)):
        o = op[i]
        if o == _LOOKUP:
            L, e, b, pm = _pwc_probe(pwc, ent, d, top, addr[i], vm[i], asid[i], clk)
            if L:
                out[i, 0], out[i, 1], out[i, 2] = 1, L, e
                out[i, 3], out[i, 4] = b >> 12, pm
        elif o == _FILL:
            e, evicted = _pwc_fill(pwc, ent, d, level[i], addr[i], vm[i], asid[i],
                                   base[i] << 12, perm[i], clk)
            if e >= 0:
                out[i, 2], out[i, 5] = e, evicted
        elif _FALL <= o <= _FASID:
            out[i, 6] = _pwc_flush(pwc, d, o, vm[i], asid[i])


@numba.njit(cache=True)
def _ntlb_kernel(ntlb, sets, ways, set_bits, op, page, vm, base, size, perm, out):
    clk = _clock(ntlb, ntlb)  # a twin's one array for both
    for i in range(len(op)):
        o = op[i]
        s, tag = _ntlb_slot(page[i], sets, set_bits)
        t = ntlb[s]
        if o == _LOOKUP:
            w = _ntlb_probe(t, ways, tag, vm[i], clk)
            if w >= 0:
                out[i, 0], out[i, 1], out[i, 2] = 1, w, t[w, F_BASE]
                out[i, 3], out[i, 4] = t[w, F_SIZE], t[w, F_PERM]
        elif o == _FILL:
            out[i, 1], out[i, 5] = _ntlb_fill(t, ways, vm[i], tag, base[i], size[i], perm[i],
                                              clk)
        elif _FALL <= o <= _FASID:
            out[i, 6] = _ntlb_flush(ntlb, o, vm[i])


@numba.njit(cache=True)
def _run_kernel(cfg, pwc, ent, ntlb, mem_slots, mem_cells, mem_meta, op, va, cr3, eptp, vm, asid,
                out, ref_addr, ref_dim):
    ng = cfg[C_NG]
    pa_mask = cfg[C_PAMASK]
    nref = 0
    counts = np.zeros(3, dtype=np.int64)  # nested-PWC hits, NTLB hits, NTLB misses
    clk = _clock(pwc, ntlb)
    for i in range(len(op)):
        o = op[i]
        v_m = np.int64(vm[i]) & cfg[C_VMMASK]
        a_s = np.int64(asid[i]) & cfg[C_ASIDMASK]
        if _FALL <= o <= _FASID:
            _flush(pwc, ntlb, o, v_m, a_s)
            continue
        if o != _NATIVE and o != _NESTED and o != _AGILE:
            continue
        nested = o == _NESTED
        agile = o == _AGILE
        x = np.int64(va[i]) & ((np.int64(1) << (12 + 9 * ng)) - 1)
        ept = np.int64(eptp[i])
        first = nref
        counts[:] = 0
        fault, flevel, fstep = 0, 0, 0
        # gpwc: the lowest hit level's entry gives the base of the next table as the guest
        # entry states it -- guest-physical in 2D, so that table still needs its host
        # translation (the nested TLB's job), like the table at cr3 on a miss.
        L, _, base, gperm = _pwc_probe(pwc, ent, GUEST, ng, x, v_m, a_s, clk)
        out[i, 7] = L
        if L:
            if agile:  # the entry says whether the walk had switched to two dimensions
                nested = (gperm & P_GPA) != 0
            gperm &= A_W | A_U | A_X
            L -= 1
        else:
            L, base, gperm = ng, np.int64(cr3[i]) & pa_mask & ~np.int64(0xFFF), np.int64(7)
        gpa = np.int64(0)
        gsize = 0
        while True:
            if nested:
                f, fl, hpa, hsz, hperm, nref = _host_translate(
                    cfg, pwc, ent, ntlb, mem_slots, mem_cells, mem_meta, base, ept, v_m, L,
                    ref_addr, ref_dim, nref, counts, clk)
                if f:
                    fault, flevel, fstep = f, fl, L
                    break
                base = hpa
            addr = base + 8 * ((x >> (12 + 9 * (L - 1))) & 511)
            ref_addr[nref] = addr
            ref_dim[nref] = GUEST
            nref += 1
            e = _read(mem_slots, mem_cells, mem_meta, addr)
            if (e & 1) == 0:
                fault, flevel = _GPF, L
                break
            huge = (e >> 7) & 1
            if huge and L >= 4:
                fault, flevel = _GRSVD, L
                break
            gperm &= _allow(e)
            frame = e & _FRAME_MASK & pa_mask
            if L == 1 or huge:
                span = (np.int64(1) << (12 + 9 * (L - 1))) - 1
                gpa = (frame & ~span) | (x & span)
                gsize = L - 1
                break
            # agile: a shadow entry with the switch bit points at the guest's next table
            if agile and not nested and (e >> _SWITCH_BIT) & 1:
                nested = True
            _pwc_fill(pwc, ent, GUEST, L, x, v_m, a_s, frame,
                      gperm | (P_GPA if agile and nested else 0), clk)
            base = frame
            L -= 1
        size, perm, pa = gsize, gperm, gpa
        if fault == 0 and nested:
            f, fl, hpa, hsz, hperm, nref = _host_translate(
                cfg, pwc, ent, ntlb, mem_slots, mem_cells, mem_meta, gpa, ept, v_m, 0,
                ref_addr, ref_dim, nref, counts, clk)
            if f:
                fault, flevel, fstep = f, fl, 0
            else:
                size, pa = min(gsize, hsz), hpa
                perm = (gperm & hperm & (A_W | A_X)) | (gperm & A_U)
        if fault == 0:
            out[i, 3] = pa >> 12
            out[i, 4] = size
            out[i, 5] = 1 | ((perm & A_W) << 1) | (perm & A_X) | ((perm & A_U) << 2)
        out[i, 0], out[i, 1], out[i, 2] = fault, flevel, fstep
        out[i, 6] = nref - first
        out[i, 8], out[i, 9], out[i, 10] = counts[0], counts[1], counts[2]
    return nref


class PageWalkModel:
    """The behavioural walker: numpy state, compiled batch ``run`` and readable ``walk``.

    >>> from hwmodels.pagewalk.tables import FrameAllocator, PageTable
    >>> mem = Memory(); pt = PageTable.in_memory(mem, 4, FrameAllocator(0x10000))
    >>> pt.map(0x7000, 0x42000)
    >>> w = PageWalkModel(WalkerParams(), mem)
    >>> ev = w.walk(WalkRequest.native(0x7123, pt.root))
    >>> hex(ev.frame), ev.refs, [hex(a) for a in ev.addrs]
    ('0x42', 4, ['0x10000', '0x11000', '0x12000', '0x13038'])
    >>> w.walk(WalkRequest.native(0x7123, pt.root)).refs   # the level-2 PWC now holds the PT
    1
    """

    def __init__(self, params: WalkerParams, memory: Memory | None = None) -> None:
        self.params = params
        p = params
        self.cfg = np.array([p.guest_levels, p.host_levels, (1 << p.pa_bits) - 1,
                             (1 << p.vm_bits) - 1, (1 << p.asid_bits) - 1, p.ntlb.sets,
                             p.ntlb.ways, p.ntlb.set_bits], dtype=np.int64)
        self.ent = np.array([p.pwc_guest.entries, p.pwc_nested.entries], dtype=np.int64)
        self.load_memory(memory if memory is not None else Memory())
        self.reset()

    def load_memory(self, memory: Memory) -> None:
        """Walk ``memory`` from now on (caches are not flushed). O(1): walks read the live
        image, so writes to ``memory`` after this call are seen by the next ``run``."""
        self.memory = memory

    def reset(self) -> None:
        """Power-on state: every cache entry invalid, LRU order by position (entry 0 the most
        recent)."""
        max_e = max(1, int(self.ent.max()))
        self.pwc = np.zeros((2, 4, max_e, N_FIELDS), dtype=np.int64)
        self.pwc[..., F_USED] = -np.arange(max_e)
        ways = max(1, self.params.ntlb.ways)
        self.ntlb = np.zeros((max(1, self.params.ntlb.sets), ways, N_FIELDS), dtype=np.int64)
        self.ntlb[..., F_USED] = -np.arange(ways)

    def run(self, reqs: WalkBatch) -> WalkEvents:
        """Apply ``reqs`` in order; return their events and references."""
        reqs.check(self.params)
        n = len(reqs)
        out = np.zeros((n, len(EVENT_FIELDS)), dtype=np.int64)
        cap = n * self.params.max_refs
        ref_addr = np.zeros(cap, dtype=np.int64)
        ref_dim = np.zeros(cap, dtype=np.int64)
        # The table's current arrays: a write since the last run may have regrown them.
        slots, cells, meta = self.memory.table()
        total = _run_kernel(self.cfg, self.pwc, self.ent, self.ntlb, slots, cells, meta,
                            reqs.op, reqs.va.astype(np.int64),
                            reqs.cr3.astype(np.int64), reqs.eptp.astype(np.int64),
                            reqs.vm, reqs.asid, out, ref_addr, ref_dim)
        cols = {f: out[:, k].copy() for k, f in enumerate(EVENT_FIELDS)}
        return WalkEvents(cols, ref_addr[:total].copy(), ref_dim[:total].copy())

    def walk(self, req: WalkRequest) -> WalkEvent:
        """Apply one request; its events and references."""
        return self.run(WalkBatch.from_requests([req])).row(0)
