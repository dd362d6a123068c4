"""The README's "How do I…" recipes run as written, in order, and reach what they promise.

They run in a scratch copy of the places they name (``examples/``), with the test's own
Python environment first on ``PATH`` (as an active virtual environment would be), so a
recipe that stops working fails here rather than in a new user's first hour.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"<!-- howto:([a-z0-9-]+) -->\s*```(sh|python)\n(.+?)\n```", re.S)
RECIPES = [(name, lang, body) for name, lang, body in BLOCK.findall(README)]


def test_the_readme_has_the_seven_recipes() -> None:
    assert [name for name, _, _ in RECIPES] == ["trace", "tlb", "llc", "pandas", "migrate",
                                               "platform", "verilog"]
    assert "## How do I…" in README


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog is not installed")
def test_every_recipe_runs_and_reaches_its_result(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                 f"{os.environ.get('PATH', '')}",
           "CODESIGN_CACHE": str(tmp_path / "cache")}
    outputs = {}
    for name, lang, body in RECIPES:
        argv = ["bash", "-euo", "pipefail", "-c", body] if lang == "sh" else [
            sys.executable, "-c", body]
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, (name, done.stdout[-2000:], done.stderr[-2000:])
        outputs[name] = done.stdout
    mytrace = tmp_path / "mytrace"
    assert "computed 4 / reused 0 / failed 0" in outputs["trace"]
    assert (mytrace / "compare-report" / "report.md").exists()
    assert "computed 6 / reused 0 / failed 0" in outputs["tlb"]
    assert "computed 6 / reused 0 / failed 0" in outputs["llc"]
    for mechanism in ("native", "shadow", "pv-direct", "nested"):
        assert mechanism in outputs["pandas"]
    assert "tlb.l2.misses" in outputs["pandas"]
    assert "computed 6 / reused 0 / failed 0" in outputs["migrate"]
    migrated = (mytrace / "migrate.csv").read_text()
    assert "migration.downtime_ms" in migrated and "traps.vmexit.pml_full" in migrated
    assert "forkwait × shadow @ mytrace/my-host.toml" in outputs["platform"]
    assert "platform.vmexit.kernel" in outputs["platform"]
    assert (mytrace / "tlb.vvp").exists()
