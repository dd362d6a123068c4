"""The canonical studies' commands (reports/README.md): every quick mode runs end to end, and
every full command names a spec that expands."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from codesign.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "reports" / "README.md").read_text()
BLOCK = re.compile(r"<!-- (study|quick):([a-z0-9-]+) -->\s*```sh\n(.+?)\n```", re.S)
COMMANDS = {(kind, name): command for kind, name, command in BLOCK.findall(README)}
STUDIES = sorted({name for _, name in COMMANDS})


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
