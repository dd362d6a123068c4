"""One pass for several LLCs (issue 15 item 8): a sweep of LLC sizes, evaluated with the
points of one group in one replay, against the same sweep point by point and against one
of its points alone.

Run: ``python benchmarks/bench_onepass.py [--workload random] [--mechanism nested]
[--sizes 1,2,4,8,16,32,64,128] [--ways 16]``. Not a test: prints figures, asserts nothing.

Each figure is a serial ``codesign sweep`` (the engine, its store, the native references
included) of ``--mechanism`` on ``--workload`` on the ``modern-x86`` profile (a
non-inclusive LLC: one pass needs one) with ``hw.cost = false``, in a fresh result cache so
that every native reference is computed: *one size* is the sweep of the first LLC size
alone; *separately* the sweep of every size with one pass off (``CODESIGN_NO_ONE_PASS``);
*one pass* the same sweep as the engine runs it. Best of ``--repeat``, after a warm-up sweep
(numba's kernels loaded).

Measured (2026-12-06, 2-CPU container, best of 2; seconds, and the ratio to one size)::

    sweep                                         one size   separately      one pass
    nested, random, 1-128 MiB x 16 ways (8)         0.54        4.73 8.7x    1.56 2.9x
    nested, random, 1-16 ways x 2 MiB (8)           0.48        4.17 8.8x    0.84 1.8x
    shadow, random, 1-128 MiB x 16 ways (8)         3.28       26.22 8.0x    4.00 1.2x
    nested, forkwait, 1-8 MiB x 16 ways (4)         4.88       19.58 4.0x    5.25 1.1x

(``random``: 200 k references over 256 MiB; ``forkwait``: 1,000 iterations.) The issue's
target, eight sizes in at most twice one size, holds where the replay does more than the
caches (shadow paging, the guest kernel's fork work) and where the sizes share their sets
(LLC ways, as Intel's Cache Allocation Technology hands them out: one Mattson stack per set
serves every size); it does not for nested paging on GUPS with eight set counts (2.9x): there
the replay is mostly the data cache's work, and each set count is its own LRU simulation of
every reference that reaches the LLC -- 3.6 M of them, 3.3 M the guest kernel zeroing new
pages -- at 15-40 ns each (up to 90 ns for the largest, whose stacks leave the host's
caches). Run point by point, each size costs a whole replay.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from codesign.sweep.executors import ONE_PASS_OFF_ENV
from codesign.sweep.runner import run_sweep
from codesign.sweep.spec import parse_spec


def spec_for(workload: str, mechanism: str, sizes: list[int], ways: list[int]) -> object:
    """A sweep of LLCs of ``sizes`` MiB with ``ways`` ways (zipped)."""
    return parse_spec({"version": 1, "name": "onepass",
                       "workload": {"name": workload},
                       "mechanism": {"name": mechanism},
                       "platform": {"name": "modern-x86"},
                       "hardware": {"hw.cost": False},
                       "zip": [{"cache.llc.size": [s << 20 for s in sizes],
                                "cache.llc.ways": ways}]})


@contextlib.contextmanager
def env(**values: str | None) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def sweep_seconds(spec: object, one_pass: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp, env(
            CODESIGN_CACHE=str(Path(tmp) / "cache"),
            **{ONE_PASS_OFF_ENV: None if one_pass else "1"}):
        start = time.perf_counter()
        out = run_sweep(spec, Path(tmp) / "s.sqlite", executor="serial", jobs=1,
                        stream=io.StringIO())
        took = time.perf_counter() - start
        assert not out.failed, out.failures
        return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="random")
    parser.add_argument("--mechanism", default="nested")
    parser.add_argument("--sizes", default="1,2,4,8,16,32,64,128", help="LLC sizes, MiB")
    parser.add_argument("--ways", type=int, default=16)
    parser.add_argument("--by-ways", type=int, metavar="MIB",
                        help="--sizes are way counts, each way MIB MiB (Intel CAT's way "
                             "masks: the sets stay, one stack serves every size)")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    ways = [args.ways] * len(sizes)
    if args.by_ways:
        sizes, ways = [w * args.by_ways for w in sizes], sizes
    one = spec_for(args.workload, args.mechanism, sizes[:1], ways[:1])
    many = spec_for(args.workload, args.mechanism, sizes, ways)
    sweep_seconds(one, True)  # warm-up: numba's kernels
    rows = {"one size": (one, True), "separately": (many, False), "one pass": (many, True)}
    best = {name: min(sweep_seconds(spec, on) for _ in range(args.repeat))
            for name, (spec, on) in rows.items()}
    llcs = ", ".join(f"{s}/{w}" for s, w in zip(sizes, ways, strict=True))
    print(f"{args.mechanism} on {args.workload}, LLC MiB/ways {llcs} (modern-x86), serial "
          f"sweep, best of {args.repeat}:")
    for name, seconds in best.items():
        print(f"  {name:<11} {seconds:6.2f} s   {seconds / best['one size']:5.2f}x one size")


if __name__ == "__main__":
    main()
