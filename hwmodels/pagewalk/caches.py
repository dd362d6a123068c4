"""The page-walk cache and the nested TLB as blocks of their own: operations, events, twins.

The standalone blocks (``codesign_pwc``, ``codesign_ntlb`` in ``cache_rtl``) take one operation
per cycle; :class:`PWCModel` and :class:`NTLBModel` are their behavioural twins, thin batch
kernels (``model._pwc_kernel`` / ``_ntlb_kernel``) over the very numba helpers the walker's
kernel calls (``_pwc_probe``, ``_pwc_fill``, ``_pwc_flush``, ``_ntlb_probe``, ...), so the twins
and the walker cannot drift apart.

A standalone page-walk cache is **one dimension** (``PWCBlockParams.dim``): every level of it,
probed at once. The walker holds two (guest, nested); they differ in tags and are never probed
in the same cycle, so one block of each is the honest unit of cost.

============== ====================================================== ========================
op             page-walk cache                                        nested TLB
============== ====================================================== ========================
``LOOKUP``     probe all levels for ``addr`` (vm, asid); the lowest   probe ``page``'s set for
               level holding it wins and becomes its level's MRU      (vm, page)
``FILL``       write ``addr``'s level-``level`` entry -> ``base``,    write (vm, page) ->
               ``perm`` (lowest invalid entry, else the LRU one)      ``base``, ``size``,
                                                                      ``perm``
``FLUSH_ALL``  clear every entry                                      clear every entry
``FLUSH_VM``   clear the entries of ``vm``                            clear the entries of vm
``FLUSH_ASID`` guest: clear the entries of (vm, asid); nested: none   none
============== ====================================================== ========================

Events (fields an operation does not produce are 0): a lookup sets ``hit`` and, on a hit,
``level`` (PWC), ``way`` (entry within the level / way within the set), ``base``, ``perm`` and
(NTLB) ``size``; a fill sets ``way`` (the entry written) and ``evict`` (it held a valid entry);
a flush sets ``inv``, the number of valid entries cleared. A fill does not look for its own key
first: the walker fills only keys that just missed. ``base`` is a host frame number (``pa_bits
- 12`` bits); ``perm`` the walker's 3 allow bits (W=1, U=2, X=4); ``size`` 0/1/2 for 4 KiB /
2 MiB / 1 GiB host pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from hwmodels.pagewalk.model import F_USED, GUEST, N_FIELDS, NESTED, _ntlb_kernel, _pwc_kernel
from hwmodels.pagewalk.ops import CacheOp
from hwmodels.pagewalk.params import NTLBBlockParams, PWCBlockParams


class PWCOp(NamedTuple):
    """One page-walk-cache operation; build with the classmethods.

    >>> PWCOp.fill(0x7fff_0000_0000, level=3, base=0x42, perm=7, vm=1).op
    <CacheOp.FILL: 2>
    """

    op: int
    addr: int = 0
    vm: int = 0
    asid: int = 0
    level: int = 0
    base: int = 0
    perm: int = 0

    @classmethod
    def lookup(cls, addr: int, vm: int = 0, asid: int = 0) -> PWCOp:
        """Probe every level for ``addr``."""
        return cls(CacheOp.LOOKUP, addr, vm, asid)

    @classmethod
    def fill(cls, addr: int, level: int, base: int, perm: int = 7, vm: int = 0,
             asid: int = 0) -> PWCOp:
        """Cache what ``addr``'s level-``level`` entry gave: next table at frame ``base``."""
        return cls(CacheOp.FILL, addr, vm, asid, level, base, perm)

    @classmethod
    def flush(cls, kind: CacheOp, vm: int = 0, asid: int = 0) -> PWCOp:
        """A flush of ``kind`` (``FLUSH_ALL``, ``FLUSH_VM`` or ``FLUSH_ASID``)."""
        return cls(kind, vm=vm, asid=asid)


class PWCEvent(NamedTuple):
    """Events of one page-walk-cache operation (see the module docstring)."""

    hit: int = 0
    level: int = 0
    way: int = 0
    base: int = 0
    perm: int = 0
    evict: int = 0
    inv: int = 0


class NTLBOp(NamedTuple):
    """One nested-TLB operation; build with the classmethods.

    >>> NTLBOp.fill(0x345, base=0x9000, size=1, perm=3, vm=2)
    NTLBOp(op=<CacheOp.FILL: 2>, page=837, vm=2, base=36864, size=1, perm=3)
    """

    op: int
    page: int = 0
    vm: int = 0
    base: int = 0
    size: int = 0
    perm: int = 0

    @classmethod
    def lookup(cls, page: int, vm: int = 0) -> NTLBOp:
        """Translate guest-physical page ``page`` of VM ``vm``."""
        return cls(CacheOp.LOOKUP, page, vm)

    @classmethod
    def fill(cls, page: int, base: int, size: int = 0, perm: int = 7, vm: int = 0) -> NTLBOp:
        """Install (vm, page) -> host frame ``base`` of a host page of size class ``size``."""
        return cls(CacheOp.FILL, page, vm, base, size, perm)

    @classmethod
    def flush(cls, kind: CacheOp, vm: int = 0) -> NTLBOp:
        """A flush of ``kind``."""
        return cls(kind, vm=vm)


class NTLBEvent(NamedTuple):
    """Events of one nested-TLB operation (see the module docstring)."""

    hit: int = 0
    way: int = 0
    base: int = 0
    size: int = 0
    perm: int = 0
    evict: int = 0
    inv: int = 0


def _columns(ops: Sequence[NamedTuple], fields: Sequence[str]) -> dict[str, np.ndarray]:
    # Operations are tuples in field order: one array conversion, then column copies.
    try:
        table = np.array(ops, dtype=np.int64).reshape(len(ops), len(fields))
    except OverflowError:
        raise ValueError("operands: expected values below 2**63") from None
    return {f: np.ascontiguousarray(table[:, k]) for k, f in enumerate(fields)}


def _check_limits(cols: dict[str, np.ndarray], limits: dict[str, int]) -> None:
    for name, limit in limits.items():
        col = cols[name]
        bad = (col < 0) | (col >= limit)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{name}: operation {i} has {int(col[i]):#x}, expected < {limit:#x}")


def check_pwc_ops(params: PWCBlockParams, ops: Sequence[PWCOp],
                  cols: dict[str, np.ndarray] | None = None) -> None:
    """Raise ``ValueError`` unless every operand fits the block's ports (and fill levels exist).

    >>> check_pwc_ops(PWCBlockParams(levels=3), [PWCOp.fill(0, level=4, base=1)])
    Traceback (most recent call last):
    ...
    ValueError: level: fill 0 has level 4, expected 2 .. 3
    """
    p = params
    cols = cols if cols is not None else _columns(ops, PWCOp._fields)
    limits = {"op": len(CacheOp), "addr": 1 << p.addr_bits, "vm": 1 << p.vm_bits,
              "level": 8, "base": 1 << (p.pa_bits - 12), "perm": 8}
    if p.asid_bits:
        limits["asid"] = 1 << p.asid_bits
    _check_limits(cols, limits)
    fill = cols["op"] == CacheOp.FILL
    bad = fill & ((cols["level"] < 2) | (cols["level"] > p.levels))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"level: fill {i} has level {int(cols['level'][i])}, "
                         f"expected 2 .. {p.levels}")


def check_ntlb_ops(params: NTLBBlockParams, ops: Sequence[NTLBOp],
                   cols: dict[str, np.ndarray] | None = None) -> None:
    """Raise ``ValueError`` unless every operand fits the block's ports.

    >>> check_ntlb_ops(NTLBBlockParams(), [NTLBOp.fill(0, base=0, size=3)])
    Traceback (most recent call last):
    ...
    ValueError: size: operation 0 has 0x3, expected < 0x3
    """
    p = params
    cols = cols if cols is not None else _columns(ops, NTLBOp._fields)
    _check_limits(cols,
                  {"op": len(CacheOp), "page": 1 << p.page_bits, "vm": 1 << p.vm_bits,
                   "base": 1 << (p.pa_bits - 12), "size": 3, "perm": 8})


class PWCModel:
    """Behavioural twin of ``codesign_pwc``: the walker's cache state layout and helpers.

    >>> m = PWCModel(PWCBlockParams(levels=4))
    >>> va = 0x7f12_3456_7000
    >>> m.run([PWCOp.fill(va, level=2, base=0x99, perm=5, vm=1), PWCOp.lookup(va, vm=1),
    ...        PWCOp.lookup(va, vm=2), PWCOp.flush(CacheOp.FLUSH_VM, vm=1)])
    ... # doctest: +NORMALIZE_WHITESPACE
    [PWCEvent(hit=0, level=0, way=0, base=0, perm=0, evict=0, inv=0),
     PWCEvent(hit=1, level=2, way=0, base=153, perm=5, evict=0, inv=0),
     PWCEvent(hit=0, level=0, way=0, base=0, perm=0, evict=0, inv=0),
     PWCEvent(hit=0, level=0, way=0, base=0, perm=0, evict=0, inv=1)]
    """

    def __init__(self, params: PWCBlockParams) -> None:
        self.params = params
        self.d = GUEST if params.dim == "guest" else NESTED
        # The walker's layout: both dimensions, levels 2..5; only this block's row is used.
        self.ent = np.zeros((2, 4), dtype=np.int64)
        self.ent[self.d, : params.levels - 1] = params.entries
        self.reset()

    def reset(self) -> None:
        """Power-on state: every entry invalid, LRU order by position (entry 0 the most
        recent)."""
        max_e = max(1, int(self.ent.max()))
        self.pwc = np.zeros((2, 4, max_e, N_FIELDS), dtype=np.int64)
        self.pwc[..., F_USED] = -np.arange(max_e)

    def run(self, ops: Sequence[PWCOp]) -> list[PWCEvent]:
        """Apply ``ops`` in order; one event per operation."""
        c = _columns(ops, PWCOp._fields)
        check_pwc_ops(self.params, ops, c)
        if not self.params.asid_bits:
            c["asid"][:] = 0  # nested entries carry no address space: the operand is ignored
        out = np.zeros((len(ops), len(PWCEvent._fields)), dtype=np.int64)
        _pwc_kernel(self.pwc, self.ent, self.d, self.params.levels, c["op"], c["addr"], c["vm"],
                    c["asid"], c["level"], c["base"], c["perm"], out)
        return list(map(PWCEvent._make, out.tolist()))


class NTLBModel:
    """Behavioural twin of ``codesign_ntlb``: the walker's nested-TLB state and helpers.

    >>> from hwmodels.pagewalk.params import NTLBParams
    >>> m = NTLBModel(NTLBBlockParams(NTLBParams(2, 1), gpa_bits=32, pa_bits=32, vm_bits=1))
    >>> [e.hit or e.evict for e in m.run([NTLBOp.fill(4, base=7), NTLBOp.fill(6, base=8),
    ...                                   NTLBOp.lookup(4), NTLBOp.lookup(6)])]
    [0, 1, 0, 1]
    """

    def __init__(self, params: NTLBBlockParams) -> None:
        self.params = params
        self.reset()

    def reset(self) -> None:
        """Power-on state: every entry invalid, LRU order by way (way 0 the most recent)."""
        n = self.params.ntlb
        ways = max(1, n.ways)
        self.ntlb = np.zeros((max(1, n.sets), ways, N_FIELDS), dtype=np.int64)
        self.ntlb[..., F_USED] = -np.arange(ways)

    def run(self, ops: Sequence[NTLBOp]) -> list[NTLBEvent]:
        """Apply ``ops`` in order; one event per operation."""
        c = _columns(ops, NTLBOp._fields)
        check_ntlb_ops(self.params, ops, c)
        n = self.params.ntlb
        out = np.zeros((len(ops), len(NTLBEvent._fields)), dtype=np.int64)
        if n.enabled:
            _ntlb_kernel(self.ntlb, n.sets, n.ways, n.set_bits, c["op"], c["page"], c["vm"],
                         c["base"], c["size"], c["perm"], out)
        return list(map(NTLBEvent._make, out.tolist()))
