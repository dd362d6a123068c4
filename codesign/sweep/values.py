"""The forms a parameter's value may take in a sweep spec.

- a scalar: ``levels = 4``
- a list (one grid axis): ``levels = [4, 5]``
- a linear range, both ends included: ``{ range = [16, 64], step = 16 }`` (step 1 by default)
- powers of two: ``{ range = [16, 1024], scale = "pow2" }``
- a distribution, sampled ``[sample].points`` times with ``[sample].seed``:
  ``{ uniform = [a, b] }``, ``{ loguniform = [a, b] }``, ``{ randint = [a, b] }`` (both ends
  included), ``{ choice = [x, y, z] }``.

>>> axis_values({"range": [16, 128], "scale": "pow2"}, "tlb.entries")
[16, 32, 64, 128]
>>> axis_values({"range": [0, 1], "step": 0.25}, "f")
[0.0, 0.25, 0.5, 0.75, 1.0]
>>> axis_values({"range": [5, 1]}, "n")
Traceback (most recent call last):
codesign.errors.InputError: n: empty range [5, 1]

Every number must be finite, and an integer must fit in 64 bits (-2**63 to 2**63 - 1, what
TOML allows): the values become design-point parameters, random-generator bounds and keys.
A range is counted arithmetically before any of its values is made, so that a tiny step is
an error, not a billion values in memory.

>>> axis_values({"range": [0.0, 1.0], "step": 1e-300}, "f")
Traceback (most recent call last):
codesign.errors.InputError: f: range [0.0, 1.0] with step 1e-300 has about 1e+300 values; at most 1,000,000 (use a larger step or [sample])
"""  # noqa: E501

from __future__ import annotations

import decimal
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from codesign.errors import InputError, suggest
from codesign.params import INT_MAX, number_problem

Scalar = int | float | bool | str
RANGE_KEYS = ("range", "step", "scale")
DISTRIBUTIONS = ("uniform", "loguniform", "randint", "choice")
SPEC_KEYS = RANGE_KEYS + DISTRIBUTIONS
MAX_RANGE = 1_000_000
"""Most values one range may give (the whole sweep is capped too: spec.MAX_COMBINATIONS)."""
def is_value_spec(value: Any) -> bool:
    """Whether a TOML table is a value form (a range or a distribution), not a namespace."""
    return isinstance(value, dict) and any(k in value for k in ("range", *DISTRIBUTIONS))


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and number_problem(x) is None


def _is_scalar(x: Any) -> bool:
    return isinstance(x, bool | str) or _is_number(x)


@dataclass(frozen=True)
class Distribution:
    """A random value form; :meth:`draw` is deterministic given the generator's state."""

    kind: str
    args: tuple[Scalar, ...]

    def draw(self, rng: np.random.Generator, n: int) -> list[Scalar]:
        """``n`` draws as plain Python values.

        >>> Distribution("randint", (1, 3)).draw(np.random.default_rng(0), 4)
        [3, 2, 2, 1]
        """
        if self.kind == "uniform":
            return [float(x) for x in rng.uniform(self.args[0], self.args[1], n)]
        if self.kind == "loguniform":
            lo, hi = math.log(self.args[0]), math.log(self.args[1])
            return [float(math.exp(x)) for x in rng.uniform(lo, hi, n)]
        if self.kind == "randint":
            return [int(x) for x in rng.integers(self.args[0], self.args[1] + 1, n)]
        return [self.args[int(i)] for i in rng.integers(0, len(self.args), n)]


def axis_values(value: Any, key: str) -> list[Scalar] | Distribution:
    """The values one parameter takes: a list for grid axes, or a Distribution."""
    form = _form(value, key)
    if form == "scalar":
        return [value]
    if form == "list":
        return list(value)
    if form == "range":
        return _range(value, key)
    return _distribution(form, value[form], key)


def value_count(value: Any, key: str) -> int | None:
    """How many grid values ``value`` gives (None for a distribution), counted without
    making them; InputError for a bad form, as :func:`axis_values` raises it.

    >>> value_count({"range": [1, 10**6], "step": 2}, "k"), value_count([1, 2], "k")
    (500000, 2)
    """
    form = _form(value, key)
    if form == "scalar":
        return 1
    if form == "list":
        return len(value)
    if form == "range":
        return _range(value, key, count_only=True)
    return None


def _form(value: Any, key: str) -> str:
    """"scalar", "list", "range" or the distribution's name, once the form is checked."""
    problem = number_problem(value)
    if problem:
        raise InputError(f"{key}: {problem}")
    if _is_scalar(value):
        return "scalar"
    if isinstance(value, list):
        if not value:
            raise InputError(f"{key}: empty list (give at least one value)")
        for i, item in enumerate(value, 1):
            problem = number_problem(item)
            if problem:
                raise InputError(f"{key}: list item {i}: {problem}")
        bad = [v for v in value if not _is_scalar(v)]
        if bad:
            raise InputError(f"{key}: list items must be numbers, strings or booleans, "
                             f"got {bad[0]!r}")
        return "list"
    if not isinstance(value, dict):
        raise InputError(f"{key}: expected a value, a list, {{range = [a, b]}} or a "
                         f"distribution, got {value!r}")
    for k in value:
        if k not in SPEC_KEYS:
            raise InputError(f"{key}: unknown field {k!r} in value table{suggest(k, SPEC_KEYS)}")
    forms = [k for k in ("range", *DISTRIBUTIONS) if k in value]
    if len(forms) != 1:
        raise InputError(f"{key}: a value table needs exactly one of range, "
                         f"{', '.join(DISTRIBUTIONS)}; got {forms or 'none'}")
    if forms[0] != "range":
        extra = [k for k in value if k in RANGE_KEYS]
        if extra:
            raise InputError(f"{key}: {extra[0]!r} belongs with range, not {forms[0]}")
    return forms[0]


def _numbers(args: Any, key: str, what: str) -> None:
    """InputError unless ``args`` is ``[a, b]`` of two usable numbers (``what`` says so)."""
    if isinstance(args, list):
        for x in args:
            problem = number_problem(x)
            if problem:
                raise InputError(f"{key}: {what}: {problem}")
    if not (isinstance(args, list) and len(args) == 2 and all(map(_is_number, args))):
        raise InputError(f"{key}: {what} with two numbers, got {args!r}")


def _range(value: dict[str, Any], key: str, count_only: bool = False) -> Any:
    """The values of a range form, or with ``count_only`` how many there are."""
    bounds = value["range"]
    _numbers(bounds, key, "range must be [start, stop]")
    start, stop = bounds
    scale = value.get("scale", "linear")
    if scale not in ("linear", "pow2"):
        raise InputError(f"{key}: scale must be 'linear' or 'pow2', got {scale!r}")
    if scale == "pow2":
        if "step" in value:
            raise InputError(f"{key}: step does not apply to scale = 'pow2'")
        if start <= 0:
            raise InputError(f"{key}: a pow2 range needs start > 0, got {start}")
        if stop > INT_MAX:  # every value is an integer, so at most 63 of them
            raise InputError(f"{key}: a pow2 range needs stop <= 2**63 - 1, got {stop}")
        values, power = [], 1
        while power <= stop:
            if power >= start:
                values.append(power)
            power *= 2
        if count_only and values:
            return len(values)
    else:
        step = value.get("step", 1)
        if not _is_number(step) or step <= 0:
            raise InputError(f"{key}: step must be a number > 0, got {step!r}")
        # Estimated in floats first: a step of 1e-300 would make the exact count below an
        # integer of 300 digits, more than Decimal's precision, and a count of no use.
        estimate = (float(stop) - float(start)) / float(step)
        if not estimate <= 2 * MAX_RANGE:  # also when the width overflows to inf
            raise InputError(f"{key}: range {bounds!r} with step {step!r} has about "
                             f"{estimate:.3g} values; at most {MAX_RANGE:,} (use a larger "
                             "step or [sample])")
        # Decimal arithmetic on the numbers as written: 0.1 * 3 is 0.3, so a range ends
        # exactly on its stop and keys the same as the list [..., 0.3].
        try:
            first, last, delta = (Decimal(repr(x)) for x in (start, stop, step))
            count = int((last - first) // delta) + 1 if last >= first else 0
        except decimal.DecimalException as exc:  # not expected after the estimate
            raise InputError(f"{key}: range {bounds!r} with step {step!r} cannot be counted "
                             f"({type(exc).__name__})") from None
        if count > MAX_RANGE:
            raise InputError(f"{key}: range {bounds!r} has {count:,} values; at most "
                             f"{MAX_RANGE:,} (use a larger step or [sample])")
        if count_only and count:
            return count
        integral = all(isinstance(x, int) for x in (start, stop, step))
        values = [int(first + i * delta) if integral else float(first + i * delta)
                  for i in range(count)]
    if not values:
        raise InputError(f"{key}: empty range {bounds!r}"
                         + (" (no power of two inside)" if scale == "pow2" else ""))
    return values


def _distribution(kind: str, args: Any, key: str) -> Distribution:
    if kind == "choice":
        if isinstance(args, list):
            for i, item in enumerate(args, 1):
                problem = number_problem(item)
                if problem:
                    raise InputError(f"{key}: choice item {i}: {problem}")
        if not (isinstance(args, list) and args and all(map(_is_scalar, args))):
            raise InputError(f"{key}: choice needs a non-empty list of values, got {args!r}")
        return Distribution(kind, tuple(args))
    _numbers(args, key, f"{kind} needs [low, high]")
    low, high = args
    if kind == "randint":
        if not all(isinstance(x, int) for x in args) or low > high:
            raise InputError(f"{key}: randint needs integers low <= high, got {args!r}")
    elif low >= high or (kind == "loguniform" and low <= 0):
        need = "0 < low < high" if kind == "loguniform" else "low < high"
        raise InputError(f"{key}: {kind} needs {need}, got {args!r}")
    elif kind == "uniform" and not math.isfinite(high - low):
        # numpy draws low + (high - low) * u: the width itself must be a float
        raise InputError(f"{key}: uniform needs high - low to be finite, got {args!r}")
    return Distribution(kind, (low, high))
