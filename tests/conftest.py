"""Shared fixtures: the entry-point test plugin and a helper to run the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from codesign.registry import default_registry

PLUGIN = Path(__file__).parent / "plugin"
REPO = Path(__file__).parent.parent

# The plugin is put on sys.path only by the fixture below; collecting it would leave it
# there for every test.
collect_ignore = ["plugin"]


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the test plugin visible to this process, its workers and CLI subprocesses."""
    monkeypatch.syspath_prepend(str(PLUGIN))
    path = os.pathsep.join(p for p in (str(PLUGIN), os.environ.get("PYTHONPATH")) if p)
    monkeypatch.setenv("PYTHONPATH", path)
    default_registry.cache_clear()
    yield PLUGIN
    default_registry.cache_clear()


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300,
            **kwargs) -> subprocess.CompletedProcess:
    """Run ``codesign`` in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "codesign.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, **kwargs)
