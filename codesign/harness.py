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

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def digest(obj: Any) -> str:
    """SHA-256 of the canonical JSON of ``obj`` (sorted keys, no spaces).

    >>> digest({"b": 1, "a": 2}) == digest({"a": 2, "b": 1})
    True
    """
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


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


def _resolve_paths(declared: Any, values: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative file paths made relative to ``base`` (the spec's folder, or the cwd)."""
    paths = {s.key for s in declared if s.path}
    return {k: str(base / v) if k in paths and isinstance(v, str) and v
            and not Path(v).is_absolute() else v for k, v in values.items()}


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
    """
    registry = registry or default_registry()
    workload = registry.workload(point.workload)
    mechanism = registry.mechanism(point.mechanism)
    if workload.kind not in mechanism.accepts:
        raise InputError(
            f"{origin + ': ' if origin else ''}mechanism {mechanism.name!r} takes workloads of "
            f"kind {', '.join(mechanism.accepts)}; workload {workload.name!r} is {workload.kind!r}"
        )
    wvalues, overrides, mvalues = split_params(point.params)
    if point.base:
        wvalues = _resolve_paths(workload.specs(), wvalues, Path(point.base))
        mvalues = _resolve_paths(mechanism.specs(), mvalues, Path(point.base))
    wparams = build(workload.params, wvalues, origin)
    memo_key = (point.platform, point.base)
    if platforms is not None and memo_key in platforms:
        base_platform = platforms[memo_key]
    else:
        base_platform = load_platform(point.platform, Path(point.base) if point.base else None)
        if platforms is not None:
            platforms[memo_key] = base_platform
    hw_values = {k: v for k, v in mvalues.items() if k.startswith("hw.") and mechanism.hardware}
    own = {k: v for k, v in mvalues.items() if k not in hw_values}
    # The platform's hardware defaults go under the point's own values, declared keys only.
    declared = [s.key for s in specs(mechanism.params)]
    defaults = {k: v for k, v in base_platform.defaults(declared).items() if k not in own}
    try:
        mparams = build(mechanism.params, {**defaults, **own}, origin)
    except InputError as exc:
        if not defaults:
            raise
        shown = ", ".join(f"{k}={v!r}" for k, v in defaults.items())
        raise InputError(f"{exc} (with the hardware defaults of platform "
                         f"{base_platform.name!r}: {shown}; set a key on the point to override "
                         "its default)") from None
    options = build(HardwareOptions, hw_values, origin) if mechanism.hardware else None
    if options is not None and options.cost and options.synth:
        from codesign.hardware import require_yosys

        require_yosys()
    if mechanism.check is not None:
        try:
            mechanism.check(wparams, mparams)
        except ValueError as exc:
            raise InputError(f"{origin + ': ' if origin else ''}{exc}") from None
    platform = base_platform.with_overrides(overrides, origin)
    platform.require(mechanism.costs, f"mechanism {mechanism.name!r}")

    wcanon = canonical(wparams)
    mcanon = canonical(mparams) | (canonical(options) if options is not None else {})
    identity = dict(wcanon)
    if workload.identity is not None:
        identity.update(workload.identity(wparams))
    workload_material = {"name": workload.name, "version": workload.version, "params": identity}
    material = {
        "format": KEY_FORMAT,
        "workload": workload_material,
        "mechanism": {"name": mechanism.name, "version": mechanism.version, "params": mcanon},
        # Only the costs the mechanism declares (and sees, in run_resolved): a cost added to
        # a profile for another mechanism changes none of its points.
        "platform": platform.only(mechanism.costs).identity(),
    }
    params = {**wcanon, **mcanon, **{f"platform.{k}": v for k, v in overrides.items()}}
    return Resolved(point, workload, mechanism, wparams, mparams, options, platform, params,
                    digest(material), digest(workload_material))


def run_resolved(resolved: Resolved, data: Any = None) -> Metrics:
    """Evaluate a resolved point (``data``: the workload arrays, if already generated)."""
    if data is None:
        data = resolved.workload.generate(resolved.workload_params)
    metrics = resolved.mechanism.run(data, resolved.mechanism_params,
                                     resolved.platform.only(resolved.mechanism.costs))
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
