"""Typed, documented parameters declared as frozen dataclasses.

A workload or mechanism declares its parameters as a frozen dataclass whose fields are made
with :func:`param`: each field carries its dotted key (``guest.levels``, ``workload.seed``),
a one-line doc, bounds or choices, and optionally a condition under which it matters. The
engine reads that declaration to list parameters, coerce values from TOML or the command
line, reject bad values with a one-line error, and build canonical parameter sets (a
parameter that does not matter for a design point is left out, so two points that differ
only in it are one point).

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Walk:
...     levels: int = param(4, key="guest.levels", doc="radix levels", min=2, max=5)
...     nested: bool = param(True, key="virtualized", doc="2D walk")
>>> build(Walk, {"guest.levels": "5"}, origin="--set")
Walk(levels=5, nested=True)
>>> build(Walk, {"guest.levels": 7}, origin="spec.toml")
Traceback (most recent call last):
codesign.errors.InputError: spec.toml: guest.levels: expected an integer from 2 to 5, got 7
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from codesign.errors import InputError, suggest

Scalar = int | float | bool | str | None

_META = "codesign.param"
_TYPES: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "str"}
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
"""The integers a parameter may take: 64 bits, what TOML allows (tomllib reads any size)."""


def number_problem(x: Any) -> str | None:
    """Why a number cannot be a parameter value (not finite, or an integer beyond 64 bits);
    None for a usable number and for anything that is not a number.

    >>> number_problem(float("nan")), number_problem(2**64), number_problem(4)
    ('expected a finite number, got nan', 'expected an integer from -2**63 to 2**63 - 1, got one of 65 bits', None)
    """  # noqa: E501
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        if INT_MIN <= x <= INT_MAX:
            return None
        # not repr: an integer of more than 4300 digits cannot be turned into text
        return f"expected an integer from -2**63 to 2**63 - 1, got one of {x.bit_length()} bits"
    if isinstance(x, float) and not math.isfinite(x):
        return f"expected a finite number, got {x!r}"
    return None


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter: its dotted key, type, default and constraints."""

    key: str
    type: str  # "int" | "float" | "bool" | "str"
    default: Scalar
    doc: str
    min: float | None = None
    max: float | None = None
    choices: tuple[Scalar, ...] | None = None
    unit: str | None = None
    when: tuple[tuple[str, Scalar], ...] = ()
    field: str = ""
    optional: bool = False  # None is allowed: "not set", with a meaning the doc states
    path: bool = False  # a file path: relative ones are resolved against the spec's folder

    def expectation(self) -> str:
        """What a valid value looks like, in words.

        >>> ParamSpec("a", "int", 4, "", min=2, max=5).expectation()
        'an integer from 2 to 5'
        >>> ParamSpec("a", "str", "4K", "", choices=("4K", "2M")).expectation()
        "one of '4K', '2M'"
        """
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        noun = {"int": "an integer", "float": "a number", "bool": "true or false",
                "str": "a string"}[self.type]
        if self.min is not None and self.max is not None:
            return f"{noun} from {_fmt(self.min)} to {_fmt(self.max)}"
        if self.min is not None:
            return f"{noun} >= {_fmt(self.min)}"
        if self.max is not None:
            return f"{noun} <= {_fmt(self.max)}"
        return noun

    def coerce(self, value: Any, origin: str = "") -> Scalar:
        """Check (and, from command-line text, convert) one value; InputError if invalid.

        >>> ParamSpec("a", "float", 0.5, "", min=0, max=1).coerce("0.25")
        0.25
        >>> ParamSpec("a", "bool", True, "").coerce("false")
        False
        """
        if value is None and self.optional:
            return None
        converted = _convert(self.type, value)
        if converted is None:
            raise self._bad(value, origin)
        if self.choices is not None and converted not in self.choices:
            raise self._bad(value, origin)
        if self.type in ("int", "float"):
            # Not finite, or an integer beyond 64 bits: no parameter takes such a value, and
            # downstream (numpy, metrics, keys) it would overflow or stop being finite.
            if number_problem(converted) is not None:
                raise self._bad(value, origin, " within 64 bits" if self.type == "int" else "")
            if (self.min is not None and converted < self.min) or (
                self.max is not None and converted > self.max
            ):
                raise self._bad(value, origin)
        return converted

    def active(self, values: Mapping[str, Any]) -> bool:
        """Whether this parameter matters given the other values (its ``when`` holds)."""
        return all(values.get(k) == v for k, v in self.when)

    def _bad(self, value: Any, origin: str, more: str = "") -> InputError:
        prefix = f"{origin}: " if origin else ""
        shown = (f"an integer of {value.bit_length()} bits" if isinstance(value, int)
                 and number_problem(value) else repr(value))  # repr fails past 4300 digits
        return InputError(f"{prefix}{self.key}: expected {self.expectation()}{more}, got {shown}")


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _convert(kind: str, value: Any) -> Scalar | None:
    """The value as ``kind``, or None when it is not one. Text is parsed (``--set``)."""
    if isinstance(value, str) and kind != "str":
        text = value.strip().lower()
        if kind == "bool":
            return {"true": True, "false": False, "1": True, "0": False,
                    "yes": True, "no": False}.get(text)
        try:
            return int(text.replace("_", ""), 0) if kind == "int" else float(text)
        except ValueError:
            if kind == "float":
                return None
            try:
                as_float = float(text)
            except ValueError:
                return None
            return int(as_float) if as_float.is_integer() else None
    if kind == "bool":
        return value if isinstance(value, bool) else None
    if isinstance(value, bool):
        return None
    if kind == "int":
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return None
    if kind == "float":
        if not isinstance(value, int | float):
            return None
        try:
            return float(value)
        except OverflowError:
            return None
    return value if isinstance(value, str) else None


def param(
    default: Scalar,
    *,
    key: str,
    doc: str,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[Scalar, ...] | None = None,
    unit: str | None = None,
    when: Mapping[str, Scalar] | None = None,
    path: bool = False,
) -> Any:
    """A dataclass field declaring a parameter (see the module docstring)."""
    meta = {
        "key": key, "doc": doc, "min": min, "max": max,
        "choices": tuple(choices) if choices is not None else None,
        "unit": unit, "when": tuple(sorted((when or {}).items())), "path": path,
    }
    return dataclasses.field(default=default, metadata={_META: meta})


@functools.cache
def specs(cls: type) -> tuple[ParamSpec, ...]:
    """The parameters a dataclass declares, in field order.

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class P:
    ...     n: int = param(8, key="x.n", doc="entries", min=1)
    >>> [(s.key, s.type, s.default) for s in specs(P)]
    [('x.n', 'int', 8)]
    """
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata.get(_META)
        if meta is None:
            continue
        hint = hints[f.name]
        args = typing.get_args(hint)
        optional = type(None) in args
        if optional:
            hint = next(a for a in args if a is not type(None))
        kind = _TYPES.get(hint)
        if kind is None:
            raise TypeError(f"{cls.__name__}.{f.name}: parameter type must be bool/int/float/str"
                            " (or one of them | None)")
        spec = ParamSpec(type=kind, default=f.default, field=f.name, optional=optional, **meta)
        spec.coerce(spec.default, origin=f"{cls.__name__} default")
        out.append(spec)
    return tuple(out)


@functools.cache
def _declared(cls: type) -> Mapping[str, ParamSpec]:
    """The parameters of ``cls`` by key, in field order (made once: a sweep builds millions)."""
    return types.MappingProxyType({s.key: s for s in specs(cls)})


def build(cls: type, values: Mapping[str, Any], origin: str = "") -> Any:
    """An instance of the parameter dataclass from dotted-key values (defaults fill the rest).

    Unknown keys, bad values, and combinations the class's ``__post_init__`` rejects (by
    raising ``ValueError``) all become one-line :class:`InputError`s prefixed with origin.
    """
    declared = _declared(cls)
    prefix = f"{origin}: " if origin else ""
    for key in values:
        if key not in declared:
            raise InputError(f"{prefix}unknown parameter {key!r}{suggest(key, declared)}")
    kwargs = {s.field: s.coerce(values[s.key], origin)
              for s in declared.values() if s.key in values}
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise InputError(f"{prefix}{exc}") from None


def flat(instance: Any) -> dict[str, Scalar]:
    """The dotted-key values of a parameter dataclass instance.

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class P:
    ...     n: int = param(8, key="x.n", doc="entries")
    >>> flat(P())
    {'x.n': 8}
    """
    return {s.key: getattr(instance, s.field) for s in specs(type(instance))}


def canonical(instance: Any) -> dict[str, Scalar]:
    """Like :func:`flat` but without the parameters whose ``when`` does not hold.

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class P:
    ...     nested: bool = param(False, key="virtualized", doc="2D walk")
    ...     host: int = param(4, key="host.levels", doc="", when={"virtualized": True})
    >>> canonical(P()), canonical(P(nested=True))
    ({'virtualized': False}, {'virtualized': True, 'host.levels': 4})
    """
    plan = _plan(type(instance))
    values = {key: getattr(instance, name) for key, name, _ in plan}
    # ParamSpec.active, inlined: a sweep makes this for each of up to millions of points
    return {key: values[key] for key, _, when in plan
            if not when or all(values.get(k) == v for k, v in when)}


@functools.cache
def _plan(cls: type) -> tuple[tuple[str, str, tuple[tuple[str, Scalar], ...]], ...]:
    """(key, field, when) of each parameter of ``cls``, in field order."""
    return tuple((s.key, s.field, s.when) for s in specs(cls))


