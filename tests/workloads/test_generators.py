"""Generated streams: deterministic per seed, the numbers their parameters promise, valid."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.params import build
from codesign.registry import default_registry
from workloads.memory.common import HEAP_BASE, MMAP_BASE, STACK_TOP, TEXT_BASE
from workloads.memory.events import PAGE, Access, Ev, Prot, summarize, validate

DERANDOMIZED = settings(derandomize=True, deadline=None, max_examples=15)

SMALL = {
    "sequential": {"workload.refs": 5000, "workload.footprint_mb": 2,
                   "workload.write_fraction": 0.25},
    "strided": {"workload.refs": 5000, "workload.footprint_mb": 2,
                "workload.write_fraction": 0.1},
    "random": {"workload.refs": 5000, "workload.footprint_mb": 4},
    "zipf": {"workload.refs": 5000, "workload.footprint_mb": 4},
    "pointer-chase": {"workload.refs": 5000, "workload.footprint_mb": 4},
    "forkwait": {"workload.iterations": 40},
    "mmap-churn": {"workload.cycles": 80, "workload.remote_cpus": 2},
    "context-switch": {"workload.refs": 20_000, "workload.time_slice": 700},
    "multi-vm": {"workload.refs": 30_000, "workload.vms": 3, "workload.time_slice": 900,
                 "workload.vm_time_slice": 4000},
}


def generate(name: str, **params: object) -> np.ndarray:
    w = default_registry().workload(name)
    ev = w.generate(build(w.params, {f"workload.{k}": v for k, v in params.items()}))
    validate(ev)
    return ev


def test_every_generated_memory_workload_has_a_small_case() -> None:
    generated = {n for n, w in default_registry().workloads.items()
                 if w.kind == "memory" and n != "lackey"}
    assert generated == set(SMALL)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_deterministic_per_seed_and_different_across_seeds(name: str) -> None:
    w = default_registry().workload(name)
    one, again, other = (w.generate(build(w.params, {**SMALL[name], "workload.seed": s}))
                         for s in (1, 1, 2))
    validate(one)
    validate(other)
    assert one.tobytes() == again.tobytes()
    assert one.tobytes() != other.tobytes()


def pages_of(ev: np.ndarray) -> np.ndarray:
    return ev["va"][ev["op"] == Ev.ACCESS] >> np.uint64(12)


def region_offsets(ev: np.ndarray) -> np.ndarray:
    return (ev["va"][ev["op"] == Ev.ACCESS] - np.uint64(MMAP_BASE)).astype(np.int64)


def test_sequential_walks_the_footprint_in_elements_and_wraps() -> None:
    ev = generate("sequential", refs=3000, footprint_mb=1, element_bytes=1000,
                  write_fraction=0.25)
    c = summarize(ev)
    assert (c.accesses, c.mapped_pages, c.writes, c.reads) == (3000, 256, 750, 2250)
    offsets = region_offsets(ev)
    assert offsets.tolist() == [(i * 1000) % (1 << 20) for i in range(3000)]
    assert c.touched_pages == 256  # 3,000,000 bytes wrap the 1 MiB region twice


def test_strided_touches_a_new_page_per_reference_until_it_wraps() -> None:
    ev = generate("strided", refs=1000, footprint_mb=1, stride=4096)
    c = summarize(ev)
    assert (c.accesses, c.touched_pages, c.writes) == (1000, 256, 0)
    counts = np.bincount(pages_of(ev) - np.uint64(MMAP_BASE >> 12))
    assert sorted(set(counts.tolist())) == [3, 4]  # 1000 = 3 x 256 + 232
    odd = region_offsets(generate("strided", refs=500, footprint_mb=1, stride=3000))
    assert odd.tolist() == [(i * 3000) % (1 << 20) for i in range(500)]


def test_random_gups_reads_then_writes_the_same_random_word() -> None:
    ev = generate("random", refs=20_001, footprint_mb=8)
    acc = ev[ev["op"] == Ev.ACCESS]
    c = summarize(ev)
    assert (c.accesses, c.reads, c.writes, c.mapped_pages) == (20_001, 10_001, 10_000, 2048)
    assert (acc["va"][:-1:2] == acc["va"][1::2]).all()
    assert acc["arg"][:-1:2].tolist() == [Access.READ] * 10_000
    assert (acc["va"] % np.uint64(8) == 0).all()
    # 10,001 uniform updates over 2048 pages leave e^(-10001/2048) = 0.76% untouched.
    assert abs((2048 - c.touched_pages) - 2048 * math.exp(-10_001 / 2048)) < 12


def test_random_without_read_modify_write_has_the_exact_write_fraction() -> None:
    c = summarize(generate("random", refs=9999, footprint_mb=8, read_modify_write=False,
                           write_fraction=0.37))
    assert (c.accesses, c.writes) == (9999, round(9999 * 0.37))


def test_zipf_top_page_frequency_follows_the_exponent() -> None:
    refs, pages, s = 100_000, 4096, 1.1
    ev = generate("zipf", refs=refs, footprint_mb=pages // 256, zipf_s=s, write_fraction=0.2)
    counts = np.sort(np.bincount(pages_of(ev) - np.uint64(MMAP_BASE >> 12)))[::-1]
    harmonic = sum(k ** -s for k in range(1, pages + 1))
    for rank in (1, 2, 10):
        expected = refs * rank ** -s / harmonic
        assert abs(counts[rank - 1] - expected) < 5 * math.sqrt(expected), rank
    assert summarize(ev).writes == 20_000
    hottest = np.argsort(np.bincount(pages_of(ev) - np.uint64(MMAP_BASE >> 12)))[::-1][:10]
    assert np.ptp(hottest) > 100  # the hot pages are scattered, not neighbours
    flat = generate("zipf", refs=refs, footprint_mb=pages // 256, zipf_s=0.0)
    assert np.bincount(pages_of(flat) - np.uint64(MMAP_BASE >> 12)).max() < 3 * refs / pages


def test_pointer_chase_visits_every_node_once_per_lap() -> None:
    nodes = (1 << 20) // 256
    ev = generate("pointer-chase", refs=2 * nodes + 10, footprint_mb=1, node_bytes=256)
    offsets = region_offsets(ev)
    assert (offsets % 256 == 0).all()
    lap = offsets[:nodes]
    assert len(set(lap.tolist())) == nodes
    assert (offsets[nodes:2 * nodes] == lap).all() and (offsets[2 * nodes:] == lap[:10]).all()
    short = region_offsets(generate("pointer-chase", refs=500, footprint_mb=64))
    assert len(set(short.tolist())) == 500


def test_forkwait_structure() -> None:
    n, child_pages = 30, 5
    ev = generate("forkwait", iterations=n, heap_pages=16, child_pages=child_pages)
    c = summarize(ev)
    assert (c.forks, c.exits, c.processes, c.spawns) == (n, n, n + 1, 1)
    assert c.switches == 2 * n + 1 and c.syscalls == 3 * n + 1  # execve; fork, wait4, exit
    exits = ev["pid"][ev["op"] == Ev.EXIT]
    assert sorted(exits.tolist()) == list(range(2, n + 2))  # each child once, parent never
    for child in range(2, n + 2):
        named = np.flatnonzero((ev["pid"] == child) | ((ev["op"] == Ev.FORK)
                                                       & (ev["arg"] == child)))
        first = ev[named[0]]
        assert first["op"] == Ev.FORK and first["pid"] == 1
        acc = ev[(ev["op"] == Ev.ACCESS) & (ev["pid"] == child)]
        assert len(acc) == child_pages
        assert len(np.unique(acc["va"] >> np.uint64(12))) == child_pages
        assert acc["va"][0] == STACK_TOP - 8 and acc["arg"][0] == Access.WRITE
        assert TEXT_BASE <= acc["va"][1] < TEXT_BASE + 16 * PAGE
        assert ((acc["va"][2:] >= HEAP_BASE) & (acc["va"][2:] < HEAP_BASE + 16 * PAGE)).all()
    # the parent populated its whole image before the first fork
    first_fork = int(np.argmax(ev["op"] == Ev.FORK))
    assert summarize(ev[:first_fork]).touched_pages == 16 + 16 + 8


def test_forkwait_refuses_more_child_pages_than_heap() -> None:
    from codesign.errors import InputError

    with pytest.raises(InputError, match="child_pages \\(10\\) - 2 must not exceed"):
        generate("forkwait", heap_pages=4, child_pages=10)


def test_mmap_churn_cycles_regions_and_shootdowns() -> None:
    cycles, live = 120, 3
    ev = generate("mmap-churn", cycles=cycles, live_regions=live, remote_cpus=2,
                  protect_probability=0.5)
    c = summarize(ev)
    assert (c.maps, c.unmaps) == (cycles + 3, cycles - live)
    assert c.shootdowns == c.unmaps + c.protects
    assert abs(c.protects - cycles / 2) < 4 * math.sqrt(cycles / 4)
    downs = np.flatnonzero(ev["op"] == Ev.SHOOTDOWN)
    before = ev[downs - 1]
    assert np.isin(before["op"], [Ev.UNMAP, Ev.PROTECT]).all()
    assert (before["va"] == ev["va"][downs]).all() and (before["pages"] == ev["pages"][downs]).all()
    assert (ev["syscall"][downs] == before["syscall"]).all() and (ev["arg"][downs] == 2).all()
    assert (ev["arg"][ev["op"] == Ev.PROTECT] == Prot.READ).all()
    live_now, most = 0, 0
    for op in ev["op"][np.isin(ev["op"], [Ev.MAP, Ev.UNMAP])][3:]:
        live_now += 1 if op == Ev.MAP else -1
        most = max(most, live_now)
    assert most == live + 1
    maps = ev[ev["op"] == Ev.MAP][3:]
    assert len(np.unique(maps["va"])) < len(maps)  # top-down placement reuses freed space
    assert maps["va"].max() + maps["pages"][np.argmax(maps["va"])] * PAGE <= MMAP_BASE + (1 << 30)
    region_pages = maps["pages"]
    assert region_pages.min() >= 1 and region_pages.max() <= 2 * 16 - 1
    quiet = summarize(generate("mmap-churn", cycles=50))
    assert quiet.shootdowns == 0


def test_context_switch_round_robin_every_time_slice() -> None:
    refs, slice_, procs = 20_000, 700, 4
    ev = generate("context-switch", refs=refs, time_slice=slice_, processes=procs,
                  working_set_pages=64, write_fraction=0.3)
    c = summarize(ev)
    slices = math.ceil(refs / slice_)
    assert (c.switches, c.maps, c.spawns, c.writes) == (slices, procs, procs, 6000)
    switched_to = ev["pid"][ev["op"] == Ev.SWITCH]
    assert switched_to.tolist() == [1 + i % procs for i in range(slices)]
    acc_pid = ev["pid"][ev["op"] == Ev.ACCESS]
    assert (acc_pid == np.repeat(switched_to, slice_)[:refs]).all()
    assert c.touched_pages == procs * 64
    assert (pages_of(ev) - np.uint64(MMAP_BASE >> 12) < 64).all()  # same VAs in every process
    single = summarize(generate("context-switch", refs=5000, processes=1, time_slice=100))
    assert single.switches == 1


def test_multi_vm_switches_vms_and_processes_on_their_own_clocks() -> None:
    refs, vms, procs, slice_, vm_slice = 30_000, 3, 2, 900, 4000
    ev = generate("multi-vm", refs=refs, vms=vms, processes=procs, time_slice=slice_,
                  vm_time_slice=vm_slice)
    c = summarize(ev)
    assert c.vm_switches == math.ceil(refs / vm_slice) - 1
    assert (c.vms, c.processes, c.maps) == (vms, vms * procs, vms * procs)
    acc = ev[ev["op"] == Ev.ACCESS]
    vm_order = acc["vm"][::vm_slice]
    assert vm_order.tolist() == [i % vms for i in range(len(vm_order))]
    for vm in range(vms):
        pids = acc["pid"][acc["vm"] == vm]  # the VM's own time: a switch every slice
        expected = np.repeat([1 + i % procs for i in range(len(pids) // slice_ + 1)], slice_)
        assert (pids == expected[: len(pids)]).all(), vm


@DERANDOMIZED
@given(refs=st.integers(1, 3000), footprint=st.integers(1, 8), wf=st.floats(0, 1),
       name=st.sampled_from(["sequential", "strided", "zipf", "pointer-chase"]),
       seed=st.integers(0, 2**63 - 1))
def test_synthetic_counts_hold_for_any_parameters(refs: int, footprint: int, wf: float,
                                                  name: str, seed: int) -> None:
    c = summarize(generate(name, refs=refs, footprint_mb=footprint, write_fraction=wf,
                           seed=seed))
    assert (c.accesses, c.writes, c.mapped_pages) == (refs, round(refs * wf), footprint * 256)
    assert (c.maps, c.switches, c.processes) == (1, 1, 1)


@DERANDOMIZED
@given(cycles=st.integers(1, 60), region=st.integers(1, 40), live=st.integers(0, 6),
       touch=st.floats(0, 1), protect=st.floats(0, 1), refs=st.integers(0, 50),
       cpus=st.integers(0, 3), seed=st.integers(0, 1000))
def test_mmap_churn_is_valid_for_any_parameters(cycles: int, region: int, live: int,
                                                touch: float, protect: float, refs: int,
                                                cpus: int, seed: int) -> None:
    c = summarize(generate("mmap-churn", cycles=cycles, region_pages=region, live_regions=live,
                           touch_fraction=touch, protect_probability=protect,
                           refs_per_cycle=refs, remote_cpus=cpus, seed=seed))
    assert (c.maps, c.unmaps) == (cycles + 3, max(0, cycles - live))
    assert c.shootdowns == (c.unmaps + c.protects if cpus else 0)


@DERANDOMIZED
@given(vms=st.integers(1, 4), procs=st.integers(1, 4), slice_=st.integers(1, 500),
       vm_slice=st.integers(1, 2000), refs=st.integers(1, 4000), seed=st.integers(0, 1000))
def test_multi_vm_is_valid_for_any_schedule(vms: int, procs: int, slice_: int, vm_slice: int,
                                            refs: int, seed: int) -> None:
    c = summarize(generate("multi-vm", vms=vms, processes=procs, time_slice=slice_,
                           vm_time_slice=vm_slice, refs=refs, working_set_pages=8, seed=seed))
    assert c.accesses == refs
    assert c.vm_switches == (math.ceil(refs / vm_slice) - 1 if vms > 1 else 0)
