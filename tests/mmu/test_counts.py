"""The per-access histogram of a replay (``Counts.add_accesses``): its plain-Python path for
a few rows builds the very dict its numpy path builds, keys in the same order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.mmu import replay
from codesign.mmu.replay import Counts

# Mostly narrow rows, with wide ones (a level count of 64 or more, 2**26 trap units) now
# and then, as short kernel runs and 2D walks without caches give.
ROW = st.tuples(
    *[st.one_of(st.integers(0, 5), st.integers(60, 70)) for _ in range(4)],
    st.integers(0, 3), st.one_of(st.integers(0, 3), st.just(1 << 26)), st.integers(0, 1))


def histogram(batches: list[tuple[int, list[tuple[int, ...]]]], small: int,
              monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple[int, ...], int]]:
    monkeypatch.setattr(replay, "SMALL_ROWS", small)
    c = Counts()
    for n, rows in batches:
        c.add_accesses(n, np.array(rows, dtype=np.int64).reshape(len(rows), 7))
    return list(c.per_access.items())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(ROW, max_size=12), min_size=1, max_size=5))
def test_the_small_path_builds_the_same_histogram_in_the_same_order(
        batches: list[list[tuple[int, ...]]]) -> None:
    with pytest.MonkeyPatch.context() as mp:
        runs = [(len(rows) + 3, rows) for rows in batches]
        assert histogram(runs, 1 << 30, mp) == histogram(runs, 0, mp)


@pytest.mark.parametrize("small", [0, 1 << 30])
@pytest.mark.parametrize("row", [(-1, 0, 0, 0, 0, 0, 0), (1 << 12, 0, 0, 0, 0, 0, 0),
                                 (0, 0, 0, 0, 1 << 12, 0, 0)])
def test_a_row_out_of_range_is_refused_by_both_paths(
        small: int, row: tuple[int, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay, "SMALL_ROWS", small)
    with pytest.raises(ValueError, match="out of the histogram's range"):
        Counts().add_accesses(2, np.array([row], dtype=np.int64))
