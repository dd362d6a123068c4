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

:func:`survey` counts the same points without keeping them (``codesign sweep --dry-run``):
the combinations are streamed, and only a compact set of the points' keys is kept.

>>> s = survey(spec, show=1)
>>> s.points, s.combinations, s.duplicates, len(s.first), s.varying
(3, 4, 1, 1, ('virtualized', 'host.levels', 'host.page_size'))
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codesign.errors import InputError
from codesign.harness import DEFAULT_PLATFORM, Point, Resolved, Resolver, resolve
from codesign.platforms import Platform, load_platform
from codesign.registry import Registry, default_registry
from codesign.sweep.spec import MAX_COMBINATIONS, MIX_KEY, SweepSpec

__all__ = ["MAX_COMBINATIONS", "Expansion", "Survey", "describe", "expand", "survey",
           "varying"]


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


def _check_size(spec: SweepSpec) -> int:
    total = spec.size()
    if total > MAX_COMBINATIONS:
        raise InputError(f"{spec.path}: {total:,} combinations is more than "
                         f"{MAX_COMBINATIONS:,}; narrow the axes or use [sample]")
    return total


def _combinations(spec: SweepSpec, registry: Registry,
                  light: bool = False) -> Iterator[Resolved | _Light | str]:
    """Each combination of the axes, in order (the last axis fastest): its resolved point
    (with ``light``, a :class:`_Light` one), or "incompatible" or "excluded". A generator,
    so that a caller that counts keeps nothing but what it counts."""
    platforms: dict[tuple[str, str | None], Platform] = {}
    resolver = Resolver(registry, platforms)
    # What a combination needs of its (workload, mechanism, platform): a few distinct triples
    # in a sweep, so worked out once each rather than once per combination.
    contexts: dict[tuple[Any, Any, str], tuple[Any, ...] | None] = {}
    axes = [(axis.keys, axis.rows) for axis in spec.axes]
    if not all(rows for _, rows in axes):
        return
    # An odometer over the axes: a step changes the values of the axes that turn only, and
    # every combination has the same keys, in axis order, as itertools.product would give.
    index = [0] * len(axes)
    values: dict[str, Any] = {}
    for keys, rows in axes:
        values.update(zip(keys, rows[0], strict=True))
    while True:
        yield _combination(spec, registry, resolver, platforms, contexts, values, light)
        turn = len(axes) - 1
        while turn >= 0:
            keys, rows = axes[turn]
            index[turn] += 1
            if index[turn] < len(rows):
                values.update(zip(keys, rows[index[turn]], strict=True))
                break
            index[turn] = 0
            values.update(zip(keys, rows[0], strict=True))
            turn -= 1
        if turn < 0:
            return


class _Light(tuple):
    """A point as :func:`survey` counts it, a tuple: (key, canonical parameters, workload,
    mechanism, (workload params, mechanism params, hardware options, platform, workload
    key), platform name, the point's parameters, base). Its :class:`Resolved` is made by
    :meth:`resolved`, for the points shown only."""

    __slots__ = ()

    def resolved(self) -> Resolved:
        key, params, workload, mechanism, parts, platform_name, values, base = self
        wparams, mparams, options, platform, workload_key = parts
        point = Point(workload.name, mechanism.name, platform_name, values, base)
        return Resolved(point, workload, mechanism, wparams, mparams, options, platform, params,
                        key, workload_key)


def _combination(spec: SweepSpec, registry: Registry, resolver: Resolver,
                 platforms: dict[tuple[str, str | None], Platform],
                 contexts: dict[tuple[Any, Any, str], tuple[Any, ...] | None],
                 values: dict[str, Any], light: bool) -> Resolved | _Light | str:
    """One combination's resolved point, or "incompatible" or "excluded"."""
    platform_name = str(values.get("platform", DEFAULT_PLATFORM))
    names = (values["workload"], values["mechanism"], platform_name)
    context = contexts.get(names, False)
    if context is False:
        context = contexts[names] = _context(spec, registry, platforms, values, *names)
    if context is None:
        return "incompatible"
    workload, mechanism, allowed, defaults, label_names = context
    mix = values.get(MIX_KEY)
    params = {k: v for k, v in values.items() if k in allowed}
    if mix:  # a suite mix's own values, then the spec's
        params = {**dict(spec.mixes.get(mix, ())), **params}
    if spec.constraints:
        scope = {**defaults, **params, **label_names, **({MIX_KEY: mix} if mix else {})}
        if not all(c.holds(scope) for c in spec.constraints):
            return "excluded"
    try:
        key, canonical, parts = resolver.key(workload, mechanism, platform_name, spec.base,
                                             params)
    except InputError:
        # Again, alone and with the origin in its message: a label is made for a bad point
        # only, not for each of a million good ones.
        label = " ".join(f"{k}={_text(v)}" for k, v in values.items())
        point = Point(workload.name, mechanism.name, platform_name, params, spec.base)
        try:
            resolve(point, registry, platforms, origin=f"{spec.path}: point {label}")
        except InputError as exc:
            raise InputError(f"{exc} (leave such points out with a [constraints] rule)"
                             ) from None
        raise
    if mix:  # a label for the store and the report, not part of the key
        canonical = {MIX_KEY: mix, **canonical}
    found = _Light((key, canonical, workload, mechanism, parts, platform_name, params,
                    spec.base))
    return found if light else found.resolved()


def _context(spec: SweepSpec, registry: Registry,
             platforms: dict[tuple[str, str | None], Platform], values: dict[str, Any],
             workload_name: Any, mechanism_name: Any, platform_name: str,
             ) -> tuple[Any, ...] | None:
    """(workload, mechanism, the keys of ``values`` its points take, defaults of the declared
    keys, the names constraints see) for one triple; None when the kinds are incompatible.
    Every combination has the keys of ``values``."""
    workload = registry.workload(workload_name)
    mechanism = registry.mechanism(mechanism_name)
    if workload.kind not in mechanism.accepts:
        return None
    memo = (platform_name, spec.base)
    if memo not in platforms:
        platforms[memo] = load_platform(platform_name, Path(spec.base) if spec.base else None)
    costs = platforms[memo].costs
    specs = (*workload.specs(), *mechanism.specs())
    declared = {s.key for s in specs}
    allowed = {k for k in values
               if k in declared or (k.startswith("platform.") and k[9:] in costs)}
    names = {"workload": workload.name, "mechanism": mechanism.name, "platform": platform_name}
    return workload, mechanism, allowed, {s.key: s.default for s in specs}, names


def _no_points(spec: SweepSpec, total: int, excluded: int, incompatible: int) -> InputError:
    return InputError(f"{spec.path}: the sweep has no points ({total} combinations: "
                      f"{excluded} excluded by constraints, {incompatible} workload × "
                      "mechanism pairs of incompatible kinds)")


def expand(spec: SweepSpec, registry: Registry | None = None) -> Expansion:
    """All design points of ``spec``; InputError (naming the point) if one is invalid."""
    total = _check_size(spec)
    points: dict[str, Resolved] = {}
    excluded = incompatible = duplicates = 0
    for outcome in _combinations(spec, registry or default_registry()):
        if outcome == "excluded":
            excluded += 1
        elif outcome == "incompatible":
            incompatible += 1
        elif outcome.key in points:
            duplicates += 1
        else:
            points[outcome.key] = outcome
    if not points:
        raise _no_points(spec, total, excluded, incompatible)
    return Expansion(tuple(points.values()), total, excluded, incompatible, duplicates)


@dataclass(frozen=True)
class Survey:
    """What :func:`expand` would give, counted: the first points, how many, and which
    parameters vary across them (for :func:`describe`)."""

    points: int
    combinations: int
    excluded: int
    incompatible: int
    duplicates: int
    first: tuple[Resolved, ...]
    varying: tuple[str, ...]


def survey(spec: SweepSpec, registry: Registry | None = None, show: int = 0) -> Survey:
    """Count the points of ``spec`` as :func:`expand` finds them, keeping only the first
    ``show``: memory is a set of 16-byte key prefixes, not a million resolved points.

    The counts, the first points and :attr:`Survey.varying` are those of :func:`expand` and
    :func:`varying`; the same points are errors.
    """
    total = _check_size(spec)
    # What exists now (the spec's rows, up to millions of tuples; the registry) lives until
    # the end: frozen, the collector stops traversing it each time the points' short-lived
    # objects trigger a full collection (about a sixth of the time of a large survey).
    gc.freeze()
    try:
        return _survey(spec, registry, show, total)
    finally:
        gc.unfreeze()


def _survey(spec: SweepSpec, registry: Registry | None, show: int, total: int) -> Survey:
    # 128 bits of a SHA-256 key: two keys agreeing there by chance are as likely as two equal
    # keys, and an int of them takes a third of the memory of the key's text.
    seen: set[int] = set()
    first: list[Resolved] = []
    varies = _Varying()
    excluded = incompatible = duplicates = 0
    for outcome in _combinations(spec, registry or default_registry(), light=True):
        if outcome == "excluded":
            excluded += 1
            continue
        if outcome == "incompatible":
            incompatible += 1
            continue
        key = int(outcome[0][:32], 16)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        varies.add(outcome[1])
        if len(first) < show:
            first.append(outcome.resolved())
    if not seen:
        raise _no_points(spec, total, excluded, incompatible)
    return Survey(len(seen), total, excluded, incompatible, duplicates, tuple(first),
                  varies.result())


def varying(points: Iterable[Resolved]) -> list[str]:
    """Parameters that take more than one value (or are absent somewhere) across points."""
    points = list(points)
    keys = list(dict.fromkeys(k for p in points for k in p.params))
    missing = object()
    return [k for k in keys
            if len({repr(p.params.get(k, missing)) for p in points}) > 1]


class _Varying:
    """:func:`varying`, one point at a time: a parameter varies when a point has another
    value of it (by ``repr``, as there) or lacks it. Cheap per point: it counts the points of
    each set of keys, and compares only the values of the parameters not yet known to vary."""

    def __init__(self) -> None:
        self.first: dict[str, tuple[type, Any]] = {}  # in order of first appearance
        self.shapes: dict[tuple[str, ...], int] = {}  # points per tuple of keys
        self.varies: set[str] = set()
        self.watch: list[str] = []  # keys in first, not in varies
        self.points = 0

    def add(self, params: dict[str, Any]) -> None:
        self.points += 1
        shape = tuple(params)
        count = self.shapes.get(shape)
        self.shapes[shape] = 1 if count is None else count + 1
        if count is None:
            for key in shape:
                if key not in self.first:
                    self.first[key] = _shown(params[key])
                    self.watch.append(key)
        first, changed = self.first, False
        for key in self.watch:  # inlined _shown: this runs for every point of a survey
            value = params.get(key, _MISSING)
            if value is _MISSING:
                continue
            cls = value.__class__
            if (cls, value if cls in _PLAIN else repr(value)) != first[key]:
                self.varies.add(key)
                changed = True
        if changed:
            self.watch = [k for k in self.watch if k not in self.varies]

    def result(self) -> tuple[str, ...]:
        def present(key: str) -> int:
            return sum(n for shape, n in self.shapes.items() if key in shape)

        return tuple(k for k in self.first if k in self.varies or present(k) < self.points)


_PLAIN = frozenset((str, int, bool, type(None)))
_MISSING = object()


def _shown(value: Any) -> tuple[type, Any]:
    """What tells values apart as their ``repr`` does, without making it for plain types."""
    return value.__class__, value if value.__class__ in _PLAIN else repr(value)
