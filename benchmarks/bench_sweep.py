"""How fast the sweep engine expands, evaluates and stores design points.

Run: ``python benchmarks/bench_sweep.py [--points N] [--jobs J]``. Prints expansion rate
and end-to-end points/s for the serial and local executors on the ``analytic-walk``
mechanism (microseconds per point), which measures the engine's own overhead: key
hashing, process hand-off, SQLite commits.

Scaling: ``python benchmarks/bench_sweep.py --scaling --jobs 1,2,4,8,16 [--points 384]
[--refs 60000]`` runs a sweep of real points (nested paging on GUPS streams, 0.48 s each here:
:func:`scaling_spec`) once per number of jobs (1: the serial executor), each from an empty
result cache, and prints seconds, points/s, the speedup over the first and whether every
stored metric equals the first run's.

Issue 15 item 5 asks for at least 12x on 16 cores for 384 points of ~0.35 s and at least
1.8x on 2 cores. Measured (2026-12-06, this 2-CPU container, idle, ``--scaling --jobs
1,2``; the points took 0.48 s each serially, stream, native reference and replay)::

    384 points (nested, GUPS of 60,000 references)
     jobs   seconds  points/s  speedup       bits
        1     184.2      2.08    1.00x  identical
        2      99.5      3.86    1.85x  identical

The 2-core target is met, with the same bits. (Measured before chunks went out longest first,
:mod:`codesign.sweep.schedule`: this sweep's points are all the same size, so its order is
unchanged.) The 16-core row needs a 16-core machine: none
was lent to the sessions that built this (the command above with ``--jobs 1,2,4,8,16``
prints it).

Small sweeps (issue 15): 200 ``analytic-walk`` points (``walks = 2000``), this 2-core
machine, under another process's load: serial 1.04 s; ``--jobs 2`` 2.63-2.70 s before the
driver worked during the workers' start-up, 1.42-1.53 s after (it now does most of such a
sweep itself and stops the still-starting workers). The 16-core scaling table: see
below.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from pathlib import Path

from codesign.results import stored_rows
from codesign.sweep.expand import expand
from codesign.sweep.runner import default_jobs, run_sweep
from codesign.sweep.spec import parse_spec


def spec_for(points: int) -> dict:
    """A sweep of about ``points`` distinct points (seeds vary the workload)."""
    per_seed = 2 * 3 * 3  # guest.levels x host.page_size x huge fraction, virtualized only
    return {"version": 1, "name": "bench",
            "workload": {"name": "walks", "walks": 1000,
                         "huge_2m_fraction": [0.0, 0.25, 0.5],
                         "seed": {"range": [1, max(1, points // per_seed)]}},
            "mechanism": {"name": "analytic-walk"},
            "hardware": {"guest": {"levels": [4, 5]}, "host": {"levels": 5,
                                                               "page_size": ["4K", "2M", "1G"]}}}


def scaling_spec(points: int, refs: int) -> dict:
    """``points`` nested-paging points on GUPS streams of ``refs`` references (0.48 s each
    at 60,000 on this container, stream and native reference included): half as many seeds
    as points, each seed's workload run with two L1 TLB sizes, so each point pays its
    stream and the pair shares a native reference, as in a sweep over seeds and a hardware
    size."""
    return {"version": 1, "name": "scaling",
            "workload": {"name": "random", "refs": refs,
                         "seed": {"range": [1, max(1, points // 2)]}},
            "mechanism": {"name": "nested"},
            "hardware": {"tlb": {"l1": {"entries": [32, 64]}}, "hw": {"cost": False}}}


def scaling(points: int, refs: int, jobs: list[int]) -> None:
    """The sweep of :func:`scaling_spec` with each number of jobs, from an empty result
    cache each time; the stored metrics of every run compared with the first's."""
    spec = parse_spec(scaling_spec(points, refs))
    expansion = expand(spec)
    print(f"{len(expansion.points)} points (nested, GUPS of {refs:,} references)")
    print(f"{'jobs':>5s} {'seconds':>9s} {'points/s':>9s} {'speedup':>8s} {'bits':>10s}")
    first: dict[str, object] | None = None
    base = None
    for j in jobs:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["CODESIGN_CACHE"] = str(Path(tmp) / "cache")
            store = Path(tmp) / "s.sqlite"
            start = time.perf_counter()
            run_sweep(spec, store, executor="serial" if j == 1 else "local", jobs=j,
                      stream=io.StringIO(), expansion=expansion)
            took = time.perf_counter() - start
            got = {r["key"]: r["metrics"] for r in stored_rows(store)}
        base = base or took
        first = first if first is not None else got
        same = "identical" if got == first else "DIFFER"
        print(f"{j:>5d} {took:>9.1f} {len(got) / took:>9.2f} {base / took:>7.2f}x {same:>10s}",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--jobs", default=str(default_jobs()),
                        help="workers; with --scaling a list: 1,2,4,8,16")
    parser.add_argument("--scaling", action="store_true",
                        help="real points (~0.35 s each) at each number of jobs")
    parser.add_argument("--refs", type=int, default=60_000,
                        help="with --scaling: references per point's stream")
    args = parser.parse_args()
    jobs = [int(j) for j in args.jobs.split(",")]
    if args.scaling:
        scaling(args.points if args.points != 10_000 else 384, args.refs, jobs)
        return
    args.jobs = jobs[0]
    spec = parse_spec(spec_for(args.points))
    start = time.perf_counter()
    expansion = expand(spec)
    took = time.perf_counter() - start
    n = len(expansion.points)
    print(f"expand: {n} points in {took:.2f} s ({n / took:,.0f} points/s)")
    for executor, jobs in (("serial", 1), ("local", args.jobs)):
        with tempfile.TemporaryDirectory() as tmp:
            store = Path(tmp) / "bench.sqlite"
            start = time.perf_counter()
            outcome = run_sweep(spec, store, executor=executor, jobs=jobs, stream=io.StringIO(),
                                expansion=expansion)
            took = time.perf_counter() - start
            print(f"sweep {executor:<6} jobs={jobs}: {outcome.computed} points in {took:.2f} s "
                  f"({outcome.computed / took:,.0f} points/s, including commits)")
            start = time.perf_counter()
            again = run_sweep(spec, store, executor=executor, jobs=jobs, stream=io.StringIO(),
                              expansion=expansion)
            took = time.perf_counter() - start
            print(f"  re-run: reused {again.reused} in {took:.2f} s")


if __name__ == "__main__":
    main()
