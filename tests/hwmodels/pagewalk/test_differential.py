"""Differential tests: the RTL walker and the behavioural model produce identical per-request
events -- fault kind, level and step, frame, size, permissions, cache hits -- and the exact
sequence of walk memory addresses, under random memory latencies.

Stimulus comes from hypothesis (random worlds and request mixes: 2D walks of two VMs and two
address spaces, native walks, walks through a broken host table, flushes of every kind) and
from a slice of a real memory trace (tests/data). CompiledSimulation runs the many and long
runs, FastSimulation a share for parity.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwmodels.pagewalk import (
    NTLBParams,
    PageWalkModel,
    PWCParams,
    WalkBatch,
    WalkerParams,
    WalkOp,
    WalkRequest,
    count_events,
)
from hwmodels.pagewalk.tables import (
    PAGE_2M,
    PAGE_4K,
    SWITCH,
    NestedImage,
    PageTable,
    make_entry,
)
from tests.hwmodels.pagewalk.conftest import get_walker_sim
from tests.hwmodels.pagewalk.harness import assert_same_events, build_world, requests
from tests.hwmodels.tlb_harness import read_lackey

# Small designs keep simulation cheap; together they cover every table height 2..5 in each
# dimension, per-level cache sizes including disabled levels, direct-mapped, set-associative
# and fully associative nested TLBs, and narrow and full-width addresses and tags.
CONFIGS: dict[str, WalkerParams] = {
    "4x4": WalkerParams(4, 4, PWCParams((2, 1, 1, 1)), PWCParams((2, 1, 1, 1)),
                        NTLBParams(4, 2), pa_bits=36, vm_bits=2, asid_bits=1),
    "2x3": WalkerParams(2, 3, PWCParams(1), PWCParams((1, 1, 0, 0)), NTLBParams(2, 1),
                        pa_bits=32, vm_bits=2, asid_bits=1),
    "5x2": WalkerParams(5, 2, PWCParams((1, 0, 2, 1)), PWCParams(1), NTLBParams(0, 0),
                        pa_bits=40, vm_bits=2, asid_bits=2),
    "3x5_wide": WalkerParams(3, 5, PWCParams(0), PWCParams(3), NTLBParams(8, 8),
                             pa_bits=52, vm_bits=16, asid_bits=12),
    # agile paging's walker: shadow walks switching to 2D, beside native and nested ones
    "4x4_agile": WalkerParams(4, 4, PWCParams((2, 1, 1, 1)), PWCParams((2, 1, 1, 1)),
                              NTLBParams(4, 2), pa_bits=36, vm_bits=3, asid_bits=1,
                              agile=True),
    "3x2_agile": WalkerParams(3, 2, PWCParams((1, 0, 1, 0)), PWCParams(1), NTLBParams(0, 0),
                              pa_bits=32, vm_bits=3, asid_bits=1, agile=True),
}

DIFF_SETTINGS = settings(derandomize=True, deadline=None, max_examples=40,
                         suppress_health_check=[HealthCheck.too_slow])


def _check(walker_sims: dict, params: WalkerParams, backend: str, seed: int, n: int,
           latency: tuple[int, int] = (0, 3)) -> None:
    world = build_world(params, seed)
    reqs = requests(world, params, n, seed)
    sim = get_walker_sim(walker_sims, params, backend, world.mem, seed)
    sim.latency = latency
    assert_same_events(reqs, PageWalkModel(params, world.mem).run(reqs), sim.run(reqs),
                       f"{backend} seed={seed}")


@pytest.mark.parametrize("name", list(CONFIGS))
def test_random_worlds_compiled(name: str, walker_sims: dict) -> None:
    @DIFF_SETTINGS
    @given(seed=st.integers(0, 2**32 - 1), n=st.integers(30, 150))
    def check(seed: int, n: int) -> None:
        _check(walker_sims, CONFIGS[name], "compiled", seed, n)

    check()


def test_random_worlds_fast(walker_sims: dict) -> None:
    @settings(DIFF_SETTINGS, max_examples=10)
    @given(seed=st.integers(0, 2**32 - 1), n=st.integers(30, 100))
    def check(seed: int, n: int) -> None:
        _check(walker_sims, CONFIGS["4x4"], "fast", seed, n)

    check()


@pytest.mark.parametrize("latency", [(0, 0), (5, 9)])
def test_memory_latency_changes_cycles_not_events(latency: tuple[int, int],
                                                  walker_sims: dict) -> None:
    _check(walker_sims, CONFIGS["4x4"], "compiled", 7, 120, latency)


def test_scoreboard_catches_a_different_cache(walker_sims: dict) -> None:
    # The comparison is sharp enough to see one nested-PWC entry more.
    p = CONFIGS["4x4"]
    world = build_world(p, 3)
    reqs = requests(world, p, 150, 3)
    other = replace(p, pwc_nested=PWCParams((3, 1, 1, 1)))
    sim = get_walker_sim(walker_sims, p, "compiled", world.mem)
    with pytest.raises(AssertionError, match="events differ at request"):
        assert_same_events(reqs, PageWalkModel(other, world.mem).run(reqs), sim.run(reqs), "x")


@pytest.fixture(scope="module")
def trace_world() -> tuple[NestedImage, PageTable, WalkBatch]:
    """The trace world (:func:`build_trace_world`), shared by the tests that only read it."""
    return build_trace_world()


def build_trace_world() -> tuple[NestedImage, PageTable, WalkBatch]:
    """A guest whose tables map the pages a real program (gzip, lackey trace) touched.

    The stack (addresses >= 2**36) is backed by 2 MiB guest pages, the rest by 4 KiB pages;
    the hypervisor backs guest memory with 4 KiB pages. Each of the first 1500 data references
    is a walk (as if every reference missed the TLB), with the guest switching address space
    every 400 references (an ASID flush of the one it leaves).
    """
    addrs = [int(a) for a in read_lackey()[:1500]]
    img = NestedImage(4, 4, PAGE_4K, guest_base=0x200000, host_base=0x10000000)
    native = PageTable.in_memory(img.mem, 4, img.host_alloc)
    reqs = []
    for i, va in enumerate(addrs):
        size = PAGE_2M if va >= 1 << 36 else PAGE_4K
        page = va - va % size
        if img.guest.lookup(page) is None:
            img.map(page, img.guest_alloc.alloc(size), size)
            native.map(page, img.host_alloc.alloc(size), size)
        if i and i % 400 == 0:
            reqs.append(WalkRequest.flush_asid(vm=1, asid=(i // 400 - 1) % 2))
        reqs.append(WalkRequest.nested(va, img.guest.root, img.ept.root, vm=1, asid=(i // 400) % 2))
        if i % 5 == 0:
            reqs.append(WalkRequest.native(va, native.root, vm=0))
    return img, native, WalkBatch.from_requests(reqs)


TRACE_PARAMS = WalkerParams(4, 4, PWCParams((4, 2, 2, 1)), PWCParams((4, 2, 2, 1)),
                            NTLBParams(8, 2), pa_bits=40, vm_bits=1, asid_bits=1)


def test_trace_stimulus_exercises_the_caches(trace_world) -> None:
    img, _, reqs = trace_world
    c = count_events(reqs, PageWalkModel(TRACE_PARAMS, img.mem).run(reqs))
    assert c["walks"] == 1800 and c["faults_guest_pf"] == 0
    assert c["gpwc_hits"] > 1000 and c["npwc_hits"] > 0 and c["ntlb_hits"] > 100
    assert c["refs"] < c["walks"] * 3  # uncached this would be about 1500 x 24 + 300 x 4


AGILE_TRACE_PARAMS = replace(TRACE_PARAMS, agile=True)


def test_real_trace_agile(walker_sims: dict) -> None:
    """The recorded trace's walks in agile mode, on a shadow of the trace world's guest:
    the 4 KiB pages' leaf tables switched to the guest's (their level-2 shadow entries: the
    table pages a guest updates most, which the paper's policy moves to nested mode), the
    stack's 2 MiB guest pages shadowed by the 4 KiB host pages backing them, so walks both
    switch and stay in the shadow."""
    img, _, nested = build_trace_world()
    shadow = PageTable.in_memory(img.mem, 4, img.host_alloc)
    for va in sorted({int(v) & ~0xFFF for v in nested.va[nested.op == WalkOp.NESTED]}):
        if shadow.translate(va) is None:
            shadow.map(va, img.translate(va) & ~0xFFF, PAGE_4K)
    for va, g in sorted(img.guest.mappings.items()):
        if g.size == PAGE_4K:
            below = img.guest.entry_address(va, 1)
            img.mem.write(shadow.entry_address(va, 2), make_entry(below & ~0xFFF) | SWITCH)
    reqs = WalkBatch.from_requests(
        WalkRequest.agile(r.va, shadow.root, r.eptp, vm=1, asid=r.asid)
        if r.op == WalkOp.NESTED else r
        for r in (nested.row(i) for i in range(len(nested))) if r.op != WalkOp.NATIVE)
    model = PageWalkModel(AGILE_TRACE_PARAMS, img.mem).run(reqs)
    c = count_events(reqs, model)
    assert c["agile_walks"] == 1500 and c["faults_guest_pf"] == 0
    assert c["refs_nested"] > 0 and c["gpwc_hits"] > 1000
    walks = [model.row(i) for i in range(len(reqs)) if reqs.op[i] == WalkOp.AGILE]
    switched = sum(1 in w.dims for w in walks)
    assert 0 < switched < len(walks)  # some walks end in the shadow, most switch
    sim = get_walker_sim(walker_sims, AGILE_TRACE_PARAMS, "compiled", img.mem)
    assert_same_events(reqs, model, sim.run(reqs), "trace/agile")


@pytest.mark.parametrize("backend", ["fast", "compiled"])
def test_real_trace(backend: str, trace_world, walker_sims: dict) -> None:
    img, _, reqs = trace_world
    sim = get_walker_sim(walker_sims, TRACE_PARAMS, backend, img.mem)
    assert_same_events(reqs, PageWalkModel(TRACE_PARAMS, img.mem).run(reqs), sim.run(reqs),
                       f"trace/{backend}")
