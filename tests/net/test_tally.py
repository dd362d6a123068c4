"""Delivery metrics in bounded memory (:mod:`codesign.net.tally`): the same bits whatever
the order of the values and however they are cut, in memory or spilled to a file."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.net.tally import Deliveries, ExactSum, Ranks, order_keys

FLOATS = st.floats(allow_nan=False, allow_infinity=False, width=64)
MODEST = st.floats(min_value=-1e300, max_value=1e300, width=64)
CUTS = st.lists(st.integers(0, 60), max_size=6)


def _pieces(values: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    bounds = [0, *sorted(min(c, len(values)) for c in cuts), len(values)]
    return [values[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=200, deadline=None)
@given(st.lists(MODEST, max_size=60), CUTS, st.randoms(use_true_random=False))
def test_exact_sum_is_the_rounded_exact_sum_whatever_the_cuts_and_order(
        values: list[float], cuts: list[int], rnd) -> None:
    exact = sum((Fraction(v) for v in values), Fraction(0))
    a = np.array(values, dtype=np.float64)
    s = ExactSum()
    for piece in _pieces(a, cuts):
        s.add(piece)
    shuffled = list(values)
    rnd.shuffle(shuffled)
    t = ExactSum()
    t.add(np.array(shuffled, dtype=np.float64))
    assert s.value() == t.value() == float(exact)
    if values:
        assert s.mean(len(values)) == float(exact / len(values))
    assert s.value() == math.fsum(values)


def test_exact_sum_refuses_what_is_not_finite_and_is_zero_when_empty() -> None:
    s = ExactSum()
    assert s.value() == 0.0 and s.mean(0) == 0.0
    s.add(np.array([1.7e308, 1.7e308]))
    assert s.value() == math.inf and s.mean(2) == 1.7e308
    with pytest.raises(ValueError, match="not finite"):
        s.add(np.array([1.0, np.nan]))


def test_exact_sum_differs_from_a_running_sum_where_the_running_sum_is_wrong() -> None:
    # 0.1 ten times: a running sum gives 0.9999999999999999, the exact sum rounds to 1.0
    s = ExactSum()
    s.add(np.full(10, 0.1))
    assert s.value() == 1.0 != sum([0.1] * 10)


@settings(max_examples=100, deadline=None)
@given(st.lists(FLOATS, min_size=1, max_size=80), CUTS, st.integers(1, 40),
       st.data())
def test_ranks_spilled_or_not_are_the_sorted_values(values: list[float], cuts: list[int],
                                                    in_memory: int, data) -> None:
    a = np.array(values, dtype=np.float64)
    ranks = data.draw(st.lists(st.integers(0, len(a) - 1), min_size=1, max_size=4))
    want = [float(np.sort(a)[r]) for r in ranks]
    r = Ranks(in_memory=in_memory)
    r.BLOCK = 7  # several blocks a pass over the file
    for piece in _pieces(a, cuts):
        r.add(piece)
    assert r.spilled == (len(a) > in_memory)
    assert r.select(ranks) == want
    r.close()


def test_spilled_ranks_narrow_down_values_that_share_their_high_bits() -> None:
    # a million latencies within a factor of two of each other share the sign, exponent and
    # more: the selection must go down several 16-bit digits
    rng = np.random.default_rng(3)
    a = 10.0 + rng.random(1_000_000)
    a[::7] = 10.5  # many equal values
    r = Ranks(in_memory=1000)
    for piece in np.array_split(a, 13):
        r.add(piece)
    ranks = [0, 499_999, 989_999, 999_999]
    assert r.spilled
    assert r.select(ranks) == np.sort(a)[ranks].tolist()
    with pytest.raises(ValueError, match="outside"):
        r.select([1_000_000])


def test_order_keys_order_like_the_floats() -> None:
    v = np.array([-np.inf, -1e300, -1.0, -0.0, 0.0, 5e-324, 1.0, 1e300, np.inf])
    assert (np.diff(order_keys(v).astype(object)) >= 0).all()


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 200), CUTS, st.integers(1, 300), st.integers(0, 2**32))
def test_deliveries_in_pieces_give_what_they_give_whole(n: int, cuts: list[int],
                                                        in_memory: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    port = np.sort(rng.integers(0, 10**6, n)).astype(np.float64)
    dep = port + rng.integers(1, 10**4, n) + rng.random(n)
    size = rng.integers(64, 1519, n)
    direction = rng.integers(1, 3, n).astype(np.uint8)
    whole = Deliveries()
    whole.add(dep, port, size, direction)
    parts = Deliveries(in_memory=in_memory)
    order = rng.permutation(n)
    cols = [c[order] for c in (dep, port, size, direction)]
    bounds = [0, *sorted(min(c, n) for c in cuts), n]
    for a, b in itertools.pairwise(bounds):
        parts.add(*(c[a:b] for c in cols))
    for d in (whole, parts):
        assert d.count == n
    assert whole.latency_us() == parts.latency_us()
    assert whole.throughput_pps() == parts.throughput_pps()
    assert [whole.goodput(c, 20) for c in (1, 2)] == [parts.goodput(c, 20) for c in (1, 2)]
    if n:
        lat = (dep - port) / 1e3
        k = max(math.ceil(99 * n / 100.0) - 1, 0)
        assert whole.latency_us()["latency.p99_us"] == float(np.sort(lat)[k])
