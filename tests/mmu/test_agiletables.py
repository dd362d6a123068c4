"""Agile paging's shadow in host memory (``codesign.mmu.agiletables``), walked by the
behavioural walker in agile mode: whatever the guest did and whichever table pages are in
nested mode, a filled address translates as the nested walk of the same address does, at
the cost its switch level gives."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codesign.mmu.agiletables import SHADOW_BASE, AgileTables
from codesign.mmu.guest import Effects, GuestConfig, GuestModel
from hwmodels.pagewalk import Fault, PageWalkModel, WalkerParams, WalkRequest
from hwmodels.pagewalk.tables import PAGE_2M, PAGE_4K
from tests.hwmodels.pagewalk.harness import uncached
from workloads.memory.events import StreamBuilder

PID = 1
WALKER = uncached(WalkerParams(4, 4, agile=True))


def guest(seed: int, host_page: str = "4K", huge: str = "none") -> tuple[GuestModel, list[int]]:
    """A guest with one process that mapped a few regions and touched some of their pages;
    the addresses touched."""
    rng = random.Random(seed)
    b = StreamBuilder()
    b.spawn(PID)
    b.switch(PID)
    touched = []
    for _ in range(rng.randint(1, 4)):
        base = rng.randrange(1, 1 << 26) << 21  # 2 MiB aligned, anywhere in 47 bits
        pages = rng.randint(1, 1200)
        b.map(base, pages)
        for _ in range(rng.randint(1, 12)):
            va = base + rng.randrange(pages) * PAGE_4K
            b.access(va, write=rng.random() < 0.5)
            touched.append(va)
    g = GuestModel(GuestConfig(host_page=host_page, huge=huge))
    for e in b.build():
        g.apply(e)
    return g, touched


def applied(t: AgileTables, fx: Effects) -> int:
    """Show the agile shadow what the guest did, as the mechanism does; the exits."""
    for gpa, _ in fx.allocated:
        t.forget(gpa & ~(PAGE_4K - 1))
    return sum(t.guest_write(gpa) for gpa, _ in (*fx.written, *fx.teardown))


def check_walks(g: GuestModel, t: AgileTables, vas: list[int]) -> None:
    """Walk each address in agile mode as the shadow stands (coherent: a walk that
    translates agrees with the guest, an unpopulated address never translates), then fill
    it and walk again: the nested walk's frame and size, at the switch level's cost."""
    walker = PageWalkModel(WALKER, g.host)
    eptp, groot = g.eptp(0), g.root(0, PID)
    space = g.spaces[(0, PID)]
    for va in vas:
        leaf = space.leaf_at(va)
        root = t.root(PID)
        if root is not None:
            stale = walker.walk(WalkRequest.agile(va, root, eptp))
            gap = bool(len(t.gaps(PID, np.array([va >> 12], dtype=np.int64))))
            if leaf is None:
                assert stale.fault != Fault.NONE, hex(va)
            else:
                assert gap == (stale.fault != Fault.NONE), hex(va)  # a gap: a hidden fault
            if leaf is not None and stale.fault == Fault.NONE:
                nested = walker.walk(WalkRequest.nested(va, groot, eptp))
                assert (stale.frame, stale.size) == (nested.frame, nested.size), hex(va)
        if leaf is None:
            continue
        t.fill(PID, va)
        root = t.root(PID)
        nested = walker.walk(WalkRequest.nested(va, groot, eptp))
        if root is None:
            continue
        agile = walker.walk(WalkRequest.agile(va, root, eptp))
        assert agile.fault == nested.fault == Fault.NONE, (hex(va), agile, nested)
        assert (agile.frame, agile.size) == (nested.frame, nested.size), hex(va)
        s = t.switch_level(PID, va)
        if leaf.size == PAGE_4K:
            nh = 4 if g.host_page == PAGE_4K else 3  # a 2 MiB host page ends the host walk
            want = 4 if s == 0 else (4 - s + 1) + (s - 1) * (nh + 1) + nh
            assert agile.refs == want, (hex(va), s, agile.refs)
        if s == 0:
            assert t.translate(PID, va) >> 12 == agile.frame
            assert all(d == 0 for d in agile.dims)  # the shadow alone, host-physical


def test_a_shadow_walk_reads_one_shadow_page_per_level_in_their_own_region() -> None:
    g, vas = guest(1)
    t = AgileTables(g, 0)
    t.root(PID)
    for va in vas:
        t.fill(PID, va)
    assert all(sp.hpa >= SHADOW_BASE for sp in t.pages.values())
    assert len({sp.hpa for sp in t.pages.values()}) == len(t.pages)
    check_walks(g, t, vas)
    assert all(t.switch_level(PID, va) == 0 for va in vas)


@pytest.mark.parametrize("level", [1, 2, 3])
def test_a_table_in_nested_mode_makes_its_parents_entry_switch(level: int) -> None:
    """Moving the level-``level`` table of a path to nested mode drops its shadow page and
    everything below; the walk switches at ``level + 1`` and costs the paper's 2D tail."""
    g, vas = guest(2)
    t = AgileTables(g, 0)
    for va in vas:
        t.fill(PID, va)
    va = vas[0]
    gfn = next(f for f, lv in g.table_path(0, PID, va) if lv == level)
    before = len(t.pages)
    t.set_nested(gfn)
    assert (gfn, level) not in t.pages and len(t.pages) < before
    assert t.flush_pending
    assert t.switch_level(PID, va) == level + 1
    check_walks(g, t, vas)
    t.set_shadow(gfn)
    assert t.switch_level(PID, va) == 0  # the switch entry went: a hidden fault rebuilds
    with pytest.raises(KeyError):
        t.translate(PID, va)
    check_walks(g, t, vas)
    assert t.switch_level(PID, va) == 0 and (gfn, level) in t.pages


def test_a_leaf_table_back_in_shadow_mode_can_be_rebuilt_at_once() -> None:
    """``set_shadow(..., rebuild=True)``: the switch entry becomes a link to a shadow page
    filled from the guest's table, every populated 4 KiB page under it with no gap left."""
    g, vas = guest(6)
    t = AgileTables(g, 0)
    for va in vas:
        t.fill(PID, va)
    leaf = g.table_path(0, PID, vas[0])[-1][0]
    t.set_nested(leaf)
    under = [va for va in vas if g.table_path(0, PID, va)[-1][0] == leaf]
    written = t.set_shadow(leaf, rebuild=True)
    assert written >= 1 + len({va >> 12 for va in under})
    pages = np.array([va >> 12 for va in under], dtype=np.int64)
    assert len(t.gaps(PID, pages)) == 0
    check_walks(g, t, vas)


def test_the_root_in_nested_mode_means_two_dimensional_walks() -> None:
    g, vas = guest(3)
    t = AgileTables(g, 0)
    t.fill(PID, vas[0])
    t.set_nested(g.root(0, PID))
    assert t.root(PID) is None and t.fill(PID, vas[0]) == 0 and not t.pages


def test_writes_to_shadowed_tables_exit_and_drop_the_entry_writes_elsewhere_do_not() -> None:
    g, vas = guest(4)
    t = AgileTables(g, 0)
    for va in vas:
        t.fill(PID, va)
    leaf_table = g.table_path(0, PID, vas[0])[-1][0]
    index = (vas[0] >> 12) & 511
    assert t.guest_write(leaf_table + 8 * index)
    with pytest.raises(KeyError):
        t.translate(PID, vas[0])
    t.set_nested(leaf_table)
    assert not t.guest_write(leaf_table + 8 * index)  # nested mode: not write-protected
    assert not t.guest_write(0x123000)  # never shadowed
    check_walks(g, t, vas)


@pytest.mark.parametrize(("host_page", "huge"), [("4K", "2M"), ("2M", "2M"), ("2M", "none")])
def test_large_pages_in_either_dimension(host_page: str, huge: str) -> None:
    """A 2 MiB guest page on 4 KiB host pages gets a direct shadow page of 4 KiB entries;
    on 2 MiB host pages a 2 MiB shadow leaf; 4 KiB guest pages on 2 MiB host pages map
    their 4 KiB piece."""
    g, vas = guest(5, host_page, huge)
    t = AgileTables(g, 0)
    check_walks(g, t, vas)
    sizes = {g.spaces[(0, PID)].leaf_at(va).size for va in vas}
    if huge == "2M":
        assert PAGE_2M in sizes
        assert bool(t.direct) == (host_page == "4K")


@settings(derandomize=True, deadline=None, max_examples=40,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), host_page=st.sampled_from(["4K", "2M"]),
       huge=st.sampled_from(["none", "2M"]),
       ops=st.lists(st.tuples(st.sampled_from(["fill", "nested", "shadow", "touch", "unmap"]),
                              st.integers(0, 2**16)), max_size=25))
def test_any_history_of_guest_changes_and_mode_moves_walks_as_nested(
        seed: int, host_page: str, huge: str, ops: list[tuple[str, int]]) -> None:
    """Random guests, random sequences of fills, mode moves of tables on the touched paths,
    new first touches and unmaps (the guest's writes shown to the shadow as the mechanism
    shows them): every populated address, once filled, walks to the nested walk's frame;
    every shadow page is reachable from the root or a root-to-be, never from a freed one."""
    g, vas = guest(seed, host_page, huge)
    t = AgileTables(g, 0)
    for va in vas:  # everything shadowed to begin with: the guest's changes hit shadows
        t.fill(PID, va)
    rng = random.Random(seed)
    for op, arg in ops:
        va = vas[arg % len(vas)]
        path = g.table_path(0, PID, va)
        if op == "fill" and g.spaces[(0, PID)].leaf_at(va) is not None:
            t.fill(PID, va)
        elif op == "nested":
            t.set_nested(path[arg % len(path)][0])
        elif op == "shadow" and t.nested:  # rebuilt by the hypervisor, or left to faults
            t.set_shadow(sorted(t.nested)[arg % len(t.nested)], rebuild=bool(arg & 1))
        elif op == "touch":
            new = (va & ~(PAGE_2M - 1)) + rng.randrange(512) * PAGE_4K
            if g.spaces[(0, PID)].prot_at(new) is not None:
                applied(t, g.fault(0, PID, new, True))
                vas.append(new)
        elif op == "unmap":
            b = StreamBuilder()
            b.switch(PID)
            b.unmap(va & ~(PAGE_4K - 1), 1)
            for e in b.build():
                applied(t, g.apply(e))
    check_walks(g, t, vas)
    for sp in t.pages.values():
        assert sp.parents or sp.level == 4, sp
