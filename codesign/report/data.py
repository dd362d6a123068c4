"""What a report is computed from: one sweep's points in a store, and its [report] options.

>>> from codesign.report.data import Objective
>>> Objective.parse("max:throughput.gbps")
Objective(metric='throughput.gbps', maximize=True)
>>> Objective.parse("cycles.per_walk").better(3.0, 5.0)
True
"""

from __future__ import annotations

import functools
import itertools
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter, methodcaller
from pathlib import Path
from typing import Any

from codesign.errors import InputError, suggest
from codesign.metrics import RATES, rates
from codesign.registry import default_registry
from codesign.sweep.store import Store
from codesign.tomlfile import parse_toml

MAX_DEFAULT_METRICS = 8
NAMES = ("workload", "mechanism", "platform")
MIX_KEY = "workload.mix"
"""A suite mix's label among a stored point's parameters (see :mod:`codesign.sweep.expand`)."""


@dataclass(frozen=True)
class Objective:
    """A metric to minimize, or to maximize with a ``max:`` prefix."""

    metric: str
    maximize: bool = False

    @classmethod
    def parse(cls, text: str) -> Objective:
        """``"metric"`` or ``"min:metric"`` (minimize), ``"max:metric"`` (maximize).

        >>> try:
        ...     Objective.parse("max:")
        ... except InputError as exc:
        ...     print(exc)
        objective 'max:': expected 'metric', 'min:metric' or 'max:metric'
        """
        maximize = text.startswith("max:")
        metric = text[4:] if maximize or text.startswith("min:") else text
        if not metric.strip():
            raise InputError(f"objective {text!r}: expected 'metric', 'min:metric' or "
                             "'max:metric'")
        return cls(metric, maximize)

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return a > b if self.maximize else a < b

    def label(self) -> str:
        """``metric (lower is better)`` and the like."""
        return f"{self.metric} ({'higher' if self.maximize else 'lower'} is better)"


def distinct(values: Iterable[Any]) -> int:
    """How many different values there are, telling ``1``, ``1.0`` and ``true`` apart as
    their JSON does (a NaN equals a NaN here).

    >>> distinct([1, 1.0, True, None, None, float("nan"), float("nan"), [1], [1]])
    6
    """
    values = list(values)
    try:
        # Type and value, not the value alone: 1 == 1.0 == True in Python, not in a spec.
        return len({(v.__class__, v) if v == v else "nan" for v in values})
    except TypeError:  # a list or table among the values: compare their JSON
        return len({json.dumps(v, sort_keys=True) for v in values})


def varies(values: list[Any], skip_none: bool = False) -> bool:
    """Whether ``values`` are not all one value (as :func:`distinct` tells them apart),
    leaving out None with ``skip_none``.

    Most parameters of a sweep never vary, and every question about one is a pass over all
    points: this one runs in C (a set, the set of types) unless the answer is near.

    >>> varies([1, 1, 1]), varies([1, 1.0]), varies([None, 2, None], skip_none=True)
    (False, True, False)
    """
    try:
        seen = set(values)
    except TypeError:  # a list or table among them
        return distinct(v for v in values if not (skip_none and v is None)) > 1
    kinds = set(map(type, values))
    if skip_none:
        seen.discard(None)
        kinds.discard(type(None))
    # Values of two types always differ; of one type, the set holds each once (but each NaN).
    return len(kinds) > 1 or (len(seen) > 1 and distinct(seen) > 1)


def column(rows: Iterable[dict[str, Any]], key: str) -> list[Any]:
    """Each row's value of parameter ``key`` (None where it is absent), in one C loop."""
    return list(map(methodcaller("get", key), map(itemgetter("params"), rows)))


@dataclass
class ReportData:
    """One sweep's points (done and failed), its spec options, provenance from the store.

    Read-only once built: what the report asks of it more than once (the varying
    parameters, the metrics present) is computed once and kept, so that every question
    costs one pass over the points.
    """

    store: str
    sweep: dict[str, Any]
    spec: dict[str, Any]
    done: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    platforms: dict[str, dict[str, Any]]
    point_platform: dict[str, str]
    options: dict[str, Any] = field(default_factory=dict)
    _memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def _once(self, name: str, compute: Callable[[], Any]) -> Any:
        if name not in self._memo:
            self._memo[name] = compute()
        return self._memo[name]

    @property
    def title(self) -> str:
        """The report's title."""
        return str(self.options.get("title") or f"Sweep {self.sweep['name']}")

    def params(self) -> list[str]:
        """Parameter keys in order of first appearance (a suite mix's label is the workload
        column's, not a parameter's)."""
        return list(self._once("params", lambda: [
            k for k in dict.fromkeys(itertools.chain.from_iterable(
                map(itemgetter("params"), self.done + self.failed))) if k != MIX_KEY]))

    def varying(self) -> list[str]:
        """Parameters that take more than one value (or are absent somewhere) over done points."""
        return list(self._once("varying", lambda: [
            k for k in self.params() if varies(column(self.done, k))]))

    def defining(self) -> list[str]:
        """Varying ``workload.*`` parameters that are constant within each workload row label:
        they define the workloads (a suite's mixes) rather than vary across the study, so the
        workload's name already says them."""
        def compute() -> list[str]:
            by_label: dict[str, list[dict[str, Any]]] = {}
            for r in self.done:
                by_label.setdefault(r["workload"], []).append(r)
            if len(by_label) < 2:
                return []
            return [k for k in self.varying() if k.startswith("workload.")
                    and not any(varies(column(rows, k)) for rows in by_label.values())]
        return list(self._once("defining", compute))

    def replicates(self) -> list[str]:
        """Varying parameters that only pick a random draw: a random stream
        (``workload.seed``), or what the spec's ``[report] replicates`` names (such as
        ``cache.placement_seed``, a memory layout). Points that differ in them alone are
        replicates of one configuration."""
        from codesign.report.stats import replicate_keys

        varying = self.varying()
        declared = (self.spec.get("report") or {}).get("replicates") or []
        return list(dict.fromkeys([*replicate_keys(varying),
                                   *(k for k in declared if k in varying)]))

    def cells(self) -> list[dict[str, Any]]:
        """The done points with replicates reduced to one row each: metrics are means over
        the seeds, ``spread`` their 95% half-widths (:mod:`codesign.report.stats`); the
        done points themselves when nothing is replicated."""
        from codesign.report.stats import replicate_means

        return self._once("cells", lambda: replicate_means(self.done, self.replicates()))

    def fixed(self) -> dict[str, Any]:
        """Parameters with one value over every done point."""
        if not self.done:
            return {}
        varying, first = set(self.varying()), self.done[0]["params"]
        return {k: first[k] for k in self.params() if k not in varying and k in first}

    def present(self) -> list[str]:
        """Every metric some done point has, sorted."""
        return list(self._once("present", lambda: sorted(
            {m for r in self.done for m in r["metrics"]})))

    def metrics(self) -> list[str]:
        """Metrics the tables show: [report] metrics, else mechanisms' headlines, else some."""
        def compute() -> list[str]:
            present = self.present()
            wanted = self._names("metrics")
            if wanted:
                known = set(present)
                return [m for m in wanted if m in known]
            registry = default_registry()
            headline: list[str] = []
            for name in dict.fromkeys(r["mechanism"] for r in self.done):
                if name in registry.mechanisms:
                    headline += [m for m in registry.mechanisms[name].headline
                                 if m in present and m not in headline]
            return headline or present[:MAX_DEFAULT_METRICS]
        return list(self._once("metrics", compute))

    def rate_of(self, metric: str) -> str | None:
        """The name of ``metric``'s rate (per 1,000 references or per frame) when it is a
        count that the done points have as a rate, else None."""
        known = self._once("present_set", lambda: frozenset(self.present()))
        for _, suffix, _, _ in RATES:
            if f"{metric}.{suffix}" in known:
                return f"{metric}.{suffix}"
        return None

    def shown(self) -> list[str]:
        """The table metrics, each count followed by its rate: the absolute count says how
        much happened, the rate compares points of different lengths."""
        out: list[str] = []
        for m in self.metrics():
            rate = self.rate_of(m)
            out += [m] if rate is None or rate in self.metrics() else [m, rate]
        return list(dict.fromkeys(out))

    def objectives(self) -> list[Objective]:
        """[report] objectives, else the first table metric (minimized)."""
        def compute() -> list[Objective]:
            given = self._names("objectives")
            if given:
                try:
                    return [Objective.parse(o) for o in given]
                except InputError as exc:
                    raise InputError(f"{self._where('objectives')}: {exc}") from None
            metrics = self.metrics()
            return [Objective(metrics[0])] if metrics else []
        return list(self._once("objectives", compute))

    def check(self) -> None:
        """InputError unless every [report] objective and metric names a metric of the done
        points (with no point done there is nothing to check against: the report says so)."""
        named = [("objectives", o.metric) for o in self.objectives()
                 if self._names("objectives")]
        named += [("metrics", m) for m in self._names("metrics")]
        present = self.present()
        known = set(present)
        for key, metric in named:
            if self.done and metric not in known:
                hint = suggest(metric, present) or (
                    " (they have " + ", ".join(present[:MAX_DEFAULT_METRICS])
                    + (", ..." if len(present) > MAX_DEFAULT_METRICS else "") + ")")
                raise InputError(f"{self._where(key)}: no done point has metric {metric!r}"
                                 f"{hint}")

    def _names(self, key: str) -> list[str]:
        """A [report] list of names, checked as the spec loader checks it (a store written
        by hand or by an older toolkit may hold anything)."""
        given = self.options.get(key)
        if given is None:
            return []
        if not isinstance(given, list) or not all(isinstance(v, str) for v in given):
            raise InputError(f"{self._where(key)}: expected a list of strings, got {given!r}")
        return given

    def _where(self, key: str) -> str:
        """``store: [report] key of spec.toml``, the prefix of a message about an option."""
        return f"{self.store}: [report] {key} of {self.sweep.get('spec_path') or 'the spec'}"

    def group(self) -> str:
        """What lines and columns are grouped by (a name or a parameter)."""
        return str(self.options.get("group", "mechanism"))

    def x_axis(self) -> str | None:
        """The swept parameter plots put on the x axis."""
        given = self.options.get("x")
        if given:
            return str(given)

        def compute() -> str | None:
            for key in self.varying():
                if all(isinstance(v, int | float) and not isinstance(v, bool)
                       for v in (r["params"].get(key) for r in self.done)):
                    return key
            return None
        return self._once("x_axis", compute)


@functools.cache
def param_unit(key: str) -> str | None:
    """The unit a registered workload or mechanism declares for parameter ``key``, or None.

    >>> param_unit("workload.offered_gbps"), param_unit("tlb.l1.entries"), param_unit("x")
    ('Gb/s', 'entries', None)
    """
    registry = default_registry()
    for entry in (*registry.workloads.values(), *registry.mechanisms.values()):
        for spec in entry.specs():
            if spec.key == key and spec.unit:
                return spec.unit
    return None


def with_param_unit(key: str) -> str:
    """``key (unit)`` for an axis, ``key`` when no unit is declared.

    >>> with_param_unit("workload.frame_bytes"), with_param_unit("mechanism")
    ('workload.frame_bytes (bytes)', 'mechanism')
    """
    unit = param_unit(key)
    return f"{key} ({unit})" if unit else key


def value(row: dict[str, Any], key: str) -> Any:
    """A row's value for a name (workload, mechanism, platform), parameter or metric."""
    if key in NAMES:
        return row[key]
    if key in row["params"]:
        return row["params"][key]
    return row["metrics"].get(key)


def _spec_data(text: str) -> dict[str, Any]:
    try:
        return parse_toml(text, "<stored spec>")
    except InputError:
        try:
            data = json.loads(text)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}


def label_mixes(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of suite mixes named by their mix: ``pt-update-heavy/forkwait-big-heap`` in place
    of ``forkwait``, so that every table, ranking and breakdown keeps two mixes of one workload
    apart. The label stays among the parameters (``[report] group = "workload.mix"`` works).

    >>> label_mixes([{"workload": "forkwait", "params": {MIX_KEY: "s/forkwait-big-heap"}},
    ...              {"workload": "zipf", "params": {}}])[0]["workload"]
    's/forkwait-big-heap'
    """
    for row in rows:
        mix = row["params"].get(MIX_KEY)
        if mix:
            row["workload"] = str(mix)
    return rows


def group_others(rows: list[dict[str, Any]], group: str) -> list[dict[str, Any]]:
    """Rows whose mechanism does not have the parameter ``group`` (the report's grouping)
    given their mechanism's name as its value, so that they form a group of their own named
    by it rather than one named ``None``: a sweep of ``precopy`` grouped by
    ``migration.logging`` next to ``postcopy``, which logs nothing.

    >>> rows = group_others([{"mechanism": "precopy", "params": {"migration.logging": "pml"}},
    ...                      {"mechanism": "postcopy", "params": {}}], "migration.logging")
    >>> [r["params"]["migration.logging"] for r in rows]
    ['pml', 'postcopy']
    """
    if group in NAMES:
        return rows
    for row in rows:
        if group not in row["params"]:
            row["params"][group] = row["mechanism"]
    return rows


def share_names(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows whose parameter and metric names are one string object per name.

    The store's JSON gives every row its own copy of each name; a report looks names up in
    every row, and a lookup that finds the very object it holds skips comparing text in
    memory that is nowhere near the cache: several times faster on 100,000 points (and
    lighter).

    >>> a, b = share_names([{"params": {"k" * 9: 1}, "metrics": {}},
    ...                     {"params": {"".join(["k"] * 9): 2}, "metrics": {}}])
    >>> next(iter(a["params"])) is next(iter(b["params"]))
    True
    """
    share = sys.intern
    for row in rows:
        row["params"] = {share(k): v for k, v in row["params"].items()}
        row["metrics"] = {share(k): v for k, v in row["metrics"].items()}
    return rows


def with_rates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows whose done metrics also hold each count as a rate (:func:`codesign.metrics.rates`:
    ``traps.total.per_kref``, ``interrupts.per_frame``), derived here, not stored.

    >>> with_rates([{"metrics": {"packets": 4, "interrupts": 2}}])[0]["metrics"]
    {'packets': 4, 'interrupts': 2, 'interrupts.per_frame': 0.5}
    """
    for row in rows:
        if row.get("metrics"):
            row["metrics"].update(rates(row["metrics"]))
    return rows


def load(store_path: str | Path) -> ReportData:
    """The last sweep recorded in a store, ready to report."""
    with Store.open_readonly(store_path) as store:
        sweeps = store.sweeps()
        if not sweeps:
            raise InputError(f"{store_path}: the store holds no sweep")
        sweep = sweeps[-1]
        rows = with_rates(label_mixes(share_names(list(store.rows(sweep["spec_key"])))))
        platforms = store.platforms()
        point_platform = store.point_platforms()
    spec = _spec_data(sweep["spec_text"])
    options = spec.get("report") if isinstance(spec.get("report"), dict) else {}
    group_others(rows, str(options.get("group", "mechanism")))
    data = ReportData(str(store_path), sweep, spec,
                      [r for r in rows if r["status"] == "done"],
                      [r for r in rows if r["status"] == "failed"],
                      platforms, point_platform, dict(options))
    data.check()
    return data
