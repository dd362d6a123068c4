"""A Markdown report of a store: results table, failures, provenance.

Computed from the store alone: the sweep spec, platform profiles and every number come
from it. The points shown are those of the last sweep run recorded in the store.

>>> import tempfile, os, io
>>> from codesign.sweep.spec import parse_spec
>>> from codesign.sweep.runner import run_sweep
>>> spec = parse_spec({"version": 1, "name": "t", "workload": {"name": "walks"},
...                    "mechanism": {"name": "analytic-walk", "virtualized": [False, True]}})
>>> path = os.path.join(tempfile.mkdtemp(), "t.sqlite")
>>> _ = run_sweep(spec, path, executor="serial", stream=io.StringIO())
>>> text = render(path)
>>> "| walks | analytic-walk | kvm-nehalem | true | 4 | 4K | 24 | 4800 | 4800 |" in text
True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from codesign.errors import InputError
from codesign.provenance import environment
from codesign.registry import default_registry
from codesign.sweep.store import Store
from codesign.tomlfile import parse_toml

MAX_DEFAULT_METRICS = 8


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int):
        return str(value)
    return escape(str(value))


def escape(text: str) -> str:
    """Text safe inside a Markdown table cell (and inert as HTML).

    >>> escape("<script>a|b</script>")
    '&lt;script&gt;a\\\\|b&lt;/script&gt;'
    """
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "\\|").replace("\n", " "))


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(escape(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _spec_data(text: str) -> dict[str, Any]:
    try:
        return parse_toml(text, "<stored spec>")
    except InputError:
        try:
            return json.loads(text)
        except ValueError:
            return {}


def _metric_columns(rows: list[dict[str, Any]], wanted: list[str] | None) -> list[str]:
    present = sorted({m for r in rows for m in r["metrics"]})
    if wanted:
        return [m for m in wanted if m in present]
    registry = default_registry()
    headline: list[str] = []
    for mechanism in dict.fromkeys(r["mechanism"] for r in rows):
        if mechanism in registry.mechanisms:
            headline += [m for m in registry.mechanisms[mechanism].headline
                         if m in present and m not in headline]
    return headline or present[:MAX_DEFAULT_METRICS]


def render(store_path: str | Path) -> str:
    """The Markdown text of the report of a store."""
    with Store.open(store_path, create=False) as store:
        sweeps = store.sweeps()
        if not sweeps:
            raise InputError(f"{store_path}: the store holds no sweep")
        sweep = sweeps[-1]
        rows = list(store.rows(sweep["spec_key"]))
        profiles = store.platforms()
        point_platform = store.point_platforms()
    spec = _spec_data(sweep["spec_text"])
    options = spec.get("report", {}) if isinstance(spec.get("report"), dict) else {}
    title = options.get("title") or f"Sweep {sweep['name']}"
    done = [r for r in rows if r["status"] == "done"]
    failed = [r for r in rows if r["status"] == "failed"]
    lines = [f"# {escape(str(title))}", ""]
    if isinstance(spec.get("description"), str) and spec["description"]:
        lines += [escape(spec["description"]), ""]
    lines += [f"{len(rows)} design points: {len(done)} done, {len(failed)} failed.", ""]

    params = list(dict.fromkeys(k for r in rows for k in r["params"]))
    varying = [k for k in params
               if len({json.dumps(r["params"].get(k)) for r in rows}) > 1]
    fixed = {k: rows[0]["params"][k] for k in params
             if k not in varying and k in rows[0]["params"]} if rows else {}
    metrics = _metric_columns(done, options.get("metrics"))
    lines += ["## Results", ""]
    if fixed:
        lines += ["Same for every point: " + ", ".join(
            f"`{k}` = {_cell(v)}" for k, v in fixed.items()) + ".", ""]
    order = sorted(done, key=lambda r: (r["workload"], r["mechanism"], r["platform"],
                                         json.dumps([r["params"].get(k) for k in varying])))
    header = ["workload", "mechanism", "platform", *varying, *metrics]
    table = [[r["workload"], r["mechanism"], r["platform"],
              *(r["params"].get(k) for k in varying), *(r["metrics"].get(m) for m in metrics)]
             for r in order]
    lines += _table(header, table) + [""]
    if failed:
        lines += ["## Failed points", ""]
        lines += _table(["key", "workload", "mechanism", "error"],
                        [[r["key"][:12], r["workload"], r["mechanism"], r["error"]]
                         for r in failed]) + [""]

    lines += ["## Provenance", ""]
    env = environment()
    lines += [f"- toolkit: codesign {env['codesign']}, commit {env['git_commit']}",
              f"- python {env['python']}, numpy {env['numpy']}, pyrtl {env['pyrtl']}",
              f"- store: `{escape(str(store_path))}` ({len(done)} done, {len(failed)} failed)",
              f"- sweep `{escape(sweep['name'])}` from `{escape(sweep['spec_path'])}`, "
              f"run {sweep['started_at']} with executor {sweep['executor']}", ""]
    used = dict.fromkeys(point_platform[r["key"]] for r in rows if r["key"] in point_platform)
    for key in used:
        profile = profiles[key]
        lines += [f"### Platform {escape(profile['name'])} ({escape(profile['origin'])})", ""]
        lines += _table(["cost", "value", "unit", "source"],
                        [[k, c["value"], c["unit"], c["source"]]
                         for k, c in profile["costs"].items()]) + [""]
    language = "json" if sweep["spec_text"].lstrip().startswith("{") else "toml"
    spec_text = sweep["spec_text"].rstrip().replace("```", "'''")
    lines += ["### Sweep spec", "", f"```{language}", spec_text, "```", ""]
    return "\n".join(lines)


def write(store_path: str | Path, out_dir: str | Path) -> Path:
    """Write ``report.md`` into ``out_dir`` (created if needed); returns its path."""
    text = render(store_path)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        path = out / "report.md"
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{out}: cannot write the report: {exc.strerror}") from None
    return path
