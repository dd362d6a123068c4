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
from matplotlib.figure import Figure

from codesign.report.analysis import Series, is_pow2_axis
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


def _figure() -> tuple[Figure, Any]:
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(6.4, 3.6))
        ax = fig.add_subplot()
    ax.grid(True, alpha=0.3)
    return fig, ax


@_plotting
def line_plot(lines: Sequence[Series], metric: str, x: str) -> str:
    """``metric`` against ``x``, one line per series; log2 x axis for powers of two."""
    fig, ax = _figure()
    xs = [v for s in lines for v in s.xs]
    for s in lines:
        ax.plot(s.xs, s.ys, marker="o", markersize=3, label=s.label)
    if is_pow2_axis(xs):
        ax.set_xscale("log", base=2)
    ax.set_xlabel(x)
    ax.set_ylabel(metric)
    if len(lines) > 1:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return to_svg(fig)


@_plotting
def pareto_plot(rows: Sequence[dict[str, Any]], front: Sequence[dict[str, Any]],
                objectives: Sequence[Objective], group: str) -> str:
    """All points of two objectives, coloured by group, the front drawn as a step line."""
    from codesign.report.data import value

    fig, ax = _figure()
    a, b = objectives[0].metric, objectives[1].metric
    groups: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        if a in r["metrics"] and b in r["metrics"]:
            label = str(value(r, group)).lower() if isinstance(value(r, group), bool) \
                else str(value(r, group))
            groups.setdefault(label, []).append((r["metrics"][a], r["metrics"][b]))
    for label, points in groups.items():
        ax.scatter([p[0] for p in points], [p[1] for p in points], s=12, label=label)
    fx = [r["metrics"][a] for r in front]
    fy = [r["metrics"][b] for r in front]
    ax.step(fx, fy, where="post", color="black", linewidth=1, label="Pareto front")
    ax.set_xlabel(objectives[0].label())
    ax.set_ylabel(objectives[1].label())
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
