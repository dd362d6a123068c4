"""The command line as a user meets it: outputs, exit codes, one-line errors."""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from codesign.cli import main
from tests.conftest import run_cli


def call(*args: str) -> tuple[int, str, str]:
    """Run the CLI in-process (fast) and capture its output."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()


def test_run_json_contract() -> None:
    status, out, _ = call("run", "--workload", "walks", "--mechanism", "analytic-walk",
                          "--set", "guest.levels=5", "--set", "host.levels=5",
                          "--set", "workload.walks=1000", "--json")
    assert status == 0
    record = json.loads(out)
    assert set(record) == {"key", "params", "metrics"}
    assert len(record["key"]) == 64
    assert record["params"]["guest.levels"] == 5 and record["params"]["workload.walks"] == 1000
    assert record["params"]["mechanism"] == "analytic-walk"
    assert record["metrics"]["walk.refs_per_walk"] == 35.0
    assert record["metrics"]["cycles.total"] == 35 * 1000 * 200.0


def test_run_human_output_and_platform_override() -> None:
    status, out, _ = call("run", "--workload", "walks", "--mechanism", "analytic-walk",
                          "--set", "virtualized=false", "--set", "platform.memory.latency=100")
    assert status == 0
    assert "walks × analytic-walk @ kvm-nehalem" in out
    assert "cycles.per_walk" in out and "400" in out


def test_user_platform_file(tmp_path: Path) -> None:
    profile = tmp_path / "mine.toml"
    profile.write_text('schema = 1\nname = "mine"\n[costs]\n"memory.latency" = '
                       '{ value = 90, unit = "cycles", source = "measured with lmbench" }\n')
    status, out, _ = call("run", "--workload", "walks", "--mechanism", "analytic-walk",
                          "--platform", str(profile), "--json")
    assert status == 0
    assert json.loads(out)["metrics"]["cycles.per_walk"] == 24 * 90.0


def test_list_shows_entries_and_parameters() -> None:
    status, out, _ = call("list")
    assert status == 0
    for text in ("walks", "analytic-walk", "kvm-nehalem", "guest.levels", "workload.seed",
                 "an integer from 2 to 5", "(when virtualized=true)"):
        assert text in out
    status, out, _ = call("list", "platforms")
    assert "kvm-svm" in out and "analytic-walk" not in out
    assert "platform.vmexit.roundtrip          2,000 cycles" in out


def test_list_params_of_one_mechanism_or_workload() -> None:
    status, out, _ = call("list", "params", "nested")
    assert status == 0
    assert "mechanism nested:" in out and "mechanism shadow:" not in out
    assert "workload " not in out and "ntlb.entries" in out
    assert "platform costs it reads (platform.<cost>=VALUE): " in out
    status, out, _ = call("list", "params", "forkwait")
    assert status == 0 and "workload forkwait:" in out and "mechanism" not in out.split(
        "\n", 2)[1]
    status, _, err = call("list", "params", "nestd")
    assert status == 2
    assert err.strip() == ("codesign: error: list params: no workload or mechanism 'nestd'; "
                           "did you mean 'nested'? (codesign list shows them)")
    status, _, err = call("list", "workloads", "nested")
    assert status == 2 and "only 'codesign list params NAME' takes a name" in err


def test_listing_states_the_geometry_rule_the_check_enforces() -> None:
    _, out, _ = call("list", "params", "nested")
    line = next(x for x in out.splitlines() if x.strip().startswith("tlb.l2.entries "))
    assert "tlb.l2.ways x a power of two" in line
    status, _, err = call("run", "--workload", "forkwait", "--mechanism", "nested",
                          "--set", "tlb.l2.entries=510", "--set", "hw.cost=false")
    # kvm-nehalem's STLB is 4-way (its hardware defaults)
    assert status == 2 and "tlb.l2.entries: expected a multiple of tlb.l2.ways (4)" in err


def test_dry_run_counts_and_shows_points() -> None:
    spec = Path(__file__).parent.parent / "examples" / "walk-cost.toml"
    status, out, _ = call("sweep", str(spec), "--dry-run", "--show", "2")
    assert status == 0
    first = out.splitlines()[0]
    assert first == "sweep 'walk-cost': 40 points (60 combinations, 20 merged as duplicates)"
    assert out.count("walks × analytic-walk") == 2 and "... and 38 more" in out


def test_results_csv_and_json(tmp_path: Path) -> None:
    spec = tmp_path / "r.toml"
    spec.write_text('version = 1\nname = "r"\n[workload]\nname = "walks"\nwalks = 10\n'
                    '[mechanism]\nname = "analytic-walk"\nguest.levels = [4, 5]\n')
    store = tmp_path / "r.sqlite"
    assert call("sweep", str(spec), "--store", str(store), "--executor", "serial",
                "--quiet")[0] == 0
    status, out, _ = call("results", str(store), "--format", "json")
    records = json.loads(out)
    assert status == 0 and len(records) == 2
    assert sorted(r["metrics"]["walk.refs_per_walk"] for r in records) == [24.0, 29.0]
    status, out, _ = call("results", str(store))
    header = out.splitlines()[0].split(",")
    assert header[:5] == ["key", "status", "workload", "mechanism", "platform"]
    assert "guest.levels" in header and "walk.refs_per_walk" in header
    assert len(out.splitlines()) == 3


def test_report_command(tmp_path: Path) -> None:
    spec = tmp_path / "r.toml"
    spec.write_text('version = 1\nname = "r"\n[workload]\nname = "walks"\nwalks = 10\n'
                    '[mechanism]\nname = "analytic-walk"\nguest.levels = [4, 5]\n'
                    '[report]\ntitle = "<script>alert(1)</script>"\n')
    store = tmp_path / "r.sqlite"
    call("sweep", str(spec), "--store", str(store), "--executor", "serial", "--quiet")
    status, out, _ = call("report", str(store), "--out", str(tmp_path / "rep"))
    text = (tmp_path / "rep" / "report.md").read_text()
    assert status == 0 and "report.md" in out
    prose, fenced_spec = text.split("### Sweep spec")
    assert "# &lt;script&gt;alert(1)&lt;/script&gt;" in prose and "<script>" not in prose
    assert fenced_spec.count("```") == 2  # the spec is shown verbatim, inside a code block
    assert "| 29 |" in text and "Landau et al., SplitX" in text


def test_demo_end_to_end(tmp_path: Path) -> None:
    result = run_cli("demo", "--out", str(tmp_path / "demo"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "computed 50 / reused 0 / failed 0" in result.stdout
    report = (tmp_path / "demo" / "report.md").read_text()
    assert report.startswith("# Quickstart: shadow vs paravirtual vs nested paging")
    assert "50 design points: 50 done, 0 failed." in report
    # the comparison the demo is for: every trap table of the three, and the crossover
    # without walk caches, where a 1D mechanism's walks win back the TLB-miss-heavy end
    # (with the data cache on the walk path, pv-direct's rather than shadow's: shadow paging
    # also pays an exit per guest PTE write there)
    for mech in ("shadow", "pv-direct", "nested", "selective", "agile"):
        assert f"### mmap-churn × {mech}" in report
    assert "| vmexit.pt_write |" in report and "| hypercall.mmu_update |" in report
    assert re.search(r"Crossover on `cycles_per_ref` \(ntlb.entries=0, pwc.entries=0\): nested"
                     r" is better below workload.refs_per_cycle ≈ [0-9.]+, "
                     r"(shadow|pv-direct)", report)
    for name in ("report.md", "report.html"):
        assert f"report: {tmp_path / 'demo' / name}" in result.stdout
        assert f"report: {tmp_path / 'demo' / 'net' / name}" in result.stdout
    # ... then the network one: the five ways a packet reaches a guest
    assert "computed 30 / reused 0 / failed 0" in result.stdout
    net = (tmp_path / "demo" / "net" / "report.md").read_text()
    assert net.startswith("# Quickstart, network: emulated vs paravirtual vs multi-queue")
    for mech in ("emulated", "pv-split", "multiqueue", "sriov", "vhost"):
        assert f"### fixed × {mech}" in net
    assert "| sriov |" in net.split("## Summary")[1].split("##")[0]  # least CPU per packet
    # ... and every ordering the two quickstart specs' comments state ([[claim]] rows) holds
    from codesign.report import claims
    from codesign.report.data import load

    for store in ("quickstart.sqlite", "net/quickstart-net.sqlite"):
        outcomes = claims.from_report(load(tmp_path / "demo" / store))
        assert outcomes and all(o.status == "holds" for o in outcomes), claims.table_rows(
            outcomes)


def test_the_packaged_specs_are_the_examples() -> None:
    """``codesign demo`` runs the copies packaged in ``codesign/specs``; the README points
    users at ``examples/``: the two must not drift apart."""
    root = Path(__file__).parent.parent
    for name in ("quickstart.toml", "quickstart-net.toml", "walk-cost.toml"):
        assert (root / "codesign" / "specs" / name).read_bytes() == (
            root / "examples" / name).read_bytes(), name


BAD_INPUT = [
    (["sweep", "SPEC", "--jobs", "0"], "--jobs: expected a whole number >= 1, got 0"),
    (["sweep", "SPEC", "--executor", "threads"], "invalid choice: 'threads'"),
    (["run", "--workload", "walks", "--mechanism", "analytic-wlak"],
     "unknown mechanism 'analytic-wlak'; did you mean 'analytic-walk'?"),
    (["run", "--workload", "wlaks", "--mechanism", "analytic-walk"],
     "unknown workload 'wlaks'; did you mean 'walks'?"),
    (["run", "--workload", "walks", "--mechanism", "analytic-walk", "--platform", "kvm-nehalm"],
     "unknown platform 'kvm-nehalm'; did you mean 'kvm-nehalem'?"),
    (["run", "--workload", "walks", "--mechanism", "analytic-walk", "--set", "guest.level=4"],
     "--set: unknown parameter 'guest.level'; did you mean 'guest.levels'?"),
    (["run", "--workload", "walks", "--mechanism", "analytic-walk", "--set", "guest.levels=9"],
     "--set: guest.levels: expected an integer from 2 to 5, got '9'"),
    (["run", "--workload", "walks", "--mechanism", "analytic-walk", "--set", "guest.levels"],
     "--set expects KEY=VALUE, got 'guest.levels'"),
    (["run", "--workload", "walks", "--mechanism", "analytic-walk", "--set",
      "platform.memory.latncy=3"], "platform.memory.latncy: platform 'kvm-nehalem' has no such"),
    (["results", "NOTSQLITE"], "not a codesign store (not an SQLite database)"),
    (["results", "MISSING"], "no such store"),
    (["sweep", "BADTOML"], "bad.toml:3:10: invalid TOML: expected ']' at the end of a table"),
    (["sweep", "MISSING"], "no such file"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_INPUT,
                         ids=[" ".join(a[:2]) + f"-{i}" for i, (a, _) in enumerate(BAD_INPUT)])
def test_bad_input_is_one_line_exit_2(tmp_path: Path, argv: list[str], message: str) -> None:
    good = tmp_path / "good.toml"
    good.write_text('version = 1\nname = "g"\n[workload]\nname = "walks"\n'
                    '[mechanism]\nname = "analytic-walk"\n')
    (tmp_path / "notes.txt").write_text("not a store")
    (tmp_path / "bad.toml").write_text('version = 1\nname = "b"\n[workload\nname = "x"\n')
    swap = {"SPEC": str(good), "NOTSQLITE": str(tmp_path / "notes.txt"),
            "MISSING": str(tmp_path / "missing"), "BADTOML": str(tmp_path / "bad.toml")}
    status, out, err = call(*(swap.get(a, a) for a in argv))
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("codesign: error: "), err
    assert message in err
    assert "Traceback" not in err and out == ""


def test_bad_input_through_the_console_script_has_no_traceback(tmp_path: Path) -> None:
    result = run_cli("sweep", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert result.stderr.strip().endswith("nope.toml: no such file")
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def _json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_run_with_several_mechanisms_equals_each_run_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import codesign.harness as harness

    common = ("--workload", "random", "--set", "workload.refs=3000", "--set", "hw.cost=false",
              "--json")
    given: list[object] = []
    run_resolved = harness.run_resolved

    def spy(resolved: object, data: object = None) -> object:
        given.append(data)
        return run_resolved(resolved, data)

    monkeypatch.setattr(harness, "run_resolved", spy)
    status, out, err = call("run", "--mechanism", "nested,shadow", "--mechanism", "nested",
                            "--set", "shadow.cache=8", *common)
    assert status == 0, err
    both = _json_lines(out)
    assert [r["params"]["mechanism"] for r in both] == ["nested", "shadow"]
    assert len(given) == 2 and given[0] is not None and given[0] is given[1]  # one stream
    # shadow.cache is shadow's: nested, which has no such key, runs without it
    assert "shadow.cache" not in both[0]["params"] and both[1]["params"]["shadow.cache"] == 8
    _, alone, _ = call("run", "--mechanism", "nested", *common)
    assert _json_lines(alone) == both[:1]
    _, alone, _ = call("run", "--mechanism", "shadow", "--set", "shadow.cache=8", *common)
    assert _json_lines(alone) == both[1:]


def test_run_with_several_mechanisms_prints_them_side_by_side() -> None:
    status, out, _ = call("run", "--workload", "random", "--mechanism", "native,nested",
                          "--set", "workload.refs=2000", "--set", "hw.cost=false")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "random × native, nested @ kvm-nehalem"
    each = next(i for i, line in enumerate(lines) if line.startswith("parameters (each):"))
    assert lines[each].split()[-2:] == ["native", "nested"]
    assert any(re.fullmatch(r"\s+host\.page_size\s+-\s+4K", line) for line in lines[each:])
    slow = next(line for line in lines if line.split()[:1] == ["slowdown_vs_native"])
    assert slow.split()[1] == "1" and float(slow.split()[2]) > 1


def test_run_key_that_no_mechanism_has_is_one_line() -> None:
    status, _, err = call("run", "--workload", "random", "--mechanism", "native,nested",
                          "--set", "shadow.cahce=8")
    assert status != 0
    line = err.strip()
    assert "\n" not in line and "unknown parameter 'shadow.cahce'" in line
    assert "native, nested" in line
    status, _, err = call("run", "--workload", "random", "--mechanism", "nested,,shadow")
    assert status != 0 and "--mechanism expects names separated by commas" in err
