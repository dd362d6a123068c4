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
from codesign.report.document import Code, Document, Mono, Plot, Section, Table, Text, build, fmt

__all__ = ["build", "code", "escape", "load", "render"]

# Everything that can start inline markup (code, emphasis, links, raw HTML, entities, GFM
# strikethrough and pipes, GitHub's $math$), and line endings: a paragraph is one line, so no
# user string can end it and start a block of its own. "_" is left to _underscore: inside a
# word it can neither open nor close emphasis, and names like cycles_per_ref stay legible.
_CHARS = {**{c: "\\" + c for c in "\\`*[]|~#$"},
          "<": "&lt;", ">": "&gt;", "&": "&amp;", "\r": " ", "\n": " "}
_TABLE = str.maketrans(_CHARS)
_SPECIAL = re.compile("[" + re.escape("".join(_CHARS)) + "_]")
_UNDERSCORES = re.compile("_+")
# What starts a block at the beginning of a paragraph once the characters above are escaped:
# a list item ("- ", "+ ", "1. ", "2) ") or a thematic break ("---").
_BLOCK_START = re.compile(r"[-+]|[0-9]{1,9}(?=[.)])")
_LINE_ENDS = re.compile(r"\r\n?|\n")


def _underscore(match: re.Match[str]) -> str:
    text, start, end = match.string, match.start(), match.end()
    inside = start > 0 and end < len(text) and text[start - 1].isalnum() and text[end].isalnum()
    return match.group() if inside else "\\_" * (end - start)


def escape(text: str) -> str:
    """Text safe inside a Markdown paragraph, heading or table cell: it renders as itself,
    and as HTML it is inert.

    >>> escape("<script>a|b</script>")
    '&lt;script&gt;a\\\\|b&lt;/script&gt;'
    >>> print(escape("cycles_per_ref *x* _y_ [a](b) `c`"))
    cycles_per_ref \\*x\\* \\_y\\_ \\[a\\](b) \\`c\\`
    """
    if not _SPECIAL.search(text):  # most cells are numbers and plain names
        return text
    text = text.translate(_TABLE)
    return _UNDERSCORES.sub(_underscore, text) if "_" in text else text


def code(text: str) -> str:
    """A code span showing ``text`` verbatim (on one line).

    The fence is longer than any run of backticks inside, so nothing inside closes it.

    >>> print(code("a`b"), code("`x"), code("<img src=x>"))
    ``a`b`` `` `x `` `<img src=x>`
    """
    text = _LINE_ENDS.sub(" ", text)
    if not text.strip(" "):  # a code span of blanks would show nothing more than they do
        return text
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _paragraph(block: str | Text) -> str:
    """A paragraph on one line, its plain text escaped and its code in code spans."""
    parts = [block] if isinstance(block, str) else block.parts
    text = "".join(code(p.text) if isinstance(p, Mono) else escape(p) for p in parts)
    text = text.lstrip(" \t")  # four spaces would start a code block
    start = _BLOCK_START.match(text)
    if start:  # "\-", "\+" and "1\." are the characters, not a list
        text = (text[:start.end()] + "\\" + text[start.end():] if text[0].isdigit()
                else "\\" + text)
    return text


def _table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(escape(h) for h in table.header) + " |",
             "|" + "|".join("---" for _ in table.header) + "|"]
    lines += ["| " + " | ".join(escape(fmt(v)) for v in row) + " |" for row in table.rows]
    return lines + [""]


def _fence(text: str) -> str:
    """A code fence longer than any backtick run starting a line of ``text`` (at least 3)."""
    runs = re.findall(r"^[ \t]*(`{3,})", text, flags=re.MULTILINE)
    return "`" * max(3, max(map(len, runs), default=0) + 1)


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
            # Verbatim: a fence nothing inside can close, so the text needs no escaping (line
            # ends made "\n", which the fence's own search for backticks understands).
            text = _LINE_ENDS.sub("\n", block.text)
            fence = _fence(text)
            lines += [f"{fence}{block.language}", text, fence, ""]
        else:
            lines += [_paragraph(block), ""]


def render(document: Document) -> tuple[str, dict[str, str]]:
    """The Markdown text and the SVG files it links (name -> content, in report-files/)."""
    lines = [f"# {escape(document.title)}", ""]
    for paragraph in document.lead:
        lines += [_paragraph(paragraph), ""]
    files: dict[str, str] = {}
    for section in document.sections:
        _section(section, files, lines)
    return "\n".join(lines).rstrip() + "\n", files
