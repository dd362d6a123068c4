"""The ``codesign`` command line.

::

    codesign run --workload NAME --mechanism NAME [--platform NAME|FILE]
                 [--set KEY=VALUE ...] [--json]
    codesign sweep SPEC.toml [--store PATH] [--executor serial|local|dask] [--jobs N]
                   [--scheduler ADDR] [--force] [--dry-run] [--quiet]
    codesign results STORE [--format csv|json]
    codesign report STORE [--out DIR] [--format md,html]
    codesign compare A.sqlite B.sqlite [--out DIR] [--format md,html] [--labels A,B]
    codesign list [workloads|mechanisms|platforms|params [NAME]|blocks]
    codesign verilog BLOCK [--set KEY=VALUE ...] [-o FILE]
    codesign demo [--out DIR]

Exit status: 0 success, 1 a sweep finished with failed points, 2 bad input (or a store
that cannot be written), 3 an internal error (a bug: ``CODESIGN_DEBUG=1`` shows its
traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import warnings
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn, TextIO

from codesign import __version__
from codesign.errors import InputError, suggest

EXIT_OK, EXIT_FAILED_POINTS, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DEBUG_ENV = "CODESIGN_DEBUG"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line through the same path as other bad input."""

    def error(self, message: str) -> NoReturn:
        raise InputError(f"{self.prog}: {message} (see {self.prog} --help)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def _parse_sets(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _out(text: str = "", stream: TextIO | None = None) -> None:
    print(text, file=stream or sys.stdout)


# -- commands ------------------------------------------------------------------------------


def _mechanisms(given: Sequence[str]) -> list[str]:
    """The mechanism names of ``--mechanism`` (repeated, or comma-separated), each once, in
    order.

    >>> _mechanisms(["nested,shadow", "nested", " agile "])
    ['nested', 'shadow', 'agile']
    """
    names = [n.strip() for item in given for n in item.split(",")]
    if not all(names):
        raise InputError(f"--mechanism expects names separated by commas, got "
                         f"{','.join(given)!r}")
    return list(dict.fromkeys(names))


def _own_params(params: dict[str, str], mechanisms: list[Any]) -> list[dict[str, str]]:
    """Each mechanism's share of ``--set`` values: the workload's and platform's keys, and of
    the others those it declares (as a sweep applies a key to the points that have it).
    InputError for a key none of them declares."""
    declared = [{s.key for s in m.specs()} for m in mechanisms]
    known = set().union(*declared)
    for key in params:
        if not key.startswith(("workload.", "platform.")) and key not in known:
            raise InputError(f"--set {key}: unknown parameter {key!r} for mechanism(s) "
                             f"{', '.join(m.name for m in mechanisms)}{suggest(key, known)}")
    return [{k: v for k, v in params.items()
             if k.startswith(("workload.", "platform.")) or k in mine} for mine in declared]


def cmd_run(args: argparse.Namespace) -> int:
    from codesign.allocator import keep_freed_memory
    from codesign.harness import Point, resolve, run_resolved
    from codesign.registry import default_registry

    params = _parse_sets(args.set)
    names = {k: params.pop(k) for k in ("workload", "mechanism", "platform") if k in params}
    if names:
        raise InputError(f"--set {next(iter(names))}=...: use --{next(iter(names))} instead")
    mechanisms = _mechanisms(args.mechanism)
    if len(mechanisms) == 1:
        shares = [params]
    else:
        registry = default_registry()
        shares = _own_params(params, [registry.mechanism(m) for m in mechanisms])
    resolved = [resolve(Point(args.workload, m, args.platform, share, str(Path.cwd())),
                        origin="--set") for m, share in zip(mechanisms, shares, strict=True)]
    # One stream for all: the workload's parameters are the same at every point, and so the
    # native reference behind slowdown_vs_native is computed once. The allocator keeps freed
    # memory from the stream's building on (run_resolved would set it only after).
    keep_freed_memory()
    data = resolved[0].workload.generate(resolved[0].workload_params)
    results = [(r, run_resolved(r, data)) for r in resolved]
    if args.json:
        for r, metrics in results:
            _out(json.dumps({"key": r.key,
                             "params": {"workload": r.workload.name,
                                        "mechanism": r.mechanism.name,
                                        "platform": args.platform, **r.params},
                             "metrics": dict(metrics)}))
        return EXIT_OK
    if len(results) == 1:
        r, metrics = results[0]
        _out(f"{r.workload.name} × {r.mechanism.name} @ {args.platform}"
             f"   (key {r.key[:12]})")
        width = max([len(k) for k in (*r.params, *metrics)] + [8])
        _out("parameters:")
        for key, value in r.params.items():
            _out(f"  {key:<{width}}  {_show(value)}")
        _out("metrics:")
        for key, value in metrics.items():
            _out(f"  {key:<{width}}  {_show(value)}")
        return EXIT_OK
    _side_by_side(results, args.platform)
    return EXIT_OK


def _side_by_side(results: list[tuple[Any, Any]], platform: str) -> None:
    """Several mechanisms' results in columns, one a mechanism: the parameters they share
    (the workload's, and the others where every mechanism has the same value) once, then the
    keys, the parameters that differ ("-": a mechanism without it) and the metrics."""
    first = results[0][0]
    mechs = [r.mechanism.name for r, _ in results]
    _out(f"{first.workload.name} × {', '.join(mechs)} @ {platform}")
    keys = list(dict.fromkeys(k for r, _ in results for k in r.params))
    shared = [k for k in keys if all(k in r.params and r.params[k] == first.params[k]
                                     for r, _ in results)]
    differ = [k for k in keys if k not in shared]
    metric_keys = list(dict.fromkeys(k for _, m in results for k in m))
    width = max([len(k) for k in (*keys, *metric_keys)] + [10])
    columns = {name: [r.key[:12]]
               + [_show(r.params[k]) if k in r.params else "-" for k in differ]
               + [_show(m[k]) if k in m else "-" for k in metric_keys]
               for name, (r, m) in zip(mechs, results, strict=True)}
    col = {name: max([len(name), *map(len, columns[name])]) for name in mechs}

    def row(label: str, i: int) -> str:
        return f"  {label:<{width}}  " + "  ".join(
            f"{columns[name][i]:>{col[name]}}" for name in mechs)

    def heading(title: str) -> str:
        return f"{title:<{width + 2}}  " + "  ".join(f"{n:>{col[n]}}" for n in mechs)

    _out("parameters (all):")
    for key in shared:
        _out(f"  {key:<{width}}  {_show(first.params[key])}")
    _out(heading("parameters (each):"))
    for i, key in enumerate(["key", *differ]):
        _out(row(key, i))
    _out(heading("metrics:"))
    for j, key in enumerate(metric_keys):
        _out(row(key, 1 + len(differ) + j))


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.6g}" if abs(value) < 1e15 else f"{value:.6e}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def cmd_sweep(args: argparse.Namespace) -> int:
    from codesign.sweep.expand import describe, expand, survey
    from codesign.sweep.runner import default_store
    from codesign.sweep.spec import load_spec

    spec = load_spec(args.spec, overrides=_parse_sets(args.set))
    if args.dry_run:
        # Counted as the points stream by, not expanded: a sweep at the point cap would
        # otherwise hold millions of resolved points just to print a few of them.
        found = survey(spec, show=args.show)
        notes = [f"{found.combinations} combinations"]
        if found.excluded:
            notes.append(f"{found.excluded} excluded by constraints")
        if found.incompatible:
            notes.append(f"{found.incompatible} incompatible workload × mechanism pairs")
        if found.duplicates:
            notes.append(f"{found.duplicates} merged as duplicates")
        _out(f"sweep {spec.name!r}: {found.points} points ({', '.join(notes)})")
        _out(f"store: {Path(args.store) if args.store else default_store(spec)}")
        for i, point in enumerate(found.first, 1):
            _out(f"{i:>4}  {point.key[:12]}  {describe(point, found.varying)}")
        if found.points > len(found.first):
            _out(f"      ... and {found.points - len(found.first)} more")
        return EXIT_OK
    expansion = expand(spec)
    return _run_and_summarize(spec, expansion, args)


def _run_and_summarize(spec: Any, expansion: Any, args: argparse.Namespace) -> int:
    from codesign.sweep.runner import run_sweep

    previous = signal.getsignal(signal.SIGTERM)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # a scheduler's kill is a Ctrl-C: keep what is done
    try:
        outcome = run_sweep(spec, args.store, executor=args.executor, jobs=args.jobs,
                            scheduler=args.scheduler, force=args.force, quiet=args.quiet,
                            expansion=expansion)
    finally:
        signal.signal(signal.SIGTERM, previous)
    _out(f"sweep {spec.name!r}: computed {outcome.computed} / reused {outcome.reused} / "
         f"failed {outcome.failed} of {outcome.points} points -> {outcome.store}")
    if outcome.one_pass:
        runs = round(outcome.passes)
        _out(f"  one pass: {outcome.one_pass} of the computed points in {runs} "
             f"run{'s' if runs != 1 else ''} of several points each")
    for key, point, error in outcome.failures[:20]:
        _out(f"  failed {key[:12]}  {point}\n         {error}")
    if outcome.failed > 20:
        _out(f"  ... and {outcome.failed - 20} more failures (codesign results {outcome.store})")
    if outcome.kept:
        _out(f"  {outcome.kept} of the failed recomputations kept their earlier done result")
    if outcome.store_error:
        print(f"codesign: error: {outcome.store_error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if outcome.interrupted:
        left = outcome.points - outcome.computed - outcome.reused - outcome.failed
        _out(f"interrupted: {left} points not computed; run the same command to resume",
             sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_FAILED_POINTS if outcome.failed else EXIT_OK


def cmd_results(args: argparse.Namespace) -> int:
    from codesign.results import load_results, results_json

    if args.format == "json":
        _out(results_json(args.store))
    else:
        load_results(args.store).to_csv(sys.stdout, index=False)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from codesign.report import write_report

    store = Path(args.store)
    out = Path(args.out) if args.out else store.with_name(store.stem + "-report")
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    for path in write_report(store, out, formats):
        _out(f"report: {path}")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from codesign.report.compare import labels_for, write_comparison

    a, b = Path(args.store_a), Path(args.store_b)
    labels = labels_for(a, b, args.labels)
    out = Path(args.out) if args.out else a.with_name(f"{a.stem}-vs-{b.stem}")
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    for path in write_comparison(a, b, out, formats, labels):
        _out(f"report: {path}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from codesign.platforms import bundled, parse_profile
    from codesign.registry import default_registry

    registry = default_registry()
    what = args.what
    if args.name is not None and what != "params":
        raise InputError(f"list {what or ''}: only 'codesign list params NAME' takes a name "
                         f"(got {args.name!r})")
    if what in (None, "workloads"):
        _out("workloads:")
        for w in registry.workloads.values():
            _out(f"  {w.name:<16} [{w.kind}] {w.summary}")
    if what in (None, "mechanisms"):
        _out("mechanisms:")
        for m in registry.mechanisms.values():
            _out(f"  {m.name:<16} [takes {', '.join(m.accepts)}] {m.summary}")
    if what in (None, "platforms"):
        _out("platforms (or pass a .toml file):")
        for name, path in sorted(bundled().items()):
            profile = parse_profile(path)
            _out(f"  {name:<16} {profile.description}")
            if what == "platforms":
                for key, cost in profile.costs.items():
                    _out(f"    platform.{key:<22} {_show(cost.value):>8} {cost.unit}")
    if what in (None, "blocks"):
        from codesign.hardware import BLOCKS

        _out("hardware blocks (codesign verilog BLOCK):")
        for b in BLOCKS.values():
            _out(f"  {b.name:<16} module {b.module}: {b.summary}")
            if what == "blocks":
                for s in b.params_specs():
                    _out(f"    {s.key:<26} {s.type:<5} default {_show(s.default):<8} "
                         f"{s.expectation()}; {s.doc}")
    if what in (None, "params"):
        entries = [*registry.workloads.values(), *registry.mechanisms.values()]
        if args.name is not None:
            names = [e.name for e in entries]
            if args.name not in names:
                raise InputError(f"list params: no workload or mechanism {args.name!r}"
                                 f"{suggest(args.name, names)} (codesign list shows them)")
            entries = [e for e in entries if e.name == args.name]
        _out("parameters (--set KEY=VALUE, or keys of a sweep spec):")
        for entry in entries:
            kind = "workload" if entry in registry.workloads.values() else "mechanism"
            _out(f"  {kind} {entry.name}:")
            for s in entry.read_specs():
                when = ("  (when " + ", ".join(f"{k}={_show(v)}" for k, v in s.when) + ")"
                        if s.when else "")
                _out(f"    {s.key:<28} {s.type:<5} default {_show(s.default):<8} "
                     f"{s.expectation()}; {s.doc}{when}")
            costs = getattr(entry, "costs", ())
            if args.name is not None and costs:
                _out(f"    platform costs it reads (platform.<cost>=VALUE): "
                     f"{', '.join(costs)}")
        _out("  platform costs: platform.<cost>=VALUE overrides one cost "
             "(codesign list platforms; the profile files list them)")
    return EXIT_OK


def cmd_verilog(args: argparse.Namespace) -> int:
    from codesign import hardware

    b = hardware.block(args.block)
    params = hardware.block_params(args.block, _parse_sets(args.set), origin="--set")
    unknown = set(_parse_sets(args.set)) - {s.key for s in b.params_specs()}
    if unknown:
        key = sorted(unknown)[0]
        raise InputError(f"--set: block {b.name!r} has no parameter {key!r}"
                         f"{suggest(key, [s.key for s in b.params_specs()])}")
    text = hardware.verilog(args.block, {s.key: getattr(params, s.field)
                                         for s in b.params_specs()})
    if args.output in (None, "-"):
        sys.stdout.write(text)
        return EXIT_OK
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{args.output}: cannot write: {exc.strerror}") from None
    _out(f"{b.name}: module {b.module} -> {args.output} ({len(text.splitlines()):,} lines)")
    return EXIT_OK


DEMO_SPECS = (("quickstart.toml", ""), ("quickstart-net.toml", "net"))
"""The demo's sweeps and the subfolder of the output folder each one's report goes to: the
MMU comparison (shadow, pv-direct, nested, selective, agile) and the NIC comparison (emulated,
pv-split, multiqueue, sriov)."""


def cmd_demo(args: argparse.Namespace) -> int:
    from codesign.report import write_report
    from codesign.sweep.expand import expand
    from codesign.sweep.spec import load_spec

    out = Path(args.out)
    status = EXIT_OK
    for name, sub in DEMO_SPECS:
        folder = out / sub
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{folder}: cannot create the output folder: {exc.strerror}") from None
        spec_file = resources.files("codesign") / "specs" / name
        with resources.as_file(spec_file) as spec_path:
            spec = load_spec(spec_path)
        args.store = str(folder / f"{spec.name}.sqlite")
        status = max(status, _run_and_summarize(spec, expand(spec), args))
        if status == EXIT_INTERRUPTED:
            return status
        for path in write_report(args.store, folder):
            _out(f"report: {path}")
    return status


# -- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="codesign", description="Hardware-software co-design exploration "
                     "for virtualization: MMU and NIC, paravirtual vs hardware-assisted.")
    parser.add_argument("--version", action="version", version=f"codesign {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="evaluate one design point")
    p.add_argument("--workload", required=True, help="workload name (codesign list workloads)")
    p.add_argument("--mechanism", required=True, action="append",
                   help="mechanism name (codesign list mechanisms); several, repeated or "
                        "separated by commas, run on one stream and print side by side")
    p.add_argument("--platform", default="kvm-nehalem", help="bundled profile or .toml file")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter (codesign list params); repeatable")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("sweep", help="run a design-space sweep from a TOML spec")
    p.add_argument("spec", help="sweep spec file (.toml)")
    p.add_argument("--store", help="result store (default: ./<sweep name>.sqlite)")
    p.add_argument("--executor", choices=("serial", "local", "dask"), default="local")
    p.add_argument("--jobs", type=_positive,
                   help="processes evaluating points, this one among them (default: CPU count)")
    p.add_argument("--scheduler", help="Dask scheduler address tcp://HOST:PORT "
                   "(default: a local cluster)")
    p.add_argument("--force", action="store_true", help="recompute points already done")
    p.add_argument("--dry-run", action="store_true", help="count and show points, run nothing")
    p.add_argument("--show", type=_positive, default=5, help="points shown by --dry-run")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="replace one parameter of the spec by this one value (repeatable): "
                        "a study in a quick mode")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("results", help="print a store's results")
    p.add_argument("store")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.set_defaults(func=cmd_results)

    p = sub.add_parser("report", help="write the report of a store (Markdown and HTML)")
    p.add_argument("store")
    p.add_argument("--out", help="output folder (default: <store>-report next to the store)")
    p.add_argument("--format", default="md,html", help="md, html or md,html (default)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare", help="compare two stores' results point by point (B - A): "
                       "verdicts, deltas, platform costs")
    p.add_argument("store_a", metavar="A", help="the baseline store")
    p.add_argument("store_b", metavar="B", help="the store compared with it")
    p.add_argument("--out", help="output folder (default: <A>-vs-<B> next to A)")
    p.add_argument("--format", default="md,html", help="md, html or md,html (default)")
    p.add_argument("--labels", metavar="A_NAME,B_NAME", help="what the report calls the two "
                   "stores (default: their file names without .sqlite)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("list", help="list workloads, mechanisms, platforms, parameters")
    p.add_argument("what", nargs="?",
                   choices=("workloads", "mechanisms", "platforms", "params", "blocks"))
    p.add_argument("name", nargs="?", help="with params: only this workload's or "
                   "mechanism's parameters (codesign list params nested)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("verilog", help="export a hardware block as flat Verilog")
    p.add_argument("block", help="block name (codesign list blocks)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a block parameter (codesign list blocks); repeatable")
    p.add_argument("-o", "--output", help="output file (default: standard output)")
    p.set_defaults(func=cmd_verilog)

    p = sub.add_parser("demo", help="run the bundled quickstart sweeps (MMU, then NIC) and "
                       "write their reports")
    p.add_argument("--out", default="codesign-demo", help="output folder (default: codesign-demo)")
    p.add_argument("--jobs", type=_positive,
                   help="processes evaluating points, this one among them (default: CPU count)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_demo, executor="local", scheduler=None, force=False)
    return parser


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str,
                      lineno: int, line: str | None = None) -> str:
    """Warnings as the errors are: one line, no source line under it."""
    return f"codesign: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``codesign`` console script; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        previous, warnings.formatwarning = warnings.formatwarning, _one_line_warning
        try:
            return int(args.func(args))
        finally:
            warnings.formatwarning = previous
    except InputError as exc:
        print(f"codesign: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("codesign: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `codesign results ... | head`
        sys.stderr.close()
        return EXIT_OK
    except MemoryError:
        print("codesign: error: out of memory (a smaller sweep, trace or --jobs may fit)",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:
        # Every bad input has its own one-line error; reaching here is a bug. Say so in one
        # line (the CLI never shows a traceback) and how to see the traceback.
        if os.environ.get(DEBUG_ENV):
            raise
        what = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        print(f"codesign: internal error: {what} (a bug in codesign; {DEBUG_ENV}=1 shows "
              "the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
