"""Live-migration benchmark: the pre-copy engine's rate in guest writes processed per second,
and a ``precopy`` design point end to end.

Run: ``python benchmarks/bench_migration.py [--writes N]``. Not a test: prints figures,
asserts nothing.

- *engine*: :func:`codesign.migration.precopy.precopy` on N random writes over 16,384 pages
  (one period, repeated as long as the migration lasts), 1 GiB of memory, 10 Gb/s, for each
  logging mode; writes processed per second of CPU (the engine stops at the last round, so
  the count is what it walked through), best of five after a warm-up (JIT compile excluded).
- *point*: ``precopy`` on GUPS-like random writes over 64 MiB (400,000 references, write
  fraction 0.1, 10 Gb/s, PML) end to end, as a sweep runs it: the nested-paging replay that
  prices the guest, the dirty stream, the engine; best of three, ``hw.cost=false``.

Measured on a shared 2-CPU container (Python 3.11): the engine walks 120-150 M writes/s
whatever the logging (0.4-0.6 M writes per migration here); a design point takes about
1.6 s, nearly all of it the MMU replay (the engine is under 1%).
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import best_of, timed

from codesign.harness import Point, evaluate
from codesign.migration.precopy import LOGGING, precopy


def bench_engine(n: int) -> None:
    rng = np.random.default_rng(1)
    pages = 16_384
    wpos = np.arange(n) * 40  # a write every 40 accesses
    wpage = rng.integers(0, pages, n)
    for name, code in LOGGING.items():
        def run(code: int = code) -> object:
            return precopy(wpos, wpage, n * 40, pages, 262_144, 150.0, 3e9, 10e9, code,
                           2550.0, 512, 2550.0 + 512 * 20.0, 1e5)
        r = run()  # warm-up (compile)
        walked = r.guest_cycles / 150.0 / 40  # writes the guest got through, live rounds
        _, cpu = best_of(run, 5)
        print(f"  {name:14s} {walked / cpu / 1e6:7.1f} M writes/s  ({r.rounds} rounds, "
              f"{walked / 1e6:.1f} M writes)")


def bench_point() -> None:
    params = {"workload.refs": 400_000, "workload.footprint_mb": 64,
              "workload.read_modify_write": False, "workload.write_fraction": 0.1,
              "migration.link_gbps": 10.0, "migration.logging": "pml", "hw.cost": False}
    point = Point("random", "precopy", "modern-x86", params)
    evaluate(point)  # warm-up: compile, stream cache
    seconds = min(timed(evaluate, point)[1] for _ in range(3))
    print(f"  precopy, GUPS 64 MiB, PML, 10 Gb/s: {seconds:.2f} s per point")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--writes", type=int, default=1_000_000)
    args = ap.parse_args()
    print(f"pre-copy engine ({args.writes:,} writes a period):")
    bench_engine(args.writes)
    print("design point end to end:")
    bench_point()


if __name__ == "__main__":
    main()
