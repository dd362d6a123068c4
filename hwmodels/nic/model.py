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
  ``irq_threshold``, at 1 when it is 0). In cycle ``c`` a vector is eligible when unmasked,
  its count is non-zero, and either ``c`` is at least ``itr_cycles`` (min 1) after its last
  interrupt or (with a threshold above 0) its count has reached the threshold. With
  ``irq_threshold`` 0 the throttle is a hard rate cap, as the ITR of e1000e and ixgbe: at most
  one interrupt per ``itr_cycles``. The lowest eligible vector fires (one interrupt per cycle,
  as MSI-X messages leave one at a time); firing clears its count. A masked vector still
  counts; unmasking it with ``arg`` bit 0 set also clears its count (NAPI's re-arm: the
  driver's poll took those completions, so they raise nothing). Decisions in cycle ``c`` see
  the state from before the operation of cycle ``c``; that operation's completion counts from
  ``c + 1``.

Helpers are inlined into the kernel (numba passes each array as a struct of scalars, so a call
per operation would dominate). The kernel is event-driven: it never steps idle cycles. Eligible
vectors and non-empty transmit rings are bitmaps (lowest set bit by De Bruijn lookup), and
throttle expiries come from a ring of interrupt times (see ``_fire_until``). Its common cases
take shortcuts that give the same events as the general path (the RTL differential tests and
``tests/hwmodels/nic/test_model_fastpath.py`` hold them to it): a completion that leaves its
vector the only eligible one raises the interrupt of the next cycle at once; a throttle interval
running out matters only if its vector waits on it; the IOTLB's LRU order is kept as use stamps
(a touch is one store) rather than ranks.
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


_TOEPLITZ_LOW = (TOEPLITZ_BYTES & 0xFFFF).astype(np.uint16)
# Only a queue index (< 4096) is ever taken from the hash: the low 16 bits of every byte's
# hash, 4 KiB of table instead of 16.

_u = np.uint64
# Array subscripts in the kernel go through ``_u``: numba skips the negative-index fix-up for
# unsigned indices (every index here is non-negative).


@numba.njit(cache=True, inline="always")
def _toeplitz_low(flow, tables):
    h = 0
    for k in range(8):
        h ^= tables[k, _u((flow >> (8 * k)) & 0xFF)]
    return h


# Scalar configuration (cfg) and scalar state (regs) slots.
_LRU, _PLRU = POLICIES.index("lru"), POLICIES.index("plru")

(_Q, _R, _QPF_BITS, _THR, _ITR, _VLANS, _FUNCS, _SETS, _SETBITS, _WAYS, _POLICY, _LOG2W,
 _VPIDMASK, _LEVELS, _PAGES, _HMASK, _QPF, _VPBITS) = range(18)
_NOW, _DEFQ, _RR, _RT, _WS, _DIRTY, _WAKE, _CLOCK = range(8)
_NEVER = np.int64(1) << 62


@numba.njit(cache=True, inline="always")
def _key_slot(key, hmask):
    h = (key ^ (key >> 29)) * np.int64(-7046029254386353131)
    return (h >> 20) & hmask


@numba.njit(cache=True)
def _rebuild_filters(fvalid, fmac, fvlan, fbase, fbits, htab, hmask):
    # An open-addressing table standing in for the CAM, rebuilt on every filter write (rare
    # next to frames): row ``(key + 1, base | spread mask << 16)`` of the lowest valid filter
    # with that (mac, vlan) key, so a lookup gives the queue set in the line it matched in.
    htab[:, :] = 0
    for f in range(len(fvalid)):
        if not fvalid[f]:
            continue
        key = (fmac[f] << 12) | fvlan[f]
        s = _key_slot(key, hmask)
        while htab[s, 0] != 0 and htab[s, 0] != key + 1:
            s = (s + 1) & hmask
        if htab[s, 0] == 0:
            htab[s, 0] = key + 1
            htab[s, 1] = fbase[f] | (((np.int64(1) << fbits[f]) - 1) << 16)


@numba.njit(cache=True, inline="always")
def _filter_lookup(key, htab, hmask):
    """``base | spread mask << 16`` of the matching filter, or -1."""
    s = _key_slot(key, hmask)
    while htab[_u(s), 0] != 0:
        if htab[_u(s), 0] == key + 1:
            return htab[_u(s), 1]
        s = (s + 1) & hmask
    return -1


# Bitmaps over queues, 32 bits per int64 word (so products stay positive).
_DEBRUIJN = np.array([0, 1, 28, 2, 29, 14, 24, 3, 30, 22, 20, 15, 25, 17, 4, 8, 31, 27, 13, 23,
                      21, 19, 16, 7, 26, 12, 18, 6, 11, 5, 10, 9], dtype=np.int64)


@numba.njit(cache=True, inline="always")
def _ctz32(x):
    return _DEBRUIJN[_u((((x & -x) * 0x077CB531) & 0xFFFFFFFF) >> 27)]


@numba.njit(cache=True, inline="always")
def _bit(bm, v, on):
    if on:
        bm[_u(v >> 5)] |= np.int64(1) << (v & 31)
    else:
        bm[_u(v >> 5)] &= ~(np.int64(1) << (v & 31))


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
    x = bm[_u(w0)] & ~((np.int64(1) << (start & 31)) - 1)
    if x:
        return (w0 << 5) + _ctz32(x)
    nw = len(bm)
    for k in range(1, nw + 1):
        w = (w0 + k) % nw
        x = bm[_u(w)]
        if k == nw:
            x &= (np.int64(1) << (start & 31)) - 1
        if x:
            return (w << 5) + _ctz32(x)
    return -1


# Interrupts. Per-queue state is one row of ``qs`` (64 bytes, one cache line): receive and
# transmit head, receive and transmit tail, then the vector's pending count, ready time (the
# first cycle its throttle interval has run out in), mask, and whether it is *waiting*: it has
# completions, is unmasked and below the threshold, but its interval has not run out yet.
# Eligible vectors are a bitmap. A waiting vector becomes eligible at its ready time: every
# interrupt writes (ready time, vector) into the next slot of a ring (``vslot`` remembers each
# vector's slot), and interrupts happen in time order, so ring order is time order. ``wake``
# is the earliest ready time a vector waits on (slot ``ws``), or ``_NEVER``: it only moves
# forward by scanning the ring from ``ws`` on, and back when a vector starts waiting -- no
# per-cycle countdown, no scan over the vectors, each ring entry visited about once.
# The ring holds ``itr + 2`` entries: an entry is overwritten ``itr + 2`` interrupts (cycles)
# after it was written, its interval long over, and no vector still waiting on it.
_PEND, _READY, _MASK, _WAIT = range(4, 8)


@numba.njit(cache=True, inline="always")
def _ready(cfg, qs, v, c):
    """Whether vector ``v``, with completions and unmasked, may fire in cycle ``c``."""
    return qs[_u(v), _READY] <= c or (cfg[_THR] > 0 and qs[_u(v), _PEND] >= cfg[_THR])


@numba.njit(cache=True, inline="always")
def _first_waiting(qs, timers, rt, k):
    """(ready time, slot) of the first ring entry from slot ``k`` to the newest that a vector
    waits on; ``_NEVER`` if none."""
    cap = timers.shape[1]
    while k != rt:
        v = timers[1, _u(k)]
        if qs[_u(v), _WAIT] and qs[_u(v), _READY] == timers[0, _u(k)]:
            return timers[0, _u(k)], k
        k = k + 1 if k + 1 < cap else 0
    return _NEVER, k


@numba.njit(cache=True, inline="always")
def _raise(cfg, qs, vslot, timers, rt, v, c, irq_c, irq_v, n_irq):
    """Vector ``v`` fires in cycle ``c``: record it, clear its count, start its throttle
    interval; the ring's next slot."""
    irq_c[n_irq] = c
    irq_v[n_irq] = v
    qs[_u(v), _PEND] = 0
    qs[_u(v), _READY] = c + cfg[_ITR]
    timers[0, _u(rt)] = c + cfg[_ITR]
    timers[1, _u(rt)] = v
    vslot[_u(v)] = rt
    return rt + 1 if rt + 1 < timers.shape[1] else 0


@numba.njit(cache=True, inline="always")
def _fire_until(cfg, qs, vslot, elig, timers, rt, wake, ws, cur, limit, irq_c, irq_v, n_irq):
    """Raise the interrupts of cycles ``cur .. limit - 1``; (interrupts so far, next cycle,
    ring's next slot, wake, its slot, whether a vector may still be eligible)."""
    while True:
        while wake <= cur:  # waiting vectors whose interval is over become eligible
            v = timers[1, _u(ws)]
            if qs[_u(v), _WAIT] and qs[_u(v), _READY] == wake:
                qs[_u(v), _WAIT] = 0
                _bit(elig, v, True)
            wake, ws = _first_waiting(qs, timers, rt, ws + 1 if ws + 1 < timers.shape[1] else 0)
        v = _lowest(elig)
        if v < 0:
            if wake < limit:
                cur = wake  # nothing eligible: jump to the next expiry a vector waits on
                continue
            return n_irq, cur, rt, wake, ws, 0
        if cur >= limit:
            return n_irq, cur, rt, wake, ws, 1
        _bit(elig, v, False)
        rt = _raise(cfg, qs, vslot, timers, rt, v, cur, irq_c, irq_v, n_irq)
        n_irq += 1
        cur += 1


# The IOTLB's replacement, as ``hwmodels.tlb`` documents it for one array (the RTL reuses that
# array): LRU (the RTL keeps ranks, 0 = most recent; here each way keeps the stamp of its last
# use from a running clock -- the least recently used way has the oldest stamp, the same order),
# a PLRU tree (bit 0 sends the victim left), a Galois LFSR.
# Each way is two words: ``tkey`` packs (valid, tag, domain) -- 0 when invalid, else
# ``(tag << vp_bits | domain) + 1`` -- so a lookup is one compare per way, and ``tpte`` holds
# the I/O page-table entry it caches (pfn << 3 | perms << 1 | present).
@numba.njit(cache=True, inline="always")
def _find(tkey, s, ways, key):
    # Lowest matching way, without a data-dependent exit (branches on random ways mispredict).
    found = -1
    for w in range(ways - 1, -1, -1):
        if tkey[_u(s), _u(w)] == key:
            found = w
    return found


@numba.njit(cache=True, inline="always")
def _touch(repl, s, w, policy, log2ways, clock):
    """Make way ``w`` of set ``s`` the most recent; the LRU clock after."""
    if policy == _LRU:
        clock += 1
        repl[_u(s), _u(w)] = clock
    elif policy == _PLRU:
        for d in range(log2ways):
            node = (1 << d) - 1 + (w >> (log2ways - d))
            repl[_u(s), _u(node)] = 1 - ((w >> (log2ways - 1 - d)) & 1)
    return clock


@numba.njit(cache=True, inline="always")
def _victim(repl, lfsr, s, ways, policy, log2ways):
    if policy == _LRU:
        # The least recently used way: the oldest stamp (stamps are distinct).
        w = 0
        oldest = repl[_u(s), 0]
        for v in range(1, ways):
            x = repl[_u(s), _u(v)]
            m = -np.int64(x < oldest)  # all ones when way v is older: select without a branch
            w = (v & m) | (w & ~m)
            oldest = (x & m) | (oldest & ~m)
        return w
    if policy == _PLRU:
        node = 0
        w = 0
        for _ in range(log2ways):
            bit = repl[_u(s), _u(node)]
            w = (w << 1) | bit
            node = 2 * node + 1 + bit
        return w
    state = lfsr[0]
    lfsr[0] = (state >> 1) ^ (LFSR_TAPS if state & 1 else 0)
    return (state * ways) >> 16


@numba.njit(cache=True, inline="always")
def _translate(cfg, tkey, tpte, trepl, tlfsr, pt, dom, iova, need, clock):
    """(allowed, hit, walk refs, physical address, LRU clock) of one DMA."""
    page = iova >> 12
    s = page & (cfg[_SETS] - 1)
    ways = cfg[_WAYS]
    key = (((page >> cfg[_SETBITS]) << cfg[_VPBITS]) | (dom & cfg[_VPIDMASK])) + 1
    w = _find(tkey, s, ways, key)
    if w >= 0:
        hit, refs = 1, 0
        pte = tpte[_u(s), _u(w)]
    else:
        hit, refs = 0, cfg[_LEVELS]
        pte = pt[_u(dom * cfg[_PAGES] + page)]
        if not pte & 1:
            return False, hit, refs, 0, clock
        for u in range(ways - 1, -1, -1):
            if tkey[_u(s), _u(u)] == 0:
                w = u
        if w < 0:
            w = _victim(trepl, tlfsr, s, ways, cfg[_POLICY], cfg[_LOG2W])
        tkey[_u(s), _u(w)] = key
        tpte[_u(s), _u(w)] = pte
    clock = _touch(trepl, s, w, cfg[_POLICY], cfg[_LOG2W], clock)
    return ((pte >> 1) & need) != 0, hit, refs, ((pte >> 3) << 12) | (iova & 0xFFF), clock


@numba.njit(cache=True, _nrt=False)
def _run_kernel(
    cfg_arr, regs, windows,
    fvalid, fmac, fvlan, fbase, fbits, htab, vlan_on,
    qs, desc, elig, timers, vslot, txne,
    tkey, tpte, trepl, tlfsr, pt,
    cycle, op, fn, queue, ring, slot, addr, mac, vlan, flow, index, enable, arg, pfn, domain,
    end,
    o_status, o_queue, o_fn, o_slot, o_hit, o_refs, o_dma, irq_c, irq_v,
):
    # Configuration as a tuple of scalars and scalar state in locals: loads from an array
    # could alias the state arrays written below, so the compiler would re-read them for
    # every operation.
    cfg = (cfg_arr[0], cfg_arr[1], cfg_arr[2], cfg_arr[3], cfg_arr[4], cfg_arr[5], cfg_arr[6],
           cfg_arr[7], cfg_arr[8], cfg_arr[9], cfg_arr[10], cfg_arr[11], cfg_arr[12],
           cfg_arr[13], cfg_arr[14], cfg_arr[15], cfg_arr[16], cfg_arr[17])
    nq = cfg[_Q]
    rs = cfg[_R]
    qb = cfg[_QPF_BITS]
    hmask = cfg[_HMASK]
    cap = timers.shape[1]
    defq, rr, rt, ws = regs[_DEFQ], regs[_RR], regs[_RT], regs[_WS]
    dirty, wake, clock = regs[_DIRTY], regs[_WAKE], regs[_CLOCK]
    n_irq = 0
    cur = regs[_NOW]  # the first cycle whose interrupts are not decided yet
    for i in range(len(op)):
        t = cycle[i]
        if cur <= t and (dirty or wake <= t):
            # A waiting vector whose interval is over fires then (or in the first free cycle
            # after) if it is alone; otherwise ``_fire_until`` decides.
            while wake <= t:
                v = timers[1, _u(ws)]
                nxt = ws + 1 if ws + 1 < cap else 0
                if qs[_u(v), _WAIT] and qs[_u(v), _READY] == wake:
                    c = max(wake, cur)
                    wake2, ws2 = _first_waiting(qs, timers, rt, nxt)
                    if dirty or wake2 <= c:
                        dirty = 1
                        break
                    qs[_u(v), _WAIT] = 0
                    rt = _raise(cfg, qs, vslot, timers, rt, v, c, irq_c, irq_v, n_irq)
                    n_irq += 1
                    cur = c + 1
                    wake, ws = wake2, ws2
                    if cur > t:
                        break
                else:
                    wake, ws = _first_waiting(qs, timers, rt, nxt)
            if dirty:
                n_irq, cur, rt, wake, ws, dirty = _fire_until(
                    cfg, qs, vslot, elig, timers, rt, wake, ws, cur, t + 1, irq_c, irq_v, n_irq)
        cur = t + 1
        o = op[i]
        if o == 1 or o == 2:  # RX, TX
            r = o - 1
            q = -1
            if o == 1:
                vl = vlan[i]
                if vl >= cfg[_VLANS] or not vlan_on[_u(vl)]:
                    o_status[i] = 2
                else:
                    hit = _filter_lookup((mac[i] << 12) | vl, htab, hmask)
                    if hit >= 0:
                        q = (hit & 0xFFFF) | (_toeplitz_low(flow[i], windows) & (hit >> 16))
                    else:
                        q = defq
                    o_queue[i] = q
                    o_fn[i] = q >> qb
                    if qs[_u(q), 0] == qs[_u(q), 2]:
                        o_status[i] = 3
                        q = -1
            else:
                q = _next_from(txne, rr + 1, nq)
                if q >= 0:
                    rr = q
                    o_queue[i] = q
                    o_fn[i] = q >> qb
            if q >= 0:
                s = qs[_u(q), _u(r)]
                qs[_u(q), _u(r)] = (s + 1) & (rs - 1)
                if r == 1:
                    _bit(txne, q, qs[_u(q), 1] != qs[_u(q), 3])
                o_slot[i] = s
                ok, hit, refs, pa, clock = _translate(
                    cfg, tkey, tpte, trepl, tlfsr, pt, q >> qb,
                    np.int64(desc[_u(q), _u(r), _u(s)]), 2 - r, clock)
                o_hit[i] = hit
                o_refs[i] = refs
                if ok:
                    o_status[i] = 1
                    o_dma[i] = pa
                    if qs[_u(q), _PEND] < max(cfg[_THR], 1):
                        qs[_u(q), _PEND] += 1
                    if qs[_u(q), _MASK]:
                        pass
                    elif not _ready(cfg, qs, q, t + 1):
                        qs[_u(q), _WAIT] = 1
                        if qs[_u(q), _READY] < wake:
                            wake, ws = qs[_u(q), _READY], vslot[_u(q)]
                    else:
                        qs[_u(q), _WAIT] = 0
                        if dirty == 0 and t + 1 < end and wake > t + 1:
                            # Alone eligible, no expiry due: it fires in the next cycle,
                            # whatever the next operation.
                            rt = _raise(cfg, qs, vslot, timers, rt, q, t + 1, irq_c, irq_v,
                                        n_irq)
                            n_irq += 1
                            cur = t + 2
                        else:
                            _bit(elig, q, True)
                            dirty = 1
                else:
                    o_status[i] = 4
        elif o == 3 or o == 4 or o == 5:  # DESC, DOORBELL, IRQ_MASK: owner only
            q = queue[i]
            if (q >> qb) != fn[i]:
                o_status[i] = 5
            elif o == 3:
                desc[_u(q), _u(ring[i]), _u(slot[i])] = addr[i]
            elif o == 4:
                qs[_u(q), _u(2 + ring[i])] = slot[i]
                if ring[i] == 1:
                    _bit(txne, q, qs[_u(q), 1] != qs[_u(q), 3])
            else:
                qs[_u(q), _MASK] = enable[i]
                if enable[i] or arg[i] & 1:
                    _bit(elig, q, False)
                    qs[_u(q), _WAIT] = 0
                    if not enable[i]:  # unmask and acknowledge: the poll took them
                        qs[_u(q), _PEND] = 0
                elif qs[_u(q), _PEND] > 0:
                    if _ready(cfg, qs, q, t + 1):
                        _bit(elig, q, True)
                        dirty = 1
                    else:
                        qs[_u(q), _WAIT] = 1
                        if qs[_u(q), _READY] < wake:
                            wake, ws = qs[_u(q), _READY], vslot[_u(q)]
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
                    _rebuild_filters(fvalid, fmac, fvlan, fbase, fbits, htab, hmask)
            elif o == 7:
                if vlan[i] >= cfg[_VLANS]:
                    o_status[i] = 5
                else:
                    vlan_on[vlan[i]] = enable[i]
            elif o == 8:
                if queue[i] >= cfg[_QPF]:
                    o_status[i] = 5
                else:
                    defq = queue[i]
            elif o == 9:
                e = domain[i] * cfg[_PAGES] + (addr[i] >> 12)
                pt[e] = (pfn[i] << 3) | ((arg[i] & 3) << 1) | enable[i]
            elif o == 10 or o == 11:
                vp = domain[i] & cfg[_VPIDMASK]
                tag = (addr[i] >> 12) >> cfg[_SETBITS]
                for s in range(cfg[_SETS]):
                    if o == 10 and s != ((addr[i] >> 12) & (cfg[_SETS] - 1)):
                        continue
                    for w in range(cfg[_WAYS]):
                        k = tkey[s, w] - 1
                        if k >= 0 and (k & cfg[_VPIDMASK]) == vp and (
                            o == 11 or (k >> cfg[_VPBITS]) == tag
                        ):
                            tkey[s, w] = 0
    if len(op):
        regs[_NOW] = cycle[len(op) - 1] + 1
    if dirty or wake < end:
        n_irq, cur, rt, wake, ws, dirty = _fire_until(
            cfg, qs, vslot, elig, timers, rt, wake, ws, cur, end, irq_c, irq_v, n_irq)
    if end > regs[_NOW]:
        regs[_NOW] = end
    regs[_DEFQ], regs[_RR], regs[_RT], regs[_WS] = defq, rr, rt, ws
    regs[_DIRTY], regs[_WAKE], regs[_CLOCK] = dirty, wake, clock
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
        self.regs = np.array([0, 0, q - 1, 0, 0, 0, _NEVER, 0], dtype=np.int64)
        self.fvalid = np.zeros(f, dtype=np.int64)
        self.fmac = np.zeros(f, dtype=np.int64)
        self.fvlan = np.zeros(f, dtype=np.int64)
        self.fbase = np.zeros(f, dtype=np.int64)
        self.fbits = np.zeros(f, dtype=np.int64)
        self.htab = np.zeros((self._hsize, 2), dtype=np.int64)
        self.vlan_on = np.zeros(p.vlans, dtype=np.uint8)
        self.qs = np.zeros((q, 8), dtype=np.int64)
        self.head = self.qs[:, 0:2]  # views, for drivers and tests to read
        self.tail = self.qs[:, 2:4]
        # I/O virtual addresses are below 2**32 (iova_bits <= 32): half the cache footprint.
        self.desc = np.zeros((q, 2, r), dtype=np.uint32)
        self.irq = self.qs[:, 4:8].T  # rows: pending, ready, mask, waiting
        words = (q + 31) // 32
        self.elig = np.zeros(words, dtype=np.int64)
        self.txne = np.zeros(words, dtype=np.int64)
        # Interrupt times (ready time, vector), a ring: see the comment above ``_PEND``.
        self.timers = np.zeros((2, max(p.itr_cycles, 1) + 2), dtype=np.int64)
        self.vslot = np.zeros(q, dtype=np.int64)
        sets, ways = int(self._cfg[_SETS]), int(self._cfg[_WAYS])
        # The IOTLB (see the comment above ``_find``): packed keys, cached entries,
        # replacement state (LRU stamps or PLRU bits), LFSR.
        self.tkey = np.zeros((sets, ways), dtype=np.int64)
        self.tpte = np.zeros((sets, ways), dtype=np.int64)
        self.trepl = np.zeros((sets, ways), dtype=np.int64)
        if p.iotlb_policy == "lru":
            self.trepl[:, :] = -np.arange(ways)  # power-on: way 0 the most recent
        self.tlfsr = np.full(1, self._lfsr_seed, dtype=np.int64)
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
        n_irq = _run_kernel(
            self._cfg, self.regs, _TOEPLITZ_LOW,
            self.fvalid, self.fmac, self.fvlan, self.fbase, self.fbits, self.htab,
            self.vlan_on, self.qs, self.desc, self.elig, self.timers, self.vslot, self.txne,
            self.tkey, self.tpte, self.trepl, self.tlfsr, self.pt,
            c["cycle"], c["op"], c["fn"], c["queue"], c["ring"], c["slot"], c["addr"], c["mac"],
            c["vlan"], c["flow"].view(np.int64), c["index"], c["enable"], c["arg"], c["pfn"],
            c["domain"], np.int64(end),
            *res.events.values(), irq_c, irq_v,
        )
        self.now = int(self.regs[_NOW])
        return NICResult(res.events, irq_c[:n_irq], irq_v[:n_irq])
