"""Provenance: a report names the commit and only the source changes that could alter it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from codesign.provenance import git_commit


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_only_source_changes_count_as_uncommitted(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.org")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / "codesign").mkdir()
    (tmp_path / "reports").mkdir()
    (tmp_path / "codesign" / "x.py").write_text("x = 1\n")
    (tmp_path / "reports" / "report.md").write_text("# r\n")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "c")
    head = _git(tmp_path, "rev-parse", "HEAD")
    here = tmp_path / "codesign"
    assert git_commit(here) == head
    (tmp_path / "reports" / "report.md").write_text("# regenerated\n")  # a generated report
    assert git_commit(here) == head
    (tmp_path / "codesign" / "x.py").write_text("x = 2\n")
    (tmp_path / "codesign" / "new.py").write_text("")
    assert git_commit(here) == f"{head} (uncommitted changes in codesign/x.py, codesign/new.py)"


def test_outside_a_checkout_says_why(tmp_path: Path) -> None:
    assert git_commit(tmp_path).startswith("unknown (")
