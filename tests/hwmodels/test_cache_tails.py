"""Other hierarchies on one pass of a hierarchy (:class:`CacheTails`): every reference's
level in every tail is exactly what that hierarchy gives alone -- tails after a shared L1
(other L2 and LLC pairs under "nine") and whole ones (anything else) -- on generated streams
(any hierarchy, every placement) and a recorded one."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwmodels.cache import ABSENT, CacheLevelParams, CacheModel, CacheParams
from hwmodels.cache.model import MAX_VARIANTS, CacheTails, tails_batch
from hwmodels.cache.params import PLACEMENTS
from tests.hwmodels.test_cache import SMALL, hierarchies, lackey_addresses

KIB = 1 << 10


def one_pass(params: CacheParams, tails: list[CacheParams], addrs: np.ndarray
             ) -> list[np.ndarray]:
    """Per tail, the level of every reference, from one pass of the hierarchy."""
    lv = CacheModel(params).access(addrs).astype(np.int64)
    t = CacheTails(params, tails)
    missed = np.flatnonzero(lv >= t.start)
    levels = np.zeros((len(missed), len(tails)), dtype=np.int64)
    tails_batch(t.state, t.offsets, addrs.astype(np.int64)[missed], levels)
    out = []
    for k in range(len(tails)):
        got = lv.copy()
        got[missed] = levels[:, k]
        out.append(got)
    return out


def alone(params: CacheParams, addrs: np.ndarray) -> np.ndarray:
    return CacheModel(params).access(addrs).astype(np.int64)


@st.composite
def levels(draw: st.DrawFn, line: int) -> CacheLevelParams:
    if draw(st.integers(0, 4)) == 0:
        return ABSENT
    sets, ways = draw(st.sampled_from([1, 2, 4, 8, 16])), draw(st.integers(1, 6))
    return CacheLevelParams(sets * ways * line, ways, 1)


@settings(derandomize=True, max_examples=80, deadline=None)
@given(data=st.data(), params=hierarchies(), placement=st.sampled_from(PLACEMENTS),
       seed=st.integers(0, 2**31 - 1),
       refs=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 47)), min_size=1,
                     max_size=400))  # few lines: they come back after L1 lost them
def test_every_tail_is_its_hierarchy_alone(data: st.DataObject, params: CacheParams,
                                           placement: str, seed: int,
                                           refs: list[tuple[int, int]]) -> None:
    params = dataclasses.replace(params, inclusion="nine", placement=placement,
                                 placement_seed=seed)
    tails = [dataclasses.replace(params, l2=data.draw(levels(params.line)),
                                 llc=data.draw(levels(params.line)))
             for _ in range(data.draw(st.integers(1, 5)))]
    addrs = np.array([(f << 12) + w * 8 for f, w in refs], dtype=np.uint64)
    for k, got in enumerate(one_pass(params, tails, addrs)):
        assert np.array_equal(got, alone(tails[k], addrs)), k


@settings(derandomize=True, max_examples=60, deadline=None)
@given(data=st.data(), params=hierarchies(), placement=st.sampled_from(PLACEMENTS),
       refs=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 47)), min_size=1,
                     max_size=400))
def test_every_whole_tail_is_its_hierarchy_alone(data: st.DataObject, params: CacheParams,
                                                 placement: str,
                                                 refs: list[tuple[int, int]]) -> None:
    params = dataclasses.replace(params, placement=placement)
    tails = [dataclasses.replace(data.draw(hierarchies()),  # any line size too
                                 placement=data.draw(st.sampled_from(PLACEMENTS)),
                                 placement_seed=data.draw(st.integers(0, 9)))
             for _ in range(data.draw(st.integers(1, 4)))]
    addrs = np.array([(f << 12) + w * 8 for f, w in refs], dtype=np.uint64)
    for k, got in enumerate(one_pass(params, tails, addrs)):
        assert np.array_equal(got, alone(tails[k], addrs)), k


def test_a_recorded_stream_in_eight_tails() -> None:
    addrs = np.tile(lackey_addresses(), 2)
    pairs = [((32, 4), (256, 8)), ((64, 8), (256, 8)), ((16, 4), (512, 16)), ((0, 0), (128, 8)),
             ((64, 8), (0, 0)), ((128, 8), (1024, 16)), ((8, 1), (64, 4)), ((32, 8), (32, 8))]
    tails = [dataclasses.replace(SMALL, l2=CacheLevelParams(a * KIB, w, 12),
                                 llc=CacheLevelParams(b * KIB, v, 40))
             for (a, w), (b, v) in pairs]
    results = one_pass(SMALL, tails, addrs)
    for tail, got in zip(tails, results, strict=True):
        assert np.array_equal(got, alone(tail, addrs))
    # the pairs differ where it matters: L2 and the LLC serve different shares of them
    assert len({(int((r == 1).sum()), int((r == 2).sum())) for r in results}) >= 6


def test_where_tails_start_and_what_they_may_hold() -> None:
    l2 = CacheLevelParams(16 * KIB, 8, 10)
    assert CacheTails(SMALL, [dataclasses.replace(SMALL, l2=l2)]).start == 1
    inclusive = dataclasses.replace(SMALL, inclusion="inclusive")
    assert CacheTails(inclusive, [dataclasses.replace(inclusive, l2=l2)]).start == 0
    assert CacheTails(SMALL, [dataclasses.replace(SMALL, l1=ABSENT)]).start == 0
    assert CacheTails(SMALL, [dataclasses.replace(SMALL, placement_seed=3,
                                                  placement="uncoloured")]).start == 0
    with pytest.raises(ValueError, match="at most"):
        CacheTails(SMALL, [SMALL] * (MAX_VARIANTS + 1))
    big = dataclasses.replace(SMALL, llc=CacheLevelParams(1 << 30, 16, 40))
    with pytest.raises(ValueError, match="MiB, more than"):
        CacheTails(SMALL, [big] * 5)  # 256 MiB of state each
