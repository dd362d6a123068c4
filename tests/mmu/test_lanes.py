"""Other translation hardware in one replay (:meth:`codesign.mmu.replay.Replay.vary_hardware`):
each lane's counts -- TLBs, second-level TLB, page-walk caches, nested TLB, data cache, the
guest kernel's and the warm-up's -- are exactly those of a replay with its hardware alone,
on random sizes (hypothesis) and on every workload kind that flushes, switches, forks or
changes translations; the replays that decide by their walks refuse lanes."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.mmu import replay as replay_module
from codesign.mmu.agile import AgileParams
from codesign.mmu.agile import _make as agile_make
from codesign.mmu.native import NativeParams
from codesign.mmu.nested import NestedParams
from codesign.mmu.replay import LANE_FIELDS, Counts, Replay, drive, replay
from codesign.mmu.shadow import ShadowParams
from codesign.mmu.shadow import _make as shadow_make
from codesign.params import build
from codesign.platforms import load_platform
from tests.mmu.conftest import stream
from workloads.memory.events import Prot, StreamBuilder

KIB, MIB = 1 << 10, 1 << 20
HARDWARE: list[dict[str, Any]] = [
    {},
    {"tlb.l1.entries": 16, "tlb.l1.ways": 4},
    {"tlb.l1.entries": 128, "tlb.l1.ways": 8, "tlb.l1.policy": "plru"},
    {"tlb.l1.entries": 32, "tlb.l1.ways": 32, "tlb.l1.policy": "random"},
    {"tlb.l1.2m.entries": 0, "tlb.l1.1g.entries": 0},
    {"tlb.l2.entries": 0},
    {"tlb.l2.entries": 256, "tlb.l2.ways": 4, "tlb.l2.2m": False},
    {"tlb.l2.entries": 64, "tlb.l2.ways": 2, "tlb.l2.1g.entries": 0, "tlb.l2.policy": "plru"},
    {"pwc.entries": 0},
    {"pwc.guest.entries": 2, "pwc.nested.entries": 64},
    {"ntlb.entries": 0},
    {"ntlb.entries": 8, "ntlb.ways": 2},
    {"cache.l1.size": 16 * KIB, "cache.l1.ways": 4, "cache.llc.size": MIB},
    {"cache.l2.size": 0, "tlb.l1.entries": 32, "tlb.l1.ways": 4},
]
"""Translation hardware of other sizes (and data caches with them): each key of
:data:`codesign.mmu.onepass.TRANSLATION_KEYS` changed somewhere, absent levels included."""
WORKLOADS: dict[str, dict[str, Any]] = {
    "random": {"refs": 4_000, "footprint_mb": 4},
    "forkwait": {"iterations": 12},
    "mmap-churn": {"cycles": 6},
    "context-switch": {"refs": 4_000},
    "multi-vm": {},
}
"""A workload of each kind of event: first touches, fork and exit (copy-on-write, flushes,
the guest kernel's work), unmap and protect (INVLPG), process switches (CR3 writes, PCIDs
recycled), VM switches (VM exits)."""


def setups(cls: type, nested: bool, hardware: list[dict[str, Any]],
           **extra: Any) -> list[Any]:
    return [build(cls, {**h, **extra}).setup(nested=nested) for h in hardware]


def summary(c: Counts) -> tuple[Any, ...]:
    own = (c.tlb_misses, c.tlb_evictions, c.l2_misses, c.walks, tuple(c.served))
    return own + (summary(c.kernel) if c.kernel is not None else ())


def check(events: np.ndarray, ss: list[Any]) -> list[Counts]:
    """One replay with a lane per setup after the first; each lane's counts must be those
    of its setup's replay alone."""
    r = Replay(ss[0])
    r.vary_hardware(ss[1:])
    drive(r, events)
    got = [r.c] + [r.lane_counts(k) for k in range(len(ss) - 1)]
    for k, s in enumerate(ss):
        alone = replay(events, s)
        assert got[k] == alone, f"lane {k}: " + ", ".join(
            f.name for f in fields(Counts) if getattr(got[k], f.name) != getattr(alone, f.name))
    return got


@pytest.mark.parametrize("workload", WORKLOADS)
@pytest.mark.parametrize("cls,nested", [(NativeParams, False), (NestedParams, True)],
                         ids=["native", "nested"])
def test_each_lane_is_a_replay_with_its_hardware(workload: str, cls: type,
                                                 nested: bool) -> None:
    events = stream(workload, **WORKLOADS[workload])
    got = check(events, setups(cls, nested, HARDWARE, **{"measure.warmup": 0.2}))
    # the hardware mattered: the lanes count differently
    assert len({summary(c) for c in got}) >= len(got) // 2
    if workload == "forkwait":
        assert got[0].kernel is not None and got[0].kernel.refs > 0
        assert len({c.kernel.tlb_misses for c in got if c.kernel is not None}) > 1


def test_lanes_without_pcids_or_vpids_see_every_flush() -> None:
    """Untagged TLBs: every CR3 write and VM exit flushes each lane's TLBs."""
    off = {"tlb.pcid": False, "tlb.vpid": False}
    for workload in ("context-switch", "multi-vm"):
        events = stream(workload, **WORKLOADS[workload])
        got = check(events, setups(NestedParams, True, HARDWARE[:6], **off))
        assert got[0].tlb_flushes > 0 or got[0].vm_switches > 0


def protected_huge_pages() -> np.ndarray:
    """A process that touches 64 2 MiB pages (more than the first-level TLB's 2 MiB array
    holds: the second level keeps them), write-protects each, and reads them all again."""
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    base, huge = 1 << 30, 512
    b.map(base, pages=64 * huge)
    for rnd in range(2):
        for i in range(64):
            b.access(base + i * huge * 4096 + 64 * rnd, write=rnd == 0)
        if rnd == 0:
            for i in range(0, 64, 2):
                b.protect(base + i * huge * 4096, huge, int(Prot.READ))
    return b.build()


def test_lanes_whose_second_level_tlb_holds_2m_pages_see_their_invalidations() -> None:
    """Under 2 MiB guest pages, a lane whose second-level TLB holds 2 MiB entries gets the
    INVLPGs of their keys beside a replay whose second-level TLB holds none, and the other
    way round."""
    events = protected_huge_pages()
    hardware = [{"tlb.l2.2m": False}, {}, {"tlb.l2.entries": 256, "tlb.l2.ways": 4}]
    for order in (hardware, hardware[::-1]):
        got = check(events, setups(NativeParams, False, order, **{"guest.huge_pages": "2M"}))
        assert got[0].invlpg == 32
        held = [c for c, h in zip(got, order, strict=True) if h.get("tlb.l2.2m", True)]
        assert all(c.l2_hits >= 32 for c in held)  # the unprotected half hit it


@settings(max_examples=12, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(HARDWARE), min_size=2, max_size=5),
       st.sampled_from(sorted(WORKLOADS)), st.booleans(), st.integers(1, 1000))
def test_lanes_of_any_hardware(hardware: list[dict[str, Any]], workload: str, nested: bool,
                               seed: int) -> None:
    events = stream(workload, **WORKLOADS[workload], seed=seed)
    check(events, setups(NestedParams if nested else NativeParams, nested, hardware))


def test_lane_counts_take_the_lanes_own_fields_only() -> None:
    """The counts a lane keeps are what the pipeline counts; the rest are the replay's."""
    events = stream("forkwait", iterations=4)
    r = Replay(NativeParams().setup(nested=False))
    r.vary_hardware([build(NativeParams, {"tlb.l1.entries": 16,
                                          "tlb.l1.ways": 4}).setup(nested=False)])
    drive(r, events)
    lane = r.lanes[0].c
    assert lane.faults_demand == lane.cr3_writes == lane.kernel_instructions == 0
    merged = r.lane_counts(0)
    assert merged.faults_demand == r.c.faults_demand > 0
    assert merged.tlb_evictions == lane.tlb_evictions != r.c.tlb_evictions
    assert merged.kernel is not None and lane.kernel is not None and r.c.kernel is not None
    assert merged.kernel.per_access == lane.kernel.per_access and merged.kernel.refs > 0
    assert {"tlb_misses", "walks", "served", "per_access"} <= set(LANE_FIELDS)


def test_replays_that_decide_by_their_walks_refuse_lanes() -> None:
    platform = load_platform("modern-x86")
    small = {"tlb.l1.entries": 16, "tlb.l1.ways": 4}
    for make, cls in ((shadow_make, ShadowParams), (agile_make, AgileParams)):
        r = make(cls(), platform)
        with pytest.raises(ValueError, match="decides by what its walks find"):
            r.vary_hardware([build(cls, small).setup(nested=r.s.nested)])


@pytest.mark.parametrize("other,why", [
    ({"guest.levels": 5}, "differ only in the sizes"),
    ({"tlb.pcid": False}, "differ only in the sizes"),
    ({"measure.warmup": 0.5}, "differ only in the sizes"),
])
def test_lanes_differ_only_in_sizes(other: dict[str, Any], why: str) -> None:
    r = Replay(NativeParams().setup(nested=False))
    with pytest.raises(ValueError, match=why):
        r.vary_hardware([build(NativeParams, other).setup(nested=False)])


def test_lanes_are_set_once_before_the_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    small = build(NativeParams, {"tlb.l1.entries": 16, "tlb.l1.ways": 4}).setup(nested=False)
    base = NativeParams().setup(nested=False)
    llc = build(NativeParams, {"cache.llc.size": MIB}).setup(nested=False).cache
    r = Replay(base)
    drive(r, stream("random", refs=100))
    with pytest.raises(ValueError, match="before the replay starts"):
        r.vary_hardware([small])
    r = Replay(base)
    r.vary_hardware([small])
    with pytest.raises(ValueError, match="lanes are already set"):
        r.vary_hardware([small])
    r.vary_caches([llc], lane=0)
    with pytest.raises(ValueError, match="variants are already set"):
        r.vary_caches([llc], lane=0)
    monkeypatch.setattr(replay_module, "MAX_LANE_BYTES", 1 << 10)
    with pytest.raises(ValueError, match="lanes would hold"):
        Replay(base).vary_hardware([small])


@pytest.mark.parametrize("workload", ["random", "forkwait"])
@pytest.mark.parametrize("cls,nested", [(NativeParams, False), (NestedParams, True)],
                         ids=["native", "nested"])
def test_lanes_with_data_cache_variants_of_their_own(workload: str, cls: type,
                                                      nested: bool) -> None:
    """Setups of three translation hardwares, each with three data caches (an LLC, an L2
    and LLC pair, a placement seed): one replay, a lane per translation hardware, each
    with the other data caches of its setups beside its own (:meth:`Replay.vary`); every
    setup's counts are its own replay's."""
    events = stream(workload, **WORKLOADS[workload])
    translation = [{}, {"tlb.l1.entries": 16, "tlb.l1.ways": 4},
                   {"pwc.entries": 0, "tlb.l2.entries": 0}]
    caches = [{}, {"cache.llc.size": MIB}, {"cache.l2.size": 128 * KIB, "cache.l2.ways": 8},
              {"cache.placement": "uncoloured", "cache.placement_seed": 2}]
    ss = [build(cls, {**t, **c}).setup(nested=nested) for c in caches for t in translation]
    r = Replay(ss[0])
    r.vary(ss)
    assert len(r.lanes) == 2
    assert r.llc_variants is None and r.cache_tails is not None  # tails: L2 and placement
    drive(r, events)
    for i, setup in enumerate(ss):
        assert r.counts_of(i) == replay(events, setup), f"setup {i}"
    assert len({summary(r.counts_of(i)) for i in range(len(ss))}) >= 6


def test_lanes_of_llcs_alone_take_mattson_stacks() -> None:
    events = stream("random", **WORKLOADS["random"])
    ss = [build(NativeParams, {"tlb.l1.entries": e, "tlb.l1.ways": 4,
                               "cache.llc.size": m * MIB}).setup(nested=False)
          for e in (16, 64) for m in (1, 2, 4)]
    r = Replay(ss[0])
    r.vary(ss)
    assert r.llc_variants is not None and r.lanes[0].llc_variants is not None
    drive(r, events)
    for i, setup in enumerate(ss):
        assert r.counts_of(i) == replay(events, setup), f"setup {i}"


def test_lanes_whose_variants_differ_from_the_replays() -> None:
    """The replay's own variants are L2 and LLC pairs (after a shared L1), one lane's whole
    data caches (another L1), another lane's none: each hardware counts its variants by
    its own start level."""
    events = stream("forkwait", **WORKLOADS["forkwait"])
    small = {"tlb.l1.entries": 16, "tlb.l1.ways": 4}
    keys = [{}, {"cache.l2.size": 128 * KIB, "cache.l2.ways": 8},
            small, {**small, "cache.l1.size": 8 * KIB, "cache.l1.ways": 2},
            {"pwc.entries": 0}]
    ss = [build(NestedParams, k).setup(nested=True) for k in keys]
    r = Replay(ss[0])
    r.vary(ss)
    assert r.cache_tails is not None and r.cache_tails.start == 1
    lane = r.lanes[0].cache_tails
    assert lane is not None and lane.start == 0 and r.lanes[1].cache_tails is None
    drive(r, events)
    for i, setup in enumerate(ss):
        assert r.counts_of(i) == replay(events, setup), f"setup {i}"
