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

SOURCES = ("codesign", "hwmodels", "workloads", "pyproject.toml")
"""What computes a result: a change anywhere else (generated reports, docs, tests) does not
make a result irreproducible at the commit, so it is not reported."""


def git_commit(here: Path | None = None) -> str:
    """The commit of the toolkit's source checkout (or of the checkout holding ``here``),
    with the source files that differ from it (uncommitted changes), or why the commit is
    unknown."""
    here = here or Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD", "--show-toplevel"],
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (git not available)"
    if out.returncode != 0:
        return "unknown (installed from a package, not a git checkout)"
    commit, root = out.stdout.split("\n")[:2]
    status = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", *SOURCES],
                            capture_output=True, text=True, timeout=5, check=False).stdout
    return commit.strip() + changed(status)


def changed(porcelain: str, most: int = 5) -> str:
    r"""The suffix naming uncommitted source changes, from ``git status --porcelain``.

    >>> changed("")
    ''
    >>> changed(" M codesign/cli.py\n?? hwmodels/x.py\n")
    ' (uncommitted changes in codesign/cli.py, hwmodels/x.py)'
    >>> changed("".join(f" M f{i}.py\n" for i in range(7)), most=2)
    ' (uncommitted changes in f0.py, f1.py and 5 more)'
    """
    files = [line[3:].split(" -> ")[-1].strip('"') for line in porcelain.splitlines()
             if len(line) > 3]
    if not files:
        return ""
    shown = ", ".join(files[:most])
    more = f" and {len(files) - most} more" if len(files) > most else ""
    return f" (uncommitted changes in {shown}{more})"


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
