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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from codesign.errors import InputError, suggest

Scalar = int | float | bool | str
RANGE_KEYS = ("range", "step", "scale")
DISTRIBUTIONS = ("uniform", "loguniform", "randint", "choice")
SPEC_KEYS = RANGE_KEYS + DISTRIBUTIONS
MAX_RANGE = 1_000_000


def is_value_spec(value: Any) -> bool:
    """Whether a TOML table is a value form (a range or a distribution), not a namespace."""
    return isinstance(value, dict) and any(k in value for k in ("range", *DISTRIBUTIONS))


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


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
    if _is_scalar(value):
        return [value]
    if isinstance(value, list):
        if not value:
            raise InputError(f"{key}: empty list (give at least one value)")
        bad = [v for v in value if not _is_scalar(v)]
        if bad:
            raise InputError(f"{key}: list items must be numbers, strings or booleans, "
                             f"got {bad[0]!r}")
        return list(value)
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
    if forms[0] == "range":
        return _range(value, key)
    extra = [k for k in value if k in RANGE_KEYS]
    if extra:
        raise InputError(f"{key}: {extra[0]!r} belongs with range, not {forms[0]}")
    return _distribution(forms[0], value[forms[0]], key)


def _range(value: dict[str, Any], key: str) -> list[Scalar]:
    bounds = value["range"]
    if not (isinstance(bounds, list) and len(bounds) == 2 and all(map(_is_number, bounds))):
        raise InputError(f"{key}: range must be [start, stop] with two numbers, got {bounds!r}")
    start, stop = bounds
    scale = value.get("scale", "linear")
    if scale not in ("linear", "pow2"):
        raise InputError(f"{key}: scale must be 'linear' or 'pow2', got {scale!r}")
    if scale == "pow2":
        if "step" in value:
            raise InputError(f"{key}: step does not apply to scale = 'pow2'")
        if start <= 0:
            raise InputError(f"{key}: a pow2 range needs start > 0, got {start}")
        values, power = [], 1
        while power <= stop:
            if power >= start:
                values.append(power)
            power *= 2
    else:
        step = value.get("step", 1)
        if not _is_number(step) or step <= 0:
            raise InputError(f"{key}: step must be a number > 0, got {step!r}")
        # Decimal arithmetic on the numbers as written: 0.1 * 3 is 0.3, so a range ends
        # exactly on its stop and keys the same as the list [..., 0.3].
        first, last, delta = (Decimal(repr(x)) for x in (start, stop, step))
        count = int((last - first) // delta) + 1 if last >= first else 0
        if count > MAX_RANGE:
            raise InputError(f"{key}: range {bounds!r} has {count:,} values; at most "
                             f"{MAX_RANGE:,} (use a larger step or [sample])")
        integral = all(isinstance(x, int) for x in (start, stop, step))
        values = [int(first + i * delta) if integral else float(first + i * delta)
                  for i in range(count)]
    if not values:
        raise InputError(f"{key}: empty range {bounds!r}"
                         + (" (no power of two inside)" if scale == "pow2" else ""))
    return values


def _distribution(kind: str, args: Any, key: str) -> Distribution:
    if kind == "choice":
        if not (isinstance(args, list) and args and all(map(_is_scalar, args))):
            raise InputError(f"{key}: choice needs a non-empty list of values, got {args!r}")
        return Distribution(kind, tuple(args))
    if not (isinstance(args, list) and len(args) == 2 and all(map(_is_number, args))):
        raise InputError(f"{key}: {kind} needs [low, high] with two numbers, got {args!r}")
    low, high = args
    if kind == "randint":
        if not all(isinstance(x, int) for x in args) or low > high:
            raise InputError(f"{key}: randint needs integers low <= high, got {args!r}")
    elif low >= high or (kind == "loguniform" and low <= 0):
        need = "0 < low < high" if kind == "loguniform" else "low < high"
        raise InputError(f"{key}: {kind} needs {need}, got {args!r}")
    return Distribution(kind, (low, high))
