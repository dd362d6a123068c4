"""Replicates: points that differ only in their random seed, reduced to a mean with a 95%
confidence interval, so that a report compares means and says when it cannot decide.

A sweep with ``[workload] seed = [1, 2, 3]`` runs every configuration once per seed. The
report's summary, plots and rankings then work on *cells* (one per configuration, over its
seeds): each metric's mean and the half-width of its 95% interval (Student's t, the seeds
being independent draws of the workload's random stream).

>>> rows = [{"workload": "w", "mechanism": "m", "platform": "p", "key": str(s),
...          "params": {"workload.seed": s, "x": 1}, "metrics": {"c": c}}
...         for s, c in [(1, 10.0), (2, 12.0), (3, 11.0)]]
>>> cell, = replicate_means(rows, ["workload.seed"])
>>> cell["params"], cell["metrics"], round(cell["spread"]["c"], 3), cell["replicates"]
({'x': 1}, {'c': 11.0}, 2.484, 3)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
"""Student's t, two-sided 95% (the 0.975 quantile), for 1 to 30 degrees of freedom: the
standard table (NIST/SEMATECH e-Handbook of Statistical Methods, 1.3.6.7.2)."""
T975_LARGE = ((40, 2.021), (60, 2.000), (120, 1.980))
"""The same table at 40, 60 and 120 degrees of freedom; beyond, the normal 1.960."""


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (the tabulated value
    at or below ``df``'s next table entry: a slightly wider, never narrower, interval).

    >>> t975(1), t975(9), t975(35), t975(1000)
    (12.706, 2.262, 2.042, 1.96)
    """
    if df < 1:
        raise ValueError("an interval needs at least two replicates")
    if df <= len(T975):
        return T975[df - 1]
    last = T975[-1]
    for at, t in T975_LARGE:
        if df < at:
            return last
        last = t
    return last if df < 1000 else 1.960


def mean_interval(values: Sequence[float]) -> tuple[float, float]:
    """The mean and the half-width of its 95% interval (0 for a single value).

    >>> mean_interval([4.0]), mean_interval([2.0, 4.0])
    ((4.0, 0.0), (3.0, 12.706))
    """
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return mean, 0.0
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, t975(n - 1) * math.sqrt(var / n)


def replicate_keys(params: Sequence[str]) -> list[str]:
    """The parameters that only pick a random stream (a seed) among ``params``.

    >>> replicate_keys(["workload.seed", "tlb.l1.entries", "sample.seed"])
    ['workload.seed', 'sample.seed']
    """
    return [k for k in params if k == "seed" or k.endswith(".seed")]


def replicate_means(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """One row per configuration (the rows' names and parameters but ``keys``): each metric
    its mean over the configuration's rows, ``spread`` the half-widths of the 95% intervals,
    ``replicates`` how many rows, ``key`` the first row's; in order of first appearance.
    A metric missing from some replicate is averaged over those that have it."""
    if not keys:
        return list(rows)
    cells: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        cells.setdefault(configuration(r, keys), []).append(r)
    out = []
    for members in cells.values():
        first = members[0]
        names = list(dict.fromkeys(m for r in members for m in r["metrics"]))
        means, spread = {}, {}
        for m in names:
            values = [float(r["metrics"][m]) for r in members if m in r["metrics"]]
            means[m], spread[m] = mean_interval(values)
        out.append({**first, "params": {k: v for k, v in first["params"].items()
                                        if k not in keys},
                    "metrics": means, "spread": spread, "replicates": len(members)})
    return out


def configuration(row: Mapping[str, Any], keys: Sequence[str]) -> tuple[Any, ...]:
    """What a row's replicates share: its names and its parameters but ``keys``, hashable.

    >>> a = {"workload": "w", "params": {"workload.seed": 1, "x": 2}}
    >>> configuration(a, ["workload.seed"]) == configuration(
    ...     {**a, "params": {"workload.seed": 2, "x": 2}}, ["workload.seed"])
    True
    """
    params = tuple((k, _hashable(v)) for k, v in row.get("params", {}).items() if k not in keys)
    return (row.get("workload"), row.get("mechanism"), row.get("platform"), params)


def _hashable(v: Any) -> Any:
    return repr(v) if isinstance(v, list | dict) else (type(v).__name__, v)
