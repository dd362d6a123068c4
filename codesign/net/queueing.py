"""Packets through a data path: a compiled discrete-event simulation of FIFO servers.

Every resource of a :class:`~codesign.net.graph.DataPath` (a core, the NIC, the link) is one
server; every stage bound to it queues there, so stages sharing a core share it. Each stage
is first come, first served; a resource shared by several stages serves the oldest packet
first (packets are numbered in arrival order), i.e. run to completion, as a NAPI poll finishes
a frame's driver and stack work before it takes the next frame. At equal times a completion
is handled before an arrival, then events in the order they were created. A packet's service at
a stage is its ``per_packet + per_byte x frame_bytes`` units over the resource's clock (plus
any extra the caller adds per packet, such as an IOMMU walk).

**Rings.** A stage with a ``capacity`` holds at most that many packets (waiting, held for an
interrupt, or in service); a packet that reaches it when full is dropped there, and only
there: an unbounded path never drops.

**Interrupt moderation.** At the path's ``hold_before`` stage a packet waits for the first
interrupt raised at or after it got there (``release_ns``, the interrupt times of the NIC
model); the first packet an interrupt releases carries the interrupt's handling cost
(``irq_extra_ns``) on top of its own service. A packet arriving after the last interrupt
given is not held.

Several paths (receive and transmit) can share resources: each packet names its path.

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

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from codesign.net.graph import DataPath, Resource


@dataclass(frozen=True, eq=False)
class Result:
    """Per-packet outcome of :func:`simulate`.

    ``depart_ns`` is when the packet left the last stage (NaN if dropped); ``drop_stage``
    the index (in its path) of the stage that dropped it, -1 if delivered; ``busy_ns`` the
    busy time of each resource (in the order of ``resources``).
    """

    arrival_ns: np.ndarray
    depart_ns: np.ndarray
    drop_stage: np.ndarray
    resources: tuple[Resource, ...]
    busy_ns: np.ndarray

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
        dep = np.sort(self.depart_ns[self.delivered])
        if len(dep) < 2 or dep[-1] <= dep[0]:
            return 0.0
        return (len(dep) - 1) * 1e9 / (dep[-1] - dep[0])


@numba.njit(cache=True)
def _push(ht, hs, hp, hk, n, t, seq, p, k):
    i = n
    ht[i], hs[i], hp[i], hk[i] = t, seq, p, k
    while i > 0:
        j = (i - 1) >> 1
        if ht[j] < ht[i] or (ht[j] == ht[i] and hs[j] < hs[i]):
            break
        ht[i], ht[j] = ht[j], ht[i]
        hs[i], hs[j] = hs[j], hs[i]
        hp[i], hp[j] = hp[j], hp[i]
        hk[i], hk[j] = hk[j], hk[i]
        i = j
    return n + 1


@numba.njit(cache=True)
def _pop(ht, hs, hp, hk, n):
    n -= 1
    ht[0], hs[0], hp[0], hk[0] = ht[n], hs[n], hp[n], hk[n]
    i = 0
    while True:
        a, b, m = 2 * i + 1, 2 * i + 2, i
        if a < n and (ht[a] < ht[m] or (ht[a] == ht[m] and hs[a] < hs[m])):
            m = a
        if b < n and (ht[b] < ht[m] or (ht[b] == ht[m] and hs[b] < hs[m])):
            m = b
        if m == i:
            return n
        ht[i], ht[m] = ht[m], ht[i]
        hs[i], hs[m] = hs[m], hs[i]
        hp[i], hp[m] = hp[m], hp[i]
        hk[i], hk[m] = hk[m], hk[i]
        i = m


@numba.njit(cache=True)
def _heap_push(h, n, p):
    i = n
    h[i] = p
    while i > 0:
        j = (i - 1) >> 1
        if h[j] <= h[i]:
            break
        h[i], h[j] = h[j], h[i]
        i = j
    return n + 1


@numba.njit(cache=True)
def _heap_pop(h, n):
    n -= 1
    h[0] = h[n]
    i = 0
    while True:
        a, b, m = 2 * i + 1, 2 * i + 2, i
        if a < n and h[a] < h[m]:
            m = a
        if b < n and h[b] < h[m]:
            m = b
        if m == i:
            return n
        h[i], h[m] = h[m], h[i]
        i = m


@numba.njit(cache=True)
def _kernel(arrival, path_of, service, paths, path_len, stage_res, stage_cap, hold_pos,
            release, irq_extra, n_res, depart, drop_stage, busy):
    # Events: kind 0 completion of the packet's current stage, kind 1 a held packet released.
    n = len(arrival)
    ht = np.empty(n + 1)
    hs = np.empty(n + 1, dtype=np.int64)
    hp = np.empty(n + 1, dtype=np.int64)
    hk = np.empty(n + 1, dtype=np.int64)
    nh = 0
    seq = 0
    pos = np.zeros(n, dtype=np.int64)
    extra = np.zeros(n)
    occ = np.zeros(len(stage_cap), dtype=np.int64)
    idle = np.ones(n_res, dtype=np.bool_)
    wait = np.empty((n_res, n + 1), dtype=np.int64)  # per resource: a min-heap of packets
    nwait = np.zeros(n_res, dtype=np.int64)
    last_release = -1.0
    nxt = 0
    while nxt < n or nh > 0:
        if nh > 0 and (nxt >= n or ht[0] <= arrival[nxt]):
            t, p, kind = ht[0], hp[0], hk[0]
            nh = _pop(ht, hs, hp, hk, nh)
        else:
            t, p, kind = arrival[nxt], nxt, 2
            nxt += 1
        path = path_of[p]
        freed = -1
        joins = True
        if kind == 0:
            # Completion of stage pos[p]: free the stage and the resource (given to the oldest
            # waiting packet once this one's next step is known: it may be waiting there too).
            st = paths[path, pos[p]]
            freed = stage_res[st]
            occ[st] -= 1
            idle[freed] = True
            pos[p] += 1
            if pos[p] == path_len[path]:
                depart[p] = t
                joins = False
            else:
                kind = 2  # and enter the next stage now
        if kind == 2 and joins:
            st = paths[path, pos[p]]
            if stage_cap[st] > 0 and occ[st] >= stage_cap[st]:
                drop_stage[p] = pos[p]
                joins = False
            else:
                occ[st] += 1
                if pos[p] == hold_pos[path]:
                    k = np.searchsorted(release, t)
                    if k < len(release):
                        nh = _push(ht, hs, hp, hk, nh, release[k], seq, p, 1)
                        seq += 1
                        joins = False
        if kind == 1 and t != last_release:
            extra[p] = irq_extra
            last_release = t
        target = -1
        if joins:  # wait at the stage's resource (oldest packet first)
            target = stage_res[paths[path, pos[p]]]
            nwait[target] = _heap_push(wait[target], nwait[target], p)
        for r in (freed, target):
            if r >= 0 and idle[r] and nwait[r] > 0:
                q = wait[r, 0]
                nwait[r] = _heap_pop(wait[r], nwait[r])
                idle[r] = False
                s_q = service[q, pos[q]] + extra[q]
                extra[q] = 0.0
                busy[r] += s_q
                nh = _push(ht, hs, hp, hk, nh, t + s_q, seq, q, 0)
                seq += 1


def service_ns(paths: Sequence[DataPath], path_of: np.ndarray,
               frame_bytes: np.ndarray) -> np.ndarray:
    """Service time (ns) of every packet at every position of its path: ``(n, max stages)``.

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


def simulate(
    paths: Sequence[DataPath],
    arrival_ns: np.ndarray,
    frame_bytes: np.ndarray,
    path_of: np.ndarray | None = None,
    release_ns: np.ndarray | None = None,
    irq_extra_ns: float = 0.0,
    extra_ns: np.ndarray | None = None,
) -> Result:
    """Run packets (arrival times non-decreasing, sizes, path index) through their paths.

    ``release_ns``: sorted interrupt times for the paths' holds (no hold without them);
    ``extra_ns``: added service, ``(n, max stages)`` like :func:`service_ns`.
    """
    arrival = np.ascontiguousarray(arrival_ns, dtype=np.float64)
    n = len(arrival)
    if n and np.any(np.diff(arrival) < 0):
        raise ValueError("arrival times must be non-decreasing")
    which = np.zeros(n, dtype=np.int64) if path_of is None else np.asarray(path_of, np.int64)
    if n and (which.min() < 0 or which.max() >= len(paths)):
        raise ValueError("path_of names a path that was not given")
    resources = tuple(dict.fromkeys(r for p in paths for r in p.resources()))
    res_index = {r: i for i, r in enumerate(resources)}
    stages = [s for p in paths for s in p.stages]
    table = np.full((len(paths), max(len(p.stages) for p in paths)), -1, dtype=np.int64)
    k = 0
    for i, p in enumerate(paths):
        table[i, : len(p.stages)] = np.arange(k, k + len(p.stages))
        k += len(p.stages)
    svc = service_ns(paths, which, frame_bytes)
    if extra_ns is not None:
        svc = svc + extra_ns
    release = (np.zeros(0) if release_ns is None
               else np.ascontiguousarray(release_ns, dtype=np.float64))
    if len(release) and np.any(np.diff(release) < 0):
        raise ValueError("release times must be sorted")
    holds = np.array([p.hold_index() if release_ns is not None else -1 for p in paths],
                     dtype=np.int64)
    depart = np.full(n, np.nan)
    drop = np.full(n, -1, dtype=np.int64)
    busy = np.zeros(len(resources))
    _kernel(arrival, which, svc, table, np.array([len(p.stages) for p in paths], np.int64),
            np.array([res_index[s.resource] for s in stages], dtype=np.int64),
            np.array([s.capacity for s in stages], dtype=np.int64), holds, release,
            float(irq_extra_ns), len(resources), depart, drop, busy)
    return Result(arrival, depart, drop, resources, busy)
