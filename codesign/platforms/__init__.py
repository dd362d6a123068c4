"""Platform profiles: what each trap, memory reference or copy costs on a given machine.

A profile is a TOML file. Every cost is a table with a ``value``, a ``unit`` and a
``source`` naming where the number comes from (a paper, a datasheet, or the word
"assumption" with a reason); a cost without a source is rejected. Bundled profiles live in
``codesign/platforms/profiles/`` and are named by file stem (``kvm-nehalem``, ``kvm-svm``,
``modern-x86``, ``opteron-2008``, ``arm-mobile``); users pass their own file by path. A
sweep may override single costs with ``platform.<cost> = value`` parameters, which is how
the sensitivity of a result to a platform cost is studied.

An optional ``[hardware]`` table gives the machine's hardware defaults: dotted mechanism
parameters (``"tlb.l1.entries" = { value = 48, source = "..." }``), each with its source
too. The harness applies a default only to a mechanism that declares that key and only when
the design point does not set it; the merged value is then part of the point's canonical
parameters, hence of its key. Keys no mechanism declares are ignored.

>>> p = load_platform("kvm-nehalem")
>>> p.value("vmexit.roundtrip")
2000.0
>>> p.with_overrides({"memory.latency": 150}).value("memory.latency")
150.0
>>> phone = load_platform("arm-mobile")
>>> phone.hardware["tlb.l1.entries"].value, phone.defaults(["tlb.l1.entries", "x.y"])
(48, {'tlb.l1.entries': 48})
>>> phone.hardware["tlb.l1.entries"].source.startswith("assumption")
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from codesign.errors import InputError, suggest
from codesign.params import Scalar, number_problem
from codesign.tomlfile import key_line, read_toml

SCHEMA = 1
_TOP_KEYS = ("schema", "name", "description", "costs", "hardware")
_COST_KEYS = ("value", "unit", "source")
_DEFAULT_KEYS = ("value", "source")
OVERRIDE_SOURCE = "override (set by the sweep or --set)"
RATE_UNITS = ("MHz",)
"""Units of costs that are rates (``cpu.clock_mhz``): a mechanism divides by them, so 0 is
refused as a value, where any other cost may be 0."""
MAX_COST = 1e12
"""The largest value a cost may have, in its unit. The largest bundled cost is 12,000 cycles
and every cost is per event (a trap, a reference, a byte, a clock in MHz): 1e12 cycles is
over five minutes at 3 GHz, beyond any one event, yet far enough below float overflow that a
metric (up to ~1e9 events times a cost) stays finite. A typo of exponent (``1e308``) would
otherwise be accepted and give an infinite metric after the run."""


@dataclass(frozen=True)
class Cost:
    """One cost of a platform, with the source of its number."""

    value: float
    unit: str
    source: str


@dataclass(frozen=True)
class Default:
    """One hardware default of a platform (a mechanism parameter's value), with its source."""

    value: Scalar
    source: str


@dataclass(frozen=True)
class Platform:
    """A validated platform profile."""

    name: str
    description: str
    origin: str
    costs: Mapping[str, Cost] = field(default_factory=dict)
    hardware: Mapping[str, Default] = field(default_factory=dict)

    def value(self, key: str) -> float:
        """The value of one cost; InputError naming the profile when it is absent."""
        try:
            return self.costs[key].value
        except KeyError:
            raise InputError(
                f"platform {self.name!r} ({self.origin}) has no cost {key!r}"
                f"{suggest(key, self.costs)}"
            ) from None

    def require(self, keys: Iterable[str], user: str) -> None:
        """Check that every cost ``user`` needs is defined, before any work starts."""
        missing = [k for k in keys if k not in self.costs]
        if missing:
            raise InputError(
                f"platform {self.name!r} ({self.origin}) lacks cost(s) {', '.join(missing)} "
                f"needed by {user}"
            )

    def with_overrides(self, overrides: Mapping[str, Any], origin: str = "") -> Platform:
        """A copy with some cost values replaced (their source says they were overridden)."""
        if not overrides:
            return self
        costs = dict(self.costs)
        for key, value in overrides.items():
            costs[key] = Cost(self.override_value(key, value, origin), costs[key].unit,
                              OVERRIDE_SOURCE)
        return Platform(self.name, self.description, self.origin, costs, self.hardware)

    def override_value(self, key: str, value: Any, origin: str = "") -> float:
        """``value`` as an override of cost ``key`` (text is parsed, for ``--set``): a finite
        number from 0 to :data:`MAX_COST`; InputError naming ``platform.<key>`` otherwise.

        >>> load_platform("kvm-nehalem").override_value("memory.latency", 1e308)
        Traceback (most recent call last):
        codesign.errors.InputError: platform.memory.latency: expected at most 1e+12 cycles (the largest a cost may be), got 1e+308
        """  # noqa: E501
        prefix = f"{origin}: " if origin else ""
        if key not in self.costs:
            raise InputError(
                f"{prefix}platform.{key}: platform {self.name!r} has no such cost"
                f"{suggest(key, self.costs)}"
            )
        number = _nonnegative(value)
        if number is None:
            raise InputError(f"{prefix}platform.{key}: expected a number >= 0, got {value!r}")
        if number > MAX_COST:
            raise InputError(f"{prefix}platform.{key}: {_too_large(value, self.costs[key])}")
        if number == 0 and self.costs[key].unit in RATE_UNITS:
            raise InputError(f"{prefix}platform.{key}: expected a {self.costs[key].unit} rate "
                             f"> 0 (cycles are turned into time with it), got {value!r}")
        return number

    def only(self, keys: Iterable[str]) -> Platform:
        """A copy holding only the costs ``keys``: what one mechanism may read, so that its
        results (and design-point keys) depend on nothing else in the profile.

        >>> p = load_platform("kvm-nehalem").only(["memory.latency"])
        >>> list(p.costs), p.value("memory.latency")
        (['memory.latency'], 200.0)
        """
        wanted = set(keys)
        return Platform(self.name, self.description, self.origin,
                        {k: c for k, c in self.costs.items() if k in wanted}, self.hardware)

    def defaults(self, declared: Iterable[str]) -> dict[str, Scalar]:
        """The hardware defaults for the parameter keys in ``declared`` (others are ignored)."""
        wanted = set(declared)
        return {k: d.value for k, d in sorted(self.hardware.items()) if k in wanted}

    def identity(self) -> dict[str, float]:
        """What the results depend on: the cost values (not the prose or sources)."""
        return {k: c.value for k, c in sorted(self.costs.items())}

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the store and reports (provenance)."""
        return {
            "name": self.name, "description": self.description, "origin": self.origin,
            "costs": {k: {"value": c.value, "unit": c.unit, "source": c.source}
                      for k, c in sorted(self.costs.items())},
            "hardware": {k: {"value": d.value, "source": d.source}
                         for k, d in sorted(self.hardware.items())},
        }


def _nonnegative(value: Any) -> float | None:
    """A finite number >= 0 as a float (text is parsed, for ``--set``), else None."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        value = float(value)
    except OverflowError:  # an integer beyond float range: reported as too large
        return math.inf if value > 0 else None
    return value if math.isfinite(value) and value >= 0 else None


def _too_large(value: Any, cost: Cost) -> str:
    shown = (f"an integer of {value.bit_length()} bits" if isinstance(value, int)
             and number_problem(value) else repr(value))
    return (f"expected at most {MAX_COST:.0e} {cost.unit} (the largest a cost may be), "
            f"got {shown}")


def bundled() -> dict[str, Path]:
    """Bundled profile names and their files.

    >>> "kvm-nehalem" in bundled()
    True
    """
    folder = resources.files(__package__) / "profiles"
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml")}


def is_path(name: str) -> bool:
    """Whether a platform argument names a file rather than a bundled profile."""
    return name.endswith(".toml") or "/" in name or "\\" in name


def load_platform(name: str, base: Path | None = None) -> Platform:
    """A bundled profile by name, or a profile file by path (relative to ``base``)."""
    if "\x00" in name:  # no file has such a name, and os.stat raises ValueError on it
        raise InputError(f"platform {name!r}: a name or path cannot contain a NUL character")
    if is_path(name):
        path = Path(name)
        if base is not None and not path.is_absolute():
            path = base / path
        return parse_profile(path)
    profiles = bundled()
    if name not in profiles:
        raise InputError(
            f"unknown platform {name!r}{suggest(name, profiles)} "
            f"(bundled: {', '.join(sorted(profiles))}; or give a .toml file)"
        )
    return parse_profile(profiles[name], origin=f"bundled:{name}")


def parse_profile(path: Path, origin: str | None = None) -> Platform:
    """Read and validate one profile file."""
    data, text = read_toml(path)
    for key in data:
        if key not in _TOP_KEYS:
            raise InputError(f"{_at(path, text, None, key)}: unknown key {key!r}"
                             f"{suggest(key, _TOP_KEYS)} (expected {', '.join(_TOP_KEYS)})")
    if type(data.get("schema")) is not int or data["schema"] != SCHEMA:
        raise InputError(f"{_at(path, text, None, 'schema')}: schema must be {SCHEMA}, "
                         f"got {data.get('schema')!r}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise InputError(f"{_at(path, text, None, 'name')}: 'name' must be a non-empty string")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise InputError(f"{_at(path, text, None, 'description')}: 'description' must be a string")
    raw = data.get("costs")
    if not isinstance(raw, dict) or not raw:
        raise InputError(f"{path}: a [costs] table with at least one cost is required")
    costs = {key: _cost(path, text, key, entry) for key, entry in _flatten(raw, _COST_KEYS)}
    raw_hw = data.get("hardware", {})
    if not isinstance(raw_hw, dict):
        raise InputError(f"{_at(path, text, None, 'hardware')}: 'hardware' must be a table of "
                         "dotted parameter keys")
    hardware = {key: _default(path, text, key, entry)
                for key, entry in _flatten(raw_hw, _DEFAULT_KEYS)}
    return Platform(name, description, origin or str(path), costs, hardware)


def _flatten(table: dict[str, Any], fields: tuple[str, ...],
             prefix: str = "") -> list[tuple[str, Any]]:
    """Entries keyed by dotted name; a table holding any of ``fields`` is one entry."""
    out = []
    for key, entry in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(entry, dict) and not any(k in entry for k in fields):
            out.extend(_flatten(entry, fields, dotted + "."))
        else:
            out.append((dotted, entry))
    return out


def _cost(path: Path, text: str, key: str, entry: Any) -> Cost:
    at = _at(path, text, "costs", key)
    if not isinstance(entry, dict):
        raise InputError(f"{at}: cost {key!r} must be a table "
                         "{ value = ..., unit = \"...\", source = \"...\" }")
    for k in entry:
        if k not in _COST_KEYS:
            raise InputError(f"{at}: cost {key!r} has unknown field {k!r}{suggest(k, _COST_KEYS)}")
    value = _nonnegative(entry.get("value"))
    if value is None or isinstance(entry.get("value"), str):
        raise InputError(f"{at}: cost {key!r}: value must be a number >= 0, "
                         f"got {entry.get('value')!r}")
    for k in ("unit", "source"):
        if not isinstance(entry.get(k), str) or not entry[k].strip():
            raise InputError(f"{at}: cost {key!r} needs a non-empty {k!r} string "
                             "(every number names its source)")
    cost = Cost(value, entry["unit"], entry["source"])
    if value > MAX_COST:
        raise InputError(f"{at}: cost {key!r}: {_too_large(entry['value'], cost)}")
    if value == 0 and cost.unit in RATE_UNITS:
        raise InputError(f"{at}: cost {key!r}: expected a {cost.unit} rate > 0 (cycles are "
                         f"turned into time with it), got {entry['value']!r}")
    return cost


def _default(path: Path, text: str, key: str, entry: Any) -> Default:
    at = _at(path, text, "hardware", key)
    if not isinstance(entry, dict):
        raise InputError(f"{at}: hardware default {key!r} must be a table "
                         "{ value = ..., source = \"...\" }")
    for k in entry:
        if k not in _DEFAULT_KEYS:
            raise InputError(f"{at}: hardware default {key!r} has unknown field {k!r}"
                             f"{suggest(k, _DEFAULT_KEYS)}")
    value = entry.get("value")
    if not isinstance(value, bool | int | float | str):
        raise InputError(f"{at}: hardware default {key!r}: value must be a number, a boolean "
                         f"or a string, got {value!r}")
    problem = number_problem(value)
    if problem:
        raise InputError(f"{at}: hardware default {key!r}: {problem}")
    if not isinstance(entry.get("source"), str) or not entry["source"].strip():
        raise InputError(f"{at}: hardware default {key!r} needs a non-empty 'source' string "
                         "(every number names its source)")
    return Default(value, entry["source"])


def _at(path: Path, text: str, section: str | None, key: str) -> str:
    line = key_line(text, section, key)
    return f"{path}:{line}" if line else str(path)
