"""The Markdown rendering of a report, with its plots as SVG files beside it.

>>> import tempfile, os, io
>>> from codesign.sweep.spec import parse_spec
>>> from codesign.sweep.runner import run_sweep
>>> spec = parse_spec({"version": 1, "name": "t", "workload": {"name": "walks"},
...                    "mechanism": {"name": "analytic-walk", "virtualized": [False, True]}})
>>> path = os.path.join(tempfile.mkdtemp(), "t.sqlite")
>>> _ = run_sweep(spec, path, executor="serial", stream=io.StringIO())
>>> text, files = render(build(load(path)))
>>> "| walks | analytic-walk | kvm-nehalem | true | 4 | 4K | 24 | 4800 | 4800 |" in text
True
"""

from __future__ import annotations

import re

from codesign.report.data import load
from codesign.report.document import Code, Document, Plot, Section, Table, build, fmt

__all__ = ["build", "escape", "load", "render"]


def escape(text: str) -> str:
    """Text safe inside Markdown (a table cell too), and inert as HTML.

    >>> escape("<script>a|b</script>")
    '&lt;script&gt;a\\\\|b&lt;/script&gt;'
    """
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "\\|").replace("\n", " "))


def _text(text: str) -> str:
    """Escape a paragraph but keep its `code` spans (their content escaped too)."""
    parts = re.split(r"(`[^`]*`)", text)
    return "".join(f"`{p[1:-1].replace('`', '')}`" if p.startswith("`") and p.endswith("`")
                   and len(p) > 1 else escape(p) for p in parts)


def _table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(escape(h) for h in table.header) + " |",
             "|" + "|".join("---" for _ in table.header) + "|"]
    lines += ["| " + " | ".join(escape(fmt(v)) for v in row) + " |" for row in table.rows]
    return lines + [""]


def _section(section: Section, files: dict[str, str], lines: list[str]) -> None:
    lines += ["#" * section.level + " " + escape(section.title), ""]
    for block in section.blocks:
        if isinstance(block, Section):
            _section(block, files, lines)
        elif isinstance(block, Table):
            lines += _table(block)
        elif isinstance(block, Plot):
            name = f"{block.name}.svg"
            stem, n = block.name, 2
            while name in files:  # two plots of one name: keep both
                name, n = f"{stem}-{n}.svg", n + 1
            files[name] = block.svg
            lines += [f"![{escape(block.caption)}](report-files/{name})", ""]
        elif isinstance(block, Code):
            lines += [f"```{block.language}", block.text.replace("```", "'''"), "```", ""]
        else:
            lines += [_text(block), ""]


def render(document: Document) -> tuple[str, dict[str, str]]:
    """The Markdown text and the SVG files it links (name -> content, in report-files/)."""
    lines = [f"# {escape(document.title)}", ""]
    for paragraph in document.lead:
        lines += [_text(paragraph), ""]
    files: dict[str, str] = {}
    for section in document.sections:
        _section(section, files, lines)
    return "\n".join(lines).rstrip() + "\n", files
