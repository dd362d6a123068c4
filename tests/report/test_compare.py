"""The comparison of two stores: matching, deltas, verdicts, errors, the CLI, escaping.

The stores are made the way a user makes them: a tiny sweep run twice, once with a platform
cost changed; the expected deltas are read from the stores' SQLite directly, not through the
report's own loader.
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from codesign.errors import InputError
from codesign.report.compare import (
    build,
    changes,
    labels_for,
    match,
    relative,
    write_comparison,
)
from codesign.report.data import load
from codesign.report.markdown import render
from codesign.sweep.runner import run_sweep
from codesign.sweep.spec import parse_spec
from codesign.sweep.store import Store
from tests.report.conftest import HOSTILE, write_store
from tests.test_cli import call

METRICS = ("walk.refs_per_walk", "cycles.per_walk", "latency.p99_cycles")


def _sweep(path: Path, *, latency: float | None = None, walks: int = 1000,
           platform: str | None = None) -> Path:
    """The tiny sweep into ``path``: walks × analytic-walk, native and virtualized, guest
    levels 4 and 5; ``latency`` overrides the platform's memory latency."""
    table: dict[str, Any] = {}
    if latency is not None:
        table["memory.latency"] = latency
    if platform is not None:
        table["name"] = platform
    data: dict[str, Any] = {"version": 1, "name": "tiny",
                            "workload": {"name": "walks", "walks": walks},
                            "mechanism": {"name": "analytic-walk",
                                          "virtualized": [False, True]},
                            "hardware": {"guest": {"levels": [4, 5]}}}
    if table:
        data["platform"] = table
    run_sweep(parse_spec(data), path, executor="serial", stream=io.StringIO())
    return path


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """base and again: the same sweep twice; slow: memory.latency 200 -> 300 cycles."""
    tmp = tmp_path_factory.mktemp("stores")
    return {"base": _sweep(tmp / "base.sqlite"), "again": _sweep(tmp / "again.sqlite"),
            "slow": _sweep(tmp / "slow.sqlite", latency=300),
            "other": _sweep(tmp / "other.sqlite", walks=500),
            "modern": _sweep(tmp / "modern.sqlite", platform="modern-x86")}


def _points(path: Path) -> dict[str, dict[str, float]]:
    """Metrics of the done points of a store, keyed by workload, mechanism and parameters
    without the platform overrides (read with sqlite3, not with the report's loader)."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT workload, mechanism, params, metrics FROM points "
                          "WHERE status = 'done'").fetchall()
    out = {}
    for workload, mechanism, params, metrics in rows:
        kept = {k: v for k, v in json.loads(params).items() if not k.startswith("platform.")}
        out[json.dumps([workload, mechanism, kept], sort_keys=True)] = json.loads(metrics)
    return out


def _markdown(a: Path, b: Path, labels: tuple[str, str] = ("A", "B")) -> str:
    return render(build(load(a), load(b), labels))[0]


def test_identical_stores_say_identical(stores: dict[str, Path]) -> None:
    md = _markdown(stores["base"], stores["again"])
    assert "No verdict changed: the winner is the same in all 4 settings" in md
    for metric in METRICS:
        assert f"### {metric}" in md
    assert md.count("Identical on all 4 compared points.") == len(METRICS)
    assert "points changed by more than" not in md and "Unchanged" not in md
    assert "no cost constant differs between them" in md
    assert "Each compared point is the very same design point in both stores" in md
    assert "same spec text" in md
    assert "## Change per mechanism" not in md  # nothing to plot


def test_changed_cost_gives_the_deltas_read_from_the_stores(stores: dict[str, Path]) -> None:
    a, b = stores["base"], stores["slow"]
    pa, pb = _points(a), _points(b)
    assert set(pa) == set(pb) and len(pa) == 4
    matched = match(load(a), load(b))
    assert len(matched.pairs) == 4 and not matched.only_a and not matched.only_b
    assert matched.compared == ("platform.memory.latency",)
    md = _markdown(a, b, ("old", "new"))
    for metric in METRICS:
        expected = sorted((pa[k][metric], pb[k][metric]) for k in pa)
        got = changes(matched.pairs, metric)
        assert sorted((c.a, c.b) for c in got) == expected
        for c in got:
            assert c.delta == c.b - c.a
            assert c.relative == pytest.approx((c.b - c.a) / abs(c.a))
    # Every walk is memory references at the memory latency: 200 -> 300 cycles is +50%,
    # the reference counts do not move and the winner stays.
    cycles = sorted((pa[k]["cycles.per_walk"], pb[k]["cycles.per_walk"]) for k in pa)
    assert all(new == pytest.approx(old * 1.5) for old, new in cycles)
    for old, new in cycles:
        assert (f"| {old:g} | {new:g} | {new - old:g} | +50.00% | worse |") in md
    assert "4 of 4 points changed by more than 0.1%; lower is better." in md
    assert "Identical on all 4 compared points." in md  # walk.refs_per_walk
    assert "No verdict changed" in md
    lead = md.split("## Verdicts")[0]
    assert "`memory.latency` 200 cycles in old" in lead and "300 cycles in new" in lead
    assert "source: assumption: one DRAM reference" in lead  # the profile's own source
    assert "source: override (set by the sweep or --set)" in lead
    assert "## Change per mechanism" in md
    assert "![relative change of cycles.per_walk](report-files/" in md


def test_a_tiny_change_is_unchanged_not_identical(tmp_path: Path) -> None:
    def store(name: str, per_ref: float) -> Path:
        return write_store(tmp_path / f"{name}.sqlite", 'version = 1\nname = "s"\n', [
            ("w", "m", {"x": 1}, {"cycles.per_ref": 100.0}),
            ("w", "m", {"x": 2}, {"cycles.per_ref": per_ref})])

    md = _markdown(store("a", 200.0), store("b", 200.0 * (1 + 1e-5)))
    assert "Unchanged: no point changed by more than 0.1% (1 of 2 differ by less" in md
    assert "Identical" not in md.split("### cycles.per_ref")[1]


def _flip_store(path: Path, nested: float, xs: range = range(1, 4)) -> Path:
    """shadow costs 10·x, nested a flat ``nested``: shadow wins where 10·x < nested."""
    return write_store(path, 'version = 1\nname = "flip"\n[report]\nobjectives = '
                       '["cycles.per_ref"]\n', [
                           ("w", mech, {"pt_writes": x},
                            {"cycles.per_ref": 10.0 * x if mech == "shadow" else nested})
                           for mech in ("shadow", "nested") for x in xs])


def test_verdict_changes_are_the_headline(tmp_path: Path) -> None:
    # A: nested at 25 beats shadow from x = 3 (30). B: nested at 15 beats it from x = 2.
    a = _flip_store(tmp_path / "a.sqlite", 25.0)
    b = _flip_store(tmp_path / "b.sqlite", 15.0)
    md = _markdown(a, b, ("old", "new"))
    verdicts = md.split("## Verdicts")[1].split("## Matching")[0]
    assert "The winner changed in 1 of 3 settings" in verdicts
    assert ("| workload | pt_writes | winner old | cycles.per_ref (cycles/reference) old | "
            "winner new | cycles.per_ref (cycles/reference) new |") in verdicts
    assert "| w | 2 | shadow | 20 | nested | 15 |" in verdicts
    assert md.index("## Verdicts") < md.index("## Matching") < md.index("## Changes")


def test_failed_points_and_one_sided_metrics_are_said(tmp_path: Path) -> None:
    a = _flip_store(tmp_path / "a.sqlite", 25.0)
    b = write_store(tmp_path / "b.sqlite", 'version = 1\nname = "flip"\n[report]\n'
                    'objectives = ["cycles.per_ref", "hw.area_mm2"]\n', [
                        ("w", mech, {"pt_writes": x},
                         "Boom" if (mech, x) == ("nested", 3) else
                         {"cycles.per_ref": 10.0 * x if mech == "shadow" else 25.0,
                          "hw.area_mm2": 1.0})
                        for mech in ("shadow", "nested") for x in range(1, 4)])
    md = _markdown(a, b, ("old", "new"))
    assert ("5 points are done in both stores and compared; 0 only in old, 0 only in new; "
            "1 more is in both but failed in one or both (not compared).") in md
    assert "No verdict to compare on `hw.area_mm2`: only new's compared points have it." in md
    assert "No compared point has `hw.area_mm2` in both stores (only new's do)." in md
    assert "Each compared point is the very same design point in both stores" in md


def test_unmatched_points_are_listed_briefly(tmp_path: Path) -> None:
    a = _flip_store(tmp_path / "a.sqlite", 25.0)
    b = _flip_store(tmp_path / "b.sqlite", 25.0, range(1, 10))  # 6 more x, two mechanisms
    md = _markdown(a, b)
    assert "6 points are done in both stores and compared; 0 only in A, 12 only in B." in md
    line = next(x for x in md.splitlines() if x.startswith("Only in B: "))
    assert line.count("×") == 10 and line.endswith("; and 2 more.")
    assert "Only in A" not in md


def test_platform_names_may_differ(stores: dict[str, Path]) -> None:
    md = _markdown(stores["base"], stores["modern"])
    assert "`kvm-nehalem` in A, `modern-x86` in B (the names differ; points are matched " \
           "regardless of them)" in md
    assert "4 of 4 points changed by more than 0.1%" in md
    assert "| memory.latency | 200 cycles | 270 cycles |" in md


def test_disjoint_stores_are_one_line_error(stores: dict[str, Path]) -> None:
    with pytest.raises(InputError) as caught:
        build(load(stores["base"]), load(stores["other"]))
    message = str(caught.value)
    assert "\n" not in message and "no design point in common" in message
    assert str(stores["base"]) in message and str(stores["other"]) in message
    assert "workload.walks = 1000" in message  # why they do not match
    status, _, err = call("compare", str(stores["base"]), str(stores["other"]), "--out",
                          str(stores["base"].parent / "never"))
    assert status == 2 and err.count("\n") == 1 and err.startswith("codesign: error: ")
    assert not (stores["base"].parent / "never").exists()


def test_bad_stores_and_options_are_one_line_errors(stores: dict[str, Path],
                                                    tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite"
    Store.open(empty).close()
    cases = [([str(tmp_path / "nope.sqlite"), str(stores["base"])], "no such store"),
             ([str(stores["base"]), str(empty)], "holds no sweep"),
             ([str(stores["base"]), str(stores["again"]), "--labels", "one"], "--labels"),
             ([str(stores["base"]), str(stores["again"]), "--format", "pdf"], "--format")]
    for args, expected in cases:
        status, _, err = call("compare", *args, "--out", str(tmp_path / "out"))
        assert status == 2, args
        assert err.count("\n") == 1 and expected in err and "Traceback" not in err, err
    with pytest.raises(InputError, match="two different names"):
        labels_for("a", "b", "same,same")


def test_cli_writes_markdown_html_and_plot(stores: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    status, stdout, err = call("compare", str(stores["base"]), str(stores["slow"]), "--out",
                               str(out), "--labels", "old,new")
    assert status == 0, err
    assert stdout.splitlines() == [f"report: {out / 'report.md'}",
                                   f"report: {out / 'report.html'}"]
    md = (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    assert md.startswith("# Comparison: old vs new")
    assert list((out / "report-files").glob("*.svg"))
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "+50.00%" in page
    # Default folder: <A>-vs-<B> beside A; default labels: the file names.
    status, stdout, _ = call("compare", str(stores["base"]), str(stores["slow"]), "--format",
                             "html")
    assert status == 0
    default = stores["base"].parent / "base-vs-slow" / "report.html"
    assert stdout.strip() == f"report: {default}"
    assert "Comparison: base vs slow" in default.read_text()


def test_hostile_strings_are_escaped(tmp_path: Path) -> None:
    spec = f'version = 1\nname = "x"\ndescription = "{HOSTILE}"\n'
    points: list[tuple[str, str, Mapping[str, Any], Mapping[str, float]]] = [
        (HOSTILE, HOSTILE, {"x": 1}, {"cycles.per_ref": 1.0})]
    a = write_store(tmp_path / "a.sqlite", spec, points, name=HOSTILE)
    b = write_store(tmp_path / "b.sqlite", spec,
                    [(w, m, p, {"cycles.per_ref": 2.0}) for w, m, p, _ in points], name=HOSTILE)
    md_path, html_path = write_comparison(a, b, tmp_path / "out",
                                          labels=(HOSTILE, "<b>new</b>"))
    page = html_path.read_text()
    assert "<script>alert" not in page and page.count("<script>") == 1  # only our own
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<b>new" not in page
    prose = md_path.read_text().split("### Sweep spec")[0]
    # Plain text is escaped; names are code spans, which Markdown shows verbatim.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in prose and "&lt;b&gt;new" in prose
    assert f"`{HOSTILE}`" in prose and HOSTILE not in prose.replace(f"`{HOSTILE}`", "")


def test_relative_change_edges() -> None:
    assert relative(2.0, 3.0) == 0.5 and relative(-2.0, -3.0) == -0.5
    assert relative(0.0, 1.0) == float("inf") and relative(5.0, 5.0) == 0.0
    nan = float("nan")
    assert relative(nan, nan) == 0.0 and relative(1.0, nan) != relative(1.0, nan)


def test_a_metric_table_shows_the_largest_changes_only(tmp_path: Path) -> None:
    def store(name: str, scale: float) -> Path:
        return write_store(tmp_path / f"{name}.sqlite", 'version = 1\nname = "s"\n', [
            ("w", "m", {"x": x}, {"cycles.per_ref": 100.0 * x * scale ** x})
            for x in range(1, 26)])

    md = _markdown(store("a", 1.0), store("b", 1.01))
    assert "25 of 25 points changed by more than 0.1% (the 20 largest shown)" in md
    table = [line for line in md.split("### cycles.per_ref")[1].splitlines()
             if line.startswith("| w |")]
    assert len(table) == 20 and table[0].startswith("| w | m | 25 |")  # 1.01^25: largest
