"""The compiled forkwait and mmap-churn generators write, bit for bit, the streams of the
per-event Python generators they replaced.

The reference generators below are the previous implementations, kept verbatim as golden
models: a StreamBuilder fed event by event, draws from ``np.random.default_rng(seed)``. They
are slow (Python per event) and obviously right; the compiled kernels are fast and must agree
on every byte, for any parameters and seed. (The references draw through numpy's
``Generator``, whose streams numpy does not promise to keep across versions; should a numpy
upgrade change them, the digests pinned below say whether the compiled generators, which do
not depend on numpy's draw algorithms, still write the same streams.)
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.memory.common import (
    HEAP_BASE,
    MMAP_BASE,
    STACK_TOP,
    TEXT_BASE,
    exact_writes,
    exec_image,
    warm_image,
    words,
)
from workloads.memory.events import PAGE, RW, Access, Prot, StreamBuilder, Syscall, validate
from workloads.memory.osevents import (
    STACK_PAGES,
    TEXT_PAGES,
    ForkwaitParams,
    MmapChurnParams,
    generate_forkwait,
    generate_mmap_churn,
)

DERANDOMIZED = settings(derandomize=True, deadline=None, max_examples=40)


def reference_forkwait(p: ForkwaitParams) -> np.ndarray:
    """fork, child touches a few pages and exits, parent waits; ``iterations`` times.

    >>> from workloads.memory.events import format_events
    >>> ev = generate_forkwait(ForkwaitParams(iterations=1, child_pages=2))
    >>> print(format_events(ev[-12:]))
         0 vm0 pid1  SYSCALL    fork #2
         1 vm0 pid1  FORK       child 2 #2
         2 vm0 pid1  ACCESS     W 0x7fffffdffff8
         3 vm0 pid1  SYSCALL    wait4 #3
         4 vm0 pid2  SWITCH
         5 vm0 pid2  ACCESS     W 0x7fffffdffff8
         6 vm0 pid2  ACCESS     X 0x407000
         7 vm0 pid2  SYSCALL    exit_group #4
         8 vm0 pid2  EXIT       #4
         9 vm0 pid1  SWITCH
        10 vm0 pid1  ACCESS     W 0x7fffffdffff8
        11 vm0 pid1  ACCESS     X 0x400000
    """
    rng = np.random.default_rng(p.seed)
    stack_word = STACK_TOP - 8
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    exec_image(b, TEXT_PAGES, p.heap_pages, STACK_PAGES)
    warm_image(b, TEXT_PAGES, p.heap_pages, STACK_PAGES)
    heap_writes = p.child_pages - 2
    for i in range(p.iterations):
        child = 2 + i
        b.fork(child)
        b.access(stack_word, write=True)
        with b.syscall(Syscall.WAIT4):
            pass
        b.switch(child)
        b.access(stack_word, write=True)
        b.access(TEXT_BASE + PAGE * int(rng.integers(TEXT_PAGES)), fetch=True)
        if heap_writes:
            pages = rng.choice(p.heap_pages, size=heap_writes, replace=False).astype(np.uint64)
            b.accesses(np.uint64(HEAP_BASE) + pages * np.uint64(PAGE) + words(rng, heap_writes),
                       Access.WRITE)
        b.exit()
        b.switch(1)
        b.access(stack_word, write=True)
        b.access(TEXT_BASE, fetch=True)
    return b.build()


def _top_down(live: list[tuple[int, int]], pages: int, top: int) -> int:
    """Linux's top-down placement: the highest gap below ``top`` that holds ``pages``."""
    end = top
    for va, n in sorted(live, reverse=True):
        if end - (va + n * PAGE) >= pages * PAGE:
            break
        end = va
    return end - pages * PAGE


def reference_mmap_churn(p: MmapChurnParams) -> np.ndarray:
    """Regions mapped, touched, write-protected, referenced and unmapped, ``cycles`` times.

    >>> from workloads.memory.events import summarize
    >>> s = summarize(generate_mmap_churn(MmapChurnParams(cycles=10, live_regions=2)))
    >>> s.unmaps, s.maps - 3   # the execve maps text, heap and stack
    (8, 10)
    """
    rng = np.random.default_rng(p.seed)
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    exec_image(b, TEXT_PAGES, p.heap_pages, STACK_PAGES)
    warm_image(b, TEXT_PAGES, p.heap_pages, STACK_PAGES)
    page = np.uint64(PAGE)
    heap = np.uint64(HEAP_BASE) + np.arange(p.heap_pages, dtype=np.uint64) * page
    top = MMAP_BASE + (1 << 30)
    live: list[tuple[int, int, int]] = []  # (va, pages, read-only prefix pages), oldest first
    for _ in range(p.cycles):
        n = int(rng.integers(1, 2 * p.region_pages))
        va = _top_down([(v, k) for v, k, _ in live], n, top)
        b.map(va, n, RW)
        touched = rng.choice(n, size=int(np.ceil(n * p.touch_fraction)), replace=False)
        b.accesses(np.uint64(va) + np.sort(touched).astype(np.uint64) * page, Access.WRITE)
        readonly = 0
        if rng.random() < p.protect_probability:
            readonly = int(rng.integers(1, n + 1))
            with b.syscall(Syscall.MPROTECT):
                b.protect(va, readonly, Prot.READ)
                if p.remote_cpus:
                    b.shootdown(va, readonly, p.remote_cpus)
        live.append((va, n, readonly))
        if p.refs_per_cycle:
            pages = np.concatenate([heap] + [np.uint64(v) + np.arange(k, dtype=np.uint64) * page
                                             for v, k, _ in live])
            writable = np.concatenate([np.ones(p.heap_pages, dtype=bool)]
                                      + [np.arange(k) >= ro for _, k, ro in live])
            kinds = exact_writes(rng, p.refs_per_cycle, p.write_fraction)
            any_page = pages[rng.integers(0, pages.size, size=p.refs_per_cycle)]
            writable_page = pages[writable][rng.integers(0, int(writable.sum()),
                                                         size=p.refs_per_cycle)]
            chosen = np.where(kinds == Access.WRITE, writable_page, any_page)
            b.accesses(chosen + words(rng, p.refs_per_cycle), kinds)
        if len(live) > p.live_regions:
            old_va, old_n, _ = live.pop(0)
            with b.syscall(Syscall.MUNMAP):
                b.unmap(old_va, old_n)
                if p.remote_cpus:
                    b.shootdown(old_va, old_n, p.remote_cpus)
    return b.build()


def digest(events: np.ndarray) -> str:
    return hashlib.sha256(events.tobytes()).hexdigest()[:16]


FORKWAIT = [
    {},
    {"iterations": 1, "child_pages": 2},
    {"iterations": 50, "heap_pages": 2048, "child_pages": 16, "seed": 9},
    {"iterations": 30, "heap_pages": 12, "child_pages": 14},            # child takes every page
    {"iterations": 4, "heap_pages": 20_000, "child_pages": 1000},       # choice's tail shuffle
    {"iterations": 4, "heap_pages": 20_000, "child_pages": 300, "seed": 2**63 - 1},
]


@pytest.mark.parametrize("values", FORKWAIT, ids=str)
def test_forkwait_matches_the_reference(values: dict) -> None:
    p = ForkwaitParams(**values)
    assert generate_forkwait(p).tobytes() == reference_forkwait(p).tobytes()


MMAP_CHURN = [
    {},
    {"cycles": 10, "live_regions": 2},
    {"cycles": 300, "region_pages": 4, "refs_per_cycle": 8, "remote_cpus": 3},
    {"cycles": 200, "region_pages": 1, "touch_fraction": 1.0, "protect_probability": 1.0,
     "heap_pages": 1},                                                  # nothing writable left
    {"cycles": 100, "live_regions": 0, "touch_fraction": 0.0, "refs_per_cycle": 0},
    {"cycles": 60, "live_regions": 40, "region_pages": 300, "write_fraction": 1.0, "seed": 5},
    {"cycles": 5, "region_pages": 12_000, "touch_fraction": 0.9},      # choice's tail shuffle
    {"cycles": 150, "refs_per_cycle": 1, "protect_probability": 0.0, "write_fraction": 0.5},
]


@pytest.mark.parametrize("values", MMAP_CHURN, ids=str)
def test_mmap_churn_matches_the_reference(values: dict) -> None:
    p = MmapChurnParams(**values)
    assert generate_mmap_churn(p).tobytes() == reference_mmap_churn(p).tobytes()


@DERANDOMIZED
@given(st.integers(1, 30), st.integers(1, 64), st.integers(2, 10), st.integers(0, 2**40))
def test_forkwait_matches_for_any_parameters(iterations: int, heap: int, child: int,
                                             seed: int) -> None:
    p = ForkwaitParams(iterations=iterations, heap_pages=heap, child_pages=min(child, heap + 2),
                       seed=seed)
    assert generate_forkwait(p).tobytes() == reference_forkwait(p).tobytes()


@DERANDOMIZED
@given(st.integers(1, 60), st.integers(1, 40), st.integers(0, 8),
       st.sampled_from([0.0, 0.3, 0.5, 1.0]), st.sampled_from([0.0, 0.5, 1.0]),
       st.integers(0, 40), st.sampled_from([0.0, 0.3, 1.0]), st.integers(1, 8),
       st.integers(0, 3), st.integers(0, 2**40))
def test_mmap_churn_matches_for_any_parameters(cycles: int, region: int, live: int,
                                               touch: float, protect: float, refs: int,
                                               writes: float, heap: int, remote: int,
                                               seed: int) -> None:
    p = MmapChurnParams(cycles=cycles, region_pages=region, live_regions=live,
                        touch_fraction=touch, protect_probability=protect, refs_per_cycle=refs,
                        write_fraction=writes, heap_pages=heap, remote_cpus=remote, seed=seed)
    ev = generate_mmap_churn(p)
    validate(ev)
    assert ev.tobytes() == reference_mmap_churn(p).tobytes()


FORKWAIT_DIGEST = "22ed619df8e425dd"
MMAP_CHURN_DIGEST = "f8121d86634bf844"
CHURN_SHOOTDOWN_DIGEST = "ba4b02570fe9c6f6"
"""SHA-256 prefixes of the streams the reference generators wrote with numpy 2.4."""


def test_pinned_digests_of_the_default_streams() -> None:
    """Pinned: a change here is a change of every forkwait / mmap-churn design point."""
    assert digest(generate_forkwait(ForkwaitParams())) == FORKWAIT_DIGEST
    assert digest(generate_mmap_churn(MmapChurnParams())) == MMAP_CHURN_DIGEST
    assert digest(generate_mmap_churn(MmapChurnParams(
        cycles=5000, region_pages=4, refs_per_cycle=8, remote_cpus=3))) == CHURN_SHOOTDOWN_DIGEST
