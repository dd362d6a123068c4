"""``selective``: switch each VM between shadow and nested paging by measured costs.

Wang et al., "Selective Hardware/Software Memory Virtualization" (VEE 2011), observed that
neither shadow nor nested paging wins everywhere — shadow paging loses on page-table updates
and faults (each one exits), nested paging on TLB misses (each 2D walk costs up to 24
references) — and that switching between them on the fly, by monitoring TLB misses and
guest page faults, "matches or beats the better" (ANCHORS.md). This mechanism replays the
workload in *windows* of ``selective.window`` references and decides at the end of each in
which mode the next one runs. (Wang et al. sample per time interval; the copies of the paper
at hand hold its abstract only, so its interval and thresholds are not used here: every
constant below is an assumption and says so.)

**What a window cost, in each mode.** Only exits and page walks differ between the modes:
the guest does the same work, the data references are the same, and so are the TLB misses
(the TLBs and their tags do not depend on the mode). The mode the window ran in is priced
by what it measured: its exits at ``vmexit.kernel`` (plus the resync work of shadow exits)
and its walk references at the latency of the level of the data cache that served each.
The other mode is estimated from the same window's counts:

- nested, from a shadow window: (EPT violations + IPIs) x ``vmexit.kernel`` + walks x (the
  window's guest-dimension cycles per walk + the nested dimension's cycles per walk as the
  last nested window measured). A shadow table has the guest table's shape and both walks
  go through the same page-walk cache, so a 2D walk's guest dimension is the shadow walk.
  Before any nested window the nested dimension is estimated from the measured guest
  dimension: a walk of ``g`` guest references translates ``g + 1`` guest-physical
  addresses, each with ``n_h`` host references (the uncached formula of ANCHORS.md with the
  measured ``g``) that the caches serve as they served the guest's;
- shadow, from a nested window: walks x the window's guest-dimension cycles per walk +
  exits: each guest page fault (injected), INVLPG, CR3 write (switch or flushing reload)
  and IPI, plus PTE writes x the ``pt_write`` exits and the resynced entries (at
  ``memory.latency`` each, as ``shadow`` prices them) per write and faults x the hidden
  fills per fault that the last shadow window measured (before any: 1 exit per write, no
  resyncs, 1 fill per fault: the faulting access misses the TLB and the shadow has no entry
  for the new leaf).

Each estimate also has a *best case*, used only to decide whether to probe (below): while
the other mode's rates are fresh, the estimate itself; before any measurement or once it is
stale, no nested references at all with a nested TLB (one per translation with only a
nested page-walk cache, ``n_h`` without either), each served by L1, and for shadow paging
no PTE write exits, no resyncs and one hidden fill per demand fault.

**Switching, with hysteresis.** A window's *advantage* is the current mode's cost minus the
other mode's estimate, less ``selective.margin`` of the current cost (the error allowed the
estimates). Advantages accumulate over consecutive windows, a running sum that never goes
below 0 (Page's CUSUM change detector): a window in favour of the current mode eats into
it. The VM switches when the accumulated advantage, plus this window's over the next
``selective.payback`` windows (a phase is assumed to last that long), pays for the switch.
Out of shadow mode only the advantage already accumulated counts: that switch discards the
shadows, which a phase of nested paging shorter than assumed would have to rebuild, so it
is bought only once as much has been paid in rent (rent-or-buy; the return from a probe
excepted). Either way a one-window spike or estimation noise does not flap the mode, and a
switch back must pay its own cost again.

**What a switch costs.** One exit (``traps.vmexit.mode_switch``); refilling the flushed TLBs
(the pages the window carried over from earlier ones, those it did not walk, at most the
TLBs' entries, each walked once more in the new mode) and the data cache (the replay
addresses data and tables in the native image in shadow mode and in host memory in nested
mode, so no line survives a switch: the lines the window carried over, those whose first
reference the cache served, at most its last level's lines, each from memory instead). Into
shadow mode, the rebuild: the shadows were discarded (not kept in step while nested paging
ran), so each page used again costs a hidden fault. It is projected over the horizon from
what the window reused: ``L (1 - (1 - p / L) ** payback)`` hidden faults for ``p`` pages the
window used that were mapped before it, out of the ``L`` leaves live in its address spaces
(uniform reuse: a window that touches few of many live pages rebuilds few per window, many
over the horizon). Out of shadow mode, the shadows discarded: a hidden fault each for the
leaves the shadows mapped when the advantage began to accumulate (those built since were
built for the phase that favours nested paging). Once in shadow mode, a hidden fault that
refills a page whose leaf maps the frame it mapped at the switch is a rebuild fill
(``selective.rebuild_fills``): the switch paid for it, so it counts neither against shadow
mode's cost nor in its fill rate.

**Probes.** Rates measured in a mode stay *fresh* for ``selective.payback`` windows. While
the other mode's are unmeasured or stale, its best case accumulates an advantage of its own;
once that pays for what a probe risks — a switch there and back and one window at the other
mode's estimate — the next window runs in the other mode and measures it
(``selective.probes``). At its end the rule above decides, as after any window: the probe
stays, or returns (and its mode is probed half as often: the freshness doubles). So a wrong
estimate is corrected by measurement, at a bounded price.

Limits: the first window runs in ``selective.start`` whatever it costs there, and a run
shorter than one window makes no decision at all; a phase shorter than a switch's payback
is ridden out in the mode it found.

**Faults.** Demand faults are handled as the shared replay handles them for either parent:
at the start of their chunk of accesses (:data:`codesign.mmu.replay.FAULT_CHUNK`, aligned
on the stream), their kernel work with them, in the mode running there; the windows cut
only the runs of accesses, and a window counts a fault when it reaches the faulting access.
So a replay that never switches is exactly its mode's mechanism's, cycle for cycle; a
switch inside a chunk leaves that chunk's remaining faults priced in the mode they were
handled in.

Everything else — traps, costs, metrics — is exactly ``shadow``'s in shadow windows and
``nested``'s in nested windows (the same replay classes), plus ``selective.switches``
(probes included), ``selective.probes``, ``selective.windows``, ``selective.nested_windows``
and ``selective.rebuild_fills``.

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
from codesign.mmu.guest import HOST_PAGES, Effects
from codesign.mmu.native import HEADLINE, native_total
from codesign.mmu.nested import NestedParams
from codesign.mmu.replay import Faulted, Replay, Setup, drive
from codesign.mmu.shadow import (
    KVM_MIN_ALLOC_MMU_PAGES,
    SHADOW_CACHE_DEFAULT,
    SHADOW_POOL_DEFAULT,
    ShadowReplay,
    trap_costs,
)
from codesign.params import param
from codesign.platforms import Platform
from codesign.registry import Mechanism
from workloads.memory.chunked import Stream
from workloads.memory.events import Ev


@dataclass(frozen=True)
class SelectiveParams(NestedParams):
    """Parameters of ``selective``: ``nested``'s, ``shadow``'s root cache and pool, and the
    switching policy's window, margin, horizon and starting mode."""

    cache: int = param(SHADOW_CACHE_DEFAULT, key="shadow.cache", min=1, max=1 << 16,
                       doc="shadow roots cached in shadow mode (as ``shadow``)")
    pool: int = param(SHADOW_POOL_DEFAULT, key="shadow.pool_pages",
                      min=KVM_MIN_ALLOC_MMU_PAGES, max=1 << 40,
                      doc="shadow pages a VM may hold in shadow mode (as ``shadow``)")
    window: int = param(20_000, key="selective.window", min=100, max=1 << 40,
                        doc="references per decision window (an assumption: Wang et al. "
                            "sample per time interval; 20,000 references is some "
                            "microseconds of a guest)")
    margin: float = param(0.1, key="selective.margin", min=0.0, max=10.0,
                          doc="a window counts in favour of the other mode only by what it "
                              "saves beyond this fraction of the current mode's cost (an "
                              "assumption: the error allowed the estimates, whose rates "
                              "come from earlier windows)")
    payback: int = param(4, key="selective.payback", min=1, max=1 << 20,
                         doc="windows a phase is assumed to last: a switch whose one-off "
                             "cost (the exit, the refills and, into shadow mode, the "
                             "rebuild) the advantage pays within them is made, and a "
                             "measurement of a mode stays fresh that long (an assumption)")
    start: str = param("nested", key="selective.start", choices=("nested", "shadow"),
                       doc="the mode of the first window (default nested: KVM uses EPT/NPT "
                           "whenever the processor has it, kvm_intel.ept=1)")


@dataclass
class _Window:
    """Cumulative counts a window's deltas are taken from."""

    refs: int = 0
    walks: int = 0
    guest_cycles: float = 0.0
    """Cycles of guest-dimension walk references (1D walks: all of them)."""
    nested_cycles: float = 0.0
    guest_refs: int = 0
    faults: int = 0
    demand: int = 0
    writes: int = 0
    """Guest PTE writes, teardown writes included (each may exit under shadow paging)."""
    invlpg: int = 0
    cr3: int = 0
    """Guest CR3 writes: address-space switches and flushing reloads."""
    backings: int = 0
    ipis: int = 0
    data: int = 0
    """Data references (through the data cache; 0 without one)."""
    hits: int = 0
    """Data references a cache level served."""
    hit_cycles: float = 0.0
    pt_exits: int = 0
    fills: int = 0
    rebuild_fills: int = 0
    resyncs: int = 0


@dataclass
class _Shadow:
    """Shadow mode's rates, as the last shadow window measured them."""

    pt: float = 1.0
    """``pt_write`` exits per PTE write (until measured, 1)."""
    fill: float = 1.0
    """Hidden fills per guest fault beyond a rebuild (until measured, 1)."""
    resync: float = 0.0
    """Resynced entries per PTE write (the writes unsync what INVLPGs and CR3 writes
    resync; until measured, 0)."""
    at: int | None = None
    """Window of the measurement (None: none yet)."""


class SelectiveReplay(ShadowReplay):
    """One replay whose setup (1D shadow or 2D nested) changes between windows."""

    data_on_host = True  # both modes find the guest's data at the same host frames
    cost_blind = False  # its switches weigh measured walk cycles, which the LLC changes

    def __init__(self, shadow: Setup, nested: Setup, p: SelectiveParams, exit_cost: float,
                 mem: float, latencies: tuple[float, float, float, float] | None = None
                 ) -> None:
        super().__init__(shadow if p.start == "shadow" else nested, p.cache, p.pool)
        self.setups = {False: shadow, True: nested}
        self.p = p
        self.exit_cost, self.mem = exit_cost, mem
        self.latencies = latencies if latencies is not None else (mem, mem, mem, mem)
        """Cycles of a reference served by L1, L2, the LLC, memory."""
        self.host_levels = p.host_levels - {"4K": 0, "2M": 1, "1G": 2}[p.host_page]
        """References of a host-dimension translation that no nested cache shortens."""
        walker = nested.walker
        self.host_least = (0 if walker.ntlb.entries else 1 if walker.pwc_nested.enabled
                           else self.host_levels)
        """References of a host-dimension translation at best: none with a nested TLB (it
        may hit), the last level's with only a nested page-walk cache, else all."""
        cache = nested.cache
        self.nearest = self.latencies[0] if cache is not None else mem
        """Cycles of a walk reference at best (served by L1; by memory without a cache)."""
        self.tlb_entries = nested.tlb.entries + (nested.stlb.entries
                                                 if nested.stlb is not None else 0)
        self.cache_lines = (max(lv.lines(cache.line) for lv in (cache.l1, cache.l2, cache.llc))
                            if cache is not None else 0)
        self.line_shift = cache.line.bit_length() - 1 if cache is not None else 6
        self.nested_walk: float | None = None
        """Nested-dimension cycles per walk, as the last nested window measured."""
        self.nested_at: int | None = None
        self.rates = _Shadow()
        self.fresh_for = p.payback
        """Windows a measurement stays fresh (doubled by each probe that returns)."""
        self.gain = 0.0
        """Accumulated advantage of the other mode (estimate)."""
        self.hope = 0.0
        """Accumulated advantage of the other mode at its best case (decides probes)."""
        self.held = self.gain_held = self.hope_held = 0
        """Shadow leaves mapped at the start of this window, and when ``gain`` and ``hope``
        last started from 0."""
        self.probing = False
        """The window running is a probe."""
        self.touched: list[tuple[int, int, np.ndarray]] = []
        """(vm, pid, addresses) the window accessed."""
        self.before: dict[tuple[int, int], dict[int, int]] = {}
        """Per address space, leaf address -> frame at the last switch into shadow mode: a
        hidden fill that finds the same leaf rebuilds what the switch discarded."""
        self.rebuild_fills = 0
        self.faults = self.demand = self.writes = self.invlpg = self.cr3 = 0
        """Guest events, counted in both modes: what exits, or may, under shadow paging."""
        self.switches = 0
        self.probes = 0
        self.windows = 0
        self.nested_windows = 0
        self.ept_violations = 0
        self.left = p.window
        self.ahead: list[tuple[int, Effects]] = []
        """Faults of the run being replayed, handled ahead of their accesses: (position,
        effects). A window counts a fault when it reaches its access."""
        self.at = 0
        """Position in the run being replayed where the window that ends now ends."""
        self._mark = self._snapshot()

    def mark(self) -> None:
        """Counting starts here: the counts restart, the policy's state (mode, accumulated
        advantages, rates, the window under way) goes on."""
        super().mark()
        self.ept_violations = self.rebuild_fills = 0
        self.switches = self.probes = self.windows = self.nested_windows = 0
        self._mark = self._snapshot()

    @property
    def nested(self) -> bool:
        return self.s.nested

    # -- shadow behaviour only in shadow mode ----------------------------------------------

    def _effects(self, vm: int, fx: Effects) -> None:
        self.faults += fx.faults
        self.demand += fx.demand_faults
        self.writes += fx.pte_writes + len(fx.teardown)
        self.invlpg += len(fx.invalidate)
        self.cr3 += len(fx.flush)
        if self.nested:
            self.ept_violations += fx.backings
            Replay._effects(self, vm, fx)
        else:
            super()._effects(vm, fx)

    def fault_handled(self, pos: int, fx: Effects) -> None:
        self.ahead.append((pos, fx))

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
        self.cr3 += int(e["op"]) == Ev.SWITCH
        if self.nested:
            Replay.event(self, e)
        else:
            super().event(e)

    def filling(self, vm: int, pid: int, va: int) -> None:
        """Count a hidden fill at ``va`` that refills a leaf the last switch discarded."""
        before = self.before.get((vm, pid))
        if not before:
            return
        leaf = self.guest.spaces[(vm, pid)].leaf_at(va)
        if leaf is None:
            return
        base = va & ~(leaf.size - 1)
        if before.get(base) == leaf.gpa:
            del before[base]
            self.rebuild_fills += 1

    def shadow_leaves(self) -> int:
        """Leaves the shadows map now (what discarding them makes hidden faults again)."""
        return sum(len(m) for mmu in self.mmus.values() for m in mmu.mapped.values())

    # -- windows ---------------------------------------------------------------------------

    def _shadowed(self, vm: int, pid: int, addr: int) -> bool:
        # Nested mode has no shadow to miss: no hidden fault, no exit to cut a run at.
        return self.nested or super()._shadowed(vm, pid, addr)

    def _user_run(self, vm: int, pid: int, va_all: np.ndarray, pages_all: np.ndarray, a: int,
                  b: int, faulted: Faulted,
                  distinct: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """The shared replay's run ``a .. b``, cut at window boundaries: each piece runs in
        the mode of its window, and the end of a window decides the next one's mode."""
        if self.kw is not None and self.kw.pending():
            self.kernel_run(vm, pid)
        i = a
        while i < b:
            j = min(b, i + self.left)
            self.touched.append((vm, pid, va_all[i:j]))
            self._run(vm, pid, va_all, pages_all, i, j, faulted,
                      distinct if (i, j) == (a, b) else None)
            self.left -= j - i
            i = j
            if self.left == 0:
                self.at = j
                self.decide()
                self.left = self.p.window
        self.ahead = [(pos, fx) for pos, fx in self.ahead if pos >= b]

    def _snapshot(self) -> _Window:
        c, lat = self.c, self.latencies
        walk = []
        for dim, refs in ((0, c.walk_refs_guest), (1, c.walk_refs_nested)):
            served = c.walk_served(dim)
            served[3] += refs - sum(served)  # of unknown level (no data cache): memory
            walk.append(float(sum(n * x for n, x in zip(served, lat, strict=True))))
        data = c.data_served()
        hit_cycles = float(sum(n * x for n, x in zip(data[:3], lat[:3], strict=True)))
        t = self.t
        # faults handled ahead of accesses the window has not reached belong to a later one
        ahead = [fx for pos, fx in self.ahead if pos >= self.at]
        faults = sum(fx.faults for fx in ahead)
        demand = sum(fx.demand_faults for fx in ahead)
        writes = sum(fx.pte_writes + len(fx.teardown) for fx in ahead)
        invlpg = sum(len(fx.invalidate) for fx in ahead)
        cr3 = sum(len(fx.flush) for fx in ahead)
        backings = sum(fx.backings for fx in ahead)
        ipis = sum(fx.ipis for fx in ahead)
        return _Window(c.refs, c.walks, walk[0], walk[1], c.walk_refs_guest,
                       self.faults - faults, self.demand - demand, self.writes - writes,
                       self.invlpg - invlpg, self.cr3 - cr3, c.backings - backings,
                       c.ipis - ipis, sum(data), sum(data[:3]), hit_cycles, t.pt_write,
                       t.fills, self.rebuild_fills, sum(t.resyncs.values()))

    def _touched(self) -> tuple[int, int, int]:
        """Distinct pages and lines the window accessed, and the leaves live in the address
        spaces it used."""
        pages = lines = live = 0
        spaces: dict[tuple[int, int], list[np.ndarray]] = {}
        for vm, pid, va in self.touched:
            spaces.setdefault((vm, pid), []).append(va)
        for key, vas in spaces.items():
            va = np.concatenate(vas) if len(vas) > 1 else vas[0]
            pages += len(np.unique(va >> 12))
            lines += len(np.unique(va >> self.line_shift))
            space = self.guest.spaces.get(key)
            live += len(space.leaves) if space is not None else 0
        self.touched = []
        return pages, lines, live

    def _stale(self, at: int | None) -> bool:
        return at is None or self.windows - at >= self.fresh_for

    def _nested_walk(self, d: _Window, best: bool) -> float:
        """Nested-dimension cycles per walk: as measured; before any measurement (and at
        best, once that is stale), from the window's guest dimension."""
        if self.nested_walk is not None and not (best and self._stale(self.nested_at)):
            return self.nested_walk
        if not d.guest_refs:
            return 0.0
        translations = d.guest_refs / d.walks + 1.0
        if best:
            return translations * self.host_least * self.nearest
        return translations * self.host_levels * d.guest_cycles / d.guest_refs

    def _costs(self, d: _Window) -> tuple[float, float, float]:
        """(current mode's cost, other mode's estimate, other mode's best case) of the
        window: its exits and walks, the parts that differ between the modes."""
        x = self.exit_cost
        guest = d.guest_cycles
        if self.nested:
            current = (d.backings + d.ipis) * x + guest + d.nested_cycles
            r = self.rates
            certain = (d.faults + d.invlpg + d.cr3 + d.ipis) * x + guest
            other = (certain + (r.pt * d.writes + r.fill * d.faults) * x
                     + r.resync * d.writes * self.mem)
            best = other if not self._stale(r.at) else min(other, certain + d.demand * x)
            return current, other, best
        steady = d.fills - d.rebuild_fills
        current = ((d.pt_exits + d.faults + steady + d.invlpg + d.cr3 + d.ipis) * x
                   + d.resyncs * self.mem + guest)
        exits = (d.backings + d.ipis) * x + guest
        return (current, exits + d.walks * self._nested_walk(d, best=False),
                exits + d.walks * self._nested_walk(d, best=True))

    def rebuild(self, d: _Window, touched: tuple[int, int, int]) -> float:
        """Hidden faults a switch into shadow mode at the end of window ``d`` is projected
        to take over the next ``payback`` windows: ``L (1 - (1 - p / L) ** payback)``, with
        ``p`` the pages the window reused (used, not first-touched) and ``L`` the leaves live
        in the address spaces it used."""
        pages, _, live = touched
        reused = min(max(0, pages - d.demand), live)
        return live * (1.0 - (1.0 - reused / live) ** self.p.payback) if live else 0.0

    def _switch_cost(self, d: _Window, into_nested: bool, touched: tuple[int, int, int],
                     walk: float, shadows: int = 0) -> float:
        """One-off cost of a switch at the end of window ``d``: the exit, the TLB and
        data-cache refills and, into shadow mode, the projected rebuild; out of it, a hidden
        fault for each of the ``shadows`` leaves discarded (``walk``: cycles per walk in the
        new mode)."""
        pages, lines, _ = touched
        # Carried over from earlier windows: the pages whose first use in this window did
        # not walk, the lines whose first reference a cache level served; the next window
        # would reuse as many, and misses them after a switch.
        refill = min(max(0, pages - d.walks), self.tlb_entries) * walk
        if d.hits and self.cache_lines:
            lost = min(max(0, d.hits - (d.data - lines)), self.cache_lines)
            refill += lost * (self.mem - d.hit_cycles / d.hits)
        faults = shadows if into_nested else self.rebuild(d, touched)
        return self.exit_cost * (1.0 + faults) + refill

    def decide(self) -> None:
        """End a window: learn from it, pick the next window's mode."""
        now = self._snapshot()
        d = _Window(*(a - b for a, b in zip(vars(now).values(), vars(self._mark).values(),
                                             strict=True)))
        self._mark = now
        self.windows += 1
        self.nested_windows += self.nested
        touched = self._touched()
        if self.nested:
            if d.walks:
                self.nested_walk = d.nested_cycles / d.walks
                self.nested_at = self.windows
        else:
            r = self.rates
            if d.writes:
                r.pt = d.pt_exits / d.writes
                r.resync = d.resyncs / d.writes
            if d.faults:
                r.fill = (d.fills - d.rebuild_fills) / d.faults
            r.at = self.windows
        probed, self.probing = self.probing, False
        current, other, best = self._costs(d)
        allowance = self.p.margin * current
        if not self.gain:
            self.gain_held = self.held
        if not self.hope:
            self.hope_held = self.held
        self.held = 0 if self.nested else self.shadow_leaves()
        self.gain = max(0.0, self.gain + current - other - allowance)
        self.hope = max(0.0, self.hope + current - best - allowance)
        g = d.guest_cycles / d.walks if d.walks else 0.0
        walk_nested = g + self._nested_walk(d, best=False)
        walk_other, walk_here = (g, walk_nested) if self.nested else (walk_nested, g)
        there = self._switch_cost(d, not self.nested, touched, walk_other, self.gain_held)
        ahead = self.p.payback if self.nested or probed else 0  # rent or buy out of shadow
        if self.gain + ahead * (current - other - allowance) >= there:
            # a probe returning: probe its mode half as often; any other switch: a new phase
            self.fresh_for = self.fresh_for * 2 if probed else self.p.payback
            self.switch()
            return
        if probed:
            self.fresh_for = self.p.payback  # the probe stays: it was a switch
            return
        if not self._stale(self.rates.at if self.nested else self.nested_at):
            return
        # A probe risks a switch there and back and a window at the other mode's estimate;
        # its gain is a best case, not an expectation: only what was already forgone pays.
        risk = (self._switch_cost(d, not self.nested, touched, walk_other, self.hope_held)
                + self._switch_cost(d, self.nested, touched, walk_here)
                + max(0.0, other - current))
        if self.hope >= risk:
            self.probes += 1
            self.switch()
            self.probing = True

    def switch(self) -> None:
        """Change mode: one exit, every TLB and walker cache flushed, shadows discarded.
        The data cache is kept (it is physically tagged), but the 1D replay addresses the
        native image and the 2D one host memory, so lines cached in one mode are not the
        other's: after a switch the data cache starts cold (a simplification)."""
        self.switches += 1
        self.gain = self.hope = 0.0
        self.s = self.setups[not self.nested]
        self.tlb.reset()
        if self.stlb is not None:
            self.stlb.reset()
        self.walker.reset()
        self.tcache.clear()  # frames differ: guest-physical + VM offset vs host-physical
        self.discard_shadows()
        self.before = {}
        if not self.nested:
            self.before = {key: {va: leaf.gpa for va, leaf in space.leaves.items()}
                           for key, space in self.guest.spaces.items()}
            running = self.guest.running(self.guest.vm) if self.guest.vm is not None else 0
            if running:
                self.mmu(self.guest.vm).load_root(running, flushing=True)


def run(events: Stream, p: SelectiveParams, platform: Platform) -> Metrics:
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
    # The host backs guest memory on first touch in either mode, priced as ``shadow`` and
    # ``nested`` price it: inside the page-fault exits in shadow mode, an EPT violation each
    # in nested mode.
    host = 0.0 if p.prealloc else costs.host_fault(HOST_PAGES[p.host_page])
    cycles["vmexit.page_fault"] += (r.c.backings - r.ept_violations) * host
    counts |= {"vmexit.ept_violation": r.ept_violations, "vmexit.mode_switch": r.switches}
    cycles |= {"vmexit.ept_violation": r.ept_violations * (exit_cost + host),
               "vmexit.mode_switch": r.switches * exit_cost}
    extra = {"selective.switches": r.switches, "selective.probes": r.probes,
             "selective.windows": r.windows, "selective.nested_windows": r.nested_windows,
             "selective.rebuild_fills": r.rebuild_fills, **t.metrics(),
             "shadow.backings": r.c.backings - r.ept_violations}
    return cost.metrics(r.c, costs, trap_counts=counts, trap_cycles=cycles,
                        unit_cycles=exit_cost, extra=extra,
                        native_total=native_total(events, p, costs))


MECHANISM = Mechanism(
    name="selective",
    accepts=("memory",),
    summary="selective hardware/software MMU virtualization (Wang et al., VEE 2011): each "
            "window runs shadow or nested paging; the VM switches when the other mode's "
            "measured or estimated savings pay for the switch, and probes a mode it has "
            "not measured lately",
    params=SelectiveParams,
    run=run,
    costs=(*cost.COSTS, "vmexit.kernel"),
    headline=HEADLINE,
    hardware=("tlb", "stlb", "walker"),
    version="13",
)
