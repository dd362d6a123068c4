"""The questions a report answers, computed from stored points.

- :func:`winners`: per workload (and per setting of the parameters a report holds fixed),
  the best value each group (mechanism) reaches on an objective, the winner, the groups that
  tie with it and its margin over the runner-up;
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
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np

from codesign.metrics import is_rate, top_level
from codesign.report.data import MIX_KEY, NAMES, Objective, column, value, varies

MAX_LINES = 10
TIE = 0.01
"""Relative difference below which two lines are level at a point (crossovers ignore it)."""


WIN_TIE = 0.02
"""Relative margin below which the best groups of a setting tie (a 2% tolerance)."""


@dataclass(frozen=True)
class Winner:
    """The ranking of groups on one workload (at one ``setting`` of the parameters it holds
    fixed, if any) for one objective; ``tie`` is the relative margin below which groups tie
    with the winner."""

    workload: str
    objective: Objective
    ranking: tuple[tuple[str, float, dict[str, Any]], ...]  # (group, best value, best row)
    setting: tuple[tuple[str, Any], ...] = ()
    tie: float = WIN_TIE

    @property
    def margin(self) -> float | None:
        """How much better the winner is than the runner-up, relative to the runner-up."""
        if len(self.ranking) < 2:
            return None
        return _gap(self.ranking[0][1], self.ranking[1][1])

    @property
    def tied(self) -> tuple[str, ...]:
        """The groups level with the winner (within ``tie``), the winner first; one group
        when it wins outright.

        >>> o = Objective("c")
        >>> Winner("w", o, (("a", 100.0, {}), ("b", 101.0, {}), ("c", 120.0, {}))).tied
        ('a', 'b')
        """
        best = self.ranking[0][1]
        return tuple(g for g, v, _ in self.ranking
                     if g == self.ranking[0][0] or (_gap(best, v) or 0.0) < self.tie)

    @property
    def contenders(self) -> tuple[str, ...]:
        """The groups these results cannot tell from the winner, the winner first: those tied
        with it and, where values are means over seeds, those whose 95% interval (the row's
        ``spread``) overlaps the winner's.

        >>> o = Objective("c")
        >>> w = Winner("w", o, (("a", 10.0, {"spread": {"c": 1.0}}),
        ...                     ("b", 11.5, {"spread": {"c": 1.0}}), ("c", 20.0, {})))
        >>> w.tied, w.contenders, w.undecided
        (('a',), ('a', 'b'), True)
        """
        metric = self.objective.metric
        _, best, best_row = self.ranking[0]
        low, high = _interval(best, best_row, metric)
        out = list(self.tied)
        for g, v, row in self.ranking[1:]:
            a, b = _interval(v, row, metric)
            if g not in out and a <= high and low <= b:
                out.append(g)
        return tuple(out)

    @property
    def undecided(self) -> bool:
        """Whether a group outside the tie overlaps the winner's 95% interval: the seeds
        run do not decide between them."""
        return len(self.contenders) > len(self.tied)

    def slowdown(self, value: float) -> float | None:
        """How many times worse ``value`` is than the winner's (1 for the winner): the ratio
        of the two, the worse over the better, whichever way the objective goes."""
        best = self.ranking[0][1]
        worse, better = (best, value) if self.objective.maximize else (value, best)
        if better == 0 or not math.isfinite(better) or not math.isfinite(worse):
            return None
        return worse / better


def _interval(v: float, row: dict[str, Any], metric: str) -> tuple[float, float]:
    half = row.get("spread", {}).get(metric, 0.0)
    return v - half, v + half


def _gap(best: float, other: float) -> float | None:
    """``|other - best| / |other|``, None when ``other`` is 0."""
    return None if other == 0 else abs(other - best) / abs(other)


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


def winners(rows: Sequence[dict[str, Any]], objective: Objective, group: str,
            by: Sequence[str] = (), tie: float = WIN_TIE) -> list[Winner]:
    """Per workload (and per value of each ``by`` parameter: a *setting*), each group's best
    value on the objective over the rows' other parameters, best first (one pass); settings
    in the order of their values.

    >>> rows = [{"workload": "w", "mechanism": m, "params": {"x": x}, "metrics": {"c": c}}
    ...         for m, x, c in [("a", 1, 1.0), ("a", 2, 4.0), ("b", 1, 3.0), ("b", 2, 4.05)]]
    >>> [(w.setting, w.tied, round(w.margin, 3)) for w in winners(rows, Objective("c"),
    ...                                                            "mechanism", by=["x"])]
    [((('x', 1),), ('a',), 0.667), ((('x', 2),), ('a', 'b'), 0.012)]
    """
    metric = objective.metric
    # (workload, setting) -> group -> (best value, its row); None until a row of the group
    # has the metric. Insertion order is first appearance, which orders ties as before.
    best: dict[tuple[str, tuple[Any, ...]], dict[str, tuple[float, dict[str, Any]] | None]] = {}
    for r in rows:
        key = (r["workload"], tuple(value(r, k) for k in by))
        groups = best.setdefault(key, {})
        name = _label(value(r, group))
        current = groups.setdefault(name, None)
        v = r["metrics"].get(metric)
        if v is not None and (current is None or objective.better(v, current[0])):
            groups[name] = (v, r)
    out = []
    sign = -1.0 if objective.maximize else 1.0
    first = {w: i for i, w in enumerate(dict.fromkeys(w for w, _ in best))}
    for (workload, setting), groups in sorted(
            best.items(), key=lambda kv: (first[kv[0][0]], [value_order(v) for v in kv[0][1]])):
        ranking = [(name, b[0], b[1]) for name, b in groups.items() if b is not None]
        if not ranking:
            continue
        ranking.sort(key=lambda item: sign * item[1])
        out.append(Winner(workload, objective, tuple(ranking), tuple(zip(by, setting,
                                                                         strict=True)), tie))
    return out


def value_order(v: Any) -> tuple[int, float, str]:
    """Sort key of a parameter value: unset first, then numbers by value, then text.

    >>> sorted([128, None, 16, "4K", 1024], key=value_order)
    [None, 16, 128, 1024, '4K']
    """
    if v is None:
        return (0, 0.0, "")
    if isinstance(v, int | float) and not isinstance(v, bool):
        return (1, float(v), "")
    return (2, 0.0, str(v))


def trap_table(metrics: dict[str, float]) -> list[tuple[str, float, float, float | None]]:
    """(reason, count, share of all traps, cycles or None), most frequent first.

    Cycles come from ``cycles.traps.<kind>.<reason>`` when the mechanism reports them.

    >>> trap_table({"traps.vmexit.cr3_write": 3, "traps.hypercall.mmu_update": 1,
    ...             "traps.total": 4, "cycles.traps.vmexit.cr3_write": 6000})
    [('vmexit.cr3_write', 3, 0.75, 6000), ('hypercall.mmu_update', 1, 0.25, None)]
    """
    counts = {k[len("traps."):]: v for k, v in metrics.items()
              if k.startswith("traps.") and k != "traps.total" and not is_rate(k)}
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
    errs: tuple[float, ...] = ()  # each y's 95% half-width, when ys are means over seeds


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _keys(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Parameter keys of the rows, in order of first appearance."""
    return list(dict.fromkeys(itertools.chain.from_iterable(map(itemgetter("params"), rows))))


def _values(rows: Sequence[dict[str, Any]], key: str) -> list[Any]:
    """:func:`~codesign.report.data.value` of each row, by column."""
    if key in NAMES:
        return list(map(itemgetter(key), rows))
    out = column(rows, key)
    for i, v in enumerate(out):
        if v is None and key not in rows[i]["params"]:
            out[i] = rows[i]["metrics"].get(key)
    return out


def series(rows: Sequence[dict[str, Any]], metric: str, x: str, group: str,
           maximize: bool = False, varying: Sequence[str] | None = None) -> list[Series]:
    """Lines of ``metric`` against parameter ``x``, one per group and context.

    The context is the other parameters that vary; when that makes more than
    ``MAX_LINES`` lines, each group keeps its best value at every x instead. ``varying``,
    when known, are the parameters that vary over ``rows``: only they can vary over the
    rows that have the metric, which spares a pass over the rows for each parameter.
    """
    usable = [r for r in rows if metric in r["metrics"] and _number(value(r, x))]
    # A parameter only some points have (a mechanism's own) sets a line apart only when it
    # takes several values: ``shadow.cache`` = 4 on every shadow point is no context.
    # A suite mix's label is the workload's name already (data.label_mixes): no context.
    others = [k for k in (_keys(usable) if varying is None else varying)
              if k not in (x, group, MIX_KEY) and varies(column(usable, k), skip_none=True)]
    for name in ("workload", "platform"):
        if name != group and len({r[name] for r in usable}) > 1:
            others.insert(0, name)

    # Contexts by column, then named once per distinct combination: a row's own would be
    # the same strings made again for each of thousands of rows.
    named: dict[Any, tuple[str, ...]] = {}

    def context(raw: tuple[Any, ...]) -> tuple[str, ...]:
        memo = (raw, tuple(map(type, raw)))  # 1, 1.0 and True are equal keys, not labels
        try:
            return named[memo]
        except KeyError:
            pass
        except TypeError:  # a list among the values: name it each time
            memo = None
        ctx = tuple(f"{k}={_label(v)}" for k, v in zip(others, raw, strict=True)
                    if v is not None)
        if memo is not None:
            named[memo] = ctx
        return ctx

    combos = zip(*(_values(usable, k) for k in others), strict=True) if others else (
        () for _ in usable)
    labels = [(_label(g), context(raw)) for g, raw in zip(_values(usable, group), combos,
                                                          strict=True)]
    contexts = len({ctx for _, ctx in labels})
    collapse = len(set(labels)) > MAX_LINES
    lines: dict[tuple[str, tuple[str, ...]], dict[float, float]] = defaultdict(dict)
    errs: dict[tuple[str, tuple[str, ...]], dict[float, float]] = defaultdict(dict)
    for r, (name, ctx) in zip(usable, labels, strict=True):
        line = (name, () if collapse else ctx)
        points = lines[line]
        xv, yv = float(value(r, x)), float(r["metrics"][metric])
        current = points.get(xv)
        if current is None or (yv > current if maximize else yv < current):
            points[xv] = yv
            if "spread" in r:
                errs[line][xv] = float(r["spread"].get(metric, 0.0))
    out = []
    for line, points in lines.items():
        name, ctx = line
        xs = tuple(sorted(points))
        label = name if not ctx else f"{name} ({', '.join(ctx)})"
        spread = errs.get(line, {})
        out.append(Series(label, name, xs, tuple(points[v] for v in xs),
                          contexts if collapse else 1, ctx,
                          tuple(spread.get(v, 0.0) for v in xs) if spread else ()))
    return out


def is_pow2_axis(xs: Sequence[float]) -> bool:
    """Whether an axis is better drawn in log2 scale (all powers of two, several of them)."""
    values = sorted(set(xs))
    return len(values) >= 3 and all(v > 0 and float(v).is_integer()
                                    and int(v) & (int(v) - 1) == 0 for v in values)


def axis_scale(xs: Sequence[float]) -> tuple[str, int] | None:
    """How to draw an axis when not linearly: ``("log", 2)`` for powers of two, ``("log",
    10)`` for positive values spanning two decades or more (a write fraction of 0.001 to 0.1,
    whose small values a linear axis crowds into one corner); None: linear.

    >>> axis_scale([8, 16, 32]), axis_scale([0.001, 0.01, 0.1]), axis_scale([0.5, 1, 10])
    (('log', 2), ('log', 10), None)
    """
    if is_pow2_axis(xs):
        return ("log", 2)
    values = sorted(set(xs))
    if len(values) >= 3 and values[0] > 0 and values[-1] / values[0] >= 100:
        return ("log", 10)
    return None


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
    """Rows no other row beats on every objective at once (rows missing a metric, or with a
    NaN, excluded), best first on the first objective; O(n log n) for up to three."""
    usable = [r for r in rows if all(o.metric in r["metrics"] and
                                     r["metrics"][o.metric] == r["metrics"][o.metric]
                                     for o in objectives)]
    if not usable or not objectives:
        return []
    signs = [-1.0 if o.maximize else 1.0 for o in objectives]
    # Equal points stand or fall together (neither beats the other): decide each distinct
    # point once, all of them minimized.
    points = {tuple(float(r["metrics"][o.metric]) * s for o, s in zip(objectives, signs,
                                                                        strict=True))
              for r in usable}
    front = _front(sorted(points))
    kept = [r for r in usable
            if tuple(float(r["metrics"][o.metric]) * s for o, s in zip(objectives, signs,
                                                                        strict=True)) in front]
    return sorted(kept, key=lambda r: r["metrics"][objectives[0].metric] * signs[0])


MAX_FRONT = 10
"""The most Pareto points a report lists and labels."""
EPSILON = 0.01
"""The relative tolerance below which a Pareto point adds nothing over a listed one."""


def epsilon_front(front: Sequence[dict[str, Any]], objectives: Sequence[Objective],
                  most: int = MAX_FRONT, epsilon: float = EPSILON
                  ) -> tuple[list[dict[str, Any]], float]:
    """The points of a Pareto ``front`` (best first on the first objective) that stand for it
    within a relative tolerance, and that tolerance: a point is left out when a kept one is
    no more than ``epsilon`` worse on every objective (epsilon-dominance, Laumanns et al.,
    2002); the tolerance doubles from ``epsilon`` until at most ``most`` points are kept.

    >>> o = [Objective("a"), Objective("b")]
    >>> front = [{"metrics": {"a": a, "b": b}} for a, b in
    ...          [(1.0, 9.0), (1.001, 8.995), (2.0, 5.0), (4.0, 1.0)]]
    >>> kept, eps = epsilon_front(front, o)
    >>> [r["metrics"]["a"] for r in kept], eps
    ([1.0, 2.0, 4.0], 0.01)
    >>> kept, eps = epsilon_front(front, o, most=2)
    >>> [r["metrics"]["a"] for r in kept], eps
    ([1.0, 4.0], 1.28)
    """
    while True:
        kept: list[dict[str, Any]] = []
        for p in front:
            if not any(_within(q, p, objectives, epsilon) for q in kept):
                kept.append(p)
        if len(kept) <= most:
            return kept, epsilon
        epsilon *= 2


def _within(q: dict[str, Any], p: dict[str, Any], objectives: Sequence[Objective],
            epsilon: float) -> bool:
    """Whether ``q`` is no more than ``epsilon`` (relative) worse than ``p`` everywhere."""
    for o in objectives:
        a, b = q["metrics"][o.metric], p["metrics"][o.metric]
        slack = epsilon * abs(b)
        if (a < b - slack) if o.maximize else (a > b + slack):
            return False
    return True


def _front(points: list[tuple[float, ...]]) -> set[tuple[float, ...]]:
    """The non-dominated ones of distinct points sorted lexicographically (minimizing).

    Whatever beats a point is no worse anywhere and differs from it, so it sorts before it:
    a point is on the front when no earlier point is no worse on the other objectives.
    """
    if len(points[0]) == 1:
        return {points[0]}
    if len(points[0]) == 2:
        front, lowest = set(), math.inf
        for p in points:
            if p[1] < lowest:  # nothing earlier is as low on the second objective
                front.add(p)
                lowest = p[1]
        return front
    if len(points[0]) == 3:
        # Earlier points' third objective, least per rank of the second (a Fenwick tree):
        # ``p`` is beaten when some earlier q has q[1] <= p[1] and q[2] <= p[2].
        ranks = {v: i + 1 for i, v in enumerate(sorted({p[1] for p in points}))}
        tree = [math.inf] * (len(ranks) + 1)
        front = set()
        for p in points:
            i, least = ranks[p[1]], math.inf
            while i > 0:
                least = min(least, tree[i])
                i -= i & -i
            if least > p[2]:
                front.add(p)
            i = ranks[p[1]]
            while i < len(tree):
                tree[i] = min(tree[i], p[2])
                i += i & -i
        return front
    values = np.array(points)
    keep = np.ones(len(points), dtype=bool)
    for start in range(0, len(points), 512):  # blocks keep the n x n comparison in memory
        block = values[start:start + 512, None, :]
        dominated = (np.all(values[None, :, :] <= block, axis=2)
                     & np.any(values[None, :, :] < block, axis=2)).any(axis=1)
        keep[start:start + 512] = ~dominated
    return {p for p, k in zip(points, keep, strict=True) if k}


def sensitivity(rows: Sequence[dict[str, Any]], objective: Objective,
                group: str) -> dict[str, list[tuple[Any, list[Winner]]]]:
    """For each swept ``platform.*`` cost: its values and the winners at each value."""
    keys = [k for k in _keys(rows) if k.startswith("platform.") and varies(column(rows, k))]
    out = {}
    for key in keys:
        subsets: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            v = r["params"].get(key)
            if v is not None:
                subsets[v if isinstance(v, Hashable) else json.dumps(v)].append(r)
        out[key] = [(v, winners(subsets[v], objective, group))
                    for v in sorted(subsets, key=_order)]
    return out


def _order(v: Any) -> tuple[int, float, str]:
    """Numbers by value, then anything else by its text (a cost is a number; a store
    written by hand may hold anything)."""
    return (0, float(v), "") if _number(v) else (1, 0.0, str(v))
