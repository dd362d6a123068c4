"""Behavioural TLB: the reference the RTL is judged against.

State is a handful of numpy arrays shaped ``(3, max_sets, max_ways)`` -- one plane per page-size
array (4 KiB, 2 MiB, 1 GiB) -- and one compiled kernel (numba, ``cache=True``) applies a whole
batch of operations to it. ``TLBModel`` wraps that state with the batch ``run`` and the readable
single-step helpers of ``TLBFrontend``. Semantics (also those of the RTL, ``hwmodels.tlb.rtl``):

- **Index and tag.** For an array of page shift ``k`` and ``2**b`` sets, ``vpn = va >> k``, the
  set is ``vpn % 2**b`` and the stored tag ``vpn >> b``. An entry matches a key
  ``(vpid, pcid, va)`` when it is valid, its tag and VPID are equal, and it is global or its PCID
  is equal. A tag width of 0 stores and compares nothing.
- **Lookup.** All arrays are probed; if several hit, the smallest page size wins, and within an
  array the lowest way. Only the array that answers updates its replacement state.
- **Fill.** Into the array named by ``size``. The way written is: the lowest way already matching
  the fill's key (overwritten in place, so a refill never duplicates an entry); else the lowest
  invalid way; else the policy's victim (an eviction). The way written becomes most recently used.
- **Invalidation** clears valid bits only; replacement state is left as it is (hardware does not
  reorder on a flush, and lowest-invalid-first makes the order irrelevant until the set refills).
- **Policies.**

  - ``lru``: every entry records when it was last touched (a per-array use counter); the victim
    is the way touched longest ago. At power-on way ``w`` counts as touched at time ``-w``, so
    way 0 is the most recent and way ``ways - 1`` the victim. (The RTL keeps the same order as
    per-set ranks, 0 = most recent, which a touch rotates; the differential tests prove the two
    agree.)
  - ``plru``: a binary tree of ``ways - 1`` bits per set, heap-ordered (node ``p`` has children
    ``2p+1``, ``2p+2``); bit 0 sends the victim search left; a touch sets every node on the
    way's path to point away from it. Power-on bits are 0.
  - ``random``: a 16-bit Galois LFSR per array, polynomial x^16 + x^14 + x^13 + x^11 + 1 (taps
    ``0xB400``, maximal length), seeded with ``params.lfsr_seed``; the victim is
    ``(state * ways) >> 16`` and the LFSR advances once, only on a fill that needs a victim (set
    full, no matching entry).
"""

from __future__ import annotations

import numba
import numpy as np

from hwmodels.tlb.ops import EventBatch, Op, OpBatch, TLBFrontend
from hwmodels.tlb.params import PAGE_SHIFTS, POLICIES, TLBParams

LFSR_TAPS = 0xB400
"""Galois taps of x^16 + x^14 + x^13 + x^11 + 1."""

_LRU, _PLRU, _RANDOM = (POLICIES.index(p) for p in ("lru", "plru", "random"))
_LOOKUP, _FILL, _INV_ADDR, _INV_AS, _INV_VM_NG, _INV_VM, _INV_ALL = (
    int(Op.LOOKUP),
    int(Op.FILL),
    int(Op.INV_ADDR),
    int(Op.INV_AS),
    int(Op.INV_VM_NONGLOBAL),
    int(Op.INV_VM),
    int(Op.INV_ALL),
)
_SHIFTS = np.array(PAGE_SHIFTS, dtype=np.int64)
# Columns of the per-array configuration table handed to the kernel.
_WAYS, _SETS, _SETBITS, _POLICY, _LOG2WAYS = range(5)


def lfsr_next(state: int) -> int:
    """One step of the replacement LFSR (Galois form, shift right).

    >>> hex(lfsr_next(0xACE1))
    '0xe270'
    """
    return (state >> 1) ^ (LFSR_TAPS if state & 1 else 0)


_lfsr_next = numba.njit(cache=True)(lfsr_next)


# Helpers are inlined into the kernel: numba passes each array as a struct of several scalars,
# and a call per probe would dominate the cost of a lookup.
@numba.njit(cache=True, inline="always")
def _find(valid, glob, evpid, epcid, etag, a, s, ways, tag, vpid, pcid):
    for w in range(ways):
        if (
            valid[a, s, w]
            and etag[a, s, w] == tag
            and evpid[a, s, w] == vpid
            and (glob[a, s, w] or epcid[a, s, w] == pcid)
        ):
            return w
    return -1


@numba.njit(cache=True, inline="always")
def _touch(repl, clock, a, s, w, policy, log2ways):
    if policy == _LRU:
        clock[a] += 1
        repl[a, s, w] = clock[a]
    elif policy == _PLRU:
        for d in range(log2ways):
            node = (1 << d) - 1 + (w >> (log2ways - d))
            repl[a, s, node] = 1 - ((w >> (log2ways - 1 - d)) & 1)


@numba.njit(cache=True, inline="always")
def _policy_victim(repl, lfsr, a, s, ways, policy, log2ways):
    if policy == _LRU:
        oldest = 0
        for v in range(1, ways):
            if repl[a, s, v] < repl[a, s, oldest]:
                oldest = v
        return oldest
    if policy == _PLRU:
        node = 0
        w = 0
        for _ in range(log2ways):
            bit = np.int64(repl[a, s, node])
            w = (w << 1) | bit
            node = 2 * node + 1 + bit
        return w
    state = np.int64(lfsr[a])
    lfsr[a] = _lfsr_next(state)
    return (state * ways) >> 16


@numba.njit(cache=True)
def _run_kernel(
    cfg, vpid_mask, pcid_mask,
    valid, glob, evpid, epcid, etag, epfn, eperms, repl, lfsr, clock,
    op, va, vpid, pcid, size, pfn, perms, gl,
    o_hit, o_size, o_way, o_pfn, o_perms, o_glob, o_evict, o_inv,
):
    # Per-array configuration as tuples of scalars: loads from ``cfg`` could alias the state
    # arrays written below, so the compiler would re-read them for every operation.
    n_ways = (cfg[0, _WAYS], cfg[1, _WAYS], cfg[2, _WAYS])
    set_mask = (cfg[0, _SETS] - 1, cfg[1, _SETS] - 1, cfg[2, _SETS] - 1)
    set_bits = (cfg[0, _SETBITS], cfg[1, _SETBITS], cfg[2, _SETBITS])
    policy = (cfg[0, _POLICY], cfg[1, _POLICY], cfg[2, _POLICY])
    log2ways = (cfg[0, _LOG2WAYS], cfg[1, _LOG2WAYS], cfg[2, _LOG2WAYS])
    shifts = (_SHIFTS[0], _SHIFTS[1], _SHIFTS[2])
    for i in range(len(op)):
        o = op[i]
        v = np.int64(va[i])
        vp = np.int64(vpid[i]) & vpid_mask
        pc = np.int64(pcid[i]) & pcid_mask
        if o == _LOOKUP:
            for a in range(3):
                ways = n_ways[a]
                if ways == 0:
                    continue
                vpn = v >> shifts[a]
                s = vpn & set_mask[a]
                w = _find(valid, glob, evpid, epcid, etag, a, s, ways, vpn >> set_bits[a], vp, pc)
                if w >= 0:
                    low = shifts[a] - 12
                    o_hit[i] = 1
                    o_size[i] = a
                    o_way[i] = w
                    o_pfn[i] = (epfn[a, s, w] << low) | ((v >> 12) & ((1 << low) - 1))
                    o_perms[i] = eperms[a, s, w]
                    o_glob[i] = glob[a, s, w]
                    _touch(repl, clock, a, s, w, policy[a], log2ways[a])
                    break
        elif o == _FILL:
            a = np.int64(size[i])
            ways = n_ways[a]
            vpn = v >> shifts[a]
            s = vpn & set_mask[a]
            tag = vpn >> set_bits[a]
            o_size[i] = a
            w = _find(valid, glob, evpid, epcid, etag, a, s, ways, tag, vp, pc)
            if w >= 0:
                o_hit[i] = 1
            else:
                for u in range(ways):
                    if not valid[a, s, u]:
                        w = u
                        break
                if w < 0:
                    w = _policy_victim(repl, lfsr, a, s, ways, policy[a], log2ways[a])
                    o_evict[i] = 1
            valid[a, s, w] = 1
            glob[a, s, w] = gl[i]
            evpid[a, s, w] = vp
            epcid[a, s, w] = pc
            etag[a, s, w] = tag
            epfn[a, s, w] = np.int64(pfn[i]) >> (shifts[a] - 12)
            eperms[a, s, w] = perms[i]
            o_way[i] = w
            _touch(repl, clock, a, s, w, policy[a], log2ways[a])
        elif o >= _INV_ADDR:
            count = 0
            for a in range(3):
                ways = n_ways[a]
                vpn = v >> shifts[a]
                s_lo, s_hi = 0, set_mask[a] + 1
                if o == _INV_ADDR:
                    s_lo = vpn & set_mask[a]
                    s_hi = s_lo + 1
                for s in range(s_lo, s_hi):
                    for w in range(ways):
                        if not valid[a, s, w]:
                            continue
                        same_vm = evpid[a, s, w] == vp
                        if o == _INV_ADDR:
                            hit = same_vm and etag[a, s, w] == vpn >> set_bits[a]
                        elif o == _INV_AS:
                            hit = same_vm and epcid[a, s, w] == pc and not glob[a, s, w]
                        elif o == _INV_VM_NG:
                            hit = same_vm and not glob[a, s, w]
                        elif o == _INV_VM:
                            hit = same_vm
                        else:
                            hit = True
                        if hit:
                            valid[a, s, w] = 0
                            count += 1
            o_inv[i] = count


@numba.njit(cache=True)
def _lookup_fill_kernel(
    cfg, vp, pc, gl, valid, glob, evpid, epcid, etag, epfn, eperms, repl, lfsr, clock,
    va, size, pfn, perms, o_hit,
):
    # Exactly _run_kernel's LOOKUP then FILL of array size[i] (none when negative) per access,
    # without materialising the pairs. The two bodies are written out again rather than
    # shared: numba does not inline helpers that take the state tuples without a 2x slowdown
    # of both kernels. tests/hwmodels/test_tlb.py pins this kernel to the pairs.
    n_ways = (cfg[0, _WAYS], cfg[1, _WAYS], cfg[2, _WAYS])
    set_mask = (cfg[0, _SETS] - 1, cfg[1, _SETS] - 1, cfg[2, _SETS] - 1)
    set_bits = (cfg[0, _SETBITS], cfg[1, _SETBITS], cfg[2, _SETBITS])
    policy = (cfg[0, _POLICY], cfg[1, _POLICY], cfg[2, _POLICY])
    log2ways = (cfg[0, _LOG2WAYS], cfg[1, _LOG2WAYS], cfg[2, _LOG2WAYS])
    shifts = (_SHIFTS[0], _SHIFTS[1], _SHIFTS[2])
    evictions = 0
    # Per 4 KiB set, the page whose entry this call made the set's most recent, with the
    # frame and permissions it holds (-1: none known). An access to that page with the same
    # translation hits that entry and changes nothing (a touch of the most recent entry keeps
    # the LRU order, a PLRU touch is idempotent, random draws nothing on a hit, the fill
    # rewrites what is there): the common case of a hit-heavy stream costs a compare.
    sets0 = set_mask[0] + 1 if n_ways[0] > 0 else 1
    last_vpn = np.full(sets0, -1, dtype=np.int64)
    last_pfn = np.zeros(sets0, dtype=np.int64)
    last_perm = np.zeros(sets0, dtype=np.int64)
    for i in range(len(va)):
        v = np.int64(va[i])
        if n_ways[0] > 0:
            vpn0 = v >> shifts[0]
            s0 = np.uint64(vpn0 & set_mask[0])  # an index: unsigned, no negative-index test
            if (size[i] == 0 and last_vpn[s0] == vpn0 and last_pfn[s0] == np.int64(pfn[i])
                    and last_perm[s0] == np.int64(perms[i])):
                o_hit[i] = 1
                continue
            if size[i] == 0:  # after this access, its entry is the set's most recent
                last_vpn[s0] = vpn0
                last_pfn[s0] = np.int64(pfn[i])
                last_perm[s0] = np.int64(perms[i])
            else:  # its lookup may touch the set, its fill goes elsewhere: forget the set
                last_vpn[s0] = -1
        hit_array, hit_set, hit_way = -1, 0, 0
        for a in range(3):
            ways = n_ways[a]
            if ways == 0:
                continue
            vpn = v >> shifts[a]
            s = vpn & set_mask[a]
            w = _find(valid, glob, evpid, epcid, etag, a, s, ways, vpn >> set_bits[a], vp, pc)
            if w >= 0:
                o_hit[i] = 1
                _touch(repl, clock, a, s, w, policy[a], log2ways[a])
                hit_array, hit_set, hit_way = a, s, w
                break
        a = np.int64(size[i])
        if a < 0:
            continue
        # A fill into the entry the lookup just hit, writing what it holds already, changes
        # nothing: the entry is the set's most recent either way (LRU keeps only the order,
        # a PLRU touch is idempotent). Skipping it is most of a hit-heavy replay's time.
        if (a == hit_array and glob[a, hit_set, hit_way] == gl
                and epcid[a, hit_set, hit_way] == pc
                and epfn[a, hit_set, hit_way] == np.int64(pfn[i]) >> (shifts[a] - 12)
                and eperms[a, hit_set, hit_way] == perms[i]):
            continue
        ways = n_ways[a]
        vpn = v >> shifts[a]
        s = vpn & set_mask[a]
        tag = vpn >> set_bits[a]
        w = _find(valid, glob, evpid, epcid, etag, a, s, ways, tag, vp, pc)
        if w < 0:
            for u in range(ways):
                if not valid[a, s, u]:
                    w = u
                    break
            if w < 0:
                w = _policy_victim(repl, lfsr, a, s, ways, policy[a], log2ways[a])
                evictions += 1
        valid[a, s, w] = 1
        glob[a, s, w] = gl
        evpid[a, s, w] = vp
        epcid[a, s, w] = pc
        etag[a, s, w] = tag
        epfn[a, s, w] = np.int64(pfn[i]) >> (shifts[a] - 12)
        eperms[a, s, w] = perms[i]
        _touch(repl, clock, a, s, w, policy[a], log2ways[a])
    return evictions


class TLBModel(TLBFrontend):
    """Behavioural TLB over numpy state; ``run`` applies a batch in one compiled call.

    >>> from hwmodels.tlb.params import TLBArrayParams, TLBParams
    >>> tlb = TLBModel(TLBParams(l4k=TLBArrayParams(16, 4)))
    >>> tlb.lookup(0x5123).hit
    0
    >>> tlb.fill(0x5000, pfn=0x77, perms=3).way
    0
    >>> e = tlb.lookup(0x5123); (e.hit, hex(e.pfn), e.perms)
    (1, '0x77', 3)
    >>> tlb.invalidate_address(0x5fff).inv
    1
    """

    def __init__(self, params: TLBParams) -> None:
        self.params = params
        arrays = params.arrays
        self._cfg = np.array(
            [
                [
                    a.ways,
                    max(a.sets, 1),
                    a.set_bits,
                    POLICIES.index(a.policy),
                    max(a.ways - 1, 0).bit_length(),
                ]
                for a in arrays
            ],
            dtype=np.int64,
        )
        self._shape = (3, max(a.sets for a in arrays), max(params.max_ways, 1))
        self.reset()

    def reset(self) -> None:
        """Power-on state: all invalid, LRU order by way, PLRU bits 0, LFSR at the seed."""
        shape = self._shape
        self.valid = np.zeros(shape, dtype=np.uint8)
        self.glob = np.zeros(shape, dtype=np.uint8)
        self.vpid = np.zeros(shape, dtype=np.int64)
        self.pcid = np.zeros(shape, dtype=np.int64)
        self.tag = np.zeros(shape, dtype=np.int64)
        self.pfn = np.zeros(shape, dtype=np.int64)
        self.perms = np.zeros(shape, dtype=np.uint8)
        # Replacement state: LRU last-use times (power-on: way w at time -w), PLRU tree bits.
        self.repl = np.zeros(shape, dtype=np.int64)
        for a, arr in enumerate(self.params.arrays):
            if arr.policy == "lru":
                self.repl[a, :, :] = -np.arange(shape[2])
        self.clock = np.zeros(3, dtype=np.int64)
        self.lfsr = np.full(3, self.params.lfsr_seed, dtype=np.int64)

    def lookup_fill(self, va: np.ndarray, vpid: int, pcid: int, size: np.ndarray,
                    pfn: np.ndarray, perms: np.ndarray,
                    glob: bool = False) -> tuple[np.ndarray, int]:
        """Per access, a LOOKUP then a FILL of array ``size`` (none where it is negative),
        global when ``glob``, for one VPID and PCID: exactly what :meth:`run` does with the
        ``LOOKUP, FILL`` pairs, without building them (the replay's fast path). Returns each
        lookup's hit flag and the number of evictions. Operands are trusted (no checks).

        >>> m = TLBModel(TLBParams())
        >>> va = np.array([0x1000, 0x1000, 0x2000], dtype=np.uint64)
        >>> hit, evicted = m.lookup_fill(va, 0, 0, np.zeros(3, np.int64),
        ...                              np.array([5, 5, 6], np.uint64), np.ones(3, np.uint8))
        >>> hit.tolist(), evicted
        ([0, 1, 0], 0)
        """
        p = self.params
        n = len(va)
        hit = np.zeros(n, dtype=np.uint8)
        evictions = _lookup_fill_kernel(
            self._cfg, np.int64(vpid) & ((1 << p.vpid_bits) - 1),
            np.int64(pcid) & ((1 << p.pcid_bits) - 1), np.uint8(1 if glob else 0),
            self.valid, self.glob, self.vpid, self.pcid, self.tag, self.pfn, self.perms,
            self.repl, self.lfsr, self.clock,
            np.ascontiguousarray(va, dtype=np.uint64), np.ascontiguousarray(size, np.int64),
            np.ascontiguousarray(pfn, dtype=np.uint64), np.ascontiguousarray(perms, np.uint8),
            hit)
        return hit, int(evictions)

    def run(self, ops: OpBatch, check: bool = True) -> EventBatch:
        """Apply a batch; ``check=False`` skips operand validation (trusted callers only)."""
        if check:
            ops.check(self.params)
        ev = EventBatch.zeros(len(ops))
        p = self.params
        _run_kernel(
            self._cfg, (1 << p.vpid_bits) - 1, (1 << p.pcid_bits) - 1,
            self.valid, self.glob, self.vpid, self.pcid, self.tag, self.pfn, self.perms,
            self.repl, self.lfsr, self.clock,
            *ops.columns().values(),
            *ev.columns().values(),
        )
        return ev

    def entries(self) -> list[dict[str, int]]:
        """Valid entries, readable (for debugging and tests).

        >>> from hwmodels.tlb.params import TLBArrayParams, TLBParams
        >>> tlb = TLBModel(TLBParams(l4k=TLBArrayParams(4, 2)))
        >>> _ = tlb.fill(0x3000, pfn=9, vpid=1, pcid=2)
        >>> tlb.entries()
        [{'size': 0, 'set': 1, 'way': 0, 'vpn': 3, 'vpid': 1, 'pcid': 2, 'glob': 0, 'pfn': 9, 'perms': 1}]
        """  # noqa: E501
        out = []
        for a, s, w in zip(*np.nonzero(self.valid), strict=True):
            bits = self.params.arrays[a].set_bits
            out.append(
                {
                    "size": int(a),
                    "set": int(s),
                    "way": int(w),
                    "vpn": int(self.tag[a, s, w]) << bits | int(s),
                    "vpid": int(self.vpid[a, s, w]),
                    "pcid": int(self.pcid[a, s, w]),
                    "glob": int(self.glob[a, s, w]),
                    "pfn": int(self.pfn[a, s, w]) << (PAGE_SHIFTS[a] - 12),
                    "perms": int(self.perms[a, s, w]),
                }
            )
        return out
