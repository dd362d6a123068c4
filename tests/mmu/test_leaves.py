"""The guest model's leaf table (``codesign.mmu.leaves``) behaves as the dict of leaves it
replaced: same answers, listed in address order, and its compiled lookups agree with its
per-page ones."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.mmu.leaves import Leaf, Leaves
from hwmodels.pagewalk.tables import PAGE_2M, PAGE_4K

VA = st.integers(0, 2047).map(lambda i: 0x7F00_0000_0000 + i * PAGE_4K)


@st.composite
def leaves(draw: st.DrawFn, va: int) -> Leaf:
    """A leaf that can sit at ``va``: 4 KiB (its own frame, or a piece of a split 2 MiB
    allocation) or, at a 2 MiB boundary, 2 MiB."""
    frame = draw(st.integers(256, 1 << 27))
    prot, cow = draw(st.integers(0, 7)), draw(st.booleans())
    kind = draw(st.sampled_from(["4k", "piece", "2m"] if va % PAGE_2M == 0 else ["4k", "piece"]))
    if kind == "2m":
        gpa = frame << 21 & ((1 << 40) - 1)
        return Leaf(gpa, PAGE_2M, prot, cow, (gpa, PAGE_2M))
    gpa = frame << 12
    if kind == "piece":
        return Leaf(gpa, PAGE_4K, prot, cow, (gpa & ~(PAGE_2M - 1), PAGE_2M))
    return Leaf(gpa, PAGE_4K, prot, cow, (gpa, PAGE_4K))


@st.composite
def programs(draw: st.DrawFn) -> list[tuple]:
    out = []
    for _ in range(draw(st.integers(0, 60))):
        op = draw(st.sampled_from(["set", "set", "pop", "bulk"]))
        if op == "bulk":
            vas = draw(st.lists(VA, max_size=8, unique=True))
            out.append(("bulk", vas, [draw(st.integers(256, 1 << 27)) << 12 for _ in vas],
                        [draw(st.integers(0, 7)) for _ in vas]))
        else:
            va = draw(VA | st.integers(0, 7).map(lambda i: 0x7F00_0000_0000 + i * PAGE_2M))
            out.append((op, va, draw(leaves(va))))
    return out


def _leaf_at(d: dict[int, Leaf], va: int) -> Leaf | None:
    leaf = d.get(va & ~(PAGE_4K - 1))
    if leaf is not None and leaf.size == PAGE_4K:
        return leaf
    leaf = d.get(va & ~(PAGE_2M - 1))
    return leaf if leaf is not None and leaf.size == PAGE_2M else None


@settings(max_examples=150, deadline=None)
@given(programs())
def test_leaves_answer_as_a_dict_of_leaves(program: list[tuple]) -> None:
    ref: dict[int, Leaf] = {}
    lv = Leaves()
    for op, *args in program:
        if op == "set":
            va, leaf = args
            ref[va] = leaf
            lv[va] = Leaf(leaf.gpa, leaf.size, leaf.prot, leaf.cow, leaf.alloc)
        elif op == "pop":
            va, _ = args
            if va in ref:
                assert lv.pop(va) == ref.pop(va)
            else:
                with pytest.raises(KeyError):
                    lv.pop(va)
        else:
            vas, gpas, prots = args
            fresh = [i for i, va in enumerate(vas) if va not in ref]
            vas, gpas, prots = ([x[i] for i in fresh] for x in (vas, gpas, prots))
            for va, gpa, prot in zip(vas, gpas, prots, strict=True):
                ref[va] = Leaf(gpa, PAGE_4K, prot, False, (gpa, PAGE_4K))
            lv.put_4k(*(np.array(x, dtype=np.int64) for x in (vas, gpas, prots)))
        assert len(lv) == len(ref)
    assert list(lv) == sorted(ref)
    assert lv.items() == sorted(ref.items(), key=lambda item: item[0])
    assert lv.values() == [ref[va] for va in sorted(ref)]
    probe = sorted({va + off for va in ref for off in (0, PAGE_4K, 0x123)}
                   | {0x7F00_0000_0000 + i * PAGE_4K for i in range(0, 2048, 97)})
    for va in probe:
        assert lv.get(va) == ref.get(va)
        assert (va in lv) == (va in ref)
    present, cow = lv.state(np.array(probe, dtype=np.int64) >> 12)
    want = [_leaf_at(ref, va) for va in probe]
    assert present.tolist() == [w is not None for w in want]
    assert cow.tolist() == [w is not None and w.cow for w in want]
    lo, hi = 0x7F00_0000_0000 + 100 * PAGE_4K, 0x7F00_0000_0000 + 900 * PAGE_4K
    assert lv.in_range(lo, hi) == sorted(va for va in ref if lo <= va < hi)


def test_a_leaf_the_table_cannot_hold_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot pack"):
        Leaves()[0x1000] = Leaf(0x5000, PAGE_4K, 3, False, (0x9000, PAGE_4K))


def test_put_4k_refuses_a_page_that_has_a_leaf() -> None:
    lv = Leaves()
    lv[0x1000] = Leaf(0x5000, PAGE_4K, 3, False, (0x5000, PAGE_4K))
    with pytest.raises(AssertionError, match="already had a leaf"):
        lv.put_4k(np.array([0x1000]), np.array([0x6000]), np.array([3]))
