"""Walk requests in, walk events out: the interface the behavioural walker and the RTL share.

A request is a walk (native, or 2D through a guest and a host table) or a flush of the
page-walk caches and nested TLB. Each yields one row of events plus, for a walk, the ordered
memory references it made (address and dimension: 0 guest/native, 1 nested). Fields a request
does not produce are 0, so two implementations compare field by field.

=================  ===================================================  =======================
op                 meaning                                              operands
=================  ===================================================  =======================
``NATIVE``         1D walk of ``guest.levels`` levels from ``cr3``      va, cr3, vm, asid
``NESTED``         2D walk: guest table at gPA ``cr3``, host table at   va, cr3, eptp, vm, asid
                   hPA ``eptp``
``FLUSH_ALL``      every page-walk cache entry and nested-TLB entry     --
``FLUSH_VM``       every entry tagged ``vm``, both dimensions + NTLB    vm
``FLUSH_ASID``     guest-dimension entries tagged (``vm``, ``asid``)    vm, asid
=================  ===================================================  =======================

Events of a walk: ``fault`` (a ``Fault``), ``level`` (level of the entry that faulted, 1 =
leaf table), ``step`` (for a nested-dimension fault: the guest level whose table was being
translated, 0 for the final data page), ``frame`` (4 KiB frame of the translated address, so
``pa = frame << 12 | va & 0xfff`` for every page size), ``size`` (0/1/2: 4 KiB/2 MiB/1 GiB,
the smaller of the guest and host page in a 2D walk -- what a TLB may cache), ``perms`` (the
TLB's ``Perm`` encoding: R=1, W=2, X=4, U=8), ``refs`` (memory references), ``gpwc`` (level
of the guest page-walk-cache hit, 0 on a miss), ``npwc`` (nested page-walk-cache hits),
``ntlb_hit`` / ``ntlb_miss`` (nested-TLB lookups that hit / missed; only guest
page-table pages are looked up, see ``model``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import NamedTuple

import numpy as np

from hwmodels.columns import Columns
from hwmodels.pagewalk.params import WalkerParams


class WalkOp(IntEnum):
    """Request codes (3 bits in the RTL)."""

    NOP = 0
    NATIVE = 1
    NESTED = 2
    FLUSH_ALL = 3
    FLUSH_VM = 4
    FLUSH_ASID = 5
    AGILE = 6


class CacheOp(IntEnum):
    """Operations of the standalone page-walk cache and nested TLB (``caches``), 3 bits; the
    flush codes are the walker's."""

    NOP = 0
    LOOKUP = 1
    FILL = 2
    FLUSH_ALL = WalkOp.FLUSH_ALL.value
    FLUSH_VM = WalkOp.FLUSH_VM.value
    FLUSH_ASID = WalkOp.FLUSH_ASID.value


class Fault(IntEnum):
    """Fault kinds: the dimension decides between a guest page fault and an EPT exit."""

    NONE = 0
    GUEST_PF = 1
    EPT_VIOLATION = 2
    GUEST_RSVD = 3
    EPT_MISCONFIG = 4


class WalkRequest(NamedTuple):
    """One request; build with the classmethods.

    >>> WalkRequest.nested(0x1000, cr3=0x2000, eptp=0x3000, vm=1).op
    <WalkOp.NESTED: 2>
    """

    op: int
    va: int = 0
    cr3: int = 0
    eptp: int = 0
    vm: int = 0
    asid: int = 0

    @classmethod
    def native(cls, va: int, cr3: int, vm: int = 0, asid: int = 0) -> WalkRequest:
        """Walk the native table at physical ``cr3``."""
        return cls(WalkOp.NATIVE, va, cr3, 0, vm, asid)

    @classmethod
    def nested(cls, va: int, cr3: int, eptp: int, vm: int = 0, asid: int = 0) -> WalkRequest:
        """Walk the guest table at guest-physical ``cr3`` through the host table at ``eptp``."""
        return cls(WalkOp.NESTED, va, cr3, eptp, vm, asid)

    @classmethod
    def agile(cls, va: int, cr3: int, eptp: int, vm: int = 0, asid: int = 0) -> WalkRequest:
        """Walk the shadow table at host-physical ``cr3`` in agile mode: at an entry with the
        switch bit (``tables.SWITCH``) go on in two dimensions through the host table at
        ``eptp`` (a walker built with ``WalkerParams.agile``)."""
        return cls(WalkOp.AGILE, va, cr3, eptp, vm, asid)

    @classmethod
    def flush_all(cls) -> WalkRequest:
        """Drop every cached entry."""
        return cls(WalkOp.FLUSH_ALL)

    @classmethod
    def flush_vm(cls, vm: int) -> WalkRequest:
        """Drop every entry of one VM."""
        return cls(WalkOp.FLUSH_VM, vm=vm)

    @classmethod
    def flush_asid(cls, vm: int, asid: int) -> WalkRequest:
        """Drop the guest-dimension entries of one address space."""
        return cls(WalkOp.FLUSH_ASID, vm=vm, asid=asid)


class WalkEvent(NamedTuple):
    """Events of one request, with its references (see the module docstring)."""

    fault: int = 0
    level: int = 0
    step: int = 0
    frame: int = 0
    size: int = 0
    perms: int = 0
    refs: int = 0
    gpwc: int = 0
    npwc: int = 0
    ntlb_hit: int = 0
    ntlb_miss: int = 0
    addrs: tuple[int, ...] = ()
    dims: tuple[int, ...] = ()


REQUEST_DTYPES: dict[str, type] = {
    "op": np.uint8, "va": np.uint64, "cr3": np.uint64, "eptp": np.uint64,
    "vm": np.uint16, "asid": np.uint16,
}
EVENT_FIELDS: tuple[str, ...] = (
    "fault", "level", "step", "frame", "size", "perms", "refs", "gpwc", "npwc", "ntlb_hit",
    "ntlb_miss",
)
"""Per-request event columns (int64 each), in ``WalkEvent`` order."""


def port_limits(params: WalkerParams) -> dict[str, int]:
    """Each request operand's bound (exclusive) on a walker of ``params``.

    >>> port_limits(WalkerParams())["asid"]
    4096
    """
    return {"op": len(WalkOp), "va": 1 << params.va_bits, "cr3": 1 << params.pa_bits,
            "eptp": 1 << params.pa_bits, "vm": 1 << params.vm_bits,
            "asid": 1 << params.asid_bits}


@dataclass(frozen=True, eq=False)
class WalkBatch(Columns):
    """A whole array of requests, one column per operand.

    >>> b = WalkBatch.from_requests([WalkRequest.native(0x1000, 0x2000), WalkRequest.flush_all()])
    >>> len(b), b.op.tolist()
    (2, [1, 3])
    """

    op: np.ndarray
    va: np.ndarray
    cr3: np.ndarray
    eptp: np.ndarray
    vm: np.ndarray
    asid: np.ndarray
    _dtypes = REQUEST_DTYPES

    @classmethod
    def from_requests(cls, reqs: Iterable[WalkRequest]) -> WalkBatch:
        """Columns from single requests."""
        return cls.from_rows(reqs)

    def __getitem__(self, s: slice) -> WalkBatch:
        if s == slice(None) or s == slice(0, len(self)):  # the per-run common case
            return self
        return WalkBatch(*(getattr(self, name)[s] for name in REQUEST_DTYPES))

    def row(self, i: int) -> WalkRequest:
        """Request ``i``."""
        return WalkRequest(*(int(getattr(self, f.name)[i]) for f in fields(self)))

    def check(self, params: WalkerParams) -> None:
        """Raise ``ValueError`` unless every operand fits the walker's ports.

        >>> WalkBatch.from_requests([WalkRequest.native(1 << 48, 0)]).check(WalkerParams())
        Traceback (most recent call last):
        ...
        ValueError: va: request 0 has 0x1000000000000, expected < 0x1000000000000
        """
        for name, limit in port_limits(params).items():
            col = getattr(self, name)
            if len(col) and int(col.max()) >= limit:
                i = int(np.argmax(col >= limit))
                raise ValueError(f"{name}: request {i} has {int(col[i]):#x}, expected < {limit:#x}")
        if not params.agile and (self.op == WalkOp.AGILE).any():
            i = int(np.argmax(self.op == WalkOp.AGILE))
            raise ValueError(f"op: request {i} is an agile walk, and this walker has no agile "
                             "mode (walker.agile)")


@dataclass(frozen=True, eq=False)
class WalkEvents:
    """Events of a batch: one int64 column per ``EVENT_FIELDS`` entry, plus the references.

    ``addrs``/``dims`` hold every memory reference in order; request ``i`` made
    ``addrs[start[i] : start[i] + refs[i]]``.
    """

    columns: dict[str, np.ndarray]
    addrs: np.ndarray
    dims: np.ndarray

    def __len__(self) -> int:
        return len(self.columns["fault"])

    def __getattr__(self, name: str) -> np.ndarray:
        if name in EVENT_FIELDS:
            return self.columns[name]
        raise AttributeError(name)

    @property
    def start(self) -> np.ndarray:
        """Offset of each request's first reference in ``addrs``."""
        return np.concatenate(([0], np.cumsum(self.columns["refs"])[:-1])).astype(np.int64)

    def row(self, i: int) -> WalkEvent:
        """Request ``i``'s events and references.

        >>> WalkEvents.empty(1).row(0)
        WalkEvent(fault=0, level=0, step=0, frame=0, size=0, perms=0, refs=0, gpwc=0, npwc=0, ntlb_hit=0, ntlb_miss=0, addrs=(), dims=())
        """  # noqa: E501
        s, n = int(self.start[i]), int(self.columns["refs"][i])
        return WalkEvent(*(int(self.columns[f][i]) for f in EVENT_FIELDS),
                         addrs=tuple(int(a) for a in self.addrs[s:s + n]),
                         dims=tuple(int(d) for d in self.dims[s:s + n]))

    @classmethod
    def empty(cls, n: int) -> WalkEvents:
        """``n`` all-zero events and no references."""
        return cls({f: np.zeros(n, dtype=np.int64) for f in EVENT_FIELDS},
                   np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))

    @classmethod
    def from_rows(cls, rows: Iterable[WalkEvent]) -> WalkEvents:
        """Columns from per-request events (what a monitor records)."""
        rows = list(rows)
        cols = {f: np.array([getattr(r, f) for r in rows], dtype=np.int64) for f in EVENT_FIELDS}
        addrs = np.array([a for r in rows for a in r.addrs], dtype=np.int64)
        dims = np.array([d for r in rows for d in r.dims], dtype=np.int64)
        return cls(cols, addrs, dims)

    def first_difference(self, other: WalkEvents) -> int | None:
        """Index of the first request whose events or references differ, or None.

        >>> a = WalkEvents.empty(3); b = WalkEvents.empty(3); b.columns["gpwc"][1] = 2
        >>> a.first_difference(b)
        1
        """
        n = min(len(self), len(other))
        for i in range(n):
            if self.row(i) != other.row(i):
                return i
        return None if len(self) == len(other) else n


COUNTER_NAMES: tuple[str, ...] = (
    "walks", "native_walks", "nested_walks", "agile_walks", "flushes", "faults_guest_pf",
    "faults_ept_violation", "faults_guest_rsvd", "faults_ept_misconfig", "refs",
    "refs_guest", "refs_nested", "gpwc_hits", "gpwc_misses", "npwc_hits", "ntlb_hits",
    "ntlb_misses",
)


def count_events(reqs: WalkBatch, events: WalkEvents) -> dict[str, int]:
    """Counters of a batch (the same computation for both levels).

    >>> reqs = WalkBatch.from_requests([WalkRequest.native(0, 0), WalkRequest.flush_all()])
    >>> ev = WalkEvents.empty(2); ev.columns["fault"][0] = Fault.GUEST_PF
    >>> c = count_events(reqs, ev); c["walks"], c["flushes"], c["faults_guest_pf"]
    (1, 1, 1)
    """
    walk = ((reqs.op == WalkOp.NATIVE) | (reqs.op == WalkOp.NESTED)
            | (reqs.op == WalkOp.AGILE))
    c = {
        "walks": int(walk.sum()),
        "native_walks": int((reqs.op == WalkOp.NATIVE).sum()),
        "nested_walks": int((reqs.op == WalkOp.NESTED).sum()),
        "agile_walks": int((reqs.op == WalkOp.AGILE).sum()),
        "flushes": int(((reqs.op >= WalkOp.FLUSH_ALL) & (reqs.op <= WalkOp.FLUSH_ASID)).sum()),
        "refs": len(events.addrs),
        "refs_guest": int((events.dims == 0).sum()),
        "refs_nested": int((events.dims == 1).sum()),
        "gpwc_hits": int((walk & (events.gpwc > 0)).sum()),
        "gpwc_misses": int((walk & (events.gpwc == 0)).sum()),
        "npwc_hits": int(events.npwc.sum()),
        "ntlb_hits": int(events.ntlb_hit.sum()),
        "ntlb_misses": int(events.ntlb_miss.sum()),
    }
    for kind in list(Fault)[1:]:
        c[f"faults_{kind.name.lower()}"] = int((events.fault == kind).sum())
    return {k: c[k] for k in COUNTER_NAMES}
