"""Steady-state measurement (``measure.warmup``): the first part of a stream's accesses warms
the TLBs, caches, tables, shadows and host backing, and the metrics count the rest.

Published comparisons of MMU virtualization (Bhargava et al. 2008, VMware 2009, Wang et al.
2011) measured benchmarks long past their first touch of memory; a short model run is
dominated by first touches unless they are left out."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np
import pytest

from codesign.errors import InputError
from codesign.harness import Point, evaluate
from codesign.metrics import Metrics
from codesign.mmu.native import NativeParams
from codesign.mmu.replay import FAULT_CHUNK, Counts, Replay, drive, replay
from codesign.mmu.shadow import ShadowParams, ShadowReplay
from codesign.params import build
from tests.mmu.conftest import stream
from workloads.memory.events import Ev

NO_HW = {"hw.cost": False}
GUPS = {"workload.refs": 60_000, "workload.footprint_mb": 4, "workload.seed": 3}


def metrics(mechanism: str, **values: Any) -> Metrics:
    return evaluate(Point("random", mechanism, platform="kvm-nehalem",
                          params={**GUPS, **values, **NO_HW}))


ADDITIVE = [f.name for f in fields(Counts)
            if f.name not in ("kernel", "kernel_stream", "served", "per_access", "variants")]


@pytest.mark.parametrize("workload, params", [
    ("random", {"refs": 30_000, "footprint_mb": 4}),
    ("forkwait", {"iterations": 1500}),
    ("mmap-churn", {"cycles": 400}),
])
def test_the_counts_after_the_mark_are_the_whole_runs_less_the_warm_ups(
        workload: str, params: dict) -> None:
    """Restarting the counts changes no state: a replay's counts with a warm-up equal the
    whole replay's less those of the warm-up part replayed alone, count by count (served
    levels and the kernel's counts included)."""
    events = stream(workload, **params)
    p = build(NativeParams, {"measure.warmup": 0.4})
    setup = p.setup(nested=False)
    warm = replay(events, setup)
    whole = replay(events, build(NativeParams, {}).setup(nested=False))
    accesses = np.flatnonzero(events["op"] == Ev.ACCESS)
    k = int(0.4 * len(accesses)) // FAULT_CHUNK * FAULT_CHUNK  # whole chunks
    assert 0 < k < len(accesses)
    head = replay(events[:int(accesses[k])], build(NativeParams, {}).setup(nested=False))
    assert warm.refs == whole.refs - head.refs == len(accesses) - k
    for name in ADDITIVE:
        assert getattr(warm, name) == getattr(whole, name) - getattr(head, name), name
    assert warm.served == [a - b for a, b in zip(whole.served, head.served, strict=True)]
    assert whole.kernel is not None and warm.kernel is not None and head.kernel is not None
    assert warm.kernel.refs == whole.kernel.refs - head.kernel.refs


def test_shadow_pagings_own_counts_restart_too() -> None:
    """The shadow MMU's counts (fills, injected faults, exits) restart at the mark like the
    replay's, while its pool -- the shadows built during the warm-up -- stays."""
    events = stream("mmap-churn", cycles=400)
    p = build(ShadowParams, {})
    whole = ShadowReplay(p.setup(nested=False), p.cache, p.pool)
    drive(whole, events)
    accesses = np.flatnonzero(events["op"] == Ev.ACCESS)
    head = ShadowReplay(p.setup(nested=False), p.cache, p.pool)
    drive(head, events[:int(accesses[len(accesses) // 2 // FAULT_CHUNK * FAULT_CHUNK])])
    warm_p = build(ShadowParams, {"measure.warmup": 0.5})
    warm = ShadowReplay(warm_p.setup(nested=False), warm_p.cache, warm_p.pool)
    drive(warm, events)
    for name in ("pt_write", "injected", "fills", "cr3_write", "invlpg", "unsync"):
        assert getattr(warm.t, name) == getattr(whole.t, name) - getattr(head.t, name), name
    assert whole.t.fills > warm.t.fills > 0
    assert warm.t.pages == whole.t.pages  # the pool's high-water mark is state, not a count


@pytest.mark.parametrize("workload, params", [
    ("mmap-churn", {"cycles": 400}),
    ("forkwait", {"iterations": 1500}),
])
def test_pv_directs_hypercalls_restart_too(workload: str, params: dict) -> None:
    """pv-direct's own counts -- hypercalls issued and those queued per system call in
    lazy-MMU mode, bounces, validated pages -- restart at the mark: after it they are the
    whole run's less the warm-up's. (The queued batches once survived the mark, and the
    steady state counted the warm-up's hypercalls.)"""
    from codesign.mmu.pv_direct import PVParams, PVReplay
    from codesign.platforms import load_platform

    v = load_platform("kvm-nehalem").value

    def make(warmup: float) -> PVReplay:
        p = build(PVParams, {"measure.warmup": warmup})
        return PVReplay(p.setup(nested=False), p.batch, v("hypercall.null"), v("pv.update"),
                        v("pv.validate_page"))

    events = stream(workload, **params)
    accesses = np.flatnonzero(events["op"] == Ev.ACCESS)
    k = len(accesses) // 2 // FAULT_CHUNK * FAULT_CHUNK
    assert k > 0
    whole, head, warm = make(0.0), make(0.0), make(0.5)
    drive(whole, events)
    drive(head, events[:int(accesses[k])])
    drive(warm, events)
    for name in ("mmu_update", "mmuext_op", "pf_bounce", "syscall_bounce", "updates",
                 "validated_pages"):
        assert getattr(warm.t, name) == getattr(whole.t, name) - getattr(head.t, name), name
    assert warm.totals() == tuple(a - b for a, b in zip(whole.totals(), head.totals(),
                                                        strict=True))
    assert 0 < warm.totals()[0] < whole.totals()[0]


def test_in_steady_state_gups_runs_under_shadow_paging_as_natively() -> None:
    """GUPS over 4 MiB, 60 references per page: once the warm-up has touched every page,
    shadow paging has nothing left to exit for -- its walks are native 1D walks of the
    shadow table -- and translates exactly as native paging does, where nested paging pays
    its 2D walks (Wang et al.: shadow paging wins TLB-bound steady state). Its cycles differ
    from native ones only by where the data lines sit (the host frames backing the guest's
    pages, as under nested paging, against the native machine's own frames)."""
    native, shadow, nested = (metrics(m, **{"measure.warmup": 0.5})
                              for m in ("native", "shadow", "nested"))
    assert native["faults.page"] == shadow["traps.total"] == 0
    warm = GUPS["workload.refs"] // 2 // FAULT_CHUNK * FAULT_CHUNK  # whole chunks
    assert shadow["refs"] == GUPS["workload.refs"] - warm
    for key in ("tlb.l1.misses", "tlb.l2.misses", "walk.refs.guest", "refs"):
        assert shadow[key] == native[key], key
    assert shadow["cycles.data"] != native["cycles.data"]  # other frames, other conflicts
    assert shadow["cycles.total"] == pytest.approx(native["cycles.total"], rel=0.005)
    assert nested["cycles.total"] > shadow["cycles.total"]
    assert nested["walk.refs.nested"] > 0 and nested["traps.total"] == 0
    # from the first access, first touches dominate: nested paging's one EPT violation per
    # page beats shadow paging's injected fault and hidden fill
    cold = {m: metrics(m)["cycles.total"] for m in ("shadow", "nested")}
    assert cold["nested"] < cold["shadow"]


def test_slowdown_is_against_the_native_steady_state() -> None:
    """``slowdown_vs_native`` compares like with like: the native reference skips the same
    warm-up."""
    shadow = metrics("shadow", **{"measure.warmup": 0.5})
    warm, cold = (metrics("native", **{"measure.warmup": w})["cycles.total"] for w in (0.5, 0))
    assert shadow["slowdown_vs_native"] == shadow["cycles.total"] / warm
    assert shadow["slowdown_vs_native"] == pytest.approx(1.0, abs=0.005)
    assert shadow["cycles.total"] / cold < 0.6


def test_selective_counts_only_what_follows_the_mark() -> None:
    """The policy runs on through the mark (its mode and windows are state); its switches,
    windows and traps restart there."""
    m = metrics("selective", **{"measure.warmup": 0.5, "selective.window": 2_000})
    whole = metrics("selective", **{"selective.window": 2_000})
    measured = GUPS["workload.refs"] - GUPS["workload.refs"] // 2 // FAULT_CHUNK * FAULT_CHUNK
    assert m["selective.windows"] == -(-measured // 2_000)  # the last one partial
    assert whole["selective.windows"] == GUPS["workload.refs"] // 2_000
    assert m["traps.total"] < whole["traps.total"]


@pytest.mark.parametrize("value", [-0.1, 1.0, "half"])
def test_a_warm_up_outside_0_to_0_99_is_a_keyed_error(value: object) -> None:
    with pytest.raises(InputError, match=r"measure\.warmup"):
        metrics("native", **{"measure.warmup": value})


def test_no_warm_up_is_the_replay_as_before() -> None:
    events = stream("random", refs=5_000, footprint_mb=2)
    setup = build(NativeParams, {}).setup(nested=False)
    r = Replay(setup)
    drive(r, events)
    assert r.c == replay(events, setup)
    assert r.c.refs == 5_000
