"""The HTML report in a real headless browser: it renders, with its plots, without errors."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from codesign.report import write_report

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def test_html_report_renders_in_chromium(synthetic_store: Path, tmp_path: Path) -> None:
    browser = _chromium()
    page = write_report(synthetic_store, tmp_path / "out", ["html"])[0]
    base = [browser, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*base, "--enable-logging=stderr", "--v=0", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []  # no script errors, no console output at all
    assert dom.stdout.count("<svg") == 4 and dom.stdout.count('class="sortable"') == 2
    shot = tmp_path / "page.png"
    subprocess.run([*base, "--window-size=1200,2400", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[0] == 2400 and pixels.std() > 0.05  # something was drawn
