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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the RTL tests (tests/hwmodels, hwmodels doctests) after everything else.

    After many PyRTL CompiledSimulation runs in one process, numpy/matplotlib arithmetic
    later in that process was seen to fail at random (about 1 plot in 30 raised in
    matplotlib's tick code; float repr changed), with the simulators' own buffers intact
    and the FPU control state clean: the root cause is not found. Ordering keeps that out
    of the engine, report and numerics tests; the RTL tests compare events against the
    behavioural models, so damage there would fail loudly, not pass silently.
    """
    def is_rtl(item: pytest.Item) -> bool:
        parts = Path(str(item.path)).resolve().relative_to(REPO).parts
        return parts[:2] == ("tests", "hwmodels") or parts[:1] == ("hwmodels",)

    items.sort(key=is_rtl)  # stable: the order within each group is kept
