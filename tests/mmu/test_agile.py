"""``agile`` (agile paging, Gandhi et al., ISCA 2016): walks priced by where they switch,
the hypervisor's policy moving table pages between shadow and nested mode, and its exits.
Every walk of these replays is checked against the guest model by the replay itself (a walk
that reaches another frame raises); tests/mmu/test_validation.py runs it on random guest
histories for isolation, and tests/mmu/test_agiletables.py checks the shadow it walks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from codesign.harness import Point, evaluate
from codesign.mmu.agile import AgileParams, AgileReplay
from codesign.mmu.replay import drive
from codesign.params import build
from workloads.memory.events import RW, Prot, StreamBuilder

DATA = Path(__file__).parents[1] / "data"
BASE = 0x7F00_0000_0000
PAGES = 64  # one leaf table
UNCACHED = {"pwc.entries": 0, "ntlb.entries": 0, "tlb.l2.entries": 0, "tlb.l1.entries": 16,
            "kernel.work": False}


def replay(threshold: int = 2, window: int = 1 << 40, **hw: Any) -> AgileReplay:
    p = build(AgileParams, {**UNCACHED, **hw})
    return AgileReplay(p.setup(nested=True), threshold, window)


def sweep(b: StreamBuilder, times: int = 4) -> None:
    """Touch every page of the region ``times`` over: with 16 TLB entries, 64 walks a pass."""
    va = np.uint64(BASE) + np.arange(PAGES, dtype=np.uint64) * np.uint64(4096)
    for _ in range(times):
        b.accesses(va, 0)


def start() -> StreamBuilder:
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    b.map(BASE, PAGES, RW)
    sweep(b, 2)
    return b


def protect(b: StreamBuilder, times: int) -> None:
    """Write the first page's leaf entry ``times`` times (mprotect back and forth)."""
    for i in range(times):
        b.protect(BASE, 1, int(Prot.READ) if i % 2 == 0 else int(RW))


def phases(*builders: StreamBuilder) -> list[np.ndarray]:
    out, done = [], 0
    for b in builders:
        events = b.build()
        out.append(events[done:])
        done = len(events)
    return out


WINDOW = 300


def settled() -> tuple[StreamBuilder, AgileReplay]:
    """The region first touched and swept: its leaf table shadowed by the first walk (faults
    are handled at their accesses), each later first touch writing a new entry of it -- one
    write per entry, an exit each, never the two that would move it to nested mode -- and
    every page's shadow entry filled by a hidden fault."""
    b = start()
    r = replay(window=WINDOW)
    drive(r, b.build())
    assert r.t.pt_write == PAGES - 1 and r.t.to_nested == 0 and r.t.fills == PAGES
    assert r.agile(0).nested == set()
    return b, r


def test_a_walk_that_does_not_switch_costs_a_shadow_walk() -> None:
    """Uncached, with every table shadowed: ``guest.levels`` references a walk, none in the
    nested dimension, no hidden fault (the shadow was built before)."""
    b, r = settled()
    done = len(b.build())
    sweep(b)
    r.mark()
    drive(r, b.build()[done:])
    assert r.c.walks >= 3 * PAGES
    assert r.c.walk_refs_guest == 4 * r.c.walks and r.c.walk_refs_nested == 0
    assert r.t.fills == 0 and r.t.pt_write == 0


def test_a_table_written_threshold_times_goes_nested_and_its_walks_switch_above_it() -> None:
    """Two writes to the shadowed leaf table (two exits) move it to nested mode; then each
    walk reads 3 shadow entries and walks the guest's leaf table in two dimensions: the
    paper's 3 + 1 x 5 + 4 = 12 references (4 in the guest dimension, 8 nested), against
    nested paging's 24; the table's further writes do not exit."""
    b, r = settled()
    done = len(b.build())
    protect(b, 2)
    r.mark()
    drive(r, b.build()[done:])
    assert r.t.pt_write == 2 and r.t.to_nested == 1
    done = len(b.build())
    sweep(b, 2)  # 256 references: before the first window ends (300)
    r.mark()
    drive(r, b.build()[done:])
    assert r.c.walks >= 2 * PAGES and r.t.to_shadow == 0
    assert r.c.walk_refs_guest == 4 * r.c.walks
    assert r.c.walk_refs_nested == 8 * r.c.walks
    done = len(b.build())
    protect(b, 3)
    drive(r, b.build()[done:])
    assert r.t.pt_write == 0  # writes to a nested table


def test_one_write_per_window_stays_shadowed() -> None:
    b, r = settled()
    done = len(b.build())
    protect(b, 1)
    sweep(b)
    r.mark()
    drive(r, b.build()[done:])
    assert r.t.pt_write == 1 and r.t.to_nested == 0 and r.c.walk_refs_nested == 0


def test_a_table_written_every_window_stays_nested() -> None:
    """Its entry written twice, the table goes nested; written again within every window
    after that, it never returns to shadow mode."""
    b = start()
    protect(b, 2)
    for _ in range(8):
        sweep(b, 2)
        protect(b, 1)
    r = replay(window=WINDOW)
    drive(r, b.build())
    assert r.t.to_nested == 1 and r.t.to_shadow == 0 and r.t.windows >= 3
    assert r.t.scans == r.t.windows and r.t.rebuilt == 0


def test_a_table_back_in_shadow_mode_is_rebuilt_at_once() -> None:
    """A window without writes brings the table back to shadow mode, its shadow page rebuilt
    from the guest's table by the hypervisor (every present leaf: no hidden fault after),
    and walks cost 4 references again."""
    b, r = settled()
    done = len(b.build())
    protect(b, 2)
    sweep(b, 8)  # 512 references: the window ending at 600 is quiet
    drive(r, b.build()[done:])
    assert (r.t.to_nested, r.t.to_shadow) == (1, 1)
    assert r.t.rebuilt == 1 + PAGES  # the link in the level-2 shadow page, the leaves
    fills = r.t.fills
    done = len(b.build())
    sweep(b, 2)
    r.mark()
    drive(r, b.build()[done:])
    assert r.t.fills == 0 and fills == PAGES
    assert r.c.walks > 0 and r.c.walk_refs_guest == 4 * r.c.walks and r.c.walk_refs_nested == 0


def test_a_table_that_comes_back_to_nested_mode_waits_twice_as_long() -> None:
    """Backoff: back in nested mode after a return to shadow mode, a table needs two quiet
    windows (then four...) before it returns again: a table the guest writes every window
    or two does not flap, rebuilding its shadow each time."""
    b, r = settled()  # 128 references: windows end at 300, 600, 900, ...
    done = len(b.build())
    protect(b, 2)
    sweep(b, 3)  # 320: the window ending at 300 is quiet: back to shadow mode
    protect(b, 2)
    sweep(b, 5)  # 640: the one ending at 600, quiet, is one of the two it now needs
    drive(r, b.build()[done:])
    assert (r.t.to_nested, r.t.to_shadow) == (2, 1)
    done = len(b.build())
    sweep(b, 5)  # 960: and the one ending at 900: back
    drive(r, b.build()[done:])
    assert (r.t.to_nested, r.t.to_shadow) == (2, 2)


def test_a_fully_nested_address_space_walks_in_two_dimensions() -> None:
    """With the root in nested mode (its writes crossed the threshold: threshold 1, and a
    first touch in another 512 GiB slot writes it), every walk is nested paging's 24
    references and takes no hidden fault."""
    b = start()
    far = BASE - (1 << 39)
    b.map(far, 1, RW)
    b.access(far, write=True)
    warm = b.build()
    sweep(b)
    r = replay(threshold=1)
    drive(r, warm)
    root = r.guest.root(0, 1)
    assert root in r.agile(0).nested and r.agile(0).root(1) is None
    r.mark()
    drive(r, b.build()[len(warm):])
    assert r.c.walks >= 3 * PAGES and r.t.fills == 0
    assert r.c.walk_refs_guest + r.c.walk_refs_nested == 24 * r.c.walks


def test_guest_faults_below_a_switch_go_to_the_guest() -> None:
    """Faults at their accesses, threshold 1: the first fault lands in a new table (no exit
    for its write) and is injected (taken in the shadow part: nothing is nested); its walk
    shadows the table, so the second fault's write exits and moves the table to nested mode
    -- that fault was still taken in the shadow part -- and the six after it fault below the
    switch: the guest's own, with EPT violations for their pages. The first two pages were
    backed inside hidden faults."""
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    b.map(BASE, 512, RW)
    b.accesses(np.uint64(BASE) + np.arange(0, 8, dtype=np.uint64) * np.uint64(4096), 1)
    r = replay(threshold=1)
    drive(r, b.build())
    assert r.t.pt_write == 1 and r.t.to_nested == 1
    assert r.t.injected == 2 and r.t.direct == 6
    assert r.t.ept_violations == 6 and r.c.backings > 6


NO_HW = {"hw.cost": False}


def metrics(workload: str, **params: Any) -> dict:
    return evaluate(Point(workload, "agile", params={**params, **NO_HW}))


@pytest.mark.parametrize("workload, params", [
    ("random", {"workload.refs": 3000}),
    ("sequential", {"workload.refs": 3000}),
    ("pointer-chase", {"workload.refs": 3000}),
    ("zipf", {"workload.refs": 3000}),
    ("forkwait", {"workload.iterations": 5}),
    ("mmap-churn", {"workload.cycles": 20}),
    ("context-switch", {"workload.refs": 3000}),
    ("multi-vm", {"workload.refs": 3000}),
    ("strided", {"workload.refs": 3000}),
    ("lackey", {"workload.path": str(DATA / "gzip_deflate.lackey.gz")}),
])
def test_agile_runs_the_memory_workloads_with_the_metrics_of_every_mmu_mechanism(
        workload: str, params: dict) -> None:
    m = metrics(workload, **params)
    nested = evaluate(Point(workload, "nested", params={**params, **NO_HW}))
    # the same TLBs; the hypervisor's flushes after shadow changes only add misses
    assert m["refs"] == nested["refs"] and m["tlb.l1.misses"] >= nested["tlb.l1.misses"]
    assert m["cycles.total"] > 0 and m["slowdown_vs_native"] >= 0.9
    assert "traps.vmexit.invlpg" not in m  # the synchronous shadow needs no INVLPG exit
    assert {"agile.fills", "agile.to_nested", "agile.to_shadow"} <= set(m)


def test_the_walker_must_be_agile() -> None:
    """The mechanism's walker has agile mode whatever the key says elsewhere."""
    assert build(AgileParams, {}).setup(nested=True).walker.agile
