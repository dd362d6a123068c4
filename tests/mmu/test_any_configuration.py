"""Any configuration a user can write runs or is refused with a one-line input error: random
combinations of the structural knobs (table heights, page sizes, tags, TLB arrays, walk
caches, data cache, the guest kernel's work, warm-up) under every memory mechanism, on
every kind of memory workload (hypothesis). Never an internal error: the replay checks
every walk's frame against the guest model, so a model that disagrees with itself stops
here (as 5-level tables with the guest kernel's work once did)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.errors import InputError
from codesign.harness import Point, evaluate
from codesign.params import specs
from codesign.registry import default_registry

MECHANISMS = ("native", "nested", "shadow", "pv-direct", "agile", "selective", "precopy",
              "postcopy")
WORKLOADS: dict[str, dict[str, Any]] = {
    "random": {"workload.refs": 2_000, "workload.footprint_mb": 4},
    "forkwait": {"workload.iterations": 3},
    "mmap-churn": {"workload.cycles": 3},
    "context-switch": {"workload.refs": 2_000},
    "multi-vm": {"workload.refs": 2_000},
    "zipf": {"workload.refs": 2_000},
}
KNOBS: dict[str, list[Any]] = {
    "guest.levels": [4, 5], "host.levels": [2, 3, 4, 5], "host.page_size": ["4K", "2M", "1G"],
    "guest.huge_pages": ["none", "2M"], "tlb.pcid": [True, False], "tlb.vpid": [True, False],
    "tlb.va_bits": [48, 57], "tlb.l2.2m": [True, False], "tlb.l2.entries": [0, 48, 1536],
    "tlb.l1.entries": [0, 16, 64], "tlb.l1.2m.entries": [0, 32], "tlb.l2.1g.entries": [0, 16],
    "tlb.l1.policy": ["lru", "plru", "random"], "pwc.entries": [0, 1, 32],
    "ntlb.entries": [0, 16], "kernel.work": [True, False], "measure.warmup": [0.0, 0.5],
    "cache.llc.size": [0, 1 << 20], "cache.l1.size": [0, 32 << 10], "cache.line": [32, 128],
    "cache.inclusion": ["nine", "inclusive"],
    "cache.placement": ["ordered", "scattered", "uncoloured"], "host.prealloc": [True, False],
    "migration.logging": ["write-protect", "pml", "scan", "pv-logdirty"],
    "migration.mmu": ["nested", "shadow", "pv-direct"],
}


@st.composite
def points(draw: st.DrawFn, mechanism: str) -> Point:
    workload = draw(st.sampled_from(sorted(WORKLOADS)))
    own = {s.key for s in specs(default_registry().mechanism(mechanism).params)}
    keys = draw(st.lists(st.sampled_from(sorted(k for k in KNOBS if k in own)), min_size=1,
                         max_size=6, unique=True))
    params = {"hw.cost": False, **WORKLOADS[workload],
              **{k: draw(st.sampled_from(KNOBS[k])) for k in keys}}
    return Point(workload, mechanism, draw(st.sampled_from(["modern-x86", "kvm-nehalem"])),
                 params=params)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_any_configuration_runs_or_is_refused_in_one_line(mechanism: str) -> None:
    each_runs_or_is_refused_in_one_line(points(mechanism))


def each_runs_or_is_refused_in_one_line(strategy: st.SearchStrategy[Point]) -> None:
    """Evaluate 15 points of ``strategy`` (the same ones each run): each gives metrics, or
    an input error of one line (and nothing else)."""
    @settings(max_examples=15, deadline=None, derandomize=True, database=None)
    @given(strategy)
    def check(point: Point) -> None:
        try:
            metrics = evaluate(point)
        except InputError as exc:
            assert "\n" not in str(exc) and str(exc)
            return
        assert metrics

    check()
