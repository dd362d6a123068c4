"""``nested``: VM-tagged TLB, 2D walks with both-dimension caches, EPT violations."""

from __future__ import annotations

import numpy as np
import pytest

from codesign.harness import Point, evaluate
from codesign.mmu.native import NativeParams
from codesign.mmu.nested import NestedParams
from codesign.mmu.replay import Counts, replay
from codesign.params import build
from tests.mmu.conftest import replay_stepwise, stream
from tests.mmu.test_native import BASE, scattered
from workloads.memory.events import StreamBuilder

NO_CACHES = {"pwc.entries": 0, "ntlb.entries": 0}


def nested(**values: object) -> NestedParams:
    return build(NestedParams, values)


def native(**values: object) -> NativeParams:
    return build(NativeParams, values)


@pytest.mark.parametrize("levels, host_page, per_walk", [
    ((4, 4), "4K", 24), ((5, 5), "4K", 35), ((5, 4), "4K", 29),
    ((4, 4), "2M", 19), ((4, 4), "1G", 14),
])
def test_an_uncached_2d_walk_costs_the_anchored_references(levels: tuple[int, int],
                                                           host_page: str,
                                                           per_walk: int) -> None:
    p = nested(**{"guest.levels": levels[0], "host.levels": levels[1],
                  "host.page_size": host_page, **NO_CACHES})
    c = replay(scattered(64), p.setup(nested=True))
    assert (c.refs, c.tlb_misses, c.walks) == (64, 64, 64)
    assert c.walk_refs_guest + c.walk_refs_nested == per_walk * 64
    assert c.walk_refs_guest == levels[0] * 64
    n = replay(scattered(64), native(**{"guest.levels": levels[0], **NO_CACHES})
               .setup(nested=False))
    assert n.walk_refs_guest == levels[0] * 64 and n.walk_refs_nested == 0


def test_caches_in_both_dimensions_win_back_most_references() -> None:
    # The process's walks alone: the guest kernel's work, whose 2 MiB direct map nested paging
    # on 4 KiB host pages splinters into 4 KiB TLB entries, would make nested paging walk
    # more often than native paging (test_validation's GUPS test measures by how much).
    events = stream("random", refs=20_000, footprint_mb=64)
    off = {"kernel.work": False}
    cold = replay(events, nested(**NO_CACHES, **off).setup(nested=True))
    warm = replay(events, nested(**off).setup(nested=True))
    nat = replay(events, native(**off).setup(nested=False))
    assert cold.walks == warm.walks == nat.walks > 5_000
    cold_per_walk = (cold.walk_refs_guest + cold.walk_refs_nested) / cold.walks
    warm_per_walk = (warm.walk_refs_guest + warm.walk_refs_nested) / warm.walks
    native_per_walk = nat.walk_refs_guest / nat.walks
    assert cold_per_walk == 24
    assert warm_per_walk < 24 / 4  # Park et al.: about 4.4 with caches in place
    assert warm_per_walk > native_per_walk
    assert warm.npwc_hits > 0 and warm.ntlb_hits + warm.ntlb_misses > 0


@pytest.mark.parametrize("workload, extra", [
    ("random", {"refs": 5000, "footprint_mb": 32}),
    ("forkwait", {"iterations": 20}),
    ("mmap-churn", {"cycles": 40, "remote_cpus": 1}),
    ("context-switch", {"refs": 3000, "time_slice": 200}),
    ("multi-vm", {"refs": 3000, "time_slice": 150, "vm_time_slice": 500}),
])
def test_same_stream_same_references_and_tlb_behaviour_as_native(workload: str,
                                                                   extra: dict) -> None:
    events = stream(workload, **extra)
    # Kernel work off: the kernel's references change TLB and cache state differently under
    # the two (nested paging splinters its 2 MiB direct map into 4 KiB TLB entries); the
    # subject here is the user stream.
    off = {"kernel.work": False}
    n = evaluate_counts(events, native(**off))
    v = evaluate_counts(events, nested(**off))
    assert (v.refs, v.tlb_hits, v.tlb_misses, v.tlb_evictions) == (
        n.refs, n.tlb_hits, n.tlb_misses, n.tlb_evictions)
    assert (v.faults_demand, v.faults_cow, v.pte_writes) == (
        n.faults_demand, n.faults_cow, n.pte_writes)
    assert v.walk_refs_guest + v.walk_refs_nested > n.walk_refs_guest


def evaluate_counts(events: np.ndarray, p: NativeParams) -> Counts:
    return replay(events, p.setup(nested=isinstance(p, NestedParams)))


@pytest.mark.parametrize("workload, extra, values", [
    ("forkwait", {"iterations": 20}, {"guest.huge_pages": "2M"}),
    ("mmap-churn", {"cycles": 12, "region_pages": 600}, {"guest.huge_pages": "2M",
                                                         "host.page_size": "2M"}),
    ("multi-vm", {"refs": 2000, "time_slice": 150, "vm_time_slice": 400}, {"tlb.vpid": False}),
])
def test_batched_replay_equals_one_access_at_a_time(workload: str, extra: dict,
                                                    values: dict) -> None:
    events = stream(workload, **extra)
    # Kernel work off: the two paths insert the kernel's references at different positions
    # (a batch's faults are handled before its accesses), and those change TLB and cache
    # state; the subject here is the batching of the stream itself.
    setup = nested(**values, **{"kernel.work": False}).setup(nested=True)
    assert replay(events, setup) == replay_stepwise(events, setup)


def test_without_vpid_the_tlb_is_flushed_on_every_vm_entry_and_exit() -> None:
    events = stream("multi-vm", refs=4000, working_set_pages=8, time_slice=1000,
                    vm_time_slice=100)
    # Kernel work off: the kernel's references take TLB entries of their own (and can evict
    # a process's); the subject here is the exact count of the user stream's misses.
    off = {"kernel.work": False}
    tagged = replay(events, nested(**off).setup(nested=True))
    untagged = replay(events, nested(**off, **{"tlb.vpid": False}).setup(nested=True))
    assert tagged.vm_switches == untagged.vm_switches == 39
    assert tagged.tlb_misses == 2 * 2 * 8  # 2 VMs x 2 processes x 8 pages, all fit
    assert untagged.tlb_flushes >= untagged.vm_switches + untagged.backings
    assert untagged.tlb_misses > 39 * 8 - 8


def test_ept_violations_only_on_first_touch_of_unbacked_memory() -> None:
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    b.map(BASE, 16)
    pages = np.uint64(BASE) + np.arange(16, dtype=np.uint64) * np.uint64(4096)
    b.accesses(pages, 1)
    b.unmap(BASE, 16)
    b.map(BASE, 16)
    b.accesses(pages, 1)  # the guest reuses its freed frames: backed already
    b.spawn(2)
    b.switch(2)
    events = b.build()
    c = replay(events, nested().setup(nested=True))
    assert c.faults_demand == 32 and c.cr3_writes == 2 and c.pte_writes > 32
    # root + 3 tables + 16 data frames, then the second process's root: nothing else exits
    assert c.backings == 1 + 3 + 16 + 1
    m = evaluate(Point("sequential", "nested", params={
        "workload.refs": 4096, "workload.footprint_mb": 4, "workload.element_bytes": 1024,
        "hw.cost": False}))
    assert m["traps.total"] == m["traps.vmexit.ept_violation"] > 0
    # each an exit handled in the host kernel and the host's fault behind it (4 KiB pages)
    assert m["cycles.traps.vmexit.ept_violation"] == (2565 + 3000) * m["traps.total"]
    big = evaluate(Point("sequential", "nested", params={
        "workload.refs": 4096, "workload.footprint_mb": 4, "workload.element_bytes": 1024,
        "host.page_size": "2M", "hw.cost": False}))
    assert big["traps.total"] < m["traps.total"] / 100
    assert big["refs"] == m["refs"] and big["faults.page"] == m["faults.page"]


def test_deterministic_per_seed() -> None:
    point = {"workload.refs": 3000, "workload.footprint_mb": 16, "hw.cost": False}
    a = evaluate(Point("zipf", "nested", params=point))
    assert a == evaluate(Point("zipf", "nested", params=point))
    assert a != evaluate(Point("zipf", "nested", params={**point, "workload.seed": 7}))
    assert a["latency.p99_cycles"] >= a["latency.p50_cycles"]
