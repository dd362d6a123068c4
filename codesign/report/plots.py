"""Report figures as SVG text: metric-vs-parameter lines, Pareto scatter, cycle breakdowns.

Figures are made with matplotlib's object API (no pyplot state) and rendered with a fixed
hash salt and no date, so the same store gives byte-identical SVG. Every text they draw
comes from user data (names, parameter values, metric names) and is drawn as it is: no
mathtext, so a ``$`` is a dollar sign, not a formula that fails to parse.

>>> from codesign.report.analysis import Series
>>> svg = line_plot([Series("a", "a", (4.0, 8.0), (1.0, 2.0))], "cycles", "tlb.entries")
>>> svg.startswith("<svg") and "</svg>" in svg
True
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import matplotlib
import matplotlib.lines
import matplotlib.ticker
from matplotlib.figure import Figure

from codesign.metrics import info, with_unit
from codesign.report.analysis import Series, axis_scale
from codesign.report.data import Objective

# text.parse_math is read when a Text is made (labels, legend entries, tick labels at draw
# time), so each figure is made and saved entirely within these settings (see _plotting).
_RC = {"svg.hashsalt": "codesign", "svg.fonttype": "none", "font.size": 9,
       "text.parse_math": False, "text.usetex": False}

_F = TypeVar("_F", bound=Callable[..., str])


def _plotting(fn: _F) -> _F:
    """Run a plot function, from its figure to its SVG text, under :data:`_RC`."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> str:
        with matplotlib.rc_context(_RC):
            return fn(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def to_svg(fig: Figure) -> str:
    """The figure as an SVG element (no XML prologue), ready to inline in HTML."""
    buf = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _scale_x(ax: Any, xs: Sequence[float]) -> None:
    """A log x axis where :func:`axis_scale` says so, its ticks labelled as plain numbers
    (matplotlib's log labels are mathtext, which :data:`_RC` leaves unparsed: they would
    read ``$\\mathdefault{2^{5}}$``)."""
    scale = axis_scale(xs)
    if scale is None:
        return
    ax.set_xscale(scale[0], base=scale[1])
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _figure() -> tuple[Figure, Any]:
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(6.4, 3.6))
        ax = fig.add_subplot()
    ax.grid(True, alpha=0.3)
    return fig, ax


PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
           "#F0E442")
"""Okabe and Ito's colour-blind-safe palette (blue, orange, green, vermillion, purple, sky
blue, black, yellow), one colour per group across every facet."""
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
"""A distinct marker per group, so lines stay apart in grey print too."""
MAX_FACETS = 12
"""Small multiples in one figure; more facets go to further figures."""


@_plotting
def facet_plot(facets: Sequence[tuple[str, Sequence[Series]]], metric: str, x: str,
               saturated: Sequence[Sequence[frozenset[float]]] = ()) -> str:
    """Small multiples of ``metric`` against ``x``: one panel per facet (a workload, a frame
    size), one line per group in the same colour and marker in every panel, with error bars
    where a line's values are means over seeds; a point in ``saturated`` (per facet, per
    line: the x values where it dropped frames) is drawn hollow. Two or fewer x values make
    grouped bars instead: no line is drawn between two settings that are not an axis.

    >>> svg = facet_plot([("w", [Series("a", "a", (1.0, 2.0, 4.0), (3.0, 2.0, 1.0))])],
    ...                  "cycles", "x")
    >>> svg.startswith("<svg") and "</svg>" in svg
    True
    """
    n = len(facets)
    cols = min(3, n)
    rows = -(-n // cols)
    groups = list(dict.fromkeys(s.group for _, lines in facets for s in lines))
    style = {g: (PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)])
             for i, g in enumerate(groups)}
    fig = Figure(figsize=(3.6 * cols + 1.6, 2.7 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, (title, given) in enumerate(facets):
        ax = axes[k // cols][k % cols]
        ax.grid(True, alpha=0.3)
        # Every panel draws the groups in one order: the same bar sits in the same place.
        rank = sorted(range(len(given)), key=lambda i: groups.index(given[i].group))
        lines = [given[i] for i in rank]
        xs = sorted({v for s in lines for v in s.xs})
        sat_given = saturated[k] if k < len(saturated) else [frozenset()] * len(given)
        sat = [sat_given[i] for i in rank]
        if len(xs) <= 2:
            width = 0.8 / max(len(lines), 1)
            for j, s in enumerate(lines):
                color, _ = style[s.group]
                pos = [xs.index(v) + (j - (len(lines) - 1) / 2) * width for v in s.xs]
                ax.bar(pos, s.ys, width, color=color, label=s.group,
                       hatch=["//" if v in sat[j] else "" for v in s.xs],
                       yerr=s.errs or None, capsize=2, ecolor="#333333")
            ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
        else:
            for j, s in enumerate(lines):
                color, marker = style[s.group]
                ax.plot(s.xs, s.ys, color=color, marker=marker, markersize=4, label=s.group)
                if s.errs:  # means over seeds: their 95% intervals
                    ax.errorbar(s.xs, s.ys, yerr=s.errs, fmt="none", ecolor=color, capsize=2,
                                linewidth=0.8)
                hollow = [(a, b) for a, b in zip(s.xs, s.ys, strict=True) if a in sat[j]]
                if hollow:
                    ax.plot([a for a, _ in hollow], [b for _, b in hollow], linestyle="none",
                            marker=marker, markersize=8, markerfacecolor="white",
                            markeredgecolor=color)
            _scale_x(ax, xs)
        ax.set_title(title, fontsize=8)
        ax.set_xlabel(x, fontsize=8)
        ax.set_ylabel(with_unit(metric), fontsize=8)
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    handles = [matplotlib.lines.Line2D([], [], color=style[g][0], marker=style[g][1], label=g)
               for g in groups]
    fig.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return to_svg(fig)


def _objective_label(objective: Objective) -> str:
    """``metric (unit, lower is better)``."""
    meta = info(objective.metric)
    way = "higher" if objective.maximize else "lower"
    return f"{objective.metric} ({meta.unit + ', ' if meta else ''}{way} is better)"


@_plotting
def line_plot(lines: Sequence[Series], metric: str, x: str) -> str:
    """``metric`` against ``x``, one line per series; a log x axis where
    :func:`~codesign.report.analysis.axis_scale` says so."""
    fig, ax = _figure()
    xs = [v for s in lines for v in s.xs]
    for s in lines:
        ax.plot(s.xs, s.ys, marker="o", markersize=3, label=s.label)
    _scale_x(ax, xs)
    ax.set_xlabel(x)
    ax.set_ylabel(with_unit(metric))
    if len(lines) > 1:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return to_svg(fig)


@_plotting
def pareto_plot(rows: Sequence[dict[str, Any]], front: Sequence[dict[str, Any]],
                objectives: Sequence[Objective], group: str,
                labelled: Sequence[dict[str, Any]] = ()) -> str:
    """All points of two objectives, one colour and marker per group, the front drawn as a
    step line, and the ``labelled`` points numbered 1, 2, ... (the report's table rows)."""
    from codesign.report.data import value

    fig, ax = _figure()
    a, b = objectives[0].metric, objectives[1].metric
    groups: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        if a in r["metrics"] and b in r["metrics"]:
            label = str(value(r, group)).lower() if isinstance(value(r, group), bool) \
                else str(value(r, group))
            groups.setdefault(label, []).append((r["metrics"][a], r["metrics"][b]))
    for i, (label, points) in enumerate(groups.items()):
        ax.scatter([p[0] for p in points], [p[1] for p in points], s=14, label=label,
                   color=PALETTE[i % len(PALETTE)], marker=MARKERS[i % len(MARKERS)])
    fx = [r["metrics"][a] for r in front]
    fy = [r["metrics"][b] for r in front]
    ax.step(fx, fy, where="post", color="black", linewidth=1, label="Pareto front")
    for n, r in enumerate(labelled, 1):
        ax.annotate(str(n), (r["metrics"][a], r["metrics"][b]), textcoords="offset points",
                    xytext=(4, 4), fontsize=7)
    ax.set_xlabel(_objective_label(objectives[0]))
    ax.set_ylabel(_objective_label(objectives[1]))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return to_svg(fig)


@_plotting
def breakdown_plot(bars: Sequence[tuple[str, dict[str, float]]]) -> str:
    """Stacked horizontal bars of cycles by category, one bar per label."""
    fig, ax = _figure()
    categories = list(dict.fromkeys(c for _, parts in bars for c in parts))
    left = [0.0] * len(bars)
    for category in categories:
        widths = [parts.get(category, 0.0) for _, parts in bars]
        ax.barh([label for label, _ in bars], widths, left=left, label=category)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.set_xlabel("cycles")
    ax.invert_yaxis()
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return to_svg(fig)


def slug(text: str) -> str:
    """A file-name-safe version of a metric or parameter name.

    >>> slug("latency.p99_us vs tlb.l1.entries")
    'latency-p99_us-vs-tlb-l1-entries'
    """
    return re.sub(r"[^A-Za-z0-9_]+", "-", text).strip("-")
