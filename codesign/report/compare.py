"""A comparison of two result stores: the same sweep run twice (another platform profile,
another model version), side by side with the change from A to B.

Points are matched on workload, mechanism and parameters, not on their stored key: the key
hashes the platform costs and the model versions, which are what a comparison changes. A
``platform.*`` override fixed over a whole store is part of what is compared (its cost goes
to the lead), one that varies within a store is an axis and matched like any parameter.

>>> import tempfile, os, io
>>> from codesign.sweep.spec import parse_spec
>>> from codesign.sweep.runner import run_sweep
>>> tmp = tempfile.mkdtemp()
>>> for latency in (200, 300):
...     spec = parse_spec({"version": 1, "name": "t", "workload": {"name": "walks"},
...                        "mechanism": {"name": "analytic-walk", "virtualized": [False, True]},
...                        "platform": {"memory.latency": latency}})
...     _ = run_sweep(spec, os.path.join(tmp, f"lat{latency}.sqlite"), executor="serial",
...                   stream=io.StringIO())
>>> a, b = load(os.path.join(tmp, "lat200.sqlite")), load(os.path.join(tmp, "lat300.sqlite"))
>>> matched = match(a, b)
>>> len(matched.pairs), matched.only_a, matched.only_b
(2, (), ())
>>> [(c.a, c.b, f"{c.relative:+.0%}") for c in changes(matched.pairs, "cycles.per_walk")]
[(800.0, 1200.0, '+50%'), (4800.0, 7200.0, '+50%')]
>>> [p.name for p in write_comparison(a.store, b.store, os.path.join(tmp, "cmp"))]
['report.md', 'report.html']
"""

from __future__ import annotations

import difflib
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codesign.errors import InputError
from codesign.metrics import info, with_unit
from codesign.provenance import environment
from codesign.registry import default_registry
from codesign.report import FORMATS, analysis, check_formats, plots, write_document
from codesign.report.axes import comparison_axes
from codesign.report.data import Objective, ReportData, column, load, value, varies
from codesign.report.document import (
    Code,
    Document,
    Mono,
    Plot,
    Section,
    Table,
    Text,
    fmt,
    listing,
)

__all__ = ["Change", "Matching", "build", "changes", "labels_for", "load", "match",
           "relative", "write_comparison"]

THRESHOLD = 0.001
"""A relative change at or below this (0.1%) is rounding, not a change."""
MAX_ROWS = 20
"""The largest changes a metric's table shows."""
MAX_LISTED = 10
"""Unmatched points listed by name before "and K more"."""
MAX_LEAD_COSTS = 4
"""Differing costs the lead gives with values and sources; Platform costs has them all."""

Row = dict[str, Any]


@dataclass(frozen=True)
class Matching:
    """How the points of two stores pair up.

    ``pairs`` are the points done in both (A's row, B's row); ``failed`` the matched points
    failed in either; ``only_a`` and ``only_b`` describe the points of one store alone;
    ``axes`` the ``platform.*`` overrides matched as parameters (they vary in a store) and
    ``compared`` those left out of the match (each store holds one value of them);
    ``duplicates`` counts points that another of their store already stands for.
    """

    pairs: tuple[tuple[Row, Row], ...]
    failed: tuple[tuple[Row, Row], ...]
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]
    axes: tuple[str, ...]
    compared: tuple[str, ...]
    by_platform: bool
    duplicates: int = 0


@dataclass(frozen=True)
class Change:
    """One metric of one matched point, in A and in B."""

    a_row: Row
    b_row: Row
    metric: str
    a: float
    b: float

    @property
    def delta(self) -> float:
        """B − A."""
        return self.b - self.a

    @property
    def relative(self) -> float:
        """(B − A) / |A|; see :func:`relative`."""
        return relative(self.a, self.b)

    @property
    def identical(self) -> bool:
        """Exactly the same number (a NaN is its own equal here)."""
        return self.a == self.b or (self.a != self.a and self.b != self.b)

    @property
    def changed(self) -> bool:
        """Changed by more than :data:`THRESHOLD` (a NaN on one side only is a change)."""
        r = self.relative
        return not self.identical and (r != r or abs(r) > THRESHOLD)


def relative(a: float, b: float) -> float:
    """(b − a) / |a|: 0 when equal, ±inf when ``a`` is 0 and ``b`` is not, NaN when either is
    NaN (and not both).

    >>> relative(200.0, 300.0), relative(0.0, 0.0), relative(0.0, -2.0)
    (0.5, 0.0, -inf)
    """
    if a == b or (a != a and b != b):
        return 0.0
    if a != a or b != b:
        return math.nan
    if a == 0:
        return math.copysign(math.inf, b)
    return (b - a) / abs(a)


def _all(n: int, noun: str) -> str:
    """``all 5 points``, ``both points``, ``the one point``."""
    return (f"the one {noun}" if n == 1 else f"both {noun}s" if n == 2
            else f"all {n} {noun}s")


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def labels_for(store_a: str | Path, store_b: str | Path,
               given: str | None = None) -> tuple[str, str]:
    """The names A and B go by in the report: ``given`` ("old,new"), else the stores' file
    names without their suffix (``A`` and ``B`` when those are the same).

    >>> labels_for("x/base.sqlite", "y/fast.sqlite"), labels_for("x/r.sqlite", "y/r.sqlite")
    (('base', 'fast'), ('A', 'B'))
    >>> labels_for("a", "b", "old, new")
    ('old', 'new')
    """
    if given is None:
        a, b = Path(store_a).stem, Path(store_b).stem
        return (a, b) if a != b else ("A", "B")
    parts = [p.strip() for p in given.split(",")]
    if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
        raise InputError(f"--labels: expected two different names separated by a comma "
                         f"(old,new), got {given!r}")
    return parts[0], parts[1]


# -- matching ---------------------------------------------------------------------------


def _platform_axes(a: ReportData, b: ReportData) -> tuple[list[str], list[str]]:
    """(``platform.*`` overrides that vary within a store, those fixed in each)."""
    rows = [a.done + a.failed, b.done + b.failed]
    keys = dict.fromkeys(k for data in (a, b) for k in data.params() if k.startswith("platform."))
    axes = [k for k in keys if any(varies(column(r, k)) for r in rows)]
    return axes, [k for k in keys if k not in axes]


def _match_key(row: Row, leave_out: set[str], by_platform: bool) -> tuple[str, ...]:
    params = {k: v for k, v in row["params"].items() if k not in leave_out}
    # JSON tells 1, 1.0 and true apart, as the spec does.
    return (row["workload"], row["mechanism"], *([row["platform"]] if by_platform else []),
            json.dumps(params, sort_keys=True))


def _describe(row: Row, keys: Sequence[str], platform: bool = False) -> str:
    params = " ".join(f"{k}={fmt(row['params'][k])}" for k in keys if k in row["params"])
    return (f"{row['workload']} × {row['mechanism']}"
            + (f" @ {row['platform']}" if platform else "") + (f"  {params}" if params else ""))


def match(a: ReportData, b: ReportData) -> Matching:
    """Pair the points of two stores on workload, mechanism and parameters (and platform
    name, when a store sweeps several platforms)."""
    axes, compared = _platform_axes(a, b)
    leave_out = set(compared)
    by_platform = any(len({r["platform"] for r in d.done + d.failed}) > 1 for d in (a, b))
    indexes: list[dict[tuple[str, ...], Row]] = []
    duplicates = 0
    for data in (a, b):
        index: dict[tuple[str, ...], Row] = {}
        # Done rows first: where two rows of a store share workload, mechanism and
        # parameters (a hand-made store), the one with numbers is the one compared.
        for row in data.done + data.failed:
            key = _match_key(row, leave_out, by_platform)
            if key in index:
                duplicates += 1
                continue
            index[key] = row
        indexes.append(index)
    ia, ib = indexes
    pairs, failed = [], []
    for key, ra in ia.items():
        rb = ib.get(key)
        if rb is None:
            continue
        both_done = ra["status"] == "done" and rb["status"] == "done"
        (pairs if both_done else failed).append((ra, rb))
    shown = [k for k in dict.fromkeys(a.varying() + b.varying()) if k not in leave_out]
    only_a = tuple(_describe(r, shown, by_platform) for k, r in ia.items() if k not in ib)
    only_b = tuple(_describe(r, shown, by_platform) for k, r in ib.items() if k not in ia)
    return Matching(tuple(pairs), tuple(failed), only_a, only_b, tuple(axes),
                    tuple(compared), by_platform, duplicates)


def _fixed_differences(a: ReportData, b: ReportData) -> list[tuple[str, Any, Any]]:
    """Parameters (not platform costs) each store holds at one value, the two values
    differing: why points fail to match."""
    fa, fb = a.fixed(), b.fixed()
    out = []
    for k in dict.fromkeys([*fa, *fb]):
        if k.startswith("platform."):
            continue
        va, vb = fa.get(k), fb.get(k)
        if json.dumps(va) != json.dumps(vb):
            out.append((k, va, vb))
    return out


def _no_common_point(a: ReportData, b: ReportData, m: Matching) -> InputError:
    why = ""
    differ = _fixed_differences(a, b)
    if differ:
        k, va, vb = differ[0]
        why = (f"; every point of A has {k} = {fmt(va) if va is not None else 'unset'}, "
               f"of B {fmt(vb) if vb is not None else 'unset'}")
    elif not (a.done and b.done):
        empty = a.store if not a.done else b.store
        why = f"; {empty} has no done point"
    counts = f"{len(a.done) + len(a.failed)} and {len(b.done) + len(b.failed)} points"
    what = "done design point" if m.failed else "design point"
    return InputError(f"{a.store} and {b.store}: no {what} in common ({counts}, matched on "
                      f"workload, mechanism and parameters){why}")


# -- metrics ----------------------------------------------------------------------------


def changes(pairs: Sequence[tuple[Row, Row]], metric: str) -> list[Change]:
    """The metric at each matched point having it in both stores, largest relative change
    first (a change from 0 or to NaN counts as the largest)."""
    out = [Change(ra, rb, metric, ra["metrics"][metric], rb["metrics"][metric])
           for ra, rb in pairs
           if _number(ra["metrics"].get(metric)) and _number(rb["metrics"].get(metric))]

    def size(c: Change) -> float:
        r = c.relative
        return math.inf if r != r else abs(r)
    # Stable: equal changes keep the stores' order.
    return sorted(out, key=size, reverse=True)


def _metrics(a: ReportData, b: ReportData) -> list[str]:
    """What the two stores' reports show (tables' metrics and objectives), A's first."""
    return list(dict.fromkeys([*a.metrics(), *(o.metric for o in a.objectives()),
                               *b.metrics(), *(o.metric for o in b.objectives())]))


def _objectives(a: ReportData, b: ReportData) -> list[Objective]:
    seen: dict[str, Objective] = {}
    for o in [*a.objectives(), *b.objectives()]:
        seen.setdefault(o.metric, o)  # A's direction where the two disagree
    return list(seen.values())


def _better(metric: str, objectives: Sequence[Objective]) -> str:
    """``lower``, ``higher`` or "" (neither, or unknown) for a metric."""
    for o in objectives:
        if o.metric == metric:
            return "higher" if o.maximize else "lower"
    meta = info(metric)
    return meta.better if meta else ""


def _percent(r: float) -> str:
    if r != r:
        return "n/a"
    if math.isinf(r):
        return "from 0"
    if r == 0:
        return "0%"
    return f"{r:+.2%}"


def _verdict(c: Change, better: str) -> str:
    if not better or c.identical or c.delta != c.delta:
        return ""
    return "better" if (c.delta < 0) == (better == "lower") else "worse"


# -- document ---------------------------------------------------------------------------


def _matched(data: ReportData, rows: list[Row]) -> ReportData:
    """``data`` reduced to ``rows``: its parameters' variation and report options over the
    points both stores hold."""
    return ReportData(data.store, data.sweep, data.spec, rows, [], data.platforms,
                      data.point_platform, dict(data.options))


def _versions(data: ReportData) -> str:
    found = sorted({str(r.get("toolkit_version")) for r in data.done + data.failed
                    if r.get("toolkit_version")})
    return ", ".join(found) or str(data.sweep.get("toolkit_version") or "unknown")


def _profiles(data: ReportData, rows: list[Row]) -> list[dict[str, Any]]:
    keys = dict.fromkeys(data.point_platform[r["key"]] for r in rows
                         if r["key"] in data.point_platform)
    return [data.platforms[k] for k in keys if k in data.platforms]


@dataclass(frozen=True)
class CostDiff:
    """A platform cost whose value (or unit) differs between the two stores' profiles;
    ``None`` on a side whose profile lacks it."""

    cost: str
    a: dict[str, Any] | None
    b: dict[str, Any] | None
    readers: tuple[str, ...]


def _cost_diffs(pa: list[dict[str, Any]], pb: list[dict[str, Any]], mechanisms: Sequence[str],
                ) -> tuple[list[CostDiff], list[str]]:
    """(costs with one value in each store that differ, costs taking several values within
    a store: swept, compared point by point)."""
    registry = default_registry()
    costs = dict.fromkeys(k for p in [*pa, *pb] for k in p.get("costs", {}))
    diffs, swept = [], []
    for k in costs:
        # Each side's distinct entries of this cost (value, unit, source), as JSON.
        sides = [list(dict.fromkeys(json.dumps(p.get("costs", {}).get(k), sort_keys=True)
                                    for p in profiles)) for profiles in (pa, pb)]
        entries = [[json.loads(e) for e in side] for side in sides]
        if any(len({json.dumps((e or {}).get("value")) for e in side}) > 1
               for side in entries):
            swept.append(k)
            continue
        ca, cb = (side[0] if side else None for side in entries)
        if _cost_key(ca) != _cost_key(cb):
            readers = tuple(m for m in mechanisms if m in registry.mechanisms
                            and k in registry.mechanisms[m].costs)
            diffs.append(CostDiff(k, ca, cb, readers))
    diffs.sort(key=lambda d: not d.readers)  # what moves the compared numbers first
    return diffs, swept


def _cost_key(c: dict[str, Any] | None) -> tuple[Any, ...]:
    """What makes two entries of a cost the same number: value (200 is 200.0) and unit."""
    if c is None:
        return ()
    v = c.get("value")
    return (float(v) if _number(v) else json.dumps(v), c.get("unit"))


def _cost_text(c: dict[str, Any] | None) -> str:
    if c is None:
        return "absent"
    return f"{fmt(c.get('value'))} {c.get('unit') or ''}".strip()


def _lead(a: ReportData, b: ReportData, labels: tuple[str, str], m: Matching,
          diffs: list[CostDiff], pa: list[dict[str, Any]], pb: list[dict[str, Any]],
          ) -> list[str | Text]:
    la, lb = labels
    lead: list[str | Text] = [Text([
        f"What changes from {la} (A) to {lb} (B): every delta below is B − A, and a relative "
        f"change is (B − A) / |A|. Points are matched on workload, mechanism and parameters; "
        f"a change of at most {THRESHOLD:.1%} is treated as none."])]
    for label, data in ((la, a), (lb, b)):
        sweep = data.sweep
        lead.append(Text([
            f"{label}: store ", Mono(data.store), ", sweep ", Mono(str(sweep.get("name"))),
            " from ", Mono(str(sweep.get("spec_path"))), f", run {sweep.get('started_at')}; "
            f"{len(data.done)} point{'s' if len(data.done) != 1 else ''} done, "
            f"{len(data.failed)} failed; computed by codesign "
            f"{_versions(data)} (the store records versions, not commits)."]))
    names_a = list(dict.fromkeys(str(p.get("name")) for p in pa))
    names_b = list(dict.fromkeys(str(p.get("name")) for p in pb))
    platform: list[str | Mono] = ["Platform profiles: ", *listing(names_a), f" in {la}, ",
                                  *listing(names_b), f" in {lb}"]
    if set(names_a) != set(names_b):
        platform += [" (the names differ; points are matched "
                     + ("per platform name)" if m.by_platform else "regardless of them)")]
    if not diffs:
        platform += ["; no cost constant differs between them."]
    else:
        # The costs a compared mechanism reads are what can move its numbers: those first,
        # with values and sources; the others by name only (Platform costs has them all).
        read = [d for d in diffs if d.readers]
        unread = [d for d in diffs if not d.readers]
        platform += [f"; {len(diffs)} cost constant"
                     + ("s differ" if len(diffs) > 1 else " differs")]
        if read:
            platform += [f", {len(read)} read by a compared mechanism: "]
        for i, d in enumerate(read[:MAX_LEAD_COSTS]):
            platform += ["; " if i else "", Mono(d.cost),
                         f" {_cost_text(d.a)} in {la} (source: "
                         f"{(d.a or {}).get('source', 'none')}) and {_cost_text(d.b)} in {lb} "
                         f"(source: {(d.b or {}).get('source', 'none')})"]
        if len(read) > MAX_LEAD_COSTS:
            platform += [f"; and {len(read) - MAX_LEAD_COSTS} more"]
        if unread:
            platform += [f"{'; ' if read else ': '}{len(unread)} read by no compared "
                         "mechanism: ", *listing([d.cost for d in unread][:MAX_LISTED])]
            if len(unread) > MAX_LISTED:
                platform += [f" and {len(unread) - MAX_LISTED} more"]
        platform += [" (all in Platform costs below)."]
    lead.append(Text(platform))
    return lead


def _winner_text(w: analysis.Winner | None) -> str:
    if w is None:
        return "(no point)"
    tied = w.tied
    return ("tie: " + ", ".join(tied)) if len(tied) > 1 else tied[0]


def _verdicts(a: ReportData, b: ReportData, labels: tuple[str, str], m: Matching,
              objectives: list[Objective]) -> Section:
    la, lb = labels
    section = Section("Verdicts")
    if not objectives:
        section.blocks.append("No objective to rank the points on.")
        return section
    ma = _matched(a, [ra for ra, _ in m.pairs])
    mb = _matched(b, [rb for _, rb in m.pairs])
    group = ma.group()
    # One set of settings for both stores, A's: the matched points share their parameters.
    by, _, _ = comparison_axes(ma)
    if b.group() != group:
        section.blocks.append(Text([f"{lb}'s spec groups by ", Mono(b.group()),
                                    f"; both are ranked by {la}'s ", Mono(group), "."]))
    for n, objective in enumerate(objectives):
        wa = analysis.winners(ma.cells(), objective, group, by)
        wb = analysis.winners(mb.cells(), objective, group, by)
        ka = {(w.workload, w.setting): w for w in wa}
        kb = {(w.workload, w.setting): w for w in wb}
        settings = list(dict.fromkeys([*ka, *kb]))
        flipped = [s for s in settings
                   if s not in ka or s not in kb or set(ka[s].tied) != set(kb[s].tied)]
        sub = section if n == 0 else Section(objective.metric, level=3)
        if n:
            section.blocks.append(sub)  # type: ignore[arg-type]
        if not wa or not wb:
            having = [label for label, w in ((la, wa), (lb, wb)) if w]
            sub.blocks.append(Text(
                ["No verdict to compare on ", Mono(objective.metric), ": "
                 + (f"only {having[0]}'s compared points have it." if having
                    else "no compared point has it.")]))
            continue
        tie = (wa or wb)[0].tie
        plural = "s" if len(settings) > 1 else ""
        lead: list[str | Mono] = (
            [f"The winner changed in {len(flipped)} of {len(settings)} setting{plural}: "]
            if flipped else ["No verdict changed: the winner is the same in "
                             f"{_all(len(settings), 'setting')}: "])
        lead += ["the best ", Mono(group), " on ", Mono(objective.label()), " per workload"]
        if by:
            lead += [" and setting of ", *listing(by)]
        lead += [f", over the {len(m.pairs)} points both stores hold (a {group} within "
                 f"{tie:.0%} of the best ties with it)."]
        sub.blocks.append(Text(lead))
        if flipped:
            unit = with_unit(objective.metric)
            rows = []
            for s in flipped:
                w1, w2 = ka.get(s), kb.get(s)
                rows.append([s[0], *(v for _, v in s[1]), _winner_text(w1),
                             w1.ranking[0][1] if w1 else None, _winner_text(w2),
                             w2.ranking[0][1] if w2 else None])
            sub.blocks.append(Table(["workload", *by, f"winner {la}", f"{unit} {la}",
                                     f"winner {lb}", f"{unit} {lb}"], rows))
    return section


def _matching(a: ReportData, b: ReportData, labels: tuple[str, str], m: Matching) -> Section:
    la, lb = labels
    section = Section("Matching")
    parts: list[str | Mono] = [
        f"{len(m.pairs)} points are done in both stores and compared; "
        f"{len(m.only_a)} only in {la}, {len(m.only_b)} only in {lb}"]
    if m.failed:
        parts += [f"; {len(m.failed)} more {'is' if len(m.failed) == 1 else 'are'} in both "
                  "but failed in one or both (not compared)"]
    parts += ["."]
    if m.compared:
        parts += [" Platform overrides fixed over each store are compared as costs, not "
                  "matched: ", *listing(list(m.compared)), "."]
    if m.axes:
        parts += [" Platform overrides swept within a store are matched as parameters: ",
                  *listing(list(m.axes)), "."]
    section.blocks.append(Text(parts))
    same = sum(ra["key"] == rb["key"] for ra, rb in m.pairs)
    key = ("(same key: same parameters, the same values of the costs its mechanism reads, "
           "the same model and workload versions)")
    if same == len(m.pairs):
        differ = any(ra["metrics"] != rb["metrics"] for ra, rb in m.pairs)
        section.blocks.append(
            f"Each compared point is the very same design point in both stores {key}"
            + (": a difference in its results comes from a toolkit change that did not bump "
               "a model version, or from a model that is not deterministic." if differ
               else "."))
    elif same == 0:
        section.blocks.append(
            "No compared point is the same design point in both stores: each differs in a "
            "cost its mechanism reads or in a model or workload version.")
    else:
        section.blocks.append(
            f"{same} of {len(m.pairs)} compared points are the very same design point in "
            f"both stores {key}; the other {len(m.pairs) - same} differ in a cost their "
            "mechanism reads or in a model or workload version.")
    if m.duplicates:
        section.blocks.append(f"{m.duplicates} points could not be told apart from another "
                              "point of their store by workload, mechanism and parameters: "
                              "the first of each is compared.")
    for label, only in ((la, m.only_a), (lb, m.only_b)):
        if only:
            listed = "; ".join(only[:MAX_LISTED])
            more = f"; and {len(only) - MAX_LISTED} more" if len(only) > MAX_LISTED else ""
            section.blocks.append(Text([f"Only in {label}: ", Mono(listed), more, "."]))
    differ = _fixed_differences(a, b)
    if differ:
        parts = ["Parameters each store holds at one value, differently: "]
        for i, (k, va, vb) in enumerate(differ[:MAX_LISTED]):
            parts += ["; " if i else "", Mono(k), f" {fmt(va) if va is not None else 'unset'}"
                      f" in {la}, {fmt(vb) if vb is not None else 'unset'} in {lb}"]
        section.blocks.append(Text([*parts, "."]))
    return section


def _by_metric(a: ReportData, labels: tuple[str, str], m: Matching, metrics: list[str],
               objectives: list[Objective]) -> Section:
    la, lb = labels
    ma = _matched(a, [ra for ra, _ in m.pairs])
    defining = set(ma.defining())
    varying = [k for k in ma.varying() if k not in defining]
    section = Section("Changes by metric")
    overview = []
    subs = []
    for metric in metrics:
        found = changes(m.pairs, metric)
        sub = Section(with_unit(metric), level=3)
        subs.append(sub)
        if not found:
            where = [s for s, side in ((la, 0), (lb, 1))
                     if any(metric in pair[side]["metrics"] for pair in m.pairs)]
            sub.blocks.append(Text(["No compared point has ", Mono(metric), " in both stores"
                                    + (f" (only {where[0]}'s do)." if len(where) == 1
                                       else ".")]))
            overview.append([metric, 0, "", "", ""])
            continue
        moved = [c for c in found if c.changed]
        differ = sum(not c.identical for c in found)
        finite = [c.relative for c in found if math.isfinite(c.relative)]
        overview.append([metric, len(found), len(moved),
                         _percent(found[0].relative) if differ else "identical",
                         _percent(statistics.median(finite)) if finite else ""])
        if not differ:
            sub.blocks.append(f"Identical on {_all(len(found), 'compared point')}.")
            continue
        if not moved:
            sub.blocks.append(f"Unchanged: no point changed by more than {THRESHOLD:.1%} "
                              f"({differ} of {len(found)} differ by less, at most "
                              f"{_percent(found[0].relative)}).")
            continue
        better = _better(metric, objectives)
        shown = moved[:MAX_ROWS]
        sub.blocks.append(
            f"{len(moved)} of {len(found)} points changed by more than {THRESHOLD:.1%}"
            + (f" (the {len(shown)} largest shown)" if len(moved) > len(shown) else "")
            + (f"; {better} is better." if better else "."))
        sub.blocks.append(Table(
            ["workload", "mechanism", *(["platform"] if m.by_platform else []), *varying, la,
             lb, f"{lb} − {la}", "change", *([f"{lb} is"] if better else [])],
            [[c.a_row["workload"], c.a_row["mechanism"],
              *([c.a_row["platform"]] if m.by_platform else []),
              *(value(c.a_row, k) if k in c.a_row["params"] else None for k in varying),
              c.a, c.b, c.delta, _percent(c.relative), *([_verdict(c, better)] if better else [])]
             for c in shown], sortable=True))
    section.blocks.append(Text([
        "For each metric: the points compared, how many changed by more than "
        f"{THRESHOLD:.1%}, the largest relative change and the median one."]))
    section.blocks.append(Table(["metric", "compared", "changed", "largest change",
                                 "median change"], overview))
    section.blocks.extend(subs)  # type: ignore[arg-type]
    return section


@plots._plotting
def delta_plot(points: Sequence[tuple[str, float]], metric: str, labels: tuple[str, str]) -> str:
    """Relative change (%) of ``metric`` at each point, one column of dots per mechanism.

    >>> svg = delta_plot([("a", 0.5), ("a", 0.25), ("b", -0.1)], "cycles", ("old", "new"))
    >>> svg.startswith("<svg") and "</svg>" in svg
    True
    """
    fig, ax = plots._figure()
    groups = list(dict.fromkeys(g for g, _ in points))
    for i, g in enumerate(groups):
        ys = [100.0 * r for name, r in points if name == g]
        # Spread evenly across the column rather than at random: the same store gives the
        # same figure, and dots of equal value stay apart.
        xs = [i + (0.0 if len(ys) == 1 else -0.3 + 0.6 * j / (len(ys) - 1))
              for j in range(len(ys))]
        ax.scatter(xs, ys, s=14, color=plots.PALETTE[i % len(plots.PALETTE)])
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_ylabel(f"{metric}: {labels[1]} vs {labels[0]} (%)")
    return plots.to_svg(fig)


def _plot(labels: tuple[str, str], m: Matching, objectives: list[Objective],
          metrics: list[str]) -> Section | None:
    """The first objective's changes, or the first metric's that changed when it did not:
    a plot of nothing but zeros says less than the sentence that it is identical."""
    for metric in dict.fromkeys([*(o.metric for o in objectives[:1]), *metrics]):
        found = [c for c in changes(m.pairs, metric) if math.isfinite(c.relative)]
        if any(c.changed for c in found):
            break
    else:
        return None
    points = [(str(c.a_row["mechanism"]), c.relative) for c in found]
    section = Section("Change per mechanism")
    section.blocks.append(Text(["Relative change of ", Mono(metric), f" from {labels[0]} to "
                                f"{labels[1]} at each compared point (a change from 0 is left "
                                "out)."]))
    section.blocks.append(Plot(plots.slug(f"change {metric}"),
                               f"relative change of {metric}", delta_plot(points, metric,
                                                                          labels)))
    return section


def _platform_costs(labels: tuple[str, str], diffs: list[CostDiff],
                    swept: list[str]) -> Section | None:
    if not diffs and not swept:
        return None
    la, lb = labels
    section = Section("Platform costs")
    if diffs:
        section.blocks.append("The cost constants whose value differs between the two "
                              "stores' profiles, with their sources and the compared "
                              "mechanisms that read them.")
        section.blocks.append(Table(
            ["cost", la, lb, f"source in {la}", f"source in {lb}", "read by"],
            [[d.cost, _cost_text(d.a), _cost_text(d.b), (d.a or {}).get("source", ""),
              (d.b or {}).get("source", ""), ", ".join(d.readers) or "none"] for d in diffs],
            prose=True))
    if swept:
        section.blocks.append(Text(["Costs swept within a store (compared point by point): ",
                                    *listing(swept), "."]))
    return section


def _provenance(a: ReportData, b: ReportData, labels: tuple[str, str]) -> Section:
    env = environment()
    section = Section("Provenance", [
        f"Compared by codesign {env['codesign']}, commit {env['git_commit']}; python "
        f"{env['python']}, numpy {env['numpy']}."])
    ta, tb = (str(d.sweep.get("spec_text") or "").rstrip() for d in (a, b))
    if ta == tb:
        section.blocks.append("The two sweeps were run from the same spec text.")
        sub = Section("Sweep spec", [Code(ta, "json" if ta.lstrip().startswith("{")
                                          else "toml")], level=3)
    else:
        diff = "\n".join(difflib.unified_diff(ta.splitlines(), tb.splitlines(),
                                              f"{labels[0]} spec", f"{labels[1]} spec",
                                              lineterm=""))
        sub = Section("Sweep specs", ["How the two sweeps' spec texts differ:",
                                      Code(diff, "diff")], level=3)
    section.blocks.append(sub)  # type: ignore[arg-type]
    return section


def build(a: ReportData, b: ReportData, labels: tuple[str, str] = ("A", "B")) -> Document:
    """The comparison of two stores' last sweeps; InputError when they share no point."""
    m = match(a, b)
    if not m.pairs:
        raise _no_common_point(a, b, m)
    rows_a = [ra for ra, _ in m.pairs]
    rows_b = [rb for _, rb in m.pairs]
    pa, pb = _profiles(a, rows_a), _profiles(b, rows_b)
    mechanisms = list(dict.fromkeys(r["mechanism"] for r in rows_a))
    diffs, swept = _cost_diffs(pa, pb, mechanisms)
    objectives = _objectives(a, b)
    present = {k for r in rows_a + rows_b for k in r["metrics"]}
    metrics = [k for k in _metrics(a, b) if k in present]
    title = f"Comparison: {labels[0]} vs {labels[1]}"
    parts = [_verdicts(a, b, labels, m, objectives), _matching(a, b, labels, m),
             _by_metric(a, labels, m, metrics, objectives), _plot(labels, m, objectives, metrics),
             _platform_costs(labels, diffs, swept), _provenance(a, b, labels)]
    return Document(title, _lead(a, b, labels, m, diffs, pa, pb),
                    [p for p in parts if p is not None])


def write_comparison(store_a: str | Path, store_b: str | Path, out_dir: str | Path,
                     formats: Sequence[str] = FORMATS,
                     labels: tuple[str, str] | None = None) -> list[Path]:
    """Write the comparison of two stores into ``out_dir`` (report.md with report-files/,
    report.html, as a store's report); returns the files' paths."""
    check_formats(formats)
    document = build(load(store_a), load(store_b), labels or labels_for(store_a, store_b))
    return write_document(document, out_dir, formats)
