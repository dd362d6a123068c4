"""The compiled demand fault (``codesign.mmu.guestkernel``) leaves the guest model exactly as
its Python fault path does, and a replay that uses it counts exactly what one that does not
counts."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.mmu.guest import GuestConfig, GuestModel
from codesign.mmu.guestkernel import (
    F_BACKED,
    F_ENTRY,
    F_GPA,
    F_HOST,
    F_POS,
    F_VA,
    N_COLS,
    SLOW,
    demand_faults,
)
from codesign.mmu.native import NativeParams
from codesign.mmu.nested import NestedParams
from codesign.mmu.replay import Replay, drive
from codesign.params import build
from codesign.registry import default_registry
from hwmodels.pagewalk.tables import PAGE_4K
from workloads.memory.events import RW, RX, Access, Ev, Prot, StreamBuilder

BASE = 0x7F00_0000_0000
REGION_PAGES = 1536  # three 2 MiB regions: leaf tables to allocate, huge pages to map
CONFIGS = (GuestConfig(), GuestConfig(huge="2M"), GuestConfig(host_page="2M"),
           GuestConfig(guest_levels=5, host_levels=3, host_page="1G", huge="2M"),
           GuestConfig(host_levels=2))


def state(g: GuestModel) -> dict[str, object]:
    """Everything the guest model holds, comparable."""
    out: dict[str, object] = {
        "native": [a.tolist() for a in g.native.arrays()],
        "host": [a.tolist() for a in g.host.arrays()],
        "host_next": g.host_alloc.next,
    }
    for vm, s in g.vms.items():
        out[f"vm{vm}"] = (s.alloc.next, {k: list(v) for k, v in s.free.items()},
                          dict(s.refs.items()), dict(s.backed.items()), s.levels, s.parents)
    for key, sp in g.spaces.items():
        out[f"space{key}"] = (sp.vmas, sp.tables, {va: (lf.gpa, lf.size, lf.prot, lf.cow,
                                                        lf.alloc)
                                                   for va, lf in sp.leaves.items()})
    return out


def both_ways(events: np.ndarray, cfg: GuestConfig) -> tuple[GuestModel, GuestModel, int]:
    """The stream through ``apply`` (every fault in Python) and through runs of
    ``demand_faults`` (Python for what it leaves, and for copy-on-write faults); how many
    faults the compiled path did."""
    ref, fast = GuestModel(cfg), GuestModel(cfg)
    compiled = 0
    pending: list[int] = []
    where = (0, 0)

    def flush() -> None:
        nonlocal compiled
        va = np.array(pending, dtype=np.int64)
        lo = 0
        while lo < len(va):
            done = fast.demand_faults(*where, va, lo)
            compiled += len(done.rows)
            lo = done.stop
            if lo < len(va):
                fast.fault(*where, int(va[lo]), False)
                lo += 1
        pending.clear()

    for e in events:
        ref.apply(e)
        vm, pid, va = int(e["vm"]), int(e["pid"]), int(e["va"])
        if int(e["op"]) != Ev.ACCESS:
            flush()
            fast.apply(e)
            continue
        if (vm, pid) != where:
            flush()
            where = (vm, pid)
        leaf = fast.spaces[where].leaf_at(va)
        if int(e["arg"]) == Access.WRITE and leaf is not None and leaf.cow:
            flush()
            fast.fault(vm, pid, va, True)
        else:
            pending.append(va)
    flush()
    return ref, fast, compiled


@st.composite
def streams(draw: st.DrawFn) -> np.ndarray:
    """One VM, a process and sometimes its child: regions of several protections, first
    touches and writes across them, part of a region unmapped (frames to reuse), a fork
    (copy-on-write leaves) and the child's exit."""
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    prots = draw(st.lists(st.sampled_from([RW, RX, int(Prot.READ)]), min_size=1, max_size=3))
    for r, prot in enumerate(prots):
        b.map(BASE + r * (REGION_PAGES + 512) * PAGE_4K, REGION_PAGES, prot)
    page = st.tuples(st.integers(0, len(prots) - 1), st.integers(0, REGION_PAGES - 1),
                     st.booleans())

    def touch(n: int) -> None:
        for r, p, w in draw(st.lists(page, min_size=1, max_size=n)):
            b.access(BASE + (r * (REGION_PAGES + 512) + p) * PAGE_4K + 8 * (p % 512),
                     write=w and prots[r] == RW)

    touch(60)
    if draw(st.booleans()):
        lo = draw(st.integers(0, REGION_PAGES - 64))
        b.unmap(BASE + lo * PAGE_4K, 64)
        b.map(BASE + lo * PAGE_4K, 64, prots[0])
    touch(60)
    if draw(st.booleans()):
        b.fork(2)
        b.switch(2)
        touch(30)
        b.exit()
        b.switch(1)
        touch(30)
    return b.build()


@settings(max_examples=60, deadline=None)
@given(streams(), st.sampled_from(CONFIGS))
def test_the_compiled_fault_leaves_the_model_as_python_does(events: np.ndarray,
                                                           cfg: GuestConfig) -> None:
    ref, fast, _ = both_ways(events, cfg)
    assert state(fast) == state(ref)


def test_dense_first_touches_run_compiled_and_grow_the_images() -> None:
    """Dense first touches run compiled, through several doublings of both images, with
    reused frames."""
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    b.map(BASE, 8192)
    for p in range(4096):
        b.access(BASE + p * PAGE_4K)
    b.unmap(BASE, 1024)
    for p in range(4096, 8192):
        b.access(BASE + p * PAGE_4K, write=True)
    ref, fast, compiled = both_ways(b.build(), GuestConfig())
    assert state(fast) == state(ref)
    # Python for the first page of each 2 MiB region (a guest table page to allocate) and
    # for each frame whose host page needs a new EPT table page (one per 512 backed pages)
    assert 8192 - 2 * 16 <= compiled < 8192 - 16
    assert len(fast.native.table()[0]) > 64 and len(fast.vms[0].free[PAGE_4K]) == 0


def mapped(pages: int) -> GuestModel:
    """A guest model whose process 1 has ``pages`` pages mapped at ``BASE``, none touched."""
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    b.map(BASE, pages)
    g = GuestModel(GuestConfig())
    for e in b.build():
        g.apply(e)
    return g


def test_rows_say_what_each_fault_did() -> None:
    g = mapped(4)
    g.fault(0, 1, BASE, False)
    va = np.array([BASE, BASE + 0x1008, BASE + 0x1010, BASE + 0x2000], dtype=np.int64)
    done = g.demand_faults(0, 1, va)
    assert done.stop == 4
    assert done.rows[:, F_POS].tolist() == [1, 3]  # mapped pages are skipped
    assert done.rows[:, F_VA].tolist() == [BASE + 0x1000, BASE + 0x2000]
    assert done.rows[:, F_BACKED].tolist() == [1, 1]
    for row in done.rows:
        t = g.translate(0, 1, int(row[F_VA]))
        assert t.gpa == row[F_GPA]
        assert g.host_address(0, t.gpa)[0] == row[F_HOST]
        assert g.table_path(0, 1, int(row[F_VA]))[-1][0] + 8 * ((row[F_VA] >> 12) & 511) \
            == row[F_ENTRY]


def test_what_it_leaves_to_python_is_left_untouched() -> None:
    """A first touch needing a table page stops the run before anything changes."""
    g = mapped(1024)
    before = state(g)
    nk, nv, ns = g.native.table()
    hk, hv, hs = g.host.table()
    st_ = g.vms[0]
    regions = np.array(g.spaces[(0, 1)].vmas, dtype=np.int64).reshape(-1, 3).T.copy()
    rows = np.zeros((1, N_COLS), dtype=np.int64)
    out = demand_faults(np.array([BASE], dtype=np.int64), 0, nk, nv, ns, len(g.native), hk, hv,
                        hs, len(g.host), st_.offset, g.root(0, 1), 4, st_.ept.root, 4,
                        PAGE_4K, *regions, st_.free[PAGE_4K].arr, 0, st_.alloc.next,
                        st_.alloc.limit, g.host_alloc.next, g.host_alloc.limit, rows)
    assert out[:3] == (SLOW, 0, 0)
    assert state(g) == before


def _counts(r: Replay) -> dict[str, object]:
    c = vars(r.c).copy()
    for k in ("kernel", "kernel_stream"):
        if c.get(k) is not None:
            c[k] = vars(c[k])
    return c


def test_replays_count_the_same_with_and_without_it() -> None:
    """Native and nested replays of first-touch-heavy, fork-heavy and churning workloads,
    the guest kernel's work included: the same counts, histograms and served levels."""
    reg = default_registry()
    cases = [("random", {"workload.footprint_mb": 8, "workload.refs": 20_000}),
             ("zipf", {"workload.footprint_mb": 16, "workload.refs": 10_000}),
             ("forkwait", {"workload.iterations": 100, "workload.heap_pages": 600}),
             ("mmap-churn", {"workload.cycles": 40, "workload.region_pages": 600})]
    setups = [NativeParams().setup(nested=False), NestedParams().setup(nested=True),
              build(NestedParams, {"guest.huge_pages": "2M"}).setup(nested=True)]
    for name, values in cases:
        w = reg.workload(name)
        events = w.generate(build(w.params, values))
        # without VPIDs every fault exits and flushes: it splits its run, never batched
        untagged = [build(NestedParams, {"tlb.vpid": False}).setup(nested=True)]
        for setup in setups + (untagged if name == "random" else []):
            runs = []
            compiled = 0
            for batch in (False, True):
                r = Replay(setup)
                r._batch_faults = batch
                demand = r.guest.demand_faults

                def counting(*args: object, demand=demand) -> object:
                    nonlocal compiled
                    done = demand(*args)
                    compiled += len(done.rows)
                    return done

                r.guest.demand_faults = counting
                drive(r, events)
                runs.append(_counts(r))
            assert runs[0] == runs[1], name
            if setup.guest.huge == "none":  # (2 MiB pages: mostly 2 MiB faults, in Python)
                assert (compiled > 0) != r.exits_flush, name
