"""The array-backed records of the guest model and the replay (``mmu.frames``, ``mmu.tcache``)
behave as the dicts they replace, on random operation sequences."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.mmu.frames import FrameMap, RefCounts
from codesign.mmu.tcache import TransCache

TOP = 1 << 30

pages = st.integers(0, 600)
ops = st.lists(st.tuples(st.sampled_from(["store", "discard", "lookup"]),
                         st.lists(pages, min_size=1, max_size=40), st.integers(1, 5)),
               max_size=60)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_the_translation_cache_is_a_dict(seq: list) -> None:
    t, d = TransCache(), {}
    for i, (op, ps, n) in enumerate(seq):
        arr = np.array(ps, dtype=np.int64)
        if op == "store":
            uniq = np.unique(arr)
            frame, klass, perms = uniq * 7 + i, uniq % 3, 1 + uniq % 15
            t.store(uniq, frame, klass, perms)
            d.update(zip(uniq.tolist(), zip(frame.tolist(), klass.tolist(), perms.tolist(),
                                             strict=True), strict=True))
        elif op == "discard":
            t.discard(ps[0], n)
            for p in range(ps[0], ps[0] + n):
                d.pop(p, None)
        else:
            frame, klass, perms, found = t.lookup(arr)
            for j, p in enumerate(ps):
                want = d.get(p)
                assert bool(found[j]) == (want is not None)
                if want is not None:
                    assert (frame[j], klass[j], perms[j]) == want
        assert len(t) == len(d)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([4096, 1 << 21]), st.integers(0, 300),
                          st.booleans()), max_size=80))
def test_reference_counts_release_as_one_by_one_would(seq: list) -> None:
    """Bulk adds and releases leave the counts a dict would, and free allocations in the
    order one-by-one releases reach zero."""
    r, d = RefCounts(top=TOP), {}
    allocs = [(base * size, size) for size, base, _ in seq]
    for a in allocs:
        r[a] += 1
        d[a] = d.get(a, 0) + 1
    r.add(allocs[::2])
    for a in allocs[::2]:
        d[a] += 1
    release = [a for (a, (_, _, rel)) in zip(allocs, seq, strict=True) if rel]
    freed_one_by_one = []
    for a in release:
        d[a] -= 1
        if d[a] == 0:
            del d[a]
            freed_one_by_one.append(a)
    assert r.release(release) == freed_one_by_one
    assert dict(r.items()) == d


def test_a_frame_map_keeps_the_top_apart_and_grows_below() -> None:
    m = FrameMap(1 << 21, top=TOP - (32 << 20), end=TOP)
    m.put(np.arange(0, 40 << 21, 1 << 21), np.arange(1, 41))  # 40 pages: the bulk path
    m[TOP - (1 << 21)] = 99
    assert m.get(39 << 21) == 40 and m.get(TOP - (1 << 21)) == 99 and m.get(41 << 21) == 0
    assert len(dict(m.items())) == 41
