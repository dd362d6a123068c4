"""Received frames through the NIC behavioural model, as each NIC mechanism configures it.

Every mechanism that has a physical NIC replays the frames it receives through the same
:class:`~hwmodels.nic.NICModel` (never a model of its own) at the cycle each frame has fully
left the wire, and reads back what the hardware decided: the queue (classifier), whether the
DMA went through (IOMMU), IOTLB hits and misses, and the moderated interrupts of each
queue's vector. The NIC is the mechanism's own, exactly as its ``nic.*``, ``iotlb.*``,
``iommu.levels`` and ``link.gbps`` keys describe it (the ``nic`` hardware block's parameters,
:class:`codesign.hardware.NICKeys`); :func:`check_fit` says, in one line, when a workload's
VMs do not fit it (more VMs than queues or virtual functions, more addresses than filters,
VLANs beyond its table, buffers beyond its I/O address space). It is configured one of three
ways (:class:`Layout`):

``shared``
    One receive queue owned by the host (``native-net``) or the driver domain (``emulated``,
    ``pv-split``): no filter, every frame takes the default queue, software demultiplexes.
``vmdq``
    VMDq (``multiqueue``): the physical function owns one queue per VM (queue ``v + 1``;
    queue 0 stays the default, the driver domain's own); the classifier has a (MAC, VLAN)
    filter for every address a VM receives on.
``sriov``
    A virtual function per VM (function ``v + 1``, its own IOMMU domain, one queue);
    filters as for VMDq.

**Buffers.** Each queue's ring is pre-posted with ``ring_size - 1`` buffers and its doorbell
is rung again after every frame, so the model's ring never runs dry: running out of buffers
is the queueing simulation's to decide (the driver's pace), as in ``native-net``. A
descriptor keeps its buffer, so the doorbell alone re-posts it. Buffers are mapped in the
queue owner's IOMMU domain (the driver domain's, domain 0, in ``shared`` and ``vmdq``: the
guests' granted pages are mapped there once, *grant reuse*; the VF's own under SR-IOV), two
2 KiB buffers per 4 KiB page (``ixgbe``'s page reuse), or one buffer per I/O page when each
DMA gets its own mapping:

- ``persistent``: mapped once at start-up, reused;
- ``strict``: after each DMA the buffer is unmapped (its I/O page-table entry cleared) and
  the IOTLB entry invalidated (``INV_PAGE``), then mapped again when re-posted;
- ``deferred``: as strict, but the invalidations are batched: one ``INV_DOMAIN`` of the VF's
  domain per ``flush_batch`` unmaps (a stale entry may serve the re-mapped page meanwhile).

Transmit DMA does not go through the model (as in ``native-net``): ``iotlb.misses`` counts
receive DMAs.

**IOTLB misses are timed.** A miss makes the IOMMU walk the domain's I/O page table:
``iommu.levels`` memory references, counted by the model (``iommu.walk_refs``, and per
frame in :attr:`Replay.walk_refs`). The walk is the IOMMU's hardware: it costs no CPU
cycle, but the DMA waits for it, so the NIC's receive engine is busy for the frame that
long (:func:`codesign.net.common.run_paths`: each reference at the platform's
``memory.latency``; the engine takes frames one at a time, as the model does, with no miss
under a miss). What a strict mapping costs the CPU is the software's map, unmap and
invalidation (:mod:`codesign.net.sriov`); what its misses cost is this delay, which a
frame's latency shows and which bounds the receive engine's rate when misses come closer
together than a walk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numba
import numpy as np

from hwmodels.nic import NICModel, NICParams, Op, OpBatch, Perm, count_events
from hwmodels.nic.ops import OP_FIELDS

LAYOUTS = ("shared", "vmdq", "sriov")
STRATEGIES = ("strict", "deferred", "persistent")
CHUNK = 1 << 16
"""Frames per batch handed to the model (keeps the operation columns in cache)."""


@dataclass(frozen=True)
class Layout:
    """How a mechanism configures the physical NIC (see the module docstring)."""

    kind: str = "shared"
    strategy: str = "persistent"
    flush_batch: int = 250

    def __post_init__(self) -> None:
        if self.kind not in LAYOUTS or self.strategy not in STRATEGIES:
            raise ValueError(f"layout {self.kind!r}/{self.strategy!r}: expected one of "
                             f"{LAYOUTS} and one of {STRATEGIES}")
        if self.strategy != "persistent" and self.kind != "sriov":
            raise ValueError("per-DMA IOMMU mapping is modelled for sriov only")
        if self.flush_batch < 1:
            raise ValueError("flush_batch must be >= 1")

    def queue(self, vm: int, nic: NICParams) -> int:
        """The queue VM ``vm``'s frames are classified to."""
        if self.kind == "shared":
            return 0
        if self.kind == "vmdq":
            return vm + 1
        return (vm + 1) * nic.queues_per_function

    def function(self, queue: int, nic: NICParams) -> int:
        """The function (and IOMMU domain) owning ``queue``."""
        return queue // nic.queues_per_function


def buffer_pages(layout: Layout, nic: NICParams, vms: int) -> int:
    """I/O pages the receive buffers of ``vms`` VMs take in the busiest IOMMU domain: a ring's
    worth (``ring_size / 2 + 1`` pages, two buffers a page; ``ring_size + 1`` with a mapping
    per DMA) for each queue in it -- the driver's queue 0 and, under VMDq, every VM's queue
    (all the physical function's); one ring under SR-IOV (each VF its own domain).

    >>> nic = NICParams()
    >>> buffer_pages(Layout("shared"), nic, 4), buffer_pages(Layout("vmdq"), nic, 4)
    (129, 645)
    >>> buffer_pages(Layout("sriov", "strict"), nic, 4)
    257
    """
    per_ring = nic.ring_size // (1 if layout.strategy != "persistent" else 2) + 1
    return per_ring * (vms + 1 if layout.kind == "vmdq" else 1)


def check_fit(layout: Layout, nic: NICParams, vms: int, top_vlan: int = 0,
              addresses: int | None = None) -> None:
    """One-line ``ValueError`` naming the dotted keys unless ``vms`` VMs -- their frames tagged
    with VLANs up to ``top_vlan``, sent to ``addresses`` (MAC, VLAN) addresses (one a VM
    unless given) -- fit the NIC ``nic`` configured as ``layout``.

    >>> check_fit(Layout("vmdq"), NICParams(queues=4), 4)
    Traceback (most recent call last):
    ValueError: 4 VMs need 5 queues of the physical function (queue 0 stays the driver's), more than nic.queues (4)
    >>> check_fit(Layout("sriov"), NICParams(queues=8, vfs=2), 3)
    Traceback (most recent call last):
    ValueError: 3 VMs need a virtual function each, more than nic.vfs (2)
    """  # noqa: E501
    if top_vlan >= nic.vlans:
        raise ValueError(f"frames tagged with VLAN {top_vlan} are beyond the NIC's VLAN table "
                         f"(nic.vlans {nic.vlans}: VLANs 0 .. {nic.vlans - 1})")
    if layout.kind == "vmdq" and vms + 1 > nic.queues_per_function:
        where = (f"nic.queues ({nic.queues})" if nic.vfs == 0 else
                 f"its {nic.queues_per_function} (nic.queues {nic.queues} split into "
                 f"{nic.pools} pools by nic.vfs {nic.vfs})")
        raise ValueError(f"{vms} VMs need {vms + 1} queues of the physical function (queue 0 "
                         f"stays the driver's), more than {where}")
    if layout.kind == "sriov" and vms > nic.vfs:
        raise ValueError(f"{vms} VMs need a virtual function each, more than nic.vfs "
                         f"({nic.vfs})")
    n = vms if addresses is None else addresses
    if layout.kind != "shared" and n > nic.filters:
        raise ValueError(f"{n} (MAC, VLAN) addresses need a receive filter each, more than "
                         f"nic.filters ({nic.filters})")
    pages = buffer_pages(layout, nic, vms)
    if pages > 1 << nic.page_bits:
        need = (pages - 1).bit_length() + 12
        raise ValueError(f"the receive buffers need {pages} I/O pages in one domain, more than "
                         f"the {1 << nic.page_bits} of nic.iova_bits {nic.iova_bits}: raise it "
                         f"to {need} (at most 32) or lower nic.ring_size")
    domains = vms + 1 if layout.kind == "sriov" else 1
    if domains << nic.page_bits > 1 << nic.pfn_bits:
        raise ValueError(f"{domains} IOMMU domains of {1 << nic.page_bits} I/O pages do not fit "
                         f"the host's frames (nic.pa_bits {nic.pa_bits}): raise it")


@dataclass(frozen=True, eq=False)
class Replay:
    """What the NIC did with the frames: ``status`` (``Status``) and ``queue`` of each, the VM
    it is for (its own ``vm`` with a shared queue, else the owner of its address), the
    model's counters, the interrupt times (ns, on the stream's clock) of each vector as the NIC
    raises them with no driver masking it (the mechanisms' NAPI drivers do: their interrupts
    are the queueing simulation's), and the IOMMU walk references of each frame's DMA (0 on
    an IOTLB hit)."""

    status: np.ndarray
    queue: np.ndarray
    vm: np.ndarray
    counters: dict[str, int]
    irq_ns: dict[int, np.ndarray]
    walk_refs: np.ndarray

    @property
    def interrupts(self) -> int:
        """Interrupts the NIC raised."""
        return sum(len(v) for v in self.irq_ns.values())


def owners(frames: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (MAC, VLAN) addresses the frames are sent to, in ascending order, and the VM each
    belongs to (the VM of the first frame sent to it). ``frames`` is a packet stream, or a
    mapping of its fields.

    >>> from workloads.packets.frames import empty
    >>> f = empty(3); f["dst_mac"] = [5, 6, 5]; f["vlan"] = [1, 0, 1]; f["vm"] = [0, 1, 1]
    >>> [a.tolist() for a in owners(f)]
    [[5, 6], [1, 0], [0, 1]]
    """
    key, first = _first_seen(frames["dst_mac"], frames["vlan"])
    order = np.argsort(key)
    addr, first = key[order], first[order]
    return (addr >> np.uint64(12), (addr & np.uint64(0xFFF)).astype(np.int64),
            np.asarray(frames["vm"])[first].astype(np.int64))


@numba.njit(cache=True)
def _first_seen(dst_mac, vlan):  # pragma: no cover (compiled)
    """The distinct (MAC << 12 | VLAN) keys in order of first appearance, and the index of
    each one's first frame: one pass through an open-addressing table (multiplicative
    hashing, linear probing), doubled and the pass restarted when it is half full."""
    bits = 6
    while True:
        size = 1 << bits
        slot = np.full(size, -1, dtype=np.int64)
        keys = np.empty(size // 2, dtype=np.uint64)
        first = np.empty(size // 2, dtype=np.int64)
        m = 0
        full = False
        for i in range(len(dst_mac)):
            k = (np.uint64(dst_mac[i]) << np.uint64(12)) | np.uint64(vlan[i])
            h = np.int64((k * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits))
            while slot[h] >= 0 and keys[slot[h]] != k:
                h = (h + 1) & (size - 1)
            if slot[h] < 0:
                if m == size // 2:
                    full = True
                    break
                slot[h] = m
                keys[m] = k
                first[m] = i
                m += 1
        if not full:
            return keys[:m].copy(), first[:m].copy()
        bits += 1


@numba.njit(cache=True)
def _classify(dst_mac, vlan, keys, q_of_addr, vm_of_addr, queue, vm):  # pragma: no cover
    """Each frame's queue and VM, by its (MAC, VLAN) address among ``keys`` (ascending,
    holding every frame's)."""
    for i in range(len(dst_mac)):
        k = (np.uint64(dst_mac[i]) << np.uint64(12)) | np.uint64(vlan[i])
        a = np.searchsorted(keys, k)
        queue[i] = q_of_addr[a]
        vm[i] = vm_of_addr[a]


@numba.njit(cache=True)
def _running_count(queue: np.ndarray, seen: np.ndarray) -> np.ndarray:  # pragma: no cover
    """Per frame, how many frames of its queue came before it (``seen``: per queue, those
    of earlier calls; updated)."""
    out = np.empty(len(queue), dtype=np.int64)
    for i in range(len(queue)):
        q = queue[i]
        out[i] = seen[q]
        seen[q] += 1
    return out


@numba.njit(cache=True)
def _cycles(done_ns: np.ndarray, ns_per_cycle: float,
            offset: int) -> tuple[np.ndarray, int]:  # pragma: no cover
    """The NIC cycle of each time (rounded up, ``offset`` later) and the smallest gap
    between consecutive ones."""
    out = np.empty(len(done_ns), dtype=np.int64)
    closest = np.int64(1) << 62
    for i in range(len(done_ns)):
        out[i] = np.int64(np.ceil(done_ns[i] / ns_per_cycle - 1e-9)) + offset
        if i and out[i] - out[i - 1] < closest:
            closest = out[i] - out[i - 1]
    return out, closest


@numba.njit(cache=True)
def _fill(a, b, k, cyc, dst_mac, vlan, src_ip, dst_ip, queue, domain, slot,
          cycle, mac, vl, flow, q_col, fn_col, slot_col):  # pragma: no cover
    """Write frames ``a`` .. ``b``'s operation columns (``k`` rows a frame, from row 0): the
    cycles from each frame's ``cyc``; the RX row's address and flow; the doorbell's queue,
    function and slot. The other columns keep what the pattern put there."""
    for i in range(a, b):
        r = (i - a) * k
        for j in range(k):
            cycle[r + j] = cyc[i] + j
        mac[r] = dst_mac[i]
        vl[r] = vlan[i]
        flow[r] = (np.uint64(src_ip[i]) << np.uint64(32)) | np.uint64(dst_ip[i])
        q = queue[i]
        q_col[r + k - 1] = q
        fn_col[r + k - 1] = domain[q]
        slot_col[r + k - 1] = slot[i]


@numba.njit(cache=True)
def _take(a, k, ev_status, ev_queue, ev_walk, status, got_queue,
          walk_refs):  # pragma: no cover
    """Frame ``a + i``'s RX events (row ``i * k`` of a chunk) into the per-frame arrays."""
    for i in range(len(ev_status) // k):
        status[a + i] = ev_status[i * k]
        got_queue[a + i] = ev_queue[i * k]
        walk_refs[a + i] = ev_walk[i * k]


@numba.njit(cache=True)
def _tally(op, status, hit, walk, out):  # pragma: no cover
    """Add a batch's counters into ``out``, in :data:`COUNTERS`' order: exactly
    :func:`hwmodels.nic.count_events` but the interrupts, in one pass."""
    for i in range(len(op)):
        o = op[i]
        s = status[i]
        if o == 1:  # Op.RX
            out[0] += 1
            if s == 1:
                out[1] += 1
        elif o == 2 and s == 1:  # Op.TX sent
            out[2] += 1
        if s == 2:
            out[3] += 1
        elif s == 3:
            out[4] += 1
        elif s == 4:
            out[5] += 1
        elif s == 5:
            out[6] += 1
        if s == 1 or s == 4:  # translated (delivered or faulted)
            if hit[i] == 1:
                out[7] += 1
            else:
                out[8] += 1
        out[9] += walk[i]


COUNTERS = ("nic.rx.frames", "nic.rx.delivered", "nic.tx.sent", "nic.drops.vlan",
            "nic.drops.no_descriptor", "nic.faults.dma", "nic.denied", "nic.iotlb.hits",
            "nic.iotlb.misses", "nic.iommu.walk_refs")
"""The counters :func:`_tally` adds, in its order (``nic.irq.raised`` is counted apart)."""


def replay(frames: Mapping[str, np.ndarray], wire_done_ns: np.ndarray, nic: NICParams,
           layout: Layout) -> Replay:
    """Replay received ``frames`` (in time order; a packet stream, or its ``dst_mac``,
    ``vlan``, ``vm``, ``src_ip`` and ``dst_ip`` fields) through the NIC model at the cycle
    each leaves the wire (see the module docstring)."""
    nr = NICReplayer(frames, nic, layout)
    status, queue, vm, walk_refs = nr.feed(frames, wire_done_ns)
    counters, irq_ns = nr.finish()
    return Replay(status, queue, vm, counters, irq_ns, walk_refs)


class NICReplayer:
    """:func:`replay` fed a chunk of frames at a time: the NIC model, each queue's running
    count and the interrupts so far carry from one chunk to the next, so the frames of every
    chunk get exactly what one replay of all of them gives. ``survey`` is every frame's
    ``dst_mac``, ``vlan`` and ``vm`` (or a stream): the VLANs, filters and queues are set up
    for all of them before the first frame, as a driver configures the NIC before traffic.
    With ``keep_irqs=False`` the interrupts are counted, not kept (``finish`` then gives no
    interrupt times): for a stream of any length."""

    def __init__(self, survey: Mapping[str, np.ndarray], nic: NICParams, layout: Layout,
                 keep_irqs: bool = True) -> None:
        self.nic, self.layout = nic, layout
        self._keep_irqs = keep_irqs
        self._raised = 0
        n = len(survey["vlan"])
        r = nic.ring_size
        self._one_per_page = one_per_page = layout.strategy != "persistent"
        top_vlan = int(survey["vlan"].max()) if n else 0
        self._keys: np.ndarray | None = None
        if layout.kind == "shared":
            check_fit(layout, nic, 0, top_vlan)
            used = [0]
        else:
            macs, vlans_of_addr, vm_of_addr = owners(survey)
            vms = int(vm_of_addr.max()) + 1 if n else 0
            check_fit(layout, nic, vms, top_vlan, len(macs))
            q_of_addr = np.array([layout.queue(int(v), nic) for v in vm_of_addr],
                                 dtype=np.int64)
            self._keys = (macs << np.uint64(12)) | vlans_of_addr.astype(np.uint64)
            self._q_of_addr, self._vm_of_addr = q_of_addr, vm_of_addr
            used = sorted({0} | set(q_of_addr.tolist()))
        fn = {q: layout.function(q, nic) for q in used}
        self._region = region = {q: (0 if layout.kind == "sriov" else k)
                                 for k, q in enumerate(used)}
        self._pages_per_ring = pages_per_ring = r // (1 if one_per_page else 2) + 1
        buffer = self._buffer
        # Set-up: VLANs, filters, buffer pages, full rings.
        setup: list[tuple[int, ...]] = []  # (op, fn, queue, ring, slot, addr, mac, vlan,
        #                                     index, enable, arg, pfn, domain)
        vlans = ({0} if top_vlan == 0 else
                 {0} | set(np.flatnonzero(np.bincount(survey["vlan"], minlength=1)).tolist()))
        for v in sorted(vlans):
            setup.append((Op.VLAN, 0, 0, 0, 0, 0, 0, v, 0, 1, 0, 0, 0))
        if layout.kind != "shared":
            for i, (m, v) in enumerate(zip(macs.tolist(), vlans_of_addr.tolist(),
                                           strict=True)):
                setup.append((Op.FILTER, 0, int(q_of_addr[i]), 0, 0, 0, m, v, i, 1, 0, 0, 0))
        for q in used:
            d = fn[q]
            for pg in range(pages_per_ring):
                page = region[q] * pages_per_ring + pg
                setup.append((Op.MAP, 0, 0, 0, 0, page << 12, 0, 0, 0, 1, Perm.R | Perm.W,
                              (d << nic.page_bits) + page, d))
            for s in range(r):  # every slot's buffer (the last one is posted by a doorbell)
                setup.append((Op.DESC, d, q, 0, s, int(buffer(q, s)), 0, 0, 0, 0, 0, 0, 0))
            setup.append((Op.DOORBELL, d, q, 0, r - 1, 0, 0, 0, 0, 0, 0, 0, 0))
        names = ("op", "fn", "queue", "ring", "slot", "addr", "mac", "vlan", "index", "enable",
                 "arg", "pfn", "domain")
        cols = {name: np.zeros(len(setup), dtype=np.int64) for name in OP_FIELDS}
        cols["flow"] = np.zeros(len(setup), dtype=np.uint64)
        for j, name in enumerate(names):
            cols[name][:] = [row[j] for row in setup]
        self._n_setup = n_setup = len(setup)
        cols["cycle"][:] = np.arange(n_setup)
        self.model = NICModel(nic)
        res0 = self.model.run(OpBatch(cols), check=True)
        self._totals = count_events(OpBatch(cols), res0)
        self._tally = np.zeros(len(COUNTERS), dtype=np.int64)
        self._irq_c = [res0.irq_cycle]
        self._irq_v = [res0.irq_vector]
        # Per frame, a fixed number of operations: RX, the driver's IOMMU work (strict:
        # unmap, invalidate, map; deferred: unmap, map, and an INV_DOMAIN after every
        # flush_batch-th unmap of a domain, else an idle cycle), the doorbell.
        self._pattern = {"persistent": (Op.RX, Op.DOORBELL),
                         "strict": (Op.RX, Op.MAP, Op.INV_PAGE, Op.MAP, Op.DOORBELL),
                         "deferred": (Op.RX, Op.MAP, Op.MAP, Op.NOP, Op.DOORBELL)
                         }[layout.strategy]
        self._domain = np.array([fn.get(int(q), 0) for q in range(nic.queues)],
                                dtype=np.int64)
        self._seen = np.zeros(nic.queues, dtype=np.int64)  # frames per queue so far
        self._last_cycle = -1  # the previous chunk's last frame's cycle
        self._done = False

    def _buffer(self, q: int, slot: np.ndarray | int) -> np.ndarray | int:
        base = self._region[q] * self._pages_per_ring
        if self._one_per_page:
            return (base + slot) << 12
        return (base + (slot >> 1)) << 12 | (slot & 1) << 11

    def feed(self, frames: Mapping[str, np.ndarray], wire_done_ns: np.ndarray,
             next_done_ns: float | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(status, queue, vm, IOMMU walk references) of each of ``frames`` (the next ones
        of the stream, leaving the wire at ``wire_done_ns``); ``next_done_ns``: when the
        next chunk's first frame leaves the wire (None: no frame comes after these; chunks
        without frames may still be fed)."""
        n = len(wire_done_ns)
        if self._done:  # the last frame was fed: only chunks without frames may follow
            if n:
                raise ValueError("frames after the replay's last frame")
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy(), empty.copy(), empty.copy()
        nic, layout = self.nic, self.layout
        ns_per_cycle = 1e3 / nic.clock_mhz
        r = nic.ring_size
        if self._keys is None:
            queue = np.zeros(n, dtype=np.int64)
            vm = frames["vm"].astype(np.int64)
        else:
            queue = np.empty(n, dtype=np.int64)
            vm = np.empty(n, dtype=np.int64)
            _classify(frames["dst_mac"], frames["vlan"], self._keys, self._q_of_addr,
                      self._vm_of_addr, queue, vm)
        # Frames: the slot each consumes (its queue's running count), then the driver's ops.
        before = _running_count(queue, self._seen)
        slot = before % r
        pattern = self._pattern
        k = len(pattern)
        flush = ((before + 1) % layout.flush_batch == 0 if layout.strategy == "deferred"
                 else np.zeros(n, dtype=bool))
        cyc, closest = _cycles(np.ascontiguousarray(wire_done_ns, dtype=np.float64),
                               ns_per_cycle, self._n_setup)
        if n and self._last_cycle >= 0:
            closest = min(closest, int(cyc[0]) - self._last_cycle)
        if (n > 1 or (n and self._last_cycle >= 0)) and closest < k:
            raise ValueError(f"frames closer than {k} NIC cycles: lower link.gbps")
        if n:
            self._last_cycle = int(cyc[-1])
        status = np.zeros(n, dtype=np.int64)
        got_queue = np.zeros(n, dtype=np.int64)
        walk_refs = np.zeros(n, dtype=np.int64)
        rows = min(n, CHUNK)
        buf = {name: np.zeros((rows, k), dtype=np.int64) for name in OP_FIELDS}
        buf["flow"] = np.zeros((rows, k), dtype=np.uint64)
        buf["op"][:] = pattern
        buf["arg"][:, 1:-1] = Perm.R | Perm.W
        if layout.strategy != "persistent":
            buf["enable"][:, k - 2 if layout.strategy == "strict" else 2] = 1  # the re-map
        dst_mac, vlan = frames["dst_mac"], frames["vlan"]
        src_ip, dst_ip = frames["src_ip"], frames["dst_ip"]
        domain = self._domain
        if next_done_ns is None:
            self._done = True
            end = (int(cyc[-1]) if n else self._last_cycle) + k + nic.itr_cycles + 2
        else:
            end = int(np.ceil(next_done_ns / ns_per_cycle - 1e-9)) + self._n_setup
        for a in range(0, n, CHUNK):
            b = min(n, a + CHUNK)
            m = b - a
            c = {name: col[:m] for name, col in buf.items()}
            flat = {name: col.reshape(-1) for name, col in c.items()}
            _fill(a, b, k, cyc, dst_mac, vlan, src_ip, dst_ip, queue, domain, slot,
                  flat["cycle"], flat["mac"], flat["vlan"], flat["flow"], flat["queue"],
                  flat["fn"], flat["slot"])
            if layout.strategy != "persistent":
                d = domain[queue[a:b]]
                page = np.asarray(self._buffer(0, slot[a:b]))  # SR-IOV: rings from page 0
                c["addr"][:, 1:-1] = page[:, None]
                c["domain"][:, 1:-1] = d[:, None]
                c["pfn"][:, 1:-1] = ((d << nic.page_bits) + (page >> 12))[:, None]
                if layout.strategy == "deferred":
                    c["op"][:, 3] = np.where(flush[a:b], Op.INV_DOMAIN, Op.NOP)
            until = int(cyc[b]) if b < n else end
            res = self.model.run(OpBatch(flat), until=until, check=False)
            ev = res.events
            _take(a, k, ev["status"], ev["queue"], ev["walk_refs"], status, got_queue,
                  walk_refs)
            _tally(flat["op"], ev["status"], ev["iotlb_hit"], ev["walk_refs"], self._tally)
            self._raised += len(res.irq_cycle)
            if self._keep_irqs:  # copies: the model's arrays are as long as the batch
                self._irq_c.append(res.irq_cycle.copy())
                self._irq_v.append(res.irq_vector.copy())
        ok = status == 1
        if np.any((got_queue != queue) & ok):
            raise AssertionError("the NIC model classified a frame to another queue than "
                                 "planned")
        return status, queue, vm, walk_refs

    def finish(self) -> tuple[dict[str, int], dict[int, np.ndarray]]:
        """(the model's counters, each vector's interrupt times in ns) over every frame."""
        totals = dict(self._totals)
        for key, value in zip(COUNTERS, self._tally.tolist(), strict=True):
            totals[key] += value
        totals["nic.irq.raised"] += self._raised
        cycles = np.concatenate(self._irq_c)
        vectors = np.concatenate(self._irq_v)
        ns_per_cycle = 1e3 / self.nic.clock_mhz
        irq_ns = {int(v): (cycles[vectors == v] - self._n_setup) * ns_per_cycle
                  for v in np.unique(vectors)}
        return totals, {v: t[t >= 0] for v, t in irq_ns.items()}
