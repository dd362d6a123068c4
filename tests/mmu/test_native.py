"""``native``: TLB -> page-walk cache -> 1D walk over the guest model's tables."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from codesign.harness import Point, evaluate
from codesign.mmu.native import NativeParams
from codesign.mmu.replay import replay
from codesign.params import build
from tests.conftest import run_cli
from tests.mmu.conftest import replay_stepwise, stream
from workloads.memory.events import RW, Prot, StreamBuilder, Syscall

BASE = 0x7F00_0000_0000
NO_HW = {"hw.cost": False}


def params(**values: object) -> NativeParams:
    return build(NativeParams, values)


def scattered(pages: int, stride_pages: int = 513) -> np.ndarray:
    """One access to each of ``pages`` pages, far apart: every access misses every cache."""
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    b.map(BASE, pages * stride_pages)
    b.accesses(np.uint64(BASE) + np.arange(pages, dtype=np.uint64) * np.uint64(
        stride_pages * 4096), 0)
    return b.build()


@pytest.mark.parametrize("levels", [4, 5])
def test_an_uncached_walk_reads_one_entry_per_level(levels: int) -> None:
    p = params(**{"guest.levels": levels, "pwc.entries": 0})
    c = replay(scattered(64), p.setup(nested=False))
    assert (c.refs, c.tlb_misses, c.walks) == (64, 64, 64)
    assert c.walk_refs_guest == 64 * levels and c.walk_refs_nested == 0


def test_page_walk_caches_cut_references_per_walk() -> None:
    events = stream("random", refs=20_000, footprint_mb=64)
    cold = replay(events, params(**{"pwc.entries": 0}).setup(nested=False))
    warm = replay(events, params().setup(nested=False))
    assert cold.tlb_misses == warm.tlb_misses > 5_000
    assert cold.walk_refs_guest == 4 * cold.walks
    assert warm.walk_refs_guest / warm.walks < 1.6  # Park et al.: about 1.5 with PSCs


def test_huge_pages_shrink_misses_and_walks() -> None:
    events = stream("random", refs=20_000, footprint_mb=64)
    small = replay(events, params().setup(nested=False))
    huge = replay(events, params(**{"guest.huge_pages": "2M"}).setup(nested=False))
    assert huge.faults_demand == 32 and small.faults_demand > 5_000
    assert huge.tlb_misses < small.tlb_misses / 10


@pytest.mark.parametrize("workload, extra, values", [
    ("forkwait", {"iterations": 30}, {}),
    ("mmap-churn", {"cycles": 60, "remote_cpus": 2}, {"guest.huge_pages": "2M"}),
    ("mmap-churn", {"cycles": 12, "region_pages": 600}, {"guest.huge_pages": "2M",
                                                         "tlb.l1.2m.entries": 0}),
    ("context-switch", {"refs": 3000, "time_slice": 200}, {"tlb.pcid": False}),
    ("multi-vm", {"refs": 3000, "time_slice": 150, "vm_time_slice": 500}, {}),
])
def test_batched_replay_equals_one_access_at_a_time(workload: str, extra: dict,
                                                    values: dict) -> None:
    events = stream(workload, **extra)
    # Kernel work off: the two paths insert the kernel's references at different positions
    # (a batch's faults are handled before its accesses), and those change TLB and cache
    # state; the subject here is the batching of the stream itself.
    setup = params(**values, **{"kernel.work": False}).setup(nested=False)
    assert replay(events, setup) == replay_stepwise(events, setup)


def test_pcid_keeps_entries_across_context_switches() -> None:
    events = stream("context-switch", refs=4000, time_slice=100, working_set_pages=8)
    tagged = replay(events, params().setup(nested=False))
    untagged = replay(events, params(**{"tlb.pcid": False}).setup(nested=False))
    assert tagged.cr3_writes == untagged.cr3_writes == 40
    assert tagged.tlb_flushes == 0 and untagged.tlb_flushes == 40
    assert tagged.tlb_misses == 4 * 8  # every process's working set fits the TLB
    assert untagged.tlb_misses >= 8 * 40 - 8


def test_protect_and_unmap_invalidate_what_changed() -> None:
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    b.map(BASE, 4, RW)
    b.access(BASE)
    b.access(BASE + 4096)
    b.access(BASE)
    b.protect(BASE, 1, Prot.READ)
    b.access(BASE)          # invalidated: misses
    b.access(BASE + 4096)   # untouched: hits
    with b.syscall(Syscall.MUNMAP):
        b.unmap(BASE + 4096, 1)
        b.shootdown(BASE + 4096, 1, cpus=3)
    c = replay(b.build(), params().setup(nested=False))
    assert (c.tlb_hits, c.tlb_misses, c.invlpg, c.ipis) == (2, 3, 2, 3)


def test_cow_faults_are_costed_and_invalidated() -> None:
    events = stream("forkwait", iterations=10)
    c = replay(events, params().setup(nested=False))
    assert c.faults_cow >= 10 * 2  # parent and child write the shared stack page
    m = evaluate(Point("forkwait", "native", params={"workload.iterations": 10, **NO_HW}))
    assert m["faults.page"] == c.faults_cow + c.faults_demand
    assert m["cycles.os.fault"] == 3000 * m["faults.page"]
    assert m["traps.total"] == 0
    assert m["cycles.total"] == pytest.approx(
        m["cycles.base"] + m["cycles.data"] + m["cycles.translation"] + m["cycles.os"]
        + m["cycles.kernel"])
    assert m["cycles.base"] == m["refs"]  # cpu.cycles_per_ref = 1
    assert m["cycles.os"] == pytest.approx(sum(
        m[f"cycles.os.{k}"] for k in ("fault", "tlb_flush", "invlpg", "ipi", "syscall")))
    # the guest kernel's work (kernel.work, on by default): its instructions at the base CPI
    assert m["cycles.kernel"] == pytest.approx(sum(
        m[f"cycles.kernel.{k}"] for k in ("instructions", "data", "translation")))
    assert m["cycles.kernel.instructions"] == m["kernel.instructions"] > 0
    assert m["cycles.os.syscall"] == 150 * m["os.syscalls"] > 0
    assert m["slowdown_vs_native"] == 1.0


def test_metrics_and_latency() -> None:
    point = {"workload.refs": 5000, "workload.footprint_mb": 16, **NO_HW}
    m = evaluate(Point("random", "native", params=point))
    assert m["refs"] == 5000 == m["tlb.l1.hits"] + m["tlb.l1.misses"]
    assert m["walk.refs"] == m["walk.refs.guest"] and m["walk.refs.nested"] == 0
    assert m["walk.refs_per_walk"] == m["walk.refs"] / m["walks"]
    # each walk reference at the latency of the level that served it (kvm-nehalem: 4, 10,
    # 40 and memory 200 cycles)
    served = [m[f"walk.refs.{lv}"] for lv in ("l1", "l2", "llc", "memory")]
    assert sum(served) == m["walk.refs"]
    assert m["cycles.translation.walk.guest"] == pytest.approx(
        sum(n * lat for n, lat in zip(served, (4, 10, 40, 200), strict=True)))
    assert m["cycles_per_ref"] == pytest.approx(m["cycles.total"] / 5000)
    # every access's latency is its walk (or L2 hit) plus its fault
    per_access = m["cycles.translation"] + m["cycles.os.fault"]
    assert m["latency.mean_cycles"] == pytest.approx(per_access / 5000)
    assert m["throughput.refs_per_s"] == pytest.approx(5000 / (m["cycles.total"] / 2.9e9))
    assert m["latency.p99_cycles"] >= 3000  # a demand fault in the top percent
    again = evaluate(Point("random", "native", params=point))
    assert again == m
    other_seed = evaluate(Point("random", "native", params={**point, "workload.seed": 2}))
    assert other_seed != m


def test_invalid_parameters_are_rejected_before_work() -> None:
    with pytest.raises(ValueError, match="4 or 5 levels"):
        NativeParams(guest_levels=3)
    with pytest.raises(ValueError, match="tlb"):
        dataclasses.replace(NativeParams(), entries=48, ways=5)


def test_cli_run_prints_hardware_metrics() -> None:
    r = run_cli("run", "--workload", "sequential", "--mechanism", "native",
                "--set", "workload.refs=2000", "--set", "tlb.l2.entries=64")
    assert r.returncode == 0, r.stderr
    for name in ("hw.tlb.area_mm2", "hw.stlb.area_mm2", "hw.walker.area_mm2", "hw.area_mm2",
                 "walk.refs_per_walk", "tlb.l1.misses"):
        assert name in r.stdout


def test_a_points_native_reference_is_keyed_by_its_workload_not_by_hashing_the_stream(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness vouches for the stream it generated (its workload key): the native
    reference's memo is keyed by that, without hashing the events; the same events given
    directly are hashed, and the reference is the same number either way."""
    import hashlib

    from codesign.harness import resolve
    from codesign.mmu import native
    from codesign.mmu.nested import run as nested_run
    from codesign.platforms import load_platform

    seen: list[str] = []
    real = native.stream_digest
    monkeypatch.setattr(native, "stream_digest", lambda ev: seen.append(real(ev)) or seen[-1])
    point = Point("random", "nested", params={"hw.cost": False, "workload.refs": 3_000})
    m = evaluate(point)
    key = resolve(point).workload_key
    assert seen == [hashlib.sha256(b"vouched\0" + key.encode()).hexdigest()]
    events = stream("random", refs=3_000)
    resolved = resolve(point)
    direct = nested_run(events, resolved.mechanism_params, load_platform("kvm-nehalem"))
    assert seen[-1] == hashlib.sha256(events.tobytes()).hexdigest()
    assert direct["slowdown_vs_native"] == m["slowdown_vs_native"]
