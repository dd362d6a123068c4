"""Operations in, events out: the interface both NIC levels (behavioural model and RTL) implement.

Time is counted in cycles of the NIC clock (``NICParams.clock_mhz``). A batch is a column array
of operations, each stamped with the cycle it happens in (strictly increasing); the cycles
between them are idle. One operation per cycle, as the RTL takes one per clock.

=============  ==============  ================================================================
op             issued by       effect
=============  ==============  ================================================================
``RX``         the wire        a frame ``(mac, vlan, flow)`` arrives: classify, take the next
                               receive descriptor of the chosen queue, translate its buffer
                               address through the IOTLB, DMA-write (``dma_addr``)
``TX``         the wire        a transmit slot: the next non-empty transmit ring, round robin
                               after the last one served, gives its head descriptor; translate,
                               DMA-read
``DESC``       function ``fn`` write buffer address ``addr`` into slot ``slot`` of ring
                               ``ring`` (0 receive, 1 transmit) of queue ``queue``
``DOORBELL``   function ``fn`` write the tail of that ring (``slot``)
``IRQ_MASK``   function ``fn`` mask (``enable`` 1) or unmask the vector of ``queue``; an
                               unmask with ``arg`` bit 0 also clears the vector's count (NAPI
                               re-arms the vector after its poll emptied the ring)
``FILTER``     PF only         filter ``index`` := ``(mac, vlan) -> queues queue | hash low bits``
                               with ``arg`` hash bits (spread over ``2**arg`` queues); ``enable``
                               is the entry's valid bit
``VLAN``       PF only         VLAN table bit ``vlan`` := ``enable``
``DEFAULT_Q``  PF only         misses go to ``queue`` (must be a PF queue)
``MAP``        host (fn 0)     I/O page table of ``domain``: page of ``addr`` -> frame ``pfn``
                               with ``arg`` permissions (``Perm``), present = ``enable``
``INV_PAGE``   host (fn 0)     drop IOTLB entries of ``(domain, page of addr)``
``INV_DOMAIN`` host (fn 0)     drop every IOTLB entry of ``domain``
=============  ==============  ================================================================

Isolation rules, enforced by the hardware and reported as status ``DENIED``: a function touches
only the rings and vectors of its own queues; only function 0 configures filters, VLANs, the
default queue and the IOMMU; a filter's queue set must be aligned and inside one function's pool.

Events (0 where an operation does not produce them): ``status`` (``Status``); for ``RX``
(unless VLAN-dropped) and ``TX`` the ``queue`` and its owner ``fn``; when a descriptor is
consumed its ``slot``, ``iotlb_hit``, ``walk_refs`` (IOMMU page-walk references on a miss) and,
if the DMA is allowed, ``dma_addr`` (physical). Interrupts are reported apart, as
``(cycle, vector)`` pairs: vector ``q`` belongs to queue ``q`` (receive and transmit).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import NamedTuple

import numpy as np

from hwmodels.nic.params import NICParams


class Op(IntEnum):
    """Operation codes (4 bits in the RTL)."""

    NOP = 0
    RX = 1
    TX = 2
    DESC = 3
    DOORBELL = 4
    IRQ_MASK = 5
    FILTER = 6
    VLAN = 7
    DEFAULT_Q = 8
    MAP = 9
    INV_PAGE = 10
    INV_DOMAIN = 11


class Status(IntEnum):
    """Outcome of an operation (3 bits in the RTL)."""

    NONE = 0  # nothing to report: accepted configuration, idle transmit slot
    OK = 1  # frame delivered (RX) or sent (TX)
    DROP_VLAN = 2  # VLAN not enabled in the VLAN table
    DROP_NO_DESC = 3  # receive ring empty
    FAULT = 4  # DMA blocked by the IOMMU: page not present or permission missing
    DENIED = 5  # request refused by an isolation or validity rule


class Ring(IntEnum):
    """Which ring of a queue."""

    RX = 0
    TX = 1


class Perm(IntFlag):
    """I/O page permissions (from the device's point of view)."""

    R = 1  # device may read (transmit)
    W = 2  # device may write (receive)


NEXT = -1
"""A ``cycle`` of -1 means: the cycle after the previous operation's."""


class NICOp(NamedTuple):
    """One operation; build with the classmethods.

    >>> NICOp.rx(0x0200_0000_0001, vlan=5, flow=7, at=100)[:4]
    (100, <Op.RX: 1>, 0, 0)
    """

    cycle: int
    op: int
    fn: int = 0
    queue: int = 0
    ring: int = 0
    slot: int = 0
    addr: int = 0
    mac: int = 0
    vlan: int = 0
    flow: int = 0
    index: int = 0
    enable: int = 0
    arg: int = 0
    pfn: int = 0
    domain: int = 0

    @classmethod
    def nop(cls, at: int = NEXT) -> NICOp:
        """An idle cycle."""
        return cls(at, Op.NOP)

    @classmethod
    def rx(cls, mac: int, vlan: int = 0, flow: int = 0, at: int = NEXT) -> NICOp:
        """A received frame; ``flow`` is the 64-bit hash input (IPv4 source << 32 | dest)."""
        return cls(at, Op.RX, mac=mac, vlan=vlan, flow=flow)

    @classmethod
    def tx(cls, at: int = NEXT) -> NICOp:
        """A transmit slot on the wire."""
        return cls(at, Op.TX)

    @classmethod
    def desc(cls, queue: int, slot: int, iova: int, *, ring: int = Ring.RX, fn: int = 0,
             at: int = NEXT) -> NICOp:
        """Software writes a descriptor (buffer I/O virtual address)."""
        return cls(at, Op.DESC, fn=fn, queue=queue, ring=ring, slot=slot, addr=iova)

    @classmethod
    def doorbell(cls, queue: int, tail: int, *, ring: int = Ring.RX, fn: int = 0,
                 at: int = NEXT) -> NICOp:
        """Software writes a ring's tail register."""
        return cls(at, Op.DOORBELL, fn=fn, queue=queue, ring=ring, slot=tail)

    @classmethod
    def irq_mask(cls, queue: int, masked: bool, *, ack: bool = False, fn: int = 0,
                 at: int = NEXT) -> NICOp:
        """Mask or unmask a queue's vector; ``ack`` with an unmask also clears its count."""
        return cls(at, Op.IRQ_MASK, fn=fn, queue=queue, enable=int(masked), arg=int(ack))

    @classmethod
    def filter(cls, index: int, mac: int, vlan: int, queue: int, spread_bits: int = 0, *,
               valid: bool = True, fn: int = 0, at: int = NEXT) -> NICOp:
        """Program filter ``index``: ``(mac, vlan)`` to ``2**spread_bits`` queues from ``queue``."""
        return cls(at, Op.FILTER, fn=fn, queue=queue, mac=mac, vlan=vlan, index=index,
                   enable=int(valid), arg=spread_bits)

    @classmethod
    def vlan_enable(cls, vlan: int, on: bool = True, *, fn: int = 0, at: int = NEXT) -> NICOp:
        """Set one bit of the VLAN table."""
        return cls(at, Op.VLAN, fn=fn, vlan=vlan, enable=int(on))

    @classmethod
    def default_queue(cls, queue: int, *, fn: int = 0, at: int = NEXT) -> NICOp:
        """Queue for frames no filter matches."""
        return cls(at, Op.DEFAULT_Q, fn=fn, queue=queue)

    @classmethod
    def map(cls, domain: int, iova: int, pfn: int, perms: int = Perm.R | Perm.W, *,
            present: bool = True, fn: int = 0, at: int = NEXT) -> NICOp:
        """Write one I/O page-table entry of ``domain``."""
        return cls(at, Op.MAP, fn=fn, addr=iova, pfn=pfn, domain=domain, enable=int(present),
                   arg=int(perms))

    @classmethod
    def inv_page(cls, domain: int, iova: int, *, fn: int = 0, at: int = NEXT) -> NICOp:
        """IOTLB invalidation of one page of one domain."""
        return cls(at, Op.INV_PAGE, fn=fn, addr=iova, domain=domain)

    @classmethod
    def inv_domain(cls, domain: int, *, fn: int = 0, at: int = NEXT) -> NICOp:
        """IOTLB invalidation of a whole domain."""
        return cls(at, Op.INV_DOMAIN, fn=fn, domain=domain)


class NICEvent(NamedTuple):
    """Events of one operation (see the module docstring)."""

    status: int = 0
    queue: int = 0
    fn: int = 0
    slot: int = 0
    iotlb_hit: int = 0
    walk_refs: int = 0
    dma_addr: int = 0


OP_FIELDS: tuple[str, ...] = NICOp._fields
EVENT_FIELDS: tuple[str, ...] = NICEvent._fields
EVENT_DTYPES: dict[str, type] = {
    "status": np.uint8,
    "queue": np.int32,
    "fn": np.int32,
    "slot": np.int32,
    "iotlb_hit": np.uint8,
    "walk_refs": np.uint8,
    "dma_addr": np.int64,
}


def _i64(a: Iterable[int] | np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class OpBatch:
    """Operations as columns (``int64``; ``flow`` is ``uint64``).

    >>> b = OpBatch.from_ops([NICOp.rx(1, at=5), NICOp.tx(), NICOp.nop(at=9)])
    >>> b.cycle.tolist(), b.op.tolist()
    ([5, 6, 9], [1, 2, 0])
    """

    cols: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        n = None
        for name in OP_FIELDS:
            dtype = np.uint64 if name == "flow" else np.int64
            arr = np.ascontiguousarray(self.cols[name], dtype=dtype)
            if arr.ndim != 1 or (n is not None and len(arr) != n):
                raise ValueError(f"{name}: expected a 1-D array of length {n}, got {arr.shape}")
            n = len(arr)
            self.cols[name] = arr

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["cols"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __len__(self) -> int:
        return len(self.cols["op"])

    @classmethod
    def from_ops(cls, ops: Iterable[NICOp], start: int = 0) -> OpBatch:
        """Columns from single operations; a cycle of ``NEXT`` follows the previous op
        (the first one then happens at ``start``)."""
        rows = [list(op) for op in ops]
        prev = start - 1
        for r in rows:
            if r[0] == NEXT:
                r[0] = prev + 1
            prev = r[0]
        cols = list(zip(*rows, strict=True)) if rows else [()] * len(OP_FIELDS)
        return cls({
            name: np.array([int(v) for v in c], dtype=np.uint64 if name == "flow" else np.int64)
            for name, c in zip(OP_FIELDS, cols, strict=True)
        })

    @classmethod
    def empty(cls) -> OpBatch:
        """No operations."""
        return cls.from_ops([])

    def row(self, i: int) -> NICOp:
        """Operation ``i``."""
        return NICOp(*(int(self.cols[n][i]) for n in OP_FIELDS))

    def __getitem__(self, s: slice) -> OpBatch:
        return OpBatch({n: a[s] for n, a in self.cols.items()})

    def check(self, params: NICParams, start: int = 0) -> None:
        """``ValueError`` unless cycles increase from ``start`` and every operand fits its port.

        >>> p = NICParams(queues=4, filters=2, ring_size=4)
        >>> OpBatch.from_ops([NICOp.doorbell(queue=4, tail=0)]).check(p)
        Traceback (most recent call last):
        ...
        ValueError: queue: op 0 has 0x4, expected < 0x4
        """
        n = len(self)
        if n and (int(self.cycle[0]) < start or np.any(np.diff(self.cycle) <= 0)):
            raise ValueError(f"cycle: expected strictly increasing cycles from {start}")
        limits = {
            "op": len(Op),
            "fn": params.functions,
            "queue": params.queues,
            "ring": 2,
            "slot": params.ring_size,
            "addr": 1 << params.iova_bits,
            "mac": 1 << 48,
            "vlan": 1 << 12,
            "index": params.filters,
            "enable": 2,
            "arg": 16,
            "pfn": 1 << params.pfn_bits,
            "domain": params.functions,
        }
        for name, limit in limits.items():
            col = self.cols[name]
            bad = np.flatnonzero((col < 0) | (col >= limit))
            if len(bad):
                i = int(bad[0])
                raise ValueError(f"{name}: op {i} has {int(col[i]):#x}, expected < {limit:#x}")


@dataclass(frozen=True, eq=False)
class NICResult:
    """Per-operation events plus the interrupts raised, as columns.

    ``irq_cycle[k]`` is the cycle interrupt ``k`` was raised in, ``irq_vector[k]`` its vector.
    """

    events: dict[str, np.ndarray]
    irq_cycle: np.ndarray
    irq_vector: np.ndarray

    def __len__(self) -> int:
        return len(self.events["status"])

    def row(self, i: int) -> NICEvent:
        """Events of operation ``i``."""
        return NICEvent(*(int(self.events[f][i]) for f in EVENT_FIELDS))

    def irqs(self) -> list[tuple[int, int]]:
        """``(cycle, vector)`` of every interrupt raised."""
        return list(zip(self.irq_cycle.tolist(), self.irq_vector.tolist(), strict=True))

    @classmethod
    def zeros(cls, n: int) -> NICResult:
        """``n`` all-zero events, no interrupts.

        >>> NICResult.zeros(2).row(1)
        NICEvent(status=0, queue=0, fn=0, slot=0, iotlb_hit=0, walk_refs=0, dma_addr=0)
        """
        z = np.zeros(0, dtype=np.int64)
        return cls({f: np.zeros(n, dtype=d) for f, d in EVENT_DTYPES.items()}, z, z.copy())

    def first_difference(self, other: NICResult) -> int | None:
        """Index of the first operation whose events differ, or None.

        >>> a, b = NICResult.zeros(3), NICResult.zeros(3); b.events["queue"][1] = 2
        >>> a.first_difference(b)
        1
        """
        if len(self) != len(other):
            return min(len(self), len(other))
        diff = np.zeros(len(self), dtype=bool)
        for f in EVENT_FIELDS:
            diff |= self.events[f] != other.events[f]
        idx = np.flatnonzero(diff)
        return int(idx[0]) if len(idx) else None


COUNTER_NAMES: tuple[str, ...] = (
    "nic.rx.frames",
    "nic.rx.delivered",
    "nic.tx.sent",
    "nic.drops.vlan",
    "nic.drops.no_descriptor",
    "nic.faults.dma",
    "nic.denied",
    "nic.iotlb.hits",
    "nic.iotlb.misses",
    "nic.iommu.walk_refs",
    "nic.irq.raised",
)


def count_events(ops: OpBatch, result: NICResult) -> dict[str, int]:
    """The NIC's counters, computed from a batch and its events (the same for both levels).

    >>> ops = OpBatch.from_ops([NICOp.rx(1), NICOp.rx(1)])
    >>> r = NICResult.zeros(2); r.events["status"][:] = [Status.DROP_NO_DESC, Status.DROP_VLAN]
    >>> c = count_events(ops, r); c["nic.rx.frames"], c["nic.drops.no_descriptor"]
    (2, 1)
    """
    st = result.events["status"]
    translated = (st == Status.OK) | (st == Status.FAULT)
    hit = result.events["iotlb_hit"] == 1
    return {
        "nic.rx.frames": int((ops.op == Op.RX).sum()),
        "nic.rx.delivered": int(((ops.op == Op.RX) & (st == Status.OK)).sum()),
        "nic.tx.sent": int(((ops.op == Op.TX) & (st == Status.OK)).sum()),
        "nic.drops.vlan": int((st == Status.DROP_VLAN).sum()),
        "nic.drops.no_descriptor": int((st == Status.DROP_NO_DESC).sum()),
        "nic.faults.dma": int((st == Status.FAULT).sum()),
        "nic.denied": int((st == Status.DENIED).sum()),
        "nic.iotlb.hits": int((translated & hit).sum()),
        "nic.iotlb.misses": int((translated & ~hit).sum()),
        "nic.iommu.walk_refs": int(result.events["walk_refs"].sum()),
        "nic.irq.raised": len(result.irq_cycle),
    }


class NICFrontend(ABC):
    """What both levels offer: a batch ``run`` plus readable single-step helpers.

    ``now`` is the first cycle not yet simulated.
    """

    params: NICParams
    now: int

    @abstractmethod
    def run(self, ops: OpBatch, until: int | None = None) -> NICResult:
        """Simulate from ``now`` to ``until`` (default: the cycle after the last operation)."""

    @abstractmethod
    def reset(self) -> None:
        """Back to the power-on state, at cycle 0."""

    def step(self, op: NICOp) -> NICEvent:
        """Apply one operation (at ``now`` unless it names a later cycle)."""
        return self.run(OpBatch.from_ops([op], start=self.now)).row(0)

    def idle(self, cycles: int) -> list[tuple[int, int]]:
        """Let ``cycles`` cycles pass; the interrupts raised meanwhile."""
        return self.run(OpBatch.empty(), until=self.now + cycles).irqs()

    def rx(self, mac: int, vlan: int = 0, flow: int = 0) -> NICEvent:
        """A frame arrives now."""
        return self.step(NICOp.rx(mac, vlan, flow))

    def tx(self) -> NICEvent:
        """A transmit slot now."""
        return self.step(NICOp.tx())

    def post(self, queue: int, iovas: Iterable[int], *, ring: int = Ring.RX,
             fn: int | None = None) -> list[NICEvent]:
        """Write descriptors from the ring's current tail on, then ring the doorbell once.

        The tail is tracked here as the driver would (``self._tails``)."""
        f = queue // self.params.queues_per_function if fn is None else fn
        tails = self.__dict__.setdefault("_tails", {})
        tail = tails.get((queue, ring), 0)
        out = []
        for iova in iovas:
            out.append(self.step(NICOp.desc(queue, tail, iova, ring=ring, fn=f)))
            tail = (tail + 1) % self.params.ring_size
        out.append(self.step(NICOp.doorbell(queue, tail, ring=ring, fn=f)))
        tails[(queue, ring)] = tail
        return out

    def configure(self, ops: Iterable[NICOp]) -> list[NICEvent]:
        """Apply operations one cycle apart from ``now``."""
        res = self.run(OpBatch.from_ops(ops, start=self.now))
        return [res.row(i) for i in range(len(res))]
