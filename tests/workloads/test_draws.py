"""The compiled replay of numpy's default generator draws what numpy draws, in any order.

numpy's ``Generator`` is the golden model: each test makes a sequence of calls on it and the
same sequence on :mod:`workloads.memory.draws`, and compares every value.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.memory import draws

DERANDOMIZED = settings(derandomize=True, deadline=None, max_examples=60)


@pytest.mark.parametrize("seed", [0, 1, 7, 2**63 - 1])
def test_raw_outputs_are_pcg64(seed: int) -> None:
    g = draws.state(seed)
    expected = np.random.default_rng(seed).bit_generator.random_raw(2000)
    assert [int(draws.next64(g)) for _ in range(2000)] == expected.tolist()


RANGES = [1, 2, 3, 15, 511, 1000, 2**31, 2**32 - 2, 2**32 - 1, 2**32, 2**40 + 3, 2**63,
          2**64 - 2, 2**64 - 1]


@pytest.mark.parametrize("top", RANGES)
def test_bounded_integers_match_integers(top: int) -> None:
    rng = np.random.default_rng(3)
    g = draws.state(3)
    expected = rng.integers(0, top, size=500, dtype=np.uint64, endpoint=True)
    got = [int(draws.bounded(g, np.uint64(top))) for _ in range(500)]
    assert got == expected.tolist()


def call(rng: np.random.Generator, g: np.ndarray, op: tuple) -> tuple[list, list]:
    """One call on numpy and on the replay: (numpy's values, the replay's values)."""
    kind, a, b = op
    if kind == "scalar":  # rng.integers(low, high): int64, size None
        expected = [int(rng.integers(a, a + b + 1))]
        got = [a + int(draws.bounded(g, np.uint64(b)))]
    elif kind == "array":  # rng.integers(0, high, size=a, dtype=uint64)
        expected = rng.integers(0, b + 1, size=a, dtype=np.uint64).tolist()
        got = [int(draws.bounded(g, np.uint64(b))) for _ in range(a)]
    elif kind == "random":
        expected = [rng.random()]
        got = [draws.uniform(g)]
    elif kind == "permutation":
        expected = rng.permutation(a).tolist()
        out = np.empty(a, dtype=np.int64)
        draws.permutation(g, a, out)
        got = out.tolist()
    else:  # choice without replacement
        expected = rng.choice(a, size=b, replace=False).tolist()
        out = np.empty(b, dtype=np.int64)
        marks, vals, gen = draws.scratch(a)
        draws.choice(g, a, b, out, marks, vals, gen)
        got = out.tolist()
    return expected, got


ops = st.one_of(
    st.tuples(st.just("scalar"), st.integers(-5, 5), st.sampled_from([0, 1, 14, 511, 2**33])),
    st.tuples(st.just("array"), st.integers(0, 7), st.sampled_from([0, 1, 63, 511, 2**32 - 1])),
    st.tuples(st.just("random"), st.just(0), st.just(0)),
    st.tuples(st.just("permutation"), st.integers(0, 40), st.just(0)),
    st.integers(1, 60).flatmap(
        lambda n: st.tuples(st.just("choice"), st.just(n), st.integers(0, n))),
    st.sampled_from([("choice", 20_000, 500), ("choice", 20_000, 20_000), ("choice", 20_000, 3),
                     ("choice", 10_001, 201), ("choice", 10_000, 5000)]),
)


@DERANDOMIZED
@given(st.integers(0, 2**32), st.lists(ops, max_size=12))
def test_any_sequence_of_calls_draws_what_numpy_draws(seed: int, sequence: list) -> None:
    rng = np.random.default_rng(seed)
    g = draws.state(seed)
    for op in sequence:
        expected, got = call(rng, g, op)
        assert got == expected, op
    # and the generators are left in the same state, buffered 32-bit half included
    assert int(draws.next32(g)) == int(rng.integers(0, 2**32 - 1, dtype=np.uint64,
                                                    endpoint=True))
    assert int(draws.next64(g)) == int(rng.bit_generator.random_raw())


def test_choice_scratch_is_reused_across_populations() -> None:
    rng = np.random.default_rng(11)
    g = draws.state(11)
    marks, vals, gen = draws.scratch(30_000)
    for population, size in [(50, 10), (30_000, 29_000), (20, 20), (12_000, 600), (50, 49)]:
        out = np.empty(size, dtype=np.int64)
        draws.choice(g, population, size, out, marks, vals, gen)
        assert out.tolist() == rng.choice(population, size=size, replace=False).tolist()
