"""Where a result came from: toolkit version and commit, library versions.

>>> info = environment()
>>> sorted(info) == ["codesign", "git_commit", "numpy", "pyrtl", "python"]
True
"""

from __future__ import annotations

import platform as _platform
import subprocess
from importlib import metadata
from pathlib import Path

from codesign import __version__


def git_commit() -> str:
    """The commit of the toolkit's source checkout, or why it is unknown."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (git not available)"
    if out.returncode != 0:
        return "unknown (installed from a package, not a git checkout)"
    dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", "."],
                           capture_output=True, text=True, timeout=5, check=False).stdout
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty.strip() else "")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, str]:
    """Versions a report states so that its numbers can be reproduced."""
    return {
        "codesign": __version__,
        "git_commit": git_commit(),
        "python": _platform.python_version(),
        "numpy": _version("numpy"),
        "pyrtl": _version("pyrtl"),
    }
