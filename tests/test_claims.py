"""Claims (codesign.report.claims): the orderings a spec's comments and description state,
checked on hand-made rows (holds, fails with the reason, missing, ties, wins, tiers, a
``where`` with a list, maximized metrics), on a report's data (the Summary's settings, a
quick run's skips), and on the bundled walk-cost spec run end to end. The studies' quick
modes and the demo check their own claims (tests/test_studies.py, tests/test_cli.py)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from codesign.errors import InputError
from codesign.report import claims
from codesign.report.axes import comparison_axes
from codesign.report.claims import Claim, ClaimOutcome, evaluate
from codesign.report.data import Objective, ReportData, load
from codesign.sweep.runner import run_sweep
from codesign.sweep.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parent.parent
LOW = Objective("c")


def pt(workload: str, mechanism: str, c: float | None, **params: Any) -> dict[str, Any]:
    metrics = {} if c is None else {"c": c, "gbps": 100.0 / c}
    return {"workload": workload, "mechanism": mechanism, "platform": "p",
            "params": dict(params), "metrics": metrics}


# Two workloads, walk caches off and on: nested loses without them and wins with them on
# "gups"; on "fork" nested wins both, and selective matches nested everywhere.
ROWS = [
    pt("gups", "shadow", 100.0, pwc=0), pt("gups", "nested", 120.0, pwc=0),
    pt("gups", "selective", 121.0, pwc=0),
    pt("gups", "shadow", 100.0, pwc=32), pt("gups", "nested", 80.0, pwc=32),
    pt("gups", "selective", 80.5, pwc=32),
    pt("fork", "shadow", 300.0, pwc=0), pt("fork", "nested", 150.0, pwc=0),
    pt("fork", "selective", 150.0, pwc=0),
    pt("fork", "shadow", 300.0, pwc=32), pt("fork", "nested", 140.0, pwc=32),
    pt("fork", "selective", 140.0, pwc=32),
]


def claim(**given: Any) -> Claim:
    return Claim.parse({"says": "s", **given})


def check(rows: list[dict[str, Any]] = ROWS, objectives: tuple[Objective, ...] = (LOW,),
          **given: Any) -> ClaimOutcome:
    """The claim's outcome on ``rows``, settings per ``pwc``, on its metric (or the first of
    the report's ``objectives``)."""
    c = claim(**given)
    return evaluate(c, rows, c.objective(objectives), "mechanism", by=["pwc"])


def test_an_order_that_holds_at_every_setting_the_where_leaves() -> None:
    o = check(where={"pwc": 32}, order=["nested", "shadow"])
    assert (o.status, o.reason, o.settings) == ("holds", "", 2)


def test_a_failing_order_says_where_it_broke_with_both_values() -> None:
    o = check(order=["nested", "shadow"])
    assert o.status == "fails" and o.settings == 4
    assert o.reason == "at gups, pwc=0: nested 120 is worse than shadow 100"


def test_beating_means_by_more_than_the_summarys_tie() -> None:
    o = check(where={"workload": "gups", "pwc": 32}, order=["nested", "selective"])
    assert o.status == "fails"
    assert o.reason == "at gups, pwc=32: nested 80 and selective 80.5 tie (within 2%)"


def test_where_with_a_list_is_any_of_its_values() -> None:
    o = check(where={"workload": ["fork", "nowhere"]}, order=["nested", "shadow"])
    assert (o.status, o.settings) == ("holds", 2)
    o = check(where={"workload": ["gups"], "pwc": [0, 32]}, order=["nested", "shadow"])
    assert (o.status, o.settings) == ("fails", 2)
    assert o.reason == "at gups, pwc=0: nested 120 is worse than shadow 100"


def test_several_failures_are_counted_in_the_reason() -> None:
    rows = ROWS + [pt("zipf", "shadow", 10.0, pwc=0), pt("zipf", "nested", 20.0, pwc=0)]
    o = check(rows, where={"pwc": 0}, order=["nested", "shadow"])
    assert o.reason == "at gups, pwc=0: nested 120 is worse than shadow 100 (and 1 more setting)"


def test_wins_beats_every_other_group_present() -> None:
    assert check(where={"workload": "fork"}, wins="nested").status == "fails"  # selective ties
    o = check(where={"workload": "fork", "mechanism": ["nested", "shadow"]}, wins="nested")
    assert (o.status, o.settings) == ("holds", 2)
    o = check(where={"pwc": 0}, wins="shadow")
    assert o.reason == "at fork, pwc=0: shadow 300 is worse than nested 150"
    o = check(where={"mechanism": ["shadow", "nested"], "workload": "gups", "pwc": 0},
              wins="shadow")
    assert (o.status, o.settings) == ("holds", 1)
    o = check(where={"mechanism": "nested"}, wins="nested")
    assert o.status == "missing" and o.reason.startswith(
        "at gups, pwc=0: nested is the only mechanism with a value")


def test_ties_are_within_the_summarys_tolerance_of_the_best_of_them() -> None:
    o = check(ties=["selective", "nested"])
    assert (o.status, o.settings) == ("holds", 4)
    o = check(ties=["shadow", "nested"])
    assert o.status == "fails"
    assert o.reason == ("at gups, pwc=0: shadow 100 and nested 120 differ by 16.7%, not within "
                        "2% (and 3 more settings)")


def test_tiers_each_group_beats_each_of_the_next_tier() -> None:
    o = check(where={"workload": "fork"}, order=[["nested", "selective"], "shadow"])
    assert o.status == "holds"
    # the tier's worst against the next tier's best
    o = check(where={"workload": "gups", "pwc": 0}, order=[["shadow", "nested"], "selective"])
    assert o.reason == "at gups, pwc=0: nested 120 and selective 121 tie (within 2%)"


def test_missing_when_nothing_is_selected_or_a_group_has_no_value() -> None:
    o = check(where={"workload": "zipf"}, order=["nested", "shadow"])
    assert (o.status, o.reason) == ("missing", "no done point has workload=zipf")
    o = check(order=["nested", "pv-direct"])
    assert o.status == "missing"
    assert o.reason == "at gups, pwc=0: pv-direct has no c (and 3 more settings)"
    # a group whose point lacks the metric has no value there
    rows = [*ROWS, pt("fork", "pv-direct", None, pwc=0)]
    assert check(rows, where={"workload": "fork", "pwc": 0},
                 order=["nested", "pv-direct"]).reason == "at fork, pwc=0: pv-direct has no c"
    assert evaluate(claim(wins="nested"), ROWS, None, "mechanism").reason == (
        "the report has no objective to compare on")


def test_a_failure_anywhere_outweighs_a_missing_value() -> None:
    rows = [*ROWS, pt("zipf", "nested", 5.0, pwc=0)]  # no shadow on zipf: missing there
    o = check(rows, order=["shadow", "nested"])
    assert o.status == "fails" and o.reason.startswith("at gups, pwc=32: shadow 100 is worse")


def test_a_maximized_metric_reverses_the_order() -> None:
    # gbps = 100 / c: higher is better, by the metric's prefix or by the report's objective
    o = check(where={"pwc": 32}, metric="max:gbps", order=["nested", "shadow"])
    assert (o.status, o.objective) == ("holds", Objective("gbps", maximize=True))
    o = check(where={"pwc": 32}, metric="gbps", order=["nested", "shadow"])
    assert (o.status, o.objective) == ("fails", Objective("gbps"))  # unknown: minimized
    assert o.reason == "at gups, pwc=32: nested 1.25 is worse than shadow 1 (and 1 more setting)"
    o = check(where={"pwc": 32}, objectives=(LOW, Objective("gbps", True)), metric="gbps",
              order=["nested", "shadow"])
    assert o.status == "holds"
    # the first objective, maximized
    o = check(where={"pwc": 32}, objectives=(Objective("gbps", True),), wins="nested")
    assert o.status == "fails" and "selective" in o.reason  # tie with selective
    known = Claim("s", "wins", (("x",),), metric="throughput.gbps").objective([])
    assert known == Objective("throughput.gbps", maximize=True)


def test_a_group_that_is_a_parameter_matches_by_value() -> None:
    rows = [{"workload": "w", "mechanism": "nested", "platform": "p",
             "params": {"pwc.entries": e, "l1": l1}, "metrics": {"c": c}}
            for e, l1, c in [(0, 32, 228.0), (8, 32, 186.0), (32, 32, 183.0),
                             (0, 64, 227.0), (8, 64, 186.0), (32, 64, 183.0)]]
    order = Claim.parse({"says": "s", "order": [8, 0]})
    assert evaluate(order, rows, LOW, "pwc.entries", ["l1"]).status == "holds"
    ties = Claim.parse({"says": "s", "ties": [32, 8]})
    assert evaluate(ties, rows, LOW, "pwc.entries", ["l1"]).settings == 2


def test_a_where_parameter_a_point_lacks_does_not_apply_to_it() -> None:
    rows = [pt("w", "multiqueue", 3740.0), pt("w", "sriov", 4450.0, posted=False),
            pt("w", "sriov", 2424.0, posted=True)]
    # sriov at its best (posted) wins; with posted = false, multiqueue beats it
    assert evaluate(claim(wins="sriov"), rows, LOW, "mechanism").status == "holds"
    o = evaluate(claim(where={"posted": False}, order=["multiqueue", "sriov"]), rows, LOW,
                 "mechanism")
    assert o.status == "holds"


def data_of(rows: list[dict[str, Any]], spec: dict[str, Any], text: str = "") -> ReportData:
    return ReportData("s.sqlite", {"name": "t", "spec_path": "t.toml", "spec_text": text},
                      spec, rows, [], {}, {}, dict(spec.get("report", {})))


def test_the_settings_are_the_summarys_and_a_quick_run_skips_what_it_leaves_out() -> None:
    spec = {"report": {"objectives": ["c"]}, "claim": [
        {"says": "nested wins with walk caches", "where": {"pwc": 32},
         "order": ["nested", "shadow"]},
        {"says": "selective is nested", "ties": ["selective", "nested"]},
        {"says": "shadow wins without", "where": {"pwc": 0, "workload": "gups"},
         "order": ["shadow", "nested"], "quick": False},
        {"says": "pv-direct", "wins": "pv-direct"},
        {"says": "zipf", "where": {"workload": "zipf"}, "wins": "nested"}]}
    data = data_of(ROWS, spec)
    assert claims.summary_axes(data) == ["pwc"]
    full = claims.from_report(data)
    assert [o.status for o in full] == ["holds", "holds", "holds", "missing", "missing"]
    quick = claims.from_report(data_of(ROWS, spec, 'name = "t"\n# --set pwc=0\n# --set x=1'))
    assert [o.status for o in quick] == ["holds", "holds", "skipped", "skipped", "skipped"]
    assert [o.reason for o in quick[2:]] == [
        "checked on the full study only: this run has --set overrides",
        "this run (with --set overrides) has no pv-direct",
        "this run (with --set overrides) has no point with workload=zipf"]
    assert claims.overrides(data_of(ROWS, spec, 'name = "t"\n# --set pwc=0\n')) == ["pwc=0"]
    assert claims.summary(quick) == "2 of 5 claims hold; 3 are skipped."
    header, *_ = [claims.HEADER]
    rows = claims.table_rows(full)
    assert all(len(r) == len(header) for r in rows)
    assert rows[0] == ["nested wins with walk caches",
                       "nested beats shadow on c (lower is better)", "pwc=32", "2", "holds", ""]
    assert rows[3][4:] == ["missing", "at gups, pwc=0: pv-direct has no c (and 3 more "
                           "settings)."]


def test_the_summary_axes_are_the_summarys_own() -> None:
    # The claims' settings are the Summary's: the zipped pair (x, y) is one axis, the seed
    # is averaged, the group's own knob is no setting.
    rows = [{"workload": w, "mechanism": m, "platform": "p",
             "params": {"x": x, "y": 10 * x, "seed": 1, **({"own": 1} if m == "b" else {})},
             "metrics": {"c": 1.0}} for w in ("u", "v") for m in ("a", "b") for x in (1, 2)]
    data = data_of(rows, {"report": {"x": "x"}})
    assert claims.summary_axes(data) == comparison_axes(data)[0] == ["x"]


def test_a_malformed_stored_claim_names_the_store() -> None:
    data = data_of(ROWS, {"claim": [{"says": "s", "oder": ["a", "b"]}]})
    with pytest.raises(InputError, match=r"^s.sqlite: t.toml: \[\[claim\]\] row 1: unknown"):
        claims.from_report(data)
    assert claims.from_report(data_of(ROWS, {})) == []


def test_a_spec_run_end_to_end_checks_its_claims(tmp_path: Path) -> None:
    spec = parse_spec({"version": 1, "name": "t", "workload": {"name": "walks", "walks": 10},
                       "mechanism": {"name": "analytic-walk", "virtualized": [False, True]},
                       "hardware": {"guest.levels": [4, 5], "host.levels": 4},
                       "report": {"objectives": ["walk.refs_per_walk"],
                                  "group": "virtualized"},
                       "claim": [{"says": "a native walk is shorter", "order": [False, True]},
                                 {"says": "backwards", "order": [True, False]}]})
    store = tmp_path / "t.sqlite"
    run_sweep(spec, store, executor="serial", stream=io.StringIO())
    got = claims.from_report(load(store))
    assert [(o.status, o.settings) for o in got] == [("holds", 2), ("fails", 2)]
    assert got[1].reason == ("at walks, guest.levels=4: true 24 is worse than false 4 (and 1 "
                             "more setting)")


def test_the_bundled_walk_cost_spec_holds_to_its_claims(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path / "cache"))
    store = tmp_path / "walk-cost.sqlite"
    run_sweep(load_spec(ROOT / "codesign" / "specs" / "walk-cost.toml"), store,
              executor="serial", stream=io.StringIO())
    outcomes = claims.from_report(load(store))
    assert outcomes and all(o.status == "holds" for o in outcomes), claims.table_rows(outcomes)
