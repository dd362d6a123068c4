"""Operations in, events out: the interface both TLB levels (model and RTL) implement.

One operation per step (one per clock cycle in the RTL). Operands a given operation ignores are
don't-cares; events an operation does not produce are 0, so two implementations can be compared
field by field.

====================  =============================================  ===========================
op                    x86 counterpart                                 entries affected
====================  =============================================  ===========================
``LOOKUP``            a translation                                   --
``FILL``              page-walk result written back                   one (in array ``size``)
``INV_ADDR``          INVLPG, INVVPID type 0 (individual address)     every entry of VM ``vpid``
                                                                      translating ``va``, in any
                                                                      address space, any size,
                                                                      global or not
``INV_AS``            INVPCID type 1, MOV CR3 without no-flush bit    non-global of (vpid, pcid)
``INV_VM_NONGLOBAL``  INVVPID type 3 (single context, keep globals)   non-global of ``vpid``
``INV_VM``            INVVPID type 1 (single context)                 all of ``vpid``
``INV_ALL``           INVVPID type 2 (all contexts)                   all
====================  =============================================  ===========================

``INV_ADDR`` ignores the address-space tag: the SDM lets INVLPG invalidate more than the current
PCID's entries, and INVVPID type 0 must cover all of them, so one rule serves both.

Events: ``LOOKUP`` sets ``hit`` and, on a hit, ``size`` (which array), ``way``, ``pfn`` (the 4 KiB
frame of the translated address, so ``pa = pfn << 12 | va & 0xfff`` for every page size),
``perms`` and ``glob``. ``FILL`` sets ``size``, ``way`` (the way written), ``hit`` (an entry
already matched the fill's key and was overwritten in place) and ``evict`` (a valid entry was
replaced by the policy). Invalidations set ``inv``, the number of valid entries cleared.

Operands must fit their ports (``OpBatch.check``); a fill into an array with 0 entries is
rejected there too. A tag of width 0 (tagging off) makes its operand a don't-care.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import NamedTuple

import numpy as np

from hwmodels.columns import Columns
from hwmodels.tlb.params import TLBParams


class Op(IntEnum):
    """Operation codes (3 bits in the RTL)."""

    NOP = 0
    LOOKUP = 1
    FILL = 2
    INV_ADDR = 3
    INV_AS = 4
    INV_VM_NONGLOBAL = 5
    INV_VM = 6
    INV_ALL = 7


class PageSize(IntEnum):
    """Index of the array holding a page size."""

    SIZE_4K = 0
    SIZE_2M = 1
    SIZE_1G = 2


class Perm(IntFlag):
    """Permission bits stored with each entry."""

    R = 1
    W = 2
    X = 4
    U = 8


class TLBOp(NamedTuple):
    """One operation; build with the classmethods for readability.

    >>> TLBOp.fill(0x7000, pfn=0x42, perms=Perm.R | Perm.W)
    TLBOp(op=<Op.FILL: 2>, va=28672, vpid=0, pcid=0, size=<PageSize.SIZE_4K: 0>, pfn=66, perms=3, glob=0)
    """  # noqa: E501

    op: int
    va: int = 0
    vpid: int = 0
    pcid: int = 0
    size: int = 0
    pfn: int = 0
    perms: int = 0
    glob: int = 0

    @classmethod
    def lookup(cls, va: int, vpid: int = 0, pcid: int = 0) -> TLBOp:
        """Translate ``va`` in address space ``pcid`` of VM ``vpid``."""
        return cls(Op.LOOKUP, va, vpid, pcid)

    @classmethod
    def fill(
        cls,
        va: int,
        pfn: int,
        *,
        size: int = PageSize.SIZE_4K,
        perms: int = Perm.R,
        glob: bool = False,
        vpid: int = 0,
        pcid: int = 0,
    ) -> TLBOp:
        """Install a translation; ``pfn`` is the 4 KiB frame number of the page base."""
        return cls(Op.FILL, va, vpid, pcid, size, pfn, int(perms), int(glob))

    @classmethod
    def invalidate_address(cls, va: int, vpid: int = 0) -> TLBOp:
        """INVLPG / INVVPID type 0."""
        return cls(Op.INV_ADDR, va, vpid)

    @classmethod
    def invalidate_address_space(cls, vpid: int, pcid: int) -> TLBOp:
        """Non-global entries of one address space."""
        return cls(Op.INV_AS, 0, vpid, pcid)

    @classmethod
    def invalidate_vm(cls, vpid: int, keep_globals: bool = False) -> TLBOp:
        """INVVPID single-context (type 1) or single-context-retaining-globals (type 3)."""
        return cls(Op.INV_VM_NONGLOBAL if keep_globals else Op.INV_VM, 0, vpid)

    @classmethod
    def invalidate_all(cls) -> TLBOp:
        """INVVPID all-contexts (type 2)."""
        return cls(Op.INV_ALL)


class TLBEvent(NamedTuple):
    """Events of one operation (see the module docstring for which op sets what)."""

    hit: int = 0
    size: int = 0
    way: int = 0
    pfn: int = 0
    perms: int = 0
    glob: int = 0
    evict: int = 0
    inv: int = 0


OP_DTYPES: dict[str, type] = {
    "op": np.uint8,
    "va": np.uint64,
    "vpid": np.uint16,
    "pcid": np.uint16,
    "size": np.uint8,
    "pfn": np.uint64,
    "perms": np.uint8,
    "glob": np.uint8,
}
EVENT_DTYPES: dict[str, type] = {
    "hit": np.uint8,
    "size": np.uint8,
    "way": np.uint16,
    "pfn": np.uint64,
    "perms": np.uint8,
    "glob": np.uint8,
    "evict": np.uint8,
    "inv": np.uint32,
}


@dataclass(frozen=True, eq=False)
class OpBatch(Columns):
    """A whole array of operations, one column per operand.

    >>> b = OpBatch.from_ops([TLBOp.lookup(0x1000), TLBOp.invalidate_all()])
    >>> len(b), b.op.tolist()
    (2, [1, 7])
    """

    op: np.ndarray
    va: np.ndarray
    vpid: np.ndarray
    pcid: np.ndarray
    size: np.ndarray
    pfn: np.ndarray
    perms: np.ndarray
    glob: np.ndarray
    _dtypes = OP_DTYPES

    @classmethod
    def from_ops(cls, ops: Iterable[TLBOp]) -> OpBatch:
        """Columns from a sequence of single operations."""
        return cls.from_rows(ops)

    def check(self, params: TLBParams) -> None:
        """Raise ``ValueError`` unless every operand fits the TLB's ports.

        >>> from hwmodels.tlb.params import TLBArrayParams, TLBParams, DISABLED
        >>> p = TLBParams(l2m=DISABLED)
        >>> OpBatch.from_ops([TLBOp.fill(0, 1, size=PageSize.SIZE_2M)]).check(p)
        Traceback (most recent call last):
        ...
        ValueError: size: op 0 fills array 1, which has no entries
        """
        limits = {
            "op": len(Op),
            "va": 1 << params.va_bits,
            "vpid": 1 << params.vpid_bits if params.vpid_bits else None,
            "pcid": 1 << params.pcid_bits if params.pcid_bits else None,
            "size": len(PageSize),
            "pfn": 1 << params.pfn_bits,
            "perms": 1 << len(Perm),
            "glob": 2,
        }
        for name, limit in limits.items():
            col = getattr(self, name)
            if limit is not None and len(col) and int(col.max()) >= limit:
                i = int(np.argmax(col >= limit))
                raise ValueError(f"{name}: op {i} has {int(col[i]):#x}, expected < {limit:#x}")
        for size, arr in zip(PageSize, params.arrays, strict=True):
            if not arr.enabled:
                bad = np.flatnonzero((self.op == Op.FILL) & (self.size == size))
                if len(bad):
                    raise ValueError(
                        f"size: op {int(bad[0])} fills array {int(size)}, which has no entries"
                    )

    def row(self, i: int) -> TLBOp:
        """Operation ``i`` as a ``TLBOp``."""
        return TLBOp(*(int(a[i]) for a in self.columns().values()))

    def __getitem__(self, s: slice) -> OpBatch:
        return OpBatch(*(a[s] for a in self.columns().values()))


@dataclass(frozen=True, eq=False)
class EventBatch(Columns):
    """Events of a batch, one column per event field (see ``TLBEvent``)."""

    hit: np.ndarray
    size: np.ndarray
    way: np.ndarray
    pfn: np.ndarray
    perms: np.ndarray
    glob: np.ndarray
    evict: np.ndarray
    inv: np.ndarray
    _dtypes = EVENT_DTYPES

    @classmethod
    def zeros(cls, n: int) -> EventBatch:
        """``n`` all-zero events (the output buffer of a run).

        >>> EventBatch.zeros(3).row(2)
        TLBEvent(hit=0, size=0, way=0, pfn=0, perms=0, glob=0, evict=0, inv=0)
        """
        return cls(*(np.zeros(n, dtype=d) for d in EVENT_DTYPES.values()))

    def row(self, i: int) -> TLBEvent:
        """Events of operation ``i`` as a ``TLBEvent``."""
        return TLBEvent(*(int(a[i]) for a in self.columns().values()))

    def first_difference(self, other: EventBatch) -> int | None:
        """Index of the first operation whose events differ, or None.

        >>> a = EventBatch.zeros(4)
        >>> b = EventBatch.zeros(4); b.way[2] = 1
        >>> a.first_difference(b)
        2
        """
        if len(self) != len(other):
            return min(len(self), len(other))
        diff = np.zeros(len(self), dtype=bool)
        for a, b in zip(self.columns().values(), other.columns().values(), strict=True):
            diff |= a != b
        idx = np.flatnonzero(diff)
        return int(idx[0]) if len(idx) else None


COUNTER_NAMES: tuple[str, ...] = (
    "lookups",
    "hits",
    "misses",
    "hits_4k",
    "hits_2m",
    "hits_1g",
    "fills",
    "fills_in_place",
    "evictions",
    "invalidations",
    "entries_invalidated",
)


def count_events(ops: OpBatch, events: EventBatch) -> dict[str, int]:
    """Counters of a batch, computed from its operations and events (the same for both levels).

    >>> ops = OpBatch.from_ops([TLBOp.lookup(0), TLBOp.fill(0, 1), TLBOp.lookup(0)])
    >>> ev = EventBatch.zeros(3); ev.hit[2] = 1
    >>> c = count_events(ops, ev); (c["lookups"], c["hits"], c["misses"], c["fills"])
    (2, 1, 1, 1)
    """
    look = ops.op == Op.LOOKUP
    hit = look & (events.hit == 1)
    fill = ops.op == Op.FILL
    inv = ops.op >= Op.INV_ADDR
    c = {
        "lookups": int(look.sum()),
        "hits": int(hit.sum()),
        "misses": int((look & (events.hit == 0)).sum()),
        "fills": int(fill.sum()),
        "fills_in_place": int((fill & (events.hit == 1)).sum()),
        "evictions": int(events.evict.sum()),
        "invalidations": int(inv.sum()),
        "entries_invalidated": int(events.inv.sum()),
    }
    for size in PageSize:
        c[f"hits_{size.name[5:].lower()}"] = int((hit & (events.size == size)).sum())
    return {k: c[k] for k in COUNTER_NAMES}


class TLBFrontend(ABC):
    """What both levels offer: a batch ``run`` plus readable single-step helpers.

    Subclasses implement ``run`` (keeps state across calls) and ``reset`` (power-on state).
    """

    @abstractmethod
    def run(self, ops: OpBatch) -> EventBatch:
        """Apply ``ops`` in order; return their events."""

    @abstractmethod
    def reset(self) -> None:
        """Return to the power-on state: all entries invalid, policy state and LFSR reset."""

    def step(self, op: TLBOp) -> TLBEvent:
        """Apply one operation."""
        return self.run(OpBatch.from_ops([op])).row(0)

    def lookup(self, va: int, vpid: int = 0, pcid: int = 0) -> TLBEvent:
        """Translate ``va``; see ``TLBOp.lookup``."""
        return self.step(TLBOp.lookup(va, vpid, pcid))

    def fill(self, va: int, pfn: int, **kw: int) -> TLBEvent:
        """Install a translation; keywords as ``TLBOp.fill``."""
        return self.step(TLBOp.fill(va, pfn, **kw))

    def invalidate_address(self, va: int, vpid: int = 0) -> TLBEvent:
        """INVLPG / INVVPID type 0."""
        return self.step(TLBOp.invalidate_address(va, vpid))

    def invalidate_address_space(self, vpid: int, pcid: int) -> TLBEvent:
        """Non-global entries of one address space."""
        return self.step(TLBOp.invalidate_address_space(vpid, pcid))

    def invalidate_vm(self, vpid: int, keep_globals: bool = False) -> TLBEvent:
        """INVVPID type 1 (or type 3 with ``keep_globals``)."""
        return self.step(TLBOp.invalidate_vm(vpid, keep_globals))

    def invalidate_all(self) -> TLBEvent:
        """INVVPID type 2."""
        return self.step(TLBOp.invalidate_all())
