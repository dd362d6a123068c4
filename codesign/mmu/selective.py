"""``selective``: switch each VM between shadow and nested paging by measured rates.

Wang et al., "Selective Hardware/Software Memory Virtualization" (VEE 2011), observed that
neither shadow nor nested paging wins everywhere — shadow paging loses on page-table updates
and faults (each one exits), nested paging on TLB misses (each 2D walk costs up to 24
references) — and that switching dynamically between them "matches or beats the better"
(ANCHORS.md). This mechanism replays the workload in *windows* of ``selective.window``
references; at the end of each it estimates, from what that window measured, what the
window would have cost under each mode, and runs the next window in the cheaper one:

- shadow: (PTE writes x the ``pt_write`` exits per PTE write the last shadow window
  measured (1 before any: shadow paging exits only on writes to shadowed tables) + INVLPGs +
  CR3 writes + address-space flushes + guest page faults + shootdown IPIs + hidden shadow
  fills, at the rate per reference the last shadow window measured beyond a switch's
  rebuild) x ``vmexit.kernel`` + walks x (1D references per
  walk) x (cycles per walk reference);
- nested: walks x (2D references per walk) x (cycles per walk reference) + (EPT violations +
  IPIs) x ``vmexit.kernel``.

Cycles per walk reference: what the window's walk references cost at the latencies of the
data-cache levels that served them (``memory.latency`` before any walk, or without a data
cache). Data references cost the same in both modes and do not enter the estimate.

The counts of guest events are the same in both modes (the guest OS does the same work), and
so are the TLB misses (the TLBs and their tags do not depend on the mode). References per
walk: a nested window measures both modes' — a shadow table has the guest table's shape and
the guest dimension of a 2D walk goes through the same page-walk cache, so its guest-dimension
references are what a shadow walk would make; a shadow window measures 1D walks only, and the
2D figure is the last nested window's (before any, the uncached (n_g+1)(n_h+1)-1). A switch
is made only when the other mode is estimated cheaper by more than ``selective.margin`` of
the current one's cost plus the switch itself spread over ``selective.payback`` windows: one
exit, and into shadow mode the rebuild, one hidden-fault exit per distinct page the window
touched.

A switch exits once (``traps.vmexit.mode_switch``), flushes the TLBs and the walker's caches
(the hardware changes from walking shadow tables to walking guest + EPT tables or back) and,
into shadow mode, discards every shadow table: they were not kept in step while nested
paging ran, so the shadows are rebuilt lazily through hidden-fault exits, which the next
window pays for. Everything else — traps, costs, metrics — is exactly ``shadow``'s in
shadow windows and ``nested``'s in nested windows (the same replay classes), plus
``selective.switches``, ``selective.windows`` and ``selective.nested_windows``.

>>> from codesign.harness import Point, evaluate
>>> m = evaluate(Point("mmap-churn", "selective", params={"workload.cycles": 120,
...     "selective.window": 100, "selective.start": "shadow", "hw.cost": False}))
>>> m["selective.switches"] >= 1, m["selective.nested_windows"] > 0  # churn: into nested
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from codesign.metrics import Metrics
from codesign.mmu import cost
from codesign.mmu.cost import Costs
from codesign.mmu.guest import Effects
from codesign.mmu.native import HEADLINE, native_total
from codesign.mmu.nested import NestedParams
from codesign.mmu.pageindex import index
from codesign.mmu.replay import Replay, Setup, drive
from codesign.mmu.shadow import SHADOW_CACHE_DEFAULT, ShadowReplay, trap_costs
from codesign.params import param
from codesign.platforms import Platform
from codesign.registry import Mechanism
from workloads.memory.events import Ev


@dataclass(frozen=True)
class SelectiveParams(NestedParams):
    """Parameters of ``selective``: ``nested``'s, the shadow cache, and the switching
    policy's window, margin and starting mode."""

    cache: int = param(SHADOW_CACHE_DEFAULT, key="shadow.cache", min=1, max=1 << 16,
                       doc="shadow roots cached in shadow mode (as ``shadow``)")
    window: int = param(20_000, key="selective.window", min=100, max=1 << 40,
                        doc="references per decision window (an assumption: Wang et al. "
                            "sample per time interval; 20,000 references is some "
                            "microseconds of a guest)")
    margin: float = param(0.1, key="selective.margin", min=0.0, max=10.0,
                          doc="switch only when the other mode is estimated cheaper by more "
                              "than this fraction of the current mode's cost")
    payback: int = param(4, key="selective.payback", min=1, max=1 << 20,
                         doc="windows within which a switch must repay its one-off cost (the "
                             "exit and, into shadow mode, the rebuild); an assumption: a "
                             "phase of the workload lasts at least this long")
    start: str = param("nested", key="selective.start", choices=("nested", "shadow"),
                       doc="the mode of the first window")


@dataclass
class _Window:
    """Cumulative counts a window's deltas are taken from."""

    refs: int = 0
    walks: int = 0
    walk_refs_guest: int = 0
    walk_refs_nested: int = 0
    guest_events: int = 0
    fills: int = 0
    backings: int = 0
    ipis: int = 0
    walk_cycles: float = 0.0
    pte_writes: int = 0
    pt_exits: int = 0


class SelectiveReplay(ShadowReplay):
    """One replay whose setup (1D shadow or 2D nested) changes between windows."""

    def __init__(self, shadow: Setup, nested: Setup, p: SelectiveParams, exit_cost: float,
                 mem: float, latencies: tuple[float, float, float, float] | None = None
                 ) -> None:
        super().__init__(shadow if p.start == "shadow" else nested, p.cache)
        self.setups = {False: shadow, True: nested}
        self.p = p
        self.exit_cost, self.mem = exit_cost, mem
        self.latencies = latencies if latencies is not None else (mem, mem, mem, mem)
        """Cycles of a walk reference served by L1, L2, the LLC, memory."""
        self.ref_cost = mem
        """Cycles per walk reference, as the last window with walks measured."""
        g, h = p.guest_levels, p.host_levels
        self.per_walk = {False: float(g), True: float((g + 1) * (h + 1) - 1)}
        """References per walk of each mode (nested: True) as last measured; until then the
        uncached walk lengths."""
        self.touched: list[np.ndarray] = []
        self.fill_rate = 0.0
        """Hidden fills per reference in steady shadow mode, as last measured."""
        self.pt_rate = 1.0
        """Shadow-mode ``pt_write`` exits per guest PTE write, as the last shadow window with
        PTE writes measured (until then 1, as if every write exited)."""
        self.rebuilt = 0
        self.fresh = False
        """The window is the first after a switch into shadow mode, whose rebuild of
        ``rebuilt`` pages the switch was charged for."""
        """Pages the window accessed: a rebuild refills a shadow entry per distinct one."""
        self.switches = 0
        self.windows = 0
        self.nested_windows = 0
        self.ept_violations = 0
        self.guest_events = 0
        """Guest operations that exit under shadow paging, counted in both modes."""
        self.left = p.window
        self._mark = self._snapshot()

    @property
    def nested(self) -> bool:
        return self.s.nested

    # -- shadow behaviour only in shadow mode ----------------------------------------------

    def _effects(self, vm: int, fx: Effects) -> None:
        self.guest_events += fx.pte_writes + len(fx.invalidate) + len(fx.flush) + fx.faults
        if self.nested:
            self.ept_violations += fx.backings
            Replay._effects(self, vm, fx)
        else:
            super()._effects(vm, fx)

    def fault_traps(self, vm: int, pid: int, va: int, fx: Effects) -> int:
        if self.nested:
            return Replay.fault_traps(self, vm, pid, va, fx)
        return super().fault_traps(vm, pid, va, fx)

    def walk_traps(self, vm: int, pid: int, va: np.ndarray) -> np.ndarray | None:
        if self.nested:
            return None
        return super().walk_traps(vm, pid, va)

    def _cr3(self, vm: int, pid: int) -> None:
        if self.nested:
            Replay._cr3(self, vm, pid)
        else:
            super()._cr3(vm, pid)

    def event(self, e: np.void) -> None:
        self.guest_events += int(e["op"]) == Ev.SWITCH
        if self.nested:
            Replay.event(self, e)
        else:
            super().event(e)

    # -- windows ---------------------------------------------------------------------------

    def accesses(self, block: np.ndarray) -> None:
        i = 0
        while i < len(block):
            j = min(len(block), i + self.left)
            self.touched.append(block["va"][i:j] >> np.uint64(12))
            super().accesses(block[i:j])
            self.left -= j - i
            i = j
            if self.left == 0:
                self.decide()
                self.left = self.p.window

    def _snapshot(self) -> _Window:
        c = self.c
        # Walk references of unknown level (no data cache) are served by memory.
        served = c.walk_served()
        served[3] += c.walk_refs_guest + c.walk_refs_nested - sum(served)
        cycles = sum(n * lat for n, lat in zip(served, self.latencies, strict=True))
        return _Window(c.refs, c.walks, c.walk_refs_guest, c.walk_refs_nested,
                       self.guest_events, self.t.fills, c.backings, c.ipis, float(cycles),
                       c.pte_writes, self.t.pt_write)

    def decide(self) -> None:
        """End a window: learn from it, pick the next window's mode."""
        now = self._snapshot()
        d = _Window(*(a - b for a, b in zip(vars(now).values(), vars(self._mark).values(),
                                             strict=True)))
        self._mark = now
        self.windows += 1
        self.nested_windows += self.nested
        if d.walks:
            # A shadow table has the guest table's shape and the guest dimension of a 2D walk
            # uses the same page-walk cache: a nested window measures both modes' 1D cost.
            self.per_walk[False] = (d.walk_refs_guest + d.walk_refs_nested) / d.walks
            if self.nested:
                self.per_walk[False] = d.walk_refs_guest / d.walks
                self.per_walk[True] = (d.walk_refs_guest + d.walk_refs_nested) / d.walks
        if not self.nested and d.refs:
            # Hidden fills of shadow mode that are not the rebuild a switch charged for:
            # shadows rebuilt on address-space switches (a small shadow cache), new pages.
            steady = max(0, d.fills - (self.rebuilt if self.fresh else 0))
            self.fill_rate = steady / d.refs
        if not self.nested and d.pte_writes:
            # Shadow paging exits on only some PTE writes (shadowed tables, unsync leaves):
            # how many per write is measured in shadow windows.
            self.pt_rate = d.pt_exits / d.pte_writes
        self.fresh = False
        if d.walk_refs_guest + d.walk_refs_nested:
            self.ref_cost = d.walk_cycles / (d.walk_refs_guest + d.walk_refs_nested)
        events = d.guest_events + (self.pt_rate - 1.0) * d.pte_writes
        shadow = ((events + d.ipis + self.fill_rate * d.refs) * self.exit_cost
                  + d.walks * self.per_walk[False] * self.ref_cost)
        nested = (d.walks * self.per_walk[True] * self.ref_cost
                  + (d.backings + d.ipis) * self.exit_cost)
        current, other = (nested, shadow) if self.nested else (shadow, nested)
        # Into shadow mode, the shadows are rebuilt: a hidden fault per page in use. The
        # switch must pay for itself within ``payback`` windows like this one.
        pages = 0
        if self.nested and self.touched:
            pages = len(index(np.concatenate(self.touched).astype(np.int64))[0])
        self.touched = []
        once = (1 + pages) * self.exit_cost / self.p.payback
        if other + once < current * (1.0 - self.p.margin):
            self.rebuilt = pages
            self.switch()

    def switch(self) -> None:
        """Change mode: one exit, every TLB and walker cache flushed, shadows discarded.
        The data cache is kept (it is physically tagged), but the 1D replay addresses the
        native image and the 2D one host memory, so lines cached in one mode are not the
        other's: after a switch the data cache starts cold (a simplification)."""
        self.switches += 1
        self.s = self.setups[not self.nested]
        self.fresh = not self.nested
        self.tlb.reset()
        if self.stlb is not None:
            self.stlb.reset()
        self.walker.reset()
        self.loaded = -1
        self.tcache.clear()  # frames differ: guest-physical + VM offset vs host-physical
        self.discard_shadows()
        running = self.guest.running(self.guest.vm) if self.guest.vm is not None else 0
        if not self.nested and running:
            self.mmu(self.guest.vm).load_root(running, flushing=True)


def run(events: np.ndarray, p: SelectiveParams, platform: Platform) -> Metrics:
    """Metrics of replaying ``events`` with per-window shadow / nested selection."""
    costs = Costs.of(platform)
    exit_cost = platform.value("vmexit.kernel")
    nested = p.setup(nested=True)
    shadow = replace(nested, nested=False)
    r = SelectiveReplay(shadow, nested, p, exit_cost, costs.memory, costs.latencies)
    drive(r, events)
    if r.left < p.window:  # the last, partial window
        r.windows += 1
        r.nested_windows += r.nested
    t = r.t
    counts, cycles = trap_costs(t, r.c.ipis, exit_cost, costs.memory)
    more = {"vmexit.ept_violation": r.ept_violations, "vmexit.mode_switch": r.switches}
    counts |= more
    cycles |= {k: n * exit_cost for k, n in more.items()}
    extra = {"selective.switches": r.switches, "selective.windows": r.windows,
             "selective.nested_windows": r.nested_windows,
             "shadow.builds": t.builds, "shadow.evictions": t.evictions,
             "shadow.fills": t.fills, "shadow.injected": t.injected}
    return cost.metrics(r.c, costs, trap_counts=counts, trap_cycles=cycles,
                        unit_cycles=exit_cost, extra=extra,
                        native_total=native_total(events, p, costs))


MECHANISM = Mechanism(
    name="selective",
    accepts=("memory",),
    summary="selective hardware/software MMU virtualization (Wang et al., VEE 2011): each "
            "window runs shadow or nested paging, whichever the last window's rates say is "
            "cheaper",
    params=SelectiveParams,
    run=run,
    costs=(*cost.COSTS, "vmexit.kernel"),
    headline=HEADLINE,
    hardware=("tlb", "stlb", "walker"),
    version="5",
)
