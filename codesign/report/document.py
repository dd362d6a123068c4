"""A report as a list of sections, independent of output format.

Markdown and HTML render the same :class:`Document`, so the two formats always say the
same thing. Nothing in it is markup: a ``str`` is plain text, a :class:`Text` a paragraph
of plain text and :class:`Mono` runs (names shown as code), and renderers escape all of it,
so a user's string never becomes markup, whatever characters it holds.

>>> import tempfile, os, io
>>> from codesign.sweep.spec import parse_spec
>>> from codesign.sweep.runner import run_sweep
>>> spec = parse_spec({"version": 1, "name": "t", "workload": {"name": "walks"},
...                    "mechanism": {"name": "analytic-walk", "virtualized": [False, True]}})
>>> path = os.path.join(tempfile.mkdtemp(), "t.sqlite")
>>> _ = run_sweep(spec, path, executor="serial", stream=io.StringIO())
>>> from codesign.report.data import load
>>> [s.title for s in build(load(path)).sections]
['Summary', 'Results', 'Cycle breakdown', 'Provenance']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from codesign.metrics import RATES, with_unit
from codesign.provenance import environment
from codesign.report import analysis, claims, plots, validation
from codesign.report.axes import (
    compared,
    comparison_axes,
    fmt,
    own_knobs,
    shared_axes,
    zip_groups,
)
from codesign.report.data import ReportData, param_unit, value, with_param_unit

MAX_PLOTS = 6


@dataclass(frozen=True)
class Mono:
    """A name or key shown as code (its text is verbatim, not markup)."""

    text: str


@dataclass
class Text:
    """A paragraph: plain text and code runs, in order."""

    parts: list[str | Mono]


@dataclass
class Table:
    """A table; ``sortable`` ones get clickable headers in HTML, and ``prose`` ones (cells of
    sentences, as the validation table's) wrap their text there."""

    header: list[str]
    rows: list[list[Any]]
    sortable: bool = False
    prose: bool = False
    shade: list[list[float | None]] | None = None
    """Per cell, a slowdown against the best (1 for the best) that HTML colours the cell by,
    or None for a cell left plain: the who-wins-where matrix."""


@dataclass
class Plot:
    """An SVG figure with a file-name stem and a caption."""

    name: str
    caption: str
    svg: str


@dataclass
class Code:
    """A verbatim block (the sweep spec)."""

    text: str
    language: str = ""


Block = str | Text | Table | Plot | Code


@dataclass
class Section:
    """A titled list of blocks (subsections are sections with ``level`` 3)."""

    title: str
    blocks: list[Block] = field(default_factory=list)
    level: int = 2


@dataclass
class Document:
    """Title, lead paragraphs, sections."""

    title: str
    lead: list[str | Text]
    sections: list[Section]


def _describe(row: dict[str, Any], keys: list[str]) -> str:
    parts = [f"{k}={fmt(value(row, k))}" for k in keys if value(row, k) is not None]
    return ", ".join(parts)


def _summary(data: ReportData) -> Section:
    """Who wins where: per workload (and value of the report's ``x``) the winner, the groups
    that tie with it, the runner-up and the margin; a matrix of every group's slowdown
    against the winner; and sentences read off the two."""
    section = Section("Summary")
    objectives = data.objectives()
    if not data.done or not objectives:
        section.blocks.append("No completed points to summarize.")
        return section
    objective, group = objectives[0], data.group()
    by, zips, over = comparison_axes(data)
    settled = analysis.winners(data.cells(), objective, group, by)
    if not settled:
        section.blocks.append("No completed point has the objective's metric.")
        return section
    tie = settled[0].tie
    intro: list[str | Mono] = ["Winner per workload"]
    if by:
        intro += [" and setting of ", *listing(by), *_partners(by, zips)]
    intro += [" on ", Mono(objective.label())]
    if over:
        intro += [", each ", Mono(group), " at its best over ", *listing(over)]
    intro += [f"; a {group} within {tie:.0%} of the winner ties with it. The margin is how "
              "much better the winner is than the runner-up; a slowdown is how many times "
              "worse a value is than the winner's."]
    seeds = data.replicates()
    if seeds:
        counts = sorted({r["replicates"] for r in data.cells()})
        n = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
        intro += [" Values are means over ", n, " runs differing only in ", *listing(seeds),
                  ", with 95% intervals (Student's t); where another ", Mono(group),
                  "'s interval overlaps the winner's, the winner is undecided."]
    section.blocks.append(Text(intro))
    section.blocks.extend(_who_wins_where(settled, group, by))
    names = list(dict.fromkeys(g for w in settled for g, _, _ in w.ranking))
    head = ["workload", *by]
    matrix, table, shade = [], [], []
    for w in settled:
        at = [fmt(v) for _, v in w.setting]
        values = {g: v for g, v, _ in w.ranking}
        cells: list[str] = []
        tones: list[float | None] = [None] * (1 + len(at))
        for g in names:
            if g not in values:
                cells.append("")
                tones.append(None)
            elif g == w.ranking[0][0]:
                cells.append("best" + (" (undecided)" if w.undecided else "")
                             + _drops(w.ranking[0][2]))
                tones.append(1.0)
            else:
                slow = w.slowdown(values[g])
                tied = (" (tie)" if g in w.tied else
                        " (undecided)" if g in w.contenders else "")
                cells.append((f"{slow:.2f}x" if slow is not None else "") + tied
                             + _drops(dict((n, r) for n, _, r in w.ranking)[g]))
                tones.append(1.0 if g in w.tied else slow)
        matrix.append([w.workload, *at, *cells])
        shade.append(tones)
        best_name, best, best_row = w.ranking[0]
        runner = w.ranking[1] if len(w.ranking) > 1 else None
        tied = w.tied
        winner = ("undecided: " + ", ".join(w.contenders) if w.undecided else
                  "tie: " + ", ".join(tied) if len(tied) > 1 else best_name)
        margin = "" if w.margin is None else (
            f"{w.margin:.1%}" + (" (undecided)" if w.undecided else
                                 " (tie)" if len(tied) > 1 else ""))
        spread = ([_spread(best_row, objective.metric)] if seeds else [])
        runner_spread = ([_spread(runner[2], objective.metric) if runner else ""]
                         if seeds else [])
        table.append([w.workload, *at, winner + _drops(best_row), best, *spread,
                      *([_describe(best_row, over)] if over else []),
                      runner[0] if runner else "", runner[1] if runner else None,
                      *runner_spread, margin])
    section.blocks.append(Text(["Slowdown of each ", Mono(group), " against the winner ("
                                "\"drops\" marks a point that lost frames: saturated):"]))
    section.blocks.append(Table([*head, *names], matrix, shade=shade))
    unit = with_unit(objective.metric)
    pm = ["± 95%"] if seeds else []
    section.blocks.append(Table([*head, f"best {group}", unit, *pm, *(["at"] if over else []),
                                 "runner-up", unit, *pm, "margin"], table))
    return section


def _spread(row: dict[str, Any], metric: str) -> str:
    """``± half-width`` of a mean's 95% interval, as a table shows it."""
    half = row.get("spread", {}).get(metric)
    return "" if half is None else "± " + fmt(half)


def _drops(row: dict[str, Any]) -> str:
    """`` (drops 12.5%)`` when the point lost frames (it is saturated), else nothing."""
    m = row.get("metrics", {})
    lost = m.get("drops")
    if not lost:
        return ""
    total = m.get("packets")
    return f" (drops {lost / total:.1%})" if total else f" (drops {fmt(lost)})"


def _who_wins_where(settled: list[analysis.Winner], group: str, by: list[str]) -> list[Text]:
    """One sentence per workload: which group wins at which values of ``by`` (or by how
    much, without ``by``), ties said as ties."""
    out = []
    for workload in dict.fromkeys(w.workload for w in settled):
        mine = [w for w in settled if w.workload == workload]
        parts: list[str | Mono] = ["On ", Mono(workload), ": "]
        if not by:
            w = mine[0]
            tied = w.tied
            if w.undecided:
                parts += ["undecided between ", *listing(list(w.contenders))]
            elif len(tied) > 1:
                parts += ["tie between ", *listing(list(tied))]
            else:
                parts += [Mono(tied[0]), " wins"]
                if w.margin is not None:
                    parts += [f" by {w.margin:.1%} over ", Mono(w.ranking[1][0])]
            out.append(Text([*parts, "."]))
            continue
        runs: dict[tuple[bool, tuple[str, ...]], list[str]] = {}
        for w in mine:
            label = (fmt(w.setting[0][1]) if len(by) == 1 else
                     "(" + ", ".join(fmt(v) for _, v in w.setting) + ")")
            runs.setdefault((w.undecided, w.contenders if w.undecided else w.tied),
                            []).append(label)
        axis = by[0] if len(by) == 1 else "(" + ", ".join(by) + ")"
        for i, ((undecided, tied), at) in enumerate(runs.items()):
            parts += ["; " if i else ""]
            if undecided:
                parts += ["undecided between ", *listing(list(tied))]
            elif len(tied) > 1:
                parts += ["tie between ", *listing(list(tied))]
            else:
                parts += [Mono(tied[0]), " wins"]
            parts += [" at ", Mono(axis), " = " + ", ".join(at)]
        out.append(Text([*parts, "."]))
    return out


_order = analysis.value_order


def listing(names: list[str], most: int = 0) -> list[str | Mono]:
    """``a, b, c`` with every name as code; past ``most`` names (when given), ``and N more``."""
    shown = names[:most] if most and len(names) > most else names
    parts: list[str | Mono] = []
    for i, name in enumerate(shown):
        parts += [", ", Mono(name)] if i else [Mono(name)]
    if len(shown) < len(names):
        parts += [f" and {len(names) - len(shown)} more"]
    return parts


def _partners(leaders: list[str], zips: dict[str, list[str]]) -> list[str | Mono]:
    """`` (a moves together with b, c)`` for each axis that stands for zipped parameters."""
    parts: list[str | Mono] = []
    for leader in leaders:
        if zips[leader]:
            parts += [" (", Mono(leader), " moves together with ",
                      *listing(zips[leader], most=3), ")"]
    return parts


def _few(names: list[str], most: int = 2) -> str:
    """``a, b and 3 more``: a short list for a plot's axis label."""
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def _results(data: ReportData) -> Section:
    section = Section("Results")
    fixed = data.fixed()
    if fixed:
        parts: list[str | Mono] = ["Same for every point: "]
        for i, (k, v) in enumerate(fixed.items()):
            parts += [", " if i else "", Mono(k), f" = {fmt(v) if v is not None else 'unset'}"]
        section.blocks.append(Text([*parts, "."]))
    defining = set(data.defining())
    varying = [k for k in data.varying() if k not in defining]
    metrics = data.shown()
    if defining:
        section.blocks.append(Text(["Workload parameters are those of each workload's "
                                    "definition (", *listing(sorted(defining)), ")."]))
    order = sorted(data.done, key=lambda r: (r["workload"], r["mechanism"], r["platform"],
                                             [_order(r["params"].get(k)) for k in varying]))
    # A point that dropped frames is saturated: its latency and cost describe overload.
    saturated = any(r["metrics"].get("drops") for r in data.done)
    section.blocks.append(Table(
        ["workload", "mechanism", "platform", *map(with_param_unit, varying),
         *map(with_unit, metrics), *(["saturated"] if saturated else [])],
        [[r["workload"], r["mechanism"], r["platform"], *(r["params"].get(k) for k in varying),
          *(r["metrics"].get(m) for m in metrics),
          *([_drops(r).strip(" ()")] if saturated else [])] for r in order], sortable=True))
    return section


def _plots(data: ReportData) -> Section | None:
    """Small multiples: each metric against the report's ``x``, one panel per workload and
    setting of the other parameters every group shares, one line per group (at its best over
    its own knobs, said so); saturated points hollow; bars when ``x`` has two values."""
    x = data.x_axis()
    if x is None:
        return None
    group = data.group()
    maximizing = {o.metric for o in data.objectives() if o.maximize}
    varying = compared(data)
    shared = shared_axes(data, varying, group)
    # A parameter zipped with x (one value of it for each value of x) is the same axis: it
    # does not split the panels, so that x keeps its values in each; parameters zipped with
    # each other split them once.
    zips = zip_groups(data.done, [x, *(k for k in shared if k != x)], x)
    partners = zips.pop(x)
    split = sorted(zips, key=shared.index)
    over = own_knobs(data, varying, group, shared)
    panels: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    order = {w: i for i, w in enumerate(dict.fromkeys(r["workload"] for r in data.done))}
    for r in sorted(data.cells(), key=lambda r: (order[r["workload"]],
                                              [_order(value(r, k)) for k in split])):
        panels.setdefault((r["workload"], *(value(r, k) for k in split)), []).append(r)
    several = len(order) > 1
    section = Section(f"Metrics against {x}")
    intro: list[str | Mono] = ["One panel per workload"]
    if split:
        intro += [" and setting of ", *listing(split), *_partners(split, zips)]
    intro += ["; one line per ", Mono(group)]
    if over:
        intro += [", each at its best over ", *listing(over)]
    if partners:
        intro += ["; ", Mono(x), " moves together with ", *listing(partners),
                  " (one zipped axis)"]
    intro += ["."]
    if any(r["metrics"].get("drops") for r in data.done):
        intro += [" A hollow marker (a hatched bar) is a point that dropped frames: "
                  "saturated; crossovers are shown only between points that did not."]
    section.blocks.append(Text(intro))
    drawn = False
    # A count is drawn as its rate: points of different lengths compare only so.
    plotted = list(dict.fromkeys(data.rate_of(m) or m for m in data.metrics()))
    for metric in plotted[:MAX_PLOTS]:
        maximize = metric in maximizing
        figures: list[tuple[str, list[analysis.Series]]] = []
        hollow: list[list[frozenset[float]]] = []
        notes: list[Text] = []
        for key, rows in panels.items():
            lines = analysis.series(rows, metric, x, group, maximize, [])
            if not lines:
                continue
            # A panel's setting, each zipped partner too (a few at most): "pwc.entries=0"
            # alone would hide that the nested TLB is off as well.
            named = [k for leader in split for k in [leader, *zips[leader][:2]]]
            title = ", ".join(([str(key[0])] if several or not split else [])
                              + [f"{k}={fmt(value(rows[0], k))}" for k in sorted(named)])
            sat = [_saturated_xs(rows, s, metric, x, group) for s in lines]
            figures.append((title or str(key[0]), lines))
            hollow.append(sat)
            if len({v for s in lines for v in s.xs}) < 3:
                continue
            by_label = {s.label: (s, z) for s, z in zip(lines, sat, strict=True)}
            for c in analysis.crossovers(lines, maximize):
                if _near_saturation(c, by_label):
                    continue
                notes.append(Text(["Crossover on ", Mono(metric), f" ({title or key[0]}): "
                                   f"{c.better_below} is better below {x} ≈ {fmt(c.at)}, "
                                   f"{c.better_above} above."]))
        if not figures:
            continue
        step = plots.MAX_FACETS
        for n, start in enumerate(range(0, len(figures), step)):
            part = figures[start:start + step]
            name = f"{metric} vs {x}" + (f" {n + 1}" if len(figures) > step else "")
            caption = f"{metric} against {x}"
            if len(figures) > step:
                caption += f" (panels {start + 1}-{start + len(part)} of {len(figures)})"
            unit = param_unit(x)
            said = [unit] * bool(unit) + [f"with {_few(partners)}"] * bool(partners)
            axis = f"{x} ({'; '.join(said)})" if said else x
            section.blocks.append(Plot(plots.slug(name), caption, plots.facet_plot(
                part, metric, axis, hollow[start:start + step])))
            drawn = True
        section.blocks.extend(notes[:8])
        if len(notes) > 8:
            section.blocks.append(Text([f"... and {len(notes) - 8} more crossovers on ",
                                        Mono(metric), "."]))
    return section if drawn else None


def _saturated_xs(rows: list[dict[str, Any]], line: analysis.Series, metric: str, x: str,
                  group: str) -> frozenset[float]:
    """The x values where the point giving ``line`` its value dropped frames."""
    ys = dict(zip(line.xs, line.ys, strict=True))
    out = set()
    for r in rows:
        xv = value(r, x)
        m = r["metrics"]
        if str(value(r, group)).lower() != line.group.lower() or not m.get("drops"):
            continue
        if isinstance(xv, int | float) and ys.get(float(xv)) == m.get(metric):
            out.add(float(xv))
    return frozenset(out)


def _near_saturation(c: analysis.Crossover,
                     lines: dict[str, tuple[analysis.Series, frozenset[float]]]) -> bool:
    """Whether either line of a crossover dropped frames at the points it lies between."""
    a, b = lines.get(c.better_below), lines.get(c.better_above)
    if a is None or b is None:
        return False
    common = sorted(set(a[0].xs) & set(b[0].xs))
    lo = [v for v in common if v <= c.at]
    hi = [v for v in common if v >= c.at]
    ends = {lo[-1] if lo else common[0], hi[0] if hi else common[-1]}
    return bool(ends & (a[1] | b[1]))


def _traps(data: ReportData, ranked: list[analysis.Winner]) -> Section | None:
    objectives = data.objectives()
    if not objectives or not any(k.startswith("traps.") for k in data.present()):
        return None
    objective, group = objectives[0], data.group()
    section = Section("Traps by reason")
    section.blocks.append(Text([f"At each {group}'s best point on ", Mono(objective.metric),
                                ", as ", Mono("perf kvm stat"), " reports exits: count, rate "
                                "(per 1,000 references replayed, or per frame), share of all "
                                "traps, and cycles where the mechanism prices each reason."]))
    for w in ranked:
        for name, _, row in w.ranking:
            table = analysis.trap_table(row["metrics"])
            if not table:
                continue
            sub = Section(f"{w.workload} × {name}", level=3)
            m = row["metrics"]
            rate = next(((suffix, label) for basis, suffix, _, label in RATES if m.get(basis)),
                        None)
            head = ["reason", "count", *([rate[1]] if rate else []), "share"]
            rows = [[r, n, *([m.get(f"traps.{r}.{rate[0]}")] if rate else []), f"{s:.1%}", c]
                    for r, n, s, c in table]
            if not any(c is not None for *_, c in table):
                # the mechanism does not price its traps one by one: no empty column
                rows = [r[:-1] for r in rows]
            else:
                head.append("cycles")
            sub.blocks.append(Table(head, rows))
            section.blocks.append(sub)  # type: ignore[arg-type]
    return section


def _breakdown(data: ReportData, ranked: list[analysis.Winner]) -> Section | None:
    objectives = data.objectives()
    if not objectives:
        return None
    bars = []
    for w in ranked:
        for name, _, row in w.ranking:
            parts = analysis.cycle_breakdown(row["metrics"])
            if parts:
                bars.append((f"{w.workload} × {name}", parts))
    if not bars:
        return None
    section = Section("Cycle breakdown")
    section.blocks.append(Text(["At each best point on ", Mono(objectives[0].metric), "."]))
    section.blocks.append(Plot("cycle-breakdown", "cycles by category",
                               plots.breakdown_plot(bars)))
    return section


def _pareto(data: ReportData) -> Section | None:
    objectives = data.objectives()
    if len(objectives) < 2:
        return None
    cells = data.cells()
    front = analysis.pareto(cells, objectives[:3])
    if not front:
        return None
    kept, epsilon = analysis.epsilon_front(front, objectives[:3])
    section = Section("Pareto front")
    intro: list[str | Mono] = [
        "Points no other point beats on all of ",
        *listing([o.label() for o in objectives[:3]]),
        f" at once: {len(front)} of {len(cells)}"]
    if len(kept) < len(front):
        intro += [f"; the {len(kept)} below stand for them within {epsilon:.0%} "
                  f"(each of the other {len(front) - len(kept)} is at most {epsilon:.0%} "
                  "better than one of these on any objective: epsilon-dominance)"]
    intro += [". The numbers label them in the plot."]
    section.blocks.append(Text(intro))
    varying = compared(data)
    section.blocks.append(Table(
        ["#", "workload", "mechanism", *varying, *(with_unit(o.metric) for o in objectives[:3])],
        [[i + 1, r["workload"], r["mechanism"], *(r["params"].get(k) for k in varying),
          *(r["metrics"][o.metric] for o in objectives[:3])] for i, r in enumerate(kept)],
        sortable=True))
    section.blocks.append(Plot("pareto", f"{objectives[0].metric} against {objectives[1].metric}",
                               plots.pareto_plot(cells, front, objectives[:2],
                                                 data.group(), kept)))
    return section


def _sensitivity(data: ReportData) -> Section | None:
    objectives = data.objectives()
    if not objectives:
        return None
    steps = analysis.sensitivity(data.cells(), objectives[0], data.group())
    if not steps:
        return None
    section = Section("Sensitivity to platform costs")
    section.blocks.append(Text(["The winner on ", Mono(objectives[0].metric),
                                " as each swept cost changes."]))
    for key, values in steps.items():
        rows = [[fmt(v), w.workload, w.ranking[0][0], w.ranking[0][1],
                 f"{w.margin:.1%}" if w.margin is not None else ""]
                for v, ws in values for w in ws]
        section.blocks.append(Table([key, "workload", "winner", objectives[0].metric,
                                     "margin"], rows))
    return section


def _validation(data: ReportData) -> Section | None:
    """Published results against the model, when the spec has ``[[validation]]`` rows."""
    outcomes = validation.from_report(data)
    if not outcomes:
        return None
    section = Section("Validation")
    section.blocks.append(validation.summary(outcomes))
    section.blocks.append(Text([
        "Each row is a published result, the design points that stand for its setup, the "
        "model's value there and the expectation with its tolerance. A row that fails stays "
        "here, with the reason; ", Mono("missing"), " means no value could be computed."]))
    section.blocks.append(Table(list(validation.HEADER), validation.table_rows(outcomes),
                                prose=True))
    return section


def _claims(data: ReportData) -> Section | None:
    """The spec's own statements (``[[claim]]`` rows), each checked against these results."""
    outcomes = claims.from_report(data)
    if not outcomes:
        return None
    section = Section("Claims checked")
    section.blocks.append(Text([
        "The statements the spec makes about its results, each checked on the Summary's "
        "rankings (a group beats another when it is better by more than the tie tolerance, "
        "at every setting the claim selects): ", claims.summary(outcomes)]))
    section.blocks.append(Table(list(claims.HEADER), claims.table_rows(outcomes), prose=True))
    return section


def _failed(data: ReportData) -> Section | None:
    if not data.failed:
        return None
    return Section("Failed points", [Table(["key", "workload", "mechanism", "error"], [
        [r["key"][:12], r["workload"], r["mechanism"], r["error"]] for r in data.failed])])


def _provenance(data: ReportData) -> Section:
    env = environment()
    sweep = data.sweep
    section = Section("Provenance", [
        f"codesign {env['codesign']}, commit {env['git_commit']}; python {env['python']}, "
        f"numpy {env['numpy']}, pyrtl {env['pyrtl']}.",
        Text(["Store ", Mono(data.store), f": {len(data.done)} points done, "
              f"{len(data.failed)} failed. Sweep ", Mono(str(sweep["name"])), " from ",
              Mono(str(sweep["spec_path"])), f", run {sweep['started_at']} with executor "
              f"{sweep['executor']}."]),
    ])
    used = dict.fromkeys(data.point_platform[r["key"]] for r in data.done + data.failed
                         if r["key"] in data.point_platform)
    for key in used:
        profile = data.platforms[key]
        sub = Section(f"Platform {profile['name']} ({profile['origin']})", level=3)
        sub.blocks.append(Table(["cost", "value", "unit", "source"],
                                [[k, c["value"], c["unit"], c["source"]]
                                 for k, c in profile["costs"].items()]))
        section.blocks.append(sub)  # type: ignore[arg-type]
    text = sweep["spec_text"].rstrip()
    sub = Section("Sweep spec", [Code(text, "json" if text.lstrip().startswith("{")
                                      else "toml")], level=3)
    section.blocks.append(sub)  # type: ignore[arg-type]
    return section


def build(data: ReportData) -> Document:
    """The whole report of one sweep."""
    lead: list[str | Text] = []
    description = data.spec.get("description")
    if isinstance(description, str) and description:
        lead.append(description)
    lead.append(f"{len(data.done) + len(data.failed)} design points: {len(data.done)} done, "
                f"{len(data.failed)} failed.")
    if not data.done:
        lead.append("No point of this sweep is done yet: there are no results to show.")
    objectives = data.objectives()
    # The summary, trap tables and breakdown all rank the same points: rank them once.
    ranked = (analysis.winners(data.cells(), objectives[0], data.group()) if objectives
              else [])
    parts = [_validation(data), _summary(data), _claims(data), _results(data), _plots(data),
             _traps(data, ranked), _breakdown(data, ranked), _pareto(data), _sensitivity(data),
             _failed(data), _provenance(data)]
    return Document(data.title, lead, [p for p in parts if p is not None])
