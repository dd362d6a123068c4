"""Workloads and mechanisms, registered by name.

A :class:`Workload` turns its parameters into input arrays of one *kind* (``walks``,
``memory``, ``packets``); a :class:`Mechanism` takes a workload of a kind it accepts, its own
parameters and a platform, and returns :class:`~codesign.metrics.Metrics`. Both declare
typed parameters as a frozen dataclass (see :mod:`codesign.params`).

Built-in entries are listed in ``BUILTINS``. Third-party packages add their own through the
entry-point groups ``codesign.workloads`` and ``codesign.mechanisms``; an entry point names a
:class:`Workload` or :class:`Mechanism` object (or a list of them)::

    [project.entry-points."codesign.mechanisms"]
    my-mmu = "my_package.mmu:MECHANISM"

>>> reg = default_registry()
>>> reg.mechanism("analytic-walk").accepts
('walks',)
>>> reg.mechanism("analytic-wlak")
Traceback (most recent call last):
codesign.errors.InputError: unknown mechanism 'analytic-wlak'; did you mean 'analytic-walk'?
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from codesign.errors import InputError, suggest
from codesign.metrics import Metrics
from codesign.params import ParamSpec, param, specs
from codesign.platforms import Platform

BUILTINS: dict[str, tuple[str, ...]] = {
    # where each built-in entry is, and the names it registers (tests/test_registry.py holds
    # this index to what the modules define): a run imports only what it names
    "workloads.walks:WORKLOAD": ("walks",),
    "workloads.memory:WORKLOADS": ("context-switch", "forkwait", "lackey", "mmap-churn",
                                   "multi-vm", "pointer-chase", "random", "sequential",
                                   "strided", "zipf"),
    "workloads.packets:WORKLOADS": ("bimodal", "bulk", "fixed", "imix", "pcap", "rpc",
                                    "sequence"),
    "codesign.mmu.analytic_walk:MECHANISM": ("analytic-walk",),
    "codesign.mmu.native:MECHANISM": ("native",),
    "codesign.mmu.nested:MECHANISM": ("nested",),
    "codesign.mmu.shadow:MECHANISM": ("shadow",),
    "codesign.mmu.pv_direct:MECHANISM": ("pv-direct",),
    "codesign.mmu.selective:MECHANISM": ("selective",),
    "codesign.mmu.agile:MECHANISM": ("agile",),
    "codesign.migration.mechanism:MECHANISM": ("precopy",),
    "codesign.migration.postcopy_mechanism:MECHANISM": ("postcopy",),
    "codesign.net.native:MECHANISM": ("native-net",),
    "codesign.net.pv_split:MECHANISM": ("pv-split",),
    "codesign.net.emulated:MECHANISM": ("emulated",),
    "codesign.net.multiqueue:MECHANISM": ("multiqueue",),
    "codesign.net.sriov:MECHANISM": ("sriov",),
    "codesign.net.vhost:MECHANISM": ("vhost",),
}
GROUPS = {"workload": "codesign.workloads", "mechanism": "codesign.mechanisms"}


@dataclass(frozen=True)
class Workload:
    """A named generator of workload arrays.

    ``generate(params)`` returns the arrays; ``identity(params)``, when given, returns
    entries that replace parameters in the design-point key (a trace file's path is replaced
    by the hash of its content, so a moved file keeps its results and an edited one does
    not). Bump ``version`` whenever the same parameters would generate different data.
    """

    name: str
    kind: str
    summary: str
    params: type
    generate: Callable[[Any], Any]
    version: str = "1"
    identity: Callable[[Any], Mapping[str, Any]] | None = None

    def specs(self) -> tuple[ParamSpec, ...]:
        """Declared parameters."""
        return specs(self.params)

    def read_specs(self) -> tuple[ParamSpec, ...]:
        """The parameters it reads: all it declares (listings, as for mechanisms)."""
        return self.specs()


@dataclass(frozen=True)
class Mechanism:
    """A named way of virtualizing a resource, evaluated on a workload.

    ``run(data, params, platform) -> Metrics``; ``data`` is shared by the points of one
    workload, so ``run`` must not modify it. ``costs`` lists the platform costs it reads
    (checked before any work starts); ``check(workload_params, params)``, when given, raises
    ``ValueError`` for combinations it cannot model; ``headline`` names the metrics a report
    shows first; ``hardware`` names the hardware blocks it contains (``codesign.hardware``):
    their parameters must be among its own, and every point then also gets their
    ``hw.<block>.*`` cost metrics (see :class:`HardwareOptions`). ``ignores`` names keys of
    its (shared) parameter class that it does not read -- a 1D mechanism and the nested
    dimension's walk caches: they are not listed for it. (They stay in its points' keys and
    stored parameters, so that reports line its points up with those of mechanisms that do
    read them.) ``run_many(data, [params, ...], platform) -> [Metrics, ...]``, when given,
    evaluates in one pass several points that differ only in the parameters it names in
    ``one_pass`` (each result exactly its ``run``'s; it raises ``ValueError`` for a set it
    cannot take together): a sweep groups such points for it. Bump ``version`` whenever the
    model's results change.
    """

    name: str
    accepts: tuple[str, ...]
    summary: str
    params: type
    run: Callable[[Any, Any, Platform], Metrics]
    version: str = "1"
    costs: tuple[str, ...] = ()
    headline: tuple[str, ...] = ()
    check: Callable[[Any, Any], None] | None = None
    hardware: tuple[str, ...] = ()
    ignores: tuple[str, ...] = ()
    run_many: Callable[[Any, Sequence[Any], Platform], list[Metrics]] | None = None
    one_pass: tuple[str, ...] = ()

    def specs(self) -> tuple[ParamSpec, ...]:
        """Declared parameters (with the ``hw.*`` options when it contains hardware)."""
        own = specs(self.params)
        return own + specs(HardwareOptions) if self.hardware else own

    def read_specs(self) -> tuple[ParamSpec, ...]:
        """The declared parameters it reads: :meth:`specs` less ``ignores`` (listings)."""
        return tuple(s for s in self.specs() if s.key not in self.ignores)


@dataclass(frozen=True)
class HardwareOptions:
    """Options of the hardware-cost metrics, for mechanisms that contain hardware blocks."""

    cost: bool = param(True, key="hw.cost",
                       doc="add hw.<block>.* metrics (PyRTL area and timing estimates)")
    synth: bool = param(False, key="hw.synth", when={"hw.cost": True},
                        doc="also synthesize with Yosys for hw.<block>.cells (slow)")


def _check_hardware(mechanism: Mechanism) -> None:
    from codesign.hardware import block

    own = {s.key for s in specs(mechanism.params)}
    stray = [k for k in mechanism.ignores if k not in own]
    if stray:
        raise InputError(f"mechanism {mechanism.name!r} ignores {', '.join(stray)}, which its "
                         "parameters do not declare")
    for name in mechanism.hardware:
        missing = [s.key for s in specs(block(name).params) if s.key not in own]
        if missing:
            raise InputError(f"mechanism {mechanism.name!r} contains block {name!r} but does "
                             f"not declare its parameters {', '.join(missing)}")


@dataclass(frozen=True)
class Registry:
    """An immutable set of workloads and mechanisms, looked up by name."""

    workloads: Mapping[str, Workload]
    mechanisms: Mapping[str, Mechanism]

    def workload(self, name: str) -> Workload:
        """The workload called ``name``; InputError with the closest name otherwise."""
        return _lookup(self.workloads, name, "workload")

    def mechanism(self, name: str) -> Mechanism:
        """The mechanism called ``name``; InputError with the closest name otherwise."""
        return _lookup(self.mechanisms, name, "mechanism")

    @classmethod
    def of(cls, entries: Iterable[Workload | Mechanism]) -> Registry:
        """A registry of the given entries; two entries of one name are an error."""
        workloads: dict[str, Workload] = {}
        mechanisms: dict[str, Mechanism] = {}
        for entry in entries:
            table: dict[str, Any]
            if isinstance(entry, Workload):
                table = workloads
            elif isinstance(entry, Mechanism):
                table = mechanisms
            else:
                raise InputError(f"not a Workload or Mechanism: {entry!r}")
            if entry.name in table:
                kind = type(entry).__name__.lower()
                raise InputError(f"{kind} {entry.name!r} is registered twice")
            entry.specs()  # a bad declaration fails here, not in the middle of a sweep
            if isinstance(entry, Mechanism):
                _check_hardware(entry)
            table[entry.name] = entry
        return cls(dict(sorted(workloads.items())), dict(sorted(mechanisms.items())))


def _lookup(table: Mapping[str, Any], name: str, what: str) -> Any:
    try:
        return table[name]
    except KeyError:
        hint = suggest(name, table) or f" (known: {', '.join(table) or 'none'})"
        raise InputError(f"unknown {what} {name!r}{hint}") from None


def _entries(obj: Any) -> list[Any]:
    return list(obj) if isinstance(obj, list | tuple) else [obj]


def _builtin(target: str) -> Any:
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


class _Builtins(Mapping[str, Any]):
    """The built-in entries of one kind, each imported when it is first looked up (the
    names come from :data:`BUILTINS`, so listing them imports nothing), and checked as
    :meth:`Registry.of` checks entries."""

    def __init__(self, kind: type) -> None:
        self._kind = kind
        self._where = {name: target for target, names in BUILTINS.items() for name in names
                       if (target.rsplit(":", 1)[1] == "MECHANISM") == (kind is Mechanism)}
        self._names = sorted(self._where)
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            target = self._where[name]
            for entry in _entries(_builtin(target)):
                if not isinstance(entry, self._kind) or entry.name not in self._where:
                    raise InputError(f"{target} defines {entry!r}, which BUILTINS does not "
                                     "list there")
                entry.specs()
                if isinstance(entry, Mechanism):
                    _check_hardware(entry)
                self._loaded[entry.name] = entry
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._where


@functools.lru_cache(maxsize=1)
def default_registry() -> Registry:
    """Built-ins plus everything installed packages register through entry points.

    Without any such package a built-in is imported when it is first looked up (a run
    imports the modules of its workload and mechanism, not every one). Cached per process:
    the set of installed packages does not change while it runs.
    """
    plugins = [(group, ep) for group in GROUPS.values()
               for ep in metadata.entry_points(group=group)]
    if not plugins:
        return Registry(_Builtins(Workload), _Builtins(Mechanism))
    entries = [entry for target in BUILTINS for entry in _entries(_builtin(target))]
    for group, ep in plugins:
        try:
            loaded = ep.load()
        except Exception as exc:  # a plugin's own bug: name it rather than crash
            raise InputError(
                f"entry point {ep.name!r} in group {group!r} ({ep.value}) failed to load: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        entries.extend(_entries(loaded))
    return Registry.of(entries)
