"""The HTML rendering of a report: one self-contained file.

Plots are inline SVG, styles are inline, nothing is fetched from the network, and the page
reads fully without JavaScript; a few lines of script only make tables sortable by
clicking a header. Every string from a user's file is escaped.

>>> from codesign.report.document import Document, Section, Table
>>> page = render(Document("<b>t</b>", [], [Section("S", [Table(["a"], [["<i>"]])])]))
>>> "&lt;b&gt;t&lt;/b&gt;" in page and "<td>&lt;i&gt;</td>" in page
True
"""

from __future__ import annotations

import html
import math

from codesign.report.document import Code, Document, Mono, Plot, Section, Table, Text, fmt

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 92em;
       padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.2em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: right; white-space: nowrap; }
div.wide { overflow-x: auto; }
th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
table.sortable th { cursor: pointer; }
table.prose { width: 100%; }
table.prose td, table.prose th { white-space: normal; text-align: left; vertical-align: top; }
code, pre { background: #f6f6f6; font-size: 12px; }
pre { padding: 0.8em; overflow-x: auto; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 12px; }
"""

# Sorts a table by the clicked column: numerically when every cell is a number.
_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var up = th.dataset.dir !== "up";
    th.dataset.dir = up ? "up" : "down";
    var key = function (r) { return r.cells[th.cellIndex].textContent; };
    var numeric = rows.every(function (r) { return key(r) === "" || !isNaN(Number(key(r))); });
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      var c = numeric ? Number(x) - Number(y) : x.localeCompare(y);
      return up ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def _text(block: str | Text) -> str:
    parts = [block] if isinstance(block, str) else block.parts
    return "".join(f"<code>{html.escape(p.text)}</code>" if isinstance(p, Mono)
                   else html.escape(p) for p in parts)


def tone(slowdown: float | None) -> str:
    """The background of a matrix cell: Okabe-Ito blue for the best (and its ties), then
    vermillion deepening with the log of the slowdown, full at 4x; nothing when unknown.

    >>> tone(1.0), tone(2.0), tone(None)
    ('rgba(0, 114, 178, 0.22)', 'rgba(213, 94, 0, 0.36)', '')
    """
    if slowdown is None or slowdown != slowdown:
        return ""
    if slowdown <= 1.0:
        return "rgba(0, 114, 178, 0.22)"
    depth = min(1.0, math.log(slowdown) / math.log(4.0))
    return f"rgba(213, 94, 0, {0.08 + 0.56 * depth:.2f})"


def _cell(v: object, shade: float | None) -> str:
    colour = tone(shade)
    style = f' style="background: {colour}"' if colour else ""
    return f"<td{style}>{html.escape(fmt(v))}</td>"


def _table(table: Table) -> str:
    classes = [c for c, on in (("sortable", table.sortable), ("prose", table.prose),
                               ("matrix", table.shade is not None)) if on]
    cls = f' class="{" ".join(classes)}"' if classes else ""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    shades = table.shade or [[] for _ in table.rows]
    body = "".join("<tr>" + "".join(_cell(v, tones[i] if i < len(tones) else None)
                                    for i, v in enumerate(row)) + "</tr>"
                   for row, tones in zip(table.rows, shades, strict=True))
    return (f'<div class="wide"><table{cls}><thead><tr>{head}</tr></thead><tbody>{body}'
            "</tbody></table></div>")


def _section(section: Section, out: list[str]) -> None:
    out.append(f"<h{section.level}>{html.escape(section.title)}</h{section.level}>")
    for block in section.blocks:
        if isinstance(block, Section):
            _section(block, out)
        elif isinstance(block, Table):
            out.append(_table(block))
        elif isinstance(block, Plot):
            # Matplotlib's SVG carries only our own text (escaped by matplotlib as XML).
            out.append(f"<figure>{block.svg}<figcaption>{html.escape(block.caption)}"
                       "</figcaption></figure>")
        elif isinstance(block, Code):
            out.append(f"<pre><code>{html.escape(block.text)}</code></pre>")
        else:
            out.append(f"<p>{_text(block)}</p>")


def render(document: Document) -> str:
    """The complete HTML page."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(document.title)}</title><style>{_STYLE}</style></head><body>",
           f"<h1>{html.escape(document.title)}</h1>"]
    out += [f"<p>{_text(p)}</p>" for p in document.lead]
    for section in document.sections:
        _section(section, out)
    out.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(out) + "\n"
