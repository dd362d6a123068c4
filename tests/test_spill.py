"""Values appended in pieces (:mod:`codesign.spill`): the same values back, in order, whether
they stayed in memory or went to the file."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.spill import Spill


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(-2**63, 2**63 - 1), max_size=20), max_size=8),
       st.integers(0, 50), st.integers(1, 9))
def test_values_come_back_in_order(pieces: list[list[int]], in_memory: int,
                                   block: int) -> None:
    s = Spill(np.int64, in_memory=in_memory)
    for p in pieces:
        s.add(np.array(p, dtype=np.int64))
    want = [v for p in pieces for v in p]
    assert len(s) == len(want)
    assert s.spilled == (len(want) > in_memory)
    for _ in range(2):  # every pass is the values
        assert s.array().tolist() == want
        blocks = list(s.blocks(block))
        assert all(0 < len(b) <= block for b in blocks)
        assert [v for b in blocks for v in b.tolist()] == want
    s.close()
    assert len(s) == 0 and s.array().tolist() == []


def test_a_spilled_array_is_a_read_only_map() -> None:
    s = Spill(np.float64, in_memory=2)
    s.add(np.arange(5.0))
    a = s.array()
    assert isinstance(a, np.memmap) and not a.flags.writeable
    assert a.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
