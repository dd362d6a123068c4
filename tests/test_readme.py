"""The README's promises: its two commands, its example spec, its Python snippet."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from codesign.harness import Point, evaluate
from tests.conftest import run_cli

REPO = Path(__file__).parent.parent
README = (REPO / "README.md").read_text()


def _block(marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\s*```sh\n(.*?)\n```", README, re.S)
    assert match, f"README has no ```sh block after <!-- {marker} -->"
    return match.group(1)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    script = (REPO / ".ci" / "run").read_text()
    awk = re.search(r"cmd=\$\((awk .*?) README.md\)", script).group(1)
    extracted = subprocess.run(["bash", "-c", f"{awk} README.md"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
    assert extracted == _block("test-command")
    assert "pytest" in extracted and "pip install" in extracted


def test_main_command_installs_and_runs_the_demo() -> None:
    command = _block("main-command")
    assert "pip install ." in command and command.endswith("codesign demo")


def test_tour_spec_is_valid(tmp_path: Path) -> None:
    spec = re.search(r"```toml\n(version = 1\nname = \"walks\".*?)```", README, re.S).group(1)
    (tmp_path / "walks.toml").write_text(spec)
    result = run_cli("sweep", "walks.toml", "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.match(r"sweep 'walks': \d+ points", result.stdout)


def test_python_snippet_value() -> None:
    assert "# 35.0" in README
    metrics = evaluate(Point("walks", "analytic-walk", "kvm-nehalem",
                             {"guest.levels": 5, "host.levels": 5}))
    assert metrics["walk.refs_per_walk"] == 35.0
