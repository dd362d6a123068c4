"""Expanding a sweep spec into resolved, de-duplicated design points.

The axes are crossed (names first, then parameters in file order, zip groups, the sample),
each combination keeps only the parameters its workload and mechanism declare, constraints
filter, and every point is resolved (validated, keyed) before any work starts. Two
combinations that resolve to the same key (one differed only in a parameter that does not
matter to it) are one point.

A suite (``[workload] suite``) is a workload axis whose rows are its mixes: each row brings
its workload and its own ``workload.*`` values, which the spec's ``workload.*`` values
override, and a ``workload.mix`` label (``<suite>/<mix>``). The label is added to the
resolved point's parameters after its key is computed, so the store and the report can tell
two mixes of one workload apart while the key stays what the same parameters give anywhere.

>>> from codesign.sweep.spec import parse_spec
>>> spec = parse_spec({"version": 1, "name": "t", "workload": {"name": "walks"},
...                    "mechanism": {"name": "analytic-walk", "virtualized": [False, True]},
...                    "hardware": {"host": {"levels": [4, 5]}}})
>>> e = expand(spec)
>>> len(e.points), e.combinations, e.duplicates
(3, 4, 1)
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codesign.errors import InputError
from codesign.harness import DEFAULT_PLATFORM, Point, Resolved, resolve
from codesign.platforms import Platform, load_platform
from codesign.registry import Registry, default_registry
from codesign.sweep.spec import MIX_KEY, SweepSpec

MAX_COMBINATIONS = 2_000_000


@dataclass(frozen=True)
class Expansion:
    """The points of a sweep and how they were counted."""

    points: tuple[Resolved, ...]
    combinations: int
    excluded: int
    incompatible: int
    duplicates: int


def describe(resolved: Resolved, only: Iterable[str] | None = None) -> str:
    """One line naming a point: ``walks × analytic-walk @ kvm-nehalem  k=v ...``.

    ``only``: the parameters to show (those that vary across a sweep), default all.
    """
    keep = set(resolved.params) if only is None else set(only)
    params = " ".join(f"{k}={_text(v)}" for k, v in resolved.params.items() if k in keep)
    return (f"{resolved.workload.name} × {resolved.mechanism.name} @ {resolved.point.platform}"
            + (f"  {params}" if params else ""))


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def expand(spec: SweepSpec, registry: Registry | None = None) -> Expansion:
    """All design points of ``spec``; InputError (naming the point) if one is invalid."""
    registry = registry or default_registry()
    total = spec.size()
    if total > MAX_COMBINATIONS:
        raise InputError(f"{spec.path}: {total:,} combinations is more than "
                         f"{MAX_COMBINATIONS:,}; narrow the axes or use [sample]")
    platforms: dict[tuple[str, str | None], Platform] = {}
    points: dict[str, Resolved] = {}
    excluded = incompatible = duplicates = 0
    for combo in itertools.product(*(axis.rows for axis in spec.axes)):
        values: dict[str, Any] = {}
        for axis, row in zip(spec.axes, combo, strict=True):
            values.update(zip(axis.keys, row, strict=True))
        workload = registry.workload(values["workload"])
        mechanism = registry.mechanism(values["mechanism"])
        if workload.kind not in mechanism.accepts:
            incompatible += 1
            continue
        platform_name = str(values.get("platform", DEFAULT_PLATFORM))
        memo = (platform_name, spec.base)
        if memo not in platforms:
            platforms[memo] = load_platform(platform_name, Path(spec.base) if spec.base else None)
        costs = platforms[memo].costs
        specs = (*workload.specs(), *mechanism.specs())
        declared = {s.key for s in specs}
        mix = values.get(MIX_KEY)
        params = {**dict(spec.mixes.get(mix, ())),  # a suite mix's own values, then the spec's
                  **{k: v for k, v in values.items()
                     if k in declared or (k.startswith("platform.") and k[9:] in costs)}}
        scope = {**{s.key: s.default for s in specs}, **params,
                 "workload": workload.name, "mechanism": mechanism.name,
                 "platform": platform_name, **({MIX_KEY: mix} if mix else {})}
        if not all(c.holds(scope) for c in spec.constraints):
            excluded += 1
            continue
        point = Point(workload.name, mechanism.name, platform_name, params, spec.base)
        label = " ".join(f"{k}={_text(v)}" for k, v in values.items())
        try:
            resolved = resolve(point, registry, platforms, origin=f"{spec.path}: point {label}")
        except InputError as exc:
            raise InputError(f"{exc} (leave such points out with a [constraints] rule)") from None
        if mix:  # a label for the store and the report, not part of the key
            resolved = dataclasses.replace(resolved, params={MIX_KEY: mix, **resolved.params})
        if resolved.key in points:
            duplicates += 1
            continue
        points[resolved.key] = resolved
    if not points:
        raise InputError(f"{spec.path}: the sweep has no points ({total} combinations: "
                         f"{excluded} excluded by constraints, {incompatible} workload × "
                         "mechanism pairs of incompatible kinds)")
    return Expansion(tuple(points.values()), total, excluded, incompatible, duplicates)


def varying(points: Iterable[Resolved]) -> list[str]:
    """Parameters that take more than one value (or are absent somewhere) across points."""
    points = list(points)
    keys = list(dict.fromkeys(k for p in points for k in p.params))
    missing = object()
    return [k for k in keys
            if len({repr(p.params.get(k, missing)) for p in points}) > 1]
