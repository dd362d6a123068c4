"""``precopy``: pre-copy live migration of a VM running a memory workload, with dirty logging
by write protection, Intel PML or dirty-flag scanning under nested or shadow paging, or by
Xen's log-dirty mode for a paravirtual guest.

The binding: the MMU mechanism (``migration.mmu``: ``nested``, ``shadow`` or ``pv-direct``)
replays the workload once, as it would without migration, for the guest's cycles per access
on the platform; the workload's writes (and the first touch of each page, which the guest
kernel zeroes) are the dirty stream, its writes repeated for as long as the migration lasts
(the first touches once: a stream that populates its memory as it starts does so once); the
pre-copy engine (:mod:`codesign.migration.precopy`) sends rounds over a link of
``migration.link_gbps`` and charges the guest what its dirty logging costs:

- ``write-protect``: each first write to a page in a round traps -- an EPT violation under
  nested paging, a page fault on a write-protected shadow entry under shadow paging -- and
  is handled in the host kernel (``vmexit.kernel``: KVM's fast page fault makes the entry
  writable and marks the page in the dirty bitmap);
- ``pml`` (nested only: EPT dirty flags): the CPU logs dirty pages; a full log exits
  (``vmexit.kernel``) and the hypervisor drains its ``pml.entries`` entries
  (``migration.pml_drain_cycles`` each) -- the PML unit is this mechanism's hardware block,
  ``hw.pml.*`` its area;
- ``pv-logdirty`` (``migration.mmu`` = ``pv-direct`` only): Xen's log-dirty mode for a
  paravirtual guest protects pages as write protection does, but a write to one faults
  straight into Xen (no VM exit): ``hypercall.null`` for the entry and ``pv.update`` for
  Xen's work on the entry, the costs ``pv-direct`` charges a hypercall and an update
  (``traps.fault.log_dirty``); Xen runs the guest on shadow tables while it logs, whose own
  cost is not modelled;
- ``scan`` (nested only): no trap per page; at each round the hypervisor scans the EPT leaf
  entries of the VM's memory for dirty flags and clears them (``migration.scan_cycles`` per
  page), which delays the round.

A NIC (``migration.device``) writes the guest's receive buffers by DMA at
``migration.rx_gbps``: a paravirtual backend logs them; a pass-through function without
IOMMU dirty tracking makes every page pinned for it -- all the VM's memory -- dirty in every
round (QEMU's VFIO migration documentation), so pre-copy cannot converge; with IOMMU dirty
tracking its writes are logged and the IOMMU's tables scanned each round.

**Walks dirty the guest's page tables** (``migration.ept_ad``, nested paging): with EPT
accessed and dirty flags on -- which PML and scanning need, and KVM turns on wherever the CPU
has them -- the CPU treats its reads of guest paging-structure entries as writes for EPT
(Intel SDM Vol. 3C 28.2.4: "setting this flag causes processor accesses to guest
paging-structure entries to be treated as writes"). So each guest page-table page a walk
reads is dirtied: PML logs it, a scan finds it, and under write protection the read is an
EPT violation. The replay's walks say which pages those are (the walker's guest-dimension
references, after its page-walk caches: a cached level is not read, as in hardware), at
the position of the access that walked; they join the dirty stream in every period. A guest
that only reads thus still dirties about one page per 2 MiB it walks over, every round: over
more than 100 MiB that is above Xen's 50-page stop threshold, and pre-copy ends by its other
rules with those pages in the downtime.

**Huge host pages** (``host.page_size`` 2M or 1G, nested paging): logging works on 4 KiB
pages, so the hypervisor splits its huge mappings when logging starts (write protection,
PML, scanning). ``migration.split = "eager"`` (KVM since commit a3fe5dbd): the thread that
turns logging on rewrites every huge mapping of the VM's memory as 4 KiB entries
(``migration.split_entry_cycles`` each) before the first round, the guest running meanwhile
(``migration.split_s``). ``"on-fault"`` (KVM before it): each page's first write faults to
map that page alone (an EPT violation: ``vmexit.kernel`` and a page fault's work without the
zeroing, ``fault.page - 4096 * memory.zero_per_byte``), instead of its logging
(``migration.split_faults``). ``migration.split_cpu_s`` is what splitting cost in CPU either
way. Every page of the VM is taken as mapped huge when logging starts (a VM that has run).
Logged, the guest runs on the split's 4 KiB entries: its cycles per access
(``migration.logged_cycles_per_ref``) are a second replay's with ``host.page_size = 4K``
(its walks, second-level TLB hits and the cache lines the walks take) with the huge replay's
backing exits, and ``migration.guest_slowdown`` is over the huge replay's
(``migration.base_cycles_per_ref``): the TLB reach a split takes away is part of what
logging costs. On fault, pages are split as they are first written; the model runs the
guest on 4 KiB entries from the start (an upper bound on that part of the slowdown).

Every logging mode also stalls the guest once per round: write protection and clearing dirty
flags take effect only after a TLB flush, so the guest refills its TLBs
(``tlb.l1.entries + tlb.l2.entries`` walks at the mechanism's measured cycles per walk --
an estimate: the entries a guest actually re-walks depend on its reuse).

Simplifications (each a limitation, not a fit): the guest's cycles per access are the
replay's average (``cycles.total / refs``), so writes are spread in time as in the stream
but not weighted by their own cost; the guest kernel's own writes (page tables, ``struct
page``) beyond zeroing new pages are not in the dirty stream, nor, under shadow paging, the
accessed and dirty flags KVM sets in guest entries when it fills shadow entries; a page is
identified by its address space and virtual page; the downtime is the stop-and-copy transfer plus
``migration.resume_ms``. A stream of several VMs (``multi-vm``) migrates as one: all their
pages.

Metrics: ``migration.total_s``, ``migration.downtime_ms``, ``migration.rounds``,
``migration.pages_sent``, ``migration.bytes_sent``, ``migration.table_pages`` (guest
page-table pages walks dirtied), ``migration.split_s``, ``migration.split_faults``,
``migration.split_cpu_s`` (huge host pages, above), ``migration.pages_skipped`` (with
``migration.skip_redirtied``: pages a round skipped, dirtied again before their turn),
``migration.guest_slowdown`` (the guest's
cycles during the live rounds with logging over without), ``migration.base_cycles_per_ref``
(without logging), ``migration.logged_cycles_per_ref`` (logged: after a split, on 4 KiB
entries; otherwise the same) and ``migration.writes_per_s`` (the guest's dirtying writes per
second without logging: the dirty rate the link races), and the logging traps:
``traps.vmexit.ept_violation`` / ``traps.vmexit.page_fault`` (write protection) or
``traps.vmexit.pml_full``.

>>> from codesign.harness import Point, evaluate
>>> p = {"workload.refs": 20000, "workload.footprint_mb": 2, "hw.cost": False,
...      "migration.memory_mb": 64}
>>> wp = evaluate(Point("random", "precopy", params={**p, "migration.logging": "write-protect"}))
>>> pml = evaluate(Point("random", "precopy", params={**p, "migration.logging": "pml"}))
>>> wp["traps.vmexit.ept_violation"] > pml["traps.vmexit.pml_full"]
True
>>> pml["migration.downtime_ms"] < pml["migration.total_s"] * 1000
True
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from typing import NamedTuple

import numpy as np

from codesign.metrics import Metrics
from codesign.migration.precopy import (
    LOGGING,
    MAX_FACTOR,
    MAX_ROUNDS,
    PAGE_BYTES,
    STOP_PAGES,
)
from codesign.migration.precopy import precopy as run_precopy
from codesign.mmu import nested, pv_direct, shadow
from codesign.mmu.cost import Costs
from codesign.mmu.guest import HOST_PAGES, PAGE_4K
from codesign.mmu.nested import NestedParams
from codesign.mmu.pv_direct import PVParams
from codesign.mmu.shadow import ShadowParams
from codesign.params import param
from codesign.platforms import Platform
from codesign.registry import Mechanism
from codesign.spill import Spill, merge_sorted
from hwmodels.pml.params import PMLParams
from workloads.memory.chunked import Stream, pieces
from workloads.memory.events import Access, Ev

MMUS = ("nested", "shadow", "pv-direct")
SPLITS = ("eager", "on-fault")
DEVICES = ("none", "pv", "passthrough", "passthrough-dirty")


@dataclass(frozen=True)
class TransferParams(NestedParams, ShadowParams, PVParams):
    """What every migration of a VM running a memory workload has: the MMU mechanism's
    parameters (``nested``'s, ``shadow``'s and ``pv-direct``'s), the link, the VM's memory
    and the switch-over's own time."""

    mmu: str = param("nested", key="migration.mmu", choices=MMUS,
                     doc="how the guest's memory is virtualized while it migrates")
    link_gbps: float = param(1.0, key="migration.link_gbps", min=0.001, max=10_000.0,
                             unit="Gb/s",
                             doc="link the pages cross (default 1: an assumption, a "
                                 "gigabit LAN; Clark et al. measured local-area migration)")
    memory_mb: int = param(0, key="migration.memory_mb", min=0, max=1 << 30, unit="MiB",
                           doc="the VM's memory, every page of it sent (0: the pages the "
                               "workload touches)")
    resume_ms: float = param(0.0, key="migration.resume_ms", min=0.0, max=1e6, unit="ms",
                             doc="downtime beyond the pages sent while the VM is stopped: "
                                 "CPU and device state, switch-over (0: not modelled)")

    def mmu_params(self) -> NestedParams | ShadowParams | PVParams:
        """The MMU mechanism's own parameters."""
        cls = {"nested": NestedParams, "shadow": ShadowParams, "pv-direct": PVParams}[self.mmu]
        return cls(**{f.name: getattr(self, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class MigrationParams(TransferParams):
    """Parameters of ``precopy``: the MMU mechanisms' (``nested``'s, ``shadow``'s and
    ``pv-direct``'s), the link and the VM's memory, plus pre-copy's own."""

    logging: str = param("write-protect", key="migration.logging", choices=tuple(LOGGING),
                         doc="how the hypervisor learns which pages were written: "
                             "write-protect (a trap per page per round), pml (Intel PML: an "
                             "exit per full log; nested only), scan (EPT dirty flags scanned "
                             "each round; nested only), pv-logdirty (Xen's log-dirty mode "
                             "for a paravirtual guest: a fault into Xen per page per round; "
                             "pv-direct only), none (stop-and-copy)")
    max_rounds: int = param(MAX_ROUNDS, key="migration.max_rounds", min=2, max=10_000,
                            doc="rounds at most, the stop-and-copy round included (Xen's "
                                "xc_domain_save: 30)")
    stop_pages: int = param(STOP_PAGES, key="migration.stop_pages", min=0, max=1 << 40,
                            doc="a round that sent (or skipped) fewer pages than this is the "
                                "last live one; the stop-and-copy sends what it dirtied "
                                "(Xen: 50)")
    max_factor: float = param(float(MAX_FACTOR), key="migration.max_factor", min=1.0,
                              max=1000.0, doc="stop once this many times the VM's memory "
                                              "has been sent (Xen: 3)")
    pml_drain_cycles: float = param(
        20.0, key="migration.pml_drain_cycles", min=0.0, max=1e6, unit="cycles",
        doc="assumption: hypervisor cycles per PML log entry drained at a log-full exit -- "
            "an 8-byte read from the 4 KiB log, which streams, and a bit set in the dirty "
            "bitmap, which may miss; no published per-entry figure")
    scan_cycles: float = param(
        5.0, key="migration.scan_cycles", min=0.0, max=1e6, unit="cycles",
        doc="assumption: hypervisor cycles per page to test and clear an EPT dirty flag in "
            "a scan (512 leaf entries per table page, read sequentially); no published "
            "per-entry figure")
    device: str = param("none", key="migration.device", choices=DEVICES,
                        doc="the VM's NIC while it migrates: none; pv (vhost-net, netback: the "
                            "backend writes the receive buffers and logs them; also the "
                            "guest's PV NIC while a detached VF fails over to it); passthrough "
                            "(an SR-IOV function without IOMMU dirty tracking: every pinned "
                            "page, all the VM's memory, is reported dirty each round); "
                            "passthrough-dirty (with IOMMU dirty tracking: the IOMMU's tables "
                            "are scanned each round, migration.scan_cycles per page)")
    rx_gbps: float = param(0.0, key="migration.rx_gbps", min=0.0, max=10_000.0, unit="Gb/s",
                           doc="traffic the NIC writes into the guest's receive buffers "
                               "during the migration (0: none)")
    rx_ring_pages: int = param(256, key="migration.rx_ring_pages", min=1, max=1 << 24,
                               unit="pages",
                               doc="receive buffers the NIC writes, one page each, in turn "
                                   "(default 256: a 256-descriptor ring, Linux e1000's "
                                   "default and a Xen netif ring's slots)")
    skip_redirtied: bool = param(
        False, key="migration.skip_redirtied",
        doc="skip, within a round, a page dirtied again before its turn (Xen's to_skip in "
            "xc_domain_save: the dirty log peeked before each batch of 1,024 pages; the next "
            "round sends it); false: each round sends what the last one dirtied, as QEMU does")
    ept_ad: bool = param(
        True, key="migration.ept_ad",
        doc="EPT accessed and dirty flags are on (EPTP bit 6; Haswell and later, KVM's default "
            "where present; PML and scanning need them). They make the walker's reads of guest "
            "page-table entries writes for EPT (Intel SDM Vol. 3C 28.2.4): each guest "
            "page-table page a walk reads is dirtied -- logged by PML, found by a scan, or, "
            "write-protected, an EPT violation. Nested paging only")
    split: str = param(
        "eager", key="migration.split", choices=SPLITS,
        doc="how huge mappings (host.page_size 2M or 1G, nested paging) become the 4 KiB "
            "entries dirty logging needs: eager (the thread that turns logging on splits them "
            "all first: KVM since commit a3fe5dbd) or on-fault (each page's first write "
            "faults to map it alone: KVM before it)")
    split_entry_cycles: float = param(
        193.0, key="migration.split_entry_cycles", min=0.0, max=1e6, unit="cycles",
        doc="assumption: hypervisor cycles per 4 KiB entry an eager split writes -- taken as "
            "the guest kernel's budget per leaf entry a fork copies (kernel.pte_copy: TLPI "
            "Table 28-3 at an assumed 2.4 GHz), the same read-derive-write of one entry; "
            "not taken from KVM's own figure, which the validation compares it with")
    pml_entries: int = param(512, key="pml.entries", unit="entries", min=1, max=32768,
                             doc="entries of the page-modification log (a power of two; 512 "
                                 "on Intel cores: a 4 KiB page of 8-byte addresses, Intel "
                                 "SDM)")
    pml_pa_bits: int = param(52, key="pml.pa_bits", unit="bits", min=13, max=52,
                             doc="physical-address width of the PML unit")

    def __post_init__(self) -> None:
        super().__post_init__()
        PMLParams(self.pml_entries, self.pml_pa_bits)  # the unit's own checks, cost or not
        if self.mmu != "nested" and self.logging in ("pml", "scan"):
            raise ValueError(f"migration.logging: {self.logging} needs EPT dirty flags "
                             "(migration.mmu = nested)")
        if not self.ept_ad and self.logging in ("pml", "scan"):
            raise ValueError(f"migration.ept_ad: {self.logging} needs EPT dirty flags on "
                             "(migration.ept_ad = true)")
        if self.logging != "none" and (self.logging == "pv-logdirty") != (self.mmu == "pv-direct"):
            raise ValueError(f"migration.logging: {self.logging} with migration.mmu = "
                             f"{self.mmu}: a paravirtual guest (pv-direct) is logged by Xen's "
                             "log-dirty mode (pv-logdirty), and only it is")


class Dirty(NamedTuple):
    """The dirty stream of a memory workload (see :func:`dirty_stream`)."""

    first_pos: np.ndarray
    """Positions among the accesses of the first period's dirtying accesses."""
    first_page: np.ndarray
    pos: np.ndarray
    """Positions of a later period's: its writes."""
    page: np.ndarray
    accesses: int
    written: int
    """Pages dirtied (numbered 0 .. written - 1, in order of first dirtying)."""
    touched: int
    """Pages touched."""


def page_keys(acc: np.ndarray) -> np.ndarray:
    """One int64 per ACCESS record naming its page: its VM, process and virtual page."""
    return ((acc["vm"].astype(np.int64) << 56) ^ (acc["pid"].astype(np.int64) << 40)
            ^ (acc["va"].astype(np.int64) >> 12))


def numbered_by_first(keys: np.ndarray) -> tuple[np.ndarray, int]:
    """Each key's number among the distinct keys, numbered ``0 ..`` in order of first
    appearance, and how many there are.

    >>> n, k = numbered_by_first(np.array([7, 3, 7, 9])); n.tolist(), k
    ([0, 1, 0, 2], 3)
    """
    numbers = FirstSeen()
    return numbers.number(keys)[0], numbers.count


class FirstSeen:
    """Keys given a piece at a time, numbered ``0 ..`` in order of first appearance across
    the pieces: memory grows with the distinct keys (a stream's pages), not the pieces.

    >>> f = FirstSeen()
    >>> [a.tolist() for a in f.number(np.array([7, 3, 7]))], f.count
    ([[0, 1, 0], [True, True, False]], 2)
    >>> [a.tolist() for a in f.number(np.array([9, 3]))], f.count
    ([[2, 1], [True, False]], 3)
    """

    def __init__(self) -> None:
        self._keys = np.zeros(0, dtype=np.int64)  # sorted
        self._numbers = np.zeros(0, dtype=np.int64)
        self.count = 0

    def number(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(each key's number, whether it is the key's first appearance)."""
        uniq, first, inv = np.unique(keys, return_index=True, return_inverse=True)
        at = np.searchsorted(self._keys, uniq)
        known = np.zeros(len(uniq), dtype=bool)
        inside = at < len(self._keys)
        known[inside] = self._keys[at[inside]] == uniq[inside]
        numbers = np.empty(len(uniq), dtype=np.int64)
        numbers[known] = self._numbers[at[known]]
        new = np.flatnonzero(~known)
        numbers[new[np.argsort(first[new], kind="stable")]] = self.count + np.arange(len(new))
        self.count += len(new)
        self._keys = np.insert(self._keys, at[new], uniq[new])
        self._numbers = np.insert(self._numbers, at[new], numbers[new])
        fresh = np.zeros(len(keys), dtype=bool)
        fresh[first[new]] = True
        return numbers[inv.ravel()], fresh


def dirty_stream(events: Stream) -> Dirty:
    """The dirty stream of a memory workload, repeated period after period: in the first, a
    write or the first touch of a page (the guest kernel zeroes it) dirties the page; in the
    later ones, writes (the pages exist). Pages are (VM, process, virtual page).

    >>> from workloads.memory.events import StreamBuilder
    >>> b = StreamBuilder(); b.spawn(1); b.switch(1); b.map(0x10000, pages=2)
    >>> b.access(0x10000); b.access(0x10008, write=True); b.access(0x11000)
    >>> b.access(0x10010)
    >>> d = dirty_stream(b.build())
    >>> d.first_pos.tolist(), d.first_page.tolist(), d.pos.tolist(), d.page.tolist()
    ([0, 1, 2], [0, 0, 1], [1], [0])
    >>> d.accesses, d.written, d.touched
    (4, 2, 2)
    """
    numbers = FirstSeen()
    cols = [Spill(np.int64, SPILL_ABOVE) for _ in range(4)]  # first_pos/page, pos/page
    base = 0
    for piece in pieces(events):
        acc = piece[piece["op"] == Ev.ACCESS]
        # A page's first touch is its first dirtying: the pages are numbered by both.
        page, fresh = numbers.number(page_keys(acc))
        write = acc["arg"] == Access.WRITE
        for (at, on), mask in zip(((cols[0], cols[1]), (cols[2], cols[3])),
                                  (write | fresh, write), strict=True):
            idx = np.flatnonzero(mask)
            at.add(base + idx)
            on.add(page[idx])
        base += len(acc)
    first_pos, first_page, pos, page = (c.array() for c in cols)
    return Dirty(first_pos, first_page, pos, page, base, numbers.count, numbers.count)


SPILL_ABOVE = 1 << 21
"""Positions and pages of a dirty stream (or a post-copy page stream, or the walks' table
reads) kept in memory, per column, before they go to a temporary file
(:class:`~codesign.spill.Spill`): 16 MiB, about 2 M writes (a stream of some 7 M references)."""


class TableReads:
    """A replay's walk tap (:attr:`codesign.mmu.replay.Replay.walk_monitor`) that keeps, per
    walk, the guest page-table pages it read: its guest-dimension references, whose
    addresses are the host-physical addresses of guest entries in a 2D walk (a page-walk
    cache hit reads none above it, as in hardware). The calls come in stream order, several
    at one position (a fault's kernel work): the pairs are kept sorted and once each (a
    :class:`~codesign.spill.Spill` beyond memory), those of the last position held until a
    call goes past it; calls out of order would be sorted at the end."""

    def __init__(self) -> None:
        self.pos = Spill(np.int64, SPILL_ABOVE)
        self.page = Spill(np.int64, SPILL_ABOVE)
        self._open = (np.zeros(0, np.int64), np.zeros(0, np.int64))  # at the last position
        self._ordered = True

    def __call__(self, pos: np.ndarray, va: np.ndarray, refs: np.ndarray, addrs: np.ndarray,
                 dims: np.ndarray) -> None:
        guest = dims == 0
        p, g = np.repeat(pos, refs)[guest], addrs[guest] >> 12
        if not len(p):
            return
        held, held_g = self._open
        if len(held) and p.min() < held[0]:
            self._ordered = False
        p, g = _sorted_once(np.concatenate([held, p]), np.concatenate([held_g, g]))
        last = p == p[-1]
        self._open = (p[last], g[last])
        self.pos.add(p[~last])
        self.page.add(g[~last])

    def pairs(self) -> tuple[np.ndarray, np.ndarray, int]:
        """(stream positions, pages numbered 0 .. n - 1 in order of first read, n): each
        page once per access that read it, in stream order.

        >>> t = TableReads()
        >>> t(np.array([5, 9]), None, np.array([2, 1]), np.array([0x7008, 0x3000, 0x7010]),
        ...   np.array([0, 0, 1]))
        >>> [a.tolist() if hasattr(a, "tolist") else a for a in t.pairs()]
        [[5, 5], [0, 1], 2]
        """
        self.pos.add(self._open[0])
        self.page.add(self._open[1])
        self._open = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        if not len(self.pos):
            return np.zeros(0, np.int64), np.zeros(0, np.int64), 0
        if not self._ordered:  # every pair at once
            pos, page = _sorted_once(self.pos.array(), self.page.array())
            return pos, *numbered_by_first(page)
        numbers = FirstSeen()
        pages = Spill(np.int64, SPILL_ABOVE)
        for block in self.page.blocks():
            pages.add(numbers.number(block)[0])
        return self.pos.array(), pages.array(), numbers.count


def _sorted_once(pos: np.ndarray, page: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position, page) pairs sorted by position, then page, each pair once.

    >>> [a.tolist() for a in _sorted_once(np.array([3, 1, 3]), np.array([7, 9, 7]))]
    [[1, 3], [9, 7]]
    """
    order = np.lexsort((page, pos))
    pos, page = pos[order], page[order]
    keep = np.ones(len(pos), dtype=np.bool_)
    keep[1:] = (pos[1:] != pos[:-1]) | (page[1:] != page[:-1])
    return pos[keep], page[keep]


def _merged(pos: np.ndarray, page: np.ndarray, tpos: np.ndarray, tpage: np.ndarray,
            offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Two (position, page) streams as one in position order, at one position the walk's
    reads before the access's write (the walk comes first), the walk's pages numbered from
    ``offset``; a block at a time, beyond memory in a :class:`~codesign.spill.Spill`."""
    block = 1 << 20  # a few tens of MiB held at once, whatever the streams

    def blocks(a: np.ndarray, b: np.ndarray, add: int) -> Iterator[tuple[np.ndarray, ...]]:
        for lo in range(0, len(a), block):
            yield np.asarray(a[lo:lo + block]), np.asarray(b[lo:lo + block]) + add

    out = (Spill(np.int64, SPILL_ABOVE), Spill(np.int64, SPILL_ABOVE))
    for p, g in merge_sorted(blocks(tpos, tpage, offset), blocks(pos, page, 0)):
        out[0].add(p)
        out[1].add(g)
    return out[0].array(), out[1].array()


def guest_run(events: Stream, p: TransferParams, platform: Platform,
              reads: TableReads | None = None) -> Metrics:
    """The MMU mechanism's metrics of the guest running ``events`` without migration (its
    cycles per access); ``reads``: a walk tap, nested paging only."""
    if p.mmu == "nested":
        return nested.run(events, p.mmu_params(), platform, walk_monitor=reads)
    return {"shadow": shadow.run, "pv-direct": pv_direct.run}[p.mmu](
        events, p.mmu_params(), platform)


def run(events: Stream, p: MigrationParams, platform: Platform) -> Metrics:
    """Metrics of migrating a VM that runs ``events``."""
    reads = TableReads() if p.mmu == "nested" and p.ept_ad and p.logging != "none" else None
    split = _splits(p)
    mmu = guest_run(events, replace(p, host_page="4K") if split else p, platform, reads)
    refs = mmu["refs"]
    cpa = mmu["cycles.total"] / refs if refs else 1.0
    base = cpa
    if split and refs:
        # logged, the guest runs on the 4 KiB entries of the split (its walks, second-level
        # TLB hits and the cache lines the walks take, as the 4 KiB replay has them), its
        # memory backed as the huge pages had backed it; without logging, on huge pages
        huge = guest_run(events, p, platform)
        base = huge["cycles.total"] / refs
        cpa = (mmu["cycles.total"] - mmu["cycles.traps"] + huge["cycles.traps"]) / refs
    clock = platform.value("cpu.clock_mhz") * 1e6
    exit_cost = platform.value("vmexit.kernel")
    # A paravirtual guest's write to a page Xen's log-dirty shadows map read-only faults
    # straight into Xen (no VM exit): priced as the platform's entry into Xen and Xen's work
    # on one page-table entry (making the shadow entry writable; the dirty bit), the costs
    # pv-direct charges a hypercall and an update.
    trap = (platform.value("hypercall.null") + platform.value("pv.update")
            if p.logging == "pv-logdirty" else exit_cost)
    d = dirty_stream(events)
    first, later = (d.first_pos, d.first_page), (d.pos, d.page)
    tables = 0
    if reads is not None:  # guest page-table pages the walks dirtied, in both periods
        tpos, tpage, tables = reads.pairs()
        first = _merged(*first, tpos, tpage, d.written)
        later = _merged(*later, tpos, tpage, d.written)
    dma = p.device != "none" and p.rx_gbps > 0
    ring = p.rx_ring_pages if dma else 0  # receive buffers: guest pages the stream does not touch
    memory = max(p.memory_mb * (1 << 20) // PAGE_BYTES, d.touched + ring + tables)
    per_walk = mmu["cycles.translation"] / mmu["walks"] if mmu["walks"] else 0.0
    refill = (p.entries + p.l2_entries) * per_walk
    code = LOGGING[p.logging]
    scans = (p.logging == "scan") + (p.device == "passthrough-dirty")  # EPT, IOMMU tables
    scan_s = scans * memory * p.scan_cycles / clock
    split_s, split_lazy, split_fault = (_splitting(p, Costs.of(platform), exit_cost, clock,
                                                   memory) if split else (0.0, False, 0.0))
    n = max(d.accesses, 1)
    m = run_precopy(*later, n, max(d.written + tables, 1), memory, max(cpa, 1e-9), clock,
                    p.link_gbps * 1e9, code, trap, p.pml_entries,
                    exit_cost + p.pml_entries * p.pml_drain_cycles, refill, p.stop_pages,
                    p.max_rounds, p.max_factor, p.resume_ms / 1e3, scan_s,
                    first=first,
                    dev_pages=ring,
                    dev_rate=p.rx_gbps * 1e9 / 8 / PAGE_BYTES if dma else 0.0,
                    dev_all=p.device == "passthrough", skip=p.skip_redirtied,
                    split_s=split_s, split_lazy=split_lazy, split_fault_cycles=split_fault)
    reason = {"write-protect": "vmexit.ept_violation" if p.mmu == "nested"
              else "vmexit.page_fault", "pml": "vmexit.pml_full",
              "pv-logdirty": "fault.log_dirty"}.get(p.logging)
    traps = {f"traps.{reason}": m.traps} if reason else {}
    if m.split_faults:  # EPT violations, as write protection's
        traps["traps.vmexit.ept_violation"] = (traps.get("traps.vmexit.ept_violation", 0)
                                               + m.split_faults)
    # what splitting cost in CPU: the splitting thread's time (eager), or what the split
    # faults cost the guest beyond the logging the same first writes would have had
    # (write protection: a trap each; PML and scanning: none)
    logged = trap if p.logging == "write-protect" else 0.0
    split_cpu = split_s + m.split_faults * (split_fault - logged) / clock
    return Metrics({
        "migration.total_s": m.total_s,
        "migration.downtime_ms": m.downtime_s * 1e3,
        "migration.rounds": m.rounds,
        "migration.pages_sent": m.pages_sent,
        "migration.bytes_sent": m.bytes_sent,
        "migration.guest_slowdown": m.slowdown(base / cpa),
        "migration.base_cycles_per_ref": base,
        "migration.logged_cycles_per_ref": cpa,
        "migration.writes_per_s": len(d.pos) * clock / (n * base),
        "migration.memory_pages": memory,
        "migration.dirty_pages": d.written,
        "migration.table_pages": tables,
        "migration.pages_skipped": m.skipped,
        "migration.device_pages": m.device_pages,
        "migration.split_s": split_s,
        "migration.split_faults": m.split_faults,
        "migration.split_cpu_s": split_cpu,
        "traps.total": m.traps + m.split_faults,
        **traps,
    })


def _splits(p: MigrationParams) -> bool:
    """Whether logging splits huge mappings: nested paging on huge host pages, logged at
    4 KiB (write protection, PML, scanning)."""
    return (p.mmu == "nested" and HOST_PAGES[p.host_page] != PAGE_4K
            and p.logging in ("write-protect", "pml", "scan"))


def _splitting(p: MigrationParams, costs: Costs, exit_cost: float, clock: float,
               memory: int) -> tuple[float, bool, float]:
    """(eager splitting's seconds before the first round, whether pages are split on fault,
    the cycles of a split fault) for a VM of ``memory`` pages whose mappings logging splits
    (:func:`_splits`). Every page of the VM is taken as mapped huge when logging starts (a
    VM that has run: its memory touched, as dirty_log_perf_test populates its memory before
    it turns logging on). A split fault is an EPT violation that maps one 4 KiB page of
    memory the host already holds: the exit and a page fault's work without zeroing the
    page (``fault.page - 4096 * memory.zero_per_byte``, the model's own costs)."""
    fault = exit_cost + max(costs.fault - PAGE_4K * costs.zero, 0.0)
    if p.split == "eager":
        return memory * p.split_entry_cycles / clock, False, fault
    return 0.0, True, fault


HEADLINE = ("migration.total_s", "migration.downtime_ms", "migration.guest_slowdown",
            "traps.total")

MECHANISM = Mechanism(
    name="precopy",
    accepts=("memory",),
    summary="pre-copy live migration (Clark et al., NSDI 2005; Xen's stop rule) of a VM under "
            "nested or shadow paging, dirty logging by write protection, Intel PML or EPT "
            "dirty-flag scanning",
    params=MigrationParams,
    run=run,
    costs=tuple(sorted({*nested.MECHANISM.costs, *shadow.MECHANISM.costs,
                        *pv_direct.MECHANISM.costs, "cpu.clock_mhz"})),
    headline=HEADLINE,
    hardware=("tlb", "stlb", "walker", "pml"),
    version="5",
)
