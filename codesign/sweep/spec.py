"""Sweep specs: a TOML file (or the same structure as a dict) naming a design space.

::

    version = 1                        # format version; others are rejected
    name = "quickstart"                # names the default store: quickstart.sqlite
    description = "what this sweep asks"

    [workload]
    name = "walks"                     # one name or a list
    walks = 100000                     # -> workload.walks
    huge_2m_fraction = [0.0, 0.5]      # a list is a grid axis
    # or, instead of name: suite = "pt-update-heavy" (or a list of suites), see below

    [mechanism]
    name = "analytic-walk"
    virtualized = [false, true]

    [hardware]                         # hardware parameters, dotted keys
    guest.levels = [4, 5]
    host.levels = { range = [4, 5] }

    [platform]
    name = "kvm-nehalem"               # a bundled profile or a .toml path (relative to this file)
    "memory.latency" = [100, 200]      # -> platform.memory.latency: overrides one cost

    [[zip]]                            # lists advanced together: one axis, not a product
    "guest.levels" = [4, 5]
    "host.levels" = [4, 5]

    [sample]                           # draws for parameters given as distributions
    seed = 7
    points = 50

    [constraints]
    require = ["host.levels >= guest.levels or not virtualized"]

    [report]
    title = "..."
    metrics = ["cycles.per_walk"]      # what tables show first
    x = "guest.levels"                 # the swept parameter plots put on the x axis
    group = "mechanism"                # one line / column group per value of this
    objectives = ["cycles.per_walk", "hw.tlb.area_mm2"]   # "max:metric" to maximize;
                                       # the first ranks the summary, 2-3 give a Pareto front
    replicates = ["cache.placement_seed"]  # draws of one setup (here memory layouts):
                                       # the report averages over them, as over seeds

    [[validation]]                     # a published result the report checks (any number)
    claim = "24 memory references per uncached 2D walk"
    source = "Gandhi et al., MICRO 2014"
    metric = "walk.refs_per_walk"
    where = { mechanism = "analytic-walk", virtualized = true, "guest.levels" = 4 }
    expect = 24
    tolerance_abs = 0                  # or tolerance (relative), tolerance_factor;
                                       # or range = [lo, hi], at_least, at_most

    [[claim]]                          # a sentence of the description, checked (any number)
    says = "Nested paging beats shadow paging with page-walk caches"
    where = { "pwc.entries" = 32 }     # optional: which points (a list = any of)
    order = ["nested", "shadow"]       # or wins = "nested", or ties = ["nested", "selective"]

**Validation rows.** Each ``[[validation]]`` table is a published result the report compares
with the model (:mod:`codesign.report.validation` evaluates them; here only their syntax is
checked, and that ``where`` and ``baseline`` name parameters of this sweep):

- ``claim``, ``source``, ``metric`` (strings) are required; ``unit``, ``why`` (the reading of
  the claim behind the expectation and its tolerance) and ``note`` (why a known failure
  fails) are optional strings;
- ``where`` (required) selects done points: parameter or name = a value or a list of values
  (any of them; ``workload`` names a suite's points by their ``<suite>/<mix>`` label, as the
  report does); ``combine`` (``mean``, ``geomean``, ``min``, ``max``) says how several
  selected points make one value (points that differ only in a replicate key, draws of one
  setup -- a ``*.seed`` or a name in ``[report] replicates`` -- count as one: their
  values' mean);
- ``baseline``, optional, selects each point's partner: the ``where`` selection with these
  values in place, agreeing with the point on every other parameter both have (a key given a
  list: the best of the points with those values, the one with the lowest metric -- "better
  than the best of shadow and nested paging"); with it, ``compare`` is ``ratio`` (metric /
  baseline's) or ``gain`` (baseline's / metric - 1, "X% better" where lower is better),
  without it ``value`` (the default);
- ``per``, a name or a list of names (parameters, metrics or platform costs): the metric is
  divided by each (``cycles.total`` per ``workload.iterations``);
- the expectation, exactly one of: ``expect`` with exactly one of ``tolerance`` (relative),
  ``tolerance_abs`` or ``tolerance_factor`` (within that factor either way); ``range = [lo,
  hi]``; ``at_least``; ``at_most`` (both ends included).

**Claim rows.** Each ``[[claim]]`` table is a sentence of the spec's comments or
``description`` (the report's opening) as data, with the ordering it states, so that the
report checks it against the results (:mod:`codesign.report.claims` evaluates them; here only
their syntax is checked, and that ``where`` names parameters of this sweep):

- ``says`` (required): the sentence, or close to it;
- exactly one of ``order`` (two or more groups, best first: at every setting each beats the
  next; an entry may be a list of groups, a tier, each of which beats each of the next tier's),
  ``wins`` (one group: it beats every other group at every setting) and ``ties`` (two
  or more groups: within the report's tie tolerance of each other at every setting); a group
  is a value of ``[report] group`` (the mechanism, unless the report groups by a parameter;
  then the points of a mechanism without that parameter form a group named by the mechanism);
- ``where`` (optional) selects done points as a validation row's does (a parameter that a
  point does not have does not apply to it);
- ``metric`` (optional): the metric compared, ``max:`` or ``min:`` prefixed to say which way
  is better; by default the report's first objective;
- ``quick`` (optional, default true): false for an ordering that holds in the full study but
  not in its quick mode (its tiny sizes). A run with ``--set`` overrides (a quick mode) skips
  such a claim, and one whose groups or points the overrides leave out.

"Beats" means better by at least the tie tolerance of the report's Summary (2%): within it,
the Summary calls two groups a tie, and so does a claim.

Groups and names are checked against the registry, not against this sweep's lists, so that a
quick mode's ``--set mechanism=[...]`` may leave out a group a claim names.

**Suites.** ``[workload] suite`` names one of the named suites (or a list of them) in place
of ``name``: the memory-workload suites of :mod:`workloads.memory.suites` and the packet
suites of :mod:`workloads.packets.suites` are one namespace (:func:`all_suites`; a name defined
in both is an error, an unknown one gets the closest across both). The workload axis
then has one row per mix, each bringing its workload and its own ``workload.*`` values, and
is crossed with the rest of the spec as a list of workload names would be. The rules:

- ``suite`` and ``name`` exclude each other (so do ``suite`` and a zipped ``workload``);
- a ``workload.*`` key of the spec applies to every mix whose workload declares it and
  overrides the mix's own value of it (``refs = 30000`` scales a suite down); a key that no
  mix's workload declares is an error, as for a list of workload names;
- every point carries the label ``workload.mix = "<suite>/<mix>"`` among its stored
  parameters, but not in its key (:mod:`codesign.sweep.expand`): the report names each row
  by it, so two mixes of one workload stay apart; constraints may test it;
- mixes that the spec's values make equal are one point, labelled with the first of them.

**Limits.** A spec file is read as :mod:`codesign.inputfile` reads user files (a regular file
of at most 16 MiB); its tables and arrays nest at most :data:`codesign.tomlfile.MAX_DEPTH`
deep; ``name`` has at most :data:`MAX_NAME` characters; and the sweep has at most
:data:`MAX_COMBINATIONS` combinations (the product of the axes, ``[sample] points`` included),
counted before any range's values are made or any draw is taken.

Value forms are in :mod:`codesign.sweep.values`, constraints in
:mod:`codesign.sweep.constraints`. Every error names the file and, where it can, the line.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from codesign.errors import InputError, suggest
from codesign.harness import DEFAULT_PLATFORM, NAME_KEYS
from codesign.platforms import load_platform
from codesign.registry import Registry, default_registry
from codesign.sweep.constraints import Constraint
from codesign.sweep.values import (
    Distribution,
    Scalar,
    axis_values,
    is_value_spec,
    value_count,
)
from codesign.tomlfile import check_depth, key_line, read_toml, tomllib

SPEC_VERSION = 1
TOP_KEYS = ("version", "name", "description")
SECTIONS = ("workload", "mechanism", "hardware", "platform", "zip", "sample", "constraints",
            "report", "validation", "claim")
REPORT_KEYS = {"title": str, "metrics": list, "x": str, "group": str, "objectives": list,
               "replicates": list}
VALIDATION_KEYS = ("claim", "source", "metric", "where", "baseline", "compare", "combine", "per",
                   "expect", "tolerance", "tolerance_abs", "tolerance_factor", "range",
                   "at_least", "at_most", "unit", "why", "note")
"""The keys of a ``[[validation]]`` row (see the module's documentation)."""
CLAIM_KEYS = ("says", "where", "metric", "order", "wins", "ties", "quick")
"""The keys of a ``[[claim]]`` row (see the module's documentation)."""
CLAIM_KINDS = ("order", "wins", "ties")
"""The orderings a ``[[claim]]`` row can state: exactly one per row."""
COMPARES = ("value", "ratio", "gain")
COMBINES = ("mean", "geomean", "min", "max")
EXPECTATIONS = ("expect", "range", "at_least", "at_most")
TOLERANCES = ("tolerance", "tolerance_abs", "tolerance_factor")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_NAME = 100
"""Longest sweep name: it names the store file (``<name>.sqlite``), and most file systems
allow 255 bytes per file name; the bundled specs' longest is 14."""
MAX_COMBINATIONS = 2_000_000
"""Most combinations a sweep may have (the product of its axes, the sample included): checked
while the spec is read, before a range's values or a sample's draws are made."""
_PREFIX = {"workload": "workload.", "platform": "platform.", "mechanism": "", "hardware": ""}
MIX_KEY = "workload.mix"
"""The label of a point's suite mix, ``<suite>/<mix>``: stored with the point's parameters, not
part of its key."""


@dataclass(frozen=True)
class Axis:
    """One dimension of the grid: keys advanced together, and their rows of values."""

    keys: tuple[str, ...]
    rows: tuple[tuple[Scalar, ...], ...]


@dataclass(frozen=True)
class SweepSpec:
    """A parsed, validated sweep spec."""

    name: str
    description: str
    path: str
    base: str | None
    text: str
    axes: tuple[Axis, ...]
    constraints: tuple[Constraint, ...] = ()
    report: Mapping[str, Any] = field(default_factory=dict)
    mixes: Mapping[str, tuple[tuple[str, Scalar], ...]] = field(default_factory=dict)
    """Parameters of each suite mix, by its ``workload.mix`` label (empty without suites)."""
    validation: tuple[Mapping[str, Any], ...] = ()
    """The ``[[validation]]`` rows, syntax-checked (``where`` and ``baseline`` flattened)."""
    claims: tuple[Mapping[str, Any], ...] = ()
    """The ``[[claim]]`` rows, syntax-checked (``where`` flattened)."""

    def size(self) -> int:
        """Combinations before constraints and de-duplication."""
        total = 1
        for axis in self.axes:
            total *= len(axis.rows)
        return total


class _Locator:
    """Turns (section, key) into a ``file:line`` prefix for messages."""

    def __init__(self, path: str, text: str) -> None:
        self.path, self.text = path, text

    def at(self, section: str | None, key: str | None = None) -> str:
        line = None
        if self.text:
            line = key_line(self.text, section, key) if key else key_line(self.text, None, section)
        return f"{self.path}:{line}" if line else self.path

    def error(self, section: str | None, key: str | None, message: str) -> InputError:
        return InputError(f"{self.at(section, key)}: {message}")


def _flatten(table: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Dotted keys of nested tables, stopping at values and value-form tables."""
    out = []
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and not is_value_spec(value):
            out.extend(_flatten(value, dotted + "."))
        else:
            out.append((dotted, value))
    return out


def load_spec(path: str | Path, registry: Registry | None = None,
              overrides: Mapping[str, str] | None = None) -> SweepSpec:
    """Read and validate a sweep spec file; ``overrides`` (``codesign sweep --set``) replace
    single parameters first (see :func:`override`)."""
    data, text = read_toml(Path(path))
    if overrides:
        data = override(data, overrides, str(path))
        text += "".join(f"\n# --set {k}={v}" for k, v in overrides.items())
    return parse_spec(data, path=str(path), text=text, base=str(Path(path).resolve().parent),
                      registry=registry)


def override(data: Mapping[str, Any], overrides: Mapping[str, str],
             path: str = "<spec>") -> dict[str, Any]:
    """The spec ``data`` with parameters set to one value each, as ``codesign sweep --set``
    gives them (a value is read as TOML, else taken as a string): a key the spec already has
    is replaced where it is; ``workload.*`` and ``platform.*`` keys go to their sections;
    ``workload``, ``mechanism`` and ``platform`` set the names; other keys go to
    ``[hardware]``. A key inside a ``[[zip]]`` group cannot be set alone; a parameter takes
    one value (a list or table is an error), a name a list too.

    This is how a study runs small (``--set workload.refs=2000``) without a second spec.

    >>> d = {"version": 1, "name": "s", "workload": {"name": "random", "refs": [1, 2]},
    ...      "mechanism": {"name": ["native", "nested"]}}
    >>> o = override(d, {"workload.refs": "500", "mechanism": "nested", "tlb.l2.entries": "0"})
    >>> o["workload"], o["mechanism"], o["hardware"]
    ({'name': 'random', 'refs': 500}, {'name': 'nested'}, {'tlb.l2.entries': 0})
    """
    check_depth(data, path)  # json recurses once per level
    out = json.loads(json.dumps(data, default=str))  # a deep copy of plain data
    for key, raw in overrides.items():
        try:
            value: Any = tomllib.loads(f"v = {raw}")["v"]
        except (ValueError, RecursionError):  # not TOML (or too deep, or too long a number)
            value = raw
        for group in ([out["zip"]] if isinstance(out.get("zip"), dict) else out.get("zip", [])):
            if key in dict(_flatten(group)):
                raise InputError(f"{path}: --set {key}: the key is in a [[zip]] group; edit "
                                 "the spec to change it")
        if key in NAME_KEYS:
            out.setdefault(key, {})["name"] = value
            continue
        if isinstance(value, list | dict):
            # One value per parameter: an axis belongs in the spec, where it is reviewed.
            what = "a list" if isinstance(value, list) else "a table"
            raise InputError(f"{path}: --set {key}: one value, got {what} (several values of a "
                             "parameter are an axis of the spec; workload, mechanism and "
                             "platform names may be a list)")
        for section in ("workload", "platform", "mechanism", "hardware"):
            raw_key = key[len(_PREFIX[section]):] if key.startswith(_PREFIX[section]) else None
            table = out.get(section)
            if raw_key is None or not isinstance(table, dict):
                continue
            if raw_key in dict(_flatten(table)):
                _drop(table, raw_key)
                table[raw_key] = value
                break
        else:
            section = next((s for s in ("workload", "platform") if key.startswith(_PREFIX[s])),
                           "hardware")
            out.setdefault(section, {})[key[len(_PREFIX[section]):]] = value
    return out


def _drop(table: dict[str, Any], dotted: str) -> None:
    """Remove ``dotted`` from ``table``, whether written flat or as nested tables."""
    if dotted in table:
        del table[dotted]
        return
    parts = dotted.split(".")
    for i in range(1, len(parts)):
        head, rest = ".".join(parts[:i]), ".".join(parts[i:])
        sub = table.get(head)
        if isinstance(sub, dict) and rest in dict(_flatten(sub)):
            _drop(sub, rest)
            if not sub:
                del table[head]
            return


def parse_spec(
    data: Mapping[str, Any],
    path: str = "<spec>",
    text: str = "",
    base: str | None = None,
    registry: Registry | None = None,
) -> SweepSpec:
    """Validate a spec given as data (what a TOML file parses to)."""
    loc = _Locator(path, text)
    if not isinstance(data, Mapping):
        raise InputError(f"{path}: a spec must be a table of sections, got {type(data).__name__}")
    check_depth(data, path, text)  # what follows walks the tables recursively
    registry = registry or default_registry()
    for key, value in data.items():
        if key not in TOP_KEYS + SECTIONS:
            what = f"section [{key}]" if isinstance(value, dict | list) else f"key {key!r}"
            hint = suggest(key, TOP_KEYS + SECTIONS)
            raise loc.error(None, key,
                            f"unknown {what}{hint} (expected {', '.join(TOP_KEYS + SECTIONS)})")
    got = data.get("version")
    if type(got) is not int or got != SPEC_VERSION:
        why = "a 'version' key is required" if got is None else f"unknown version {got!r}"
        raise loc.error(None, "version",
                        f"{why}; this toolkit reads sweep format version {SPEC_VERSION}")
    name = data.get("name")
    if name is None:
        raise loc.error(None, "name", "a 'name' key is required (it names the sweep and its "
                        "default store file)")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise loc.error(None, "name", "'name' must be a string of letters, digits, '.', '_' "
                        f"or '-' (it names the store file), got {name!r}")
    if len(name) > MAX_NAME:
        raise loc.error(None, "name", f"'name' is {len(name)} characters long; at most "
                        f"{MAX_NAME} (it names the store file, {name[:20]}....sqlite)")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise loc.error(None, "description", "'description' must be a string")

    names: dict[str, list[Scalar]] = {}
    suites: list[str] = []
    grid: list[Axis] = []
    dists: dict[str, Distribution] = {}
    seen: dict[str, str] = {}

    size = 1  # combinations of the grid axes so far

    def grow(section: str, raw: str, key: str, count: int) -> None:
        nonlocal size
        if size * count > MAX_COMBINATIONS:
            raise loc.error(section, raw, f"{key}: {count:,} values make {size * count:,} "
                            f"combinations with the axes before it; at most "
                            f"{MAX_COMBINATIONS:,} (narrow the axes or use [sample])")
        size *= count

    def take(section: str, raw: str, key: str, value: Any,
             count: bool = True) -> list[Scalar] | Distribution:
        if key in seen:
            raise loc.error(section, raw, f"parameter {key!r} is given twice "
                            f"(also in [{seen[key]}])")
        seen[key] = section
        try:
            n = value_count(value, key)  # counted before a range's values are made
        except InputError as exc:
            raise loc.error(section, raw, str(exc)) from None
        if n is not None and count:
            grow(section, raw, key, n)
        try:
            return axis_values(value, key)
        except InputError as exc:
            raise loc.error(section, raw, str(exc)) from None

    for section in ("workload", "mechanism", "platform", "hardware"):
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise loc.error(section, None, f"[{section}] must be a table")
        for raw, value in _flatten(table):
            if raw == "suite" and section == "workload":
                suites = _suite_names(value, loc)
                continue
            if raw == "name" and section in NAME_KEYS:
                values = take(section, raw, section, value)
                if isinstance(values, Distribution) or not all(isinstance(v, str) for v in values):
                    raise loc.error(section, raw, f"[{section}] name must be a string or a "
                                    "list of strings")
                names[section] = values
                continue
            if section in ("mechanism", "hardware") and raw.split(".")[0] in NAME_KEYS:
                raise loc.error(section, raw, f"{raw!r} belongs in [{raw.split('.')[0]}]")
            key = _PREFIX[section] + raw
            values = take(section, raw, key, value)
            if isinstance(values, Distribution):
                dists[key] = values
            else:
                grid.append(Axis((key,), tuple((v,) for v in values)))

    zips = data.get("zip", [])
    zips = [zips] if isinstance(zips, dict) else zips
    if not isinstance(zips, list) or not all(isinstance(z, dict) for z in zips):
        raise loc.error("zip", None, "[[zip]] must be tables of equal-length lists")
    for group in zips:
        columns = []
        for raw, value in _flatten(group):
            values = take("zip", raw, raw, value, count=not columns)  # one axis: count once
            if isinstance(values, Distribution):
                raise loc.error("zip", raw, f"{raw}: a zip group takes lists, not distributions")
            if raw in NAME_KEYS:
                if not all(isinstance(v, str) for v in values):
                    raise loc.error("zip", raw, f"{raw} names in a [[zip]] group must be "
                                    f"strings, got {values!r}")
                names[raw] = values
            columns.append((raw, values))
        if not columns:
            raise loc.error("zip", None, "empty [[zip]] group")
        lengths = {len(v) for _, v in columns}
        if len(lengths) != 1:
            detail = ", ".join(f"{k}: {len(v)}" for k, v in columns)
            raise loc.error("zip", columns[0][0], f"zip lists must have equal lengths ({detail})")
        keys = tuple(k for k, _ in columns)
        grid.append(Axis(keys, tuple(zip(*(v for _, v in columns), strict=True))))

    if suites and "workload" in names:
        where = "[[zip]]" if seen.get("workload") == "zip" else "[workload]"
        raise loc.error("workload", "suite", f"[workload] suite and a workload name in {where} "
                        "exclude each other: a suite names its workloads")
    mixes: dict[str, tuple[tuple[str, Scalar], ...]] = {}
    mix_rows: list[tuple[Scalar, ...]] = []
    if suites:
        mix_rows = _suite_mixes(suites, mixes, loc)
        names["workload"] = list(dict.fromkeys(row[0] for row in mix_rows))
    if "workload" not in names:
        raise loc.error("workload", None, "[workload] needs a 'name' (one or a list) or a "
                        "'suite'")
    if "mechanism" not in names:
        raise loc.error("mechanism", None, "[mechanism] needs a 'name' (one or a list)")
    names.setdefault("platform", [DEFAULT_PLATFORM])

    # The names not yet counted (a suite's mixes, the default platform), then the sample:
    # the whole product is known before anything is drawn.
    for n in NAME_KEYS:
        if n not in seen:
            grow(n, "suite" if suites and n == "workload" else "name", n,
                 len(mix_rows) if n == "workload" and suites else len(names[n]))
    sample_axis = _sample(data.get("sample"), dists, loc, seen, size)
    constraints = _constraints(data.get("constraints"), loc)
    report = _report(data.get("report", {}), loc)
    validation = _validation(data.get("validation"), loc)
    claims = _claims(data.get("claim"), loc)

    # Names and parameters must exist for at least one of the chosen entries.
    try:
        workloads = [registry.workload(n) for n in names["workload"]]
    except InputError as exc:
        raise loc.error("workload", "name", str(exc)) from None
    try:
        mechanisms = [registry.mechanism(n) for n in names["mechanism"]]
    except InputError as exc:
        raise loc.error("mechanism", "name", str(exc)) from None
    try:
        platforms = [load_platform(str(n), Path(base) if base else None)
                     for n in names["platform"]]
    except InputError as exc:
        raise loc.error("platform", "name", str(exc)) from None
    declared = {s.key: s for entry in (*workloads, *mechanisms) for s in entry.specs()}
    costs = {f"platform.{k}" for p in platforms for k in p.costs}
    known = set(declared) | costs | set(NAME_KEYS) | ({MIX_KEY} if suites else set())
    axes = [Axis(("workload", MIX_KEY), tuple(mix_rows)) if n == "workload" and suites else
            Axis((n,), tuple((v,) for v in names[n])) for n in NAME_KEYS
            if not any(n in a.keys for a in grid)]
    axes += grid + ([sample_axis] if sample_axis else [])
    for axis in axes:
        for i, key in enumerate(axis.keys):
            section = seen.get(key, "zip")
            raw = key[len(_PREFIX.get(section, "")):] if section in _PREFIX else key
            if key not in known:
                owner = ("platform(s) " + ", ".join(map(str, names["platform"]))
                         if key.startswith("platform.") else
                         f"the workloads of suite(s) {', '.join(suites)} ("
                         + ", ".join(map(str, names["workload"])) + ")"
                         if key.startswith("workload.") and suites else
                         "workload(s) " + ", ".join(map(str, names["workload"]))
                         if key.startswith("workload.") else
                         "mechanism(s) " + ", ".join(map(str, names["mechanism"])))
                raise loc.error(section, raw, f"unknown parameter {key!r} for {owner}"
                                f"{suggest(key, known)}")
            if key in declared:
                for row in axis.rows:
                    try:
                        declared[key].coerce(row[i])
                    except InputError as exc:
                        raise loc.error(section, raw, str(exc)) from None
            elif key in costs:  # an override: checked here, with its line, not per point
                owner = next(p for p in platforms if key[9:] in p.costs)
                for row in axis.rows:
                    try:
                        owner.override_value(key[9:], row[i])
                    except InputError as exc:
                        raise loc.error(section, raw, str(exc)) from None
    for constraint in constraints:
        for name_ in constraint.names:
            if name_ not in known:
                raise loc.error("constraints", "require",
                                f"constraint {constraint.text!r} names unknown parameter "
                                f"{name_!r}{suggest(name_, known)}")
    for key in ("x", "group", "replicates"):
        given = report.get(key, [])
        for name_ in [given] if isinstance(given, str) else given:
            if name_ not in known:
                raise loc.error("report", key, f"report {key} {name_!r} is not a parameter "
                                f"of this sweep{suggest(name_, known)}")
    labels = set(mixes)
    for index, row in enumerate(validation):
        for table in ("where", "baseline"):
            for key, wanted in row.get(table, {}).items():
                _check_selector(loc, index, table, key, wanted, known, declared, names, labels)
    for index, row in enumerate(claims):
        _check_claim(loc, index, row, str(report.get("group", "mechanism")), known, declared,
                     registry)
    source = text or json.dumps(data, sort_keys=True, default=str)
    return SweepSpec(name, description, path, base, source, tuple(axes), constraints, report,
                     mixes, validation, claims)


def _suite_names(value: Any, loc: _Locator) -> list[str]:
    """The suite names of ``[workload] suite``: a string or a list of distinct strings."""
    given = [value] if isinstance(value, str) else value
    if not isinstance(given, list) or not given or not all(isinstance(v, str) for v in given):
        raise loc.error("workload", "suite", "[workload] suite must be a suite name or a list "
                        f"of suite names, got {value!r}")
    if len(set(given)) < len(given):
        twice = next(v for v in given if given.count(v) > 1)
        raise loc.error("workload", "suite", f"suite {twice!r} is listed twice")
    return given


SUITE_MODULES = ("workloads.memory.suites", "workloads.packets.suites")
"""The modules whose ``SUITES`` ``[workload] suite`` chooses from, in listing order."""


def all_suites() -> dict[str, Any]:
    """Every named suite (:class:`workloads.memory.suites.Suite`) by name, memory suites first.

    >>> names = list(all_suites())
    >>> names[0], names[-1], "small-packets" in names
    ('pt-update-heavy', 'balanced-net', True)
    """
    import importlib

    out: dict[str, Any] = {}
    where: dict[str, str] = {}
    for module in SUITE_MODULES:
        for s in importlib.import_module(module).SUITES:
            if s.name in out:
                raise InputError(f"suite {s.name!r} is defined twice: in {where[s.name]} and "
                                 f"in {module} (suite names are one namespace)")
            out[s.name], where[s.name] = s, module
    return out


def find_suite(name: str) -> Any:
    """The suite called ``name``, memory or packet; InputError with the closest name otherwise.

    >>> find_suite("latency").mixes[0].workload
    'rpc'
    >>> find_suite("small-packet")
    Traceback (most recent call last):
    codesign.errors.InputError: unknown suite 'small-packet'; did you mean 'small-packets'?
    """
    table = all_suites()
    try:
        return table[name]
    except KeyError:
        hint = suggest(name, table) or f" (known: {', '.join(table)})"
        raise InputError(f"unknown suite {name!r}{hint}") from None


def _suite_mixes(suites: list[str], mixes: dict[str, tuple[tuple[str, Scalar], ...]],
                 loc: _Locator) -> list[tuple[Scalar, ...]]:
    """Rows (workload, mix label) of the suites' mixes; fills ``mixes`` with their params."""
    rows: list[tuple[Scalar, ...]] = []
    for name in suites:
        try:
            found = find_suite(name)
        except InputError as exc:
            raise loc.error("workload", "suite", str(exc)) from None
        for mix in found.mixes:
            label = f"{found.name}/{mix.label}"
            mixes[label] = mix.params
            rows.append((mix.workload, label))
    return rows


def _sample(table: Any, dists: dict[str, Distribution], loc: _Locator,
            seen: Mapping[str, str], grid: int = 1) -> Axis | None:
    """The sample's axis: ``[sample] points`` draws of every distribution, crossed with the
    ``grid`` combinations of the other axes (checked against the cap before any draw)."""
    if table is None:
        if dists:
            key = sorted(dists)[0]
            section = seen[key]
            raw = key[len(_PREFIX[section]):]
            raise loc.error(section, raw, f"{key} is a distribution: add a [sample] section "
                            "with 'seed' and 'points'")
        return None
    if not isinstance(table, dict):
        raise loc.error("sample", None, "[sample] must be a table with 'seed' and 'points'")
    for key in table:
        if key not in ("seed", "points"):
            raise loc.error("sample", key, f"unknown key {key!r} in [sample]"
                            f"{suggest(key, ('seed', 'points'))}")
    for key, low in (("seed", 0), ("points", 1)):
        value = table.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise loc.error("sample", key, f"[sample] {key} must be an integer >= {low}, "
                            f"got {value!r}")
    if not dists:
        raise loc.error("sample", None, "[sample] is given but no parameter is a distribution")
    points = table["points"]
    if points * grid > MAX_COMBINATIONS:
        crossed = f" times {grid:,} grid combinations" if grid > 1 else ""
        raise loc.error("sample", "points", f"[sample] points = {points:,}{crossed} is more than "
                        f"{MAX_COMBINATIONS:,} points; draw fewer")
    rng = np.random.default_rng(table["seed"])
    keys = tuple(sorted(dists))
    columns = [dists[k].draw(rng, points) for k in keys]
    return Axis(keys, tuple(zip(*columns, strict=True)))


def _constraints(table: Any, loc: _Locator) -> tuple[Constraint, ...]:
    if table is None:
        return ()
    if not isinstance(table, dict):
        raise loc.error("constraints", None, "[constraints] must be a table: require = [...]")
    for key in table:
        if key != "require":
            raise loc.error("constraints", key, f"unknown key {key!r} in [constraints]"
                            f"{suggest(key, ('require',))}")
    rules = table.get("require", [])
    if not isinstance(rules, list):
        raise loc.error("constraints", "require", "require must be a list of strings")
    out = []
    for rule in rules:
        try:
            out.append(Constraint.parse(rule))
        except InputError as exc:
            raise loc.error("constraints", "require", str(exc)) from None
    return tuple(out)


def _report(table: Any, loc: _Locator) -> dict[str, Any]:
    """The ``[report]`` table, its syntax checked (whether a metric exists is known only
    once there are results: the report checks that)."""
    if not isinstance(table, dict):
        raise loc.error("report", None, "[report] must be a table")
    for key, value in table.items():
        if key not in REPORT_KEYS:
            raise loc.error("report", key, f"unknown key {key!r} in [report]"
                            f"{suggest(key, REPORT_KEYS)} (expected {', '.join(REPORT_KEYS)})")
        kind = REPORT_KEYS[key]
        ok = isinstance(value, kind) and (
            kind is not list or all(isinstance(v, str) for v in value))
        if not ok:
            what = "a list of strings" if kind is list else "a string"
            raise loc.error("report", key, f"report {key} must be {what}, got {value!r}")
    for item in table.get("metrics", []):
        if not item.strip():
            raise loc.error("report", "metrics", f"report metrics: {item!r} is not a metric "
                            "name; expected a non-empty name such as 'cycles.per_walk'")
    for item in table.get("objectives", []):
        # as codesign.report.data.Objective.parse reads it: only these two prefixes
        metric = item[4:] if item.startswith(("max:", "min:")) else item
        if not metric.strip():
            raise loc.error("report", "objectives", f"report objectives: {item!r} is not an "
                            "objective; expected a metric name, optionally prefixed 'max:' or "
                            "'min:' (e.g. 'max:packets.rate_mpps')")
    return dict(table)


_ROW_HEADER = re.compile(r"^\s*\[\[\s*validation\s*\]\]\s*(#.*)?$")
_HEADER = re.compile(r"^\s*\[")


def _row_line(text: str, index: int, key: str | None, table: str = "validation") -> int | None:
    """The 1-based line of ``key`` in the ``index``-th ``[[validation]]`` table (or ``[[claim]]``
    with ``table``; its header line when the key is not found there); None when the text has
    no such table.

    >>> _row_line('[[validation]]\\nclaim = "a"\\n[[validation]]\\n\\nmetric = "m"\\n', 1, "metric")
    5
    >>> _row_line('[[validation]]\\nclaim = "a"\\n', 0, "where")
    1
    """
    lines = text.splitlines()
    header = (_ROW_HEADER if table == "validation" else
              re.compile(r"^\s*\[\[\s*" + re.escape(table) + r"\s*\]\]\s*(#.*)?$"))
    headers = [i for i, line in enumerate(lines) if header.match(line)]
    if index >= len(headers):
        return None
    start = headers[index]
    end = next((i for i in range(start + 1, len(lines)) if _HEADER.match(lines[i])), len(lines))
    found = key_line("\n".join(lines[start + 1:end]), None, key) if key else None
    return start + 1 + found if found else start + 1


def _row_error(loc: _Locator, index: int, key: str | None, message: str,
               table: str = "validation") -> InputError:
    """An error about row ``index`` of ``[[validation]]`` (or ``[[claim]]`` with ``table``),
    at its line where it can be found."""
    line = _row_line(loc.text, index, key, table) if loc.text else None
    at = f"{loc.path}:{line}" if line else loc.path
    return InputError(f"{at}: [[{table}]] row {index + 1}: {message}")


def _number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def check_validation(rows: Any, path: str = "<spec>", text: str = "") -> tuple[dict[str, Any], ...]:
    """The ``[[validation]]`` rows of a spec, their syntax checked; ``where`` and ``baseline``
    flattened to dotted keys. Errors name the file, the row's line and the key.

    >>> rows = check_validation([{"claim": "c", "source": "s", "metric": "walk.refs",
    ...                           "where": {"guest": {"levels": 4}}, "at_least": 1}])
    >>> rows[0]["where"], rows[0]["compare"]
    ({'guest.levels': 4}, 'value')
    >>> check_validation([{"claim": "c", "source": "s", "metric": "m", "where": {},
    ...                    "expect": 1, "tolerence": 0.1}], "v.toml")
    Traceback (most recent call last):
    codesign.errors.InputError: v.toml: [[validation]] row 1: unknown key 'tolerence'; did you mean 'tolerance'?
    """  # noqa: E501
    return _validation(rows, _Locator(path, text))


def _validation(rows: Any, loc: _Locator) -> tuple[dict[str, Any], ...]:
    if rows is None:
        return ()
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise loc.error("validation", None, "validation rows must be tables: write each as "
                        "[[validation]] (an array of tables)")
    return tuple(_validation_row(row, index, loc) for index, row in enumerate(rows))


def _validation_row(row: dict[str, Any], index: int, loc: _Locator) -> dict[str, Any]:
    def fail(key: str | None, message: str) -> InputError:
        return _row_error(loc, index, key, message)

    for key in row:
        if key not in VALIDATION_KEYS:
            hint = suggest(key, VALIDATION_KEYS) or f" (expected {', '.join(VALIDATION_KEYS)})"
            raise fail(key, f"unknown key {key!r}{hint}")
    out: dict[str, Any] = {}
    for key in ("claim", "source", "metric", "unit", "why", "note"):
        value = row.get(key)
        if value is None and key in ("claim", "source", "metric"):
            what = {"claim": "the published result in words", "source": "its citation",
                    "metric": "the stored metric it is compared with"}[key]
            raise fail(None, f"a {key!r} key is required ({what})")
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise fail(key, f"{key} must be a non-empty string, got {value!r}")
        if value is not None:
            out[key] = value
    for key in ("where", "baseline"):
        if key not in row:
            if key == "where":
                raise fail(None, "a 'where' table is required (parameter = value, selecting "
                           "the points)")
            continue
        out[key] = _selector(row[key], key, fail)
    compare = row.get("compare")
    if compare is not None and compare not in COMPARES:
        raise fail("compare", f"compare must be one of {', '.join(map(repr, COMPARES))}, got "
                   f"{compare!r}{suggest(str(compare), COMPARES)}")
    if "baseline" in out and compare not in ("ratio", "gain"):
        raise fail("compare" if compare else "baseline", "a row with a baseline needs "
                   "compare = 'ratio' (metric / baseline's) or 'gain' (baseline's / metric - 1)")
    if compare in ("ratio", "gain") and "baseline" not in out:
        raise fail("compare", f"compare = {compare!r} needs a 'baseline' table to compare with")
    out["compare"] = compare or "value"
    combine = row.get("combine")
    if combine is not None:
        if combine not in COMBINES:
            raise fail("combine", f"combine must be one of {', '.join(map(repr, COMBINES))}, "
                       f"got {combine!r}{suggest(str(combine), COMBINES)}")
        out["combine"] = combine
    per = row.get("per")
    if per is not None:
        names = [per] if isinstance(per, str) else per
        if (not isinstance(names, list) or not names
                or not all(isinstance(n, str) and n.strip() for n in names)):
            raise fail("per", f"per must be a name or a list of names, got {per!r}")
        out["per"] = list(names)
    given = [k for k in EXPECTATIONS if k in row]
    if len(given) != 1:
        raise fail(given[1] if given else None,
                   f"gives both {given[0]!r} and {given[1]!r}; one expectation per row"
                   if given else "an expectation is required: expect (with a tolerance), "
                   "range = [lo, hi], at_least or at_most")
    kind = given[0]
    tolerances = [k for k in TOLERANCES if k in row]
    if kind != "expect" and tolerances:
        raise fail(tolerances[0], f"{tolerances[0]} goes with expect, not with {kind}")
    if kind == "range":
        bounds = row["range"]
        if (not isinstance(bounds, list) or len(bounds) != 2 or not all(map(_number, bounds))
                or bounds[0] > bounds[1]):
            raise fail("range", f"range must be [lo, hi], two finite numbers with lo <= hi, "
                       f"got {bounds!r}")
        out["range"] = [bounds[0], bounds[1]]
        return out
    if not _number(row[kind]):
        raise fail(kind, f"{kind} must be a finite number, got {row[kind]!r}")
    out[kind] = row[kind]
    if kind != "expect":
        return out
    if len(tolerances) != 1:
        raise fail(tolerances[1] if tolerances else "expect",
                   f"gives both {tolerances[0]!r} and {tolerances[1]!r}; one tolerance per "
                   "row" if tolerances else "expect needs a tolerance: tolerance (relative, "
                   "e.g. 0.05), tolerance_abs or tolerance_factor (e.g. 2: within 2x)")
    key = tolerances[0]
    low = 1 if key == "tolerance_factor" else 0
    if not _number(row[key]) or row[key] < low:
        raise fail(key, f"{key} must be a finite number >= {low}, got {row[key]!r}")
    if key == "tolerance_factor" and row["expect"] <= 0:
        raise fail(key, f"tolerance_factor needs expect > 0, got {row['expect']!r}")
    out[key] = row[key]
    return out


def _selector(table: Any, key: str, fail: Any) -> dict[str, Any]:
    """A ``where`` or ``baseline`` table as dotted keys, each a scalar or a list of them."""
    if not isinstance(table, dict):
        raise fail(key, f"{key} must be a table of parameter = value, got {table!r}")
    out: dict[str, Any] = {}
    for name, value in _flatten(table):
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) or _number(v) or isinstance(v, bool)
                                 for v in values):
            raise fail(key, f"{key} {name}: expected a value or a list of values (strings, "
                       f"numbers, booleans), got {value!r}")
        out[name] = value
    return out


def _check_selector(loc: _Locator, index: int, table: str, key: str, wanted: Any,
                    known: set[str], declared: Mapping[str, Any],
                    names: Mapping[str, list[Scalar]], labels: set[str]) -> None:
    """InputError unless ``key`` is a parameter or name of the sweep and each wanted value
    is one it can take."""
    if key not in known:
        raise _row_error(loc, index, table, f"{table}: {key!r} is not a parameter of this "
                         f"sweep{suggest(key, known)}")
    for value in wanted if isinstance(wanted, list) else [wanted]:
        if key in NAME_KEYS:
            # A suite's points are named by their mix label, in the store as in the report.
            choices = (sorted(labels) if key == "workload" and labels
                       else [str(n) for n in names.get(key, [])])
            if value not in choices:
                hint = suggest(str(value), choices)
                raise _row_error(loc, index, table, f"{table}: {key} {value!r} is not one of "
                                 f"this sweep's ({', '.join(choices)}){hint}")
        elif key in declared:
            try:
                declared[key].coerce(value)
            except InputError as exc:
                raise _row_error(loc, index, table, f"{table}: {exc}") from None


# -- [[claim]] rows ---------------------------------------------------------------------------


def check_claims(rows: Any, path: str = "<spec>", text: str = "") -> tuple[dict[str, Any], ...]:
    """The ``[[claim]]`` rows of a spec, their syntax checked; ``where`` flattened to dotted
    keys, the ordering under ``kind``, ``tiers`` (``order``'s entries, each a list of groups;
    ``wins``' group and ``ties``' groups as one tier) and ``groups`` (all of them, in order),
    ``quick`` set.
    Errors name the file, the row's line and the key.

    >>> rows = check_claims([{"says": "s", "where": {"pwc": {"entries": 32}},
    ...                       "order": ["nested", "shadow"]}])
    >>> rows[0]["where"], rows[0]["kind"], rows[0]["tiers"], rows[0]["quick"]
    ({'pwc.entries': 32}, 'order', [['nested'], ['shadow']], True)
    >>> check_claims([{"says": "s", "order": ["nested", ["pv-direct", "shadow"]]}])[0]["groups"]
    ['nested', 'pv-direct', 'shadow']
    >>> check_claims([{"says": "s", "oder": ["a", "b"]}], "c.toml")
    Traceback (most recent call last):
    codesign.errors.InputError: c.toml: [[claim]] row 1: unknown key 'oder'; did you mean 'order'?
    """
    return _claims(rows, _Locator(path, text))


def _claims(rows: Any, loc: _Locator) -> tuple[dict[str, Any], ...]:
    if rows is None:
        return ()
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise loc.error("claim", None, "claim rows must be tables: write each as [[claim]] (an "
                        "array of tables)")
    return tuple(_claim_row(row, index, loc) for index, row in enumerate(rows))


def _scalar(value: Any) -> bool:
    return isinstance(value, str | bool) or _number(value)


def _claim_row(row: dict[str, Any], index: int, loc: _Locator) -> dict[str, Any]:
    def fail(key: str | None, message: str) -> InputError:
        return _row_error(loc, index, key, message, "claim")

    for key in row:
        if key not in CLAIM_KEYS:
            hint = suggest(key, CLAIM_KEYS) or f" (expected {', '.join(CLAIM_KEYS)})"
            raise fail(key, f"unknown key {key!r}{hint}")
    says = row.get("says")
    if says is None:
        raise fail(None, "a 'says' key is required (the sentence the claim checks)")
    if not isinstance(says, str) or not says.strip():
        raise fail("says", f"says must be a non-empty string, got {says!r}")
    out: dict[str, Any] = {"says": says, "where": _selector(row.get("where", {}), "where", fail)}
    metric = row.get("metric")
    if metric is not None:
        bare = metric[4:] if isinstance(metric, str) and metric.startswith(("max:", "min:")) \
            else metric
        if not isinstance(bare, str) or not bare.strip():
            raise fail("metric", f"metric must be a metric name, optionally prefixed 'max:' or "
                       f"'min:', got {metric!r}")
        out["metric"] = metric
    given = [k for k in CLAIM_KINDS if k in row]
    if len(given) != 1:
        raise fail(given[1] if given else None,
                   f"gives both {given[0]!r} and {given[1]!r}; one ordering per row" if given
                   else "an ordering is required: order = [best, ..., worst], wins = group or "
                   "ties = [group, group, ...]")
    kind = given[0]
    value = row[kind]
    if kind == "wins":
        if not _scalar(value):
            raise fail(kind, f"wins must be one group (a string, number or boolean), got "
                       f"{value!r}")
        tiers = [[value]]
    elif kind == "order":
        # Each entry a group or a list of groups (a tier: each beats each of the next tier).
        if (not isinstance(value, list) or len(value) < 2
                or not all(_scalar(v) or (isinstance(v, list) and v and all(map(_scalar, v)))
                           for v in value)):
            raise fail(kind, "order must be a list of two or more groups, best first (an "
                       f"entry may be a list of groups: a tier), got {value!r}")
        tiers = [v if isinstance(v, list) else [v] for v in value]
    else:
        if (not isinstance(value, list) or len(value) < 2
                or not all(_scalar(v) for v in value)):
            raise fail(kind, f"ties must be a list of two or more groups, got {value!r}")
        tiers = [value]
    groups = [g for tier in tiers for g in tier]
    labels = [str(v).lower() if isinstance(v, bool) else str(v) for v in groups]
    if len(set(labels)) < len(labels):
        twice = next(v for v, label in zip(groups, labels, strict=True)
                     if labels.count(label) > 1)
        raise fail(kind, f"{kind}: group {twice!r} is listed twice")
    out["tiers"] = [list(t) for t in tiers]
    out["kind"], out["groups"] = kind, groups
    quick = row.get("quick", True)
    if not isinstance(quick, bool):
        raise fail("quick", f"quick must be true or false, got {quick!r}")
    out["quick"] = quick
    return out


def _check_claim(loc: _Locator, index: int, row: Mapping[str, Any], group: str,
                 known: set[str], declared: Mapping[str, Any], registry: Registry) -> None:
    """InputError unless each ``where`` key is a parameter or name of the sweep, and each
    value there and each group of the ordering is one it can take (names: one the registry
    or a suite knows, so that a ``--set`` narrowing a name list leaves the row valid)."""
    def fail(key: str, message: str) -> InputError:
        return _row_error(loc, index, key, message, "claim")

    def check(key: str, value: Any, table: str) -> None:
        if key in ("workload", "mechanism"):
            choices = sorted(registry.workloads if key == "workload" else registry.mechanisms)
            if key == "workload":
                choices += [f"{s.name}/{m.label}" for s in all_suites().values()
                            for m in s.mixes]
            if value not in choices:
                raise fail(table, f"{table}: {key} {value!r} is not a known {key}"
                           f"{suggest(str(value), choices)}")
        elif key in declared:
            try:
                declared[key].coerce(value)
            except InputError as exc:
                raise fail(table, f"{table}: {exc}") from None

    for key, wanted in row["where"].items():
        if key not in known:
            raise fail("where", f"where: {key!r} is not a parameter of this sweep"
                       f"{suggest(key, known)}")
        for value in wanted if isinstance(wanted, list) else [wanted]:
            check(key, value, "where")
    for value in row["groups"]:
        if group not in ("workload", "mechanism") and value in registry.mechanisms:
            # a mechanism without the grouping parameter is its own group, by its name (the
            # report's data.group_others)
            continue
        check(group, value, row["kind"])
