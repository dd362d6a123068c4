"""Value forms of a sweep spec: scalars, lists, linear and pow2 ranges, distributions."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.errors import InputError
from codesign.sweep.values import Distribution, axis_values, is_value_spec, value_count

FAST = settings(derandomize=True, max_examples=100, deadline=None)


def error(value: object, key: str = "k") -> str:
    with pytest.raises(InputError) as info:
        axis_values(value, key)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- scalars and lists ----------------------------------------------------------------------

@pytest.mark.parametrize("value", [4, 0.5, True, "4K"])
def test_a_scalar_is_one_value(value: object) -> None:
    assert axis_values(value, "k") == [value]


def test_a_list_is_one_grid_axis() -> None:
    assert axis_values([4, 5, "x", False, 0.5], "k") == [4, 5, "x", False, 0.5]


def test_value_spec_recognition() -> None:
    assert is_value_spec({"range": [1, 2]})
    assert is_value_spec({"choice": [1]})
    assert not is_value_spec({"levels": [1, 2]})
    assert not is_value_spec([1, 2])


# --- linear ranges --------------------------------------------------------------------------

@given(st.integers(-1000, 1000), st.integers(0, 3000), st.integers(1, 97))
@FAST
def test_integer_range_count_and_ends(start: int, span: int, step: int) -> None:
    stop = start + span
    values = axis_values({"range": [start, stop], "step": step}, "k")
    assert len(values) == span // step + 1
    assert values[0] == start
    assert values[-1] <= stop < values[-1] + step
    assert all(type(v) is int for v in values)
    assert all(b - a == step for a, b in itertools.pairwise(values))


def test_integer_range_default_step_is_one() -> None:
    assert axis_values({"range": [3, 7]}, "k") == [3, 4, 5, 6, 7]
    assert axis_values({"range": [-2, -2]}, "k") == [-2]


@given(st.sampled_from([10, 100, 1000]), st.integers(-500, 500), st.integers(1, 50),
       st.integers(0, 40))
@FAST
def test_float_range_includes_both_ends_exactly(scale: int, a: int, s: int, k: int) -> None:
    # start, step and stop on a decimal grid, stop = start + k steps: k + 1 values,
    # the first exactly start and the last exactly stop, none outside [start, stop].
    start, step, stop = a / scale, s / scale, (a + k * s) / scale
    values = axis_values({"range": [start, stop], "step": step}, "k")
    assert len(values) == k + 1
    assert all(type(v) is float for v in values)
    assert values[0] == start
    assert values[-1] == stop
    assert all(start <= v <= stop for v in values)
    for i, v in enumerate(values):
        assert v == pytest.approx((a + i * s) / scale, abs=1e-12)


@given(st.sampled_from([10, 100, 1000]), st.integers(-500, 500), st.integers(1, 50),
       st.integers(0, 40), st.floats(0.05, 0.95))
@FAST
def test_float_range_stops_before_an_unaligned_stop(scale: int, a: int, s: int, k: int,
                                                    part: float) -> None:
    start, step = a / scale, s / scale
    stop = start + (k + part) * step
    values = axis_values({"range": [start, stop], "step": step}, "k")
    assert len(values) == k + 1
    assert values[-1] <= stop


def test_float_range_examples() -> None:
    assert axis_values({"range": [0, 1], "step": 0.25}, "f") == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert axis_values({"range": [1.0, 3.0]}, "f") == [1.0, 2.0, 3.0]
    assert axis_values({"range": [0, 2], "step": 1.0}, "f") == [0.0, 1.0, 2.0]


def test_a_fraction_range_ends_on_its_stop() -> None:
    # The last value must be the stop the user wrote: 0.3 (not 0.30000000000000004) keys
    # the same design point as a list [0.3], and 1.0 stays within a fraction's bounds.
    assert axis_values({"range": [0.0, 0.3], "step": 0.1}, "f") == [0.0, 0.1, 0.2, 0.3]
    assert axis_values({"range": [0.09, 1.0], "step": 0.07}, "f")[-1] == 1.0


# --- pow2 ranges ----------------------------------------------------------------------------

@pytest.mark.parametrize(("bounds", "expected"), [
    ([16, 1024], [16, 32, 64, 128, 256, 512, 1024]),
    ([10, 100], [16, 32, 64]),
    ([1, 1], [1]),
    ([1, 7], [1, 2, 4]),
    ([0.5, 4], [1, 2, 4]),
    ([64, 64.5], [64]),
])
def test_pow2_ranges(bounds: list, expected: list) -> None:
    assert axis_values({"range": bounds, "scale": "pow2"}, "k") == expected


@given(st.integers(1, 2**40), st.integers(0, 2**41))
@FAST
def test_pow2_range_is_every_power_of_two_inside(lo: int, hi: int) -> None:
    inside = [1 << e for e in range(0, 43) if lo <= (1 << e) <= hi]
    if not inside:
        assert "no power of two inside" in error({"range": [lo, hi], "scale": "pow2"})
        return
    assert axis_values({"range": [lo, hi], "scale": "pow2"}, "k") == inside


# --- empty ranges and bad forms -------------------------------------------------------------

@pytest.mark.parametrize(("value", "message"), [
    ({"range": [5, 1]}, "n: empty range [5, 1]"),
    ({"range": [1.5, 1.0], "step": 0.1}, "n: empty range [1.5, 1.0]"),
    ({"range": [3, 3], "scale": "pow2"}, "n: empty range [3, 3] (no power of two inside)"),
    ({"range": [5, 7], "scale": "pow2"}, "n: empty range [5, 7] (no power of two inside)"),
    ({"range": [0, 8], "scale": "pow2"}, "n: a pow2 range needs start > 0, got 0"),
    ({"range": [-4, 8], "scale": "pow2"}, "n: a pow2 range needs start > 0, got -4"),
    ({"range": [1, 8], "scale": "pow2", "step": 2}, "n: step does not apply to scale = 'pow2'"),
    ({"range": [1, 8], "scale": "log"}, "n: scale must be 'linear' or 'pow2', got 'log'"),
    ({"range": [1, 8], "step": 0}, "n: step must be a number > 0, got 0"),
    ({"range": [1, 8], "step": -1}, "n: step must be a number > 0, got -1"),
    ({"range": [1, 8], "step": "2"}, "n: step must be a number > 0, got '2'"),
    ({"range": [1, 8], "step": True}, "n: step must be a number > 0, got True"),
    ({"range": [1]}, "n: range must be [start, stop] with two numbers, got [1]"),
    ({"range": [1, 2, 3]}, "n: range must be [start, stop] with two numbers, got [1, 2, 3]"),
    ({"range": ["a", 2]}, "n: range must be [start, stop] with two numbers, got ['a', 2]"),
    ({"range": [1, math.inf]}, "n: range must be [start, stop]: expected a finite number, got inf"),
    ({"range": [True, 2]}, "n: range must be [start, stop] with two numbers, got [True, 2]"),
    ({"range": 5}, "n: range must be [start, stop] with two numbers, got 5"),
    ({"range": [1, 2], "stpe": 1}, "n: unknown field 'stpe' in value table; did you mean 'step'?"),
    ({"range": [1, 2], "uniform": [0, 1]},
     "n: a value table needs exactly one of range, uniform, loguniform, randint, choice; "
     "got ['range', 'uniform']"),
    ({"step": 1},
     "n: a value table needs exactly one of range, uniform, loguniform, randint, choice; "
     "got none"),
    ({"uniform": [0, 1], "step": 0.1}, "n: 'step' belongs with range, not uniform"),
    ([], "n: empty list (give at least one value)"),
    ([1, [2]], "n: list items must be numbers, strings or booleans, got [2]"),
    ([1, {"a": 1}], "n: list items must be numbers, strings or booleans, got {'a': 1}"),
    (None, "n: expected a value, a list, {range = [a, b]} or a distribution, got None"),
    (math.nan, "n: expected a finite number, got nan"),
])
def test_bad_forms_are_one_line_errors(value: object, message: str) -> None:
    assert error(value, "n") == message


# --- distributions --------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ({"uniform": [0, 1]}, Distribution("uniform", (0, 1))),
    ({"loguniform": [1, 1000]}, Distribution("loguniform", (1, 1000))),
    ({"randint": [2, 5]}, Distribution("randint", (2, 5))),
    ({"randint": [3, 3]}, Distribution("randint", (3, 3))),
    ({"choice": ["4K", "2M"]}, Distribution("choice", ("4K", "2M"))),
])
def test_distribution_forms(value: dict, expected: Distribution) -> None:
    assert axis_values(value, "k") == expected


@pytest.mark.parametrize(("value", "message"), [
    ({"uniform": [1, 1]}, "n: uniform needs low < high, got [1, 1]"),
    ({"uniform": [2, 1]}, "n: uniform needs low < high, got [2, 1]"),
    ({"uniform": [1]}, "n: uniform needs [low, high] with two numbers, got [1]"),
    ({"uniform": "0..1"}, "n: uniform needs [low, high] with two numbers, got '0..1'"),
    ({"loguniform": [0, 1]}, "n: loguniform needs 0 < low < high, got [0, 1]"),
    ({"loguniform": [-1, 1]}, "n: loguniform needs 0 < low < high, got [-1, 1]"),
    ({"randint": [1.5, 3]}, "n: randint needs integers low <= high, got [1.5, 3]"),
    ({"randint": [3, 1]}, "n: randint needs integers low <= high, got [3, 1]"),
    ({"choice": []}, "n: choice needs a non-empty list of values, got []"),
    ({"choice": [1, [2]]}, "n: choice needs a non-empty list of values, got [1, [2]]"),
])
def test_bad_distributions(value: dict, message: str) -> None:
    assert error(value, "n") == message


distributions = st.one_of(
    st.tuples(st.floats(-1e6, 1e6), st.floats(1e-3, 1e6)).map(
        lambda t: Distribution("uniform", (t[0], t[0] + t[1]))),
    st.tuples(st.floats(1e-6, 1e6), st.floats(1.001, 1e6)).map(
        lambda t: Distribution("loguniform", (t[0], t[0] * t[1]))),
    st.tuples(st.integers(-10**9, 10**9), st.integers(0, 10**9)).map(
        lambda t: Distribution("randint", (t[0], t[0] + t[1]))),
    st.lists(st.one_of(st.integers(), st.text(max_size=3), st.booleans()), min_size=1,
             max_size=5).map(lambda xs: Distribution("choice", tuple(xs))),
)


def inside(d: Distribution, x: object) -> bool:
    if d.kind == "choice":
        return x in d.args
    low, high = d.args
    if d.kind == "randint":
        return type(x) is int and low <= x <= high
    if d.kind == "loguniform":
        return type(x) is float and low <= x <= high * (1 + 1e-12)
    return type(x) is float and low <= x <= high


@given(distributions, st.integers(0, 2**32))
@FAST
def test_draws_are_deterministic_per_seed_and_within_bounds(d: Distribution, seed: int) -> None:
    first = d.draw(np.random.default_rng(seed), 40)
    assert d.draw(np.random.default_rng(seed), 40) == first
    assert len(first) == 40
    assert all(inside(d, x) for x in first), first


@pytest.mark.parametrize("d", [
    Distribution("uniform", (0.0, 1.0)), Distribution("loguniform", (1.0, 1e6)),
    Distribution("randint", (0, 10**6)), Distribution("choice", tuple(range(100))),
])
def test_other_seeds_draw_other_values(d: Distribution) -> None:
    draws = [tuple(d.draw(np.random.default_rng(seed), 20)) for seed in range(5)]
    assert len(set(draws)) == 5


def test_randint_and_choice_reach_every_value() -> None:
    rng = np.random.default_rng(11)
    assert set(Distribution("randint", (1, 3)).draw(rng, 200)) == {1, 2, 3}
    assert set(Distribution("choice", ("4K", "2M", "1G")).draw(rng, 200)) == {"4K", "2M", "1G"}
    assert Distribution("randint", (1, 3)).draw(np.random.default_rng(0), 4) == [3, 2, 2, 1]


def test_loguniform_spreads_over_decades() -> None:
    draws = np.array(Distribution("loguniform", (1.0, 1e6)).draw(np.random.default_rng(3), 6000))
    per_decade = np.histogram(np.log10(draws), bins=6, range=(0, 6))[0]
    assert per_decade.min() > 800  # about 1000 in each of the six decades


# --- limits (issue 11): counted before made, finite, 64-bit ----------------------------------

@pytest.mark.parametrize(("value", "message"), [
    ({"range": [0.0, 1.0], "step": 1e-300},
     "n: range [0.0, 1.0] with step 1e-300 has about 1e+300 values; at most 1,000,000 (use a "
     "larger step or [sample])"),
    ({"range": [-1e308, 1e308]},
     "n: range [-1e+308, 1e+308] with step 1 has about inf values; at most 1,000,000 (use a "
     "larger step or [sample])"),
    ({"range": [0, 2**62], "step": 1},
     "n: range [0, 4611686018427387904] with step 1 has about 4.61e+18 values; at most "
     "1,000,000 (use a larger step or [sample])"),
    ({"range": [1, 1e300], "scale": "pow2"}, "n: a pow2 range needs stop <= 2**63 - 1, got 1e+300"),
    ({"range": [1, 2**64], "scale": "pow2"},
     "n: range must be [start, stop]: expected an integer from -2**63 to 2**63 - 1, got one of "
     "65 bits"),
    ({"range": [1, 2], "step": math.nan}, "n: step must be a number > 0, got nan"),
    ({"randint": [0, 1e20]}, "n: randint needs integers low <= high, got [0, 1e+20]"),
    ({"randint": [0, 10**20]},
     "n: randint needs [low, high]: expected an integer from -2**63 to 2**63 - 1, got one of 67 "
     "bits"),
    ({"uniform": [-1e308, 1e308]},
     "n: uniform needs high - low to be finite, got [-1e+308, 1e+308]"),
    ({"uniform": [0, math.inf]}, "n: uniform needs [low, high]: expected a finite number, got inf"),
    ({"choice": [1, math.nan]}, "n: choice item 2: expected a finite number, got nan"),
    ([1, math.inf], "n: list item 2: expected a finite number, got inf"),
    ([1, -(2**63) - 1], "n: list item 2: expected an integer from -2**63 to 2**63 - 1, got one of "
                        "64 bits"),
    (math.inf, "n: expected a finite number, got inf"),
])
def test_out_of_range_numbers_are_one_line_errors(value: object, message: str) -> None:
    assert error(value, "n") == message


def test_an_integer_too_long_to_print_is_described_by_its_size() -> None:
    # repr() itself raises ValueError past 4300 digits: the message must not need it
    assert error(10**5000, "n") == ("n: expected an integer from -2**63 to 2**63 - 1, got one "
                                    "of 16610 bits")


def test_the_64_bit_integers_are_accepted_at_both_ends() -> None:
    assert axis_values([-(2**63), 2**63 - 1], "k") == [-(2**63), 2**63 - 1]
    low, high = -(2**63), 2**63 - 1
    draws = axis_values({"randint": [low, high]}, "k").draw(np.random.default_rng(1), 50)
    assert all(low <= x <= high for x in draws)
    assert len(axis_values({"range": [1, 2**63 - 1], "scale": "pow2"}, "k")) == 63


@pytest.mark.parametrize(("value", "count"), [
    (4, 1), ([1, 2, 3], 3), ({"range": [1, 10**6]}, 10**6), ({"range": [0, 1], "step": 0.25}, 5),
    ({"range": [1, 1024], "scale": "pow2"}, 11), ({"uniform": [0, 1]}, None),
])
def test_value_count_counts_without_making_the_values(value: object, count: int | None) -> None:
    assert value_count(value, "k") == count
    values = axis_values(value, "k")
    assert (None if isinstance(values, Distribution) else len(values)) == count


def test_value_count_raises_what_axis_values_raises() -> None:
    with pytest.raises(InputError, match="has about 1e"):
        value_count({"range": [0.0, 1.0], "step": 1e-300}, "k")
