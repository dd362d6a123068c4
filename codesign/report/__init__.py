"""Reports computed from a result store alone: Markdown (with SVG plots) and HTML.

>>> import tempfile, os, io
>>> from codesign.sweep.spec import parse_spec
>>> from codesign.sweep.runner import run_sweep
>>> spec = parse_spec({"version": 1, "name": "t", "workload": {"name": "walks"},
...                    "mechanism": {"name": "analytic-walk", "virtualized": [False, True]}})
>>> tmp = tempfile.mkdtemp()
>>> _ = run_sweep(spec, os.path.join(tmp, "t.sqlite"), executor="serial", stream=io.StringIO())
>>> [p.name for p in write_report(os.path.join(tmp, "t.sqlite"), os.path.join(tmp, "out"))]
['report.md', 'report.html']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from codesign.errors import InputError

if TYPE_CHECKING:
    from codesign.report.document import Document

FORMATS = ("md", "html")


def check_formats(formats: Sequence[str]) -> None:
    """InputError unless ``formats`` is a non-empty list of known output formats."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise InputError(f"--format: expected a comma-separated list of {', '.join(FORMATS)}, "
                         f"got {','.join(formats)!r}")


def write_report(store: str | Path, out_dir: str | Path,
                 formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write the report of a store's last sweep into ``out_dir``; returns the files' paths."""
    from codesign.report.data import load
    from codesign.report.document import build

    check_formats(formats)
    return write_document(build(load(store)), out_dir, formats)


def write_document(document: Document, out_dir: str | Path,
                   formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write a built report as ``report.md`` (its plots in ``report-files/``) and
    ``report.html`` into ``out_dir``; returns the files' paths."""
    from codesign.report import html, markdown

    out = Path(out_dir)
    written = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        if "md" in formats:
            text, files = markdown.render(document)
            if files:
                (out / "report-files").mkdir(exist_ok=True)
            for name, svg in files.items():
                (out / "report-files" / name).write_text(svg, encoding="utf-8")
            written.append(out / "report.md")
            written[-1].write_text(text, encoding="utf-8")
        if "html" in formats:
            written.append(out / "report.html")
            written[-1].write_text(html.render(document), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{out}: cannot write the report: {exc.strerror}") from None
    return written
