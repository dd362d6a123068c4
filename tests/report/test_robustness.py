"""Reports on hostile and unusual input: Markdown that stays text under a real CommonMark
renderer, [report] options checked against the stored metrics, ``$`` in plot labels, and the
report's helpers against brute-force references on large random stores."""

from __future__ import annotations

import json
import random
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from codesign.errors import InputError
from codesign.report import analysis, markdown, write_report
from codesign.report.data import Objective, ReportData, load, value
from codesign.report.document import Code, Document, Mono, Section, Table, Text
from tests.report.conftest import write_store
from tests.test_cli import call

IMG = "<img src=x onerror=alert(1)>"
RENDERER = MarkdownIt("commonmark").enable(["table", "strikethrough"])


class Tags(HTMLParser):
    """Every element of an HTML fragment with its attributes, and the text of each block."""

    BLOCKS = ("h1", "h2", "h3", "p", "th", "td", "pre")

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.blocks: list[tuple[str, str]] = []
        self._open: list[list[str]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in self.BLOCKS:
            self._open.append([tag, ""])

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCKS and self._open:
            self.blocks.append(tuple(self._open.pop()))  # type: ignore[arg-type]

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][1] += data


def rendered(md: str) -> Tags:
    return Tags(RENDERER.render(md))


def words(text: str) -> str:
    """Text with line ends and runs of white space as one space (as a paragraph shows it)."""
    return " ".join(text.split())


# --- 1. no user string becomes Markdown or HTML -------------------------------------------

HOSTILE_TEXT = f"a `code\n\n{IMG}` *em* _u_ [l](javascript:x) <b>b</b> &amp; | ~~s~~ $x$ #"
HOSTILE_PATH = f"spec`\n\n{IMG}.toml"
HOSTILE_SPEC = f'''version = 1
name = "n{IMG}"
description = """{HOSTILE_TEXT}"""
[report]
title = "t {IMG} `x\\n\\n{IMG}`"
metrics = ["m.{IMG}", "c`\\n\\n{IMG}`"]
objectives = ["m.{IMG}", "max:c`\\n\\n{IMG}`"]
x = "x{IMG}"
'''


def hostile_store(path: Path) -> Path:
    """Every string a user controls, hostile: spec text and file name, names, parameter keys
    and values, metric names, error messages."""
    points = []
    for mechanism in (f"m`\n\n{IMG}`", f"*{IMG}*"):
        for x in (1, 2, 3):
            for mode in (f"`\n\n{IMG}`", f"[a]({IMG})"):
                metrics = {f"m.{IMG}": float(x * (2 if mechanism[0] == "*" else 3)),
                           f"c`\n\n{IMG}`": float(x), f"traps.{IMG}": 3.0,
                           f"cycles.{IMG}": 5.0, "cycles.total": 5.0}
                points.append((f"w`\n\n{IMG}`", mechanism,
                               {f"x{IMG}": x, f"k`{IMG}`": mode,
                                f"platform.{IMG}": x % 2}, metrics))
    points.append((f"w{IMG}", "m", {f"x{IMG}": 9}, f"ValueError: `\n\n{IMG}` {HOSTILE_TEXT}"))
    return write_store(path, HOSTILE_SPEC, points, name=f"n{IMG}", spec_path=HOSTILE_PATH)


ALLOWED = {"h1", "h2", "h3", "p", "code", "pre", "table", "thead", "tbody", "tr", "th", "td",
           "img"}


def test_markdown_has_no_raw_html_from_any_user_string(tmp_path: Path) -> None:
    store = hostile_store(tmp_path / f"s`\n\n{IMG}.sqlite")
    md_path, html_path = write_report(store, tmp_path / "out")
    tags = rendered(md_path.read_text())
    # No element the report does not make itself: no raw HTML, no link, no emphasis.
    assert {t for t, _ in tags.tags} <= ALLOWED
    images = [attrs for tag, attrs in tags.tags if tag == "img"]
    assert len(images) == 4 and all(a["src"].startswith("report-files/") for a in images)
    assert all(set(a) == {"src", "alt"} for a in images)  # an onerror= would be a third
    texts = [words(text) for _, text in tags.blocks]
    # ... and what the user wrote is there as text, whole.
    assert words(HOSTILE_TEXT) in texts  # the description
    assert f"Store {words(str(store))}: 12 points done, 1 failed. Sweep n{IMG} from " \
           f"{words(HOSTILE_PATH)}," in " ".join(texts)
    assert any(words(f"ValueError: `\n\n{IMG}` {HOSTILE_TEXT}") == t for t in texts)
    assert f"x{IMG}" in texts and f"k`{IMG}`" in texts and f"m.{IMG}" in texts
    page = html_path.read_text()
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_markdown_code_spans_hold_backticks_and_newlines_as_text() -> None:
    doc = Document("t", [Text(["a ", Mono(f"`\n\n{IMG}`"), " b ", Mono("``x``"), Mono(" ")])],
                   [])
    text, _ = markdown.render(doc)
    tags = rendered(text)
    assert [t for t, _ in tags.tags] == ["h1", "p", "code", "code"]
    assert ("p", f"a ` {IMG}` b ``x``") in [(t, words(x)) for t, x in tags.blocks]


def test_markdown_spec_block_is_verbatim_whatever_its_fences() -> None:
    spec = f"a = 1\n```\n{IMG}\n````toml\r# x\rb = '~~~'\n"
    text, _ = markdown.render(Document("t", [], [Section("S", [Code(spec, "toml")])]))
    tags = rendered(text)
    assert [t for t, _ in tags.tags] == ["h1", "h2", "pre", "code"]
    assert tags.blocks[-1] == ("pre", spec.replace("\r", "\n") + "\n")


def test_markdown_paragraph_that_looks_like_a_block_stays_a_paragraph() -> None:
    for start in ("- a", "+ a", "* a", "1. a", "2) a", "---", "# a", "> a", "    code", "| a |",
                  "<div>", "```", "~~~", "[a]: /url", "===", "\ta"):
        text, _ = markdown.render(Document("t", [start], []))
        tags = rendered(text)
        assert [t for t, _ in tags.tags] == ["h1", "p"], start
        assert tags.blocks[-1] == ("p", start.strip()), start


UNSAFE = "ab1 \n\r\t`*_[]()<>|&#!-+=.\\$~:/\"'é×"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=UNSAFE, max_size=24), min_size=9, max_size=9))
def test_markdown_renders_any_string_as_itself(strings: list[str]) -> None:
    title, lead, before, name, after, section, head, cell, spec = strings
    doc = Document(title, [lead, Text([before, Mono(name), after])],
                   [Section(section, [Table([head, "b"], [[cell, "1"]]), Code(spec)])])
    text, _ = markdown.render(doc)
    tags = rendered(text)
    structure = [t for t, _ in tags.tags]
    spans = 1 if name.strip(" \r\n") else 0  # blanks are no code span, just blanks
    paragraphs = [x for x, coded in ((lead, False), (before + name + after, spans > 0))
                  if words(x) or coded]
    assert [t for t in structure if t != "code"] == [
        "h1", *["p"] * len(paragraphs), "h2", "table", "thead", "tr", "th", "th", "tbody", "tr",
        "td", "td", "pre"]
    assert structure.count("code") == spans + 1  # the span, the block
    blocks = [(t, x) for t, x in tags.blocks]
    expected = [("h1", title), *[("p", x) for x in paragraphs], ("h2", section),
                ("th", head), ("th", "b"), ("td", cell), ("td", "1")]
    assert [(t, words(x)) for t, x in blocks[:-1]] == [(t, words(x)) for t, x in expected]
    assert blocks[-1] == ("pre", re.sub(r"\r\n?", "\n", spec) + "\n")


def test_markdown_keeps_names_legible() -> None:
    """Escaping is for what could be markup: the names a report is full of stay as written."""
    assert markdown.escape("steady-state/zipf-64m cycles_per_ref (x=1.5, y=2)") == \
        "steady-state/zipf-64m cycles_per_ref (x=1.5, y=2)"


# --- 2. the report's helpers are right on large random stores ------------------------------

def reference_varying(rows: list[dict], params: list[str]) -> list[str]:
    return [k for k in params if len({json.dumps(r["params"].get(k)) for r in rows}) > 1]


def reference_defining(rows: list[dict], varying: list[str]) -> list[str]:
    by_label: dict[str, set[str]] = {}
    for r in rows:
        for k in varying:
            if k.startswith("workload."):
                by_label.setdefault(k, set()).add(json.dumps([r["workload"],
                                                              r["params"].get(k)]))
    labels = {r["workload"] for r in rows}
    return [k for k, pairs in by_label.items() if len(pairs) == len(labels) > 1]


def random_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    labels = [f"w{i}" for i in range(7)]
    own = {w: rng.choice([1, 2, 2.0, True, None, "2", "s"]) for w in labels}
    rows = []
    for _ in range(n):
        w = rng.choice(labels)
        params = {"workload.own": own[w],  # defines the workload
                  "workload.seed": rng.randrange(3),  # varies within a workload
                  "workload.one": 4,  # the same everywhere
                  "x": rng.choice([1, 2, 4, 8]), "t": rng.choice([1, 1.0, True])}
        if rng.random() < 0.5:
            params["only.some"] = 3  # absent elsewhere: varying
        if rng.random() < 0.1:
            params["workload.sparse"] = own[w]
        rows.append({"workload": w, "mechanism": rng.choice("abc"), "platform": "p",
                     "params": params, "metrics": {"y": float(rng.randrange(20)),
                                                   "z": float(rng.randrange(5))}})
    return rows


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_varying_and_defining_match_a_brute_force_reference(seed: int) -> None:
    rows = random_rows(3000, seed)
    data = ReportData("s", {"name": "s"}, {}, rows, [], {}, {})
    varying = reference_varying(rows, data.params())
    assert data.varying() == varying and "t" in varying and "workload.one" not in varying
    assert data.defining() == reference_defining(rows, varying)
    assert data.defining() == ["workload.own"]
    assert data.fixed() == {"workload.one": 4}
    assert data.varying() is not data.varying()  # a caller cannot change what is cached


def test_winners_match_a_per_workload_reference() -> None:
    rows = random_rows(3000, 4)
    for objective in (Objective("y"), Objective("z", maximize=True)):
        got = analysis.winners(rows, objective, "mechanism")
        for w in got:
            members = [r for r in rows if r["workload"] == w.workload]
            expected = []
            for name in dict.fromkeys(r["mechanism"] for r in members):
                best = analysis.best_row([r for r in members if r["mechanism"] == name],
                                         objective)
                expected.append((name, best["metrics"][objective.metric], best))
            expected.sort(key=lambda t: t[1] * (-1 if objective.maximize else 1))
            assert list(w.ranking) == expected
        assert [w.workload for w in got] == list(dict.fromkeys(r["workload"] for r in rows))


def test_winners_per_setting_match_a_reference_and_call_ties() -> None:
    rows = random_rows(3000, 6)
    objective = Objective("y")
    got = analysis.winners(rows, objective, "mechanism", by=["x"], tie=0.05)
    seen = set()
    for w in got:
        (_key, at), = w.setting
        seen.add((w.workload, at))
        members = [r for r in rows if r["workload"] == w.workload and r["params"]["x"] == at]
        best = {}
        for r in members:
            v = r["metrics"].get("y")
            if v is not None and (r["mechanism"] not in best or v < best[r["mechanism"]]):
                best[r["mechanism"]] = v
        assert [v for _, v, _ in w.ranking] == sorted(best.values())
        low = min(best.values())
        assert set(w.tied) == {m for m, v in best.items() if v == low or abs(v - low) / abs(v)
                               < 0.05}
        if low != 0:
            assert w.slowdown(low) == 1.0
    assert seen == {(r["workload"], r["params"]["x"]) for r in rows
                    if r["metrics"].get("y") is not None}


def test_sensitivity_groups_each_cost_value() -> None:
    rows = random_rows(2000, 5)
    for r in rows:
        r["params"]["platform.cost"] = r["params"]["x"] * 100
    steps = analysis.sensitivity(rows, Objective("y"), "mechanism")
    assert list(steps) == ["platform.cost"]
    assert [v for v, _ in steps["platform.cost"]] == [100, 200, 400, 800]
    for v, ws in steps["platform.cost"]:
        subset = [r for r in rows if r["params"]["platform.cost"] == v]
        assert ws == analysis.winners(subset, Objective("y"), "mechanism")


def reference_series(rows: list[dict], metric: str, x: str, group: str,
                     maximize: bool) -> list[analysis.Series]:
    """The first implementation: a pass over the rows per parameter, JSON for each value."""
    usable = [r for r in rows if isinstance(value(r, x), int | float)
              and not isinstance(value(r, x), bool) and metric in r["metrics"]]
    others = [k for k in dict.fromkeys(k for r in usable for k in r["params"])
              if k not in (x, group)
              and len({json.dumps(r["params"][k]) for r in usable
                       if r["params"].get(k) is not None}) > 1]
    for name in ("workload", "platform"):
        if name != group and len({r[name] for r in usable}) > 1:
            others.insert(0, name)

    def label(v: object) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v)

    def context(r: dict) -> tuple[str, ...]:
        return tuple(f"{k}={label(value(r, k))}" for k in others if value(r, k) is not None)

    lines: dict = {}
    contexts = len({context(r) for r in usable})
    collapse = len({(label(value(r, group)), context(r)) for r in usable}) > analysis.MAX_LINES
    for r in usable:
        points = lines.setdefault((label(value(r, group)), () if collapse else context(r)), {})
        xv, yv = float(value(r, x)), float(r["metrics"][metric])
        if xv not in points or (yv > points[xv] if maximize else yv < points[xv]):
            points[xv] = yv
    return [analysis.Series(name if not ctx else f"{name} ({', '.join(ctx)})", name,
                            tuple(sorted(p)), tuple(p[v] for v in sorted(p)),
                            contexts if collapse else 1, ctx)
            for (name, ctx), p in lines.items()]


def narrow_rows(n: int, seed: int) -> list[dict]:
    """Few lines: two mechanisms, one parameter beside x that varies (1, 1.0 and true)."""
    rng = random.Random(seed)
    return [{"workload": "w", "mechanism": rng.choice("ab"), "platform": "p",
             "params": {"x": rng.choice([1, 2, 4]), "t": rng.choice([1, 1.0, True]),
                        **({"only.some": 3} if rng.random() < 0.5 else {})},
             "metrics": {"y": float(rng.randrange(20)), "z": float(rng.randrange(5))}}
            for _ in range(n)]


@pytest.mark.parametrize(("rows", "group"), [(narrow_rows(500, 6), "mechanism"),
                                             (random_rows(3000, 6), "mechanism"),
                                             (random_rows(3000, 7), "t")])
def test_series_match_a_brute_force_reference(rows: list[dict], group: str) -> None:
    for r in rows[::7]:
        r["params"]["x"] = "not a number"  # such rows are on no line
    data = ReportData("s", {"name": "s"}, {}, rows, [], {}, {})
    for metric, maximize in (("y", False), ("z", True)):
        expected = reference_series(rows, metric, "x", group, maximize)
        assert analysis.series(rows, metric, "x", group, maximize) == expected
        assert analysis.series(rows, metric, "x", group, maximize, data.varying()) == expected
    if len(rows) == 500:  # one line per mechanism and value of t, told apart by type
        assert {s.context for s in expected} == {("t=1",), ("t=1.0",), ("t=true",)}
    else:  # too many: each group's best at each x
        assert min(s.best_of for s in expected) > 1


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_pareto_matches_brute_force_for_each_number_of_objectives(k: int) -> None:
    rng = random.Random(k)
    names = "abcd"[:k]
    rows = [{"metrics": {n: float(rng.randrange(8)) for n in names}} for _ in range(400)]
    rows[5]["metrics"]["a"] = float("nan")  # no value: not on the front, beats nothing
    objectives = [Objective(n, maximize=i % 2 == 1) for i, n in enumerate(names)]
    sign = {o.metric: -1.0 if o.maximize else 1.0 for o in objectives}

    def no_worse(p: dict, q: dict) -> bool:
        return all(p["metrics"][n] * sign[n] <= q["metrics"][n] * sign[n] for n in names)

    usable = [r for r in rows if r is not rows[5]]
    expected = [r for r in usable
                if not any(no_worse(o, r) and not no_worse(r, o) for o in usable)]
    front = analysis.pareto(rows, objectives)
    assert sorted(map(id, front)) == sorted(map(id, expected))
    assert [r["metrics"]["a"] for r in front] == sorted(r["metrics"]["a"] for r in front)


# --- 3. [report] objectives and metrics name stored metrics ---------------------------------

def spec_with(report: str) -> str:
    return f'version = 1\nname = "s"\n[report]\n{report}\n'


POINTS = [("w", m, {"x": x}, {"cycles.per_ref": 10.0 * x, "hw.area_mm2": 1.0})
          for m in ("a", "b") for x in (1, 2)]


@pytest.mark.parametrize(("report", "message"), [
    ('objectives = ["no.such.metric"]',
     "[report] objectives of spec.toml: no done point has metric 'no.such.metric' (they "
     "have cycles.per_ref, hw.area_mm2)"),
    ('objectives = ["max:cycles.per_reff"]',
     "[report] objectives of spec.toml: no done point has metric 'cycles.per_reff'; did you "
     "mean 'cycles.per_ref'?"),
    ('metrics = ["cycles.per_ref", "hw.area"]',
     "[report] metrics of spec.toml: no done point has metric 'hw.area'; did you mean "
     "'hw.area_mm2'?"),
    ('objectives = ["max:"]', "[report] objectives of spec.toml: objective 'max:': expected "
     "'metric', 'min:metric' or 'max:metric'"),
    ('objectives = ["cycles.per_ref", ""]', "[report] objectives of spec.toml: objective '': "
     "expected 'metric', 'min:metric' or 'max:metric'"),
    ('objectives = ["min:"]', "objective 'min:': expected"),
    ('metrics = "cycles.per_ref"', "[report] metrics of spec.toml: expected a list of "
     "strings, got 'cycles.per_ref'"),
])
def test_unknown_or_malformed_report_metric_is_an_input_error(tmp_path: Path, report: str,
                                                               message: str) -> None:
    store = write_store(tmp_path / "s.sqlite", spec_with(report), POINTS, spec_path="spec.toml")
    with pytest.raises(InputError) as info:
        write_report(store, tmp_path / "out")
    assert message in str(info.value) and str(store) in str(info.value)
    status, _, err = call("report", str(store), "--out", str(tmp_path / "cli"))
    assert status == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_known_report_metrics_pass(tmp_path: Path) -> None:
    report = 'metrics = ["hw.area_mm2"]\nobjectives = ["min:cycles.per_ref", "max:hw.area_mm2"]'
    store = write_store(tmp_path / "s.sqlite", spec_with(report), POINTS)
    data = load(store)
    assert data.metrics() == ["hw.area_mm2"]
    assert data.objectives() == [Objective("cycles.per_ref"), Objective("hw.area_mm2", True)]


@pytest.mark.parametrize("failed", [True, False])
def test_report_of_a_sweep_with_no_done_point_renders(tmp_path: Path, failed: bool) -> None:
    report = 'metrics = ["cycles.per_ref"]\nobjectives = ["cycles.per_ref", "max:hw.area"]'
    points = [("w", "a", {"x": 1}, "ValueError: boom")] if failed else []
    store = write_store(tmp_path / "s.sqlite", spec_with(report), points, keys=["k1", "k2"])
    md = write_report(store, tmp_path / "out")[0].read_text()
    assert "No point of this sweep is done yet" in md
    assert f"{int(failed)} design points: 0 done, {int(failed)} failed." in md
    assert ("## Failed points" in md) == failed
    with pytest.raises(InputError, match="objective 'max:'"):  # a malformed one still is not
        write_report(write_store(tmp_path / "t.sqlite", spec_with('objectives = ["max:"]'),
                                 points), tmp_path / "out2")


# --- 4. a $ in what plots draw --------------------------------------------------------------

def test_dollar_signs_in_names_params_and_metrics_still_give_plots(tmp_path: Path) -> None:
    spec = spec_with('metrics = ["cycles$_$"]\nobjectives = ["cycles$_$", "max:area$$"]\n'
                     'x = "x$^$"')
    points = [(w, m, {"x$^$": x, "mode": mode},
               {"cycles$_$": float(x * (1 if m == "$_$" else 2)) + len(mode),
                "area$$": float(x), "cycles.$x^$": 3.0, "cycles.other": 1.0})
              for w in ("a$b$c", "$$") for m in ("$_$", "n$") for x in (1, 2, 4)
              for mode in ("$x$", "$a_b_c$")]
    store = write_store(tmp_path / "s.sqlite", spec, points)
    md_path, html_path = write_report(store, tmp_path / "out")
    svgs = sorted((tmp_path / "out" / "report-files").iterdir())
    assert [p.name for p in svgs] == ["cycle-breakdown.svg", "cycles-_-vs-x.svg", "pareto.svg"]
    drawn = " ".join(p.read_text() for p in svgs)
    for text in ("a$b$c", "$_$", "mode=$a_b_c$", "cycles$_$", "x$^$", "cycles.$x^$"[7:]):
        assert text in drawn, text  # drawn as written, not as mathtext
    assert html_path.read_text().count("<svg") == 3
    assert "cycles\\$\\_\\$" in md_path.read_text()  # and a literal $ in the Markdown


def test_backticks_in_plain_strings_are_not_code() -> None:
    """The document model has no markup: a str is text, so backticks in one stay backticks."""
    text, _ = markdown.render(Document("t", ["`a`"], [Section("S", [Table(["`h`"], [["`c`"]])])]))
    tags = rendered(text)
    assert "code" not in [t for t, _ in tags.tags]
    assert [x for _, x in tags.blocks] == ["t", "`a`", "S", "`h`", "`c`"]
