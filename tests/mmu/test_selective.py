"""``selective``: per-window choice between shadow and nested paging (Wang et al., VEE 2011).

ANCHORS.md, MMU: "up to 34%, no consistent winner | gap between shadow and nested paging
across benchmarks; dynamic switching matches or beats the better" (Wang et al.). Each test
compares ``selective`` with ``shadow`` and ``nested`` on the same stream and hardware.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from codesign.errors import InputError
from codesign.harness import Point, evaluate
from codesign.metrics import Metrics
from codesign.mmu.cost import Costs
from codesign.mmu.replay import drive
from codesign.mmu.selective import SelectiveParams, SelectiveReplay
from codesign.params import build, specs
from codesign.platforms import load_platform
from codesign.registry import default_registry
from workloads.memory.events import RW, Prot, StreamBuilder, Syscall, validate
from workloads.memory.suites import SUITES, Mix

NO_HW = {"hw.cost": False}
FLAT = {"platform.cache.l1.latency": 200, "platform.cache.l2.latency": 200,
        "platform.cache.llc.latency": 200}
"""Every cache level priced at ``memory.latency`` (kvm-nehalem: 200): a walk reference costs
200 cycles wherever it hits and a data reference nothing beyond the base CPI -- the cost
model before the data cache, which these tests' workloads were calibrated for (with the
cache, GUPS's page-table lines mostly hit L2 and neither mode wins by 3x any more). The
switching logic is what they test; it prices walk references by the measured levels."""
MISS_HEAVY = {"pwc.entries": 0, "ntlb.entries": 0, "tlb.l2.entries": 0, **FLAT}
"""No page-walk cache, nested TLB or second-level TLB: every 2D walk is 24 references, so
TLB misses make nested paging clearly the worse."""
BIG = 0x7F00_0000_0000
SMALL = 0x6000_0000_0000


def metrics(workload: str, mechanism: str, params: dict[str, Any],
            hw: dict[str, Any] | None = None) -> Metrics:
    return evaluate(Point(workload, mechanism, params={
        **{f"workload.{k}": v for k, v in params.items()}, **(hw or {}), **NO_HW}))


def run(events: np.ndarray, mechanism: str, **values: Any) -> Metrics:
    """A mechanism on an explicit stream (its registered run, platform kvm-nehalem)."""
    mech = default_registry().mechanism(mechanism)
    costs = {k[len("platform."):]: v for k, v in values.items() if k.startswith("platform.")}
    values = {k: v for k, v in values.items() if not k.startswith("platform.")}
    return mech.run(events, build(mech.params, values),
                    load_platform("kvm-nehalem").with_overrides(costs))


@pytest.mark.parametrize("workload, params, hw, window, starts", [
    # page-table-update heavy: shadow paging exits on every update, nested on none. forkwait
    # makes about 7 references per iteration, so a window of 100 is 14 iterations: started in
    # shadow mode, its first window alone costs 30% over nested (measured: 1.30x at 150
    # iterations, 1.16x at 300, 1.08x at 100 with child_pages=30), too slow to test here.
    # The guest kernel's work is off here: its fork, exit and wait instructions, the same in
    # both modes, would make the workload favour neither by 3x.
    ("forkwait", {"iterations": 100}, {"kernel.work": False}, 100, ("nested",)),
    ("mmap-churn", {"cycles": 300}, {}, 100, ("nested", "shadow")),
    # TLB-miss heavy, warm (each of 4096 pages referenced about 50 times): nested pays
    # 24-reference walks
    ("random", {"refs": 200_000, "footprint_mb": 16}, MISS_HEAVY, 2000, ("nested", "shadow")),
])
def test_never_above_the_worse_and_within_15_percent_of_the_better(
        workload: str, params: dict, hw: dict, window: int, starts: tuple[str, ...]) -> None:
    """Wang et al.: dynamic switching "matches or beats the better". ``selective`` costs no
    more than the worse of shadow and nested paging and at most 15% more than the better,
    from the default start (nested) and, where the run is long enough to recover from a
    wrong first window, from shadow."""
    shadow = metrics(workload, "shadow", params, hw)["cycles.total"]
    nested = metrics(workload, "nested", params, hw)["cycles.total"]
    better, worse = sorted((shadow, nested))
    assert worse > 3 * better  # the workload does favour one mode
    for start in starts:
        m = metrics(workload, "selective", params, {
            **hw, "selective.window": window, "selective.start": start})
        assert m["selective.windows"] >= 8
        assert m["cycles.total"] <= worse, start
        assert m["cycles.total"] <= 1.15 * better, (start, m["cycles.total"] / better)
        if start != ("nested" if nested < shadow else "shadow"):
            assert m["selective.switches"] >= 1  # it left the worse mode


def test_with_the_stlb_short_windows_still_find_the_better_mode() -> None:
    """Wang et al.'s claim with the default second-level TLB and a short window: GUPS with
    uncached walks favours shadow paging by 3x, and ``selective`` should get within 15%."""
    params = {"refs": 200_000, "footprint_mb": 16}
    hw = {"pwc.entries": 0, "ntlb.entries": 0, **FLAT}
    shadow = metrics("random", "shadow", params, hw)["cycles.total"]
    nested = metrics("random", "nested", params, hw)["cycles.total"]
    assert nested > 3 * shadow
    m = metrics("random", "selective", params, {**hw, "selective.window": 2000})
    assert m["cycles.total"] <= 1.15 * shadow


def mixed(churn: int = 60, refs: int = 60_000, big_pages: int = 4096, small_pages: int = 16,
          seed: int = 1) -> np.ndarray:
    """Three phases: process 2 churns (mmap, touch, mprotect half, munmap; every fourth cycle
    a fork whose child writes a page and exits), then process 1 makes ``refs`` random reads
    over its populated ``big_pages`` region, then process 2 churns again."""
    rng = np.random.default_rng(seed)
    b = StreamBuilder()
    b.spawn(1)
    b.spawn(2)
    b.switch(1)
    b.map(BIG, big_pages, RW)
    b.accesses(np.uint64(BIG) + np.arange(big_pages, dtype=np.uint64) * np.uint64(4096), 1)
    b.switch(2)
    b.map(BIG, 8, RW)
    b.accesses(np.uint64(BIG) + np.arange(8, dtype=np.uint64) * np.uint64(4096), 1)
    small = np.uint64(SMALL) + np.arange(small_pages, dtype=np.uint64) * np.uint64(4096)
    child = 3

    def churn_phase() -> None:
        nonlocal child
        if b.pid != 2:
            b.switch(2)
        for i in range(churn):
            b.map(SMALL, small_pages, RW)
            b.accesses(small, 1)
            b.protect(SMALL, small_pages // 2, Prot.READ)
            b.unmap(SMALL, small_pages)
            if i % 4 == 0:
                b.fork(child)
                b.access(BIG, write=True)
                with b.syscall(Syscall.WAIT4):
                    pass
                b.switch(child)
                b.access(BIG, write=True)
                b.exit()
                b.switch(2)
                child += 1

    churn_phase()
    b.switch(1)
    words = rng.integers(0, big_pages * 512, size=refs, dtype=np.uint64)
    b.accesses(np.uint64(BIG) + words * np.uint64(8), 0)
    churn_phase()
    events = b.build()
    validate(events)
    return events


@functools.lru_cache(maxsize=2)
def _mixed_runs(churn: int = 60) -> tuple[float, float, Metrics]:
    """shadow, nested and selective on :func:`mixed`, without the guest kernel's work:
    ``selective`` decides from the process's references only, and the kernel's zeroing of
    the 4,096 pages populated in its first (nested) windows, walked in 2D without walk
    caches, is a start cost that no decision changes (measured with it: 1.058x the better,
    one switch as without)."""
    events = mixed(churn=churn)
    hw = {**MISS_HEAVY, "kernel.work": False}
    shadow = run(events, "shadow", **hw)["cycles.total"]
    nested = run(events, "nested", **hw)["cycles.total"]
    return shadow, nested, run(events, "selective", **hw, **{"selective.window": 500})


def test_a_mixed_workload_beats_the_better_mode_and_switches_both_ways() -> None:
    """Wang et al.: no consistent winner across phases, and switching matches or beats the
    better. With churn phases long enough (300 cycles, some 12 windows each) to pay for the
    shadows a switch discards, the churn favours nested paging (updates to shadowed tables
    exit under shadow paging) and the long random phase between them shadow paging
    (uncached 24-reference 2D walks): ``selective`` runs each phase mostly in its better mode
    and beats both (measured: 0.92x the better), and a switch back into shadow mode rebuilds
    every page of the random phase, counted as rebuild fills."""
    shadow, nested, m = _mixed_runs(churn=300)
    assert m["cycles.total"] < min(shadow, nested)
    assert m["selective.switches"] >= 2
    assert 0 < m["selective.nested_windows"] < m["selective.windows"]
    assert m["traps.vmexit.mode_switch"] == m["selective.switches"]
    assert m["traps.vmexit.ept_violation"] > 0 and m["traps.vmexit.pt_write"] > 0
    assert m["selective.rebuild_fills"] >= 4096


def test_a_mixed_workload_is_within_5_percent_of_the_better_mode() -> None:
    """Wang et al.: dynamic switching matches or beats the better of the two modes. The
    churn phases (60 cycles, some 2 windows each) favour nested paging, but too briefly to
    pay for the 4,096 shadow pages a switch would discard and the random phase rebuild:
    ``selective`` rides them out in shadow mode (measured: 1.03x the better)."""
    shadow, nested, m = _mixed_runs()
    assert m["cycles.total"] <= 1.05 * min(shadow, nested)


def test_a_short_phase_does_not_make_it_discard_the_shadows() -> None:
    """Hysteresis: started in nested mode, the mixed workload's first windows (the random
    phase's pages populated) make ``selective`` probe shadow paging, whose measured rates
    beat the estimate from before any shadow window, and it stays: the two short churn
    phases, though each window of them favours nested paging, do not pay for discarding the
    shadows of 4,096 pages, so there is no switch back (a one-window spike of the other
    mode's advantage is ridden out, not followed)."""
    m = _mixed_runs()[2]
    assert m["selective.probes"] == 1 and m["selective.switches"] == 1
    assert m["selective.nested_windows"] <= 2


class Recording(SelectiveReplay):
    """``selective``'s replay, recording for each switch into shadow mode the rebuild it
    projected and the rebuild fills the next ``selective.payback`` windows took."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.projected = 0.0
        self.pending: list[tuple[int, float, int]] = []
        self.rebuilds: list[tuple[float, int]] = []

    def rebuild(self, *args: Any) -> float:
        self.projected = super().rebuild(*args)
        return self.projected

    def switch(self) -> None:
        super().switch()
        if not self.nested:
            self.pending.append((self.windows, self.projected, self.rebuild_fills))

    def decide(self) -> None:
        super().decide()
        for at, projected, fills in list(self.pending):
            if self.windows - at == self.p.payback:
                self.rebuilds.append((projected, self.rebuild_fills - fills))
                self.pending.remove((at, projected, fills))


def test_the_rebuild_of_a_switch_into_shadow_mode_is_projected_from_the_live_leaves() -> None:
    """A switch into shadow mode discards the shadows: the pages used again are rebuilt,
    one hidden fault each. At the switch into the random phase (4,096 live pages, some 470
    of them used per window) the projection over the next ``selective.payback`` windows
    matches the rebuild fills measured there within 20% (measured: 1,366 projected, 1,574
    taken), where the pages of one window (what version 5 charged) miss two thirds of
    them."""
    p = build(SelectiveParams, {**{k: v for k, v in MISS_HEAVY.items()
                                   if not k.startswith("platform.")},
                                "selective.window": 500})
    nested = p.setup(nested=True)
    platform = load_platform("kvm-nehalem").with_overrides(
        {k[len("platform."):]: v for k, v in MISS_HEAVY.items() if k.startswith("platform.")})
    costs = Costs.of(platform)
    r = Recording(replace(nested, nested=False), nested, p, platform.value("vmexit.kernel"),
                  costs.memory, costs.latencies)
    drive(r, mixed(churn=300))
    big = [(projected, fills) for projected, fills in r.rebuilds if projected > 1000]
    assert big, r.rebuilds
    for projected, fills in big:
        assert 0.8 * fills <= projected <= 1.2 * fills, (projected, fills)
        assert fills > 3 * 500  # more than a window's references: not one window's pages


class Windows(SelectiveReplay):
    """``selective``'s replay, recording each window's demand faults as its decision saw
    them."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.seen: list[int] = []

    def _costs(self, d: Any) -> tuple[float, float, float]:
        self.seen.append(d.demand)
        return super()._costs(d)


def test_a_window_counts_the_faults_of_its_own_accesses() -> None:
    """Demand faults are handled ahead of their accesses, all those of a 4,096-access chunk
    at its start; a decision window of 100 accesses still counts exactly the faults of the
    accesses it replayed: here each window touches 25 new pages (4 accesses each), 1,000
    pages in 40 windows, in one chunk."""
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    b.map(BIG, pages=1000)
    for page in range(1000):
        for k in range(4):
            b.access(BIG + page * 4096 + 8 * k)
    events = b.build()
    p = build(SelectiveParams, {"selective.window": 100, "kernel.work": False})
    nested = p.setup(nested=True)
    platform = load_platform("kvm-nehalem")
    costs = Costs.of(platform)
    r = Windows(replace(nested, nested=False), nested, p, platform.value("vmexit.kernel"),
                costs.memory, costs.latencies)
    drive(r, events)
    assert r.seen == [25] * 40


SCALE = 8
"""Suite mixes run at 1/SCALE of their references (iterations, churn cycles), with windows
1/SCALE as long: as many decisions per run, in an eighth of the time."""


def reduced(mix: Mix) -> dict[str, Any]:
    """A suite mix's workload values at 1/SCALE of its size."""
    w = default_registry().workload(mix.workload)
    values = mix.values()
    full = build(w.params, values)
    for spec in specs(w.params):
        if spec.key in ("workload.refs", "workload.iterations", "workload.cycles"):
            values[spec.key] = max(1, getattr(full, spec.field) // SCALE)
    return values


@pytest.mark.parametrize("mix", [pytest.param(mix, id=f"{s.name}/{mix.label}")
                                 for s in SUITES for mix in s.mixes])
def test_every_suite_mix_is_within_5_percent_of_the_better_mode(mix: Mix) -> None:
    """Wang et al.: switching matches or beats the better mode. On every mix of every bundled
    suite (at 1/SCALE of its size, windows too), on the default hardware, ``selective``
    costs at most 5% more than the better of shadow and nested paging on the same stream,
    and does not flap: every switch but one is a probe or a probe's return."""
    w = default_registry().workload(mix.workload)
    events = w.generate(build(w.params, reduced(mix)))
    shadow = run(events, "shadow")["cycles.total"]
    nested = run(events, "nested")["cycles.total"]
    m = run(events, "selective", **{"selective.window": 20_000 // SCALE})
    assert m["cycles.total"] <= 1.05 * min(shadow, nested), (
        m["cycles.total"] / min(shadow, nested))
    assert m["selective.switches"] <= 2 * m["selective.probes"] + 1


@pytest.mark.parametrize("workload, params", [
    ("random", {"workload.refs": 60_000, "workload.footprint_mb": 32}),
    ("pointer-chase", {"workload.refs": 60_000, "workload.footprint_mb": 32}),
    ("zipf", {"workload.refs": 60_000, "workload.footprint_mb": 64}),
])
def test_a_replay_that_never_switches_is_its_parent_cycle_for_cycle(
        workload: str, params: dict) -> None:
    """Wang et al.: switching "matches" the better parent. Where nested paging is the better
    parent throughout and ``selective`` (started nested) never leaves it, the two replay the
    same stream identically: faults, their kernel work and every reference at the same
    places (the windows cut runs of accesses only), so the totals are equal to the cycle --
    not 0.2% apart as when the windows placed the faults' kernel work."""
    w = default_registry().workload(workload)
    events = w.generate(build(w.params, {**params, "workload.seed": 1}))
    hw = {"pwc.guest.entries": 32, "pwc.nested.entries": 32, "ntlb.entries": 16,
          "selective.window": 5_000}
    nested = run(events, "nested", **{k: v for k, v in hw.items()
                                      if not k.startswith("selective.")})
    m = run(events, "selective", **hw)
    assert m["selective.switches"] == 0 and m["selective.windows"] >= 12
    assert m["cycles.total"] == nested["cycles.total"]
    assert m["walk.refs"] == nested["walk.refs"] and m["traps.total"] == nested["traps.total"]


def test_a_shadow_start_measures_nested_paging_rather_than_assuming_it() -> None:
    """Started in shadow mode on a sequential stream, whose first touches favour nested
    paging with its page-walk caches and nested TLB only a little, the estimate of nested
    paging's walks from the shadow walks does not justify a switch; its best case does
    justify a probe, whose measurement does: ``selective`` runs the rest in nested mode,
    within 5% of it (the first window, in shadow mode, costs what it costs there)."""
    events = default_registry().workload("sequential").generate(
        build(default_registry().workload("sequential").params, {"workload.refs": 25_000}))
    # Without the guest kernel's work: its zeroing warms each new page's lines before the
    # process reads them, which ``selective``'s windows (the process's references only) do
    # not see -- with it the switch comes without a probe, three windows from the end
    # (1.16x nested; the note of issue 12's session records this).
    off = {"kernel.work": False}
    nested = run(events, "nested", **off)["cycles.total"]
    m = run(events, "selective", **off, **{"selective.window": 2500, "selective.start": "shadow"})
    assert m["selective.probes"] == 1 and m["selective.switches"] == 1
    assert m["selective.nested_windows"] == m["selective.windows"] - 1
    assert m["cycles.total"] <= 1.05 * nested


def test_deterministic_per_seed() -> None:
    """Same stream and parameters, same metrics; another seed, other metrics."""
    params = {"cycles": 120}
    hw = {"selective.window": 100, "selective.start": "shadow"}
    a = metrics("mmap-churn", "selective", params, hw)
    assert a["selective.switches"] >= 1
    assert a == metrics("mmap-churn", "selective", params, hw)
    assert a != metrics("mmap-churn", "selective", {**params, "seed": 7}, hw)


@pytest.mark.parametrize("values, key", [
    ({"selective.window": 0}, "selective.window"),
    ({"selective.window": 99}, "selective.window"),
    ({"selective.margin": -0.5}, "selective.margin"),
    ({"selective.start": "hybrid"}, "selective.start"),
    ({"shadow.cache": 0}, "shadow.cache"),
    ({"shadow.pool_pages": 10}, "shadow.pool_pages"),
])
def test_bad_parameters_are_one_line_input_errors(values: dict, key: str) -> None:
    with pytest.raises(InputError) as err:
        build(SelectiveParams, values)
    message = str(err.value)
    assert key in message and "\n" not in message
    with pytest.raises(InputError, match=key.replace(".", r"\.")):
        evaluate(Point("random", "selective", params={**values, **NO_HW}))


def test_a_switch_keeps_the_data_lines_cached() -> None:
    """Guest data lives in the same host frames whichever mode translates it: shadow entries
    map guest pages to the host frames backing them, as the EPT does. So a switch into shadow
    mode finds the process's data lines cached, and the data references cost what they cost
    under either parent (they cost 2.4x as much when shadow mode addressed data by guest
    frame, a cold cache after every switch)."""
    params = {"processes": 8, "time_slice": 2000, "refs": 200_000}
    hw = {"pwc.entries": 0, "ntlb.entries": 0, "tlb.l2.entries": 0}
    shadow = metrics("context-switch", "shadow", params, hw)
    nested = metrics("context-switch", "nested", params, hw)
    m = metrics("context-switch", "selective", params, hw)
    assert m["selective.switches"] >= 1 and 0 < m["selective.nested_windows"] < \
        m["selective.windows"]
    # within a few percent: plain shadow paging addresses data by the native image's frames,
    # whose cache-set conflicts differ a little from the host frames'
    for parent in (shadow, nested):
        assert abs(m["cycles.data"] - parent["cycles.data"]) < 0.05 * parent["cycles.data"]
