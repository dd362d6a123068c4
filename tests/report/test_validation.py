"""Validation rows: the comparison logic (codesign.report.validation) on synthetic points,
the [[validation]] syntax checks of the spec loader, the report's Validation section (escaped
in Markdown and HTML), and a tiny spec run end to end."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from codesign.errors import InputError
from codesign.report import write_report
from codesign.report.data import load
from codesign.report.document import build
from codesign.report.validation import Expectation, Row, evaluate, from_report, summary
from codesign.sweep.spec import load_spec
from tests.report.conftest import HOSTILE, write_store
from tests.test_cli import call


def pt(workload: str, mechanism: str, metrics: dict[str, float], platform: str = "p",
       key: str = "", **params: Any) -> dict[str, Any]:
    return {"workload": workload, "mechanism": mechanism, "platform": platform,
            "params": dict(params), "metrics": metrics, "key": key}


def row(**given: Any) -> Row:
    return Row.parse({"claim": "c", "source": "s", "metric": "t", **given})


# Two workloads under three mechanisms: cycles t (lower is better).
POINTS = [
    pt("a", "native", {"t": 10.0}, n=1),
    pt("a", "shadow", {"t": 40.0}, n=1, cache=4),
    pt("a", "nested", {"t": 20.0}, n=1, page="4K"),
    pt("b", "native", {"t": 10.0}, n=1),
    pt("b", "shadow", {"t": 15.0}, n=1, cache=4),
    pt("b", "nested", {"t": 30.0}, n=1, page="4K"),
]


# --- compare kinds ------------------------------------------------------------------------------

def test_value_is_the_metric_at_the_one_selected_point() -> None:
    o = evaluate(row(where={"workload": "a", "mechanism": "shadow"}, expect=40,
                     tolerance=0), POINTS)
    assert (o.status, o.value, o.reason) == ("pass", 40.0, "")


def test_ratio_divides_by_the_baseline_partner_of_the_same_workload() -> None:
    o = evaluate(row(where={"workload": "a", "mechanism": "shadow"},
                     baseline={"mechanism": "native"}, compare="ratio", expect=4,
                     tolerance_abs=0), POINTS)
    assert (o.status, o.value) == ("pass", 4.0)


def test_gain_is_positive_when_lower_is_better() -> None:
    # nested 20 against shadow 40 on a: nested is 100% better; on b (30 against 15) -50%.
    better = evaluate(row(where={"workload": "a", "mechanism": "nested"},
                          baseline={"mechanism": "shadow"}, compare="gain", at_least=0.99),
                      POINTS)
    worse = evaluate(row(where={"workload": "b", "mechanism": "nested"},
                         baseline={"mechanism": "shadow"}, compare="gain", at_most=-0.49),
                     POINTS)
    assert (better.status, better.value) == ("pass", 1.0)
    assert (worse.status, worse.value) == ("pass", -0.5)


def test_a_where_parameter_of_another_mechanism_does_not_apply_to_the_baseline() -> None:
    # where names shadow's own cache size: native has no cache, so its point is the partner;
    # a baseline point that has the parameter must still match it.
    o = evaluate(row(where={"workload": "a", "mechanism": "shadow", "cache": 4},
                     baseline={"mechanism": "native"}, compare="ratio", expect=4,
                     tolerance_abs=0), POINTS)
    assert (o.status, o.value) == ("pass", 4.0)
    other = [*POINTS, pt("a", "shadow", {"t": 80.0}, n=1, cache=8)]
    o = evaluate(row(where={"workload": "a", "mechanism": "shadow", "cache": 8},
                     baseline={"n": 1}, compare="ratio", at_least=0), other)
    assert o.status == "missing" and "no baseline point" in o.reason


def test_a_partner_must_agree_on_every_parameter_both_have() -> None:
    # shadow's cache and nested's page size are each theirs alone: ignored; n is shared.
    points = [*POINTS, pt("a", "native", {"t": 5.0}, n=2)]
    o = evaluate(row(where={"workload": "a", "mechanism": "nested"},
                     baseline={"mechanism": "native"}, compare="ratio", at_least=0), points)
    assert o.value == 2.0  # against n=1's native (10), not n=2's (5)


# --- expectation kinds --------------------------------------------------------------------------

@pytest.mark.parametrize(("expectation", "inside", "outside"), [
    ({"expect": 4.4, "tolerance": 0.2}, [3.52, 4.4, 5.28], [3.5, 5.3]),
    ({"expect": 24, "tolerance_abs": 0}, [24.0], [23.999, 24.001]),
    ({"expect": 10, "tolerance_abs": 1.5}, [8.5, 11.5], [8.4, 11.6]),
    ({"expect": 150, "tolerance_factor": 2}, [75.0, 300.0], [74.9, 300.1]),
    ({"range": [0.15, 0.38]}, [0.15, 0.3, 0.38], [0.149, 0.381]),
    ({"at_least": 0}, [0.0, 1e9], [-1e-9]),
    ({"at_most": 0.1}, [-5.0, 0.1], [0.1001]),
])
def test_each_expectation_includes_its_ends(expectation: dict[str, Any], inside: list[float],
                                             outside: list[float]) -> None:
    for value, status in [*((v, "pass") for v in inside), *((v, "fail") for v in outside)]:
        o = evaluate(row(where={}, **expectation), [pt("w", "m", {"t": value})])
        assert o.status == status, (expectation, value)


def test_a_failed_row_keeps_its_value_and_says_how_far_it_is_off() -> None:
    o = evaluate(row(where={"workload": "b", "mechanism": "nested"},
                     baseline={"mechanism": "shadow"}, compare="gain", range=[0.15, 0.38]),
                 POINTS)
    assert (o.status, o.value, o.reason) == ("fail", -0.5, "-50.0% is below +15.0%")


def test_expectations_are_described_with_their_bounds() -> None:
    show = "{:.4g}".format
    assert Expectation("expect", 17.73, "tolerance_factor", 2).describe(show) == \
        "17.73 within 2x (8.865 to 35.46)"
    assert Expectation("expect", 4.4, "tolerance", 0.2).describe(show) == \
        "4.4 ± 20% (3.52 to 5.28)"
    assert Expectation("expect", 24, "tolerance_abs", 0).describe(show) == "24 exactly"
    assert Expectation("at_most", 0.1).describe(show) == "at most 0.1"


# --- several points, combined --------------------------------------------------------------------

@pytest.mark.parametrize(("combine", "expected"), [
    ("mean", 27.5), ("geomean", math.sqrt(40 * 15)), ("min", 15.0), ("max", 40.0)])
def test_combine_over_several_points(combine: str, expected: float) -> None:
    o = evaluate(row(where={"mechanism": "shadow"}, combine=combine, at_least=0), POINTS)
    assert o.value == pytest.approx(expected)
    assert "over 2 points (a, b)" in o.used


def test_a_combined_gain_is_the_combined_ratio_minus_one() -> None:
    # nested over shadow: ratios 2 (a) and 0.5 (b): geometric mean 1, so a gain of 0.
    o = evaluate(row(where={"mechanism": "nested"}, baseline={"mechanism": "shadow"},
                     compare="gain", combine="geomean", at_least=0), POINTS)
    assert o.value == pytest.approx(0.0)
    assert "geometric mean of the per-point ratios over 2 points" in o.used


def test_a_list_in_where_selects_any_of_its_values() -> None:
    o = evaluate(row(where={"mechanism": ["shadow", "nested"], "workload": "a"},
                     combine="max", at_least=0), POINTS)
    assert o.value == 40.0


# --- missing values -----------------------------------------------------------------------------

def test_no_selected_point_is_missing_with_the_selector() -> None:
    o = evaluate(row(where={"mechanism": "selective"}, at_least=0), POINTS)
    assert (o.status, o.value, o.reason) == ("missing", None,
                                             "no done point has mechanism=selective")


def test_several_points_without_combine_are_missing_and_name_what_differs() -> None:
    o = evaluate(row(where={"mechanism": "shadow"}, at_least=0), POINTS)
    assert o.status == "missing"
    assert o.reason.startswith("where selects 2 points (they differ in workload)")


# Three layouts (seed) of two workloads: native and shadow, t (lower is better).
DRAWS = [pt(w, m, {"t": t}, n=1, seed=k)
         for w, m, ts in [("a", "native", (10.0, 12.0, 8.0)), ("a", "shadow", (20.0, 18.0, 16.0)),
                          ("b", "native", (10.0, 10.0, 10.0)), ("b", "shadow", (11.0, 12.0, 13.0))]
         for k, t in enumerate(ts)]


def test_replicates_are_one_setup_whose_value_is_their_mean() -> None:
    """Points that differ only in a replicate key are one setup: no ``combine`` is needed for
    them, and its value is the mean of theirs; a ratio pairs each draw with its partner of
    the same draw (a: 2.0, 1.5, 2.0) before the mean; ``combine`` then works over setups."""
    o = evaluate(row(where={"workload": "a", "mechanism": "native"}, expect=10, tolerance=0),
                 DRAWS, replicates=("seed",))
    assert (o.status, o.value) == ("pass", 10.0)
    assert o.used.endswith("; the mean over 3 replicates (seed = 0, 1, 2)")
    o = evaluate(row(where={"workload": "a", "mechanism": "shadow"},
                     baseline={"mechanism": "native"}, compare="ratio", at_least=0),
                 DRAWS, replicates=("seed",))
    assert o.value == pytest.approx((2.0 + 1.5 + 2.0) / 3)  # not 54 / 30
    o = evaluate(row(where={"mechanism": "shadow"}, baseline={"mechanism": "native"},
                     compare="ratio", combine="max", at_least=0), DRAWS, replicates=("seed",))
    assert o.value == pytest.approx((2.0 + 1.5 + 2.0) / 3)  # b's mean is 1.2
    assert "maximum of the per-point ratios over 2 points (a, b); each the mean over 3" in o.used
    # without replicates the draws are points of their own, as before
    o = evaluate(row(where={"workload": "a", "mechanism": "native"}, at_least=0), DRAWS)
    assert o.status == "missing" and "they differ in seed" in o.reason
    o = evaluate(row(where={"mechanism": "native"}, at_least=0), DRAWS, replicates=("seed",))
    assert o.status == "missing"
    assert o.reason.startswith("where selects 2 points (they differ in workload)")


def test_a_baseline_of_several_mechanisms_is_the_best_of_them_per_point() -> None:
    """"Better than the best of shadow and nested paging": native against the better of the
    two on each workload (a: nested 20, b: shadow 15), whatever parameters of their own the
    two have (cache, page)."""
    o = evaluate(row(where={"mechanism": "native"}, baseline={"mechanism": ["shadow", "nested"]},
                     compare="gain", combine="min", at_least=0), POINTS)
    assert (o.status, o.value) == ("pass", 0.5)  # min(20/10, 15/10) - 1
    assert "against the best of mechanism=shadow or nested" in o.used
    # partners that differ in anything else the two share are no "best of"
    points = [*POINTS, pt("a", "shadow", {"t": 1.0}, n=2, cache=4)]
    o = evaluate(row(where={"mechanism": "native", "workload": "a"},
                     baseline={"mechanism": ["shadow", "nested"], "n": [1, 2]},
                     compare="gain", at_most=0), points)
    assert o.status == "pass" and o.value == pytest.approx(-0.9)  # n listed: the best, 1.0
    o = evaluate(row(where={"mechanism": "native", "workload": "a"},
                     baseline={"mechanism": ["shadow", "nested"]}, compare="gain",
                     at_least=0), [*POINTS, pt("a", "shadow", {"t": 1.0}, n=1, cache=8)])
    assert o.status == "missing" and "differ in cache" in o.reason


def test_a_point_without_a_partner_is_missing() -> None:
    o = evaluate(row(where={"mechanism": "nested"}, baseline={"mechanism": "selective"},
                     compare="ratio", combine="mean", at_least=0), POINTS)
    assert o.status == "missing"
    assert o.reason == "no baseline point with mechanism=selective for a × nested on p"


def test_an_absent_metric_or_divisor_is_missing() -> None:
    assert evaluate(row(metric="u", where={"workload": "a", "mechanism": "native"},
                        at_least=0), POINTS).reason == "a × native on p has no metric 'u'"
    o = evaluate(row(where={"workload": "a", "mechanism": "native"}, per="workload.runs",
                     at_least=0), POINTS)
    assert o.reason == "a × native on p has no nonzero 'workload.runs' to divide by"


def test_per_divides_by_parameters_and_platform_costs() -> None:
    points = [pt("f", "native", {"cycles.total": 6.0e6}, key="k", **{"workload.iterations": 10})]
    r = row(metric="cycles.total", where={}, per=["workload.iterations", "platform.cpu.clock_mhz"],
            expect=150, tolerance_factor=2, unit="µs")
    o = evaluate(r, points, costs={"k": {"cpu.clock_mhz": 3000}})
    assert (o.status, o.value) == ("pass", 200.0)
    assert evaluate(r, points).status == "missing"  # no profile: no clock to divide by


def test_values_match_by_number_but_booleans_only_booleans() -> None:
    points = [pt("w", "m", {"t": 1.0}, levels=4, virtualized=True),
              pt("w", "m", {"t": 2.0}, levels=5, virtualized=1)]
    assert evaluate(row(where={"levels": 4.0}, at_least=0), points).value == 1.0
    assert evaluate(row(where={"virtualized": True}, at_least=0), points).value == 1.0


def test_summary_counts_each_status() -> None:
    outcomes = [evaluate(row(where={"workload": "a", "mechanism": "native"}, at_least=0),
                         POINTS),
                evaluate(row(where={"workload": "a", "mechanism": "native"}, at_most=0),
                         POINTS),
                evaluate(row(where={"mechanism": "x"}, at_most=0), POINTS)]
    assert summary(outcomes) == "1 of 3 rows pass; 1 fails; 1 is missing (no value)."


# --- the spec's syntax --------------------------------------------------------------------------

HEAD = '''version = 1
name = "v"
[workload]
name = "walks"
walks = 100
[mechanism]
name = "analytic-walk"
virtualized = [false, true]
'''
ROW = '''
[[validation]]
claim = "24 references"
source = "Gandhi et al., MICRO 2014"
metric = "walk.refs_per_walk"
where = { virtualized = true }
expect = 24
tolerance_abs = 0
'''


def spec_error(tmp_path: Path, text: str) -> tuple[Path, str]:
    path = tmp_path / "v.toml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_spec(path)
    message = str(info.value)
    assert "\n" not in message
    return path, message


def test_a_good_row_loads(tmp_path: Path) -> None:
    path = tmp_path / "v.toml"
    path.write_text(HEAD + ROW + ROW.replace("expect = 24\ntolerance_abs = 0", "at_least = 4"))
    spec = load_spec(path)
    assert [r["where"] for r in spec.validation] == [{"virtualized": True}] * 2
    assert spec.validation[1]["at_least"] == 4


def test_report_replicates_name_parameters_of_the_sweep(tmp_path: Path) -> None:
    path = tmp_path / "v.toml"
    path.write_text(HEAD + '[report]\nreplicates = ["virtualized"]\n' + ROW)
    assert load_spec(path).report["replicates"] == ["virtualized"]
    _, message = spec_error(tmp_path, HEAD + '[report]\nreplicates = ["cache.placement_sed"]\n')
    assert "[report]" in message or "report replicates" in message
    assert "'cache.placement_sed' is not a parameter of this sweep" in message
    _, message = spec_error(tmp_path, HEAD + '[report]\nreplicates = "virtualized"\n')
    assert "report replicates must be a list of strings" in message


@pytest.mark.parametrize(("edit", "line", "message"), [
    (("tolerance_abs = 0", "tolerance_abs = 0\ntolerence = 1"), 17,
     "unknown key 'tolerence'; did you mean 'tolerance'?"),
    (('claim = "24 references"\n', ""), 10, "a 'claim' key is required"),
    (('source = "Gandhi et al., MICRO 2014"', "source = 3"), 12,
     "source must be a non-empty string, got 3"),
    (("expect = 24\ntolerance_abs = 0", ""), 10, "an expectation is required"),
    (("tolerance_abs = 0", "tolerance_abs = 0\nat_most = 3"), 17,
     "gives both 'expect' and 'at_most'; one expectation per row"),
    (("tolerance_abs = 0", ""), 15, "expect needs a tolerance"),
    (("tolerance_abs = 0", "tolerance_abs = 0\ntolerance = 0.1"), 16,
     "gives both 'tolerance' and 'tolerance_abs'"),
    (("tolerance_abs = 0", "tolerance_factor = 0.5"), 16,
     "tolerance_factor must be a finite number >= 1, got 0.5"),
    (("expect = 24\ntolerance_abs = 0", "range = [3, 1]"), 15,
     "range must be [lo, hi], two finite numbers with lo <= hi, got [3, 1]"),
    (("expect = 24\ntolerance_abs = 0", "range = [1, 3]\ntolerance = 0.1"), 16,
     "tolerance goes with expect, not with range"),
    (("expect = 24", 'expect = "24"'), 15, "expect must be a finite number, got '24'"),
    (("where = { virtualized = true }", 'where = { virtualized = true }\ncompare = "gain"'), 15,
     "compare = 'gain' needs a 'baseline' table"),
    (("where = { virtualized = true }",
      'where = { virtualized = true }\nbaseline = { virtualized = false }'), 15,
     "a row with a baseline needs compare = 'ratio'"),
    (("where = { virtualized = true }", 'where = { virtualized = true }\ncombine = "average"'),
     15, "combine must be one of 'mean', 'geomean', 'min', 'max', got 'average'"),
    (("where = { virtualized = true }", 'where = { "guest.level" = 4 }'), 14,
     "where: 'guest.level' is not a parameter of this sweep; did you mean 'guest.levels'?"),
    (("where = { virtualized = true }", 'where = { mechanism = "analytic-wlak" }'), 14,
     "is not one of this sweep's (analytic-walk); did you mean 'analytic-walk'?"),
    (("where = { virtualized = true }", 'where = { "host.page_size" = "3K" }'), 14,
     "host.page_size"),
    (("where = { virtualized = true }", "where = { virtualized = [] }"), 14,
     "where virtualized: expected a value or a list of values"),
    (("where = { virtualized = true }", 'where = { virtualized = true }\nper = [1]'), 15,
     "per must be a name or a list of names, got [1]"),
    (("where = { virtualized = true }", ""), 10, "a 'where' table is required"),
])
def test_a_bad_row_is_one_line_naming_file_line_and_key(
        tmp_path: Path, edit: tuple[str, str], line: int, message: str) -> None:
    assert edit[0] in ROW
    path, got = spec_error(tmp_path, HEAD + ROW.replace(*edit, 1))
    assert got.startswith(f"{path}:{line}: [[validation]] row 1: "), got
    assert message in got, got


def test_the_second_row_is_found_by_its_own_line(tmp_path: Path) -> None:
    path, got = spec_error(tmp_path, HEAD + ROW + ROW.replace("metric =", "metrik ="))
    assert got.startswith(f"{path}:21: [[validation]] row 2: unknown key 'metrik'; did you "
                          "mean 'metric'?"), got


def test_a_suite_s_points_are_selected_by_their_mix_label(tmp_path: Path) -> None:
    head = ('version = 1\nname = "v"\n[workload]\nsuite = "switch-heavy"\n'
            '[mechanism]\nname = "native"\n')
    good = ROW.replace("{ virtualized = true }", '{ workload = "switch-heavy/multi-vm" }')
    path = tmp_path / "v.toml"
    path.write_text(head + good)
    assert load_spec(path).validation[0]["where"] == {"workload": "switch-heavy/multi-vm"}
    _, got = spec_error(tmp_path, head + good.replace("switch-heavy/multi-vm", "multi-vm"))
    assert got.endswith("where: workload 'multi-vm' is not one of this sweep's "
                        "(switch-heavy/context-switch, switch-heavy/multi-vm)"), got


def test_validation_must_be_an_array_of_tables(tmp_path: Path) -> None:
    path, got = spec_error(tmp_path, HEAD + '[validation]\nclaim = "c"\n')
    assert got == (f"{path}:9: validation rows must be tables: write each as [[validation]] "
                   "(an array of tables)")


# --- the report's section -----------------------------------------------------------------------

STORE_SPEC = f'''version = 1
name = "synthetic"
[[validation]]
claim = "Shadow costs 4x native {HOSTILE}"
source = "Adams & Agesen <b>2006</b>"
metric = "t"
where = {{ mechanism = "shadow" }}
baseline = {{ mechanism = "native" }}
compare = "ratio"
expect = 4
tolerance = 0.1
note = "a note with `code` and *stars*"

[[validation]]
claim = "Nested costs 1x native"
source = "nobody"
metric = "t"
where = {{ mechanism = "nested" }}
baseline = {{ mechanism = "native" }}
compare = "ratio"
at_most = 1
'''


def test_the_validation_section_comes_first_and_stays_text(tmp_path: Path) -> None:
    store = write_store(tmp_path / "s.sqlite", STORE_SPEC, [
        ("w", "native", {}, {"t": 10.0}), ("w", "shadow", {}, {"t": 40.0}),
        ("w", "nested", {}, {"t": 20.0})])
    document = build(load(store))
    assert [s.title for s in document.sections][:2] == ["Validation", "Summary"]
    md_path, html_path = write_report(store, tmp_path / "out")
    md, page = md_path.read_text(), html_path.read_text()
    section = md.split("## Validation")[1].split("## Summary")[0]
    assert "1 of 2 rows pass; 1 fails." in section
    assert HOSTILE not in section and "&lt;script&gt;alert(1)&lt;/script&gt;" in section
    assert "<b>" not in section and "\\`code\\` and \\*stars\\*" in section
    assert "| 2 | at most 1 | fail |" in section and "2 is above 1." in section
    assert "| 4 | 4 ± 10% (3.6 to 4.4) | pass |" in section
    assert "<script>alert" not in page and "&lt;b&gt;2006&lt;/b&gt;" in page
    assert '<table class="prose">' in page


def test_declared_replicates_are_averaged_in_the_rows_and_the_summary(tmp_path: Path) -> None:
    """``[report] replicates`` names draws of one setup (here ``layout``): the validation rows
    pair each draw with its partner and average, and the summary ranks the means, with
    their intervals, not each mechanism's luckiest draw."""
    spec = '[report]\nreplicates = ["layout"]\n' + STORE_SPEC
    points = [(w, m, {"layout": k}, {"t": t}) for w, m, ts in
              [("w", "native", (10.0, 10.0)), ("w", "shadow", (30.0, 50.0)),
               ("w", "nested", (8.0, 14.0))] for k, t in enumerate(ts)]
    data = load(write_store(tmp_path / "s.sqlite", spec, points))
    assert data.replicates() == ["layout"]
    shadow, nested = from_report(data)
    assert (shadow.status, shadow.value) == ("pass", 4.0)  # (3 + 5) / 2
    assert nested.status == "fail" and nested.value == pytest.approx(1.1)  # (0.8 + 1.4) / 2
    assert "the mean over 2 replicates (layout = 0, 1)" in nested.used
    text = write_report(tmp_path / "s.sqlite", tmp_path / "out")[0].read_text()
    summary = text.split("## Summary")[1]
    assert "means over 2 runs differing only in" in summary and "`layout`" in summary
    assert "at its best over" not in summary.split("\n\n")[1]  # no best layout per mechanism


def test_a_malformed_stored_row_names_the_store(tmp_path: Path) -> None:
    store = write_store(tmp_path / "s.sqlite", STORE_SPEC.replace("at_most = 1", "at_most = []"),
                        [("w", "native", {}, {"t": 10.0})])
    with pytest.raises(InputError) as info:
        from_report(load(store))
    assert str(info.value).startswith(f"{store}: synthetic.toml:")
    assert "row 2: at_most must be a finite number, got []" in str(info.value)


def test_no_rows_no_section(synthetic_store: Path) -> None:
    assert "Validation" not in [s.title for s in build(load(synthetic_store)).sections]


# --- end to end ---------------------------------------------------------------------------------

def test_a_tiny_validation_spec_runs_and_reports(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path / "cache"))
    spec = tmp_path / "v.toml"
    spec.write_text(HEAD + ROW + '''
[[validation]]
claim = "A nested walk costs 6x a native one"
source = "formula"
metric = "walk.refs_per_walk"
where = { virtualized = true }
baseline = { virtualized = false }
compare = "ratio"
expect = 6
tolerance = 0.01
why = "24 / 4"

[[validation]]
claim = "A 5-level walk"
source = "formula"
metric = "walk.refs_per_walk"
where = { "guest.levels" = 5 }
at_least = 5
''')
    store, out = tmp_path / "v.sqlite", tmp_path / "out"
    assert call("sweep", str(spec), "--store", str(store), "--executor", "serial",
                "--quiet")[0] == 0
    assert call("report", str(store), "--out", str(out))[0] == 0
    md = (out / "report.md").read_text()
    assert md.index("## Validation") < md.index("## Summary")
    assert "2 of 3 rows pass; 1 is missing (no value)." in md
    assert "| 24 | 24 exactly | pass |" in md
    assert "| 6 | 6 ± 1% (5.94 to 6.06) | pass | 24 / 4 |" in md
    assert "no done point has guest.levels=5" in md
