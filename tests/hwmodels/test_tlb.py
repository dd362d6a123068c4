"""The TLB's semantics, written once and run at every level (model, FastSimulation, Compiled).

Expected values are worked out by hand from the documented semantics (hwmodels/tlb/model.py),
not read back from either implementation.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwmodels.tlb import (
    DISABLED,
    Op,
    OpBatch,
    PageSize,
    Perm,
    TLBArrayParams,
    TLBEvent,
    TLBFrontend,
    TLBModel,
    TLBOp,
    TLBParams,
    count_events,
)
from tests.hwmodels.tlb_harness import CONFIGS

MakeTLB = Callable[[TLBParams], TLBFrontend]

MIXED = CONFIGS["mixed"]  # 4K: 16 entries 4-way LRU (4 sets); 2M: 4/2 PLRU; 1G: 2/2 random
UNTAGGED = CONFIGS["untagged_fa"]  # 4K: 8-way fully associative LRU, no VPID/PCID
PLRU4 = TLBParams(
    l4k=TLBArrayParams(16, 4, "plru"), l2m=DISABLED, l1g=DISABLED,
    pa_bits=32, vpid_bits=2, pcid_bits=2,
)  # fmt: skip
RANDOM4 = TLBParams(
    l4k=TLBArrayParams(16, 4, "random"), l2m=DISABLED, l1g=DISABLED,
    pa_bits=32, vpid_bits=2, pcid_bits=2,
)  # fmt: skip
THREE_WAY = CONFIGS["random3"]  # 4K: 12/3 random (seed 1); 2M: 3-way fully associative LRU

MB2, GB1 = 1 << 21, 1 << 30


def set0(k: int) -> int:
    """The k-th 4 KiB page that lands in set 0 of a 4-set array."""
    return (4 * k) << 12


def test_miss_fill_hit(make_tlb: MakeTLB) -> None:
    tlb = make_tlb(MIXED)
    assert tlb.lookup(0x5123) == TLBEvent()
    assert tlb.fill(0x5000, pfn=0x77, perms=Perm.R | Perm.X, glob=True) == TLBEvent(way=0)
    assert tlb.lookup(0x5FFF) == TLBEvent(hit=1, way=0, pfn=0x77, perms=5, glob=1)
    assert tlb.lookup(0x6000).hit == 0
    assert tlb.lookup(0x4FFF).hit == 0


def test_large_pages_translate_to_4k_frames(make_tlb: MakeTLB) -> None:
    tlb = make_tlb(MIXED)
    # The frame's low bits below the page size are ignored on fill.
    tlb.fill(2 * MB2, pfn=0x12345, size=PageSize.SIZE_2M, perms=Perm.R)
    e = tlb.lookup(2 * MB2 + 0x1FF123)
    assert (e.hit, e.size, e.pfn) == (1, 1, 0x12200 | 0x1FF)
    tlb.fill(GB1, pfn=0x40000, size=PageSize.SIZE_1G, perms=Perm.W)
    e = tlb.lookup(GB1 + 0x23456789)
    assert (e.hit, e.size, e.pfn, e.perms) == (1, 2, 0x40000 | 0x23456, 2)
    assert tlb.lookup(3 * MB2).hit == 0


def test_smallest_page_size_wins(make_tlb: MakeTLB) -> None:
    tlb = make_tlb(MIXED)
    tlb.fill(0, pfn=0x200, size=PageSize.SIZE_2M)
    tlb.fill(0x3000, pfn=0x999)
    assert tlb.lookup(0x3004)[:4] == (1, 0, 0, 0x999)
    assert tlb.lookup(0x4004)[:4] == (1, 1, 0, 0x204)


def test_vpid_and_pcid_tags(make_tlb: MakeTLB) -> None:
    tlb = make_tlb(MIXED)
    tlb.fill(0x1000, pfn=1, vpid=1, pcid=1)
    tlb.fill(0x2000, pfn=2, vpid=1, pcid=1, glob=True)
    assert tlb.lookup(0x1000, vpid=1, pcid=1).hit == 1
    assert tlb.lookup(0x1000, vpid=1, pcid=2).hit == 0
    assert tlb.lookup(0x1000, vpid=2, pcid=1).hit == 0
    assert tlb.lookup(0x2000, vpid=1, pcid=3).hit == 1  # global: any address space
    assert tlb.lookup(0x2000, vpid=2, pcid=1).hit == 0  # but only in its VM


def test_untagged_tlb_ignores_tags_and_owner_flushes(make_tlb: MakeTLB) -> None:
    tlb = make_tlb(UNTAGGED)
    tlb.fill(0x1000, pfn=1, vpid=1, pcid=2)
    tlb.fill(0x2000, pfn=2, vpid=3, pcid=1, glob=True)
    assert tlb.lookup(0x1000, vpid=3, pcid=0).hit == 1
    # A CR3 write without PCIDs: every non-global entry goes.
    assert tlb.invalidate_address_space(vpid=0, pcid=0).inv == 1
    assert tlb.lookup(0x1000).hit == 0
    assert tlb.lookup(0x2000).hit == 1
    # A VM switch without VPIDs: everything goes.
    assert tlb.invalidate_vm(vpid=0).inv == 1
    assert tlb.lookup(0x2000).hit == 0


# Population for the flush tests: (name, fill operation) in the MIXED TLB.
A, B, C, D = 0x1000, 0x2000, 0x3000, 4 * MB2
POPULATION = {
    "A/vm1/as1": TLBOp.fill(A, 0x11, vpid=1, pcid=1),
    "B/vm1/as2": TLBOp.fill(B, 0x12, vpid=1, pcid=2),
    "C/vm1/global": TLBOp.fill(C, 0x13, vpid=1, pcid=1, glob=True),
    "D2M/vm1/as1": TLBOp.fill(D, 0x400, vpid=1, pcid=1, size=PageSize.SIZE_2M),
    "A/vm2/as1": TLBOp.fill(A, 0x21, vpid=2, pcid=1),
    "A/vm1/as2": TLBOp.fill(A, 0x14, vpid=1, pcid=2),
}
FLUSHES = {
    "invlpg A": (TLBOp.invalidate_address(A + 0xABC, vpid=1), {"A/vm1/as1", "A/vm1/as2"}),
    "invlpg inside 2M page": (TLBOp.invalidate_address(D + 0x5000, vpid=1), {"D2M/vm1/as1"}),
    "invlpg global": (TLBOp.invalidate_address(C, vpid=1), {"C/vm1/global"}),
    "invlpg other VM": (TLBOp.invalidate_address(B, vpid=2), set()),
    "address space": (
        TLBOp.invalidate_address_space(vpid=1, pcid=1),
        {"A/vm1/as1", "D2M/vm1/as1"},
    ),
    "VM keeping globals": (
        TLBOp.invalidate_vm(vpid=1, keep_globals=True),
        {"A/vm1/as1", "B/vm1/as2", "D2M/vm1/as1", "A/vm1/as2"},
    ),
    "VM": (TLBOp.invalidate_vm(vpid=1), set(POPULATION) - {"A/vm2/as1"}),
    "all": (TLBOp.invalidate_all(), set(POPULATION)),
}


@pytest.mark.parametrize("flush", list(FLUSHES))
def test_flush_kinds(make_tlb: MakeTLB, flush: str) -> None:
    tlb = make_tlb(MIXED)
    for op in POPULATION.values():
        assert tlb.step(op).evict == 0
    op, cleared = FLUSHES[flush]
    assert tlb.step(op).inv == len(cleared)
    for name, fill in POPULATION.items():
        assert tlb.lookup(fill.va, fill.vpid, fill.pcid).hit == (name not in cleared), name


def test_refill_updates_in_place(make_tlb: MakeTLB) -> None:
    tlb = make_tlb(MIXED)
    assert tlb.fill(set0(0), pfn=1).way == 0
    assert tlb.fill(set0(0), pfn=2, perms=Perm.W) == TLBEvent(hit=1, way=0)
    assert tlb.lookup(set0(0))[:5] == (1, 0, 0, 2, Perm.W)
    assert tlb.fill(set0(1), pfn=3).way == 1  # way 0 was reused, not duplicated
    assert tlb.invalidate_address(set0(0)).inv == 1


def test_lowest_invalid_way_before_policy(make_tlb: MakeTLB) -> None:
    tlb = make_tlb(MIXED)
    assert [tlb.fill(set0(k), pfn=k).way for k in range(4)] == [0, 1, 2, 3]
    tlb.invalidate_address(set0(2))
    tlb.invalidate_address(set0(1))
    assert tlb.fill(set0(7), pfn=7) == TLBEvent(way=1)
    assert tlb.fill(set0(8), pfn=8) == TLBEvent(way=2)
    assert tlb.fill(set0(9), pfn=9) == TLBEvent(way=0, evict=1)  # LRU: way 0 is oldest


def test_lru_order(make_tlb: MakeTLB) -> None:
    tlb = make_tlb(MIXED)
    for k in range(4):  # A B C D in ways 0..3
        tlb.fill(set0(k), pfn=k)
    tlb.lookup(set0(0))
    tlb.lookup(set0(2))  # recency, oldest first: B D A C
    assert [tlb.fill(set0(k), pfn=k).way for k in (4, 5, 6, 7)] == [1, 3, 0, 2]
    assert [tlb.lookup(set0(k)).hit for k in range(8)] == [0, 0, 0, 0, 1, 1, 1, 1]


def test_plru_order(make_tlb: MakeTLB) -> None:
    tlb = make_tlb(PLRU4)
    for k in range(4):
        tlb.fill(set0(k), pfn=k)
    # Tree bits after touching 0,1,2,3: root 0, left 0, right 0; touching way 0 sets root -> 1
    # (victim on the right) and left -> 1. True LRU would now evict 1, 2, 3 in that order.
    tlb.lookup(set0(0))
    assert [tlb.fill(set0(k), pfn=k).way for k in (4, 5, 6)] == [2, 1, 3]


def test_random_victims_follow_the_lfsr(make_tlb: MakeTLB) -> None:
    tlb = make_tlb(RANDOM4)
    # Victim = LFSR state >> 14; states from seed 0xACE1: ace1 e270 7138 389c 1c4e 0e27 b313.
    for k in range(4):  # invalid ways first: the LFSR does not move
        assert tlb.fill(set0(k), pfn=k).way == k
    assert [tlb.fill(set0(k), pfn=k).way for k in (4, 5, 6, 7)] == [2, 3, 1, 0]
    assert tlb.fill(set0(7), pfn=1).hit == 1  # in place: no victim, no LFSR step
    tlb.invalidate_address(set0(5))  # was in way 3
    assert tlb.fill(set0(8), pfn=8).way == 3  # invalid way: no LFSR step
    assert [tlb.fill(set0(k), pfn=k).way for k in (9, 10, 11)] == [0, 0, 2]


def test_non_power_of_two_ways(make_tlb: MakeTLB) -> None:
    tlb = make_tlb(THREE_WAY)
    # 3-way random, seed 1: victim (state * 3) >> 16 over states 0x0001 0xb400 0x5a00 -> 0 2 1.
    set0_of_4 = [(4 * k) << 12 for k in range(6)]
    assert [tlb.fill(va, pfn=1).way for va in set0_of_4] == [0, 1, 2, 0, 2, 1]
    # 3-way fully associative LRU (2 MiB).
    for k in range(3):
        tlb.fill(k * MB2, pfn=0, size=PageSize.SIZE_2M)
    tlb.lookup(0)
    assert tlb.fill(3 * MB2, pfn=0, size=PageSize.SIZE_2M) == TLBEvent(size=1, way=1, evict=1)


def test_fully_associative_lru(make_tlb: MakeTLB) -> None:
    tlb = make_tlb(UNTAGGED)
    pages = [k << 12 for k in range(8)]
    for va in pages:
        tlb.fill(va, pfn=1)
    for va in pages[:3] + pages[4:]:
        tlb.lookup(va)
    assert tlb.fill(8 << 12, pfn=1) == TLBEvent(way=3, evict=1)


def test_only_the_answering_array_updates_its_policy(make_tlb: MakeTLB) -> None:
    tlb = make_tlb(MIXED)
    # 2 MiB array: 2 sets x 2 ways PLRU; regions 0, 2, 4 share set 0.
    tlb.fill(0, pfn=0, size=PageSize.SIZE_2M)
    tlb.fill(2 * MB2, pfn=0, size=PageSize.SIZE_2M)  # victim now way 0 (region 0)
    tlb.fill(0x5000, pfn=5)
    assert tlb.lookup(0x5000).size == PageSize.SIZE_4K  # 2 MiB entry also matches, unused
    assert tlb.fill(4 * MB2, pfn=0, size=PageSize.SIZE_2M) == TLBEvent(size=1, way=0, evict=1)
    assert tlb.lookup(0x6000).hit == 0
    assert tlb.lookup(2 * MB2).hit == 1


def test_reset_restores_power_on_state(make_tlb: MakeTLB) -> None:
    tlb = make_tlb(MIXED)
    fills = (
        [TLBOp.fill(k << 12, pfn=k) for k in range(24)]
        + [TLBOp.fill(k * MB2, pfn=k << 9, size=PageSize.SIZE_2M) for k in range(8)]
        + [TLBOp.fill(k * GB1, pfn=k << 18, size=PageSize.SIZE_1G) for k in range(4)]
    )
    ops = OpBatch.from_ops(fills + [TLBOp.lookup(op.va) for op in fills])
    first = tlb.run(ops)
    assert first.evict[-len(fills) - 4 : -len(fills)].sum() == 2  # the 1G array's LFSR moved
    tlb.reset()
    assert tlb.run(ops) == first


def test_counters(make_tlb: MakeTLB) -> None:
    tlb = make_tlb(MIXED)
    ops = OpBatch.from_ops(
        [TLBOp.lookup(set0(0)), TLBOp.fill(set0(0), 1), TLBOp.lookup(set0(0))]
        + [TLBOp.fill(set0(k), k) for k in range(1, 6)]  # 2 evictions
        + [TLBOp.fill(set0(5), 9), TLBOp.fill(0, 0, size=PageSize.SIZE_2M)]
        + [TLBOp.lookup(0x1234), TLBOp.invalidate_all(), TLBOp(Op.NOP)]
    )
    assert count_events(ops, tlb.run(ops)) == {
        "lookups": 3,
        "hits": 2,
        "misses": 1,
        "hits_4k": 1,
        "hits_2m": 1,
        "hits_1g": 0,
        "fills": 8,
        "fills_in_place": 1,
        "evictions": 2,
        "invalidations": 1,
        "entries_invalidated": 5,
    }


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (TLBOp.lookup(1 << 48), "va: op 0 has 0x1000000000000, expected < 0x1000000000000"),
        (TLBOp.lookup(0, vpid=4), "vpid: op 0 has 0x4, expected < 0x4"),
        (TLBOp.fill(0, 1 << 20), "pfn: op 0 has 0x100000, expected < 0x100000"),
        (TLBOp(Op.FILL, perms=16), "perms: op 0 has 0x10, expected < 0x10"),
    ],
)
def test_operands_are_checked(make_tlb: MakeTLB, op: TLBOp, message: str) -> None:
    tlb = make_tlb(MIXED)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        tlb.step(op)


def test_fill_into_absent_array_is_rejected(make_tlb: MakeTLB) -> None:
    tlb = make_tlb(PLRU4)
    with pytest.raises(ValueError, match=r"^size: op 0 fills array 2, which has no entries$"):
        tlb.fill(0, 0, size=PageSize.SIZE_1G)


def test_untagged_operands_are_dont_cares(make_tlb: MakeTLB) -> None:
    tlb = make_tlb(UNTAGGED)
    tlb.fill(0x1000, pfn=1, vpid=0xFFFF, pcid=0xFFF)
    assert tlb.lookup(0x1000, vpid=7, pcid=9).hit == 1


@settings(derandomize=True, max_examples=40, deadline=None)
@given(config=st.sampled_from(sorted(CONFIGS)),
       accesses=st.lists(st.tuples(st.integers(0, 63), st.integers(-1, 2), st.booleans()),
                         min_size=1, max_size=120),
       tags=st.tuples(st.integers(0, 3), st.integers(0, 3)), glob=st.booleans())
def test_lookup_fill_is_the_lookup_fill_pairs(config: str, accesses: list[tuple[int, int, bool]],
                                              tags: tuple[int, int], glob: bool) -> None:
    """The replay's fused fast path changes and answers exactly as LOOKUP, FILL pairs do
    (global fills too: the guest kernel's entries)."""
    p = CONFIGS[config]
    arrays = [a for a in range(3) if p.arrays[a].enabled]
    va = np.array([page << 20 | (k % 4) << 12 for k, (page, _, _) in enumerate(accesses)],
                  dtype=np.uint64)  # pages in all three arrays' sets, some repeating
    size = np.array([a if a < 0 or a in arrays else arrays[0] for _, a, _ in accesses],
                    dtype=np.int64)
    pfn = (va >> np.uint64(12)) ^ np.uint64(0x55)
    perms = np.array([Perm.R | (Perm.W if w else 0) for _, _, w in accesses], dtype=np.uint8)
    vpid, pcid = tags[0] % (1 << p.vpid_bits), tags[1] % (1 << p.pcid_bits)
    fused = TLBModel(p)
    hit, evicted = fused.lookup_fill(va, vpid, pcid, size, pfn, perms, glob=glob)
    pairs = TLBModel(p)
    ops = []
    for i in range(len(va)):
        ops.append(TLBOp.lookup(int(va[i]), vpid, pcid))
        if size[i] >= 0:
            ops.append(TLBOp.fill(int(va[i]), int(pfn[i]),
                                  vpid=vpid, pcid=pcid, size=PageSize(int(size[i])),
                                  perms=int(perms[i]), glob=glob))
    ev = pairs.run(OpBatch.from_ops(ops))
    lookups = [i for i, op in enumerate(ops) if op.op == Op.LOOKUP]
    assert hit.tolist() == ev.hit[lookups].tolist()
    assert evicted == int(ev.evict.sum())
    assert fused.entries() == pairs.entries()
