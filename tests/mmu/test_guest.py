"""The guest-OS + hypervisor memory model on small hand-built streams."""

from __future__ import annotations

import numpy as np
import pytest

from codesign.mmu.guest import (
    EPT_BASE,
    GUEST_BASE,
    HOST_BASE,
    VM_SHIFT,
    GuestConfig,
    GuestModel,
)
from hwmodels.pagewalk.tables import PAGE_2M, PAGE_4K, PageTable
from hwmodels.tlb import Perm
from workloads.memory.events import RW, RX, Prot, StreamBuilder, validate

BASE = 0x7F00_0000_0000  # 1 GiB aligned


def replay(b: StreamBuilder, cfg: GuestConfig | None = None) -> tuple[GuestModel, list]:
    events = b.build()
    validate(events)
    g = GuestModel(cfg or GuestConfig())
    return g, [g.apply(e) for e in events]


def started(b: StreamBuilder | None = None) -> StreamBuilder:
    b = b or StreamBuilder()
    b.spawn(1)
    b.switch(1)
    return b


def walk_native(g: GuestModel, vm: int, pid: int, va: int) -> int | None:
    """Translate by reading the native image's words (vm-offset guest-physical space)."""
    off = vm << VM_SHIFT
    pt = PageTable(g.cfg.guest_levels, lambda: 0, lambda a: g.native.read(off | a),
                   lambda a, w: None)
    pt.root = g.root(vm, pid)
    hit = pt.translate(va)
    return None if hit is None else hit[0]


def walk_host(g: GuestModel, vm: int, pid: int, va: int) -> int | None:
    """Translate by reading the host image: guest table words at their host addresses."""
    def read(gpa: int) -> int:
        h = g.vms[vm].ept.translate(gpa)
        return 0 if h is None else g.host.read(h[0])

    pt = PageTable(g.cfg.guest_levels, lambda: 0, read, lambda a, w: None)
    pt.root = g.root(vm, pid)
    hit = pt.translate(va)
    if hit is None:
        return None
    h = g.vms[vm].ept.translate(hit[0])
    return None if h is None else h[0]


@pytest.mark.parametrize("levels", [4, 5])
def test_demand_paging_builds_real_tables_at_guest_physical_addresses(levels: int) -> None:
    b = started()
    b.map(BASE, 4)
    b.access(BASE + 0x10)
    b.access(BASE + 0x18, write=True)
    b.access(BASE + 0x3008)
    g, fx = replay(b, GuestConfig(guest_levels=levels))
    spawn, access1, access2, access3 = fx[0], fx[-3], fx[-2], fx[-1]
    assert spawn.table_pages == 1 and g.root(0, 1) == GUEST_BASE
    # first touch: a table page per level below the root, one entry written per level
    assert (access1.demand_faults, access1.table_pages, access1.pte_writes) == (1, levels - 1,
                                                                                  levels)
    assert (access2.faults, access2.pte_writes) == (0, 0)
    assert (access3.demand_faults, access3.table_pages, access3.pte_writes) == (1, 0, 1)
    for va in (BASE + 0x10, BASE + 0x3008):
        t = g.translate(0, 1, va)
        assert t.size == PAGE_4K and t.perms == Perm.R | Perm.W | Perm.U
        assert walk_native(g, 0, 1, va) == t.gpa
        assert walk_host(g, 0, 1, va) == g.host_address(0, t.gpa)[0]
    assert walk_native(g, 0, 1, BASE + 0x1000) is None  # mapped but never touched


def test_host_backing_on_first_touch_by_host_page_size() -> None:
    def backings(host_page: str, huge: str = "none") -> int:
        b = started()
        b.map(BASE, 1024)
        b.accesses(np.arange(BASE, BASE + 1024 * PAGE_4K, PAGE_4K, dtype=np.uint64), 1)
        _, fx = replay(b, GuestConfig(host_page=host_page, huge=huge))
        return sum(f.backings for f in fx)

    # 4 KiB host pages: every guest frame touched (1024 data + 1 root + 3 + 1 more leaf table)
    assert backings("4K") == 1024 + 1 + 3 + 1
    # 2 MiB host pages: frames are allocated contiguously from 1 MiB: ceil over 2 MiB regions
    assert backings("2M") == 3
    assert backings("1G") == 1
    # guest 2 MiB pages on 4 KiB host pages: the guest zeroes all 512 pages of each
    assert backings("4K", "2M") == 2 * 512 + 1 + 2


def test_backing_frames_do_not_depend_on_the_host_table_shape() -> None:
    """The host table's pages come from their own region (EPT_BASE), so the frames backing
    guest memory -- the data addresses of every virtualized mechanism -- are allocated in
    first-touch order alone, whatever ``host.levels``."""
    def frames(levels: int) -> tuple[list[int], GuestModel]:
        b = started()
        b.map(BASE, 600)
        b.accesses(np.arange(BASE, BASE + 600 * PAGE_4K, PAGE_4K, dtype=np.uint64), 1)
        g, _ = replay(b, GuestConfig(host_levels=levels))
        gpas = [g.translate(0, 1, BASE + i * PAGE_4K).gpa for i in range(600)]
        return [g.host_address(0, a)[0] for a in gpas], g

    four, g4 = frames(4)
    five, g5 = frames(5)
    assert four == five
    assert all(HOST_BASE <= h < EPT_BASE for h in four)
    assert np.all(np.diff(four) > 0)  # in touch order (the guest's own table pages between)
    for g in (g4, g5):
        assert EPT_BASE <= g.eptp(0) < 1 << 45
        assert g.host_alloc.next <= EPT_BASE <= g.ept_alloc.next


def test_huge_pages_only_where_an_aligned_region_lies_in_one_mapping() -> None:
    b = started()
    b.map(BASE, 512 + 100)
    b.map(BASE + 0x4000_0000 + PAGE_4K, 1024)  # misaligned start: first region not whole
    for va in (BASE, BASE + 5 * PAGE_4K, BASE + PAGE_2M, BASE + 0x4000_0000 + 2 * PAGE_4K,
               BASE + 0x4000_0000 + PAGE_2M):
        b.access(va)
    g, fx = replay(b, GuestConfig(huge="2M"))
    assert [f.demand_faults for f in fx[-5:]] == [1, 0, 1, 1, 1]
    assert g.translate(0, 1, BASE + 5 * PAGE_4K).size == PAGE_2M
    assert g.translate(0, 1, BASE + 5 * PAGE_4K).gpa % PAGE_2M == 5 * PAGE_4K
    assert g.translate(0, 1, BASE + PAGE_2M).size == PAGE_4K
    assert g.translate(0, 1, BASE + 0x4000_0000 + 2 * PAGE_4K).size == PAGE_4K
    assert g.translate(0, 1, BASE + 0x4000_0000 + PAGE_2M).size == PAGE_2M
    assert walk_native(g, 0, 1, BASE + 0x1234) == g.translate(0, 1, BASE + 0x1234).gpa


def test_unmap_frees_frames_and_asks_for_invalidation_and_frames_are_reused() -> None:
    b = started()
    b.map(BASE, 4)
    b.access(BASE)
    b.access(BASE + 2 * PAGE_4K)
    b.unmap(BASE, 4)
    b.map(BASE + 0x10_0000, 1)
    b.access(BASE + 0x10_0000)
    g, fx = replay(b)
    unmap = next(f for f in fx if f.invalidate)
    assert sorted(unmap.invalidate) == [(BASE, PAGE_4K), (BASE + 2 * PAGE_4K, PAGE_4K)]
    assert unmap.pte_writes == 2 and walk_native(g, 0, 1, BASE) is None
    # last freed, first reused: the frame of BASE + 2 pages backs the new page
    first = g.translate(0, 1, BASE + 0x10_0000).gpa
    assert first == GUEST_BASE + 5 * PAGE_4K  # root, data, 3 tables, data(2 pages on)...
    # same leaf table, and the reused frame is backed already: nothing new for the host
    assert (fx[-1].table_pages, fx[-1].backings) == (0, 0)


def test_protect_rewrites_leaves_and_splits_a_partly_covered_huge_page() -> None:
    b = started()
    b.map(BASE, 512, RW)
    b.access(BASE)
    b.protect(BASE + 8 * PAGE_4K, 4, Prot.READ)
    b.access(BASE + 9 * PAGE_4K)
    b.access(BASE + 20 * PAGE_4K, write=True)
    g, fx = replay(b, GuestConfig(huge="2M"))
    protect = next(f for f in fx if f.invalidate)
    assert (BASE, PAGE_2M) in protect.invalidate  # the split huge page
    assert [(BASE + k * PAGE_4K, PAGE_4K) for k in range(8, 12)] == protect.invalidate[1:]
    # clear the 2 MiB entry, point it at a new leaf table, 512 leaves, 4 rewritten
    assert protect.table_pages == 1 and protect.pte_writes == 1 + 1 + 512 + 4
    ro, rw = g.translate(0, 1, BASE + 9 * PAGE_4K), g.translate(0, 1, BASE + 20 * PAGE_4K)
    assert (ro.size, ro.perms) == (PAGE_4K, Perm.R | Perm.U)
    assert (rw.size, rw.perms) == (PAGE_4K, Perm.R | Perm.W | Perm.U)
    assert rw.gpa - ro.gpa == 11 * PAGE_4K  # still the one 2 MiB frame
    assert [f.faults for f in fx[-2:]] == [0, 0]


def test_fork_is_copy_on_write_and_exit_frees() -> None:
    b = started()
    b.map(BASE, 2, RW)
    b.map(BASE + 0x10_0000, 1, RX)
    b.access(BASE, write=True)
    b.access(BASE + PAGE_4K)
    b.access(BASE + 0x10_0000, fetch=True)
    b.fork(2)
    b.switch(2)
    b.access(BASE, write=True)      # child: COW copies (frame shared)
    b.access(BASE + 0x10_0000, fetch=True)
    b.exit()
    b.switch(1)
    b.access(BASE + PAGE_4K, write=True)  # parent: sole owner again, made writable in place
    g, fx = replay(b)
    fork = next(f for f in fx if f.flush)
    assert fork.flush == [(0, 1)]
    # parent: 2 writable leaves rewritten; child: root + 3 tables, 3 leaves
    assert fork.table_pages == 4 and fork.pte_writes == 2 + 3 + 3
    parent_before = g.translate(0, 1, BASE + PAGE_4K).gpa
    child_cow = fx[-6]
    assert (child_cow.cow_faults, child_cow.invalidate) == (1, [(BASE, PAGE_4K)])
    assert fx[-5].faults == 0  # text is read-only: no COW
    exit_fx = fx[-3]
    assert exit_fx.flush == [(0, 2)]
    assert fx[-1].cow_faults == 1 and g.translate(0, 1, BASE + PAGE_4K).gpa == parent_before
    assert g.translate(0, 1, BASE + PAGE_4K).perms & Perm.W
    assert (0, 2) not in g.spaces
    # the child's tables are gone from both images; the parent's are intact
    off = 0 << VM_SHIFT
    assert all(g.native.read(off | gpa) == 0 for gpa in g.vms[0].free[PAGE_4K])
    assert walk_native(g, 0, 1, BASE) == g.translate(0, 1, BASE).gpa


def test_vms_have_their_own_guest_physical_space_and_host_table() -> None:
    b = started()
    b.map(BASE, 1)
    b.access(BASE)
    b.vm_switch(1)
    started(b)
    b.map(BASE, 1)
    b.access(BASE)
    g, _ = replay(b)
    t0, t1 = g.translate(0, 1, BASE), g.translate(1, 1, BASE)
    assert t0 == t1  # the same guest OS history in each VM
    assert g.host_address(0, t0.gpa) != g.host_address(1, t1.gpa)
    assert g.eptp(0) != g.eptp(1)
    assert walk_native(g, 1, 1, BASE) == 1 << VM_SHIFT | t1.gpa
    assert walk_host(g, 1, 1, BASE) == g.host_address(1, t1.gpa)[0]


def test_deterministic() -> None:
    from codesign.params import build
    from codesign.registry import default_registry

    w = default_registry().workload("mmap-churn")
    events = w.generate(build(w.params, {"workload.cycles": 50, "workload.remote_cpus": 2}))

    def run() -> tuple:
        g = GuestModel(GuestConfig(huge="2M"))
        fx = [g.apply(e) for e in events]
        return (tuple((f.faults, f.pte_writes, f.backings, tuple(f.invalidate)) for f in fx),
                tuple(sorted(g.native.words.items())))

    assert run() == run()


def test_invalid_configurations() -> None:
    with pytest.raises(ValueError, match="4 or 5 levels"):
        GuestConfig(guest_levels=3)
    with pytest.raises(ValueError, match=r"guest\.huge_pages"):
        GuestConfig(huge="1G")


@pytest.mark.parametrize("cfg", [GuestConfig(huge="2M"), GuestConfig(host_page="2M"),
                                 GuestConfig(guest_levels=5, host_levels=3, host_page="1G")])
def test_translations_in_bulk_are_those_page_by_page(cfg: GuestConfig) -> None:
    from codesign.params import build
    from codesign.registry import default_registry

    w = default_registry().workload("forkwait")
    g = GuestModel(cfg)
    for e in w.generate(build(w.params, {"workload.iterations": 3})):
        g.apply(e)
    for (vm, pid), sp in g.spaces.items():
        pages = [va + off for va, leaf in sp.leaves.items()
                 for off in range(0, leaf.size, 0x7000)]
        assert pages
        one = [g.translate(vm, pid, va) for va in pages]
        gpa, size, perms = g.translate_pages(vm, pid, np.array(pages, dtype=np.int64) >> 12)
        assert gpa.tolist() == [t.gpa - t.gpa % PAGE_4K for t in one]
        assert size.tolist() == [t.size for t in one]
        assert perms.tolist() == [t.perms for t in one]
        hpa, host_page = g.host_addresses(vm, gpa)
        assert [(h, host_page) for h in hpa.tolist()] == [g.host_address(vm, a)
                                                          for a in gpa.tolist()]
    with pytest.raises(KeyError, match="not populated"):
        g.translate_pages(0, 1, np.array([BASE >> 12, 0x10], dtype=np.int64))
    with pytest.raises(KeyError, match="not backed"):
        g.host_addresses(0, np.array([GUEST_BASE, g.vms[0].kbase // 2 & ~0xFFF],
                                     dtype=np.int64))
