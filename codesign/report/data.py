"""What a report is computed from: one sweep's points in a store, and its [report] options.

>>> from codesign.report.data import Objective
>>> Objective.parse("max:throughput.gbps")
Objective(metric='throughput.gbps', maximize=True)
>>> Objective.parse("cycles.per_walk").better(3.0, 5.0)
True
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codesign.errors import InputError
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
        """``"metric"`` (minimize) or ``"max:metric"``."""
        if text.startswith("max:"):
            return cls(text[4:], True)
        return cls(text[4:] if text.startswith("min:") else text, False)

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return a > b if self.maximize else a < b

    def label(self) -> str:
        """``metric (lower is better)`` and the like."""
        return f"{self.metric} ({'higher' if self.maximize else 'lower'} is better)"


@dataclass
class ReportData:
    """One sweep's points (done and failed), its spec options, provenance from the store."""

    store: str
    sweep: dict[str, Any]
    spec: dict[str, Any]
    done: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    platforms: dict[str, dict[str, Any]]
    point_platform: dict[str, str]
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """The report's title."""
        return str(self.options.get("title") or f"Sweep {self.sweep['name']}")

    def params(self) -> list[str]:
        """Parameter keys in order of first appearance (a suite mix's label is the workload
        column's, not a parameter's)."""
        return list(dict.fromkeys(k for r in self.done + self.failed for k in r["params"]
                                  if k != MIX_KEY))

    def varying(self) -> list[str]:
        """Parameters that take more than one value (or are absent somewhere) over done points."""
        return [k for k in self.params()
                if len({json.dumps(r["params"].get(k)) for r in self.done}) > 1]

    def defining(self) -> list[str]:
        """Varying ``workload.*`` parameters that are constant within each workload row label:
        they define the workloads (a suite's mixes) rather than vary across the study, so the
        workload's name already says them."""
        by_label: dict[str, set[str]] = {}
        for r in self.done:
            for k in self.varying():
                if k.startswith("workload."):
                    by_label.setdefault(k, set()).add(json.dumps([r["workload"],
                                                                  r["params"].get(k)]))
        labels = {r["workload"] for r in self.done}
        return [k for k, pairs in by_label.items() if len(pairs) == len(labels) > 1]

    def fixed(self) -> dict[str, Any]:
        """Parameters with one value over every done point."""
        varying = set(self.varying())
        if not self.done:
            return {}
        return {k: self.done[0]["params"][k] for k in self.params()
                if k not in varying and k in self.done[0]["params"]}

    def metrics(self) -> list[str]:
        """Metrics the tables show: [report] metrics, else mechanisms' headlines, else some."""
        present = sorted({m for r in self.done for m in r["metrics"]})
        wanted = self.options.get("metrics")
        if wanted:
            return [m for m in wanted if m in present]
        registry = default_registry()
        headline: list[str] = []
        for name in dict.fromkeys(r["mechanism"] for r in self.done):
            if name in registry.mechanisms:
                headline += [m for m in registry.mechanisms[name].headline
                             if m in present and m not in headline]
        return headline or present[:MAX_DEFAULT_METRICS]

    def objectives(self) -> list[Objective]:
        """[report] objectives, else the first table metric (minimized)."""
        given = self.options.get("objectives")
        if given:
            return [Objective.parse(o) for o in given]
        metrics = self.metrics()
        return [Objective(metrics[0])] if metrics else []

    def group(self) -> str:
        """What lines and columns are grouped by (a name or a parameter)."""
        return str(self.options.get("group", "mechanism"))

    def x_axis(self) -> str | None:
        """The swept parameter plots put on the x axis."""
        given = self.options.get("x")
        if given:
            return str(given)
        for key in self.varying():
            values = [r["params"].get(key) for r in self.done]
            if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                return key
        return None


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


def load(store_path: str | Path) -> ReportData:
    """The last sweep recorded in a store, ready to report."""
    with Store.open(store_path, create=False) as store:
        sweeps = store.sweeps()
        if not sweeps:
            raise InputError(f"{store_path}: the store holds no sweep")
        sweep = sweeps[-1]
        rows = label_mixes(list(store.rows(sweep["spec_key"])))
        platforms = store.platforms()
        point_platform = store.point_platforms()
    spec = _spec_data(sweep["spec_text"])
    options = spec.get("report") if isinstance(spec.get("report"), dict) else {}
    return ReportData(str(store_path), sweep, spec,
                      [r for r in rows if r["status"] == "done"],
                      [r for r in rows if r["status"] == "failed"],
                      platforms, point_platform, dict(options))
