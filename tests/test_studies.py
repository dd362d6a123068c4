"""The canonical studies' commands (reports/README.md): every quick mode runs end to end (and
holds to the claims of its spec that apply to it), and every full command names a spec that
expands."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from codesign.cli import main
from codesign.report import claims
from codesign.report.data import load

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "reports" / "README.md").read_text()
BLOCK = re.compile(r"<!-- (study|quick):([a-z0-9-]+) -->\s*```sh\n(.+?)\n```", re.S)
COMMANDS = {(kind, name): command for kind, name, command in BLOCK.findall(README)}
STUDIES = sorted({name for _, name in COMMANDS})
UNCLAIMED = {"validation-mmu", "validation-nic", "validation-migration", "validation-hugepages"}
"""Studies whose spec states no ``[[claim]]``: their ``[[validation]]`` rows hold the model to
published results instead (tests/report/test_validation.py)."""


def steps(command: str) -> list[list[str]]:
    """The ``codesign`` invocations of one README command line (joined by ``&&``)."""
    out = []
    for part in command.split("&&"):
        argv = shlex.split(part)
        assert argv[0] == "codesign", part
        out.append(argv[1:])
    return out


def test_every_study_has_a_full_and_a_quick_command() -> None:
    assert STUDIES, "reports/README.md lists no study"
    for name in STUDIES:
        assert ("study", name) in COMMANDS and ("quick", name) in COMMANDS, name


@pytest.mark.parametrize("name", STUDIES)
def test_the_full_command_names_a_spec_that_expands(name: str, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(ROOT)
    sweep, report = steps(COMMANDS[("study", name)])
    assert sweep[0] == "sweep" and report[0] == "report"
    assert main([*sweep, "--dry-run"]) == 0
    assert "points" in capsys.readouterr().out


@pytest.mark.parametrize("name", STUDIES)
def test_the_quick_mode_runs_and_reports(name: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path / "cache"))
    command = COMMANDS[("quick", name)].replace("OUT/", f"{tmp_path}/")
    for argv in steps(command):
        assert main(argv) == 0, argv
    report = next(tmp_path.glob("*/report.md")).read_text()
    assert "0 failed" in report and "## Summary" in report
    # The orderings the spec's description states, on the quick store: every claim that
    # applies to the quick mode holds (a claim marked quick = false, or naming a group or
    # points the --set overrides leave out, is skipped), and each study has one that applies.
    sweep = steps(command)[0]
    outcomes = claims.from_report(load(sweep[sweep.index("--store") + 1]))
    wrong = [row for o, row in zip(outcomes, claims.table_rows(outcomes), strict=True)
             if o.status not in ("holds", "skipped")]
    assert not wrong, wrong
    if name not in UNCLAIMED:
        assert any(o.status == "holds" for o in outcomes), claims.summary(outcomes)
