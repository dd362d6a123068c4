"""Sweeps over seeds: the report compares means with 95% intervals and says "undecided"
when the intervals of the winner and another group overlap."""

from __future__ import annotations

import itertools
import math
import statistics
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.report import write_report
from codesign.report.analysis import series
from codesign.report.data import load
from codesign.report.stats import T975, mean_interval, replicate_means, t975

from .conftest import write_store

SPEC = '''version = 1
name = "seeds"
[report]
metrics = ["cycles.per_ref"]
objectives = ["cycles.per_ref"]
x = "x"
group = "mechanism"
'''

# Per x: shadow's and nested's values at seeds 1, 2, 3. At x = 1 shadow wins clearly; at
# x = 2 the means differ by 10% (no tie) but the spreads overlap: undecided; at x = 3
# nested wins clearly.
VALUES = {
    1: ([10.0, 10.2, 9.8], [30.0, 30.3, 29.7]),
    2: ([20.0, 26.0, 20.0], [20.0, 16.0, 24.0]),
    3: ([50.0, 50.5, 49.5], [30.0, 30.2, 29.8]),
}


def _store(tmp_path: Path) -> Path:
    points = [("w", m, {"x": x, "workload.seed": seed}, {"cycles.per_ref": v[i][j]})
              for x, v in VALUES.items() for i, m in enumerate(("shadow", "nested"))
              for j, seed in enumerate((1, 2, 3))]
    return write_store(tmp_path / "seeds.sqlite", SPEC, points)


def test_t_quantiles_are_the_tabulated_ones() -> None:
    # Spot checks against any printed t table, and monotone decreasing towards 1.96.
    assert (t975(1), t975(2), t975(4), t975(10), t975(30)) == (12.706, 4.303, 2.776, 2.228,
                                                                2.042)
    values = [t975(df) for df in range(1, 2000)]
    assert all(a >= b for a, b in itertools.pairwise(values))
    assert values[-1] == 1.96 and len(T975) == 30
    with pytest.raises(ValueError):
        t975(0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=40))
def test_interval_is_t_times_the_standard_error(values: list[float]) -> None:
    mean, half = mean_interval(values)
    assert math.isclose(mean, statistics.fmean(values), rel_tol=1e-9, abs_tol=1e-6)
    expected = t975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    assert math.isclose(half, expected, rel_tol=1e-9, abs_tol=1e-6)


def test_cells_average_over_seeds_only(tmp_path: Path) -> None:
    data = load(_store(tmp_path))
    assert data.replicates() == ["workload.seed"]
    cells = data.cells()
    assert len(cells) == 6 and all(c["replicates"] == 3 for c in cells)
    shadow2 = next(c for c in cells if c["mechanism"] == "shadow" and c["params"]["x"] == 2)
    assert shadow2["params"] == {"x": 2}
    assert shadow2["metrics"]["cycles.per_ref"] == pytest.approx(22.0)
    # stdev of (20, 26, 20) is sqrt(12); t(2) = 4.303
    assert shadow2["spread"]["cycles.per_ref"] == pytest.approx(4.303 * math.sqrt(12 / 3))
    # Rows without seeds are left as they are.
    assert replicate_means(data.done, []) == data.done


def test_summary_says_undecided_where_intervals_overlap(tmp_path: Path) -> None:
    md = write_report(_store(tmp_path), tmp_path / "out", ["md"])[0].read_text()
    summary = md[md.index("## Summary"):md.index("## Results")]
    assert "Values are means over 3 runs differing only in `workload.seed`" in summary
    assert ("On `w`: `shadow` wins at `x` = 1; undecided between `nested`, `shadow` at `x` = 2; "
            "`nested` wins at `x` = 3.") in summary
    assert "| w | 1 | best | 3.00x |" in summary
    assert "| w | 2 | 1.10x (undecided) | best (undecided) |" in summary
    row = next(line for line in summary.splitlines() if line.startswith("| w | 2 | undecided"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:5] == ["undecided: nested, shadow", "20", f"± {4.303 * 4 / math.sqrt(3):.6g}"]
    assert cells[-1] == "9.1% (undecided)"
    # The seed is not a comparison axis: no panel or column per seed in the summary.
    assert "workload.seed" not in summary.split("Values are means")[0]


def test_plot_lines_carry_the_intervals(tmp_path: Path) -> None:
    data = load(_store(tmp_path))
    lines = {s.group: s for s in series(data.cells(), "cycles.per_ref", "x", "mechanism")}
    assert lines["shadow"].ys == pytest.approx((10.0, 22.0, 50.0))
    assert lines["shadow"].errs[1] == pytest.approx(4.303 * 2.0)
    assert lines["nested"].errs[0] == pytest.approx(4.303 * statistics.stdev([30, 30.3, 29.7])
                                                    / math.sqrt(3))
    # Without seeds a line has no error bars.
    assert series(data.done, "cycles.per_ref", "x", "mechanism")[0].errs == ()
