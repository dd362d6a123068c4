"""The data-cache hierarchy on the MMU's translation path (``hwmodels.cache`` wired into
``codesign.mmu.replay`` and priced by ``codesign.mmu.cost``).

Page-table entries are ordinary cacheable data: every walk reference and every data reference
of the stream goes through one L1D / L2 / LLC model, in stream order, so table lines compete
with data lines. A walk reference costs the latency of the level that served it; a data
reference what that level adds to an L1 hit (the base CPI includes one).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from codesign.harness import Point, evaluate, resolve
from codesign.metrics import Metrics
from codesign.mmu import cost
from codesign.mmu.cost import Costs
from codesign.mmu.native import NativeParams
from codesign.mmu.nested import NestedParams
from codesign.mmu.replay import Counts, Replay, Setup, drive, replay
from codesign.params import build
from codesign.platforms import load_platform
from hwmodels.cache import CacheLevelParams, CacheModel, CacheParams
from tests.mmu.conftest import replay_stepwise, stream
from workloads.memory.events import RW, Ev, StreamBuilder

NO_HW = {"hw.cost": False}
LEVELS = ("l1", "l2", "llc", "memory")
NEHALEM = (4.0, 10.0, 40.0, 200.0)
"""kvm-nehalem's cache.{l1,l2,llc}.latency and memory.latency."""
UNCACHED = {"pwc.entries": 0, "ntlb.entries": 0, "tlb.l2.entries": 0}
BASE = 0x7F00_0000_0000


def metrics(workload: str, mechanism: str, hw: dict[str, Any] | None = None,
            **params: Any) -> Metrics:
    return evaluate(Point(workload, mechanism, params={
        **{f"workload.{k}": v for k, v in params.items()}, **(hw or {}), **NO_HW}))


def shares(m: Metrics, kind: str) -> dict[str, float]:
    """Fraction of ``kind`` (walk / data) references served by each level."""
    total = sum(m[f"{kind}.refs.{lv}"] for lv in LEVELS)
    return {lv: m[f"{kind}.refs.{lv}"] / total for lv in LEVELS}


# -- GUPS hurts, a sequential scan does not ---------------------------------------------------


@pytest.mark.parametrize("mechanism", ["native", "nested"])
def test_a_sequential_scans_walk_references_hit_l1(mechanism: str) -> None:
    """Eight leaf entries share a line and the scan walks them in order: after the first of
    each eight the line is in L1 (and so is the data line after its first word)."""
    m = metrics("sequential", mechanism, refs=100_000, footprint_mb=64)
    assert sum(m[f"walk.refs.{lv}"] for lv in LEVELS) == m["walk.refs"] > 0
    assert shares(m, "walk")["l1"] > 0.85
    assert shares(m, "data")["l1"] > 0.85


@pytest.mark.parametrize("mechanism", ["native", "nested"])
def test_gups_walk_and_data_references_leave_the_private_caches(mechanism: str) -> None:
    """GUPS over 256 MiB on the default (Nehalem) hierarchy: the leaf entries of a random
    page are rarely in L1 or L2 (512 KiB of leaf entries, reused every ~8,000 references);
    they mostly come from the 8 MiB LLC, which holds all of them -- a page-walk reference
    served by the LLC, not DRAM, is what Park et al. ("Every Walk's a Hit") measure. The
    data mostly comes from memory.

    Kernel work off: the subject is the stream's own reuse. The kernel's work would zero
    each of the ~35,000 faulted pages through the same caches, which evicts table lines from
    the LLC and leaves fresh pages' lines there for their first touch."""
    m = metrics("random", mechanism, {"kernel.work": False}, refs=100_000, footprint_mb=256)
    walk = shares(m, "walk")
    assert walk["llc"] + walk["memory"] > 0.25
    assert walk["l1"] < 0.65
    data = shares(m, "data")
    assert data["memory"] > 0.45  # each update's read misses (its write then hits L1)


def test_gups_beyond_the_llcs_reach_of_its_page_tables_walks_to_memory() -> None:
    """GUPS over 1 GiB with a 1 MiB LLC: 2 MiB of leaf entries no longer fit, so the walk
    references that leave L1 (the upper levels' few lines stay there) mostly miss to memory,
    where a sequential scan over the same hierarchy still hits."""
    small_llc = {"cache.llc.size": 1 << 20, "cache.llc.ways": 16}
    gups = metrics("random", "native", small_llc, refs=60_000, footprint_mb=1024)
    scan = metrics("sequential", "native", small_llc, refs=60_000, footprint_mb=1024)
    beyond_l1 = gups["walk.refs"] - gups["walk.refs.l1"]
    assert gups["walk.refs.memory"] > 0.6 * beyond_l1
    assert shares(gups, "walk")["memory"] > 2 * shares(scan, "walk")["memory"]
    assert gups["cycles.translation"] / gups["walks"] > 3 * (
        scan["cycles.translation"] / scan["walks"])


# -- the replay's counts are a cache model's over the same address sequence ------------------


def distinct_accesses(n: int, pages: int, seed: int = 3) -> np.ndarray:
    """One process touching ``n`` random distinct words of a ``pages``-page region, each
    followed by the next word (same line: the run compressions at work)."""
    rng = np.random.default_rng(seed)
    words = rng.choice(pages * 256, size=n, replace=False).astype(np.uint64) * np.uint64(16)
    va = np.empty(2 * n, dtype=np.uint64)
    va[0::2] = np.uint64(BASE) + words
    va[1::2] = va[0::2] + np.uint64(8)
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    b.map(BASE, pages, RW)
    b.accesses(va, 0)
    return b.build()


SMALL = CacheParams(l1=CacheLevelParams(8 << 10, 2), l2=CacheLevelParams(32 << 10, 4),
                    llc=CacheLevelParams(256 << 10, 8), inclusion="inclusive")
"""A small hierarchy, so that table and data lines evict each other in a short stream."""


@pytest.mark.parametrize("nested", [False, True])
@pytest.mark.parametrize("cache", [CacheParams(), SMALL])
def test_the_replays_cache_counts_are_a_cache_models_over_the_same_addresses(
        nested: bool, cache: CacheParams) -> None:
    """Scoreboard: the walker's reference log (recorded by the replay's ``walk_monitor``)
    and each access's physical address, interleaved per access -- its walk, then its data --
    and run through a separate :class:`CacheModel`, give exactly the replay's counts by kind
    and level, and its per-access walk levels."""
    events = distinct_accesses(3000, 4096)
    params = NestedParams if nested else NativeParams
    # Kernel work off: the kernel's references would go through the same caches (and the
    # walker) without being in this scoreboard; the subject here is the stream.
    r = Replay(replace(build(params, {}).setup(nested=nested), cache=cache, kernel=None))
    walks: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def monitor(pos: np.ndarray, va: np.ndarray, refs: np.ndarray, addrs: np.ndarray,
                dims: np.ndarray) -> None:
        assert (stream_va[pos] == va).all()  # each walk at its access's stream position
        start = 0
        for v, n in zip(va.tolist(), refs.tolist(), strict=True):
            walks[v] = (addrs[start:start + n], dims[start:start + n])
            start += n
        assert start == len(addrs) == len(dims)

    stream_va = events["va"][events["op"] == Ev.ACCESS].astype(np.int64)
    r.walk_monitor = monitor
    drive(r, events)
    frames = r.tcache[(0, 1)]
    addrs: list[int] = []
    kinds: list[int] = []
    model = CacheModel(cache)
    for va in events["va"][events["op"] == Ev.ACCESS].tolist():
        walk = walks.pop(va, None)
        if walk is not None:
            addrs += walk[0].tolist()
            kinds += walk[1].tolist()
        addrs.append(frames[va >> 12][0] << 12 | (va & 0xFFF))
        kinds.append(2)
    levels = model.access(np.array(addrs, dtype=np.int64)).astype(np.int64)
    expected = np.bincount(np.array(kinds) * 4 + levels, minlength=12).tolist()
    assert not walks  # every walk was matched to its access
    assert r.c.served == expected
    assert sum(r.c.walk_served()) == r.c.walk_refs_guest + r.c.walk_refs_nested > 0
    assert sum(r.c.data_served()) == r.c.refs == int((events["op"] == Ev.ACCESS).sum())
    assert r.dcache is not None and r.dcache.counters() == model.counters()
    # per-access walk levels: the histogram's level columns add up to the counts
    by_level = np.zeros(4, dtype=np.int64)
    for key, n in r.c.per_access.items():
        by_level += np.array(key[:4]) * n
    assert by_level.tolist() == r.c.walk_served()


@pytest.mark.parametrize("workload, extra", [
    ("random", {"refs": 20_000, "footprint_mb": 64}),
    ("multi-vm", {"refs": 3000, "time_slice": 150, "vm_time_slice": 500}),
    ("forkwait", {"iterations": 20}),
])
def test_batched_replay_through_the_cache_equals_one_access_at_a_time(
        workload: str, extra: dict) -> None:
    """Both TLB shortcuts (same page, most recent of its set) and the batched cache calls
    change nothing: the counts, cache levels included, equal a replay of one access at a
    time."""
    events = stream(workload, **extra)
    for nested in (False, True):
        # Kernel work off: the two paths insert the kernel's references at different
        # positions (a batch's faults are handled before its accesses), and those change TLB
        # and cache state; the subject here is the batching of the stream itself.
        setup = replace(build(NestedParams, {}).setup(nested=nested), kernel=None)
        assert setup.cache is not None
        assert replay(events, setup) == replay_stepwise(events, setup)


# -- pricing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["native", "nested", "shadow", "pv-direct", "selective",
                                       "agile"])
def test_cycles_are_the_per_level_sums(mechanism: str) -> None:
    """``cycles.translation`` = walk references by level x that level's latency + L2 TLB
    hits; ``cycles.data`` = data references by level x (latency - L1 latency); every
    mechanism gets the cache through the shared replay."""
    m = metrics("random", mechanism, refs=30_000, footprint_mb=64)
    walk = [m[f"walk.refs.{lv}"] for lv in LEVELS]
    data = [m[f"data.refs.{lv}"] for lv in LEVELS]
    assert sum(walk) == m["walk.refs"] > 0 and sum(data) == m["refs"]
    assert m["cycles.translation"] == pytest.approx(
        sum(n * x for n, x in zip(walk, NEHALEM, strict=True)) + 7 * m["tlb.l2.hits"])
    assert m["cycles.translation.walk.guest"] + m["cycles.translation.walk.nested"] == (
        pytest.approx(sum(n * x for n, x in zip(walk, NEHALEM, strict=True))))
    assert m["cycles.data"] == pytest.approx(
        sum(n * (x - 4) for n, x in zip(data, NEHALEM, strict=True)))
    assert m["cycles.data"] == pytest.approx(
        m["cycles.data.l2"] + m["cycles.data.llc"] + m["cycles.data.memory"])
    assert m["cycles.total"] == pytest.approx(sum(m.cycles_breakdown().values()))
    for lv in LEVELS[:3]:
        assert m[f"cache.{lv}.hits"] == m[f"walk.refs.{lv}"] + m[f"data.refs.{lv}"]


def test_a_cache_latency_is_a_platform_cost_not_hardware() -> None:
    """``platform.cache.l2.latency`` prices references, it does not change the hardware: the
    counts and canonical hardware parameters stay, the cycles move by exactly the L2's
    references x the difference."""
    point = {"workload.refs": 30_000, "workload.footprint_mb": 64, **NO_HW}
    a = evaluate(Point("random", "nested", params=point))
    b = evaluate(Point("random", "nested", params={**point, "platform.cache.l2.latency": 20}))
    counts = [k for k in a if k.startswith(("walk.refs", "data.refs", "tlb.", "walks"))]
    assert all(a[k] == b[k] for k in counts)
    assert b["cycles.translation"] - a["cycles.translation"] == pytest.approx(
        10 * a["walk.refs.l2"])
    assert b["cycles.data"] - a["cycles.data"] == pytest.approx(10 * a["data.refs.l2"])
    ra = resolve(Point("random", "nested", params=point))
    rb = resolve(Point("random", "nested", params={**point, "platform.cache.l2.latency": 20}))
    assert ra.mechanism_params == rb.mechanism_params and ra.key != rb.key
    assert "cache.l2.latency" in ra.mechanism.costs


def test_slowdown_compares_with_a_native_run_through_the_same_cache() -> None:
    """``slowdown_vs_native`` divides by the native mechanism's cycles on the same hardware,
    data cache included: the data cycles of GUPS are in both."""
    nested = metrics("random", "nested", refs=30_000, footprint_mb=64)
    native = metrics("random", "native", refs=30_000, footprint_mb=64)
    assert native["cycles.data"] > 0
    assert nested["slowdown_vs_native"] == pytest.approx(
        nested["cycles.total"] / native["cycles.total"])


# -- what stays as it was ---------------------------------------------------------------------


@pytest.mark.parametrize("mechanism, per_walk", [("native", 4), ("nested", 24)])
def test_uncached_walk_lengths_count_references_whatever_level_serves_them(
        mechanism: str, per_walk: int) -> None:
    """ANCHORS.md: "4 / 24" references per native / 2D walk without page-walk caches, nested
    TLB or second-level TLB: the data cache changes where references are served, not how
    many there are."""
    m = metrics("strided", mechanism, UNCACHED, refs=64, footprint_mb=64, stride=513 * 4096)
    assert m["walks"] == 64 and m["walk.refs_per_walk"] == per_walk
    assert sum(m[f"walk.refs.{lv}"] for lv in LEVELS) == m["walk.refs"] == 64 * per_walk
    assert m["walk.refs.l1"] > 0  # the root's and upper levels' lines are reused


def test_without_caches_every_reference_is_served_by_memory() -> None:
    """All three levels of size 0: every walk reference costs ``memory.latency`` and every
    data reference ``memory.latency`` - ``cache.l1.latency`` beyond the base."""
    off = {"cache.l1.size": 0, "cache.l2.size": 0, "cache.llc.size": 0,
           "cache.inclusion": "nine"}  # kvm-nehalem's inclusive LLC needs an LLC
    m = metrics("random", "nested", off, refs=5000, footprint_mb=16)
    assert m["walk.refs.memory"] == m["walk.refs"] and m["data.refs.memory"] == m["refs"]
    assert m["cycles.translation.walk.guest"] + m["cycles.translation.walk.nested"] == (
        200 * m["walk.refs"])
    assert m["cycles.data"] == 196 * m["refs"]


def test_a_setup_without_a_data_cache_is_the_model_before_it() -> None:
    """``Setup.cache`` None: walk references are served by memory, data references are not
    looked up and cost nothing beyond the base CPI."""
    p = build(NativeParams, {})
    events = stream("random", refs=5000, footprint_mb=16)
    setup = Setup(p.guest_config(), p.setup(nested=False).tlb, p.setup(nested=False).walker,
                  False, p.setup(nested=False).stlb)
    c = replay(events, setup)
    assert c.walk_served() == [0, 0, 0, c.walk_refs_guest] and c.data_served() == [0] * 4
    m = cost.metrics(c, Costs.of(load_platform("kvm-nehalem")), trap_counts={},
                     trap_cycles={}, unit_cycles=0.0, extra={})
    assert m["cycles.data"] == 0
    assert m["cycles.translation.walk.guest"] == 200 * c.walk_refs_guest


def test_the_base_cpi_includes_an_l1_hit() -> None:
    """Patterson & Hennessy, COD 5th ed., Ex. 5.14 (ANCHORS.md): native CPI 1. With every data
    reference counted as an L1 hit, the closed form is unchanged: ``cycles.data`` is 0 and a
    nested TLB miss still costs its walk (tests/mmu/test_validation.py checks 1.04 / 1.03)."""
    refs, misses = 10**7, 2000
    platform = load_platform("kvm-nehalem").with_overrides(
        {"cpu.cycles_per_ref": 1, "memory.latency": 200 / 24, "fault.page": 0})
    costs = Costs.of(platform)
    served = [0] * 12
    served[8] = refs           # every data reference from L1
    served[3] = 4 * misses     # guest-dimension walk references from memory
    served[7] = 20 * misses    # nested-dimension ones
    nested = Counts(refs=refs, tlb_hits=refs - misses, tlb_misses=misses, l2_misses=misses,
                    walks=misses, walk_refs_guest=4 * misses, walk_refs_nested=20 * misses,
                    served=served)
    m = cost.metrics(nested, costs, trap_counts={}, trap_cycles={}, unit_cycles=0.0, extra={})
    assert m["cycles.data"] == 0.0 and m["data.refs.l1"] == refs
    assert m["cycles_per_ref"] == pytest.approx(1.04)
    assert m["cycles_per_ref"] == pytest.approx(cost.cpi(miss_rate=misses / refs,
                                                         miss_cycles=200))


@pytest.mark.parametrize("workload, extra", [
    ("random", {"refs": 6000, "footprint_mb": 8}),
    ("multi-vm", {"refs": 3000, "time_slice": 150, "vm_time_slice": 500}),
])
def test_shadow_paging_addresses_data_at_the_host_frames_nested_paging_reaches(
        workload: str, extra: dict[str, Any]) -> None:
    """A shadow entry maps a guest page to the host frame backing it, so each data
    reference -- the stream's and the guest kernel's -- goes to the same physical line under
    shadow and nested paging (the replays' data frames, recorded at their compiled runs),
    whatever the host table's depth; natively, to the native image's frames."""
    from codesign.mmu.shadow import ShadowParams, ShadowReplay

    events = stream(workload, **extra)

    def data_frames(r: Replay) -> dict[tuple[int, int, int], int]:
        seen: dict[tuple[int, int, int], int] = {}
        space: list[tuple[int, int]] = []
        real_run, real_pipeline = r._run, r._pipeline

        def run(vm: int, pid: int, *args: Any, **kw: Any) -> None:
            space.append((vm, pid))  # whose pages the run's pipeline call translates
            real_run(vm, pid, *args, **kw)

        def pipeline(*args: Any) -> Any:
            _, page, inv, _, _, _, dframe = args[:7]
            vm, pid = space[-1]
            for p, f in zip(page.tolist(), dframe[inv].tolist(), strict=True):
                assert seen.setdefault((vm, pid, p), f) == f
            return real_pipeline(*args)

        r._run = run  # type: ignore[method-assign]
        r._pipeline = pipeline  # type: ignore[method-assign]
        drive(r, events)
        return seen

    shadow = data_frames(ShadowReplay(build(ShadowParams, {}).setup(nested=False), 4))
    nested = data_frames(Replay(build(NestedParams, {}).setup(nested=True)))
    deeper = data_frames(Replay(build(NestedParams, {"host.levels": 5}).setup(nested=True)))
    native = data_frames(Replay(build(NativeParams, {}).setup(nested=False)))
    assert shadow == nested == deeper and len(shadow) > 100
    assert native.keys() == shadow.keys() and native != shadow
