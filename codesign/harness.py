"""The harness: one design point in, Metrics out.

A :class:`Point` names a workload, a mechanism and a platform, with dotted parameters:
``workload.*`` for the workload, ``platform.*`` to override single platform costs, and the
mechanism's own keys (``guest.levels``, ``tlb.l1.entries``...) for everything else.
:func:`resolve` validates a point before any work and gives it its canonical key;
:func:`evaluate` runs it.

>>> m = evaluate(Point("walks", "analytic-walk", "kvm-nehalem",
...                    {"guest.levels": 4, "host.levels": 4, "workload.walks": 10}))
>>> m["walk.refs_per_walk"]
24.0
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codesign.allocator import keep_freed_memory
from codesign.errors import InputError
from codesign.metrics import Metrics
from codesign.params import Scalar, build, canonical, flat, specs
from codesign.platforms import Platform, load_platform
from codesign.registry import (
    HardwareOptions,
    Mechanism,
    Registry,
    Workload,
    default_registry,
)
from codesign.tomlfile import tomllib

DEFAULT_PLATFORM = "kvm-nehalem"
KEY_FORMAT = 1
NAME_KEYS = ("workload", "mechanism", "platform")


@dataclass(frozen=True)
class Point:
    """One design point as the user states it (names and dotted parameters)."""

    workload: str
    mechanism: str
    platform: str = DEFAULT_PLATFORM
    params: Mapping[str, Scalar] = field(default_factory=dict)
    base: str | None = None  # directory for relative platform paths (the spec's folder)


@dataclass(frozen=True)
class Resolved:
    """A validated point: resolved entries, typed parameters, canonical key."""

    point: Point
    workload: Workload
    mechanism: Mechanism
    workload_params: Any
    mechanism_params: Any
    hardware_options: Any
    platform: Platform
    params: dict[str, Scalar]
    key: str
    workload_key: str

    def record(self) -> dict[str, Any]:
        """Plain description for the store and ``run --json``."""
        return {"workload": self.workload.name, "mechanism": self.mechanism.name,
                "platform": self.point.platform, "params": self.params}


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)
"""What ``json.dumps(obj, sort_keys=True, separators=(",", ":"))`` uses, made once."""


def _json(obj: Any) -> str:
    """The canonical JSON :func:`digest` hashes (sorted keys, no spaces, ASCII)."""
    return _ENCODER.encode(obj)


def digest(obj: Any) -> str:
    """SHA-256 of the canonical JSON of ``obj`` (sorted keys, no spaces).

    >>> digest({"b": 1, "a": 2}) == digest({"a": 2, "b": 1})
    True
    """
    return hashlib.sha256(_json(obj).encode()).hexdigest()


def split_params(params: Mapping[str, Scalar]) -> tuple[dict, dict, dict]:
    """(workload.*, platform.* without the prefix, everything else)."""
    workload, platform, other = {}, {}, {}
    for key, value in params.items():
        if key.startswith("workload."):
            workload[key] = value
        elif key.startswith("platform."):
            platform[key[len("platform."):]] = value
        else:
            other[key] = value
    return workload, platform, other


def _resolve_paths(paths: frozenset[str], values: dict[str, Any],
                   base: Path | str) -> dict[str, Any]:
    """Relative file paths (the values of keys in ``paths``) made relative to ``base`` (the
    spec's folder, or the cwd)."""
    if paths.isdisjoint(values):  # most points: no path to resolve, no Path to make
        return values
    return {k: str(Path(base) / v) if k in paths and isinstance(v, str) and v
            and not Path(v).is_absolute() else v for k, v in values.items()}


@functools.cache
def _path_keys(cls: type) -> frozenset[str]:
    """The keys of the file-path parameters a parameter class declares."""
    return frozenset(s.key for s in specs(cls) if s.path)


SET_ORIGIN = "--set"
"""The origin ``codesign run`` gives :func:`resolve`: its parameters are command-line text."""


def resolve(
    point: Point,
    registry: Registry | None = None,
    platforms: dict[tuple[str, str | None], Platform] | None = None,
    origin: str = "",
) -> Resolved:
    """Validate a point and compute its key; InputError on anything wrong.

    The platform's ``[hardware]`` defaults fill the mechanism parameters the point leaves
    unset (keys the mechanism does not declare are ignored), so they are part of the
    canonical parameters and the key. ``platforms`` is an optional memo so that a sweep
    reads each profile file once.

    ``origin="--set"`` marks the parameters as ``codesign run --set`` text, one value each: a
    list, table or range there is an error rather than a string (a sweep spec takes several).
    """
    if origin == SET_ORIGIN:
        _single_values(point.params)
    return Resolver(registry, platforms).resolve(point, origin)


def _single_values(params: Mapping[str, Any]) -> None:
    """InputError for a ``--set`` text that TOML reads as a list or table (``[1,2]``,
    ``{range=[1,4]}``): ``run`` computes one point, so it takes one value per key."""
    for key, text in params.items():
        if not isinstance(text, str) or text.lstrip()[:1] not in ("[", "{"):
            continue
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except (ValueError, RecursionError):  # not TOML: a string, which the key may take
            continue
        if isinstance(value, list | dict):
            what = "a list" if isinstance(value, list) else (
                "a range" if "range" in value else "a table")
            raise InputError(f"--set {key}: `run` takes one value, got {what}; use a sweep "
                             "spec for several")


_MEMO_SIZE = 4096
"""Entries each memo of a :class:`Resolver` keeps before it starts over: enough for the
parameter values a sweep's inner axes cycle through, small enough to bound memory."""


def _memo_key(values: Mapping[str, Any]) -> Any:
    """A hashable key for parameter values that tells apart what ``==`` does not: 1, 1.0
    and True coerce differently (by type), 0.0 and -0.0 key differently (by repr)."""
    types = tuple(map(type, values.values()))
    if _PLAIN.issuperset(types):  # most points: no float to compare by repr
        return tuple(values.items()), types
    return tuple((k, v.__class__, v if v.__class__ in _PLAIN else repr(v))
                 for k, v in values.items())


_PLAIN = frozenset((str, int, bool, type(None)))
"""Types whose values are their own memo keys; others (a float, or a list given by mistake,
which must reach the parameter check, not fail to hash) are keyed by ``repr``."""


def _remember(memo: dict[Any, Any], key: Any, value: Any) -> Any:
    if len(memo) >= _MEMO_SIZE:
        memo.clear()
    memo[key] = value
    return value


class Resolver:
    """:func:`resolve` for many points: it memoizes the parts of a point that its neighbours
    in a sweep share (the workload's parameters, the mechanism's, the platform with its
    overrides), so that the points of a large sweep resolve several times faster. The results
    are those of resolving each point alone; only immutable objects are shared between them.
    """

    def __init__(self, registry: Registry | None = None,
                 platforms: dict[tuple[str, str | None], Platform] | None = None) -> None:
        self.registry = registry or default_registry()
        self.platforms = platforms if platforms is not None else {}
        self._workloads: dict[Any, tuple[Any, dict[str, Scalar], str, str]] = {}
        self._mechanisms: dict[Any, tuple[Any, Any, dict[str, Scalar], str]] = {}
        self._checked: dict[Any, bool] = {}
        self._platforms: dict[Any, tuple[Platform, str]] = {}

    def resolve(self, point: Point, origin: str = "") -> Resolved:
        """As :func:`resolve` (without the ``--set`` check)."""
        workload = self.registry.workload(point.workload)
        mechanism = self.registry.mechanism(point.mechanism)
        if workload.kind not in mechanism.accepts:
            raise InputError(
                f"{origin + ': ' if origin else ''}mechanism {mechanism.name!r} takes workloads "
                f"of kind {', '.join(mechanism.accepts)}; workload {workload.name!r} is "
                f"{workload.kind!r}"
            )
        key, params, parts = self.key(workload, mechanism, point.platform, point.base,
                                      point.params, origin)
        wparams, mparams, options, platform, workload_key = parts
        return Resolved(point, workload, mechanism, wparams, mparams, options, platform, params,
                        key, workload_key)

    def key(self, workload: Workload, mechanism: Mechanism, platform_name: str,
            base: str | None, values: Mapping[str, Any], origin: str = "",
            ) -> tuple[str, dict[str, Scalar], tuple[Any, Any, Any, Platform, str]]:
        """(key, canonical parameters, (workload params, mechanism params, hardware options,
        platform, workload key)) of a point of compatible ``workload`` and ``mechanism``:
        what :meth:`resolve` puts in a :class:`Resolved`, for a caller that needs only the key
        of most points (``codesign sweep --dry-run`` counting a million of them)."""
        wvalues, overrides, mvalues = split_params(values)
        wkey = (workload.name, base, _memo_key(wvalues))
        wpart = self._workloads.get(wkey)
        if wpart is None:
            wpart = _remember(self._workloads, wkey,
                              self._workload_part(workload, wvalues, base, origin))
        wparams, wcanon, wjson, workload_key = wpart
        mkey = (mechanism.name, platform_name, base, _memo_key(mvalues))
        mpart = self._mechanisms.get(mkey)
        if mpart is None:
            mpart = _remember(self._mechanisms, mkey, self._mechanism_part(
                mechanism, mvalues, platform_name, base, origin))
        mparams, options, mcanon, mjson = mpart
        if mechanism.check is not None and (wkey, mkey) not in self._checked:
            try:
                mechanism.check(wparams, mparams)
            except ValueError as exc:
                raise InputError(f"{origin + ': ' if origin else ''}{exc}") from None
            _remember(self._checked, (wkey, mkey), True)
        pkey = (platform_name, base, _memo_key(overrides), mechanism.name)
        ppart = self._platforms.get(pkey)
        if ppart is None:
            platform = self.platforms[(platform_name, base)].with_overrides(overrides, origin)
            platform.require(mechanism.costs, f"mechanism {mechanism.name!r}")
            # Only the costs the mechanism declares (and sees, in run_resolved): a cost added
            # to a profile for another mechanism changes none of its points.
            ppart = _remember(self._platforms, pkey,
                              (platform, _json(platform.only(mechanism.costs).identity())))
        platform, pjson = ppart
        # The canonical JSON of {"format", "mechanism", "platform", "workload"} (sorted keys),
        # put together from the parts' JSON: the same text digest(material) hashes.
        material = (f'{{"format":{KEY_FORMAT:d},"mechanism":{mjson},"platform":{pjson},'
                    f'"workload":{wjson}}}')
        params = {**wcanon, **mcanon}
        if overrides:
            params.update({f"platform.{k}": v for k, v in overrides.items()})
        return (hashlib.sha256(material.encode()).hexdigest(), params,
                (wparams, mparams, options, platform, workload_key))

    def _workload_part(self, workload: Workload, wvalues: dict[str, Any], base: str | None,
                       origin: str) -> tuple[Any, dict[str, Scalar], str, str]:
        """(params, canonical params, JSON of the key material, workload key)."""
        if base:
            wvalues = _resolve_paths(_path_keys(workload.params), wvalues, base)
        wparams = build(workload.params, wvalues, origin)
        wcanon = canonical(wparams)
        identity = dict(wcanon)
        if workload.identity is not None:
            identity.update(workload.identity(wparams))
        material = _json({"name": workload.name, "version": workload.version,
                          "params": identity})
        return wparams, wcanon, material, hashlib.sha256(material.encode()).hexdigest()

    def _mechanism_part(self, mechanism: Mechanism, mvalues: dict[str, Any],
                        platform_name: str, base: str | None,
                        origin: str) -> tuple[Any, Any, dict[str, Scalar], str]:
        """(params, hardware options, canonical params of both, JSON of the key material)."""
        if base:
            paths = _path_keys(mechanism.params) | (
                _path_keys(HardwareOptions) if mechanism.hardware else frozenset())
            mvalues = _resolve_paths(paths, mvalues, base)
        memo_key = (platform_name, base)
        base_platform = self.platforms.get(memo_key)
        if base_platform is None:
            base_platform = load_platform(platform_name, Path(base) if base else None)
            self.platforms[memo_key] = base_platform
        hw_values = {k: v for k, v in mvalues.items()
                     if k.startswith("hw.") and mechanism.hardware}
        own = {k: v for k, v in mvalues.items() if k not in hw_values}
        # The platform's hardware defaults go under the point's own values, declared keys only.
        declared = [s.key for s in specs(mechanism.params)]
        defaults = {k: v for k, v in base_platform.defaults(declared).items() if k not in own}
        try:
            mparams = build(mechanism.params, {**defaults, **own}, origin)
        except InputError as exc:
            if not any(k in str(exc) for k in defaults):  # not about a default: as it is
                raise
            shown = ", ".join(f"{k}={v!r}" for k, v in defaults.items())
            raise InputError(f"{exc} (with the hardware defaults of platform "
                             f"{base_platform.name!r}: {shown}; set a key on the point to "
                             "override its default)") from None
        options = build(HardwareOptions, hw_values, origin) if mechanism.hardware else None
        if options is not None and options.cost and options.synth:
            from codesign.hardware import require_yosys

            require_yosys()
        mcanon = canonical(mparams) | (canonical(options) if options is not None else {})
        material = _json({"name": mechanism.name, "version": mechanism.version, "params": mcanon})
        return mparams, options, mcanon, material


def run_resolved(resolved: Resolved, data: Any = None) -> Metrics:
    """Evaluate a resolved point (``data``: the workload arrays, if already generated)."""
    keep_freed_memory()  # an evaluation's arrays reuse the last one's pages
    if data is None:
        data = resolved.workload.generate(resolved.workload_params)
    from workloads.memory.chunked import identified  # the registry has imported it

    # The data are a function of the workload's key: what memos of results computed from
    # them (the native reference) are keyed by, rather than by hashing them.
    with identified(data, resolved.workload_key):
        metrics = resolved.mechanism.run(data, resolved.mechanism_params,
                                         resolved.platform.only(resolved.mechanism.costs))
    return _with_hardware(resolved, metrics)


def run_resolved_many(group: Sequence[Resolved], data: Any) -> list[Metrics]:
    """Evaluate resolved points of one workload (``data``: its arrays) and mechanism that
    differ only in the parameters its ``one_pass`` names, through its ``run_many``: the
    metrics of each, exactly :func:`run_resolved`'s. ValueError when the mechanism cannot
    take them together (the caller then evaluates them one by one)."""
    first = group[0]
    mechanism = first.mechanism
    if mechanism.run_many is None or any(
            r.mechanism is not mechanism or r.workload_key != first.workload_key
            or r.platform != first.platform or r.hardware_options != first.hardware_options
            for r in group):
        raise ValueError("not one workload, mechanism, platform and hardware options")
    keep_freed_memory()
    from workloads.memory.chunked import identified

    with identified(data, first.workload_key):
        results = mechanism.run_many(data, [r.mechanism_params for r in group],
                                     first.platform.only(mechanism.costs))
    if len(results) != len(group):
        raise TypeError(f"mechanism {mechanism.name!r} gave {len(results)} results for "
                        f"{len(group)} points")
    return [_with_hardware(r, m) for r, m in zip(group, results, strict=True)]


def _with_hardware(resolved: Resolved, metrics: Metrics) -> Metrics:
    """A mechanism's metrics checked, with its hardware's cost metrics when asked for."""
    if not isinstance(metrics, Metrics):
        raise TypeError(f"mechanism {resolved.mechanism.name!r} returned "
                        f"{type(metrics).__name__}, not Metrics")
    options = resolved.hardware_options
    if options is not None and options.cost:
        from codesign.hardware import hardware_metrics

        values = flat(resolved.mechanism_params)
        for name in resolved.mechanism.hardware:
            metrics = metrics | hardware_metrics(name, values, synth=options.synth)
        # The whole: what a design's hardware costs, for Pareto fronts against its benefit.
        for what in ("area_mm2", "register_bits"):
            parts = [v for k, v in metrics.items()
                     if k.startswith("hw.") and k.endswith("." + what) and k.count(".") == 2]
            metrics = metrics | {f"hw.{what}": sum(parts)}
    return metrics


def evaluate(point: Point, registry: Registry | None = None) -> Metrics:
    """Evaluate one design point (see the module docstring)."""
    return run_resolved(resolve(point, registry))
