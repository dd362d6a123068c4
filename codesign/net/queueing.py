"""Packets through a data path: a compiled discrete-event simulation of FIFO servers.

Every resource of a :class:`~codesign.net.graph.DataPath` (a core, the NIC, the link) is one
server; every stage bound to it queues there, so stages sharing a core share it. Stages of
the same name in several paths are one stage (one ring, one batch, one hold). A packet's
consecutive stages on one resource run back to back, as one *segment*: run to completion, as
a NAPI poll finishes a frame's driver and stack work before it takes the next frame (a stage
with a capacity, a hold, or one that is notified starts a segment of its own). A resource
serves the oldest waiting packet first (packets are numbered in arrival order); each stage
is first come, first served. At equal times a completion or an interrupt is handled before
an arrival, then events in the order they were created. A packet's service at a stage is its
``per_packet + per_byte x frame_bytes`` units over the resource's clock (plus any extra the
caller adds per packet, such as an IOMMU walk), plus what it pays for batches and interrupts.

**Rings.** A stage with a ``capacity`` holds at most that many packets (waiting, held for an
interrupt, or in service); a packet that reaches it when full is dropped there, and only
there: an unbounded path never drops.

**NAPI: the NIC's vector under its driver** (``napi``, a :class:`Napi` per hold stage: what
every NIC mechanism uses). A packet reaching a path's ``hold_before`` stage while the poll of
that stage runs (packets it released, or that joined it, have not finished their segment)
joins the poll at once: the vector is masked. Otherwise it waits for the vector's interrupt,
raised when the poll is idle, no sooner than ``itr_ns`` after the previous one (the ITR, a
hard cap), or at once when ``threshold`` (> 0) packets wait. When the poll has taken every
packet the vector is re-armed (logged, with each interrupt, in ``Result.log_*``). This is
exactly the NIC model's interrupt unit under a driver that masks the vector at each
interrupt and unmasks it with an acknowledge when the poll ends
(``tests/net/test_napi.py`` holds them to it, cycle for cycle).

**Interrupt times given from outside** (``release_ns``): at a ``hold_before`` stage not in
``napi`` a packet waits for the first interrupt at or after it got there; a packet arriving
after the last interrupt given is not held. A busy consumer does not mask these.

Either way the first packet an interrupt releases carries the interrupt (it pays ``per_irq``
at the stages up to the next hold or notification, and ``irq_extra_ns`` at the hold stage).

**A device inside the simulation** (``moderation_ns``): an interrupt is raised for a packet
reaching the stage when its consumer is idle, no sooner than ``moderation_ns`` after the
previous one; packets reaching it while the consumer is still busy with released packets
(their segment not finished) join at once without an interrupt (NAPI).

**Batches and notifications** (see :mod:`codesign.net.graph`): a stage's ``per_batch`` is paid
by the first packet of each batch; a batch ends when the resource has been idle with nothing
to do (unless the stage's ``batch_idle`` is false), or after ``batch`` packets. A ``notify``
stage pays only if the notified stage drained (or is empty) since its last notification, and
the packet it is paid for carries the interrupt to the consumer.

**Offload aggregates** (a stage's ``aggregate_from``/``aggregate_bytes``,
:meth:`~codesign.net.graph.Stage.aggregated`): a frame of at least ``aggregate_from`` bytes
pays the stage's ``per_packet`` only if it starts a super-frame -- the stage's first, the one
after the current reached ``aggregate_bytes``, or, for GRO, the first after its resource
idled (GRO flushes when the poll ends; a TSO sender hands down whole super-frames, however
the wire spaces their segments); smaller frames pay it always. Frames are not merged: each
still goes on alone, so latencies are those of segments.

Several paths (receive and transmit, one per VM) can share resources: each packet names its
path.

**A stream fed in chunks** (:class:`Simulation`): the simulation's state lives outside its
kernel, and a call runs until the next chunk's first arrival, so a stream can be handed over
a chunk at a time -- keeping only the packets still inside, renumbered -- and each call
reports the packets that finished. The result is exactly that of one call
(``simulate(..., chunk=k)`` runs it so; ``tests/net/test_queueing_chunks.py``).

>>> from codesign.net.graph import DataPath, Resource, Stage
>>> cpu = Resource("cpu0", "core", 1e9, domain="host")
>>> path = DataPath((Stage("driver", cpu, 100), Stage("stack", cpu, 200)))
>>> r = simulate([path], np.array([0.0, 50.0, 1000.0]), np.full(3, 64))
>>> r.depart_ns.tolist()     # the first frame's stack runs before the second's driver
[300.0, 600.0, 1300.0]
>>> r.latency_ns().tolist()
[300.0, 550.0, 300.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from codesign.net.graph import DataPath, Resource, Stage

_HOLD_NIC, _HOLD_DEVICE = 1, 2


@dataclass(frozen=True)
class Napi:
    """A NIC vector driven by NAPI (for :func:`simulate`'s ``napi``): masked from its
    interrupt until the poll has taken every packet it released or that arrived meanwhile,
    then re-armed; at most one interrupt per ``itr_ns`` (the ITR, a hard cap), or at once
    when ``threshold`` (> 0) packets wait for it."""

    itr_ns: float
    threshold: int = 0

    def __post_init__(self) -> None:
        if not self.itr_ns >= 0 or self.threshold < 0:
            raise ValueError(f"napi: itr_ns and threshold must be >= 0, got {self.itr_ns}, "
                             f"{self.threshold}")


@dataclass(frozen=True, eq=False)
class Result:
    """Per-packet outcome of :func:`simulate`.

    ``depart_ns`` is when the packet left the last stage (NaN if dropped); ``drop_stage``
    the index (in its path) of the stage that dropped it, -1 if delivered; ``busy_ns`` the
    busy time of each resource (in the order of ``resources``). Per stage (in the order of
    ``stages``, each stage once): ``stage_busy_ns`` its service time, ``served`` the packets
    it worked on (those it skipped by size aside), ``batches`` the batches (or
    notifications) paid, ``irqs`` the interrupts carried through it, ``raised`` the
    interrupts a moderated or NAPI hold raised. The moderated and NAPI holds' log, in time
    order: ``log_ns``, ``log_stage`` (index in ``stages``) and ``log_kind`` (0 an interrupt,
    1 the poll emptied the stage and re-armed its vector); ``joined`` the frames that joined
    an offload super-frame a frame before them started (they paid no ``per_packet``).
    """

    arrival_ns: np.ndarray
    depart_ns: np.ndarray
    drop_stage: np.ndarray
    resources: tuple[Resource, ...]
    busy_ns: np.ndarray
    stages: tuple[Stage, ...] = ()
    stage_busy_ns: np.ndarray | None = None
    served: np.ndarray | None = None
    batches: np.ndarray | None = None
    irqs: np.ndarray | None = None
    raised: np.ndarray | None = None
    log_ns: np.ndarray | None = None
    log_stage: np.ndarray | None = None
    log_kind: np.ndarray | None = None
    joined: np.ndarray | None = None

    @property
    def delivered(self) -> np.ndarray:
        """Mask of the packets that left the last stage."""
        return self.drop_stage < 0

    @property
    def drops(self) -> int:
        """Packets dropped at a full stage."""
        return int((self.drop_stage >= 0).sum())

    def latency_ns(self) -> np.ndarray:
        """Departure minus arrival of every delivered packet."""
        ok = self.delivered
        return self.depart_ns[ok] - self.arrival_ns[ok]

    def throughput_pps(self) -> float:
        """Delivered packets per second between the first arrival and the last departure.

        Over ``n`` deliveries the rate is ``(n - 1) / (last - first)`` departures apart, the
        same convention as a stream's offered rate (``summarize``).
        """
        dep = self.depart_ns[self.delivered]
        if len(dep) < 2:
            return 0.0
        first, last = float(dep.min()), float(dep.max())
        return 0.0 if last <= first else (len(dep) - 1) * 1e9 / (last - first)

    def stage(self, name: str) -> int:
        """Index of the stage called ``name`` in the per-stage arrays."""
        return [s.name for s in self.stages].index(name)


# --- heaps ------------------------------------------------------------------------------------

@numba.njit(cache=True, inline="always")
def _push(ht, hs, hp, hk, n, t, seq, p, k):
    # sift up by moving parents into the hole, then place the new event once
    i = n
    while i > 0:
        j = (i - 1) >> 1
        if ht[j] < t or (ht[j] == t and hs[j] < seq):
            break
        ht[i], hs[i], hp[i], hk[i] = ht[j], hs[j], hp[j], hk[j]
        i = j
    ht[i], hs[i], hp[i], hk[i] = t, seq, p, k
    return n + 1


@numba.njit(cache=True, inline="always")
def _pop(ht, hs, hp, hk, n):
    # the last event sifts down from the root's hole
    n -= 1
    t, s, p, k = ht[n], hs[n], hp[n], hk[n]
    i = 0
    while True:
        a = 2 * i + 1
        if a >= n:
            break
        b = a + 1
        if b < n and (ht[b] < ht[a] or (ht[b] == ht[a] and hs[b] < hs[a])):
            a = b
        if t < ht[a] or (t == ht[a] and s < hs[a]):
            break
        ht[i], hs[i], hp[i], hk[i] = ht[a], hs[a], hp[a], hk[a]
        i = a
    ht[i], hs[i], hp[i], hk[i] = t, s, p, k
    return n


@numba.njit(cache=True, inline="always")
def _wpush(h, off, n, p):
    i = n
    while i > 0:
        j = (i - 1) >> 1
        if h[off + j] <= p:
            break
        h[off + i] = h[off + j]
        i = j
    h[off + i] = p
    return n + 1


@numba.njit(cache=True, inline="always")
def _wpop(h, off, n):
    n -= 1
    p = h[off + n]
    i = 0
    while True:
        a = 2 * i + 1
        if a >= n:
            break
        if a + 1 < n and h[off + a + 1] < h[off + a]:
            a += 1
        if p <= h[off + a]:
            break
        h[off + i] = h[off + a]
        i = a
    h[off + i] = p
    return n


# --- the kernel -------------------------------------------------------------------------------

# Per-stage float parameters (columns of ``sf``) and integer ones (columns of ``si``).
_PP, _PB, _BATCH_NS, _IRQ_NS, _ITR = range(5)
(_RES, _CAP, _HOLD, _BUPTO, _ONLY, _BMAX, _NOTIFY, _BATCHY, _REL0, _REL1, _BIDLE, _THR, _AGG,
 _ABYTES, _AIDLE) = range(15)


@numba.njit(cache=True)
def _kernel(arrival, path_of, frame, extra, has_extra, ptab, plen, seglen, sf, si, release,
            n_res, wait_off, depart, drop_stage, busy, st_busy, served, batches, irqs, raised,
            joined, log_t, log_s, log_k, horizon, run, ht, hs, hp, hk, pos, flag, hnext, wait,
            nwait, idle, went_idle, period, occ, active, drained, seen, bcount, bperiod, hhead,
            htail, pending, last_rel, last_irq, due, abytes, aperiod, nheld):
    # Events: kind 0 a packet completes its segment, 1 a NIC interrupt at a hold stage,
    # 2 a device interrupt at a moderated stage; arrivals come from ``arrival`` (kind 3).
    # The state from ``run`` on (:class:`_State`) is the simulation's between calls: the
    # packets from ``run[2]`` on arrive in this call, the ones before it came in earlier
    # calls; events after ``horizon`` (the next call's first arrival) wait for that call.
    n = len(arrival)
    nh, seq, nxt = run[0], run[1], run[2]
    nlog = 0
    while nxt < n or (nh > 0 and ht[0] <= horizon):
        if nh > 0 and (nxt >= n or ht[0] <= arrival[nxt]):
            t, ident, kind = ht[0], hp[0], hk[0]
            nh = _pop(ht, hs, hp, hk, nh)
        else:
            t, ident, kind = arrival[nxt], nxt, 3
            nxt += 1
        freed = -1
        target = -1
        enter = -1
        direct = -1
        if kind == 0:
            p = ident
            # Path and stage numbers index the tables only: unsigned, they spare every
            # lookup numba's negative-index test (about 14% of this kernel's time).
            path = np.uint64(path_of[p])
            s0 = np.uint64(ptab[path, pos[p]])
            freed = si[s0, _RES]
            idle[freed] = True
            occ[s0] -= 1
            if occ[s0] == 0:
                drained[s0] += 1
            if si[s0, _HOLD] != 0:
                active[s0] -= 1
                if active[s0] == 0 and si[s0, _HOLD] == _HOLD_DEVICE and nlog < len(log_t):
                    log_t[nlog], log_s[nlog], log_k[nlog] = t, s0, 1  # the poll re-arms
                    nlog += 1
            pos[p] += seglen[path, pos[p]]
            if pos[p] == plen[path]:
                depart[p] = t
            else:
                enter = p
        elif kind == 3:
            enter = ident
        else:  # an interrupt releases every packet held at stage g
            g = ident
            if kind == 2 and (not pending[g] or due[g] != t):
                continue  # superseded: the threshold fired it earlier
            pending[g] = False
            nheld[g] = 0
            first = True
            if kind == 1:
                first = last_rel[g] != t
                last_rel[g] = t
            else:
                last_irq[g] = t
                raised[g] += 1
                if nlog < len(log_t):
                    log_t[nlog], log_s[nlog], log_k[nlog] = t, g, 0
                    nlog += 1
            r = si[g, _RES]
            q = hhead[g]
            while q >= 0:
                flag[q] = first
                first = False
                active[g] += 1
                nwait[r] = _wpush(wait, wait_off[r], nwait[r], q)
                nq = hnext[q]
                hnext[q] = -1
                q = nq
            hhead[g] = -1
            htail[g] = -1
            target = r
        if enter >= 0:
            p = enter
            path = np.uint64(path_of[p])
            s = np.uint64(ptab[path, pos[p]])
            joins = True
            if si[s, _CAP] > 0 and occ[s] >= si[s, _CAP]:
                drop_stage[p] = pos[p]
                joins = False
            else:
                occ[s] += 1
                h = si[s, _HOLD]
                held = False
                if h == _HOLD_NIC:
                    if pending[s]:  # every held packet waits for the same next interrupt
                        held = True
                    else:
                        lo, hi = si[s, _REL0], si[s, _REL1]
                        k = lo + np.searchsorted(release[lo:hi], t)
                        if k < hi:
                            held = True
                            pending[s] = True
                            nh = _push(ht, hs, hp, hk, nh, release[k], seq, s, 1)
                            seq += 1
                        else:
                            flag[p] = False
                elif h == _HOLD_DEVICE:
                    if active[s] > 0:
                        flag[p] = False  # the poll runs: it takes the packet (NAPI)
                    else:
                        at = last_irq[s] + sf[s, _ITR]
                        if not pending[s] and at <= t:
                            last_irq[s] = t
                            raised[s] += 1
                            flag[p] = True
                            if nlog < len(log_t):
                                log_t[nlog], log_s[nlog], log_k[nlog] = t, s, 0
                                nlog += 1
                        else:
                            held = True
                            nheld[s] += 1
                            thr = si[s, _THR]
                            if thr > 0 and nheld[s] >= thr:
                                at = t  # enough completions: no waiting for the interval
                            if not pending[s] or at < due[s]:
                                pending[s] = True
                                due[s] = at
                                nh = _push(ht, hs, hp, hk, nh, at, seq, s, 2)
                                seq += 1
                if held:
                    if htail[s] >= 0:
                        hnext[htail[s]] = p
                    else:
                        hhead[s] = p
                    htail[s] = p
                    joins = False
                elif h != 0:
                    active[s] += 1
            if joins:
                r = si[s, _RES]
                target = r
                if idle[r] and nwait[r] == 0:
                    direct = p  # nobody else waits: it starts at once, no heap
                else:
                    nwait[r] = _wpush(wait, wait_off[r], nwait[r], p)
        for r in (freed, target):
            if r < 0:
                continue
            if not idle[r]:
                continue
            if r == target and direct >= 0:
                q = direct
                direct = -1
            elif nwait[r] == 0:
                went_idle[r] = True
                continue
            else:
                q = wait[wait_off[r]]
                nwait[r] = _wpop(wait, wait_off[r], nwait[r])
            idle[r] = False
            if went_idle[r]:
                period[r] += 1
                went_idle[r] = False
            # The segment of q from pos[q]: its stages' work, batches and interrupts.
            path = np.uint64(path_of[q])
            k0 = pos[q]
            f = frame[q]
            total = 0.0
            for j in range(k0, k0 + seglen[path, k0]):
                st = np.uint64(ptab[path, j])
                if f <= si[st, _ONLY]:
                    continue
                b = f
                if si[st, _BUPTO] > 0 and si[st, _BUPTO] < f:
                    b = si[st, _BUPTO]
                pp = sf[st, _PP]
                if si[st, _AGG] > 0 and f >= si[st, _AGG]:
                    # Offload: one per-packet cost per super-frame, which ends at its size
                    # or when the resource idled (GRO's flush at the end of the poll).
                    if abytes[st] == 0 or abytes[st] + f > si[st, _ABYTES] \
                            or (si[st, _AIDLE] and aperiod[st] != period[r]):
                        abytes[st] = f
                        aperiod[st] = period[r]
                    else:
                        abytes[st] += f
                        joined[st] += 1
                        pp = 0.0
                svc = pp + sf[st, _PB] * b
                if has_extra:
                    svc += extra[q, j]
                if flag[q]:
                    svc += sf[st, _IRQ_NS]
                    irqs[st] += 1
                if si[st, _BATCHY]:
                    g = si[st, _NOTIFY]
                    bmax = si[st, _BMAX]
                    if bcount[st] == 0 or (bmax > 0 and bcount[st] >= bmax) \
                            or (si[st, _BIDLE] and bperiod[st] != period[r]):
                        bcount[st] = 1
                        bperiod[st] = period[r]
                        pay = True
                        if g >= 0:
                            pay = occ[g] == 0 or drained[g] != seen[st]
                            if pay:
                                seen[st] = drained[g]
                            flag[q] = pay
                        if pay:
                            svc += sf[st, _BATCH_NS]
                            batches[st] += 1
                    else:
                        bcount[st] += 1
                        if g >= 0:
                            flag[q] = False
                st_busy[st] += svc
                served[st] += 1
                total += svc
            busy[r] += total
            nh = _push(ht, hs, hp, hk, nh, t + total, seq, q, 0)
            seq += 1
    run[0], run[1], run[2] = nh, seq, nxt
    return nlog


@numba.njit(cache=True)
def _decreases(values):  # pragma: no cover (compiled)
    # np.any(np.diff(values) < 0) without its two temporaries of the stream's length (a
    # loop: numba compiles no generator into any())
    for i in range(1, len(values)):  # noqa: SIM110
        if values[i] < values[i - 1]:
            return True
    return False


@numba.njit(cache=True)
def _fifo(arrival, frame, unit_room, pp, pb, upto, above, hz, extra, cap, done, held, st, fl,
          depart, drop_stage):
    # One FIFO server with room for ``cap`` units: a packet is dropped unless the units of
    # the accepted packets not yet departed by its arrival (a departure at the same time
    # goes first), plus its own, fit; a packet takes one unit (``unit_room``) or its bytes.
    # Its service is the stage's (``Stage.seconds`` in ns, in the same operations) plus its
    # ``extra`` (when given). The accepted packets not yet gone are kept in the ring
    # ``done``/``held`` (by their acceptance count modulo its size, a power of two above
    # what can be inside at once); ``st`` (first not gone, accepted, units inside) and
    # ``fl`` (last departure, busy time) carry the rest from one call to the next.
    mask = len(done) - 1  # the ring's size is a power of two
    left, accepted, inside = st[0], st[1], st[2]
    last, busy = fl[0], fl[1]
    for i in range(len(arrival)):
        t = arrival[i]
        size = frame[i]
        room = 1 if unit_room else size
        while left < accepted and done[left & mask] <= t:
            inside -= held[left & mask]
            left += 1
        if inside + room > cap:
            drop_stage[i] = 0
            continue
        used = min(float(size), upto) if upto else float(size)
        work = pp + pb * used
        if above and not size > above:
            work = 0.0
        service = work / hz * 1e9
        if len(extra):
            service = service + extra[i]
        start = t if t > last else last
        last = start + service
        busy += service
        done[accepted & mask] = last
        held[accepted & mask] = room
        inside += room
        accepted += 1
        depart[i] = last
    st[0], st[1], st[2] = left, accepted, inside
    fl[0], fl[1] = last, busy


class Fifo:
    """One FIFO stage with room for ``capacity`` units -- a unit a packet (``unit_room``, a
    wire's frames) or a byte (a NIC's receive buffer) -- fed a chunk at a time: a packet's
    departure is known when it arrives, and only the accepted packets not yet gone are kept
    (in a ring that grows to what is inside, never to the stream).

    >>> from codesign.net.graph import Resource, Stage
    >>> f = Fifo(Stage("nic", Resource("nic", "nic", 1e9), 100), 128, unit_room=False)
    >>> [d.tolist() for d in f.feed(np.zeros(2), np.array([64, 64]))]
    [[100.0, 200.0], [-1, -1]]
    >>> [d.tolist() for d in f.feed(np.zeros(1), np.array([64]))]  # the buffer is full
    [[nan], [0]]
    """

    def __init__(self, stage: Stage, capacity: int, unit_room: bool) -> None:
        self.stage, self.capacity, self.unit_room = stage, int(capacity), unit_room
        self._consts = (float(stage.per_packet), float(stage.per_byte),
                        float(stage.bytes_upto or 0), int(stage.only_above or 0),
                        float(stage.resource.hz))
        self._done = np.empty(1)
        self._held = np.empty(1, dtype=np.int64)
        self._st = np.zeros(3, dtype=np.int64)
        self._fl = np.array([-np.inf, 0.0])

    @property
    def busy(self) -> float:
        """Service time so far."""
        return float(self._fl[1])

    @property
    def served(self) -> int:
        """Packets accepted so far."""
        return int(self._st[1])

    def _room_for(self, new: int, frames: np.ndarray) -> None:
        left, accepted = int(self._st[0]), int(self._st[1])
        inside = accepted - left
        # At most ``capacity`` packets inside when each takes a unit, or a byte or more.
        bounded = self.unit_room or not len(frames) or frames.min() >= 1
        need = (min(inside + new, self.capacity) if bounded else inside + new) + 1
        ring = len(self._done)
        if need <= ring:
            return
        size = 1 << (max(need, 2 * ring) - 1).bit_length()  # a power of two: the kernel masks
        done = np.empty(size)
        held = np.empty(size, dtype=np.int64)
        count = np.arange(left, accepted)  # the packets inside, at their counts mod the size
        done[count % size], held[count % size] = self._done[count % ring], self._held[
            count % ring]
        self._done, self._held = done, held

    def feed(self, arrival: np.ndarray, frame_bytes: np.ndarray,
             extra_ns: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(departure ns -- NaN if dropped --, drop stage -- 0 if dropped, else -1 --) of
        packets arriving at ``arrival`` (non-decreasing, not before the previous call's)."""
        n = len(arrival)
        arrival = np.ascontiguousarray(arrival, dtype=np.float64)
        frame = np.ascontiguousarray(frame_bytes, dtype=np.int64).reshape(n)
        extra = (np.zeros(0) if extra_ns is None
                 else np.ascontiguousarray(extra_ns, dtype=np.float64).reshape(n))
        self._room_for(n, frame)
        depart = np.full(n, np.nan)
        drop = np.full(n, -1, dtype=np.int64)
        _fifo(arrival, frame, self.unit_room, *self._consts, extra, self.capacity, self._done,
              self._held, self._st, self._fl, depart, drop)
        return depart, drop

    def result(self, arrival: np.ndarray, depart: np.ndarray, drop: np.ndarray) -> Result:
        """The :class:`Result` of every packet fed (in order)."""
        served = np.array([self.served], dtype=np.int64)
        zero = np.zeros(1, dtype=np.int64)
        busy = np.array([self.busy])
        return Result(arrival, depart, drop, (self.stage.resource,), busy, (self.stage,),
                      busy.copy(), served, zero, zero.copy(), zero.copy())


def buffered_fifo(stage: Stage, arrival_ns: np.ndarray, frame_bytes: np.ndarray,
                  capacity_bytes: int, extra_ns: np.ndarray | None = None) -> Result:
    """One FIFO stage whose waiting room is ``capacity_bytes`` of packet buffer (a NIC's
    receive buffer), each packet's service its stage time plus ``extra_ns``: a packet that
    does not fit is dropped.

    >>> from codesign.net.graph import Resource, Stage
    >>> nic = Stage("nic", Resource("nic", "nic", 1e9), 100)
    >>> r = buffered_fifo(nic, np.zeros(3), np.array([64, 64, 64]), 128)
    >>> r.depart_ns.tolist(), r.drops
    ([100.0, 200.0, nan], 1)
    """
    arrival = np.ascontiguousarray(arrival_ns, dtype=np.float64)
    return _fifo_result(stage, arrival, frame_bytes, False, int(capacity_bytes), extra_ns)


def _fifo_result(stage: Stage, arrival: np.ndarray, frame_bytes: np.ndarray, unit_room: bool,
                 capacity: int, extra_ns: np.ndarray | None = None) -> Result:
    """One FIFO stage by the recurrence, every packet in one call."""
    fifo = Fifo(stage, capacity, unit_room)
    depart, drop = fifo.feed(arrival, frame_bytes, extra_ns)
    return fifo.result(arrival, depart, drop)


# --- the Python side --------------------------------------------------------------------------

def _stage_table(paths: Sequence[DataPath]) -> tuple[list[Stage], dict[str, int]]:
    stages: dict[str, Stage] = {}
    for p in paths:
        for s in p.stages:
            if stages.setdefault(s.name, s) != s:
                raise ValueError(f"two different stages are called {s.name!r}")
    return list(stages.values()), {name: i for i, name in enumerate(stages)}


def _segment_starts(path: DataPath, notified: set[str]) -> list[int]:
    """Positions where a segment starts: a new resource, a capacity, a hold, a notified stage."""
    starts = [0]
    for i in range(1, len(path.stages)):
        s, prev = path.stages[i], path.stages[i - 1]
        if (s.resource != prev.resource or s.capacity or s.name == path.hold_before
                or s.moderation_ns is not None or s.name in notified):
            starts.append(i)
    return starts


def _single(stage: Stage, arrival: np.ndarray, frame_bytes: np.ndarray) -> Result:
    """One FIFO stage (a wire): the same result as the kernel, by the FIFO recurrence."""
    # Room for ``capacity`` packets: each packet takes one unit of it.
    return _fifo_result(stage, arrival, frame_bytes, True,
                        stage.capacity if stage.capacity else 1 << 62)


def service_ns(paths: Sequence[DataPath], path_of: np.ndarray,
               frame_bytes: np.ndarray) -> np.ndarray:
    """Service time (ns) of every packet at every position of its path: ``(n, max stages)``,
    batches and interrupts aside.

    >>> from codesign.net.graph import Resource, Stage
    >>> cpu = Resource("cpu0", "core", 1e9, domain="host")
    >>> service_ns([DataPath((Stage("a", cpu, 10, per_byte=1),))], np.zeros(1, int),
    ...            np.array([64])).tolist()
    [[74.0]]
    """
    width = max(len(p.stages) for p in paths)
    out = np.zeros((len(path_of), width))
    size = np.asarray(frame_bytes, dtype=np.float64)
    for k, path in enumerate(paths):
        mine = path_of == k
        for j, st in enumerate(path.stages):
            out[mine, j] = st.seconds(size[mine]) * 1e9
    return out


def _tables(paths: Sequence[DataPath],
            release_ns: np.ndarray | Mapping[str, np.ndarray] | None, irq_extra_ns: float,
            napi: Mapping[str, Napi]) -> tuple[Any, ...]:
    """What the kernel reads of the paths: (stages, resources, ptab, seglen, sf, si,
    release, uses), checked."""
    stages, index = _stage_table(paths)
    resources = tuple(dict.fromkeys(r for p in paths for r in p.resources()))
    res_index = {r: i for i, r in enumerate(resources)}
    notified = {s.notify for s in stages if s.notify is not None}
    width = max(len(p.stages) for p in paths)
    ptab = np.full((len(paths), width), -1, dtype=np.int64)
    seglen = np.zeros((len(paths), width), dtype=np.int64)
    holds: dict[str, DataPath] = {}
    for i, p in enumerate(paths):
        ptab[i, : len(p.stages)] = [index[s.name] for s in p.stages]
        starts = _segment_starts(p, notified)
        for a, b in zip(starts, [*starts[1:], len(p.stages)], strict=True):
            seglen[i, a] = b - a
        if p.hold_before is not None:
            holds[p.hold_before] = p
    for name in holds:  # a shared hold stage must start a segment in every path using it
        for i, p in enumerate(paths):
            names = [s.name for s in p.stages]
            if name in names and p.hold_before != name:
                raise ValueError(f"stage {name!r} is a hold in one path and not in another")
            if name in names and seglen[i, names.index(name)] == 0:
                raise ValueError(f"stage {name!r} does not start a segment")
    for name in napi:
        if name not in holds:
            raise ValueError(f"napi names {name!r}, which is no path's hold_before stage")
    sf = np.zeros((len(stages), 5))
    si = np.zeros((len(stages), 15), dtype=np.int64)
    rel_parts: list[np.ndarray] = []
    k = 0
    for i, s in enumerate(stages):
        hz = s.resource.hz
        sf[i] = (s.per_packet / hz * 1e9, s.per_byte / hz * 1e9, s.per_batch / hz * 1e9,
                 s.per_irq / hz * 1e9, s.moderation_ns or 0.0)
        hold = 0
        thr = 0
        if s.moderation_ns is not None:
            hold = _HOLD_DEVICE
        elif s.name in napi:
            hold = _HOLD_DEVICE
            sf[i, _ITR] = napi[s.name].itr_ns
            thr = napi[s.name].threshold
        elif s.name in holds and release_ns is not None:
            hold = _HOLD_NIC
            rel = (release_ns.get(s.name, np.zeros(0)) if isinstance(release_ns, Mapping)
                   else release_ns)
            rel = np.ascontiguousarray(rel, dtype=np.float64)
            if len(rel) and np.any(np.diff(rel) < 0):
                raise ValueError("release times must be sorted")
            rel_parts.append(rel)
            sf[i, _IRQ_NS] += irq_extra_ns
        batchy = bool(s.per_batch or s.notify is not None
                      or any(per == "batch" for _, per, _ in s.traps))
        lo = k
        k += len(rel_parts[-1]) if hold == _HOLD_NIC else 0
        si[i] = (res_index[s.resource], s.capacity, hold, s.bytes_upto, s.only_above, s.batch,
                 index[s.notify] if s.notify is not None else -1, batchy, lo, k,
                 s.batch_idle, thr, s.aggregate_from, s.aggregate_bytes, s.offload == "gro")
    release = np.concatenate(rel_parts) if rel_parts else np.zeros(0)
    # Each resource's waiting room: at most the packets whose path uses it.
    uses = np.zeros((len(paths), len(resources)), dtype=bool)
    for i, p in enumerate(paths):
        uses[i, [res_index[r] for r in p.resources()]] = True
    return stages, resources, ptab, seglen, sf, si, release, uses


def simulate(
    paths: Sequence[DataPath],
    arrival_ns: np.ndarray,
    frame_bytes: np.ndarray,
    path_of: np.ndarray | None = None,
    release_ns: np.ndarray | Mapping[str, np.ndarray] | None = None,
    irq_extra_ns: float = 0.0,
    extra_ns: np.ndarray | None = None,
    napi: Mapping[str, Napi] | None = None,
    chunk: int = 0,
) -> Result:
    """Run packets (arrival times non-decreasing, sizes, path index) through their paths.

    ``release_ns``: sorted interrupt times for the paths' holds, one array for every hold, or
    a mapping from a hold stage's name to its own (no hold without them); ``irq_extra_ns``:
    added at a hold stage for the packet carrying the interrupt; ``extra_ns``: added service,
    ``(n, max stages)`` like :func:`service_ns`; ``napi``: hold stages whose NIC vector is
    masked while their poll runs (:class:`Napi`), decided here rather than by ``release_ns``;
    ``chunk``: the packets handed to the simulation that many at a time, each call carrying
    only the packets still inside to the next (the same result as all at once).
    """
    arrival = np.ascontiguousarray(arrival_ns, dtype=np.float64)
    n = len(arrival)
    if n and _decreases(arrival):
        raise ValueError("arrival times must be non-decreasing")
    which = None if path_of is None else np.asarray(path_of, np.int64)
    if which is not None and n and (which.min() < 0 or which.max() >= len(paths)):
        raise ValueError("path_of names a path that was not given")
    napi = dict(napi or {})
    if len(paths) == 1 and len(paths[0].stages) == 1 and extra_ns is None and not napi:
        only = paths[0].stages[0]
        if (only.per_batch == 0 and only.notify is None and only.per_irq == 0
                and not only.aggregate_from
                and only.moderation_ns is None and not only.traps and not only.only_above
                and (paths[0].hold_before is None or release_ns is None)):
            return _single(only, arrival, frame_bytes)
    if which is None:  # made only here: the single-stage path above needs none
        which = np.zeros(n, dtype=np.int64)
    frame = np.ascontiguousarray(frame_bytes, dtype=np.int64).reshape(n)
    sim = Simulation(paths, release_ns, irq_extra_ns, napi, extra_ns is not None)
    depart = np.full(n, np.nan)
    drop = np.full(n, -1, dtype=np.int64)
    extra = (None if extra_ns is None
             else np.ascontiguousarray(extra_ns, dtype=np.float64))
    step = chunk if chunk > 0 else max(n, 1)
    for lo in range(0, max(n, 1), step):
        hi = min(n, lo + step)
        sim.feed(arrival[lo:hi], frame[lo:hi], which[lo:hi],
                 None if extra is None else extra[lo:hi],
                 horizon=arrival[hi] if hi < n else np.inf, depart=depart, drop=drop)
    return sim.result(arrival, depart, drop)


class Simulation:
    """:func:`simulate` fed its packets a chunk at a time, for a stream that does not have
    to be held at once: ``feed`` the packets of each chunk in arrival order with the next
    chunk's first arrival as ``horizon`` (infinity for the last); it reports the departure
    and drop of every packet that finished (numbered in feeding order) and keeps only the
    packets still inside. The result is exactly that of one call with every packet (its
    interrupt log empty with ``log=False``, for a stream whose log need not be kept).

    >>> from codesign.net.graph import Resource, Stage
    >>> cpu = Resource("cpu0", "core", 1e9, domain="host")
    >>> path = DataPath((Stage("driver", cpu, 100), Stage("stack", cpu, 200)))
    >>> sim = Simulation([path])
    >>> depart = np.full(3, np.nan); drop = np.full(3, -1)
    >>> sim.feed(np.array([0.0, 50.0]), np.full(2, 64), np.zeros(2, int), horizon=1000.0,
    ...          depart=depart, drop=drop)
    >>> sim.feed(np.array([1000.0]), np.full(1, 64), np.zeros(1, int), depart=depart,
    ...          drop=drop)
    >>> depart.tolist()          # as the module's example, all at once
    [300.0, 600.0, 1300.0]
    """

    def __init__(self, paths: Sequence[DataPath],
                 release_ns: np.ndarray | Mapping[str, np.ndarray] | None = None,
                 irq_extra_ns: float = 0.0, napi: Mapping[str, Napi] | None = None,
                 extra: bool = False, log: bool = True) -> None:
        stages, resources, ptab, seglen, sf, si, release, uses = _tables(
            paths, release_ns, irq_extra_ns, dict(napi or {}))
        self.paths, self.stages, self.resources = tuple(paths), stages, resources
        self._tables = (ptab, np.array([len(p.stages) for p in paths], np.int64), seglen,
                        sf, si, release, len(resources))
        self._uses = uses
        self._extra = extra
        self.busy = np.zeros(len(resources))
        self.counters = [np.zeros(len(stages), dtype=np.int64) for _ in range(5)]
        self.st_busy = np.zeros(len(stages))
        self._logged = bool(any(si[:, _HOLD] == _HOLD_DEVICE))
        self._keep_log = log
        self._logs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._state = _State.fresh(len(resources), len(stages))
        # The packets inside (carried from the previous call): their numbers in feeding
        # order and what the kernel reads of them.
        self._inside = np.zeros(0, dtype=np.int64)
        self._held: tuple[np.ndarray, ...] = ()
        self.fed = 0

    def feed(self, arrival: np.ndarray, frame: np.ndarray, path_of: np.ndarray,
             extra: np.ndarray | None = None, *, horizon: float = np.inf,
             depart: np.ndarray | None = None, drop: np.ndarray | None = None,
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Add packets (arrival ns, non-decreasing and not before the previous ``horizon``;
        frame bytes; path index; the extra service ``(n, max stages)`` when the simulation
        has it) and run until ``horizon``. The packets that finished -- numbered in feeding
        order from 0 -- are written into ``depart`` and ``drop`` (arrays for every packet)
        when given; otherwise returned as ``(numbers, departures, drop stages)``."""
        arrival = np.ascontiguousarray(arrival, dtype=np.float64)
        k = len(self._inside)
        new = len(arrival)
        base = self.fed
        self.fed += new
        if k:
            a, f, w, x = self._held
            arrival = np.concatenate([a, arrival])
            frame = np.concatenate([f, frame])
            path_of = np.concatenate([w, path_of])
            if self._extra and extra is not None:
                extra = np.concatenate([x, extra])
        m = k + new
        n_paths = len(self.paths)
        per_path = (np.bincount(path_of, minlength=n_paths) if m
                    else np.zeros(n_paths, int))
        room = (per_path[:, None] * self._uses).sum(axis=0)
        wait_off = np.zeros(len(self.resources) + 1, dtype=np.int64)
        np.cumsum(room, out=wait_off[1:])
        state = self._state.carried(k, m, wait_off)
        direct = depart is not None and drop is not None and not k
        if direct:  # nothing carried: the caller's arrays, no copy
            sub_depart = depart[base:base + m]
            sub_drop = drop[base:base + m]
        else:
            sub_depart = np.full(m, np.nan)
            sub_drop = np.full(m, -1, dtype=np.int64)
        # Every interrupt and re-arm of a moderated or NAPI hold: at most two per packet.
        room_log = 2 * m + 2 if self._logged else 0
        # written in order from the start: the kernel says how far (no need to clear them)
        log = (np.empty(room_log), np.empty(room_log, np.int64), np.empty(room_log, np.int64))
        ptab, plen, seglen, sf, si, release, n_res = self._tables
        x = (np.ascontiguousarray(extra, dtype=np.float64) if self._extra and extra is not None
             else np.zeros((1, 1)))
        nlog = _kernel(arrival, np.ascontiguousarray(path_of, dtype=np.int64),
                       np.ascontiguousarray(frame, dtype=np.int64), x, self._extra, ptab,
                       plen, seglen, sf, si, release, n_res, wait_off, sub_depart, sub_drop,
                       self.busy, self.st_busy, *self.counters, *log, horizon,
                       *state.arrays())
        if self._keep_log:
            self._logs.append((log[0][:nlog], log[1][:nlog], log[2][:nlog]))
        if direct and horizon == np.inf:  # one call with every packet: all written
            self._state, self._held = state, ()
            self._inside = np.zeros(0, dtype=np.int64)
            return None
        numbers = (np.concatenate([self._inside, np.arange(base, base + new)]) if k
                   else np.arange(base, base + new))
        if horizon == np.inf:  # the last call: every packet has finished
            left = np.zeros(m, dtype=bool)
            self._state, self._held = state, ()
        else:
            left = np.isnan(sub_depart) & (sub_drop < 0)
            self._state = state.keeping(left, wait_off)
            self._held = (arrival[left], np.asarray(frame)[left], np.asarray(path_of)[left],
                          x[left] if self._extra and extra is not None else np.zeros((0, 1)))
        self._inside = numbers[left]
        done = ~left
        if depart is not None and drop is not None:
            if not direct:
                depart[numbers[done]] = sub_depart[done]
                drop[numbers[done]] = sub_drop[done]
            return None
        return numbers[done], sub_depart[done], sub_drop[done]

    def result(self, arrival: np.ndarray, depart: np.ndarray, drop: np.ndarray) -> Result:
        """The :class:`Result` of the packets fed (``arrival``, ``depart``, ``drop``: all
        of them, in feeding order)."""
        served, batches, irqs, raised, joined = self.counters
        log_t, log_s, log_k = (np.concatenate([x[i] for x in self._logs]) if self._logs
                               else np.zeros(0) for i in range(3))
        return Result(arrival, depart, drop, self.resources, self.busy, tuple(self.stages),
                      self.st_busy, served, batches, irqs, raised,
                      log_t.astype(np.float64, copy=False), log_s.astype(np.int64, copy=False),
                      log_k.astype(np.int64, copy=False), joined)


class _State:
    """The simulation between two calls of the kernel: its run state (events on the heap,
    the next sequence number, the first packet the next call adds), the packets inside it
    (numbered as in the call that holds them: their stage, interrupt flag, hold list), each
    resource's waiting packets (a heap each, laid out by the call's ``wait_off``) and its
    state, each stage's state. :meth:`keeping` renumbers the packets still inside for the
    next call, which puts them first: numbers keep their order, so every heap stays one."""

    RES = ("nwait", "idle", "went_idle", "period")
    STAGE = ("occ", "active", "drained", "seen", "bcount", "bperiod", "hhead", "htail",
             "pending", "last_rel", "last_irq", "due", "abytes", "aperiod", "nheld")

    def __init__(self, **arrays: np.ndarray) -> None:
        self.__dict__.update(arrays)

    @classmethod
    def fresh(cls, n_res: int, ns: int) -> _State:
        """Nothing inside: every resource idle, no stage holding a packet."""
        cap = n_res + 2 * ns + 2  # one completion per resource, one interrupt per hold stage
        i64 = np.int64
        return cls(run=np.zeros(3, i64), ht=np.empty(cap), hs=np.empty(cap, i64),
                   hp=np.empty(cap, i64), hk=np.empty(cap, i64), pos=np.zeros(0, i64),
                   flag=np.zeros(0, np.bool_), hnext=np.zeros(0, i64), wait=np.zeros(1, i64),
                   nwait=np.zeros(n_res, i64), idle=np.ones(n_res, np.bool_),
                   went_idle=np.ones(n_res, np.bool_), period=np.zeros(n_res, i64),
                   occ=np.zeros(ns, i64), active=np.zeros(ns, i64), drained=np.zeros(ns, i64),
                   seen=np.full(ns, -1, i64), bcount=np.zeros(ns, i64),
                   bperiod=np.zeros(ns, i64), hhead=np.full(ns, -1, i64),
                   htail=np.full(ns, -1, i64), pending=np.zeros(ns, np.bool_),
                   last_rel=np.full(ns, -1.0), last_irq=np.full(ns, -np.inf),
                   due=np.full(ns, -1.0), abytes=np.zeros(ns, i64), aperiod=np.zeros(ns, i64),
                   nheld=np.zeros(ns, i64), wait_off=np.zeros(n_res + 1, i64))

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The kernel's state arguments, in its order."""
        return (self.run, self.ht, self.hs, self.hp, self.hk, self.pos, self.flag, self.hnext,
                self.wait, *(getattr(self, k) for k in self.RES + self.STAGE))

    def carried(self, inside: int, m: int, wait_off: np.ndarray) -> _State:
        """This state for a call of ``m`` packets, the first ``inside`` of them the ones
        already inside (as :meth:`keeping` numbered them), each resource's waiting room
        laid out by ``wait_off``."""
        pos = np.zeros(m, np.int64)
        flag = np.zeros(m, np.bool_)
        hnext = np.full(m, -1, np.int64)
        pos[:inside], flag[:inside], hnext[:inside] = self.pos, self.flag, self.hnext
        wait = np.empty(max(int(wait_off[-1]), 1), np.int64)
        for r in range(len(self.nwait)):
            k = int(self.nwait[r])
            old = int(self.wait_off[r])
            wait[wait_off[r]:wait_off[r] + k] = self.wait[old:old + k]
        self.pos, self.flag, self.hnext, self.wait = pos, flag, hnext, wait
        self.wait_off = wait_off
        self.run[2] = inside  # the next arrival: the call's first new packet
        return self

    def keeping(self, keep: np.ndarray, wait_off: np.ndarray) -> _State:
        """Only the packets ``keep`` says are still inside, renumbered in order."""
        new = np.cumsum(keep) - 1  # a kept packet's number in the next call

        def renumber(ids: np.ndarray) -> np.ndarray:
            out = ids.copy()
            live = ids >= 0
            out[live] = new[ids[live]]
            return out

        nh = int(self.run[0])
        done = self.hk[:nh] == 0  # completions name packets; interrupts name stages
        self.hp[:nh][done] = new[self.hp[:nh][done]]
        self.pos, self.flag = self.pos[keep], self.flag[keep]
        self.hnext = renumber(self.hnext[keep])
        self.hhead, self.htail = renumber(self.hhead), renumber(self.htail)
        for r in range(len(self.nwait)):
            w = self.wait[wait_off[r]:wait_off[r] + int(self.nwait[r])]
            w[:] = new[w]
        return self
