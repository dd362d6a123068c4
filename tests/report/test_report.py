"""Reports: every section present, numbers from the store, hostile strings escaped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from codesign.errors import InputError
from codesign.report import analysis, write_report
from codesign.report.data import Objective, load
from codesign.report.document import build
from tests.report.conftest import HOSTILE, write_store
from tests.test_cli import call


def test_every_section_is_present(synthetic_store: Path) -> None:
    document = build(load(synthetic_store))
    titles = [s.title for s in document.sections]
    assert titles == ["Summary", "Results", "Metrics against pt_writes", "Traps by reason",
                      "Cycle breakdown", "Pareto front", "Sensitivity to platform costs",
                      "Failed points", "Provenance"]


def test_numbers_match_the_store(synthetic_store: Path, tmp_path: Path) -> None:
    md = write_report(synthetic_store, tmp_path / "out", ["md"])[0].read_text()
    # Summary, per setting of the exit cost and x: at (1000, 1) shadow's 10 cycles against
    # nested's 30, a margin of 2/3; at (1000, 3) both 30: a tie, said as one.
    summary = md.split("## Summary")[1].split("## Results")[0]
    assert "| w | 1000 | 1 | shadow | 10 | nested | 30 | 66.7% |" in summary
    assert "| w | 1000 | 3 | tie: shadow, nested | 30 | nested | 30 | 0.0% (tie) |" in summary
    assert "| w | 2000 | 5 | 3.33x | best |" in summary  # shadow's slowdown: 100 / 30
    assert ("tie between `shadow`, `nested` at `(platform.vmexit.roundtrip, pt_writes)` = "
            "(1000, 3)") in summary
    # Crossovers: 10x = 30 at x = 3 (exit cost 1000), 20x = 30 at x = 1.5 (cost 2000).
    # One panel per exit cost (a setting both mechanisms share), lines within a panel only.
    assert ("Crossover on `cycles.per_ref` (platform.vmexit.roundtrip=1000): shadow is better "
            "below pt_writes ≈ 3, nested above.") in md
    assert ("Crossover on `cycles.per_ref` (platform.vmexit.roundtrip=2000): shadow is better "
            "below pt_writes ≈ 1.5, nested above.") in md
    # Traps at shadow's best point: 100 pt_write (cycles 100 x 1000) and 10 cr3_write.
    assert "| vmexit.pt_write | 100 | 90.9% | 100000 |" in md
    assert "| vmexit.cr3_write | 10 | 9.1% |  |" in md
    # Pareto: shadow at x=1, cost 1000 (10 cycles, no area) dominates every other point.
    front = md.split("## Pareto front")[1].split("##")[0]
    assert "at once: 1 of 20." in front and "| 1 | w | shadow | 1000 | 1 | 10 | 0 |" in front
    # Sensitivity: shadow wins at both exit costs, by 2/3 and by 1/3.
    sens = md.split("## Sensitivity to platform costs")[1].split("##")[0]
    assert "| 1000 | w | shadow | 10 | 66.7% |" in sens
    assert "| 2000 | w | shadow | 20 | 33.3% |" in sens
    assert md.count("Crossover on `cycles.per_ref`") == 2  # like against like only
    assert "21 design points: 20 done, 1 failed." in md


def test_hostile_strings_stay_text(synthetic_store: Path, tmp_path: Path) -> None:
    md_path, html_path = write_report(synthetic_store, tmp_path / "out")
    md, page = md_path.read_text(), html_path.read_text()
    prose = md.split("### Sweep spec")[0]
    assert HOSTILE not in prose and "&lt;script&gt;alert(1)&lt;/script&gt;" in prose
    assert "<script>alert" not in page and page.count("<script>") == 1  # only our own
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_plots_are_files_beside_the_markdown_and_inline_in_html(synthetic_store: Path,
                                                                 tmp_path: Path) -> None:
    md_path, html_path = write_report(synthetic_store, tmp_path / "out")
    links = re.findall(r"!\[[^\]]*\]\((report-files/[^)]+\.svg)\)", md_path.read_text())
    assert len(links) == 4  # two metrics against x, the cycle breakdown, the Pareto front
    for link in links:
        assert (md_path.parent / link).read_text().startswith("<svg")
    page = html_path.read_text()
    assert page.count("<svg") == 4
    # nothing is fetched: no external scripts, styles, images or fonts (URIs in the SVGs
    # are XML namespaces and metadata, which a browser does not load)
    assert not re.search(r"<(link|img|iframe)\b|src=|url\((?!#)", page)


def test_report_is_deterministic(synthetic_store: Path, tmp_path: Path) -> None:
    first = [p.read_bytes() for p in write_report(synthetic_store, tmp_path / "a")]
    second = [p.read_bytes() for p in write_report(synthetic_store, tmp_path / "b")]
    assert first == second
    svgs = sorted((tmp_path / "a" / "report-files").iterdir())
    assert [p.read_bytes() for p in svgs] == [
        p.read_bytes() for p in sorted((tmp_path / "b" / "report-files").iterdir())]


def test_report_command_formats(synthetic_store: Path, tmp_path: Path) -> None:
    status, out, _ = call("report", str(synthetic_store), "--out", str(tmp_path / "h"),
                          "--format", "html")
    assert status == 0 and out.strip().endswith("report.html")
    assert not (tmp_path / "h" / "report.md").exists()
    status, _, err = call("report", str(synthetic_store), "--format", "pdf")
    assert status == 2 and "--format: expected a comma-separated list of md, html" in err
    with pytest.raises(InputError, match="no such store"):
        write_report(tmp_path / "missing.sqlite", tmp_path)


def test_pareto_against_brute_force() -> None:
    import numpy as np

    rng = np.random.default_rng(3)
    rows = [{"metrics": {"a": float(a), "b": float(b), "c": float(c)}}
            for a, b, c in rng.integers(0, 6, size=(300, 3))]
    objectives = [Objective("a"), Objective("b", maximize=True), Objective("c")]
    front = analysis.pareto(rows, objectives)

    def dominates(p: dict, q: dict) -> bool:
        pa, qa = p["metrics"], q["metrics"]
        no_worse = pa["a"] <= qa["a"] and pa["b"] >= qa["b"] and pa["c"] <= qa["c"]
        better = pa["a"] < qa["a"] or pa["b"] > qa["b"] or pa["c"] < qa["c"]
        return no_worse and better

    expected = [r for r in rows if not any(dominates(o, r) for o in rows)]
    assert sorted(map(id, front)) == sorted(map(id, expected)) and 0 < len(front) < 300


def test_crossover_on_a_pow2_axis_interpolates_in_log_space() -> None:
    rows = [{"workload": "w", "mechanism": m, "platform": "p", "params": {"n": n},
             "metrics": {"y": y}} for m, n, y in
            [("a", 16, 1.0), ("a", 64, 5.0), ("a", 256, 9.0),
             ("b", 16, 3.0), ("b", 64, 3.0), ("b", 256, 3.0)]]
    lines = analysis.series(rows, "y", "n", "mechanism")
    (crossing,) = analysis.crossovers(lines, maximize=False)
    # a - b goes from -2 at 16 to +2 at 64: halfway in log2 space is 32
    assert (crossing.better_below, crossing.better_above, crossing.at) == ("a", "b", 32.0)
    (maximizing,) = analysis.crossovers(lines, maximize=True)
    assert (maximizing.better_below, maximizing.better_above) == ("b", "a")


def test_lines_level_within_a_percent_do_not_cross() -> None:
    """Two paths that both carry the offered load differ by rounding, not by a lead."""
    rows = [{"workload": "w", "mechanism": m, "platform": "p", "params": {"x": x},
             "metrics": {"y": y}} for m, x, y in
            [("a", 1, 2.01), ("a", 2, 4.00), ("a", 3, 6.01), ("a", 4, 9.0),
             ("b", 1, 2.00), ("b", 2, 4.01), ("b", 3, 6.00), ("b", 4, 7.0)]]
    assert analysis.crossovers(analysis.series(rows, "y", "x", "mechanism"), True) == []
    rows[3]["metrics"]["y"] = 6.5  # a real swap: a leads by 2 % at x=3, trails at x=4
    rows[2]["metrics"]["y"] = 6.2
    (crossing,) = analysis.crossovers(analysis.series(rows, "y", "x", "mechanism"), True)
    assert (crossing.better_below, crossing.better_above) == ("a", "b")


def test_saturated_winners_are_marked_and_unpriced_traps_have_no_cycles_column(
        tmp_path: Path) -> None:
    """A NIC-like store: per frame size and load, the winner on CPU per packet; a point that
    dropped frames says so; traps without per-reason cycles show no empty cycles column."""
    spec = ('version = 1\nname = "n"\n[report]\nmetrics = ["cycles_per_packet"]\n'
            'objectives = ["cycles_per_packet"]\nx = "load"\ngroup = "mechanism"\n')
    points = []
    for rate in (1, 2, 4):
        for frame in (64, 1518):
            for mech, cpp, drops in (("a", 1000.0 + frame, 0 if rate < 4 else 500),
                                     ("b", 1500.0 - frame / 2, 0)):
                points.append(("fixed", mech, {"load": rate, "frame": frame},
                               {"cycles_per_packet": cpp, "drops": drops, "packets": 1000,
                                "traps.total": 2, "traps.vmexit.eoi": 2}))
    store = write_store(tmp_path / "n.sqlite", spec, points)
    md = write_report(store, tmp_path / "out", ["md"])[0].read_text()
    summary = md.split("## Summary")[1].split("## Results")[0]
    # 64 B: a (1064) beats b (1468); 1518 B: b (741) beats a (2518); a drops half at load 4.
    assert "| fixed | 64 | 4 | a (drops 50.0%) | 1064 | b | 1468 | 27.5% |" in summary
    assert "| fixed | 1518 | 1 | b | 741 | a | 2518 | 70.6% |" in summary
    assert "`a` wins at `(frame, load)` = (64, 1), (64, 2), (64, 4)" in summary
    # 2 traps per 1000 frames: a rate of 0.002 per frame next to the count.
    assert "| vmexit.eoi | 2 | 0.002 | 100.0% |\n" in md
    assert "| reason | count | per frame | share |\n" in md
    # Plots: a panel per frame size (never a line mixing 64 and 1518 B), drops said.
    plots_part = md.split("## Metrics against load")[1].split("## ")[0]
    assert "One panel per workload and setting of `frame`; one line per `mechanism`." \
        in plots_part
    assert "hollow marker" in plots_part and "Crossover" not in plots_part


def test_a_zipped_two_value_axis_gets_bars_and_no_interpolated_crossover(
        tmp_path: Path) -> None:
    """x (ntlb) takes two values zipped with pwc: one axis, drawn as bars per workload, and
    no crossover interpolated between the two settings even where the order flips."""
    spec = ('version = 1\nname = "z"\n[report]\nmetrics = ["cycles_per_ref"]\n'
            'objectives = ["cycles_per_ref"]\nx = "ntlb"\ngroup = "mechanism"\n')
    points = [(w, m, {"ntlb": n, "pwc": p}, {"cycles_per_ref": c})
              for w in ("gups", "zipf")
              for (n, p), (cs, cn) in (((0, 0), (10.0, 20.0)), ((16, 32), (15.0, 12.0)))
              for m, c in (("shadow", cs), ("nested", cn))]
    md = write_report(write_store(tmp_path / "z.sqlite", spec, points), tmp_path / "out",
                      ["md"])[0].read_text()
    part = md.split("## Metrics against ntlb")[1].split("\n## ")[0]
    assert "One panel per workload; one line per `mechanism`; `ntlb` moves together with " \
        "`pwc` (one zipped axis)." in part
    assert "Crossover" not in part
    svg = (tmp_path / "out" / "report-files" / "cycles_per_ref-vs-ntlb.svg").read_text()
    assert "ntlb (with pwc)" in svg and "gups" in svg and "zipf" in svg


def test_a_pareto_front_of_near_equal_points_is_listed_within_a_tolerance(
        tmp_path: Path) -> None:
    """30 points on a front whose neighbours differ by 0.1%: the report lists at most ten,
    says the tolerance, and the ten stand for every front point within it."""
    spec = ('version = 1\nname = "p"\n[report]\nobjectives = ["c", "a"]\n'
            'metrics = ["c", "a"]\ngroup = "mechanism"\n')
    points = [("w", "m", {"i": i}, {"c": 100.0 * 1.001 ** i, "a": 100.0 / 1.05 ** i})
              for i in range(30)]
    md = write_report(write_store(tmp_path / "p.sqlite", spec, points), tmp_path / "o",
                      ["md"])[0].read_text()
    front = md.split("## Pareto front")[1].split("##")[0]
    assert "at once: 30 of 30; the " in front
    listed = [line for line in front.splitlines() if line.startswith("| ") and
              line.split("|")[1].strip().isdigit()]
    assert 2 <= len(listed) <= 10
    eps = float(front.split("stand for them within ")[1].split("%")[0]) / 100
    kept = [(float(r.split("|")[-3]), float(r.split("|")[-2])) for r in listed]
    for c, a in ((p[3]["c"], p[3]["a"]) for p in points):
        assert any(kc <= c * (1 + eps) + 1e-9 and ka <= a * (1 + eps) + 1e-9
                   for kc, ka in kept), (c, a)


def test_log_axes_are_labelled_with_plain_numbers() -> None:
    """Mathtext is left unparsed in the SVGs, so log tick labels must not be mathtext: a
    write fraction of 0.001 to 0.1 (log10) and TLB sizes (log2) read as numbers."""
    from codesign.report.analysis import Series
    from codesign.report.plots import line_plot

    for xs, labels in (((0.001, 0.01, 0.1), ("0.001", "0.01", "0.1")),
                       ((32.0, 64.0, 128.0), ("32", "64", "128"))):
        svg = line_plot([Series("a", "a", xs, (1.0, 2.0, 3.0))], "cycles_per_ref", "x")
        assert "mathdefault" not in svg and "$" not in svg
        assert all(f">{label}<" in svg for label in labels), labels
