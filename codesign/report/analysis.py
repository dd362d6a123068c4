"""The questions a report answers, computed from stored points.

- :func:`winners`: per workload, the best value each group (mechanism) reaches on an
  objective, the winner and its margin over the runner-up;
- :func:`trap_table`: traps by reason with share and cycles, as ``perf kvm stat`` prints;
- :func:`series` and :func:`crossovers`: a metric against a swept parameter, one line per
  group, and where two lines cross ("shadow beats nested below X");
- :func:`pareto`: the non-dominated points for two or three objectives;
- :func:`sensitivity`: the winner as each swept platform cost changes.

>>> rows = [{"workload": "w", "mechanism": m, "platform": "p", "params": {"x": x},
...          "metrics": {"c": c}} for m, x, c in
...         [("a", 1, 1.0), ("a", 2, 4.0), ("b", 1, 3.0), ("b", 2, 2.0)]]
>>> lines = series(rows, "c", "x", "mechanism")
>>> [(c.better_below, c.better_above, c.at) for c in crossovers(lines, False)]
[('a', 'b', 1.5)]
"""

from __future__ import annotations

import itertools
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from codesign.metrics import top_level
from codesign.report.data import Objective, value

MAX_LINES = 10
TIE = 0.01
"""Relative difference below which two lines are level at a point (crossovers ignore it)."""


@dataclass(frozen=True)
class Winner:
    """The ranking of groups on one workload for one objective."""

    workload: str
    objective: Objective
    ranking: tuple[tuple[str, float, dict[str, Any]], ...]  # (group, best value, best row)

    @property
    def margin(self) -> float | None:
        """How much better the winner is than the runner-up, relative to the runner-up."""
        if len(self.ranking) < 2:
            return None
        best, second = self.ranking[0][1], self.ranking[1][1]
        if second == 0:
            return None
        return abs(second - best) / abs(second)


def _label(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def best_row(rows: Sequence[dict[str, Any]], objective: Objective) -> dict[str, Any] | None:
    """The row with the best value of the objective (first of equals), or None."""
    best = None
    for row in rows:
        v = row["metrics"].get(objective.metric)
        if v is None:
            continue
        if best is None or objective.better(v, best["metrics"][objective.metric]):
            best = row
    return best


def winners(rows: Sequence[dict[str, Any]], objective: Objective, group: str) -> list[Winner]:
    """Per workload, each group's best value on the objective, best first."""
    out = []
    for workload in dict.fromkeys(r["workload"] for r in rows):
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            if r["workload"] == workload:
                groups[_label(value(r, group))].append(r)
        ranking = []
        for name, members in groups.items():
            row = best_row(members, objective)
            if row is not None:
                ranking.append((name, row["metrics"][objective.metric], row))
        if not ranking:
            continue
        sign = -1.0 if objective.maximize else 1.0
        ranking.sort(key=lambda item: sign * item[1])
        out.append(Winner(workload, objective, tuple(ranking)))
    return out


def trap_table(metrics: dict[str, float]) -> list[tuple[str, float, float, float | None]]:
    """(reason, count, share of all traps, cycles or None), most frequent first.

    Cycles come from ``cycles.traps.<kind>.<reason>`` when the mechanism reports them.

    >>> trap_table({"traps.vmexit.cr3_write": 3, "traps.hypercall.mmu_update": 1,
    ...             "traps.total": 4, "cycles.traps.vmexit.cr3_write": 6000})
    [('vmexit.cr3_write', 3, 0.75, 6000), ('hypercall.mmu_update', 1, 0.25, None)]
    """
    counts = {k[len("traps."):]: v for k, v in metrics.items()
              if k.startswith("traps.") and k != "traps.total"}
    total = sum(counts.values())
    table = [(reason, n, n / total if total else 0.0, metrics.get(f"cycles.traps.{reason}"))
             for reason, n in counts.items()]
    return sorted(table, key=lambda t: (-t[1], t[0]))


def cycle_breakdown(metrics: dict[str, float]) -> dict[str, float]:
    """Cycles by category (``cycles.<category>``), without the total, per-unit rates, trap
    reasons (the trap table shows them) and sub-categories of a reported category.

    >>> cycle_breakdown({"cycles.total": 9, "cycles.traps": 6, "cycles.base": 3,
    ...                  "cycles.traps.vmexit.io": 6})
    {'traps': 6, 'base': 3}
    """
    return top_level({k[len("cycles."):]: v for k, v in metrics.items()
                      if k.startswith("cycles.") and k != "cycles.total"
                      and not k[len("cycles."):].startswith("per_")
                      and not k.startswith("cycles.traps.")})


@dataclass(frozen=True)
class Series:
    """One line of a plot: a metric against x for one group (and fixed other parameters)."""

    label: str
    group: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    best_of: int = 1  # > 1: each y is the best of this many parameter combinations
    context: tuple[str, ...] = ()  # the other parameters' values this line holds fixed


def series(rows: Sequence[dict[str, Any]], metric: str, x: str, group: str,
           maximize: bool = False) -> list[Series]:
    """Lines of ``metric`` against parameter ``x``, one per group and context.

    The context is the other parameters that vary; when that makes more than
    ``MAX_LINES`` lines, each group keeps its best value at every x instead.
    """
    usable = [r for r in rows if isinstance(value(r, x), int | float)
              and not isinstance(value(r, x), bool) and metric in r["metrics"]]
    # A parameter only some points have (a mechanism's own) sets a line apart only when it
    # takes several values: ``shadow.cache`` = 4 on every shadow point is no context.
    others = [k for k in dict.fromkeys(k for r in usable for k in r["params"])
              if k not in (x, group)
              and len({json.dumps(r["params"][k]) for r in usable
                       if r["params"].get(k) is not None}) > 1]
    for name in ("workload", "platform"):
        if name != group and len({r[name] for r in usable}) > 1:
            others.insert(0, name)

    def context(r: dict[str, Any]) -> tuple[str, ...]:
        return tuple(f"{k}={_label(value(r, k))}" for k in others if value(r, k) is not None)

    lines: dict[tuple[str, tuple[str, ...]], dict[float, float]] = defaultdict(dict)
    contexts = len({context(r) for r in usable})
    collapse = len({(_label(value(r, group)), context(r)) for r in usable}) > MAX_LINES
    for r in usable:
        key = (_label(value(r, group)), () if collapse else context(r))
        xv, yv = float(value(r, x)), float(r["metrics"][metric])
        current = lines[key].get(xv)
        if current is None or (yv > current if maximize else yv < current):
            lines[key][xv] = yv
    out = []
    for (name, ctx), points in lines.items():
        xs = tuple(sorted(points))
        label = name if not ctx else f"{name} ({', '.join(ctx)})"
        out.append(Series(label, name, xs, tuple(points[v] for v in xs),
                          contexts if collapse else 1, ctx))
    return out


def is_pow2_axis(xs: Sequence[float]) -> bool:
    """Whether an axis is better drawn in log2 scale (all powers of two, several of them)."""
    values = sorted(set(xs))
    return len(values) >= 3 and all(v > 0 and float(v).is_integer()
                                    and int(v) & (int(v) - 1) == 0 for v in values)


@dataclass(frozen=True)
class Crossover:
    """Two lines swap order at ``at``: one is better below it, the other above."""

    better_below: str
    better_above: str
    at: float


def crossovers(lines: Sequence[Series], maximize: bool) -> list[Crossover]:
    """Where two groups' lines swap order (interpolated; in log2 space on a pow2 axis).

    Only lines of different groups that hold the other parameters at the same values are
    compared: a crossing between differently configured lines says nothing.
    """
    out = []
    for i, a in enumerate(lines):
        for b in lines[i + 1:]:
            if a.group == b.group or a.context != b.context:
                continue
            common = sorted(set(a.xs) & set(b.xs))
            if len(common) < 2:
                continue
            log = is_pow2_axis(common)
            ya, yb = dict(zip(a.xs, a.ys, strict=True)), dict(zip(b.xs, b.ys, strict=True))
            # Differences within TIE of the larger value are ties, not a lead: two lines
            # that both carry the offered load must not "cross" on rounding.
            diffs = [(x, ya[x] - yb[x]) for x in common
                     if abs(ya[x] - yb[x]) > TIE * max(abs(ya[x]), abs(yb[x]))]
            for (x0, d0), (x1, d1) in itertools.pairwise(diffs):
                if (d0 < 0) == (d1 < 0):
                    continue
                u0, u1 = (math.log2(x0), math.log2(x1)) if log else (x0, x1)
                u = u0 + (u1 - u0) * (d0 / (d0 - d1))
                at = 2.0 ** u if log else u
                a_below = (d0 < 0) != maximize
                out.append(Crossover(a.label if a_below else b.label,
                                     b.label if a_below else a.label, at))
    return out


def pareto(rows: Sequence[dict[str, Any]], objectives: Sequence[Objective]) -> list[dict]:
    """Rows no other row beats on every objective at once (rows missing a metric excluded)."""
    usable = [r for r in rows if all(o.metric in r["metrics"] for o in objectives)]
    if not usable:
        return []
    signs = np.array([-1.0 if o.maximize else 1.0 for o in objectives])
    values = np.array([[r["metrics"][o.metric] for o in objectives] for r in usable]) * signs
    keep = np.ones(len(usable), dtype=bool)
    for start in range(0, len(usable), 512):  # blocks keep the n x n comparison in memory
        block = values[start:start + 512, None, :]
        dominated = (np.all(values[None, :, :] <= block, axis=2)
                     & np.any(values[None, :, :] < block, axis=2)).any(axis=1)
        keep[start:start + 512] = ~dominated
    front = [r for r, k in zip(usable, keep, strict=True) if k]
    return sorted(front, key=lambda r: r["metrics"][objectives[0].metric]
                  * (-1 if objectives[0].maximize else 1))


def sensitivity(rows: Sequence[dict[str, Any]], objective: Objective,
                group: str) -> dict[str, list[tuple[Any, list[Winner]]]]:
    """For each swept ``platform.*`` cost: its values and the winners at each value."""
    keys = [k for k in dict.fromkeys(k for r in rows for k in r["params"])
            if k.startswith("platform.")
            and len({json.dumps(r["params"].get(k)) for r in rows}) > 1]
    out = {}
    for key in keys:
        steps = []
        for v in sorted({r["params"][key] for r in rows if key in r["params"]}):
            subset = [r for r in rows if r["params"].get(key) == v]
            steps.append((v, winners(subset, objective, group)))
        out[key] = steps
    return out
