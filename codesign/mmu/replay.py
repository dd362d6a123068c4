"""Replaying a memory workload through the behavioural TLB and page walker.

The engine shared by the ``native`` and ``nested`` mechanisms. It drives three things in
stream order: the :class:`~codesign.mmu.guest.GuestModel` (tables, faults, host backing), a
:class:`hwmodels.tlb.TLBModel` and a :class:`hwmodels.pagewalk.PageWalkModel` (page-walk
caches, and in 2D the nested dimension's caches and nested TLB). It counts events; the
mechanisms turn counts into metrics and cycles.

**Access runs, batched.** Between two events that change a translation, every access of the
running process translates against fixed tables, so its TLB fill (frame, page size,
permissions) is known in advance from the guest model. The run is one TLB batch of
``LOOKUP, FILL`` pairs: a fill after a hit finds the entry it would write and rewrites it in
place (no eviction, no victim draw, the entry already most recent), so the pair has exactly
the effect of "fill on miss". The accesses that missed are then walked in one walker batch,
in order, and every walk's frame is checked against the guest model's translation. The
whole chain -- TLB, second-level TLB, walks, data cache -- is one compiled call per run
(:func:`~codesign.mmu.runkernel.run_pipeline`) on the models' own state. Demand
faults only *add* entries, so they are handled ahead of their accesses: all the faults of a
chunk of :data:`FAULT_CHUNK` accesses (aligned on the stream) at the chunk's start, the run
split there; faults that change an existing translation (COW) or the TLB (an exit that
flushes an untagged TLB) split the run and are handled at their position. Where the
mechanism keeps the base fault hooks (``native``, ``nested``), a chunk's first touches go
through the guest model's compiled demand fault (:mod:`codesign.mmu.guestkernel`) in one
call and are counted in bulk, the same counts as one :class:`Effects` each (tested).

**Data cache.** Page-table entries are ordinary cacheable data: every reference a walk makes
and every access's own data reference go through one :class:`hwmodels.cache.CacheModel`
(``Setup.cache``; L1D, L2, LLC), in stream order -- per access, its walk's references, then
its data reference -- so table lines and data lines compete for the same space. Walk
references are host-physical addresses of the entries read (2D: the guest tables at the host
addresses backing them and the host tables; 1D: the tables in the native image), data
references the physical address of the accessed byte (``frame << 12 | offset``: host-physical
in 2D, the native image's in 1D -- except where :attr:`Replay.data_on_host` says so: shadow
paging and the selective hybrid's shadow mode, whose shadow entries map the guest's pages to
the host frames that nested paging reaches too, so that both find the same data lines).
The replay counts references by dimension (guest walk, nested walk, data) and serving
level (:attr:`Counts.served`); the cost model prices them.
The TLB's same-page shortcut (below) skips TLB lookups only: every access still sends its
data reference to the cache, whose own repeated-line shortcut makes a run of references to
one line cheap. The page-walk caches and the nested TLB cache *entries* and stay as they
are; a reference they save never reaches the data cache. With ``Setup.cache`` None there is
no data cache: every walk reference is served by memory and data references are not looked
up (the model before the cache existed). The cache is physically tagged: nothing in the
stream flushes it.

**The guest kernel's work** (``Setup.kernel``; :mod:`codesign.mmu.kernel`): after each
non-ACCESS event, and before each run for the faults handled ahead of it (within a
:data:`FAULT_CHUNK` of their accesses), the kernel's
references (its structures, the page-table lines it writes, ``struct page`` entries, and the
pages it zeroes or copies) are replayed as a run of the kernel's address space
(:data:`~codesign.mmu.guest.KERNEL_PID`, its direct map): through the same TLBs (global
entries unless the mechanism says otherwise: :attr:`Replay.kernel_global`, tagged with the
running process's PCID), walker and data cache, counted apart (``Counts.kernel``,
``Counts.kernel_stream``) so that the process's counts keep their meaning.

**Tags.** ``nested``: TLB and walker entries carry VM tag ``vm + 1`` (VPID 0 is the host's);
with ``tlb.vpid`` off the TLB stores no VM tag and is flushed (INVVPID all-contexts
equivalent) on every VM switch and every VM exit -- under shadow paging too
(:attr:`Replay.exits_flush`), whose entries are tagged per address space as natively.
``native``: there are no VMs; a process is a (vm, pid) of one OS, VM tag 0, and a VM_SWITCH
is a context switch to that VM's running process. With ``tlb.pcid`` each address space gets
a PCID (1..4095, least recently used one recycled with a flush, freed at EXIT); without,
every CR3 write flushes the non-global entries of PCID 0 and the guest-dimension page-walk
cache entries of that PCID, as MOV CR3 does. The walker's own entries always carry their VM
tag (its model has no VPID switch).

**Invalidations.** A changed leaf is INVLPG'd (``INV_ADDR``): a 2 MiB leaf at each of its
4 KiB pages, so that entries of it held in a smaller array go too (what the SDM requires of
INVLPG), and at its :func:`stlb_2m_key` in the second-level TLB. FORK and EXIT flush the
address space (TLB ``INV_AS`` and walker ``FLUSH_ASID``), as Linux's ``flush_tlb_mm``.
Page-table pages are never freed before EXIT, so upper-level page-walk cache entries stay
valid across UNMAP / PROTECT.

**Second-level TLB.** A first-level miss looks the STLB up (``Setup.stlb``): 4 KiB pages in
its array, 2 MiB pages in the same array under :func:`stlb_2m_key` when ``Setup.stlb_2m``,
1 GiB pages in its 1 GiB array when it has one; a page size it does not hold bypasses it.

**Lanes.** A replay can run other translation hardware beside its own
(:meth:`Replay.vary_hardware`): each :class:`Lane` has its own TLBs, walker and data cache,
sized by a setup that differs only in their sizes, and gets every run's translations, every
flush and invalidation, and the guest kernel's references, as the replay's own hardware does;
it counts what depends on it (:data:`LANE_FIELDS`). Each may run other data caches beside
its own, as the replay's own hardware may (:meth:`Replay.vary` plans both). The guest model,
its faults and the kernel's work are replayed once for all (:mod:`codesign.mmu.onepass`).

>>> from workloads.memory.events import StreamBuilder
>>> from hwmodels.tlb import TLBParams
>>> from hwmodels.pagewalk import WalkerParams
>>> b = StreamBuilder(); b.spawn(1); b.switch(1); b.map(0x10000, pages=4)
>>> b.access(0x10000); b.access(0x10008); b.access(0x11000)
>>> c = replay(b.build(), Setup(GuestConfig(), TLBParams(), WalkerParams(), nested=False))
>>> c.refs, c.tlb_hits, c.tlb_misses, c.walk_refs_guest, c.faults_demand
(3, 1, 2, 5, 2)
>>> c.walk_served(0), c.data_served()    # no data cache: walks served by memory
([0, 0, 0, 5], [0, 0, 0, 0])
>>> from hwmodels.cache import CacheParams
>>> c = replay(b.build(), Setup(GuestConfig(), TLBParams(), WalkerParams(), nested=False,
...                             cache=CacheParams()))
>>> c.walk_served(0), c.data_served()    # two pages' data lines, one reused
([1, 0, 0, 4], [1, 0, 0, 2])
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from codesign.mmu.guest import (
    KERNEL_PID,
    PAGE_2M,
    PAGE_4K,
    VM_SHIFT,
    Effects,
    GuestConfig,
    GuestModel,
    tlb_perms,
)
from codesign.mmu.guestkernel import F_BACKED, F_ENTRY, F_GPA, F_HOST, F_POS, F_PROT, F_VA
from codesign.mmu.kernel import KernelParams, KernelWork
from codesign.mmu.leaves import Leaves
from codesign.mmu.pageindex import index
from codesign.mmu.runkernel import (
    K_BAD,
    K_BAD_FAULT,
    K_BAD_FRAME,
    K_EVICTIONS,
    K_GPWC,
    K_NPWC,
    K_NTLB_HIT,
    K_NTLB_MISS,
    K_REFS_GUEST,
    K_REFS_NESTED,
    K_SERVED,
    N_COUNTS,
    STLB_2M_TAG,
    run_pipeline,
    stlb_lookup_fill,
)
from codesign.mmu.tcache import TransCache
from hwmodels.cache import ABSENT, MEMORY, CacheLevelParams, CacheModel, CacheParams
from hwmodels.cache.model import V_HEADER, CacheTails, LLCVariants, differ_only_in
from hwmodels.pagewalk import PageWalkModel, WalkBatch, WalkerParams, WalkOp, WalkRequest
from hwmodels.pagewalk.ops import port_limits
from hwmodels.tlb import OpBatch, Perm, TLBModel, TLBOp, TLBParams
from hwmodels.tlb.ops import Op
from workloads.memory.chunked import EventChunks, Stream
from workloads.memory.events import Access, Ev, empty

WRITABLE = int(Perm.W)

ACCESS_SLICE = 1 << 15
"""Accesses replayed per batch at most: a run of more is split where the count of accesses
replayed reaches a multiple of it (a multiple of :data:`FAULT_CHUNK`, so the result is the
same)."""

FAULT_CHUNK = 1 << 12
"""The demand faults of a run are handled, their kernel work replayed, at the start of the
chunk of this many accesses (counted from the start of the stream's accesses) that holds
the faulting access, rather than each at its access: one replay of the run between two
chunks that fault instead of one per fault (several per fault with the kernel's work; each
costs a fraction of a millisecond), and the faults' kernel work lands within a chunk of
where it runs. Aligned on the stream, not on the run, so that whoever cuts a run (the slices
of :func:`drive`, ``selective``'s windows, ``shadow``'s exits) leaves the placement as it
is. The size trades placement for speed: each chunk that faults costs three more short
replays (the cut, the kernel's priced references, its zeroing stream), about 0.1 ms each; on
a recorded ``ls`` trace (427,000 references, 324 pages) nested paging replayed 7.5 M
references/s with chunks of 1,024, 9.0 M with 4,096 and 13.3 M with whole runs (up to
32,768 accesses, the placement before the chunks); with the per-run costs since cut
(compiled data-cache interleaving, the histogram's small-run path), 11.0 M with 4,096;
with each run one compiled call (:mod:`codesign.mmu.runkernel`), about 14 M.
4,096 accesses are a few microseconds of a guest, and a fifth of ``selective``'s default
window."""

SMALL_ROWS = 48
"""Histogram rows that :meth:`Counts.add_accesses` adds in plain Python rather than with
numpy (whose per-call overhead is most of a short run's cost)."""

PCIDS = 4095
"""PCIDs handed to address spaces (1 .. 4095; 12-bit tags)."""


@dataclass(frozen=True)
class Setup:
    """What to replay with: guest/host memory model, TLB, walker, 1D or 2D, the
    second-level TLB (None: none) and the data-cache hierarchy (None: none; its latencies
    are not used here, the cost model takes them from the platform)."""

    guest: GuestConfig
    tlb: TLBParams
    walker: WalkerParams
    nested: bool
    stlb: TLBParams | None = None
    cache: CacheParams | None = None
    stlb_2m: bool = False
    """The second-level TLB's array also holds 2 MiB entries (``tlb.l2.2m``)."""
    kernel: KernelParams | None = None
    """The guest kernel's work (:mod:`codesign.mmu.kernel`; None: the stream alone)."""
    warmup: float = 0.0
    """Fraction of the stream's accesses replayed before counting starts (:func:`drive`)."""

    @property
    def pcid(self) -> bool:
        """Address-space tags on."""
        return self.tlb.pcid_bits > 0

    @property
    def vpid(self) -> bool:
        """VM tags on (nested only)."""
        return self.tlb.vpid_bits > 0


@dataclass
class Counts:
    """Event counts of one replay (the mechanisms turn them into metrics)."""

    refs: int = 0
    tlb_hits: int = 0
    """First-level TLB hits (``tlb.l1.hits``)."""
    tlb_misses: int = 0
    l2_hits: int = 0
    l2_misses: int = 0
    """First-level misses that also missed the second level (or all of them without one):
    each one is a walk."""
    tlb_evictions: int = 0
    tlb_flushes: int = 0
    invlpg: int = 0
    walks: int = 0
    walk_refs_guest: int = 0
    walk_refs_nested: int = 0
    gpwc_hits: int = 0
    npwc_hits: int = 0
    ntlb_hits: int = 0
    ntlb_misses: int = 0
    faults_demand: int = 0
    faults_cow: int = 0
    fault_zeroed_large: int = 0
    """Bytes the faults zeroed beyond 4 KiB each (large pages; :attr:`Effects.zeroed_large`)."""
    fault_copied_large: int = 0
    """Bytes the COW faults copied beyond 4 KiB each."""
    backings: int = 0
    pte_writes: int = 0
    cr3_writes: int = 0
    vm_switches: int = 0
    ipis: int = 0
    pcid_recycles: int = 0
    syscalls: int = 0
    kernel_instructions: int = 0
    """Instructions of the guest kernel's work (:mod:`codesign.mmu.kernel`)."""
    kernel: Counts | None = None
    """Counts of the guest kernel's priced references (None: no kernel work)."""
    kernel_stream: Counts | None = None
    """Counts of its streaming references (zeroing and copying pages: translation priced,
    data not)."""
    served: list[int] = field(default_factory=lambda: [0] * 12)
    """References by kind and serving level, at ``4 * kind + level``: kind 0 guest-dimension
    walk references, 1 nested-dimension walk references, 2 data references; level 0 L1, 1
    L2, 2 LLC, 3 memory (``hwmodels.cache``'s numbering)."""
    per_access: dict[tuple[int, ...], int] = field(default_factory=dict)
    """Histogram of (walk refs served by L1, by L2, by the LLC, by memory, guest faults, trap
    units, second-level TLB hit) per access: translation latency. Trap units are backings
    (EPT violations) unless a subclass's :meth:`Replay.fault_traps` and
    :meth:`Replay.walk_traps` say otherwise."""

    variants: list[Counts] = field(default_factory=list)
    """With other LLCs (:meth:`Replay.vary_llc`) or other data caches
    (:meth:`Replay.vary_tails`) run beside the data cache, per variant what differs: its
    references by kind and serving level (``served``) and its histogram (``per_access``);
    see :meth:`variant`."""

    def variant(self, k: int) -> Counts:
        """The counts a replay with variant ``k``'s data cache gives: these, with the
        variant's references by serving level and its histogram (the guest kernel's counts
        likewise).

        >>> c = Counts(served=[1, 0, 2, 3, 0, 0, 0, 0, 5, 1, 1, 1])
        >>> c.variants = [Counts(served=[1, 0, 4, 1, 0, 0, 0, 0, 5, 1, 0, 2])]
        >>> c.variant(0).served
        [1, 0, 4, 1, 0, 0, 0, 0, 5, 1, 0, 2]
        """
        v = self.variants[k]
        return replace(self, served=list(v.served), per_access=dict(v.per_access), variants=[],
                       kernel=self.kernel.variant(k) if self.kernel is not None else None,
                       kernel_stream=(self.kernel_stream.variant(k)
                                      if self.kernel_stream is not None else None))

    def walk_served(self, dim: int | None = None) -> list[int]:
        """Walk references by serving level (L1, L2, LLC, memory): of dimension ``dim`` (0
        guest, 1 nested) or of both."""
        s = self.served
        if dim is None:
            return [s[lv] + s[4 + lv] for lv in range(4)]
        return s[4 * dim:4 * dim + 4]

    def data_served(self) -> list[int]:
        """Data references by serving level (all 0 without a data cache)."""
        return self.served[8:12]

    def add_accesses(self, n: int, rows: np.ndarray) -> None:
        """Count ``n`` accesses into the histogram: ``rows`` (walk refs by serving level x 4,
        faults, trap units, L2 hit) of those that did anything but hit the first-level TLB;
        the rest are all 0.

        >>> c = Counts(); c.add_accesses(3, np.array([[1, 0, 2, 1, 1, 0, 0]] * 2))
        >>> c.per_access
        {(0, 0, 0, 0, 0, 0, 0): 1, (1, 0, 2, 1, 1, 0, 0): 2}
        """
        rest = n - len(rows)
        zero = (0,) * 7
        if rest:
            self.per_access[zero] = self.per_access.get(zero, 0) + rest
        if not len(rows):
            return
        if len(rows) <= SMALL_ROWS:
            self._add_rows_small(np.asarray(rows, dtype=np.int64).tolist())
            return
        rows = np.asarray(rows, dtype=np.int64)
        if rows.min() < 0 or rows[:, :4].max() >= 1 << 12 or rows[:, 4].max() >= 1 << 12:
            raise ValueError("per-access row out of the histogram's range")
        wide = (rows[:, :4].max(axis=1) >= 1 << 6) | (rows[:, 5] >= 1 << 26)
        if wide.any():
            for row in rows[wide].tolist():
                self._add(tuple(row), 1)
            rows = rows[~wide]
        # np.unique's sort of every row costs more than the replay of the run; the rows take
        # few distinct values: count them by hash, sort those
        keys, _, inverse = index(_pack(*rows.T))
        counts = np.bincount(inverse, minlength=len(keys))
        order = np.argsort(keys)
        for k, m in zip(keys[order].tolist(), counts[order].tolist(), strict=True):
            self._add(_unpack(k), m)

    def _add_rows_small(self, rows: list[list[int]]) -> None:
        """:meth:`add_accesses` for a few rows, in plain Python: the same checks, and the
        histogram's keys inserted in the same order (wide rows as they come, then the
        packed ones in ascending packed order), so the metrics summed over it come out to
        the same bits."""
        for row in rows:
            if min(row) < 0 or max(row[:4]) >= 1 << 12 or row[4] >= 1 << 12:
                raise ValueError("per-access row out of the histogram's range")
        packed: dict[int, int] = {}
        for row in rows:
            if max(row[:4]) >= 1 << 6 or row[5] >= 1 << 26:
                self._add(tuple(row), 1)
            else:
                k = _pack(*row)
                packed[k] = packed.get(k, 0) + 1
        for k in sorted(packed):
            self._add(_unpack(k), packed[k])

    def _add(self, key: tuple[int, ...], count: int) -> None:
        self.per_access[key] = self.per_access.get(key, 0) + count


Field = int | np.ndarray


def _pack(l1: Field, l2: Field, llc: Field, mem: Field, faults: Field, units: Field,
          l2_hit: Field) -> Field:
    """A histogram row (or equal-length columns of rows) packed into one int64, where its
    fields fit: 6 bits per level count, 12 for faults, 1 for the L2 hit, 26 for trap units
    (the rare rows that do not are kept whole).

    >>> _unpack(_pack(1, 2, 3, 4, 5, 6, 1))
    (1, 2, 3, 4, 5, 6, 1)
    """
    return l1 | l2 << 6 | llc << 12 | mem << 18 | faults << 24 | l2_hit << 36 | units << 37


def _unpack(k: int) -> tuple[int, ...]:
    """The row :func:`_pack` packed into ``k``."""
    return (k & 63, (k >> 6) & 63, (k >> 12) & 63, (k >> 18) & 63, (k >> 24) & 0xFFF,
            k >> 37, (k >> 36) & 1)


class _Pcids:
    """PCID allocation with least-recently-used recycling (a recycled PCID is flushed)."""

    def __init__(self) -> None:
        self.live: OrderedDict[tuple[int, int], int] = OrderedDict()
        self.free: list[int] = []
        self.next = 1

    def get(self, space: tuple[int, int]) -> tuple[int, tuple[int, int] | None]:
        """(pcid, address space it was taken from or None)."""
        if space in self.live:
            self.live.move_to_end(space)
            return self.live[space], None
        victim = None
        if self.free:
            pcid = self.free.pop()
        elif self.next <= PCIDS:
            pcid, self.next = self.next, self.next + 1
        else:
            victim, pcid = self.live.popitem(last=False)
        self.live[space] = pcid
        return pcid, victim

    def release(self, space: tuple[int, int]) -> None:
        """The address space is gone: its PCID may be reused."""
        pcid = self.live.pop(space, None)
        if pcid is not None:
            self.free.append(pcid)

SMALL = 8
"""Up to this many pages or faults, the per-page Python paths: below it numpy's per-call
costs exceed the work."""


class Faulted:
    """Position in a block -> (guest faults, trap units) of its accesses that faulted: those
    the model handled one by one (:meth:`add`, summed per position) and runs of compiled
    demand faults (:meth:`add_rows`: one fault each, at positions of their own), read back
    by range (:meth:`between`) for each run of the block.

    >>> f = Faulted(); f.add(7, 1, 2); f.add(7, 1, 0)
    >>> f.add_rows(np.array([3, 9]), np.array([1, 0]))
    >>> at, fu = f.between(3, 9); at.tolist(), fu.tolist()
    ([3, 7], [[1, 1], [2, 2]])
    """

    def __init__(self) -> None:
        self.one: dict[int, tuple[int, int]] = {}
        self.pos: list[np.ndarray] = []
        self.units: list[np.ndarray] = []
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None

    def __bool__(self) -> bool:
        return bool(self.one) or bool(self.pos)

    def add(self, pos: int, faults: int, units: int) -> None:
        f, u = self.one.get(pos, (0, 0))
        self.one[pos] = (f + faults, u + units)
        self._arrays = None

    def add_rows(self, pos: np.ndarray, units: np.ndarray) -> None:
        """One fault each at ``pos`` (no position already given), with trap ``units``."""
        if len(pos):
            # copies: a view would keep the caller's whole fault-row buffer alive
            self.pos.append(np.array(pos, dtype=np.int64))
            self.units.append(np.array(units, dtype=np.int64))
            self._arrays = None

    def between(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """(the positions in [a, b), in no particular order, and their (faults, units))."""
        if self._arrays is None:
            # kept as arrays (one per run of compiled faults), joined when read: a block's
            # positions are read once per run, and a list of ints would be converted whole
            # each time
            if len(self.pos) > 1:
                self.pos = [np.concatenate(self.pos)]
                self.units = [np.concatenate(self.units)]
            pos, units = (x[0] if x else np.zeros(0, dtype=np.int64)
                          for x in (self.pos, self.units))
            k = len(pos)
            at = np.concatenate([pos, np.array(list(self.one), dtype=np.int64)])
            fu = np.empty((len(at), 2), dtype=np.int64)
            fu[:k, 0] = 1
            fu[:k, 1] = units
            if self.one:
                fu[k:] = list(self.one.values())
            self._arrays = at, fu
        at, fu = self._arrays
        mine = (at >= a) & (at < b)
        return at[mine], fu[mine]


_NO_VARIANTS = np.zeros((0, 3, 4), dtype=np.int64)
"""The pipeline's per-variant counts when there are none (it writes nothing into them)."""

LANE_FIELDS = ("refs", "tlb_hits", "tlb_misses", "l2_hits", "l2_misses", "tlb_evictions",
               "walks", "walk_refs_guest", "walk_refs_nested", "gpwc_hits", "npwc_hits",
               "ntlb_hits", "ntlb_misses", "served", "per_access")
"""The counts that depend on the translation hardware a replay runs (what :meth:`Replay._run`
counts): a :class:`Lane` keeps its own; every other count is the replay's."""

MAX_LANE_BYTES = 1 << 30
"""The most memory the lanes of one replay may hold (their data caches' state, mostly):
:meth:`Replay.vary_hardware` refuses more."""


class Hardware:
    """The translation hardware an access goes through: first- and second-level TLB, page
    walker, data cache (their models and state), with the setup that sized them and the
    counts they feed (a :class:`Replay` is one; a :class:`Lane` is one beside it)."""

    s: Setup
    c: Counts

    def _build(self, setup: Setup) -> None:
        self.tlb = TLBModel(setup.tlb)
        self.stlb = TLBModel(setup.stlb) if setup.stlb is not None else None
        self.walker = PageWalkModel(setup.walker)
        self.dcache = CacheModel(setup.cache) if setup.cache is not None else None
        """The data-cache hierarchy (None: none)."""
        self._cstate = (self.dcache.state if self.dcache is not None
                        else CacheModel(CacheParams(l1=ABSENT, l2=ABSENT, llc=ABSENT)).state)
        self.fill_class = [max((a for a in range(k + 1) if setup.tlb.arrays[a].enabled),
                               default=-1) for k in range(3)]
        self.fill_arr = np.array(self.fill_class, dtype=np.int64)
        l4k = setup.tlb.arrays[0]
        self.l4k_mask = l4k.sets - 1 if l4k.enabled else -1
        """Set mask of the first-level TLB's 4 KiB array (-1: no such array)."""
        self.llc_variants: LLCVariants | None = None
        """Other LLCs run beside the data cache's (:meth:`Replay.vary_llc`; None: none)."""
        self._vstate = np.zeros(V_HEADER, dtype=np.int64)
        self.cache_tails: CacheTails | None = None
        """Other data caches run beside this one (:meth:`Replay.vary_tails`; None: none)."""
        self._tstate = np.zeros(0, dtype=np.int64)
        self._toff = np.zeros(1, dtype=np.int64)
        self._tstart = 0

    def _variants(self) -> int:
        """Data caches run beside this hardware's own."""
        return (len(self.llc_variants) if self.llc_variants is not None
                else len(self.cache_tails) if self.cache_tails is not None else 0)

    def _tlbs(self) -> tuple[TLBModel, ...]:
        return (self.tlb,) if self.stlb is None else (self.tlb, self.stlb)

    @property
    def holds_2m(self) -> bool:
        """The second-level TLB holds 2 MiB entries (under :func:`stlb_2m_key`)."""
        return self.s.stlb_2m and self.stlb is not None


class Lane(Hardware):
    """Other translation hardware -- TLBs, page-walk caches, nested TLB, data cache -- run
    beside a replay's own on the same translations (:meth:`Replay.vary_hardware`), with the
    counts that depend on it (:data:`LANE_FIELDS`; the guest kernel's likewise)."""

    def __init__(self, setup: Setup) -> None:
        self.s = setup
        self._build(setup)
        self.c = Counts()


def _shared(s: Setup) -> tuple:
    """What the setups of a replay's lanes must have in common: everything but the sizes of
    its TLBs, page-walk caches, nested TLB and data cache (tag and address widths decide
    flushes and the walker's ports, the tables' heights the guest model)."""
    w = s.walker
    return (s.guest, s.nested, s.kernel, s.warmup, s.tlb.va_bits, s.tlb.pa_bits,
            s.tlb.vpid_bits, s.tlb.pcid_bits, w.guest_levels, w.host_levels, w.pa_bits,
            w.vm_bits, w.asid_bits, w.agile)


class Replay(Hardware):
    """State of one replay; :func:`replay` runs it."""

    def __init__(self, setup: Setup) -> None:
        self.s = setup
        self.guest = GuestModel(setup.guest)
        self._build(setup)
        self.lanes: list[Lane] = []
        """Other translation hardware run beside this replay's (:meth:`vary_hardware`)."""
        self.tcache: dict[tuple[int, int], TransCache] = {}
        """Per address space: page -> (frame, TLB size class, permissions) as last
        translated; entries go when the guest model invalidates or flushes them."""
        self.c = Counts()
        self.accessed = 0
        """The stream's accesses replayed so far (``c.refs`` restarts at :meth:`mark`; this
        does not: the fault chunks and the slices of :func:`drive` are aligned on it)."""
        self.kw = KernelWork(setup.kernel, self.guest) if setup.kernel is not None else None
        """The guest kernel's work collected from events and faults (None: none)."""
        cls = type(self)
        self._batch_faults = all(getattr(cls, hook) is getattr(Replay, hook)
                                 for hook in ("_effects", "fault_traps", "fault_handled"))
        """First touches go through the compiled demand-fault path
        (:meth:`GuestModel.demand_faults`) and are counted in bulk: only where the fault
        hooks are these (a mechanism that overrides one sees every fault's ``Effects``)."""
        self.c = self._fresh_counts()
        self.host_frames: dict[int, int] = {}
        """Native-image frame -> host frame, for the data references of a guest under a
        hypervisor walking in one dimension (see :meth:`_run`)."""
        self.pcids = _Pcids()

    # -- tags --------------------------------------------------------------------------------

    def vm_tag(self, vm: int) -> int:
        """VM tag of TLB and walker entries."""
        return vm + 1 if self.s.nested else 0

    def tlb_vpid(self, vm: int) -> int:
        return self.vm_tag(vm) if self.s.vpid else 0

    def asid(self, vm: int, pid: int) -> int:
        """PCID of an address space (0 when PCIDs are off)."""
        if not self.s.pcid:
            return 0
        pcid, victim = self.pcids.get((vm, pid))
        if victim is not None:
            self.c.pcid_recycles += 1
            self._flush_asid(vm, pcid)
        return pcid

    # -- hardware operations -----------------------------------------------------------------

    def _hardware(self) -> list[Hardware]:
        """This replay's translation hardware and its lanes'."""
        return [self, *self.lanes]

    def _tlb(self, ops: list[TLBOp], ops_2m: list[TLBOp] | None = None) -> None:
        """Run ``ops`` on every TLB (``ops_2m``, when given, instead on the TLBs of hardware
        whose second-level TLB holds 2 MiB entries: the same with their keys)."""
        if not ops:
            return
        batch = OpBatch.from_ops(ops)
        batch_2m = (OpBatch.from_ops(ops_2m) if ops_2m is not None and ops_2m is not ops
                    else batch)
        for hw in self._hardware():
            b = batch_2m if hw.holds_2m else batch
            for tlb in hw._tlbs():
                tlb.run(b)
        self.c.tlb_flushes += int((batch.op >= Op.INV_AS).sum())

    def _walker(self, reqs: list[WalkRequest]) -> None:
        if reqs:
            batch = WalkBatch.from_requests(reqs)
            for hw in self._hardware():
                hw.walker.run(batch)

    def _flush_asid(self, vm: int, pcid: int) -> None:
        self._tlb([TLBOp.invalidate_address_space(self.tlb_vpid(vm), pcid)])
        self._walker([WalkRequest.flush_asid(self.vm_tag(vm), pcid)])

    def _flush_vm(self, vm: int) -> None:
        """Invalidate every live TLB context of ``vm`` (both TLB levels) and its walk-cache
        entries: a hypervisor's own flush after changing translations it maps (``shadow``,
        ``agile``); not counted in ``tlb_flushes``, which are the guest's."""
        pcids = ([p for (v, _), p in self.pcids.live.items() if v == vm] if self.s.pcid
                 else [0])
        if not pcids:
            return
        vpid = self.tlb_vpid(vm)
        batch = OpBatch.from_ops([TLBOp.invalidate_address_space(vpid, p) for p in pcids])
        for hw in self._hardware():
            for tlb in hw._tlbs():
                tlb.run(batch)
        self._walker([WalkRequest.flush_asid(self.vm_tag(vm), p) for p in pcids])

    traps_to_hypervisor = False
    """Whether the guest runs under a hypervisor that it exits to (set by the shadow replay;
    nested replays are told by their setup)."""

    @property
    def exits_flush(self) -> bool:
        """VM exits and entries flush the TLB: a hypervisor's guest without VPIDs (Intel SDM
        Vol. 3C: with VPIDs off, VM entry and exit invalidate every linear and combined
        mapping), under nested and shadow paging alike."""
        return (self.s.nested or self.traps_to_hypervisor) and not self.s.vpid

    faults_in_place = False
    """Every fault is handled at its own access, the run cut there, rather than at the start
    of its chunk of accesses (``agile``: whether a fault's page-table write exits depends on
    the hidden faults of the accesses before it, which shadow the table it writes)."""

    data_on_host = False
    """1D replays address data by the host frames backing the guest's pages (as 2D ones do)
    rather than by the native image's frames: where a hypervisor's 1D tables map guest pages
    to host frames (``shadow``; ``selective``, whose two modes must find the same lines
    cached). Not ``native`` (no host), nor ``pv-direct``, whose guest allocates machine
    frames itself. The backing frames do not depend on the host table's shape, whose pages
    come from a region of their own (:data:`~codesign.mmu.guest.EPT_BASE`)."""

    def _exit_flush(self, exits: int = 1) -> None:
        """VM exits (and entries) with an untagged TLB: the TLB loses everything, each time."""
        if exits and self.exits_flush:
            self._tlb([TLBOp.invalidate_all()] * exits)

    def _effects(self, vm: int, fx: Effects) -> None:
        """Apply what the guest model did to the TLB and walker, and count it."""
        c = self.c
        c.faults_demand += fx.demand_faults
        c.faults_cow += fx.cow_faults
        c.fault_zeroed_large += fx.zeroed_large
        c.fault_copied_large += fx.copied_large
        c.backings += fx.backings
        c.pte_writes += fx.pte_writes
        c.ipis += fx.ipis
        if self.s.nested:  # EPT violations and ICR writes exit (shadow counts its own)
            self._exit_flush(fx.backings + fx.ipis)
        if fx.invalidate or fx.flush:
            self._forget(vm, fx)
        vpid = self.tlb_vpid(vm)
        # each list only where some hardware takes it (every one does, without lanes)
        holds = {hw.holds_2m for hw in self._hardware()}
        ops_2m = self._invalidations(fx, vpid, True) if True in holds else None
        ops = self._invalidations(fx, vpid, False) if False in holds else ops_2m
        self._tlb(ops or [], ops_2m)
        # The guest issues one INVLPG per changed leaf, whatever its size: the instruction
        # drops the translation of the whole page holding the address (Intel SDM Vol. 3A,
        # INVLPG). The model also clears every 4 KiB slice of a large leaf, because a TLB
        # may hold a large page as smaller entries (the second-level TLB does here).
        c.invlpg += len(fx.invalidate)
        for space in fx.flush:
            if self.s.pcid:
                pcid = self.pcids.live.get(space)
                if pcid is not None:
                    self._flush_asid(space[0], pcid)
            else:
                self._flush_asid(space[0], 0)

    @staticmethod
    def _invalidations(fx: Effects, vpid: int, two_m: bool) -> list[TLBOp]:
        """The INVLPGs of the leaves ``fx`` changed, in order; ``two_m``: with the keys of
        their 2 MiB pages in a second-level TLB that holds such entries."""
        ops = []
        for va, size in fx.invalidate:
            ops.extend(TLBOp.invalidate_address(a, vpid) for a in range(va, va + size, PAGE_4K))
            if two_m:
                # the second-level TLB's 2 MiB entries live under their own tags
                ops.extend(TLBOp.invalidate_address(int(k), vpid) for k in
                           stlb_2m_key(np.arange(va & ~(PAGE_2M - 1), va + size, PAGE_2M)))
        return ops

    def _forget(self, vm: int, fx: Effects) -> None:
        """Drop cached translations the guest model changed (in every address space of the
        VM: a changed leaf's space is not named, and dropping more is only slower)."""
        for space in fx.flush:
            self.tcache.pop(space, None)
        if fx.invalidate:
            for space, cache in self.tcache.items():
                if space[0] != vm or not len(cache):
                    continue
                for va, size in fx.invalidate:
                    cache.discard(va >> 12, size >> 12)

    def _tcache(self, vm: int, pid: int) -> TransCache:
        """The address space's translation cache (created empty the first time)."""
        cache = self.tcache.get((vm, pid))
        if cache is None:
            cache = self.tcache[(vm, pid)] = TransCache()
        return cache

    def page_class(self, vm: int, pid: int, va: int) -> int:
        """TLB size class (0: 4 KiB, 1: 2 MiB, 2: 1 GiB) of the translation of ``va`` that
        the current run used."""
        return self.tcache[(vm, pid)][va >> 12][1]

    def fault_traps(self, vm: int, pid: int, va: int, fx: Effects) -> int:
        """Trap units of the access at ``va`` that faulted with ``fx`` (per-access histogram's
        third column). Here: its backings. Mechanisms that trap differently override it."""
        return fx.backings

    def fault_handled(self, pos: int, fx: Effects) -> None:
        """A hook: the fault of the access at ``pos`` of the run being replayed (the
        block given to :meth:`accesses`) was handled, with effects ``fx`` -- a demand fault
        ahead of the run's accesses, a copy-on-write fault where its run splits. Nothing
        here; ``selective`` counts a fault in the window of its access."""

    def walk_traps(self, vm: int, pid: int, va: np.ndarray) -> np.ndarray | None:
        """Trap units of the TLB misses at ``va`` (in order), added to the histogram's third
        column; None: none. Called after the misses were walked."""
        return None

    def walk_root(self, vm: int, pid: int) -> tuple[int, int]:
        """(walk operation, root) of the walks of (vm, pid) in a 2D replay: the guest's own
        table, walked in two dimensions (``agile`` starts its walks in a shadow table)."""
        return int(WalkOp.NESTED), self.guest.root(vm, pid)

    def before_walks(self, vm: int, pid: int, pages: np.ndarray) -> None:
        """A hook: a run of accesses of (vm, pid) to the distinct ``pages`` is about to
        translate. Nothing here; ``agile`` completes their shadow paths (the hidden faults
        their first walks take)."""

    def _cr3(self, vm: int, pid: int) -> None:
        """A CR3 write loading (vm, pid)'s table."""
        self.c.cr3_writes += 1
        pcid = self.asid(vm, pid)
        if not self.s.pcid:
            self._flush_asid(vm, pcid)

    # -- the stream ----------------------------------------------------------------------------

    def event(self, e: np.void) -> None:
        """Replay one non-ACCESS event."""
        op, vm, pid = int(e["op"]), int(e["vm"]), int(e["pid"])
        was_vm = self.guest.vm
        fx = self.guest.apply(e)
        self._effects(vm, fx)
        kernel = self.kw is not None
        self._at = self.accessed
        if kernel:
            self.kw.event(e, fx)
            if op == Ev.EXIT:  # while its PCID is live
                self.kernel_run(vm, pid)
        if op == Ev.SYSCALL:
            self.c.syscalls += 1
        elif op == Ev.EXIT:
            self.pcids.release((vm, pid))
            self.tcache.pop((vm, pid), None)
        elif op == Ev.SWITCH:
            self._cr3(vm, pid)
        elif op == Ev.VM_SWITCH and vm != was_vm:
            self.c.vm_switches += 1
            self._exit_flush()  # the hypervisor ran: an exit and an entry
            if not self.s.nested and self.guest.running(vm):
                self._cr3(vm, self.guest.running(vm))
        if kernel and op != Ev.EXIT:
            self.kernel_run(vm, pid)

    _pipeline = staticmethod(run_pipeline)
    """The compiled run (:func:`~codesign.mmu.runkernel.run_pipeline`): an attribute, so that
    a checker can wrap it for one replay (``tests/mmu/test_validation.py``'s isolation
    property)."""

    walk_monitor: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                           None] | None = None
    """Called with each run's walks, when set: the stream positions of the accesses that
    walked (among the stream's accesses; a walk of the guest kernel's work takes the
    position of the access it precedes), their addresses, each walk's number of references,
    and the references' addresses and dimensions in order (a scoreboard's tap: the walks run
    inside the compiled pipeline; the migration model's source of the guest page-table pages
    walks read)."""

    _block = 0
    """Stream position of the first access of the block being replayed."""
    _at = 0
    """Stream position of the access the guest kernel's work being replayed precedes."""

    cost_blind = True
    """Nothing this replay does depends on which cache level served a reference (so
    :meth:`vary_llc` may run other LLCs beside its own)."""
    user_global = False
    """The process's TLB entries are global (Xen x86-64 PV without PCIDs)."""
    kernel_global = True
    """The kernel's TLB entries are global (Linux sets the G bit on its direct map)."""

    def mark(self) -> None:
        """Counting starts here (``measure.warmup``): every count restarts from 0, while the
        state -- TLBs, walker caches, data cache, the guest's tables, host backing -- stays
        as the warm-up left it. Mechanisms with counts of their own restart them too."""
        for hw in self._hardware():
            hw.c = self._fresh_counts(hw)

    def _fresh_counts(self, hw: Hardware | None = None) -> Counts:
        """Zero counts of ``hw`` (this replay's own hardware by default), with the guest
        kernel's and the data cache variants' where there are."""
        nv = (self if hw is None else hw)._variants()

        def zero() -> Counts:
            return Counts(variants=[Counts() for _ in range(nv)])

        c = zero()
        if self.kw is not None:
            c.kernel, c.kernel_stream = zero(), zero()
        return c

    def vary_llc(self, llcs: list[CacheLevelParams] | tuple[CacheLevelParams, ...]) -> None:
        """Run other LLCs beside the data cache's, on the references that reach it, before
        anything is replayed: :attr:`Counts.variants` then holds what each changes, and
        ``c.variant(k)`` is exactly the counts of this replay with ``llcs[k]`` as the data
        cache's LLC (:class:`hwmodels.cache.LLCVariants`: under ``"nine"`` the LLC changes
        nothing before it, and no other count depends on which level served a reference --
        unless the replay decides by what references cost, :attr:`cost_blind`).
        ValueError without a data cache, with an inclusive one, or for a replay that is
        not cost-blind."""
        self._vary_llc(self, llcs)

    def _vary_llc(self, hw: Hardware, llcs: list[CacheLevelParams] | tuple[CacheLevelParams, ...]
                  ) -> None:
        self._may_vary("LLC variants", hw)
        assert hw.s.cache is not None
        hw.llc_variants = LLCVariants(hw.s.cache, llcs)
        hw._vstate = hw.llc_variants.state
        hw.c = self._fresh_counts(hw)

    def vary_tails(self, caches: list[CacheParams] | tuple[CacheParams, ...]) -> None:
        """Run other data caches beside this replay's, before anything is replayed:
        ``c.variant(k)`` is then exactly the counts of this replay with ``caches[k]`` as its
        data cache (:class:`hwmodels.cache.CacheTails`: no count but the data cache's
        depends on which level served a reference -- unless the replay decides by what
        references cost, :attr:`cost_blind`). Each is fed every reference, or, when they
        differ from it only in L2 and the LLC under ``"nine"``, only those its L1 does not
        serve (:attr:`hwmodels.cache.CacheTails.start`). ValueError as :meth:`vary_llc`'s
        (an inclusive data cache aside)."""
        self._vary_tails(self, caches)

    def _vary_tails(self, hw: Hardware, caches: list[CacheParams] | tuple[CacheParams, ...]
                    ) -> None:
        self._may_vary("cache tails", hw)
        assert hw.s.cache is not None
        hw.cache_tails = CacheTails(hw.s.cache, caches)
        hw._tstate, hw._toff = hw.cache_tails.state, hw.cache_tails.offsets
        hw._tstart = hw.cache_tails.start
        hw.c = self._fresh_counts(hw)

    def vary_caches(self, caches: list[CacheParams] | tuple[CacheParams, ...],
                    lane: int | None = None) -> None:
        """Run other data caches beside this replay's (or lane ``lane``'s, after
        :meth:`vary_hardware`), the cheapest way that is exact: their LLCs in Mattson stacks
        (:meth:`vary_llc`) when they differ from it only in the LLC under ``"nine"``, else
        as cache tails (:meth:`vary_tails`). The lane's counts then hold their variants
        likewise (``lane_counts(lane).variant(k)``)."""
        hw = self if lane is None else self.lanes[lane]
        base = hw.s.cache
        if base is not None and base.inclusion == "nine" and differ_only_in(base, caches,
                                                                            ("llc",)):
            self._vary_llc(hw, [c.llc for c in caches])
        else:
            self._vary_tails(hw, caches)

    def vary_hardware(self, setups: list[Setup] | tuple[Setup, ...]) -> None:
        """Run other translation hardware beside this replay's, before anything is
        replayed: a :class:`Lane` per setup of ``setups``, which may differ from this
        replay's only in the sizes, ways and policies of its TLBs, page-walk caches, nested
        TLB and data cache. :meth:`lane_counts` ``(k)`` is then exactly the counts of a
        replay of ``setups[k]``.

        Exact because nothing a replay does but count depends on what its translation
        hardware holds: the guest model's faults and tables, the guest kernel's work, the
        flushes and the trap units of faults come from the stream alone, so each lane sees
        the same translations and the same flushes, and runs its own TLBs, walker and data
        cache on them. Not for a replay that decides by what a walk found or cost: one that
        traps on walks (:meth:`walk_traps`: ``shadow``'s hidden faults), taps them
        (:attr:`walk_monitor`), or is not :attr:`cost_blind` (ValueError); nor lanes whose
        data caches together hold more than :data:`MAX_LANE_BYTES`. Each lane may then run
        other data caches beside its own (:meth:`vary_caches` with ``lane``)."""
        if not self.cost_blind or type(self).walk_traps is not Replay.walk_traps:
            raise ValueError(f"{type(self).__name__} decides by what its walks find: other "
                             "translation hardware would take the first one's decisions")
        if self.walk_monitor is not None or self.data_on_host:
            raise ValueError("lanes see no walk tap, nor data addressed by host frames")
        if self.c.refs or self.accessed:
            raise ValueError("lanes are set before the replay starts")
        if self.lanes:
            raise ValueError("the replay's lanes are already set")
        mine = _shared(self.s)
        for s in setups:
            if _shared(s) != mine:
                raise ValueError("lanes differ only in the sizes of the TLBs, page-walk "
                                 "caches, nested TLB and data cache")
        held = sum(16 * s.cache.slots for s in setups if s.cache is not None)  # 2 words a line
        if held > MAX_LANE_BYTES:
            raise ValueError(f"lanes would hold {held >> 20} MiB, expected at most "
                             f"{MAX_LANE_BYTES >> 20} MiB")
        self.lanes = [Lane(s) for s in setups]
        for lane in self.lanes:
            lane.c = self._fresh_counts(lane)

    def vary(self, setups: Sequence[Setup]) -> None:
        """Run the hardware of every setup of ``setups`` (the first this replay's own) beside
        this replay's, before anything is replayed, the cheapest way that is exact: a lane
        per translation hardware (:meth:`vary_hardware`: setups that differ in more than the
        data cache), and on each, this replay's own included, the other data caches of its
        setups as variants (:meth:`vary_caches`). :meth:`counts_of` ``(i)`` is then exactly
        the counts of a replay of ``setups[i]``. ValueError as those methods'."""
        if not setups or setups[0] != self.s:
            raise ValueError("the first setup is the replay's own")
        hw_of: dict[Setup, int] = {}  # translation hardware -> 0 (own) or lane + 1
        firsts: list[Setup] = []
        for st in setups:
            key = replace(st, cache=None)
            if key not in hw_of:
                hw_of[key] = len(hw_of)
                firsts.append(st)
        if len(firsts) > 1:
            self.vary_hardware(firsts[1:])
        caches: dict[int, list[CacheParams]] = {}
        plan: list[tuple[int, int | None]] = []
        for st in setups:
            h = hw_of[replace(st, cache=None)]
            if st is firsts[h]:
                plan.append((h, None))
            else:
                mine = caches.setdefault(h, [])
                plan.append((h, len(mine)))
                mine.append(st.cache)  # type: ignore[arg-type]
        for h, cs in caches.items():
            self.vary_caches(cs, lane=None if h == 0 else h - 1)
        self._plan = plan

    def counts_of(self, i: int) -> Counts:
        """The counts of a replay of setup ``i`` of :meth:`vary`."""
        h, v = self._plan[i]
        c = self.c if h == 0 else self.lane_counts(h - 1)
        return _own(c) if v is None else c.variant(v)

    def lane_counts(self, k: int) -> Counts:
        """The counts of a replay with lane ``k``'s hardware (:meth:`vary_hardware`): this
        replay's, with the lane's :data:`LANE_FIELDS` and data cache variants (the guest
        kernel's likewise)."""
        return _with_lane(self.c, self.lanes[k].c)

    def _may_vary(self, what: str, hw: Hardware) -> None:
        """ValueError unless variants of ``hw``'s data cache may be set now (see
        :meth:`vary_llc`)."""
        if not self.cost_blind:
            raise ValueError(f"{type(self).__name__} decides by what references cost: its "
                             f"{what} would take the first one's decisions")
        if hw.s.cache is None:
            raise ValueError(f"{what} need a data cache")
        if self.c.refs or self.accessed:
            raise ValueError(f"{what} are set before the replay starts")
        if hw.llc_variants is not None or hw.cache_tails is not None:
            raise ValueError("the data cache's variants are already set")

    def kernel_run(self, vm: int, pid: int) -> None:
        """Replay the guest kernel's work collected so far, in ``vm`` on behalf of ``pid``:
        its instructions counted, its references translated by the kernel's direct map
        through the TLBs, walker and data cache (:mod:`codesign.mmu.kernel`)."""
        assert self.kw is not None
        n, priced, stream = self.kw.take(vm)
        self.c.kernel_instructions += n
        pcid = self.pcids.live.get((vm, pid), 0) if self.s.pcid else 0
        hws = self._hardware()
        for addrs, which in ((priced, "kernel"), (stream, "kernel_stream")):
            if not len(addrs):
                continue
            va = self.guest.kernel_va(vm, addrs)
            pages = va >> 12
            saved = [hw.c for hw in hws]
            for hw in hws:
                hw.c = getattr(hw.c, which)
            try:
                for lo in range(0, len(va), ACCESS_SLICE):
                    hi = min(len(va), lo + ACCESS_SLICE)
                    self._run(vm, KERNEL_PID, va[lo:hi], pages[lo:hi], 0, hi - lo, Faulted(),
                              pcid=pcid)
            finally:
                for hw, c in zip(hws, saved, strict=True):
                    hw.c = c

    def accesses(self, block: np.ndarray) -> None:
        """Replay a run of ACCESS events of one process."""
        vm, pid = int(block["vm"][0]), int(block["pid"][0])
        va = block["va"].astype(np.int64)
        write = block["arg"] == Access.WRITE
        n = len(va)
        pages = va >> 12
        uniq, first, inv = index(pages)
        # Pages translated before and not changed since are populated (and writable when
        # their permissions say so): only the others can fault. Faults in this block cannot
        # change that (a demand fault adds a leaf, a COW fault rewrites its own).
        cache = self.tcache.get((vm, pid))
        if cache is None:
            found = np.zeros(len(uniq), dtype=np.bool_)
            writable = found
        else:
            _, _, known_perms, found = cache.lookup(uniq)
            writable = found & (known_perms & WRITABLE != 0)
        new = np.flatnonzero(~found)
        c_pos, c_kind, c_page = first[new], np.zeros(len(new), dtype=np.int64), uniq[new]
        if not writable.all() and write.any():
            wpos = np.flatnonzero(write)
            wids, wfirst, _ = index(inv[wpos])
            need = ~writable[wids]
            c_pos = np.concatenate([c_pos, wpos[wfirst[need]]])
            c_kind = np.concatenate([c_kind, np.ones(int(need.sum()), dtype=np.int64)])
            c_page = np.concatenate([c_page, uniq[wids[need]]])
            order = np.lexsort((c_kind, c_pos))
            c_pos, c_kind, c_page = c_pos[order], c_kind[order], c_page[order]
        faulted = Faulted()
        start = 0
        split_on_exit = self.exits_flush or self.faults_in_place
        base = self._block = self.accessed
        self.accessed += n
        batch = self._batch_faults and not split_on_exit
        c_pos_l: list[int] = []
        if len(c_pos):
            leaves = self.guest.spaces[(vm, pid)].leaves
            c_chunk = (base + c_pos) // FAULT_CHUNK
            # A first write ends a group of first touches if its page holds a copy-on-write
            # leaf when the group forms. Within a block no leaf becomes copy-on-write (no
            # FORK), so a page that is not at the block's start never is; the others are
            # asked again then.
            cowpos: list[int] = []
            w1 = np.flatnonzero(c_kind == 1)
            if batch and len(w1):
                cowpos = w1[leaves.state(c_page[w1])[1]].tolist()
            c_pos_l, c_kind_l, c_page_l, c_chunk_l = (
                x.tolist() for x in (c_pos, c_kind, c_page, c_chunk))
        chunk = -1
        i = 0
        while i < len(c_pos_l):
            pos, kind, page, k = c_pos_l[i], c_kind_l[i], c_page_l[i], c_chunk_l[i]
            if batch and kind == 0:
                # first touches of pages of one chunk: compiled together. A first write in
                # among them is no fault unless its page holds a copy-on-write leaf now (a
                # demand fault maps writable), so it does not end the group.
                j = bisect.bisect_right(c_chunk_l, k, i)
                for c in cowpos[bisect.bisect_right(cowpos, i):]:
                    if c >= j:
                        break
                    if self.guest.is_cow(vm, pid, c_page_l[c] << 12):
                        j = c
                        break
                at = c_pos[i:j][c_kind[i:j] == 0]
                i = j
                addrs = va[at]
                lo = self._first_unmapped(vm, pid, leaves, addrs)
                if lo == len(at):
                    continue
                if k != chunk:  # the first fault of its chunk: handled at the chunk's start
                    cut = max(start, k * FAULT_CHUNK - base)
                    if cut > start:
                        self._user_run(vm, pid, va, pages, start, cut, faulted)
                        start = cut
                    chunk = k
                while lo < len(at):
                    done = self.guest.demand_faults(vm, pid, addrs, lo)
                    self._demanded(vm, pid, at, done.rows, faulted)
                    lo = done.stop
                    if lo < len(at):  # one the compiled path leaves to the model
                        self._fault_at(vm, pid, int(at[lo]), va, write, faulted)
                        lo += 1
                continue
            i += 1
            if not self.guest.needs_fault(vm, pid, page << 12, kind == 1):
                continue
            is_cow = kind == 1
            if is_cow or split_on_exit:  # changes a translation or the TLB: at its place
                cut = pos
            elif k != chunk:  # the first fault of its chunk: handled at the chunk's start
                cut = max(start, k * FAULT_CHUNK - base)
            else:
                cut = start
            chunk = k
            if cut > start:
                self._user_run(vm, pid, va, pages, start, cut, faulted)
                start = cut
            self._fault_at(vm, pid, pos, va, write, faulted)
        self._user_run(vm, pid, va, pages, start, n, faulted,
                       (uniq, inv) if start == 0 else None)

    def _fault_at(self, vm: int, pid: int, pos: int, va: np.ndarray, write: np.ndarray,
                  faulted: Faulted) -> None:
        """Handle the fault of the access at ``pos`` of the block through the guest model."""
        addr = int(va[pos])
        fx = self.guest.fault(vm, pid, addr, bool(write[pos]))
        self._effects(vm, fx)
        if self.kw is not None:
            self.kw.fault(vm, pid, fx)
        faulted.add(pos, fx.faults, self.fault_traps(vm, pid, addr, fx))
        self.fault_handled(pos, fx)

    def _first_unmapped(self, vm: int, pid: int, leaves: Leaves, va: np.ndarray) -> int:
        """Index of the first address of ``va`` whose page has no leaf (the length: none)."""
        if len(va) <= SMALL:
            for i, a in enumerate(va.tolist()):
                if self.guest.needs_fault(vm, pid, a, False):
                    return i
            return len(va)
        missing = np.flatnonzero(~leaves.state(va >> 12)[0])
        return int(missing[0]) if len(missing) else len(va)

    def _demanded(self, vm: int, pid: int, at: np.ndarray, rows: np.ndarray,
                  faulted: Faulted) -> None:
        """Count the demand faults the compiled path did (:meth:`GuestModel.demand_faults`
        rows; ``at``: the block positions of its accesses) as :meth:`_effects`,
        :meth:`KernelWork.fault` and :meth:`fault_traps` count one :class:`Effects` each
        (a 4 KiB demand fault: one fault, one PTE write, its backing; nothing to invalidate)."""
        if not len(rows):
            return
        k = len(rows)
        backed = rows[:, F_BACKED]
        c = self.c
        c.faults_demand += k
        c.pte_writes += k
        c.backings += int(backed.sum())
        if self.kw is not None:
            self.kw.demand_faults(vm, pid, rows[:, F_ENTRY], rows[:, F_GPA])
        faulted.add_rows(at[rows[:, F_POS]], backed)
        # the translations the run will look up, as _run would make them (4 KiB pages)
        perms = tlb_perms(rows[:, F_PROT])
        frame = (rows[:, F_HOST] if self.s.nested else rows[:, F_GPA] | vm << VM_SHIFT) >> 12
        self._tcache(vm, pid).store(rows[:, F_VA] >> 12, frame, 0, perms)

    def _user_run(self, vm: int, pid: int, va_all: np.ndarray, pages_all: np.ndarray, a: int,
                  b: int, faulted: Faulted,
                  distinct: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """:meth:`_run` after the kernel work of the faults handled before it (a run's
        demand faults are handled before its accesses: so is their kernel work)."""
        if self.kw is not None and self.kw.pending():
            self._at = self._block + a
            self.kernel_run(vm, pid)
        self._run(vm, pid, va_all, pages_all, a, b, faulted, distinct)

    def _run(self, vm: int, pid: int, va_all: np.ndarray, pages_all: np.ndarray, a: int,
             b: int, faulted: Faulted,
             distinct: tuple[np.ndarray, np.ndarray] | None = None,
             pcid: int | None = None) -> None:
        """Translate accesses ``a .. b`` against the current tables (``distinct``: their
        distinct pages and each access's number among them, when already known; ``faulted``:
        faults and trap units by position in the block; ``pcid``: the PCID to tag with, when
        not the address space's own -- the kernel's references, :data:`KERNEL_PID`)."""
        if a >= b:
            return
        va = va_all[a:b]
        page = pages_all[a:b]
        guest = self.guest
        uniq, inv = distinct if distinct is not None else index(page)[::2]
        offset = vm << VM_SHIFT
        cache = self._tcache(vm, pid)
        frame, klass, perms, found = cache.lookup(uniq)
        missing = np.flatnonzero(~found)
        if len(missing):
            pages = uniq[missing]
            new = self._translate(vm, pid, pages)
            frame[missing], klass[missing], perms[missing] = new
            cache.store(pages, *new)
        kernel = pid == KERNEL_PID
        if pcid is None:
            pcid = self.asid(vm, pid)
        glob = self.kernel_global if kernel else self.user_global
        vpid = self.tlb_vpid(vm)
        dframe = frame
        if self.dcache is not None and self.data_on_host and not self.s.nested:
            dframe = self._host_frames(vm, frame)
        self.before_walks(vm, pid, uniq)
        if self.s.nested:
            w_op, cr3 = self.walk_root(vm, pid)
            eptp, w_vm = guest.eptp(vm), self.vm_tag(vm)
        else:
            w_op, cr3, eptp, w_vm = WalkOp.NATIVE, offset | guest.root(vm, pid), 0, 0
        run = (vm, pid, va, page, inv, frame, klass, perms, dframe, pcid, glob, vpid,
               int(w_op), cr3, eptp, w_vm, a, b, faulted)
        self._through(self, run)
        for lane in self.lanes:
            self._through(lane, run)

    def _through(self, hw: Hardware, run: tuple) -> None:
        """The accesses of :meth:`_run`'s ``run`` through the translation hardware ``hw``
        (this replay's own or a lane's), counted in ``hw.c``."""
        (vm, pid, va, page, inv, frame, klass, perms, dframe, pcid, glob, vpid, w_op, cr3,
         eptp, w_vm, a, b, faulted) = run
        guest = self.guest
        n = b - a
        kernel = pid == KERNEL_PID
        # O(1): the walker reads the live image; only the mode (selective's 1D / 2D
        # switches) decides which one.
        hw.walker.load_memory(guest.host if self.s.nested else guest.native)
        counts = np.zeros(N_COUNTS, dtype=np.int64)
        c = hw.c
        nv = len(c.variants)
        vcounts = np.zeros((nv, 3, 4), dtype=np.int64) if nv else _NO_VARIANTS
        l1_miss, miss, walked, table, wrefs, ref_addr, ref_dim, vrows = self._pipeline(
            va, page, inv, frame, klass, perms, dframe, hw.fill_arr, hw.l4k_mask,
            *self._tlb_args(hw.tlb, vpid, pcid, glob), *self._stlb_args(vpid, pcid, hw),
            w_op, cr3, eptp, w_vm, pcid, hw.walker.params.max_refs,
            *self._walker_args(hw), hw.dcache is not None, hw._cstate, hw._vstate,
            hw._tstate, hw._toff, hw._tstart, vcounts, counts)
        bad = int(counts[K_BAD])
        if bad >= 0:
            raise AssertionError(
                f"walk of {int(va[miss[bad]]):#x} (vm {vm} pid {pid}) gave fault "
                f"{int(counts[K_BAD_FAULT])} frame {int(counts[K_BAD_FRAME]):#x}, the guest "
                f"model says {int(frame[inv[miss[bad]]]):#x}")
        c.refs += n
        k = len(l1_miss)
        m = len(miss)
        c.tlb_hits += n - k
        c.tlb_misses += k
        c.tlb_evictions += int(counts[K_EVICTIONS])
        c.l2_hits += k - m
        c.l2_misses += m
        units = table[:, 5]
        if m:
            self._check_walks(va[miss], cr3, eptp, w_vm, pcid, hw)
            c.walks += m
            c.walk_refs_guest += int(counts[K_REFS_GUEST])
            c.walk_refs_nested += int(counts[K_REFS_NESTED])
            c.gpwc_hits += int(counts[K_GPWC])
            c.npwc_hits += int(counts[K_NPWC])
            c.ntlb_hits += int(counts[K_NTLB_HIT])
            c.ntlb_misses += int(counts[K_NTLB_MISS])
            if self.walk_monitor is not None:
                pos = (np.full(m, self._at, dtype=np.int64) if kernel
                       else self._block + a + miss)
                self.walk_monitor(pos, va[miss], wrefs, ref_addr, ref_dim)
            # the kernel's direct map is never shadowed lazily: no hidden faults
            extra = None if kernel else self.walk_traps(vm, pid, va[miss])
            if extra is not None:
                units[walked] += extra
        if hw.dcache is not None:
            for i, v in enumerate(counts[K_SERVED:K_SERVED + 12].tolist()):
                c.served[i] += v
        elif m:
            c.served[MEMORY] = c.walk_refs_guest
            c.served[4 + MEMORY] = c.walk_refs_nested
        if faulted:
            at, fu = faulted.between(a, b)
            if len(at):
                at = at - a
                i = np.searchsorted(l1_miss, at)
                missed = i < k
                missed[missed] = l1_miss[i[missed]] == at[missed]
                table[i[missed], 4] += fu[missed, 0]
                units[i[missed]] += fu[missed, 1]
                hit = ~missed  # faulting accesses that hit the TLB
                if hit.any():
                    rows = np.zeros((int(hit.sum()), table.shape[1]), dtype=np.int64)
                    rows[:, 4:6] = fu[hit]
                    table = np.concatenate([table, rows])
        c.add_accesses(n, table)
        if not c.variants:
            return
        # The levels before the variants' first are the data cache's own: L1 for tails after
        # it, L1 and L2 for LLC variants, whose misses are what reached the LLC but its hits.
        served = counts[K_SERVED:K_SERVED + 12].reshape(3, 4)  # by kind, level
        shared = 2 if hw.cache_tails is None else hw._tstart
        vcounts[:, :, :shared] = served[None, :, :shared]
        vrows[:, :, :shared] = table[:k, None, :shared]
        if hw.cache_tails is None:
            vcounts[:, :, 3] = served[None, :, 2] + served[None, :, 3] - vcounts[:, :, 2]
            vrows[:, :, 3] = table[:k, None, 2] + table[:k, None, 3] - vrows[:, :, 2]
        for v, vc in enumerate(c.variants):
            for kind in range(3):
                for lv in range(4):
                    vc.served[4 * kind + lv] += int(vcounts[v, kind, lv])
            # the histogram's rows with this variant: each miss's walk references as its
            # data cache served them (the rows after the misses walked nothing)
            mine = table.copy()
            mine[:k, :4] = vrows[:, v, :]
            vc.add_accesses(n, mine)

    def _translate(self, vm: int, pid: int, pages: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(frames, TLB size classes, permissions) that the pages (int64 numbers) translate
        to now: through the host table under nested paging, into the native image
        otherwise."""
        guest = self.guest
        if len(pages) <= SMALL:  # a few: numpy's per-call costs would be most of the work
            out = np.zeros((3, len(pages)), dtype=np.int64)
            for k, pg in enumerate(pages.tolist()):
                t = guest.translate(vm, pid, pg << 12)
                size = t.size
                if self.s.nested:
                    hpa, hsize = guest.host_address(vm, t.gpa)
                    f, size = hpa >> 12, min(size, hsize)
                else:
                    f = ((vm << VM_SHIFT) | t.gpa) >> 12
                out[:, k] = f, {PAGE_4K: 0, PAGE_2M: 1}.get(size, 2), t.perms
            return out[0], out[1], out[2]
        gpa, size, perms = guest.translate_pages(vm, pid, pages)
        if self.s.nested:
            hpa, hsize = guest.host_addresses(vm, gpa)
            frame, size = hpa >> 12, np.minimum(size, hsize)
        else:
            frame = ((vm << VM_SHIFT) | gpa) >> 12
        return frame, np.where(size == PAGE_4K, 0, np.where(size == PAGE_2M, 1, 2)), perms

    def _tlb_args(self, tlb: TLBModel, vpid: int, pcid: int, glob: bool) -> tuple:
        """A TLB's configuration, tags and state arrays, as :func:`run_pipeline` takes them."""
        p = tlb.params
        return (tlb._cfg, np.int64(vpid) & ((1 << p.vpid_bits) - 1),
                np.int64(pcid) & ((1 << p.pcid_bits) - 1), np.uint8(1 if glob else 0),
                tlb.valid, tlb.glob, tlb.vpid, tlb.pcid, tlb.tag, tlb.pfn, tlb.perms, tlb.repl,
                tlb.lfsr, tlb.clock)

    def _stlb_args(self, vpid: int, pcid: int, hw: Hardware | None = None) -> tuple:
        """The second-level TLB's part of :func:`run_pipeline`'s arguments (of ``hw``, or
        this replay's own): whether there is one, holds 2 MiB entries, has a 1 GiB array,
        then its configuration, tags and state (the first-level TLB's stand in, unused,
        when there is none); no global bit, the lookup's is the first level's."""
        hw = self if hw is None else hw
        stlb = hw.stlb if hw.stlb is not None else hw.tlb
        cfg, vp, pc, _, *state = self._tlb_args(stlb, vpid, pcid, False)
        if hw.stlb is None:
            return (False, False, False, cfg, vp, pc, *state)
        return (True, hw.holds_2m, hw.stlb.params.l1g.enabled, cfg, vp, pc, *state)

    @staticmethod
    def _walker_args(hw: Hardware) -> tuple:
        w = hw.walker
        return (w.cfg, w.pwc, w.ent, w.ntlb, *w.memory.table())

    def _check_walks(self, va: np.ndarray, cr3: int, eptp: int, vm: int, asid: int,
                     hw: Hardware) -> None:
        """Raise ``ValueError`` unless the walks' operands fit ``hw``'s walker's ports (what
        :meth:`WalkBatch.check` says of a batch)."""
        limits = port_limits(hw.walker.params)
        for name, value in (("va", int(va.max())), ("cr3", cr3), ("eptp", eptp), ("vm", vm),
                            ("asid", asid)):
            limit = limits[name]
            if value >= limit:
                raise ValueError(f"{name}: a walk has {value:#x}, expected < {limit:#x}")

    def _host_frames(self, vm: int, frames: np.ndarray) -> np.ndarray:
        """Host-physical frames of native-image frames of ``vm`` (a guest-physical page's
        backing never changes: host frames are never reclaimed)."""
        memo = self.host_frames
        out = []
        for f in frames.tolist():
            h = memo.get(f)
            if h is None:
                gpa = (f << 12) & ((1 << VM_SHIFT) - 1)
                h = memo[f] = self.guest.host_address(vm, gpa)[0] >> 12
            out.append(h)
        return np.array(out, dtype=np.int64)

    def _stlb(self, va: np.ndarray, frame: np.ndarray, perms: np.ndarray, klass: np.ndarray,
              vpid: int, pcid: int, glob: bool = False) -> np.ndarray:
        """Look first-level misses (addresses, frames, permissions, size classes, in order)
        up in the second-level TLB, filling it on a miss; which of them hit
        (:func:`~codesign.mmu.runkernel.stlb_lookup_fill`, the step :meth:`_run` takes)."""
        assert self.stlb is not None
        _, two_m, one_g, cfg, vp, pc, *state = self._stlb_args(vpid, pcid)
        i64 = [np.ascontiguousarray(x, dtype=np.int64) for x in (va, frame, perms, klass)]
        return stlb_lookup_fill(*i64, two_m, one_g, cfg, vp, pc, np.uint8(glob),
                                *state).astype(bool)


def _own(c: Counts) -> Counts:
    """``c`` without the data cache variants run beside it (the guest kernel's likewise)."""
    if not c.variants:
        return c
    return replace(c, variants=[], kernel=_own(c.kernel) if c.kernel is not None else None,
                   kernel_stream=(_own(c.kernel_stream) if c.kernel_stream is not None
                                  else None))


def _with_lane(c: Counts, lane: Counts) -> Counts:
    """``c`` with ``lane``'s :data:`LANE_FIELDS` (and its kernel counts with the lane's)."""
    own = {f: getattr(lane, f) for f in LANE_FIELDS}
    own["served"] = list(lane.served)
    own["per_access"] = dict(lane.per_access)
    own["variants"] = lane.variants
    for sub in ("kernel", "kernel_stream"):
        mine, theirs = getattr(c, sub), getattr(lane, sub)
        own[sub] = _with_lane(mine, theirs) if mine is not None else None
    return replace(c, **own)


def stlb_2m_key(va: np.ndarray) -> np.ndarray:
    """The address under which the second-level TLB's shared array holds the 2 MiB page of
    ``va``: its 2 MiB page number as a 4 KiB page number (so it indexes the sets by the 2 MiB
    page's low bits) with the size bit set.

    >>> [hex(k) for k in stlb_2m_key(np.array([0x200000, 0x3FFFFF]))]
    ['0x800000001000', '0x800000001000']
    """
    return STLB_2M_TAG | ((np.asarray(va, dtype=np.int64) >> 21) << 12)


def replay(events: Stream, setup: Setup,
           walk_monitor: Callable[..., None] | None = None,
           llcs: tuple[CacheLevelParams, ...] = (),
           tails: tuple[CacheParams, ...] = ()) -> Counts:
    """Replay a whole OS-event stream; its counts (``walk_monitor``: see
    :attr:`Replay.walk_monitor`; ``llcs``: other LLCs run beside the data cache's,
    :meth:`Replay.vary_llc`; ``tails``: other data caches, :meth:`Replay.vary_tails`)."""
    r = Replay(setup)
    r.walk_monitor = walk_monitor
    if llcs:
        r.vary_llc(llcs)
    if tails:
        r.vary_tails(tails)
    drive(r, events)
    return r.c


def drive(r: Replay, events: Stream) -> None:
    """Replay a whole OS-event stream through ``r`` (a :class:`Replay` or a mechanism's
    subclass of it): runs of ACCESS events batched, every other event on its own.

    >>> from workloads.memory.events import StreamBuilder
    >>> from hwmodels.tlb import TLBParams
    >>> from hwmodels.pagewalk import WalkerParams
    >>> b = StreamBuilder(); b.spawn(1); b.switch(1); b.map(0x10000, pages=1); b.access(0x10000)
    >>> r = Replay(Setup(GuestConfig(), TLBParams(), WalkerParams(), nested=False))
    >>> drive(r, b.build()); r.c.refs, r.c.faults_demand
    (1, 1)

    With ``Setup.warmup`` a fraction ``w``, the first ``w`` of the accesses (rounded down to
    whole :data:`FAULT_CHUNK` chunks, so that the mark moves no fault) and the events among
    them are replayed, then :meth:`Replay.mark` restarts the counts, then the rest.

    A stream in pieces (:class:`~workloads.memory.chunked.EventChunks`: a trace too large
    to hold) is replayed a piece at a time, each cut where the whole stream's replay cuts
    anyway -- before an event that is not an ACCESS, or at a multiple of
    :data:`ACCESS_SLICE` accesses -- and the rest carried into the next piece: the same
    calls on the same state as for the whole array, so the same counts (tested), in memory
    bounded by a piece.

    >>> from workloads.memory.chunked import split
    >>> r2 = Replay(Setup(GuestConfig(), TLBParams(), WalkerParams(), nested=False))
    >>> drive(r2, split(b.build(), [1, 4])); r2.c == r.c
    True
    """
    if isinstance(events, EventChunks):
        _drive_pieces(r, events)
        return
    if r.s.warmup > 0:
        accesses = np.flatnonzero(events["op"] == Ev.ACCESS)
        k = _warm_accesses(r, len(accesses))
        if k:
            at = int(accesses[k])
            _drive(r, events[:at])
            r.mark()
            _drive(r, events[at:])
            return
    _drive(r, events)


def _warm_accesses(r: Replay, accesses: int) -> int:
    """The accesses before the warm-up mark (0: no mark)."""
    k = int(r.s.warmup * accesses) // FAULT_CHUNK * FAULT_CHUNK if r.s.warmup > 0 else 0
    return k if 0 < k < accesses else 0


def _drive_pieces(r: Replay, events: EventChunks) -> None:
    mark = _warm_accesses(r, events.accesses) or -1
    fed = 0  # accesses replayed: the stream index of the next one
    carry = empty()
    for piece in events:
        while True:
            fed, carry, at = _feed(r, carry, piece, fed, mark)
            if at is None:
                break
            # the warm-up mark falls at ``at`` of carry + piece: counting starts there
            r.mark()
            mark = -1
            if at < len(carry):
                carry = carry[at:]
            else:
                carry, piece = empty(), piece[at - len(carry):]
    if len(carry):
        _drive(r, carry)


def _feed(r: Replay, carry: np.ndarray, piece: np.ndarray, fed: int,
          mark: int) -> tuple[int, np.ndarray, int | None]:
    """Replay ``carry + piece`` (the events after the last cut, then a new piece) up to its
    last cut: (accesses replayed so far, the new carry, None). With the warm-up ``mark`` (a
    stream index of an access) in it, up to the mark only: (the mark, ``carry``, the mark's
    position in ``carry + piece``). The piece is joined to the carry only up to its first
    cut, never copied whole (joining a 16 MiB piece cost more than replaying it)."""
    lc = len(carry)
    carried = int(np.count_nonzero(carry["op"] == Ev.ACCESS)) if lc else 0
    acc = piece["op"] == Ev.ACCESS
    others = np.flatnonzero(~acc)
    n = len(acc) - len(others)
    positions = np.flatnonzero(acc) if len(others) else None

    def position(ordinal: int) -> int:  # of the piece's ordinal-th access
        return ordinal if positions is None else int(positions[ordinal])

    def joined(a: int, b: int) -> np.ndarray:  # carry + piece, from a to b
        if b <= lc:
            return carry[a:b]
        if a >= lc:
            return piece[a - lc:b - lc]
        return np.concatenate([carry[a:], piece[:b - lc]])

    if 0 <= mark < fed + carried + n:
        if mark < fed + carried:
            at = int(np.flatnonzero(carry["op"] == Ev.ACCESS)[mark - fed])
        else:
            at = lc + position(mark - fed - carried)
        _drive(r, joined(0, at))
        return mark, carry, at
    # Where the whole stream's replay cuts: before an event that is not an ACCESS, and before
    # an access whose stream index starts a slice. Nothing in the carry but its start is one.
    first_index = fed + carried
    ordinals = np.arange((-first_index) % ACCESS_SLICE, n, ACCESS_SLICE)
    starts = ordinals if positions is None else positions[ordinals]
    cuts = np.concatenate([others, starts]) + lc
    cuts = cuts[cuts >= 1]
    if not len(cuts):
        return fed, joined(0, lc + len(piece)), None
    first, last = int(cuts.min()), int(cuts.max())
    _drive(r, joined(0, first))
    if last > first:
        _drive(r, joined(first, last))
    done = carried + (int(np.count_nonzero(acc[:last - lc])) if last > lc else 0)
    return fed + done, joined(last, lc + len(piece)), None


def _drive(r: Replay, events: np.ndarray) -> None:
    op = events["op"]
    others = np.flatnonzero(op != Ev.ACCESS)
    i, n = 0, len(events)
    while i < n:
        if op[i] == Ev.ACCESS:
            k = int(np.searchsorted(others, i))
            j = int(others[k]) if k < len(others) else n
            # In cache-sized pieces: the per-access temporaries of a piece stay in the
            # second-level cache, which is worth more than the per-piece overhead.
            lo = i
            while lo < j:
                hi = min(j, lo + ACCESS_SLICE - r.accessed % ACCESS_SLICE)
                r.accesses(events[lo:hi])
                lo = hi
            i = j
        else:
            r.event(events[i])
            i += 1


__all__ = ["Counts", "GuestConfig", "Replay", "Setup", "drive", "replay", "stlb_2m_key"]
