"""The HTML report in a real headless browser: it renders, with its plots, without errors."""

from __future__ import annotations

import html
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
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


PROBE = """<script>
(function () {
  var root = document.documentElement, out = {};
  out.page = [root.scrollWidth, root.clientWidth];
  var matrix = document.querySelector("table.matrix");
  out.matrix = matrix ? [matrix.getBoundingClientRect().top,
                         matrix.closest("div.wide").getBoundingClientRect().right] : null;
  out.figures = Array.prototype.map.call(document.querySelectorAll("figure svg"),
      function (svg) { return svg.getBoundingClientRect().right; });
  out.boxes = Array.prototype.map.call(document.querySelectorAll("div.wide"),
      function (box) { return [box.scrollWidth, box.clientWidth]; });
  document.body.setAttribute("data-probe", JSON.stringify(out));
})();
</script>"""


def test_at_1400_px_the_summary_matrix_and_plots_fit_without_page_scrolling(
        tmp_path: Path) -> None:
    """A wide sweep (many varying parameters) at 1400 px: the page never scrolls sideways
    (wide tables scroll inside their own box), the coloured who-wins-where matrix is on the
    first screen, every plot fits and carries its units."""
    import json

    from .conftest import write_store

    browser = _chromium()
    knobs = {f"knob.number_{i:02d}": 1000 + i for i in range(24)}
    spec = ('version = 1\nname = "wide"\n[report]\nmetrics = ["cycles_per_ref", '
            '"traps.total"]\nobjectives = ["cycles_per_ref"]\nx = "workload.refs_per_cycle"\n'
            'group = "mechanism"\n')
    points = [("mmap-churn", m, {"workload.refs_per_cycle": x, **{k: v + j for k, v in
                                                                   knobs.items()}},
               {"cycles_per_ref": base * x ** slope, "traps.total": 1000.0 / x, "refs": 1e6})
              for m, base, slope in (("shadow", 10.0, 0.2), ("nested", 14.0, 0.1),
                                     ("pv-direct", 9.0, 0.25))
              for x in (16, 64, 256, 1024) for j in range(2)]
    store = write_store(tmp_path / "wide.sqlite", spec, points)
    page = write_report(store, tmp_path / "out", ["html"])[0]
    text = page.read_text()
    assert "(references/cycle)" in text and "(cycles/reference)" in text  # units on the axes
    probe = tmp_path / "probe.html"
    probe.write_text(text.replace("</body>", PROBE + "</body>"))
    base = [browser, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1400,1000"]
    dom = subprocess.run([*base, "--dump-dom", probe.as_uri()], capture_output=True,
                         text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = json.loads(html.unescape(dom.stdout.split('data-probe="')[1].split('"')[0]))
    width, viewport = found["page"]
    assert viewport == 1400 or viewport >= 1380  # a scroll bar may take a few pixels
    assert width <= viewport, found  # the page itself never scrolls sideways
    top, right = found["matrix"]
    assert top < 1000 and right <= viewport, found  # the matrix on the first screen
    assert found["figures"] and max(found["figures"]) <= viewport, found
    assert any(inner > outer for inner, outer in found["boxes"])  # the wide table scrolls
    shot = tmp_path / "page.png"
    subprocess.run([*base, f"--screenshot={shot}", page.as_uri()], capture_output=True,
                   timeout=120, check=True)
    from matplotlib.image import imread

    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (1000, 1400)
    # The matrix's colours are on the first screen: the winner's blue tint (0, 114, 178 at
    # 22% on white) and the vermillion of a slowdown.
    blue = np.abs(pixels - np.array([199, 224, 238]) / 255).max(axis=2) < 0.03
    red = (pixels[..., 0] > 0.9) & (pixels[..., 2] < pixels[..., 0] - 0.1)
    assert blue.sum() > 200 and red.sum() > 200
