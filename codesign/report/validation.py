"""Validation: published results set against the model's values, from a store's done points.

A sweep spec's ``[[validation]]`` rows (syntax in :mod:`codesign.sweep.spec`) each name a
published result (``claim``, ``source``), the stored ``metric`` it is compared with, the
points that stand for its setup (``where``), optionally a ``baseline`` and how the two
compare, and an expectation with its tolerance. This module turns a row and the done points
into an :class:`Outcome`: the model's value and ``pass``, ``fail`` or ``missing`` (no value
could be computed: nothing selected, several points and no ``combine``, a metric absent),
always with the reason. Nothing here is tuned to a row: a failing row stays failed, and the
report shows it with its note.

>>> points = [
...     {"workload": "forkwait", "mechanism": "native", "platform": "p", "params": {},
...      "metrics": {"cycles.total": 6.0}},
...     {"workload": "forkwait", "mechanism": "shadow", "platform": "p", "params": {},
...      "metrics": {"cycles.total": 106.4}}]
>>> row = Row.parse({"claim": "106.4 s against 6.0 s", "source": "Adams & Agesen, ASPLOS 2006",
...                  "metric": "cycles.total", "where": {"mechanism": "shadow"},
...                  "baseline": {"mechanism": "native"}, "compare": "ratio",
...                  "expect": 17.73, "tolerance_factor": 2})
>>> outcome = evaluate(row, points)
>>> outcome.status, round(outcome.value, 2), row.expectation.describe(row.show)
('pass', 17.73, '17.73 within 2x (8.865 to 35.46)')
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from codesign.errors import InputError
from codesign.report.stats import configuration
from codesign.sweep.spec import check_validation

NAMES = ("workload", "mechanism", "platform")
STATUSES = ("pass", "fail", "missing")
HEADER = ["published result", "source", "workload and parameters used", "model value",
          "expected", "result", "why this expectation", "note"]
"""The columns of the report's validation table (:func:`table_rows`)."""
_COMBINED = {"mean": "mean", "geomean": "geometric mean", "min": "minimum", "max": "maximum"}
_HIDDEN = ("workload.seed", "workload.mix")  # say nothing about the setup a reader can check

Scalar = str | int | float | bool
Point = Mapping[str, Any]
Costs = Mapping[str, Mapping[str, float]]


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def same(a: Any, b: Any) -> bool:
    """Whether a stored value equals a wanted one: numbers by value (``4 == 4.0``), but a
    boolean only equals a boolean (in a spec, ``true`` is not ``1``), and unset (None) only
    unset.

    >>> same(4, 4.0), same(True, 1), same("4K", "4K"), same(None, 0), same(None, None)
    (True, False, True, False, True)
    """
    if a is None or b is None:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if _number(a) and _number(b):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


@dataclass(frozen=True)
class Expectation:
    """What a row expects: an interval, both ends included (infinite where open).

    ``kind`` is ``expect`` (a published value and a tolerance: ``tolerance`` relative,
    ``tolerance_abs`` or ``tolerance_factor``), ``range``, ``at_least`` or ``at_most``.

    >>> e = Expectation("expect", 4.4, "tolerance", 0.2)
    >>> e.bounds(), e.holds(4.0), e.holds(5.3)
    ((3.5200000000000005, 5.28), True, False)
    >>> Expectation("range", 0.15, high=0.38).describe(lambda v: f"{v:+.0%}")
    '+15% to +38%'
    """

    kind: str
    value: float
    tolerance: str = ""
    amount: float = 0.0
    high: float = math.inf
    """The upper end of a ``range`` (``value`` is its lower end)."""

    def bounds(self) -> tuple[float, float]:
        """The lowest and highest values that pass."""
        v, t = self.value, self.amount
        if self.kind == "range":
            return v, self.high
        if self.kind == "at_least":
            return v, math.inf
        if self.kind == "at_most":
            return -math.inf, v
        if self.tolerance == "tolerance_factor":
            return v / t, v * t
        spread = t * abs(v) if self.tolerance == "tolerance" else t
        return v - spread, v + spread

    def holds(self, value: float) -> bool:
        """Whether ``value`` passes: both ends included, up to rounding (4.4 - 20% is
        3.5200000000000005 in binary, and 3.52 is meant to pass).

        >>> Expectation("expect", 4.4, "tolerance", 0.2).holds(3.52)
        True
        """
        low, high = self.bounds()
        slack = 1e-12
        return (low - slack * max(1.0, abs(low)) <= value
                <= high + slack * max(1.0, abs(high)))

    def describe(self, show: Callable[[float], str]) -> str:
        """The expectation in words, its numbers written by ``show``."""
        if self.kind == "range":
            return f"{show(self.value)} to {show(self.high)}"
        if self.kind == "at_least":
            return f"at least {show(self.value)}"
        if self.kind == "at_most":
            return f"at most {show(self.value)}"
        low, high = self.bounds()
        if self.amount == 0:
            return f"{show(self.value)} exactly"
        if self.tolerance == "tolerance":
            return f"{show(self.value)} ± {self.amount:.0%} ({show(low)} to {show(high)})"
        if self.tolerance == "tolerance_factor":
            return f"{show(self.value)} within {self.amount:g}x ({show(low)} to {show(high)})"
        return f"{show(self.value)} ± {self.amount:g} ({show(low)} to {show(high)})"


Selector = tuple[tuple[str, tuple[Scalar, ...]], ...]


def _selector(table: Mapping[str, Any]) -> Selector:
    return tuple((k, tuple(v) if isinstance(v, list) else (v,)) for k, v in table.items())


@dataclass(frozen=True)
class Row:
    """One published result and how the model is held to it (a checked ``[[validation]]``
    table: see :mod:`codesign.sweep.spec`)."""

    claim: str
    source: str
    metric: str
    where: Selector
    expectation: Expectation
    baseline: Selector = ()
    compare: str = "value"
    combine: str | None = None
    per: tuple[str, ...] = ()
    unit: str = ""
    why: str = ""
    note: str = ""

    @classmethod
    def parse(cls, data: Mapping[str, Any], path: str = "<spec>", text: str = "") -> Row:
        """A row from its TOML table, syntax-checked (InputError naming ``path``'s line).

        >>> Row.parse({"claim": "c", "source": "s", "metric": "m", "where": {"a": [1, 2]},
        ...            "at_most": 3}).where
        (('a', (1, 2)),)
        """
        checked = check_validation([dict(data)], path, text)[0]
        return cls._of(checked)

    @classmethod
    def _of(cls, d: Mapping[str, Any]) -> Row:
        kind = next(k for k in ("expect", "range", "at_least", "at_most") if k in d)
        if kind == "range":
            expectation = Expectation("range", d["range"][0], high=d["range"][1])
        else:
            tolerance = next((k for k in ("tolerance", "tolerance_abs", "tolerance_factor")
                              if k in d), "")
            expectation = Expectation(kind, d[kind], tolerance, d.get(tolerance, 0.0))
        return cls(d["claim"], d["source"], d["metric"], _selector(d["where"]), expectation,
                   _selector(d.get("baseline", {})), d["compare"], d.get("combine"),
                   tuple(d.get("per", ())), d.get("unit", ""), d.get("why", ""),
                   d.get("note", ""))

    def show(self, value: float) -> str:
        """A value of this row as the report writes it: a gain as a signed percentage.

        >>> Row("c", "s", "m", (), Expectation("at_least", 0), compare="gain").show(0.1234)
        '+12.3%'
        >>> r = Row("c", "s", "m", (), Expectation("at_least", 0))
        >>> r.show(4.876), r.show(14880952.38)
        ('4.876', '14,880,952')
        """
        if self.compare == "gain":
            return f"{value:+.1%}"
        if 1e4 <= abs(value) < 1e15:  # rates: 14,880,952 reads better than 1.488e+07
            return f"{value:,.0f}"
        return f"{value:.4g}"


def rows(spec: Mapping[str, Any], path: str = "<spec>", text: str = "") -> list[Row]:
    """The validation rows of a spec's data (a stored spec may be hand-written or older:
    checked again here).

    >>> rows({"version": 1})
    []
    """
    return [Row._of(d) for d in check_validation(spec.get("validation"), path, text)]


@dataclass(frozen=True)
class Outcome:
    """A row's result: the model's value (None when missing), the verdict, the points it
    came from in words, and why (for ``missing``, or how far a failing value is off)."""

    row: Row
    status: str
    value: float | None
    used: str
    reason: str = ""


def _lookup(point: Point, key: str, costs: Costs | None, metrics: bool = False) -> Any:
    """A point's value of a name, parameter, platform cost or (with ``metrics``) metric."""
    if key in NAMES:
        return point.get(key)
    params = point.get("params", {})
    if key in params:
        return params[key]
    if key.startswith("platform.") and costs is not None:
        found = costs.get(str(point.get("key")), {})
        if key[9:] in found:
            return found[key[9:]]
    return point.get("metrics", {}).get(key) if metrics else None


def _matches(point: Point, selector: Selector, costs: Costs | None) -> bool:
    return all(any(same(_lookup(point, key, costs), v) for v in wanted)
               for key, wanted in selector)


def _label(point: Point) -> str:
    return f"{point.get('workload')} × {point.get('mechanism')} on {point.get('platform')}"


def _differ(points: Sequence[Point]) -> list[str]:
    """Names and parameters whose values are not all the same over ``points``."""
    keys = list(NAMES) + list(dict.fromkeys(k for p in points for k in p.get("params", {})))
    out = []
    for key in keys:
        values = [_lookup(p, key, None) for p in points]
        if any(not same(values[0], v) for v in values[1:]):
            out.append(key)
    return out


def _text(selector: Selector) -> str:
    return ", ".join(f"{k}={' or '.join(_scalar(v) for v in vs)}" for k, vs in selector)


def _scalar(v: Scalar) -> str:
    return str(v).lower() if isinstance(v, bool) else f"{v:g}" if isinstance(v, float) else str(v)


def _replicas(chosen: Sequence[Point], replicates: Sequence[str]) -> str:
    """How the chosen points replicate their setups, in words ('' when they do not): the
    count of draws and each replicate key's values.

    >>> _replicas([{"params": {"s": 0}}, {"params": {"s": 1}}], ["s"])
    '; the mean over 2 replicates (s = 0, 1)'
    """
    groups = Counter(configuration(p, replicates) for p in chosen)
    if max(groups.values(), default=1) <= 1:
        return ""
    counts = sorted(set(groups.values()))
    values = []
    for k in replicates:
        seen = {p.get("params", {}).get(k) for p in chosen} - {None}
        if seen:
            try:
                order = sorted(seen)
            except TypeError:  # values of several types: any fixed order
                order = sorted(seen, key=repr)
            values.append(f"{k} = " + ", ".join(_scalar(v) for v in order))
    many = " or ".join(map(str, counts))
    each = "each " if len(groups) > 1 else ""
    return f"; {each}the mean over {many} replicates ({'; '.join(values)})"


def _described(row: Row, chosen: Sequence[Point], replicates: Sequence[str] = ()) -> str:
    """The points a value came from, for the table's "workload and parameters used"."""
    text = _described_points(row, chosen, replicates)
    return text + _replicas(chosen, replicates)


def _described_points(row: Row, chosen: Sequence[Point], replicates: Sequence[str]) -> str:
    text = _text(row.where)
    if row.baseline:
        best = "the best of " if any(len(vs) > 1 for _, vs in row.baseline) else ""
        text += f"; against {best}{_text(row.baseline)}"
    setups = list({configuration(p, replicates): p for p in chosen}.values())
    if len(setups) == 1:
        params = setups[0].get("params", {})
        shown = [f"{k}={_scalar(v)}" for k, v in params.items()
                 if k.startswith("workload.") and k not in _HIDDEN and k not in dict(row.where)
                 and v is not None]
        return text + (f" ({', '.join(shown)})" if shown else "")
    if setups:
        # Name each point by what tells the chosen apart: the workload, else the mechanism...
        shown = [k for k in NAMES if len({str(p.get(k)) for p in setups}) > 1] or ["workload"]
        counts = Counter(" × ".join(str(p.get(k)) for k in shown) for p in setups)
        names = ", ".join(n if c == 1 else f"{n} ×{c}" for n, c in counts.items())
        of = " of the per-point ratios" if row.compare != "value" else ""
        how = f"{_COMBINED[row.combine]}{of} over" if row.combine else "selects"
        text += f"; {how} {len(setups)} points ({names})"
    return text


def _measure(row: Row, point: Point, costs: Costs | None) -> float | str:
    """The row's metric at ``point``, divided by each ``per`` name; a reason if it cannot."""
    value = point.get("metrics", {}).get(row.metric)
    if not _number(value):
        return f"{_label(point)} has no metric {row.metric!r}"
    for name in row.per:
        divisor = _lookup(point, name, costs, metrics=True)
        if not _number(divisor) or divisor == 0:
            return f"{_label(point)} has no nonzero {name!r} to divide by"
        value /= divisor
    return float(value)


def _combine(how: str, values: list[float]) -> float | str:
    if how == "mean":
        return math.fsum(values) / len(values)
    if how == "min":
        return min(values)
    if how == "max":
        return max(values)
    if any(v <= 0 for v in values):
        return "a geometric mean needs positive values"
    return math.exp(math.fsum(map(math.log, values)) / len(values))


def evaluate(row: Row, points: Sequence[Point], costs: Costs | None = None,
             replicates: Sequence[str] = ()) -> Outcome:
    """The row's outcome over ``points`` (done points: ``workload``, ``mechanism``,
    ``platform``, ``params``, ``metrics`` and, for platform costs in ``costs`` by point key,
    ``key``). Points that differ only in the parameters ``replicates`` (``[report]
    replicates``: draws of one setup, such as memory layouts) are one setup, whose value is
    the mean of theirs (each a ratio to its own partner, with a baseline: a partner agrees
    on the replicate keys too).

    Each selected point gives one value: its metric (over ``per``), or with a baseline
    its ratio to its partner (the baseline selection's point that agrees with it on every
    other parameter both have; a ``where`` parameter the partner lacks, another mechanism's,
    does not apply to it); ``gain`` is the partner's over the point's, minus one, so
    that "X% better" reads positive when the metric is lower. Several values need
    ``combine``, which combines the per-point values (ratios, for ``gain``) before the
    minus one.

    >>> pts = [{"workload": w, "mechanism": m, "platform": "p", "params": {"n": 2},
    ...         "metrics": {"t": t}} for w, m, t in
    ...        [("a", "x", 10.0), ("a", "y", 12.0), ("b", "x", 10.0), ("b", "y", 15.0)]]
    >>> row = Row.parse({"claim": "y is 10-50% slower", "source": "s", "metric": "t",
    ...                  "where": {"mechanism": "x"}, "baseline": {"mechanism": "y"},
    ...                  "compare": "gain", "combine": "max", "range": [0.1, 0.5]})
    >>> o = evaluate(row, pts)
    >>> o.status, row.show(o.value), o.used
    ('pass', '+50.0%', 'mechanism=x; against mechanism=y; maximum of the per-point ratios over 2 points (a, b)')
    >>> best = Row.parse({"claim": "x beats the best of y and z", "source": "s", "metric": "t",
    ...                   "where": {"mechanism": "x", "workload": "a"},
    ...                   "baseline": {"mechanism": ["y", "z"]}, "compare": "gain",
    ...                   "at_least": 0})
    >>> o = evaluate(best, pts + [{"workload": "a", "mechanism": "z", "platform": "p",
    ...                            "params": {"n": 2}, "metrics": {"t": 9.0}}])
    >>> row.show(o.value), o.status, o.used
    ('-10.0%', 'fail', 'mechanism=x, workload=a; against the best of mechanism=y or z')
    >>> evaluate(Row.parse({"claim": "c", "source": "s", "metric": "t",
    ...                     "where": {"mechanism": "z"}, "at_least": 0}), pts).reason
    'no done point has mechanism=z'
    >>> evaluate(Row.parse({"claim": "c", "source": "s", "metric": "t",
    ...                     "where": {"mechanism": "x"}, "at_least": 0}), pts).reason
    'where selects 2 points (they differ in workload); name more parameters, or set combine'
    """  # noqa: E501
    chosen = [p for p in points if _matches(p, row.where, costs)]
    used = _described(row, chosen, replicates)

    def missing(reason: str) -> Outcome:
        return Outcome(row, "missing", None, used, reason)

    if not chosen:
        return missing(f"no done point has {_text(row.where)}")
    setups = [configuration(p, replicates) for p in chosen]
    distinct = list(dict.fromkeys(setups))
    if len(distinct) > 1 and row.combine is None:
        firsts = [chosen[setups.index(k)] for k in distinct]
        differ = ", ".join(_differ(firsts)) or "nothing shown"
        return missing(f"where selects {len(distinct)} points (they differ in {differ}); name "
                       "more parameters, or set combine")
    values: list[float] = []
    if row.baseline:
        merged = tuple({**dict(row.where), **dict(row.baseline)}.items())
        skip = set(dict(row.baseline))
        # A parameter of ``where`` that a baseline point does not have (another mechanism's,
        # such as sriov.* against native-net) does not apply to it.
        pool = [p for p in points if _matches(p, tuple(
            (k, v) for k, v in merged if k in skip or k in NAMES or k.startswith("platform.")
            or k in p.get("params", {})), costs)]
        # A baseline key given several values: the partner is the best of the points with
        # them (one per value; the lowest metric, every validated metric being a cost).
        several = {k for k, vs in row.baseline if len(vs) > 1}
        for point in chosen:
            partners = [q for q in pool if q is not point and all(
                same(_lookup(point, k, None), _lookup(q, k, None))
                for k in [*NAMES, *point.get("params", {})]
                if k not in skip and (k in NAMES or k in q.get("params", {})))]
            # one partner per value (or combination of values) of the listed keys
            by_values: dict[str, list[Point]] = {}
            for q in partners:
                by_values.setdefault(repr([_lookup(q, k, None) for k in sorted(several)]),
                                     []).append(q)
            clash = next((g for g in by_values.values() if len(g) > 1), None)
            if not partners or clash is not None:
                how = ("no baseline point" if not partners else
                       f"{len(clash or partners)} baseline points (they differ in "
                       f"{', '.join(_differ(clash or partners))})")
                return missing(f"{how} with {_text(row.baseline)} for {_label(point)}")
            mine = _measure(row, point, costs)
            measured = [_measure(row, q, costs) for q in partners]
            for got in (mine, *measured):
                if isinstance(got, str):
                    return missing(got)
            theirs = min(measured)
            assert isinstance(mine, float) and isinstance(theirs, float)
            numerator, denominator = (theirs, mine) if row.compare == "gain" else (mine, theirs)
            if denominator == 0:
                return missing(f"a zero {row.metric!r} to divide by at {_label(point)}")
            values.append(numerator / denominator)
    else:
        for point in chosen:
            got = _measure(row, point, costs)
            if isinstance(got, str):
                return missing(got)
            values.append(got)
    if len(distinct) < len(chosen):  # replicates: one value per setup, their mean
        by_setup: dict[tuple[Any, ...], list[float]] = {}
        for k, v in zip(setups, values, strict=True):
            by_setup.setdefault(k, []).append(v)
        values = [math.fsum(vs) / len(vs) for vs in by_setup.values()]
    combined = _combine(row.combine or "mean", values) if len(values) > 1 else values[0]
    if isinstance(combined, str):
        return missing(combined)
    value = combined - 1 if row.compare == "gain" else combined
    if row.expectation.holds(value):
        return Outcome(row, "pass", value, used)
    low, high = row.expectation.bounds()
    side = f"below {row.show(low)}" if value < low else f"above {row.show(high)}"
    return Outcome(row, "fail", value, used, f"{row.show(value)} is {side}")


def point_costs(platforms: Mapping[str, Mapping[str, Any]],
                point_platform: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """Each point's platform costs (name -> value) by point key, from a store's profiles.

    >>> point_costs({"pk": {"costs": {"cpu.clock_mhz": {"value": 2900}}}}, {"k1": "pk"})
    {'k1': {'cpu.clock_mhz': 2900}}
    """
    by_platform = {key: {name: cost["value"] for name, cost in profile.get("costs", {}).items()}
                   for key, profile in platforms.items()}
    return {point: by_platform[p] for point, p in point_platform.items() if p in by_platform}


def evaluate_all(rows_: Sequence[Row], points: Sequence[Point],
                 costs: Costs | None = None, replicates: Sequence[str] = ()) -> list[Outcome]:
    """Every row's outcome, in the rows' order (``replicates``: as :func:`evaluate`).

    >>> r = Row("c", "s", "t", (("mechanism", ("x",)),), Expectation("at_most", 1.0))
    >>> [o.status for o in evaluate_all([r], [{"mechanism": "x", "metrics": {"t": 2}}])]
    ['fail']
    """
    return [evaluate(row, points, costs, replicates) for row in rows_]


def summary(outcomes: Sequence[Outcome]) -> str:
    """The one-line count of a validation table.

    >>> row = Row("c", "s", "m", (), Expectation("at_least", 0))
    >>> summary([Outcome(row, "pass", 1.0, ""), Outcome(row, "fail", -1.0, ""),
    ...          Outcome(row, "missing", None, "")])
    '1 of 3 rows pass; 1 fails; 1 is missing (no value).'
    """
    count = Counter(o.status for o in outcomes)
    text = f"{count['pass']} of {len(outcomes)} rows pass"
    if count["fail"]:
        text += f"; {count['fail']} {'fails' if count['fail'] == 1 else 'fail'}"
    if count["missing"]:
        text += (f"; {count['missing']} {'is' if count['missing'] == 1 else 'are'} missing "
                 "(no value)")
    return text + "."


def table_rows(outcomes: Sequence[Outcome]) -> list[list[str]]:
    """The report's table, one row per outcome, in the columns of :data:`HEADER` (plain
    text: the renderers escape it).

    >>> r = Row("24 refs", "Gandhi et al.", "t", (), Expectation("expect", 24, "tolerance", 0),
    ...         unit="refs", why="arithmetic")
    >>> table_rows([Outcome(r, "fail", 23.0, "all points", "23 is below 24")])
    [['24 refs', 'Gandhi et al.', 'all points', '23 refs', '24 exactly, in refs', 'fail', 'arithmetic', '23 is below 24.']]
    """  # noqa: E501
    out = []
    for o in outcomes:
        row = o.row
        unit = f" {row.unit}" if row.unit else ""
        value = "" if o.value is None else row.show(o.value) + unit
        expected = row.expectation.describe(row.show) + (f", in {row.unit}" if row.unit else "")
        note = " ".join(t for t in (o.reason + "." if o.reason else "", row.note) if t)
        out.append([row.claim, row.source, o.used, value, expected, o.status, row.why, note])
    return out


def from_report(data: Any) -> list[Outcome]:
    """The outcomes of a report's validation rows (:class:`codesign.report.data.ReportData`):
    its stored spec's rows over its done points, ``per`` and ``where`` reading each point's
    platform costs from the store's profiles, points that differ only in the report's
    replicate keys (:meth:`~codesign.report.data.ReportData.replicates`) averaged. A
    malformed stored row is an InputError naming the store.
    (``tests/report/test_validation.py`` runs it on stores.)"""
    try:
        found = rows(data.spec, str(data.sweep.get("spec_path") or "<spec>"),
                     str(data.sweep.get("spec_text") or ""))
    except InputError as exc:
        raise InputError(f"{data.store}: {exc}") from None
    if not found:
        return []
    return evaluate_all(found, data.done, point_costs(data.platforms, data.point_platform),
                        tuple(data.replicates()))
