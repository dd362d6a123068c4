"""``selective``: per-window choice between shadow and nested paging (Wang et al., VEE 2011).

ANCHORS.md, MMU: "up to 34%, no consistent winner | gap between shadow and nested paging
across benchmarks; dynamic switching matches or beats the better" (Wang et al.). Each test
compares ``selective`` with ``shadow`` and ``nested`` on the same stream and hardware.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from codesign.errors import InputError
from codesign.harness import Point, evaluate
from codesign.metrics import Metrics
from codesign.mmu.selective import SelectiveParams
from codesign.params import build
from codesign.platforms import load_platform
from codesign.registry import default_registry
from workloads.memory.events import RW, Prot, StreamBuilder, Syscall, validate

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
    ("forkwait", {"iterations": 100}, {}, 100, ("nested",)),
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


def _mixed_runs() -> tuple[float, float, Metrics]:
    events = mixed()
    shadow = run(events, "shadow", **MISS_HEAVY)["cycles.total"]
    nested = run(events, "nested", **MISS_HEAVY)["cycles.total"]
    return shadow, nested, run(events, "selective", **MISS_HEAVY, **{"selective.window": 500})


def test_a_mixed_workload_beats_the_mean_and_switches_both_ways() -> None:
    """Wang et al.: no consistent winner across phases, and switching matches or beats the
    better. Churn phases favour nested paging (updates to shadowed tables exit under
    shadow), the long random phase between them favours shadow paging (uncached
    24-reference 2D walks): ``selective`` runs each phase mostly in its better mode."""
    shadow, nested, m = _mixed_runs()
    assert m["cycles.total"] < (shadow + nested) / 2
    assert m["cycles.total"] < 0.6 * max(shadow, nested)
    assert m["selective.switches"] >= 2
    assert 0 < m["selective.nested_windows"] < m["selective.windows"]
    assert m["traps.vmexit.mode_switch"] == m["selective.switches"]
    assert m["traps.vmexit.ept_violation"] > 0 and m["traps.vmexit.pt_write"] > 0


@pytest.mark.xfail(strict=True, reason=(
    "issue 12's selective rework: since shadow paging became KVM-faithful (unsync leaves, "
    "only shadowed tables write-protected) the churn phases favour nested paging by ~10% "
    "only, and selective's rebuild estimate (the pages one window touched, ~470) misses "
    "the ~4,096 shadow pages a switch back rebuilds: 1.069x the better mode, not <= 1.05x"))
def test_a_mixed_workload_is_within_5_percent_of_the_better_mode() -> None:
    """Wang et al.: dynamic switching matches or beats the better of the two modes."""
    shadow, nested, m = _mixed_runs()
    assert m["cycles.total"] <= 1.05 * min(shadow, nested)


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
])
def test_bad_parameters_are_one_line_input_errors(values: dict, key: str) -> None:
    with pytest.raises(InputError) as err:
        build(SelectiveParams, values)
    message = str(err.value)
    assert key in message and "\n" not in message
    with pytest.raises(InputError, match=key.replace(".", r"\.")):
        evaluate(Point("random", "selective", params={**values, **NO_HW}))
