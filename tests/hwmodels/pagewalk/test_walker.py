"""The walker suite, run at every level (behavioural model, RTL on each backend).

Walk-length facts (caches off), warm walks (caches on), flushes, faults of both dimensions,
permissions, and walks agreeing with the builders' record of what was mapped.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwmodels.pagewalk import Fault, NTLBParams, PWCParams, WalkBatch, WalkerParams, WalkRequest
from hwmodels.pagewalk.tables import (
    PAGE_1G,
    PAGE_2M,
    PAGE_4K,
    PS,
    FrameAllocator,
    Memory,
    NestedImage,
    PageTable,
    index,
    make_entry,
)
from tests.hwmodels.pagewalk.harness import (
    OFF,
    build_world,
    oracle,
    requests,
    uncached,
)

NO_CACHES = {"pwc_guest": OFF, "pwc_nested": OFF, "ntlb": NTLBParams(0, 0)}
VA = 0x7F12_3456_7000 >> 12 << 12


def _params(ng: int, nh: int, **kw) -> WalkerParams:
    return WalkerParams(ng, nh, pa_bits=40, vm_bits=2, asid_bits=1, **{**NO_CACHES, **kw})


def _nested(ng: int, nh: int, guest_page: int = PAGE_4K, host_page: int = PAGE_4K,
            va: int = VA % (1 << (12 + 9 * 2))) -> NestedImage:
    img = NestedImage(ng, nh, host_page, guest_base=0x400000, host_base=0x10000000)
    img.map(va - va % guest_page, 0x4000_0000, guest_page)
    return img


@pytest.mark.parametrize("levels", [4, 5])
def test_native_walk_reads_one_entry_per_level(make_walker, levels: int) -> None:
    mem = Memory()
    pt = PageTable.in_memory(mem, levels, FrameAllocator(0x100000))
    va = VA & ((1 << (12 + 9 * levels)) - 1)
    pt.map(va, 0x2345000)
    ev = make_walker(_params(levels, 4), mem).run(
        WalkBatch.from_requests([WalkRequest.native(va + 0x9A8, pt.root)])).row(0)
    assert ev.refs == levels
    assert list(ev.addrs) == [pt.entry_address(va, L) for L in range(levels, 0, -1)]
    assert (ev.fault, ev.frame, ev.size, ev.dims) == (0, 0x2345, 0, (0,) * levels)


@pytest.mark.parametrize(
    ("ng", "nh", "guest_page", "host_page", "refs"),
    [
        (4, 4, PAGE_4K, PAGE_4K, 24),
        (5, 5, PAGE_4K, PAGE_4K, 35),
        (5, 4, PAGE_4K, PAGE_4K, 29),
        (4, 4, PAGE_2M, PAGE_4K, 19),
        (4, 4, PAGE_2M, PAGE_2M, 15),
        (4, 4, PAGE_1G, PAGE_1G, 8),
    ],
)
def test_2d_walk_lengths(make_walker, ng: int, nh: int, guest_page: int, host_page: int,
                         refs: int) -> None:
    img = _nested(ng, nh, guest_page, host_page)
    va = VA % (1 << 30) + 0x10
    ev = make_walker(_params(ng, nh), img.mem).run(WalkBatch.from_requests(
        [WalkRequest.nested(va, img.guest.root, img.ept.root, vm=1)])).row(0)
    assert ev.fault == 0 and ev.refs == refs
    assert (ev.frame << 12) | (va & 0xFFF) == img.translate(va)
    # Order: per guest level the host walk of its table, then the guest entry; last the data page.
    g_levels = ng - (guest_page.bit_length() - 13) // 9
    h_refs = nh - (host_page.bit_length() - 13) // 9
    assert ev.dims == ((1,) * h_refs + (0,)) * g_levels + (1,) * h_refs
    guest_reads = [a for a, d in zip(ev.addrs, ev.dims, strict=True) if d == 0]
    assert guest_reads == [img.ept.translate(img.guest.entry_address(va, L))[0]
                           for L in range(ng, ng - g_levels, -1)]


def test_warm_walks_cost_far_fewer_references(make_walker) -> None:
    img = _nested(4, 4)
    p = _params(4, 4, pwc_guest=PWCParams((4, 2, 2, 1)), pwc_nested=PWCParams((4, 2, 2, 1)),
                ntlb=NTLBParams(8, 2))
    va = VA % (1 << 30)
    walk = WalkRequest.nested(va, img.guest.root, img.ept.root, vm=1)
    img.map(va + PAGE_4K, 0x4000_1000)  # a neighbour under the same guest PT
    w = make_walker(p, img.mem)
    nb = walk._replace(va=va + PAGE_4K)
    ev = w.run(WalkBatch.from_requests([walk, walk, nb, walk]))
    cold, warm, neighbour, again = (ev.row(i) for i in range(4))
    # Cold, 14 instead of 24: the guest tables' gPAs share host tables, so after the first
    # host walk (4) each table costs 1 and the data page 3 (nested PWC levels 2 and 4).
    assert (cold.refs, cold.gpwc, cold.npwc, cold.ntlb_hit) == (14, 0, 4, 0)
    assert cold.dims == (1, 1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1)
    # guest PWC level 2 -> the PT's gPA, whose translation hits the nested TLB; the data page
    # bypasses the nested TLB, and the nested PWC holds its host PT: 1 reference
    assert (warm.refs, warm.gpwc, warm.ntlb_hit, warm.ntlb_miss, warm.dims) == (2, 2, 1, 0,
                                                                                 (0, 1))
    # a new data page under the same PT: the same walk
    assert (neighbour.refs, neighbour.npwc, neighbour.ntlb_hit, neighbour.ntlb_miss) == (2, 1, 1,
                                                                                         0)
    assert again.refs == 2
    assert {cold.frame, warm.frame, again.frame} == {img.translate(va) >> 12}


@pytest.mark.parametrize(("ng", "nh"), [(4, 4), (5, 4)])
def test_nested_tlb_hits_skip_the_host_walks_of_the_guest_tables(make_walker, ng: int,
                                                                 nh: int) -> None:
    # Bhargava et al. (ASPLOS 2008): a nested-TLB hit skips a whole host walk. Page-walk caches
    # off, a fully associative nested TLB: the repeat walk finds its n_g guest tables' gPAs
    # there, n_g * n_h references fewer than the (n_g+1)(n_h+1)-1 of the cold walk; the data
    # page, which the nested TLB does not hold, still costs its host walk.
    img = _nested(ng, nh)
    va = VA % (1 << 30) + 0x10
    walk = WalkRequest.nested(va, img.guest.root, img.ept.root, vm=1)
    ev = make_walker(_params(ng, nh, ntlb=NTLBParams(8, 8)), img.mem).run(
        WalkBatch.from_requests([walk, walk]))
    cold, warm = ev.row(0), ev.row(1)
    assert (cold.refs, cold.ntlb_hit, cold.ntlb_miss) == ((ng + 1) * (nh + 1) - 1, 0, ng)
    assert (warm.refs, warm.ntlb_hit, warm.ntlb_miss) == (cold.refs - ng * nh, ng, 0)
    assert warm.dims == (0,) * ng + (1,) * nh
    assert warm.frame == cold.frame == img.translate(va) >> 12


def test_nested_tlb_saves_the_host_walk_a_guest_pwc_hit_leaves(make_walker) -> None:
    # The guest page-walk cache holds the guest entry as read: on a level-2 hit, the PT's
    # guest-physical base. Its host walk (n_h references, nested PWC off) is what the nested
    # TLB saves; with it the warm walk is the PT entry and the data page's host walk.
    img = _nested(4, 4)
    va = VA % (1 << 30)
    walk = WalkRequest.nested(va, img.guest.root, img.ept.root, vm=1)
    warm = {}
    for ntlb in (NTLBParams(4, 2), NTLBParams(0, 0)):
        p = _params(4, 4, pwc_guest=PWCParams((1, 0, 0, 0)), ntlb=ntlb)
        ev = make_walker(p, img.mem).run(WalkBatch.from_requests([walk, walk]))
        warm[ntlb.entries] = ev.row(1)
        assert ev.row(1).gpwc == 2
    assert (warm[4].refs, warm[4].ntlb_hit, warm[4].dims) == (1 + 4, 1, (0, 1, 1, 1, 1))
    assert (warm[0].refs, warm[0].ntlb_hit) == (4 + 1 + 4, 0)
    assert warm[0].dims == (1, 1, 1, 1, 0, 1, 1, 1, 1)


def test_flushes(make_walker) -> None:
    img = _nested(4, 4)
    p = _params(4, 4, pwc_guest=PWCParams(2), pwc_nested=PWCParams(2), ntlb=NTLBParams(8, 4))
    va = VA % (1 << 30)
    walk = WalkRequest.nested(va, img.guest.root, img.ept.root, vm=1, asid=1)
    reqs = [walk, walk,
            WalkRequest.flush_asid(vm=1, asid=0), walk,   # another address space: still warm
            WalkRequest.flush_vm(vm=2), walk,             # another VM: still warm
            WalkRequest.flush_asid(vm=1, asid=1), walk,   # guest dimension only
            WalkRequest.flush_vm(vm=1), walk,
            WalkRequest.flush_all(), walk]
    ev = make_walker(p, img.mem).run(WalkBatch.from_requests(reqs))
    assert [ev.row(i).refs for i in range(len(reqs))] == [14, 2, 0, 2, 0, 2, 0, 5, 0, 14, 0, 14]
    # after the ASID flush the four guest tables' gPAs all hit the nested TLB: 4 guest reads
    # and the data page's (the nested PWC holds its host PT)
    assert (ev.row(7).ntlb_hit, ev.row(7).ntlb_miss) == (4, 0)


def _faulting_world() -> tuple[NestedImage, int]:
    img = _nested(4, 4)
    return img, VA % (1 << 30)


@pytest.mark.parametrize("broken", ["guest_l2", "guest_l4_ps", "ept_l1_for_l1_table",
                                    "ept_l4_ps", "ept_l1_data"])
def test_faults_name_dimension_level_and_step(make_walker, broken: str) -> None:
    img, va = _faulting_world()
    g = img.guest
    if broken == "guest_l2":
        g.set_entry(va, 2, 0)
        want = (Fault.GUEST_PF, 2, 0)
    elif broken == "guest_l4_ps":
        g.set_entry(va, 4, img.read_gpa(g.entry_address(va, 4)) | PS)
        want = (Fault.GUEST_RSVD, 4, 0)
    elif broken == "ept_l1_for_l1_table":
        # the guest level-1 table's gPA loses its host leaf (the other tables keep theirs)
        t = g.entry_address(va, 1)
        img.ept.set_entry(t, 1, 0)
        want = (Fault.EPT_VIOLATION, 1, 1)
    elif broken == "ept_l4_ps":
        img.mem.write(img.ept.root, img.mem.read(img.ept.root) | PS)
        want = (Fault.EPT_MISCONFIG, 4, 4)
    else:
        img.ept.unmap(0x4000_0000)
        want = (Fault.EPT_VIOLATION, 1, 0)
    ev = make_walker(_params(4, 4), img.mem).run(WalkBatch.from_requests(
        [WalkRequest.nested(va, g.root, img.ept.root, vm=1)])).row(0)
    assert (ev.fault, ev.level, ev.step) == want
    assert (ev.frame, ev.size, ev.perms) == (0, 0, 0)


def test_permissions_combine_both_dimensions(make_walker) -> None:
    img = NestedImage(4, 4, guest_base=0x400000, host_base=0x10000000)
    img.guest.map(0x1000, 0x4000_0000, writable=True, user=True, nx=False)
    img.ept.map(0x4000_0000, 0x2000_0000, writable=False, nx=True)
    img.guest.map(0x2000, 0x4000_1000, writable=False, user=False, nx=False)
    img.back(0x4000_1000)
    reqs = [WalkRequest.nested(a, img.guest.root, img.ept.root, vm=1) for a in (0x1000, 0x2000)]
    ev = make_walker(_params(4, 4), img.mem).run(WalkBatch.from_requests(reqs))
    assert ev.row(0).perms == 1 | 8  # host read-only, no-execute; guest user
    assert ev.row(1).perms == 1 | 4  # guest supervisor read-only; the host allows X
    assert ev.row(0).frame == 0x20000


def test_huge_page_huge_bit_at_level_1_is_pat() -> None:
    # Bit 7 of a level-1 entry is PAT: it must not change the walk.
    from hwmodels.pagewalk import PageWalkModel

    mem = Memory()
    pt = PageTable.in_memory(mem, 4, FrameAllocator(0x100000))
    pt.map(0x5000, 0x9000)
    addr = pt.entry_address(0x5000, 1)
    mem.write(addr, mem.read(addr) | PS)
    ev = PageWalkModel(_params(4, 4), mem).walk(WalkRequest.native(0x5000, pt.root))
    assert (ev.fault, ev.frame, ev.size) == (0, 9, 0)
    assert index(0x5000, 1) == 5 and make_entry(0x9000) & PS == 0


CONFIGS = {
    "4x4": (4, 4, dict(pwc_guest=PWCParams((2, 1, 1, 1)), pwc_nested=PWCParams((2, 1, 1, 1)),
                       ntlb=NTLBParams(4, 2))),
    "2x3": (2, 3, dict(pwc_guest=PWCParams(1), pwc_nested=PWCParams((1, 1, 0, 0)),
                       ntlb=NTLBParams(2, 1))),
    "5x2": (5, 2, dict(pwc_guest=PWCParams((1, 0, 2, 1)), pwc_nested=PWCParams(1),
                       ntlb=NTLBParams(0, 0))),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_cached_walks_agree_with_uncached_walks_and_the_tables(name: str) -> None:
    from hwmodels.pagewalk import PageWalkModel

    ng, nh, caches = CONFIGS[name]
    p = WalkerParams(ng, nh, pa_bits=36, vm_bits=2, asid_bits=1, **caches)

    @settings(derandomize=True, deadline=None, max_examples=40,
              suppress_health_check=[HealthCheck.too_slow])
    @given(seed=st.integers(0, 2**32 - 1), n=st.integers(20, 150))
    def check(seed: int, n: int) -> None:
        world = build_world(p, seed)
        reqs = requests(world, p, n, seed)
        got = PageWalkModel(p, world.mem).run(reqs)
        ref = PageWalkModel(uncached(p), world.mem).run(reqs)
        for i in range(n):
            r, e, e0 = reqs.row(i), got.row(i), ref.row(i)
            if r.op > 2:
                assert e == type(e)()  # flushes produce no events
                continue
            assert e[:6] == e0[:6], (i, r, e, e0)
            assert e.refs <= e0.refs
            want = oracle(world, r)
            if e.fault == Fault.NONE:
                assert want == (e.frame, e.size, e.perms), (i, r, e)
            else:
                # mapped yet faulting: only when a guest table was left unbacked on purpose
                assert want is None or (e.fault == Fault.EPT_VIOLATION and e.step >= 1)

    check()
