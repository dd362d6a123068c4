"""Migration of a VM whose memory stream comes in pieces: the same metrics as whole, with the
per-write and per-access columns spilled to files (bounded memory for a trace of any size)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.migration import mechanism, postcopy_mechanism
from codesign.migration.mechanism import FirstSeen, TableReads
from codesign.params import build
from codesign.platforms import load_platform
from codesign.registry import default_registry
from workloads.memory.chunked import split

PLATFORM = load_platform("kvm-nehalem")


def events(name: str, **params: Any) -> np.ndarray:
    w = default_registry().workload(name)
    return w.generate(build(w.params, {f"workload.{k}": v for k, v in params.items()}))


def run(mech: str, stream: Any, **params: Any) -> dict[str, Any]:
    m = default_registry().mechanism(mech)
    return dict(m.run(stream, build(m.params, params),
                      PLATFORM.only(m.costs)))


CASES = [
    ("precopy", ("random", {"refs": 6_000, "footprint_mb": 4}), {}),  # nested: table reads
    ("precopy", ("forkwait", {"iterations": 4}), {"migration.mmu": "shadow"}),
    ("precopy", ("mmap-churn", {"cycles": 6}), {"migration.logging": "pml",
                                                "migration.skip_redirtied": True}),
    ("postcopy", ("random", {"refs": 6_000, "footprint_mb": 4}), {}),
    ("postcopy", ("forkwait", {"iterations": 4}), {"migration.mmu": "pv-direct"}),
]


@pytest.mark.parametrize(("mech", "workload", "params"), CASES,
                         ids=[f"{m}-{w[0]}" for m, w, _ in CASES])
def test_pieces_and_spills_give_the_whole_runs_metrics(mech: str, workload: tuple[str, dict],
                                                       params: dict[str, Any],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ev = events(workload[0], **workload[1])
    want = run(mech, ev, **params)
    monkeypatch.setattr(mechanism, "SPILL_ABOVE", 100)
    monkeypatch.setattr(postcopy_mechanism, "SPILL_ABOVE", 100)
    n = len(ev)
    got = run(mech, split(ev, [n // 7, n // 3, n // 3 + 1, n - 2], "pieces"), **params)
    assert got == want


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 30), max_size=80), st.lists(st.integers(0, 80), max_size=5))
def test_first_seen_numbers_pieces_as_one(keys: list[int], cuts: list[int]) -> None:
    a = np.array(keys, dtype=np.int64)
    names: dict[int, int] = {}
    want = [names.setdefault(k, len(names)) for k in keys]
    f = FirstSeen()
    bounds = [0, *sorted(min(c, len(a)) for c in cuts), len(a)]
    got: list[int] = []
    fresh: list[bool] = []
    for lo, hi in itertools.pairwise(bounds):
        numbers, first = f.number(a[lo:hi])
        got += numbers.tolist()
        fresh += first.tolist()
    assert got == want and f.count == len(names)
    assert fresh == [keys.index(k) == i for i, k in enumerate(keys)]


def test_table_reads_out_of_order_are_sorted_at_the_end() -> None:
    calls = [(np.array([3]), np.array([2]), np.array([0x5000, 0x6000]), np.array([0, 0])),
             (np.array([3, 7]), np.array([1, 1]), np.array([0x4000, 0x5000]),
              np.array([0, 0])),
             (np.array([1]), np.array([1]), np.array([0x6000]), np.array([0]))]
    ordered, shuffled = TableReads(), TableReads()
    for pos, refs, addrs, dims in sorted(calls, key=lambda c: int(c[0].min())):
        ordered(pos, None, refs, addrs, dims)
    for pos, refs, addrs, dims in calls:
        shuffled(pos, None, refs, addrs, dims)
    a, b = ordered.pairs(), shuffled.pairs()
    assert not shuffled._ordered and ordered._ordered
    # (1, 6), (3, 4), (3, 5), (3, 6), (7, 5): pages numbered by first read
    assert [x.tolist() for x in a[:2]] == [x.tolist() for x in b[:2]] == [[1, 3, 3, 3, 7],
                                                                           [0, 1, 2, 0, 2]]
    assert a[2] == b[2] == 3
