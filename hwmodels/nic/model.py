"""Behavioural NIC: the reference the RTL is judged against.

State is numpy arrays; one compiled kernel (numba, ``cache=True``) applies a batch. Semantics
(also those of the RTL, ``hwmodels.nic.rtl``; operations in ``hwmodels.nic.ops``):

- **Classifier.** A filter write is refused (``DENIED``) unless its queue set is aligned to
  its size and lies in the pool of an existing function, no larger than that pool. A frame
  whose VLAN bit is off in the VLAN table (or whose VLAN is at or above ``vlans``) is dropped.
  Otherwise the lowest valid filter with equal MAC and VLAN gives a queue set
  ``base .. base + 2**k - 1`` and the queue is ``base | toeplitz(flow) & (2**k - 1)``; with no
  match the frame goes to the default queue (power-on: queue 0). The hash is Toeplitz over
  the 64-bit flow key with the Microsoft RSS verification key (``RSS_KEY``), as NICs hash an
  IPv4 source/destination pair.
- **Rings.** Per queue a receive and a transmit ring of ``ring_size`` slots; head and tail are
  slot numbers, the ring holds ``tail - head (mod size)`` descriptors (so at most size - 1).
  A frame for an empty receive ring is dropped (``DROP_NO_DESC``). A consumed descriptor
  advances the head whether or not its DMA is allowed. Transmit slots serve the next non-empty
  transmit ring after the last one served (round robin; power-on: as if queue ``queues - 1``
  had just been served), each ring in order.
- **DMA.** The buffer address is translated in the domain of the queue's owner through the
  IOTLB (one 4 KiB array with the semantics of ``hwmodels.tlb``: the RTL reuses that array,
  the domain as its VM tag; lowest matching way, LRU/PLRU/LFSR-random replacement). On a miss
  the IOMMU walks that domain's I/O page table (``iommu_levels`` references) and a present
  entry is filled (lowest invalid way, else the policy's victim); absent entries are not
  cached. The DMA happens only if the page is present with the needed permission (W to
  receive, R to transmit); otherwise ``FAULT`` and nothing is written.
- **Interrupts.** Vector ``q`` counts completions of queue ``q`` (saturating at
  ``irq_threshold``). In cycle ``c`` a vector is eligible when unmasked, its count is non-zero,
  and either ``c`` is at least ``itr_cycles`` (min 1) after its last interrupt or its count has
  reached the threshold. The lowest eligible vector fires (one interrupt per cycle, as MSI-X
  messages leave one at a time); firing clears its count. Decisions in cycle ``c`` see the
  state from before the operation of cycle ``c``; that operation's completion counts from
  ``c + 1``.

Helpers are inlined into the kernel (numba passes each array as a struct of scalars, so a call
per operation would dominate). The kernel is event-driven: it never steps idle cycles. Eligible
vectors and non-empty transmit rings are bitmaps (lowest set bit by De Bruijn lookup), and
throttle expiries come from a FIFO (see ``_fire_until``).
"""

from __future__ import annotations

import numba
import numpy as np

from hwmodels.nic.ops import NICFrontend, NICResult, OpBatch
from hwmodels.nic.params import POLICIES, NICParams, clog2
from hwmodels.tlb.model import LFSR_TAPS
from hwmodels.tlb.params import TLBParams

RSS_KEY = bytes.fromhex(
    "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa"
)
"""The 40-byte Microsoft RSS verification key."""

_KEY = int.from_bytes(RSS_KEY, "big")
TOEPLITZ_WINDOWS = np.array(
    [(_KEY >> (len(RSS_KEY) * 8 - 32 - i)) & 0xFFFFFFFF for i in range(64)], dtype=np.int64
)
"""32-bit key window XORed in for flow-key bit ``63 - i`` (bit 0 is the first input bit)."""


def toeplitz(flow: int) -> int:
    """Toeplitz hash of a 64-bit flow key (IPv4 source << 32 | IPv4 destination).

    The Microsoft RSS verification vector: 66.9.149.187 -> 161.142.100.80 hashes to 0x323e8fc2.

    >>> hex(toeplitz(0x420995bb_a18e6450))
    '0x323e8fc2'
    """
    h = 0
    for i in range(64):
        if (flow >> (63 - i)) & 1:
            h ^= int(TOEPLITZ_WINDOWS[i])
    return h


def _byte_tables() -> np.ndarray:
    # Toeplitz is linear over GF(2): the hash of a key is the XOR of the hashes of its bytes.
    t = np.zeros((8, 256), dtype=np.int64)
    for k in range(8):
        for b in range(256):
            t[k, b] = toeplitz(b << (8 * k))
    return t


TOEPLITZ_BYTES = _byte_tables()
"""``TOEPLITZ_BYTES[k, b]`` is the hash of byte ``b`` at byte ``k`` (from the low end)."""


@numba.njit(cache=True, inline="always")
def _toeplitz(flow, tables):
    h = 0
    for k in range(8):
        h ^= tables[k, (flow >> (8 * k)) & 0xFF]
    return h


# Scalar configuration (cfg) and scalar state (regs) slots.
_LRU, _PLRU = POLICIES.index("lru"), POLICIES.index("plru")

(_Q, _R, _QPF_BITS, _THR, _ITR, _VLANS, _FUNCS, _SETS, _SETBITS, _WAYS, _POLICY, _LOG2W,
 _VPIDMASK, _LEVELS, _PAGES, _HMASK, _QPF, _VPBITS) = range(18)
_NOW, _DEFQ, _RR, _FH, _FN, _DIRTY = range(6)


@numba.njit(cache=True, inline="always")
def _key_slot(key, hmask):
    h = (key ^ (key >> 29)) * np.int64(-7046029254386353131)
    return (h >> 20) & hmask


@numba.njit(cache=True)
def _rebuild_filters(fvalid, fmac, fvlan, hkey, hidx, hmask):
    # An open-addressing table of (mac, vlan) -> lowest valid filter index, standing in for
    # the CAM; rebuilt on every filter write (rare next to frames).
    hkey[:] = 0
    hidx[:] = -1
    for f in range(len(fvalid)):
        if not fvalid[f]:
            continue
        key = (fmac[f] << 12) | fvlan[f]
        s = _key_slot(key, hmask)
        while hkey[s] != 0 and hkey[s] != key + 1:
            s = (s + 1) & hmask
        if hkey[s] == 0:
            hkey[s] = key + 1
            hidx[s] = f


@numba.njit(cache=True, inline="always")
def _filter_lookup(key, hkey, hidx, hmask):
    s = _key_slot(key, hmask)
    while hkey[s] != 0:
        if hkey[s] == key + 1:
            return hidx[s]
        s = (s + 1) & hmask
    return -1


# Bitmaps over queues, 32 bits per int64 word (so products stay positive).
_DEBRUIJN = np.array([0, 1, 28, 2, 29, 14, 24, 3, 30, 22, 20, 15, 25, 17, 4, 8, 31, 27, 13, 23,
                      21, 19, 16, 7, 26, 12, 18, 6, 11, 5, 10, 9], dtype=np.int64)


@numba.njit(cache=True, inline="always")
def _ctz32(x):
    return _DEBRUIJN[(((x & -x) * 0x077CB531) & 0xFFFFFFFF) >> 27]


@numba.njit(cache=True, inline="always")
def _bit(bm, v, on):
    if on:
        bm[v >> 5] |= np.int64(1) << (v & 31)
    else:
        bm[v >> 5] &= ~(np.int64(1) << (v & 31))


@numba.njit(cache=True, inline="always")
def _lowest(bm):
    for w in range(len(bm)):
        if bm[w]:
            return (w << 5) + _ctz32(bm[w])
    return -1


@numba.njit(cache=True, inline="always")
def _next_from(bm, start, n):
    """Lowest set bit at or after ``start``, wrapping around ``n`` bits; -1 if none."""
    if start >= n:
        start = 0
    w0 = start >> 5
    x = bm[w0] & ~((np.int64(1) << (start & 31)) - 1)
    if x:
        return (w0 << 5) + _ctz32(x)
    nw = len(bm)
    for k in range(1, nw + 1):
        w = (w0 + k) % nw
        x = bm[w]
        if k == nw:
            x &= (np.int64(1) << (start & 31)) - 1
        if x:
            return (w << 5) + _ctz32(x)
    return -1


# Interrupt state rows, and the timer FIFO. Every interrupt sets its vector's ready time to
# (now + itr); interrupts happen in time order, so ready times enter a FIFO already sorted and
# a timer expiry is the FIFO's head -- no per-cycle countdown, no scan over the vectors.
# Per-queue state is one row of ``qs`` (64 bytes, one cache line): receive and transmit head,
# receive and transmit tail, then the vector's pending count, ready time, mask and expired bit.
_PEND, _READY, _MASK, _EXPIRED = range(4, 8)


@numba.njit(cache=True, inline="always")
def _maybe_eligible(cfg, regs, qs, elig, v):
    if qs[v, _PEND] > 0 and not qs[v, _MASK] and (qs[v, _EXPIRED] or
                                                  qs[v, _PEND] >= cfg[_THR]):
        _bit(elig, v, True)
        regs[_DIRTY] = 1


@numba.njit(cache=True, inline="always")
def _fire_until(cfg, regs, qs, elig, fifo, cur, limit, irq_c, irq_v, n_irq):
    """Raise the interrupts of cycles ``cur .. limit - 1``; (interrupts so far, next cycle)."""
    cap = fifo.shape[1]
    while True:
        while regs[_FN] > 0 and fifo[0, regs[_FH]] <= cur:
            r, v = fifo[0, regs[_FH]], fifo[1, regs[_FH]]
            regs[_FH] = regs[_FH] + 1 if regs[_FH] + 1 < cap else 0
            regs[_FN] -= 1
            if qs[v, _READY] == r:
                qs[v, _EXPIRED] = 1
                _maybe_eligible(cfg, regs, qs, elig, v)
        v = _lowest(elig)
        if v < 0:
            regs[_DIRTY] = 0
            # Nothing eligible now: jump to the next timer expiry that arms a vector.
            found = False
            while regs[_FN] > 0 and fifo[0, regs[_FH]] < limit:
                r, u = fifo[0, regs[_FH]], fifo[1, regs[_FH]]
                regs[_FH] = regs[_FH] + 1 if regs[_FH] + 1 < cap else 0
                regs[_FN] -= 1
                if qs[u, _READY] == r:
                    qs[u, _EXPIRED] = 1
                    _maybe_eligible(cfg, regs, qs, elig, u)
                    if qs[u, _PEND] > 0 and not qs[u, _MASK]:
                        cur = r
                        found = True
                        break
            if not found:
                return n_irq, cur
            continue  # admit the other expiries of that cycle before choosing
        if cur >= limit:
            return n_irq, cur
        irq_c[n_irq] = cur
        irq_v[n_irq] = v
        n_irq += 1
        _bit(elig, v, False)
        qs[v, _PEND] = 0
        qs[v, _EXPIRED] = 0
        qs[v, _READY] = cur + cfg[_ITR]
        tail = regs[_FH] + regs[_FN]
        if tail >= cap:
            tail -= cap
        fifo[0, tail] = qs[v, _READY]
        fifo[1, tail] = v
        regs[_FN] += 1
        cur += 1


# The IOTLB's replacement, as ``hwmodels.tlb`` documents it for one array (the RTL reuses that
# array): LRU ranks (0 = most recent), a PLRU tree (bit 0 sends the victim left), a Galois LFSR.
@numba.njit(cache=True, inline="always")
def _find(tkey, s, ways, key):
    # ``tkey`` mirrors (valid, tag, vp) of every way as one word: 0 when invalid, else
    # ``(tag << vp_bits | vp) + 1`` -- one compare per way instead of three loads.
    for w in range(ways):
        if tkey[s, w] == key:
            return w
    return -1


@numba.njit(cache=True, inline="always")
def _touch(repl, s, w, ways, policy, log2ways):
    if policy == _LRU:
        rank = repl[0, s, w]
        for v in range(ways):
            if repl[0, s, v] < rank:
                repl[0, s, v] += 1
        repl[0, s, w] = 0
    elif policy == _PLRU:
        for d in range(log2ways):
            node = (1 << d) - 1 + (w >> (log2ways - d))
            repl[0, s, node] = 1 - ((w >> (log2ways - 1 - d)) & 1)


@numba.njit(cache=True, inline="always")
def _victim(repl, lfsr, s, ways, policy, log2ways):
    if policy == _LRU:
        for v in range(ways):
            if repl[0, s, v] == ways - 1:
                return v
        return 0  # unreachable while ranks stay a permutation
    if policy == _PLRU:
        node = 0
        w = 0
        for _ in range(log2ways):
            bit = np.int64(repl[0, s, node])
            w = (w << 1) | bit
            node = 2 * node + 1 + bit
        return w
    state = lfsr[0]
    lfsr[0] = (state >> 1) ^ (LFSR_TAPS if state & 1 else 0)
    return (state * ways) >> 16


@numba.njit(cache=True, inline="always")
def _translate(cfg, tv, tkey, tvp, ttag, tpfn, tperm, trepl, tlfsr,
               pt, dom, iova, need):
    """(allowed, hit, walk refs, physical address) of one DMA."""
    page = iova >> 12
    s = page & (cfg[_SETS] - 1)
    tag = page >> cfg[_SETBITS]
    vp = dom & cfg[_VPIDMASK]
    ways = cfg[_WAYS]
    key = ((tag << cfg[_VPBITS]) | vp) + 1
    w = _find(tkey, s, ways, key)
    if w >= 0:
        _touch(trepl, s, w, ways, cfg[_POLICY], cfg[_LOG2W])
        perm = np.int64(tperm[0, s, w])
        pfn = tpfn[0, s, w]
        return (perm & need) != 0, 1, 0, (pfn << 12) | (iova & 0xFFF)
    e = dom * cfg[_PAGES] + page
    pte = pt[e]
    if not pte & 1:
        return False, 0, cfg[_LEVELS], 0
    for u in range(ways):
        if not tv[0, s, u]:
            w = u
            break
    if w < 0:
        w = _victim(trepl, tlfsr, s, ways, cfg[_POLICY], cfg[_LOG2W])
    tv[0, s, w] = 1
    tkey[s, w] = key
    tvp[0, s, w] = vp
    ttag[0, s, w] = tag
    tpfn[0, s, w] = pte >> 3
    tperm[0, s, w] = (pte >> 1) & 3
    _touch(trepl, s, w, ways, cfg[_POLICY], cfg[_LOG2W])
    return ((pte >> 1) & need) != 0, 0, cfg[_LEVELS], ((pte >> 3) << 12) | (iova & 0xFFF)


@numba.njit(cache=True, inline="always")
def _complete(cfg, regs, qs, elig, q):
    if qs[q, _PEND] < cfg[_THR]:
        qs[q, _PEND] += 1
    _maybe_eligible(cfg, regs, qs, elig, q)


@numba.njit(cache=True, _nrt=False)
def _run_kernel(
    cfg_arr, regs, windows,
    fvalid, fmac, fvlan, fbase, fbits, hkey, hidx, vlan_on,
    qs, desc, elig, fifo, txne,
    tv, tkey, tvp, ttag, tpfn, tperm, trepl, tlfsr, pt,
    cycle, op, fn, queue, ring, slot, addr, mac, vlan, flow, index, enable, arg, pfn, domain,
    end,
    o_status, o_queue, o_fn, o_slot, o_hit, o_refs, o_dma, irq_c, irq_v,
):
    # Configuration as a tuple of scalars: loads from an array could alias the state arrays
    # written below, so the compiler would re-read them for every operation.
    cfg = (cfg_arr[0], cfg_arr[1], cfg_arr[2], cfg_arr[3], cfg_arr[4], cfg_arr[5], cfg_arr[6],
           cfg_arr[7], cfg_arr[8], cfg_arr[9], cfg_arr[10], cfg_arr[11], cfg_arr[12],
           cfg_arr[13], cfg_arr[14], cfg_arr[15], cfg_arr[16], cfg_arr[17])
    nq = cfg[_Q]
    rs = cfg[_R]
    qb = cfg[_QPF_BITS]
    n_irq = 0
    cur = regs[_NOW]
    for i in range(len(op)):
        t = cycle[i]
        # Only when something is eligible or a throttle interval has run out.
        if regs[_DIRTY] or (regs[_FN] > 0 and fifo[0, regs[_FH]] <= t):
            n_irq, cur = _fire_until(cfg, regs, qs, elig, fifo, cur, t + 1, irq_c, irq_v,
                                     n_irq)
        cur = t + 1
        o = op[i]
        if o == 1 or o == 2:  # RX, TX
            r = o - 1
            q = -1
            if o == 1:
                vl = vlan[i]
                if vl >= cfg[_VLANS] or not vlan_on[vl]:
                    o_status[i] = 2
                else:
                    f = _filter_lookup((mac[i] << 12) | vl, hkey, hidx, cfg[_HMASK])
                    if f >= 0:
                        h = _toeplitz(flow[i], windows)
                        q = fbase[f] | (h & ((np.int64(1) << fbits[f]) - 1))
                    else:
                        q = regs[_DEFQ]
                    o_queue[i] = q
                    o_fn[i] = q >> qb
                    if qs[q, 0] == qs[q, 2]:
                        o_status[i] = 3
                        q = -1
            else:
                q = _next_from(txne, regs[_RR] + 1, nq)
                if q >= 0:
                    regs[_RR] = q
                    o_queue[i] = q
                    o_fn[i] = q >> qb
            if q >= 0:
                s = qs[q, r]
                qs[q, r] = (s + 1) & (rs - 1)
                if r == 1:
                    _bit(txne, q, qs[q, 1] != qs[q, 3])
                o_slot[i] = s
                ok, hit, refs, pa = _translate(
                    cfg, tv, tkey, tvp, ttag, tpfn, tperm, trepl, tlfsr,
                    pt, q >> qb, np.int64(desc[q, r, s]), 2 - r)
                o_hit[i] = hit
                o_refs[i] = refs
                if ok:
                    o_status[i] = 1
                    o_dma[i] = pa
                    _complete(cfg, regs, qs, elig, q)
                else:
                    o_status[i] = 4
        elif o == 3 or o == 4 or o == 5:  # DESC, DOORBELL, IRQ_MASK: owner only
            q = queue[i]
            if (q >> qb) != fn[i]:
                o_status[i] = 5
            elif o == 3:
                desc[q, ring[i], slot[i]] = addr[i]
            elif o == 4:
                qs[q, 2 + ring[i]] = slot[i]
                if ring[i] == 1:
                    _bit(txne, q, qs[q, 1] != qs[q, 3])
            else:
                qs[q, _MASK] = enable[i]
                if enable[i]:
                    _bit(elig, q, False)
                else:
                    _maybe_eligible(cfg, regs, qs, elig, q)
        elif o >= 6:  # configuration: PF / host only
            if fn[i] != 0:
                o_status[i] = 5
            elif o == 6:
                k = arg[i]
                if (
                    (np.int64(1) << k) > cfg[_QPF]
                    or (queue[i] & ((np.int64(1) << k) - 1)) != 0
                    or (queue[i] >> qb) >= cfg[_FUNCS]
                ):
                    o_status[i] = 5
                else:
                    f = index[i]
                    fvalid[f] = enable[i]
                    fmac[f] = mac[i]
                    fvlan[f] = vlan[i]
                    fbase[f] = queue[i]
                    fbits[f] = k
                    _rebuild_filters(fvalid, fmac, fvlan, hkey, hidx, cfg[_HMASK])
            elif o == 7:
                if vlan[i] >= cfg[_VLANS]:
                    o_status[i] = 5
                else:
                    vlan_on[vlan[i]] = enable[i]
            elif o == 8:
                if queue[i] >= cfg[_QPF]:
                    o_status[i] = 5
                else:
                    regs[_DEFQ] = queue[i]
            elif o == 9:
                e = domain[i] * cfg[_PAGES] + (addr[i] >> 12)
                pt[e] = (pfn[i] << 3) | ((arg[i] & 3) << 1) | enable[i]
            elif o == 10 or o == 11:
                vp = domain[i] & cfg[_VPIDMASK]
                page = addr[i] >> 12
                for s in range(cfg[_SETS]):
                    if o == 10 and s != (page & (cfg[_SETS] - 1)):
                        continue
                    for w in range(cfg[_WAYS]):
                        if tv[0, s, w] and tvp[0, s, w] == vp and (
                            o == 11 or ttag[0, s, w] == page >> cfg[_SETBITS]
                        ):
                            tv[0, s, w] = 0
                            tkey[s, w] = 0
    if len(op):
        regs[_NOW] = cycle[len(op) - 1] + 1
    n_irq, cur = _fire_until(cfg, regs, qs, elig, fifo, cur, end, irq_c, irq_v, n_irq)
    if end > regs[_NOW]:
        regs[_NOW] = end
    return n_irq


def iotlb_params(p: NICParams) -> TLBParams:
    """The IOTLB as a ``hwmodels.tlb`` TLB: one 4 KiB array, the domain as its VM tag."""
    from hwmodels.tlb.params import DISABLED, TLBArrayParams

    return TLBParams(
        l4k=TLBArrayParams(p.iotlb_entries, p.iotlb_ways, p.iotlb_policy),
        l2m=DISABLED,
        l1g=DISABLED,
        pa_bits=p.pa_bits,
        vpid_bits=p.domain_tag_bits,
        pcid_bits=0,
    )


class NICModel(NICFrontend):
    """Behavioural NIC over numpy state; ``run`` applies a batch in one compiled call.

    >>> from hwmodels.nic.ops import NICOp, Status
    >>> nic = NICModel(NICParams(queues=4, filters=2, ring_size=4, iova_bits=16,
    ...                          iotlb_entries=8))
    >>> ev = nic.configure([NICOp.vlan_enable(0), NICOp.map(0, 0x3000, pfn=0x42)])
    >>> nic.rx(0xAA).status == Status.DROP_NO_DESC
    True
    >>> _ = nic.post(0, [0x3100])
    >>> e = nic.rx(0xAA); (e.status == Status.OK, e.queue, hex(e.dma_addr), e.walk_refs)
    (True, 0, '0x42100', 4)
    >>> nic.idle(3)  # the first interrupt is not throttled
    [(6, 0)]
    """

    def __init__(self, params: NICParams) -> None:
        self.params = params
        p = params
        tp = iotlb_params(p)
        arr = tp.l4k
        self._hsize = 1 << (clog2(p.filters) + 2)
        self._cfg = np.array(
            [
                p.queues, p.ring_size, clog2(p.queues_per_function), p.irq_threshold,
                max(p.itr_cycles, 1), p.vlans, p.functions, arr.sets, arr.set_bits, arr.ways,
                POLICIES.index(arr.policy), clog2(arr.ways), (1 << tp.vpid_bits) - 1,
                p.iommu_levels, 1 << p.page_bits, self._hsize - 1, p.queues_per_function,
                tp.vpid_bits,
            ],
            dtype=np.int64,
        )
        self._lfsr_seed = tp.lfsr_seed
        self.reset()

    def reset(self) -> None:
        """Power-on state at cycle 0: everything empty, invalid, disabled or zero."""
        p = self.params
        q, r, f = p.queues, p.ring_size, p.filters
        self.now = 0
        self._tails: dict[tuple[int, int], int] = {}
        self.regs = np.array([0, 0, q - 1, 0, 0, 0], dtype=np.int64)
        self.fvalid = np.zeros(f, dtype=np.int64)
        self.fmac = np.zeros(f, dtype=np.int64)
        self.fvlan = np.zeros(f, dtype=np.int64)
        self.fbase = np.zeros(f, dtype=np.int64)
        self.fbits = np.zeros(f, dtype=np.int64)
        self.hkey = np.zeros(self._hsize, dtype=np.int64)
        self.hidx = np.full(self._hsize, -1, dtype=np.int64)
        self.vlan_on = np.zeros(p.vlans, dtype=np.uint8)
        self.qs = np.zeros((q, 8), dtype=np.int64)
        self.head = self.qs[:, 0:2]  # views, for drivers and tests to read
        self.tail = self.qs[:, 2:4]
        # I/O virtual addresses are below 2**32 (iova_bits <= 32): half the cache footprint.
        self.desc = np.zeros((q, 2, r), dtype=np.uint32)
        self.irq = self.qs[:, 4:8].T  # rows: pending, ready, mask, expired
        self.qs[:, _EXPIRED] = 1  # power-on: no interrupt to wait after
        words = (q + 31) // 32
        self.elig = np.zeros(words, dtype=np.int64)
        self.txne = np.zeros(words, dtype=np.int64)
        # One interrupt per cycle: at most itr of them are still in their throttle interval.
        self.fifo = np.zeros((2, max(p.itr_cycles, 1) + 2), dtype=np.int64)
        sets, ways = int(self._cfg[_SETS]), int(self._cfg[_WAYS])
        shape = (1, sets, ways)
        self.tlb = {
            "valid": np.zeros(shape, dtype=np.uint8),
            "glob": np.zeros(shape, dtype=np.uint8),
            "vpid": np.zeros(shape, dtype=np.int64),
            "pcid": np.zeros(shape, dtype=np.int64),
            "tag": np.zeros(shape, dtype=np.int64),
            "pfn": np.zeros(shape, dtype=np.int64),
            "perms": np.zeros(shape, dtype=np.uint8),
            "repl": np.zeros(shape, dtype=np.uint8),
            "lfsr": np.full(1, self._lfsr_seed, dtype=np.int64),
        }
        # (valid, tag, vpid) packed per way for the lookup (see ``_find``); kept in step.
        self._tkey = np.zeros((sets, ways), dtype=np.int64)
        if p.iotlb_policy == "lru":
            self.tlb["repl"][0, :, :] = np.arange(ways, dtype=np.uint8)
        n_pt = p.pools << p.page_bits
        # I/O page-table entries packed as pfn << 3 | perms << 1 | present: one load per walk.
        self.pt = np.zeros(n_pt, dtype=np.int64)

    def run(self, ops: OpBatch, until: int | None = None, check: bool = True) -> NICResult:
        """Apply a batch; ``check=False`` skips operand validation (trusted callers only)."""
        if check:
            ops.check(self.params, self.now)
        n = len(ops)
        end = until if until is not None else (int(ops.cycle[-1]) + 1 if n else self.now)
        if n and end <= int(ops.cycle[-1]):
            raise ValueError(f"until: expected > {int(ops.cycle[-1])}, got {end}")
        res = NICResult.zeros(n)
        # Every interrupt clears a non-zero completion count: at most one per RX/TX operation,
        # plus one per vector for completions from earlier batches. Bounded by one per
        # operation instead of counting them; ``np.empty`` leaves the pages never written
        # unmapped, so the slack costs address space only, and the result is a view (no copy).
        irq_c = np.empty(n + self.params.queues, dtype=np.int64)
        irq_v = np.empty_like(irq_c)
        c = ops.cols
        t = self.tlb
        n_irq = _run_kernel(
            self._cfg, self.regs, TOEPLITZ_BYTES,
            self.fvalid, self.fmac, self.fvlan, self.fbase, self.fbits, self.hkey, self.hidx,
            self.vlan_on, self.qs, self.desc, self.elig, self.fifo,
            self.txne,
            t["valid"], self._tkey, t["vpid"], t["tag"], t["pfn"], t["perms"],
            t["repl"], t["lfsr"], self.pt,
            c["cycle"], c["op"], c["fn"], c["queue"], c["ring"], c["slot"], c["addr"], c["mac"],
            c["vlan"], c["flow"].view(np.int64), c["index"], c["enable"], c["arg"], c["pfn"],
            c["domain"], np.int64(end),
            *res.events.values(), irq_c, irq_v,
        )
        self.now = int(self.regs[_NOW])
        return NICResult(res.events, irq_c[:n_irq], irq_v[:n_irq])
