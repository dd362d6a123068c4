"""Agile paging's walks (Gandhi, Hill and Swift, ISCA 2016) in the behavioural walker: they
translate as the nested walk of the same address does, cost what the switch level says,
and the page-walk caches change how many references they make, never their results. (The
RTL's agreement with the twin is in ``test_differential``/``test_verilog``: the
``*_agile`` configurations.)"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwmodels.pagewalk import (
    Fault,
    NTLBParams,
    PageWalkModel,
    PWCParams,
    WalkBatch,
    WalkerParams,
    WalkOp,
    WalkRequest,
)
from hwmodels.pagewalk.tables import PAGE_4K, SWITCH, NestedImage, PageTable, make_entry
from tests.hwmodels.pagewalk.harness import AGILE_VM, build_world, requests, uncached
from tests.hwmodels.pagewalk.test_differential import CONFIGS

AGILE = [name for name in CONFIGS if CONFIGS[name].agile]
VA = 0x7F12_3456_7000


def one_page(ng: int, nh: int, switch: int | None) -> tuple[PageWalkModel, WalkRequest,
                                                           WalkRequest]:
    """One 4 KiB page mapped in a guest table on a host table, and its shadow -- switching
    to the guest's table at shadow level ``switch`` (None: no switch); an uncached walker,
    the agile and the nested request for the page."""
    img = NestedImage(ng, nh, PAGE_4K)
    va = VA & ((1 << (12 + 9 * ng)) - 1)
    img.map(va, img.guest_alloc.alloc(), PAGE_4K)
    shadow = PageTable.in_memory(img.mem, ng, img.host_alloc)
    shadow.map(va, img.translate(va) & ~0xFFF, PAGE_4K)
    if switch is not None:
        below = img.guest.entry_address(va, switch - 1)
        img.mem.write(shadow.entry_address(va, switch), make_entry(below & ~0xFFF) | SWITCH)
    p = uncached(WalkerParams(ng, nh, agile=True))
    return (PageWalkModel(p, img.mem), WalkRequest.agile(va, shadow.root, img.ept.root),
            WalkRequest.nested(va, img.guest.root, img.ept.root))


@pytest.mark.parametrize(("ng", "nh"), [(4, 4), (5, 4), (4, 2), (2, 3)])
def test_a_switch_at_level_s_costs_the_shadow_levels_then_a_2d_walk_below(ng: int,
                                                                        nh: int) -> None:
    """Uncached: no switch, ``n_g`` references (a shadow walk); a switch in the level-``s``
    shadow entry, the ``n_g - s + 1`` shadow entries down to it, then for each of the
    ``s - 1`` guest levels left a host walk of its table and the guest entry, then the host
    walk of the data page: ``(n_g - s + 1) + (s - 1)(n_h + 1) + n_h``. For 4 x 4 levels:
    4, 12, 16, 20, against nested paging's 24."""
    seen = []
    for switch in (None, *range(2, ng + 1)):
        walker, agile, nested = one_page(ng, nh, switch)
        a, n = walker.walk(agile), walker.walk(nested)
        assert a.fault == n.fault == Fault.NONE
        assert (a.frame, a.size, a.perms) == (n.frame, n.size, n.perms)
        s = switch or 0
        want = ng if switch is None else (ng - s + 1) + (s - 1) * (nh + 1) + nh
        assert a.refs == want, (switch, a)
        shadow_refs = ng if switch is None else ng - s + 1
        assert a.dims[:shadow_refs] == (0,) * shadow_refs  # shadow entries, host-physical
        assert n.refs == (ng + 1) * (nh + 1) - 1
        seen.append(a.refs)
    if (ng, nh) == (4, 4):
        assert seen == [4, 12, 16, 20]


@pytest.mark.parametrize("name", AGILE)
def test_agile_walks_translate_as_nested_walks_cached_or_not(name: str) -> None:
    """On random worlds with shadow tables (switches at random levels) and the request mix
    of the differential tests: every agile walk that translates gives the nested walk's
    frame, size and permissions for its address; the caches change references (fewer),
    never a result; and a walk whose address is mapped and whose shadow is whole
    translates."""
    p = CONFIGS[name]

    @settings(derandomize=True, deadline=None, max_examples=30,
              suppress_health_check=[HealthCheck.too_slow])
    @given(seed=st.integers(0, 2**32 - 1), n=st.integers(30, 150))
    def check(seed: int, n: int) -> None:
        world = build_world(p, seed, broken=False)
        reqs = requests(world, p, n, seed)
        got = PageWalkModel(p, world.mem).run(reqs)
        ref = PageWalkModel(uncached(p), world.mem).run(reqs)
        assert world.shadow is not None
        for i in range(n):
            r = reqs.row(i)
            if r.op != WalkOp.AGILE:
                continue
            e, e0 = got.row(i), ref.row(i)
            assert e[:6] == e0[:6], (i, r, e, e0)
            assert e.refs <= e0.refs
            nested = PageWalkModel(uncached(p), world.mem).walk(
                WalkRequest.nested(r.va, world.img.guest.root, world.img.ept.root))
            if e.fault == Fault.NONE:
                assert (e.frame, e.size, e.perms) == (nested.frame, nested.size,
                                                      nested.perms), (i, r)
            elif r.va in world.switches:  # below a switch the walk is the guest's own
                assert nested.fault != Fault.NONE, (i, r, e, nested)

    check()


def test_the_walker_without_agile_mode_refuses_agile_walks() -> None:
    batch = WalkBatch.from_requests([WalkRequest.agile(0x1000, 0x2000, 0x3000, vm=AGILE_VM)])
    with pytest.raises(ValueError, match=r"agile walk.*walker\.agile"):
        PageWalkModel(WalkerParams(vm_bits=3)).run(batch)


def test_the_mode_bit_lets_a_cache_hit_resume_in_two_dimensions() -> None:
    """After a walk that switched at the top, a hit in the level-2 cache entry (below the
    switch) resumes in two dimensions: a host walk of the leaf table, the guest leaf entry,
    the host walk of the data page; and the same frame."""
    img = NestedImage(4, 4, PAGE_4K)
    img.map(VA, img.guest_alloc.alloc(), PAGE_4K)
    img.map(VA + PAGE_4K, img.guest_alloc.alloc(), PAGE_4K)
    shadow = PageTable.in_memory(img.mem, 4, img.host_alloc)
    shadow.map(VA, img.translate(VA) & ~0xFFF, PAGE_4K)
    below = img.guest.entry_address(VA, 3)
    img.mem.write(shadow.entry_address(VA, 4), make_entry(below & ~0xFFF) | SWITCH)
    p = WalkerParams(4, 4, PWCParams((4, 4, 4, 4)), PWCParams(0), NTLBParams(0, 0),
                     agile=True)
    w = PageWalkModel(p, img.mem)
    first = w.walk(WalkRequest.agile(VA, shadow.root, img.ept.root))
    again = w.walk(WalkRequest.agile(VA + PAGE_4K, shadow.root, img.ept.root))
    nested = PageWalkModel(uncached(p), img.mem).walk(
        WalkRequest.nested(VA + PAGE_4K, img.guest.root, img.ept.root))
    assert first.refs == 20 and again.gpwc == 2
    assert again.refs == 4 + 1 + 4  # host walk of the leaf table, its entry, the data page
    assert again.dims == (1, 1, 1, 1, 0, 1, 1, 1, 1)
    assert (again.frame, again.size, again.perms) == (nested.frame, nested.size, nested.perms)


def test_agile_mode_costs_a_bit_per_guest_cache_entry_and_one_for_the_walk() -> None:
    """The walker change's state: the mode bit of each guest page-walk cache entry, and
    whether the walk in progress is an agile one."""
    from dataclasses import replace

    from hwmodels.pagewalk.rtl import walker_cost

    base = replace(CONFIGS["4x4_agile"], agile=False)
    plain, agile = walker_cost(base), walker_cost(CONFIGS["4x4_agile"])
    entries = sum(base.pwc_guest.at(level) for level in range(2, base.guest_levels + 1))
    assert agile.register_bits - plain.register_bits == entries + 1
    assert agile.nets > plain.nets
