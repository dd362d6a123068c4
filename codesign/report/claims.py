"""Claims: the orderings a spec's comments and description state, checked against its results.

A sweep spec's ``[[claim]]`` rows (syntax in :mod:`codesign.sweep.spec`) each hold a sentence
of the spec's comments or of its ``description`` (the report's opening) as ``says``, and the
ordering it states: ``order`` (groups best first), ``wins`` (one group beats every other) or
``ties`` (groups level with each other), optionally on a ``metric`` and over the points a
``where`` selects. A *group* is a value of the report's ``[report] group`` (the mechanism).

"At every setting" and "a group's best value" mean exactly what the report's Summary means,
so that a claim and the who-wins-where matrix cannot disagree: the points are the report's
cells (replicates averaged), a setting is a workload and a value of each parameter the
Summary compares every group at (:func:`summary_axes`), a group's value there is its best
over the rest (:func:`codesign.report.analysis.winners`), and "beats" means better by at
least the Summary's tie tolerance (:data:`codesign.report.analysis.WIN_TIE`, 2%): within it,
the Summary calls two groups a tie, and so does a claim.

Each claim gets a :class:`ClaimOutcome`: ``holds``, ``fails`` (where the ordering broke, with
both values), ``missing`` (nothing selected, or a group the claim names has no value at a
setting) or ``skipped`` (a run with ``--set`` overrides, a study's quick mode, skips a claim
marked ``quick = false`` and one naming a group the run leaves out), always with the reason.
Nothing here is tuned to a claim: a claim that fails is a sentence to rewrite.

>>> rows = [{"workload": "w", "mechanism": m, "platform": "p", "params": {"pwc": e},
...          "metrics": {"c": c}} for m, e, c in
...         [("nested", 0, 12.0), ("shadow", 0, 10.0), ("nested", 32, 8.0), ("shadow", 32, 10.0)]]
>>> claim = Claim.parse({"says": "Nested paging beats shadow paging with walk caches",
...                      "where": {"pwc": 32}, "order": ["nested", "shadow"]})
>>> outcome = evaluate(claim, rows, Objective("c"), "mechanism", by=["pwc"])
>>> outcome.status, outcome.settings
('holds', 1)
>>> evaluate(Claim.parse({"says": "always", "order": ["nested", "shadow"]}), rows,
...          Objective("c"), "mechanism", by=["pwc"]).reason
'at w, pwc=0: nested 12 is worse than shadow 10'
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from codesign.errors import InputError
from codesign.metrics import info
from codesign.report.analysis import WIN_TIE, Winner, winners
from codesign.report.axes import comparison_axes
from codesign.report.data import NAMES, Objective, value
from codesign.report.validation import same
from codesign.sweep.spec import check_claims

STATUSES = ("holds", "fails", "missing", "skipped")
HEADER = ["claim", "checked", "points", "settings", "result", "reason"]
"""The columns of the report's claims table (:func:`table_rows`)."""

Scalar = str | int | float | bool
Selector = tuple[tuple[str, tuple[Scalar, ...]], ...]
Row = Mapping[str, Any]
_SET = re.compile(r"^# --set (.+)$")


def _show(v: Any) -> str:
    """A value as a claim's reason writes it: 4 significant digits, thousands grouped.

    >>> _show(56286.8), _show(0.123456), _show(True), _show(32)
    ('56,287', '0.1235', 'true', '32')
    """
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:,.0f}" if 1e4 <= abs(v) < 1e15 else f"{v:.4g}"
    return str(v)


def _label(v: Any) -> str:
    """A group's name as :func:`codesign.report.analysis.winners` labels it."""
    return str(v).lower() if isinstance(v, bool) else str(v)


@dataclass(frozen=True)
class Claim:
    """One sentence and the ordering it states (a checked ``[[claim]]`` table: see
    :mod:`codesign.sweep.spec`). ``kind`` is ``order``, ``wins`` or ``ties``; ``tiers`` the
    groups it names: ``order``'s tiers best first (each group of a tier beats each of the
    next), ``wins``' one group, ``ties``' groups as one tier.

    >>> Claim("s", "order", (("a",), ("b", "c"))).groups
    ('a', 'b', 'c')
    """

    says: str
    kind: str
    tiers: tuple[tuple[Scalar, ...], ...]
    where: Selector = ()
    metric: str | None = None
    quick: bool = True

    @property
    def groups(self) -> tuple[Scalar, ...]:
        """Every group the claim names, in its order."""
        return tuple(g for tier in self.tiers for g in tier)

    @classmethod
    def parse(cls, data: Mapping[str, Any], path: str = "<spec>", text: str = "") -> Claim:
        """A claim from its TOML table, syntax-checked (InputError naming ``path``'s line).

        >>> c = Claim.parse({"says": "s", "where": {"m": ["a", "b"]}, "wins": "x"})
        >>> c.where, c.tiers
        ((('m', ('a', 'b')),), (('x',),))
        """
        return cls._of(check_claims([dict(data)], path, text)[0])

    @classmethod
    def _of(cls, d: Mapping[str, Any]) -> Claim:
        where = tuple((k, tuple(v) if isinstance(v, list) else (v,))
                      for k, v in d.get("where", {}).items())
        return cls(d["says"], d["kind"], tuple(tuple(t) for t in d["tiers"]), where,
                   d.get("metric"), d.get("quick", True))

    def objective(self, objectives: Sequence[Objective]) -> Objective | None:
        """The objective compared: ``metric`` (its ``max:``/``min:`` prefix, else the
        direction of the report objective on it, else the metric's own), or the report's
        first objective; None when there is neither.

        >>> c = Claim("s", "wins", (("a",),), metric="throughput.gbps")
        >>> c.objective([]), Claim("s", "wins", (("a",),)).objective([Objective("c", True)])
        (Objective(metric='throughput.gbps', maximize=True), Objective(metric='c', maximize=True))
        """
        if self.metric is None:
            return objectives[0] if objectives else None
        if self.metric.startswith(("max:", "min:")):
            return Objective.parse(self.metric)
        for o in objectives:
            if o.metric == self.metric:
                return o
        meta = info(self.metric)
        return Objective(self.metric, meta is not None and meta.better == "higher")

    def checked(self, objective: Objective | None, tie: float = WIN_TIE) -> str:
        """The ordering in words, for the table's "checked" column.

        >>> Claim("s", "order", (("a",), ("b", "c"), ("d",))).checked(Objective("t"))
        'a beats (b, c) beats d on t (lower is better)'
        >>> Claim("s", "ties", (("a", 32),)).checked(None)
        'a and 32 tie (within 2%)'
        """
        names = [_label(g) for g in self.groups]
        if self.kind == "order":
            text = " beats ".join(_label(t[0]) if len(t) == 1 else
                                  "(" + ", ".join(map(_label, t)) + ")" for t in self.tiers)
        elif self.kind == "wins":
            text = f"{names[0]} beats every other"
        else:
            text = ", ".join(names[:-1]) + f" and {names[-1]} tie (within {tie:.0%})"
        return text + (f" on {objective.label()}" if objective else "")


def claims(spec: Mapping[str, Any], path: str = "<spec>", text: str = "") -> list[Claim]:
    """The claims of a spec's data (a stored spec may be hand-written or older: checked
    again here).

    >>> claims({"version": 1}), claims({"claim": [{"says": "s", "wins": 8}]})[0].tiers
    ([], ((8,),))
    """
    return [Claim._of(d) for d in check_claims(spec.get("claim"), path, text)]


@dataclass(frozen=True)
class ClaimOutcome:
    """A claim's result: the verdict, why (where the ordering broke, or what is missing or
    skipped), how many settings (workload and setting of the Summary's axes) it was checked
    at, and the objective and group it was read on."""

    claim: Claim
    status: str
    reason: str = ""
    settings: int = 0
    objective: Objective | None = None
    group: str = "mechanism"
    tie: float = WIN_TIE


def _matches(row: Row, where: Selector) -> bool:
    """Whether ``row`` is selected: each name matches, and each parameter the row has (one
    it does not have, another mechanism's, does not apply to it)."""
    for key, wanted in where:
        if key in NAMES:
            got = row.get(key)
        elif key in row.get("params", {}):
            got = row["params"][key]
        else:
            continue
        if not any(same(got, w) for w in wanted):
            return False
    return True


def _where_text(where: Selector) -> str:
    return ", ".join(f"{k}={' or '.join(_show(v) for v in vs)}" for k, vs in where) or "all"


def _at(w: Winner) -> str:
    """A setting in words: the workload and each axis' value."""
    return ", ".join([w.workload, *(f"{k}={_show(v)}" for k, v in w.setting)])


def _gap(objective: Objective, a: float, b: float) -> float:
    """How far apart two values are, relative to the worse of the two: the Summary's margin
    (:attr:`codesign.report.analysis.Winner.margin`; 0 when the worse is 0, as there).

    >>> _gap(Objective("c"), 100.0, 102.0) < WIN_TIE, _gap(Objective("c", True), 10.0, 20.0)
    (True, 1.0)
    """
    worse = b if objective.better(a, b) else a
    return 0.0 if worse == 0 else abs(a - b) / abs(worse)


def _find(w: Winner, group: str, wanted: Scalar) -> tuple[str, float] | None:
    """The ranking entry (name, value) of the group ``wanted`` names, or None."""
    for name, v, row in w.ranking:
        if name == _label(wanted) or same(value(dict(row), group), wanted):
            return name, v
    return None


def _check(claim: Claim, w: Winner, group: str, objective: Objective,
           tie: float) -> tuple[str, str]:
    """("holds" | "fails" | "missing", reason) of ``claim`` at one setting."""
    tiers: list[list[tuple[str, float]]] = []
    for tier in claim.tiers:
        tiers.append([])
        for g in tier:
            entry = _find(w, group, g)
            if entry is None:
                return "missing", f"at {_at(w)}: {_label(g)} has no {objective.metric}"
            tiers[-1].append(entry)
    found = [entry for tier in tiers for entry in tier]
    sign = -1.0 if objective.maximize else 1.0
    if claim.kind == "wins":
        (name, mine), = found
        others = [(n, v) for n, v, _ in w.ranking if n != name]
        if not others:
            return "missing", f"at {_at(w)}: {name} is the only {group} with a value"
        rival, theirs = others[0] if w.ranking[0][0] == name else (w.ranking[0][0],
                                                                    w.ranking[0][1])
        pairs = [((name, mine), (rival, theirs))]
    elif claim.kind == "order":
        # A tier's worst against the next tier's best: each of one beats each of the next.
        pairs = [(max(a, key=lambda e: sign * e[1]), min(b, key=lambda e: sign * e[1]))
                 for a, b in itertools.pairwise(tiers)]
    else:
        best = found[0]
        for entry in found[1:]:
            if objective.better(entry[1], best[1]):
                best = entry
        for name, v in found:
            gap = _gap(objective, best[1], v)
            if name != best[0] and gap >= tie:
                return "fails", (f"at {_at(w)}: {best[0]} {_show(best[1])} and {name} "
                                 f"{_show(v)} differ by {gap:.1%}, not within {tie:.0%}")
        return "holds", ""
    for (a, va), (b, vb) in pairs:
        if not objective.better(va, vb) and va != vb:
            return "fails", f"at {_at(w)}: {a} {_show(va)} is worse than {b} {_show(vb)}"
        if _gap(objective, va, vb) < tie:
            return "fails", (f"at {_at(w)}: {a} {_show(va)} and {b} {_show(vb)} tie (within "
                             f"{tie:.0%})")
    return "holds", ""


def evaluate(claim: Claim, rows: Sequence[Row], objective: Objective | None, group: str,
             by: Sequence[str] = (), tie: float = WIN_TIE) -> ClaimOutcome:
    """The claim's outcome over ``rows`` (the report's cells: ``workload``, ``mechanism``,
    ``platform``, ``params``, ``metrics``), with settings of ``by`` and each group at its
    best over the rest, as :func:`codesign.report.analysis.winners` ranks them.

    ``order``: at every setting each named group beats the next (better by ``tie`` or
    more); ``wins``: the group beats every other there; ``ties``: the named groups are
    within ``tie`` of the best of them. A failure anywhere fails the claim (the first one is
    the reason); otherwise a group without a value somewhere leaves it missing.

    >>> rows = [{"workload": w, "mechanism": m, "params": {}, "metrics": {"c": c}}
    ...         for w, m, c in [("a", "x", 1.0), ("a", "y", 1.01), ("b", "x", 1.0)]]
    >>> o = evaluate(Claim("s", "ties", (("x", "y"),)), rows, Objective("c"), "mechanism")
    >>> o.status, o.reason, o.settings
    ('missing', 'at b: y has no c', 2)
    >>> evaluate(Claim("s", "wins", (("x",),), (("workload", ("a",)),)), rows, Objective("c"),
    ...          "mechanism").reason
    'at a: x 1 and y 1.01 tie (within 2%)'
    >>> evaluate(Claim("s", "wins", (("x",),), (("workload", ("z",)),)), rows, Objective("c"),
    ...          "mechanism").reason
    'no done point has workload=z'
    """
    if objective is None:
        return ClaimOutcome(claim, "missing", "the report has no objective to compare on",
                            0, None, group, tie)
    chosen = [r for r in rows if _matches(r, claim.where)]
    if not chosen:
        return ClaimOutcome(claim, "missing", f"no done point has {_where_text(claim.where)}",
                            0, objective, group, tie)
    settled = winners(chosen, objective, group, list(by), tie)
    if not settled:
        return ClaimOutcome(claim, "missing", f"no selected point has {objective.metric}", 0,
                            objective, group, tie)
    verdicts = [_check(claim, w, group, objective, tie) for w in settled]
    for status in ("fails", "missing"):
        bad = [reason for s, reason in verdicts if s == status]
        if bad:
            more = (f" (and {len(bad) - 1} more setting{'s' if len(bad) > 2 else ''})"
                    if len(bad) > 1 else "")
            return ClaimOutcome(claim, status, bad[0] + more, len(settled), objective, group,
                                tie)
    return ClaimOutcome(claim, "holds", "", len(settled), objective, group, tie)


def summary_axes(data: Any) -> list[str]:
    """The settings the report's Summary compares every group at
    (:func:`codesign.report.axes.comparison_axes`): a claim's settings are the Summary's."""
    return comparison_axes(data)[0]


def overrides(data: Any) -> list[str]:
    """The ``--set KEY=VALUE`` overrides the report's sweep ran with (a study's quick mode),
    read off the end of its stored spec text.

    >>> class D:
    ...     sweep = {"spec_text": 'name = "s"\\n# --set a=1\\n# --set b=["x", "y"]'}
    >>> overrides(D())
    ['a=1', 'b=["x", "y"]']
    """
    lines = str(data.sweep.get("spec_text") or "").splitlines()
    out: list[str] = []
    for line in reversed(lines):
        found = _SET.match(line)
        if not found:
            break
        out.append(found.group(1))
    return out[::-1]


def check(claims_: Sequence[Claim], data: Any, quick: bool | None = None) -> list[ClaimOutcome]:
    """Every claim's outcome on a report's data (:class:`codesign.report.data.ReportData`),
    in order. With ``quick`` (by default: whether the sweep ran with ``--set`` overrides), a
    claim marked ``quick = false``, naming a group no done point has, or selecting no point,
    is skipped."""
    if quick is None:
        quick = bool(overrides(data))
    objectives, group = data.objectives(), data.group()
    by = summary_axes(data) if claims_ else []
    cells = data.cells()
    present = {_label(value(r, group)) for r in cells}
    out = []
    for claim in claims_:
        objective = claim.objective(objectives)
        absent = [_label(g) for g in claim.groups if _label(g) not in present
                  and not any(same(value(r, group), g) for r in cells)]
        if quick and not claim.quick:
            out.append(ClaimOutcome(claim, "skipped", "checked on the full study only: this "
                                    "run has --set overrides", 0, objective, group))
        elif quick and absent:
            out.append(ClaimOutcome(claim, "skipped", f"this run (with --set overrides) has no "
                                    f"{' or '.join(absent)}", 0, objective, group))
        elif quick and not any(_matches(r, claim.where) for r in cells):
            out.append(ClaimOutcome(claim, "skipped", "this run (with --set overrides) has no "
                                    f"point with {_where_text(claim.where)}", 0, objective,
                                    group))
        else:
            out.append(evaluate(claim, cells, objective, group, by))
    return out


def from_report(data: Any) -> list[ClaimOutcome]:
    """The outcomes of a report's claims (:class:`codesign.report.data.ReportData`): its
    stored spec's ``[[claim]]`` rows over its cells, at the Summary's settings; a run with
    ``--set`` overrides skips those not meant for it (:func:`check`). A malformed stored row
    is an InputError naming the store. (``tests/test_claims.py`` runs it on stores.)"""
    try:
        found = claims(data.spec, str(data.sweep.get("spec_path") or "<spec>"),
                       str(data.sweep.get("spec_text") or ""))
    except InputError as exc:
        raise InputError(f"{data.store}: {exc}") from None
    return check(found, data) if found else []


def summary(outcomes: Sequence[ClaimOutcome]) -> str:
    """The one-line count of a claims table.

    >>> c = Claim("s", "wins", (("a",),))
    >>> summary([ClaimOutcome(c, "holds"), ClaimOutcome(c, "fails"),
    ...          ClaimOutcome(c, "missing"), ClaimOutcome(c, "skipped")])
    '1 of 4 claims holds; 1 fails; 1 is missing (not every group has a value); 1 is skipped.'
    """
    count = Counter(o.status for o in outcomes)
    text = (f"{count['holds']} of {len(outcomes)} claims "
            f"{'holds' if count['holds'] == 1 else 'hold'}")
    if count["fails"]:
        text += f"; {count['fails']} {'fails' if count['fails'] == 1 else 'fail'}"
    if count["missing"]:
        text += (f"; {count['missing']} {'is' if count['missing'] == 1 else 'are'} missing "
                 "(not every group has a value)")
    if count["skipped"]:
        text += f"; {count['skipped']} {'is' if count['skipped'] == 1 else 'are'} skipped"
    return text + "."


def table_rows(outcomes: Sequence[ClaimOutcome]) -> list[list[str]]:
    """The report's table, one row per outcome, in the columns of :data:`HEADER` (plain
    text: the renderers escape it).

    >>> c = Claim("Nested beats shadow", "order", (("nested",), ("shadow",)), (("pwc", (32,)),))
    >>> table_rows([ClaimOutcome(c, "holds", "", 8, Objective("c"))])
    [['Nested beats shadow', 'nested beats shadow on c (lower is better)', 'pwc=32', '8', 'holds', '']]
    """  # noqa: E501
    return [[o.claim.says, o.claim.checked(o.objective, o.tie), _where_text(o.claim.where),
             str(o.settings) if o.settings else "", o.status,
             o.reason + "." if o.reason else ""] for o in outcomes]
