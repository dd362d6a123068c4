"""Several last-level caches on one pass of the hierarchy (:class:`LLCVariants`): every
reference's level in every variant is exactly what a hierarchy with that LLC gives alone,
on generated streams (any hierarchy, ordered and scattered placement) and a recorded one."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwmodels.cache import ABSENT, CacheLevelParams, CacheModel, CacheParams
from hwmodels.cache.model import MAX_VARIANTS, LLCVariants, access_variants_batch
from hwmodels.cache.params import PLACEMENTS
from tests.hwmodels.test_cache import SMALL, hierarchies, lackey_addresses

KIB = 1 << 10


def one_pass(params: CacheParams, llcs: list[CacheLevelParams],
             addrs: np.ndarray) -> list[np.ndarray]:
    """Per variant, the level of every reference, from one pass."""
    model, var = CacheModel(params), LLCVariants(params, llcs)
    lv = np.zeros(len(addrs), dtype=np.int64)
    mask = np.zeros(len(addrs), dtype=np.int64)
    access_variants_batch(model.state, var.state, addrs.astype(np.int64), lv, mask)
    assert np.array_equal(lv, CacheModel(params).access(addrs))  # the hierarchy's own, unchanged
    out = []
    for k in range(len(llcs)):
        hit = (mask >> k) & 1
        assert not hit[lv < 2].any()
        out.append(np.where(lv < 2, lv, np.where(hit == 1, 2, 3)))
    return out


def alone(params: CacheParams, llc: CacheLevelParams, addrs: np.ndarray) -> np.ndarray:
    return CacheModel(dataclasses.replace(params, llc=llc)).access(addrs).astype(np.int64)


@st.composite
def llc_sets(draw: st.DrawFn, line: int) -> list[CacheLevelParams]:
    out = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.integers(0, 5)) == 0:
            out.append(ABSENT)
        else:
            sets, ways = draw(st.sampled_from([1, 2, 4, 8, 16])), draw(st.integers(1, 6))
            out.append(CacheLevelParams(sets * ways * line, ways, 1))
    return out


@settings(derandomize=True, max_examples=80, deadline=None)
@given(data=st.data(), params=hierarchies(), placement=st.sampled_from(PLACEMENTS),
       seed=st.integers(0, 2**31 - 1),
       refs=st.lists(st.tuples(st.integers(0, 600), st.integers(0, 511)), min_size=1,
                     max_size=400))
def test_every_variant_is_its_hierarchy_alone(data: st.DataObject, params: CacheParams,
                                              placement: str, seed: int,
                                              refs: list[tuple[int, int]]) -> None:
    params = dataclasses.replace(params, inclusion="nine", placement=placement,
                                 placement_seed=seed)
    llcs = data.draw(llc_sets(params.line))
    addrs = np.array([(f << 12) + w * 8 for f, w in refs], dtype=np.uint64)
    for k, got in enumerate(one_pass(params, llcs, addrs)):
        assert np.array_equal(got, alone(params, llcs[k], addrs)), k


def test_a_recorded_stream_in_eight_llcs() -> None:
    addrs = np.tile(lackey_addresses(), 2)
    llcs = [CacheLevelParams(s * KIB, w, 40) for s, w in
            ((16, 8), (32, 8), (64, 8), (64, 16), (128, 4), (8, 1), (256, 16), (16, 16))]
    results = one_pass(SMALL, llcs, addrs)
    for llc, got in zip(llcs, results, strict=True):
        want = alone(SMALL, llc, addrs)
        assert np.array_equal(got, want)
    # the sizes differ where it matters: some references are served by one LLC, not another
    assert len({int((r == 2).sum()) for r in results}) >= 4


def test_variants_need_a_non_inclusive_llc_and_a_bound() -> None:
    with pytest.raises(ValueError, match="inclusion = 'nine'"):
        LLCVariants(dataclasses.replace(SMALL, inclusion="inclusive"), [])
    with pytest.raises(ValueError, match=f"at most {MAX_VARIANTS}"):
        LLCVariants(SMALL, [SMALL.llc] * (MAX_VARIANTS + 1))
    with pytest.raises(ValueError, match="power-of-two number of sets"):
        LLCVariants(SMALL, [CacheLevelParams(48 * KIB, 8, 40)])
