"""``agile``: agile paging -- shadow paging for the guest's stable page tables, nested paging
for the ones it keeps updating, chosen per table page and switched within one walk.

Gandhi, Hill and Swift, "Agile Paging: Exceeding the Best of Nested and Shadow Paging" (ISCA
2016; ANCHORS.md: more than 12% better than the best of the two, within 4% of native).
The hypervisor shadows the guest's page tables and points the walker at the shadow; a shadow
entry with the switch bit holds the guest-physical address of the guest's own next-level
table, from which the walker goes on in two dimensions (``WalkOp.AGILE``, a walker built
with ``walker.agile``; :mod:`hwmodels.pagewalk`). A walk that meets no switch costs a shadow
walk (``guest.levels`` references uncached); one that switches at shadow level ``s``,
``(n_g - s + 1) + (s - 1)(n_h + 1) + n_h`` (12 for a 4 x 4-level walk switching above the
leaf table, against nested paging's 24). The shadow is real: its pages are written into host
memory where the replay's compiled walker reads them, through the page-walk caches and the
nested TLB (:mod:`codesign.mmu.agiletables`).

**The hypervisor's policy.** The ISCA paper was not at hand; its policy is taken from a
secondary account of it (a paper summary: "Agile Paging: Exceeding the Best of Nested and
Shadow Paging", 2018, in the corpus of this project's references), which gives its shape
but not its constants, so each default below is an assumption and says so:

- every guest table page starts in *shadow* mode: the hypervisor shadows it when a walk
  first needs it (a hidden page fault, ``agile.fills``) and write-protects it;
- a guest write to a shadowed table page exits (``traps.vmexit.pt_write``) and the
  hypervisor drops the shadow entry it changes (rebuilt by the next hidden fault). "If more
  than one modification to the same page table entry is detected" (the summary), the page
  holding it goes to *nested* mode, with the levels below it (``agile.to_nested``): the
  entries linking its shadow now switch to the guest's table, its shadow pages (and those
  below) go, and its writes no longer exit. Here: ``agile.threshold`` writes to one entry
  within one window (default 2: "more than one"; the window is the one below);
- every ``agile.window`` references the hypervisor scans the EPT entries mapping the pages
  in nested mode for their dirty flags (which the hardware sets: Intel EPT A/D), and moves
  those the guest did not write in that window back to shadow mode (``agile.to_shadow``),
  "computing the composition of the guest page table and host page table before populating
  the corresponding shadow page entries": a last-level table's shadow page is rebuilt then,
  each present 4 KiB leaf at once (``agile.rebuilt``), the rest left to hidden faults. The
  scan is an exit per window with pages in nested mode (on a timer: ``vmexit.agile_scan``),
  and each EPT entry read and shadow entry written costs ``memory.latency`` (as ``shadow``
  prices a resynced entry; assumptions both). A page that comes back to nested mode after
  such a return must then stay quiet for twice as many windows as the last time (up to
  :data:`BACKOFF_MAX`): exponential backoff, an assumption of this model against the
  oscillation the summary warns of;
- a page whose top-level table is in nested mode walks fully in two dimensions.

The summary also has short-lived and small processes start (and stay) in nested mode, and
two hardware optimisations (dirty flags set by the walker in both tables; a cache of guest
to shadow roots that spares CR3 exits): not modelled.

Each change to a present shadow entry flushes the VM's TLB contexts and walk caches before
the guest runs again (``agile.tlb_flushes``; KVM's remote flush after zapping shadow
entries).

**Exits**, each at ``vmexit.kernel``: writes to shadowed table pages (``pt_write``; a frame
the guest reallocates while shadowed exits once, to be unprotected); hidden fills and the
guest page faults taken in the shadow part of a walk (``page_fault``: the hypervisor
intercepts those faults to tell the two apart and injects the guest's); CR3 writes,
switches and the guest's flushing reloads (``cr3_write``: the hypervisor loads the shadow
root); shootdown IPIs (``ipi``). A guest page fault in the two-dimensional part of a walk
(below a switch) is the guest's own table's, which the walker delivers to the guest as
nested paging does (``agile.direct``; an assumption of this model, the hardware knowing
which part it faulted in). The host backs guest memory on first touch inside the exit that
meets it: the hidden fill of a walk that does not switch (its data page's host address is
in the shadow leaf, the EPT is never read), an EPT violation otherwise (``ept_violation``);
either way the host's own fault is added (as under ``nested``, unless ``host.prealloc``).
The shadow is kept synchronous -- every write to a shadowed table exits and updates it --
so the guest's INVLPGs need no exit (KVM's shadow paging exits on them to resync its unsync
pages; agile paging's policy takes the place of unsync pages: a page written often goes
nested).

**Order.** Whether a fault's page-table write exits depends on whether a hidden fault has
shadowed its table, so faults are handled at their own accesses (``faults_in_place``; the
shared replay otherwise handles a chunk's demand faults at its start, and ``shadow`` defers
their effects to their accesses), and a run's hidden faults are taken at its start: a run
ends at each fault, so every fill precedes the faults that follow it in the stream.

Simplifications: the guest kernel's direct map is shadowed at boot and never written (its
fills are not counted); the window's dirty-bit scan and the hypervisor's software walks are
not costed; there is no shadow-page pool limit; no neighbouring entries are prefetched on a
hidden fault (KVM's ``FNAME(pte_prefetch)``, left out of ``shadow`` too).

>>> from codesign.harness import Point, evaluate
>>> p = {"workload.cycles": 40, "hw.cost": False}
>>> m = evaluate(Point("mmap-churn", "agile", params=p))
>>> m["agile.to_nested"] > 0, m["traps.vmexit.pt_write"] < m["os.pte_writes"]
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.metrics import Metrics
from codesign.mmu import cost
from codesign.mmu.agiletables import AgileTables
from codesign.mmu.cost import Costs
from codesign.mmu.guest import HOST_PAGES, KERNEL_PID, PAGE_4K, Effects
from codesign.mmu.native import HEADLINE, native_total
from codesign.mmu.nested import NestedParams
from codesign.mmu.onepass import CACHE_KEYS, one_pass
from codesign.mmu.replay import Faulted, Replay, Setup, drive
from codesign.params import param
from codesign.platforms import Platform
from codesign.registry import Mechanism
from hwmodels.pagewalk import WalkOp
from workloads.memory.chunked import Stream
from workloads.memory.events import Ev

THRESHOLD_DEFAULT = 2
"""Writes to one entry of a shadowed table within one window that move the table to nested
mode: the secondary account's "more than one modification to the same page table entry"
(see the module). One write is what a new mapping costs -- the first leaf of a page --
a second to the same entry says the guest keeps updating it (mprotect, unmap and remap,
copy-on-write), the case agile paging hands to nested mode."""
WINDOW_DEFAULT = 10_000
"""References between two looks at the pages in nested mode: an assumption. The paper's
hypervisor looks on a timer, whose period the account at hand does not give. The bundled
workloads run 10^5 to 10^6 references, half of which a steady-state measurement
(``measure.warmup`` 0.5) spends warming up: a window of 10^4 lets tables written at start-up
settle inside the warm-up, while a table the guest keeps rewriting stays nested. A window
as long as the runs (10^5, 10^6) leaves the start-up's moves in the measured half: the
results depend on it (the MMU validation report's notes)."""

_PAGE = ~(PAGE_4K - 1)

BACKOFF_MAX = 64
"""Most quiet windows a page in nested mode may have to wait before it goes back to shadow
mode (see :class:`AgileReplay`: the wait doubles each time the page comes back)."""



@dataclass(frozen=True)
class AgileParams(NestedParams):
    """Parameters of ``agile``: ``nested``'s plus the hypervisor's policy."""

    threshold: int = param(THRESHOLD_DEFAULT, key="agile.threshold", min=1, max=1 << 20,
                           unit="writes",
                           doc="writes to one entry of a shadowed guest table within one "
                               "window that move the table to nested mode (default 2: 'more "
                               "than one modification', see codesign.mmu.agile)")
    window: int = param(WINDOW_DEFAULT, key="agile.window", min=1, max=1 << 40,
                        unit="references",
                        doc="references between the hypervisor's looks at the pages in "
                            "nested mode: those not written since go back to shadow mode "
                            "(default 10000: an assumption, see codesign.mmu.agile)")

    agile: bool = param(True, key="walker.agile",
                        doc="agile paging's walker change: the mechanism needs it (true)")

    def __post_init__(self) -> None:
        if self.agile is not True:
            raise ValueError(f"walker.agile: the agile mechanism walks in agile mode, "
                             f"expected true, got {self.agile!r}")
        super().__post_init__()


@dataclass
class AgileCounts:
    """Exit and policy counts of an agile replay."""

    pt_write: int = 0
    injected: int = 0
    """Guest page faults taken in the shadow part of a walk (exits, injected)."""
    direct: int = 0
    """Guest page faults taken in the two-dimensional part (delivered to the guest)."""
    fills: int = 0
    ept_violations: int = 0
    """First touches of unbacked host memory below a switch (the others are backed inside
    the hidden fault that fills their shadow entry)."""
    cr3_write: int = 0
    unprotected: int = 0
    """Shadowed frames the guest reallocated (each an exit, in ``pt_write``)."""
    to_nested: int = 0
    to_shadow: int = 0
    windows: int = 0
    scans: int = 0
    """Window ends at which pages were in nested mode: the hypervisor looked at them (an
    exit each, ``vmexit.agile_scan``)."""
    scanned: int = 0
    """Nested pages looked at (the EPT entry mapping each read for its dirty flag)."""
    rebuilt: int = 0
    """Shadow entries written when pages went back to shadow mode."""
    tlb_flushes: int = 0
    shadow_pages: int = 0
    """Most shadow pages one VM held at once."""
    nested_tables: int = 0
    """Most guest table pages in nested mode at once (one VM)."""

    def metrics(self) -> dict[str, int]:
        """The ``agile.*`` metrics."""
        return {f"agile.{k}": v for k, v in vars(self).items()
                if k not in ("pt_write", "injected", "cr3_write", "scans")}


class AgileReplay(Replay):
    """The shared replay (2D setup, agile walker) plus the agile shadow of each VM
    (:class:`~codesign.mmu.agiletables.AgileTables`) and the hypervisor's policy."""

    def __init__(self, setup: Setup, threshold: int = THRESHOLD_DEFAULT,
                 window: int = WINDOW_DEFAULT) -> None:
        super().__init__(setup)
        self.threshold, self.window = threshold, window
        self.t = AgileCounts()
        self.tables: dict[int, AgileTables] = {}
        self.writes: dict[tuple[int, int], int] = {}
        """(VM, guest-physical address of an entry of a shadowed table) -> its writes (each
        an exit) in this window."""
        self.dirty: set[tuple[int, int]] = set()
        """(VM, guest table frame in nested mode) written in this window."""
        self.quiet: dict[tuple[int, int], tuple[int, int]] = {}
        """(VM, guest table frame in nested mode) -> (quiet windows it needs before it goes
        back to shadow mode, quiet windows so far)."""
        self.returned: dict[tuple[int, int], int] = {}
        """(VM, guest table frame) the policy moved back to shadow mode -> the quiet windows
        that took (a page that comes back to nested mode must then wait twice as long)."""
        self.left = window
        """References left in this window."""
        self._pending: dict[tuple[int, int], set[int]] = {}
        """Per address space, pages a run's hidden faults filled, until their first walk
        (which carries the exit)."""
        self._exits = 0
        """Exits the effects last applied raised (writes, unprotections, flushing reloads)."""
        self._moved: set[int] = set()
        """Guest table frames the effects last applied moved to nested mode."""

    def agile(self, vm: int) -> AgileTables:
        """The agile shadow of ``vm``."""
        t = self.tables.get(vm)
        if t is None:
            t = self.tables[vm] = AgileTables(self.guest, vm)
        return t

    def mark(self) -> None:
        super().mark()
        # in place; the high-water marks are states, not counts
        self.t.__dict__.update(vars(AgileCounts(shadow_pages=self.t.shadow_pages,
                                                nested_tables=self.t.nested_tables)))

    # -- walks ---------------------------------------------------------------------------

    def walk_root(self, vm: int, pid: int) -> tuple[int, int]:
        root = self.agile(vm).root(pid)
        if root is None:  # the top-level table is in nested mode: a 2D walk
            return int(WalkOp.NESTED), self.guest.root(vm, pid)
        return int(WalkOp.AGILE), root

    def before_walks(self, vm: int, pid: int, pages: np.ndarray) -> None:
        """Take the hidden faults of the run's pages whose shadow path is not complete (the
        guest kernel's direct map: silently, at boot)."""
        t = self.agile(vm)
        gaps = t.gaps(pid, pages).tolist()
        for page in gaps:
            t.fill(pid, page << 12)
        if gaps and pid != KERNEL_PID:
            self.t.fills += len(gaps)
            self._pending.setdefault((vm, pid), set()).update(gaps)
            self._exit_flush(len(gaps))
        self.t.shadow_pages = max(self.t.shadow_pages, len(t.pages) + len(t.direct))
        self._hypervisor_flushes()

    def walk_traps(self, vm: int, pid: int, va: np.ndarray) -> np.ndarray | None:
        """The hidden fault of each page filled for this run, at its first walk."""
        pending = self._pending.get((vm, pid))
        if not pending:
            return None
        out = np.zeros(len(va), dtype=np.int64)
        for i, page in enumerate((va >> 12).tolist()):
            if page in pending:
                pending.discard(page)
                out[i] = 1
        return out

    # -- what the guest does ----------------------------------------------------------------

    traps_to_hypervisor = True
    faults_in_place = True

    def _effects(self, vm: int, fx: Effects) -> None:
        super()._effects(vm, fx)
        t = self.agile(vm)
        exits = 0
        self._moved = set()
        for gpa, size in fx.allocated:
            for gfn in range(gpa, gpa + size, PAGE_4K):
                if t.forget(gfn):
                    exits += 1
                    self.t.unprotected += 1
                    for key in [k for k in self.writes if k[0] == vm and k[1] & _PAGE == gfn]:
                        del self.writes[key]
                if self.returned or self.quiet:  # a table built there later is a new one
                    self.quiet.pop((vm, gfn), None)
                    self.returned.pop((vm, gfn), None)
        for gpa, _ in (*fx.written, *fx.teardown):
            gfn = gpa & _PAGE
            if t.guest_write(gpa):
                exits += 1
                n = self.writes.get((vm, gpa), 0) + 1
                if n >= self.threshold:
                    t.set_nested(gfn)
                    self._moved.add(gfn)
                    need = min(2 * self.returned.get((vm, gfn), 0), BACKOFF_MAX) or 1
                    self.quiet[(vm, gfn)] = (need, 0)
                    self.t.to_nested += 1
                    self.writes.pop((vm, gpa), None)
                    self.t.nested_tables = max(self.t.nested_tables, len(t.nested))
                else:
                    self.writes[(vm, gpa)] = n
            elif gfn in t.nested:
                self.dirty.add((vm, gfn))
        self.t.pt_write += exits
        self.t.cr3_write += len(fx.flush)
        self._exits = exits + len(fx.flush)
        self._exit_flush(self._exits)
        self._hypervisor_flushes()

    def fault_traps(self, vm: int, pid: int, va: int, fx: Effects) -> int:
        """Exits of a faulting access. Taken in the shadow part of its walk (no table on
        its path in nested mode), its guest fault exits and is injected, and the host page
        behind it is backed inside the hidden fault that follows (no EPT violation: a walk
        that does not switch never reads the EPT); taken in the two-dimensional part, the
        walker delivers it to the guest and a first touch of unbacked memory is an EPT
        violation. Plus the exits its handler's writes raised."""
        t = self.agile(vm)
        # in the mode its tables were in when it faulted: not one its handler's writes
        # moved to nested mode
        nested = t.nested - self._moved
        in_2d = any(gfn in nested for gfn, _ in self.guest.table_path(vm, pid, va))
        if in_2d:
            self.t.direct += fx.faults
            self.t.ept_violations += fx.backings
            exits = fx.backings
        else:
            self.t.injected += fx.faults
            exits = fx.faults
            self._exit_flush(fx.faults)
        return exits + self._exits

    def _hypervisor_flushes(self) -> None:
        """Flush each VM whose shadow changed: its TLB contexts and walk caches."""
        for vm, t in self.tables.items():
            if not t.flush_pending:
                continue
            t.flush_pending = False
            self.t.tlb_flushes += 1
            self._flush_vm(vm)

    def event(self, e: np.void) -> None:
        op = int(e["op"])
        if op == Ev.SWITCH:
            self.t.cr3_write += 1
        super().event(e)
        if op == Ev.SWITCH:
            self._exit_flush()  # the guest's CR3 write exits
        self._hypervisor_flushes()

    # -- windows ---------------------------------------------------------------------------

    def _user_run(self, vm: int, pid: int, va_all: np.ndarray, pages_all: np.ndarray, a: int,
                  b: int, faulted: Faulted,
                  distinct: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """The shared replay's run ``a .. b``, cut where a window ends."""
        if self.kw is not None and self.kw.pending():
            self._at = self._block + a
            self.kernel_run(vm, pid)
        i = a
        while i < b:
            j = min(b, i + self.left)
            self._run(vm, pid, va_all, pages_all, i, j, faulted,
                      distinct if (i, j) == (a, b) else None)
            self._pending.clear()  # a fill whose page never walked: its exit is counted
            self.left -= j - i
            i = j
            if self.left == 0:
                self._window_end()
                self.left = self.window

    def _window_end(self) -> None:
        """The hypervisor's look at the pages in nested mode: those not written in this
        window go back to shadow mode."""
        self.t.windows += 1
        nested = sum(len(t.nested) for t in self.tables.values())
        if nested:
            self.t.scans += 1
            self.t.scanned += nested
        for vm, t in self.tables.items():
            for gfn in sorted(t.nested):
                key = (vm, gfn)
                need, calm = self.quiet.get(key, (1, 0))
                calm = 0 if key in self.dirty else calm + 1
                if calm < need:
                    self.quiet[key] = (need, calm)
                    continue
                self.t.rebuilt += t.set_shadow(gfn, rebuild=True)
                self.t.to_shadow += 1
                self.quiet.pop(key, None)
                self.returned[key] = need
        self.dirty.clear()
        self.writes.clear()
        self._hypervisor_flushes()


def trap_costs(t: AgileCounts, backings: int, ipis: int, exit_cost: float,
               backing_cost: float, entry_cost: float) -> tuple[dict[str, int],
                                                            dict[str, float]]:
    """Exits by ``vmexit.<reason>`` and their cycles: each at ``exit_cost``; each of the
    ``backings`` host pages backed pays the host's own fault (``backing_cost``) in the exit
    that backed it -- an EPT violation of its own (``t.ept_violations``), or else the hidden
    fault that filled its shadow entry (the guest kernel's too: its direct map is shadowed);
    a window's look at the nested pages reads an EPT entry per page and writes the shadow
    entries it rebuilds, ``entry_cost`` each (as ``shadow`` prices a resynced entry).

    >>> c = trap_costs(AgileCounts(pt_write=2, fills=1, ept_violations=1, scans=1, scanned=3,
    ...                            rebuilt=5), 2, 0, 2565.0, 3000.0, 200.0)[1]
    >>> c["vmexit.page_fault"], c["vmexit.ept_violation"], c["vmexit.agile_scan"]
    (5565.0, 5565.0, 4165.0)
    """
    ept = t.ept_violations
    counts = {"vmexit.pt_write": t.pt_write, "vmexit.page_fault": t.injected + t.fills,
              "vmexit.cr3_write": t.cr3_write, "vmexit.ept_violation": ept,
              "vmexit.ipi": ipis, "vmexit.agile_scan": t.scans}
    cycles = {k: n * exit_cost for k, n in counts.items()}
    cycles["vmexit.agile_scan"] += (t.scanned + t.rebuilt) * entry_cost
    cycles["vmexit.ept_violation"] += ept * backing_cost
    cycles["vmexit.page_fault"] += (backings - ept) * backing_cost
    return counts, cycles


def _make(p: AgileParams, platform: Platform) -> AgileReplay:
    return AgileReplay(p.setup(nested=True), p.threshold, p.window)


def _finish(r: AgileReplay, events: Stream, p: AgileParams, platform: Platform) -> Metrics:
    costs = Costs.of(platform)
    exit_cost = platform.value("vmexit.kernel")
    backing = 0.0 if p.prealloc else costs.host_fault(HOST_PAGES[p.host_page])
    counts, cycles = trap_costs(r.t, r.c.backings, r.c.ipis, exit_cost, backing, costs.memory)
    return cost.metrics(r.c, costs, trap_counts=counts, trap_cycles=cycles,
                        unit_cycles=exit_cost,
                        extra={**r.t.metrics(), "agile.backings": r.c.backings},
                        native_total=native_total(events, p, costs))


def run(events: Stream, p: AgileParams, platform: Platform) -> Metrics:
    """Metrics of replaying ``events`` in VMs with agile paging."""
    r = _make(p, platform)
    drive(r, events)
    return _finish(r, events, p, platform)


MECHANISM = Mechanism(
    name="agile",
    accepts=("memory",),
    summary="agile paging (Gandhi et al., ISCA 2016): walks start in a hypervisor shadow and "
            "switch to 2D at the guest tables the guest keeps writing, which the policy moves "
            "to nested mode (and back when they go quiet)",
    params=AgileParams,
    run=run,
    costs=(*cost.COSTS, "vmexit.kernel"),
    headline=HEADLINE,
    hardware=("tlb", "stlb", "walker"),
    version="5",
    run_many=one_pass(_make, _finish),
    one_pass=CACHE_KEYS,
)
