"""One pass for several data caches (issue 15 item 8): a sweep of LLC sizes (or L2 or L1
sizes, or placement seeds), evaluated with the points of one group in one replay, against
the same sweep point by point and against one of its points alone.

Run: ``python benchmarks/bench_onepass.py [--workload random] [--mechanism nested]
[--level llc|l2|l1|seed] [--sizes 1,2,4,8,16,32,64,128] [--ways 16]``. Not a test: prints
figures, asserts nothing.

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

L2 (``--level l2``, a later session: each L2, with the LLC after it, run as a hierarchy of
its own on the references L1 does not serve, :class:`hwmodels.cache.CacheTails`; the
translation, the walks and L1 replayed once). Same container, best of 2, with the default
LLC sweep re-run in the same sitting for comparison::

    sweep                                         one size   separately      one pass
    nested, random, 1-128 MiB x 16 ways (8)         0.40        3.29 8.1x    0.98 2.4x
    nested, random, L2 64 KiB-8 MiB x 8 ways (8)    0.40        3.19 7.9x    1.60 4.0x
    shadow, random, L2 64 KiB-8 MiB x 8 ways (8)    2.19       16.97 7.7x    3.31 1.5x
    nested, forkwait, L2 256 KiB-2 MiB x 8 (4)      3.02       12.15 4.0x    3.46 1.1x

Eight L2s cost half of what they cost point by point, and meet the issue's 2x where the
replay does more than the caches; on nested GUPS (4.0x) most references miss L1, and each
pair is a whole L2 and LLC simulation of them: no two L2s of different sizes share a stack
the way LLCs do, since each changes what its LLC sees.

Anything else of the data cache (``--level l1``, ``--level seed``: each data cache run
whole beside the first on every reference; the translation replayed once). Same sitting::

    sweep                                         one size   separately      one pass
    nested, random, L1 4-512 KiB x 8 ways (8)       0.39        3.04 7.7x    1.92 4.9x
    shadow, random, L1 4-512 KiB x 8 ways (8)       2.44       18.16 7.5x    3.87 1.6x
    nested, random, uncoloured seeds 0-3 (4)        0.41        1.72 4.2x    1.19 2.9x
    nested, forkwait, uncoloured seeds 0-3 (4)      3.20       12.14 3.8x    3.57 1.1x

Then, with the cache model indexing its state unsigned (``benchmarks/bench_cache.py``), the
first row again, same sitting as a run without that change: one size 0.35 s, separately
2.94 s (8.4x), one pass 0.77 s (2.2x), against 0.38, 3.34 and 1.13 s (3.0x).

Whole data caches gain least where the data cache is most of the replay (nested GUPS); the
four placement seeds the validation reports replicate every replayed point on
(``reports/validation/mmu.toml``) are such a group.
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

DEFAULTS = {"llc": "1,2,4,8,16,32,64,128", "l2": "64,128,256,512,1024,2048,4096,8192",
            "l1": "4,8,16,32,64,128,256,512", "seed": "0,1,2,3"}
"""The sizes (or seeds) swept by default, per ``--level``."""


def spec_for(workload: str, mechanism: str, sizes: list[int], ways: list[int],
             level: str = "llc") -> object:
    """A sweep of LLCs of ``sizes`` MiB (``level`` "l2" or "l1": L2s or L1s of ``sizes``
    KiB) with ``ways`` ways (zipped); ``level`` "seed": of the uncoloured placement's seeds
    ``sizes``."""
    if level == "seed":
        zipped = {"cache.placement_seed": sizes}
        fixed = {"cache.placement": "uncoloured"}
    else:
        unit = 20 if level == "llc" else 10
        zipped = {f"cache.{level}.size": [s << unit for s in sizes],
                  f"cache.{level}.ways": ways}
        fixed = {}
    return parse_spec({"version": 1, "name": "onepass",
                       "workload": {"name": workload},
                       "mechanism": {"name": mechanism},
                       "platform": {"name": "modern-x86"},
                       "hardware": {"hw.cost": False, **fixed},
                       "zip": [zipped]})


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
    parser.add_argument("--level", choices=tuple(DEFAULTS), default="llc",
                        help="what is swept (l2: each L2 and the LLC a hierarchy of its own "
                             "beside the data cache's; l1, seed: each data cache whole)")
    parser.add_argument("--sizes", default=None,
                        help="sizes, MiB for the LLC, KiB for L2 and L1, or seeds of the "
                             "uncoloured placement (default: DEFAULTS)")
    parser.add_argument("--ways", type=int, default=16)
    parser.add_argument("--by-ways", type=int, metavar="MIB",
                        help="--sizes are way counts, each way MIB MiB (Intel CAT's way "
                             "masks: the sets stay, one stack serves every size)")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    sizes = [int(s) for s in (args.sizes or DEFAULTS[args.level]).split(",")]
    ways = [args.ways] * len(sizes)
    if args.by_ways:
        sizes, ways = [w * args.by_ways for w in sizes], sizes
    one = spec_for(args.workload, args.mechanism, sizes[:1], ways[:1], args.level)
    many = spec_for(args.workload, args.mechanism, sizes, ways, args.level)
    sweep_seconds(one, True)  # warm-up: numba's kernels
    rows = {"one size": (one, True), "separately": (many, False), "one pass": (many, True)}
    best = {name: min(sweep_seconds(spec, on) for _ in range(args.repeat))
            for name, (spec, on) in rows.items()}
    llcs = ", ".join(f"{s}/{w}" for s, w in zip(sizes, ways, strict=True))
    what = {"llc": "LLC MiB", "l2": "L2 KiB", "l1": "L1 KiB", "seed": "seed"}[args.level]
    print(f"{args.mechanism} on {args.workload}, {what}/ways {llcs} (modern-x86), serial "
          f"sweep, best of {args.repeat}:")
    for name, seconds in best.items():
        print(f"  {name:<11} {seconds:6.2f} s   {seconds / best['one size']:5.2f}x one size")


if __name__ == "__main__":
    main()
