"""Data-cache hierarchy benchmark: lookups/s of the behavioural model on four streams.

Run: ``python benchmarks/bench_cache.py [--lookups N]``. Not a test: prints figures, asserts
nothing. The hierarchy is the default (Nehalem-like: 32 KiB 8-way L1D, 256 KiB 8-way L2,
8 MiB 16-way LLC, 64 B lines, non-inclusive); ``--inclusive`` runs it with an inclusive LLC.

Streams (byte addresses, uint64), each timed best of five after a warm-up pass over the same
stream (JIT compile or cache load excluded, the hierarchy warm):

- *hit-heavy*: a uniformly random line of a 16 KiB working set per lookup (always resident
  in L1, and almost never the line of the previous lookup: every lookup probes a set);
- *90% L1*: the same, except that one lookup in ten goes to a random line of 1 GiB;
- *sequential*: a scan of 64 MiB at an 8-byte stride (7 of 8 lookups repeat the previous
  line; the eighth misses every level, since the scan is larger than the LLC);
- *random*: a uniformly random line of 1 GiB per lookup (nearly all served by memory: the
  slow path, three probes and three fills per lookup).

Two ways in: ``CacheModel.access`` (the batch kernel, one call per stream, levels returned
as an array) and ``access_addr`` called per reference from a small compiled loop, as the
MMU replay's kernels would call it (it is inlined into the loop).

Measured (2026-12-06, 2-CPU container, ``--lookups 5000000``, M lookups/s, batch /
per-reference), before and after the model indexed its state through unsigned integers
where numba cannot see an index is not negative (it then drops its negative-index test;
two runs each, alternating)::

                 before                after
    hit-heavy    115.0-115.1 / 87.5-94.8   121.8-129.4 / 100.3-103.7
    90% L1       69.8 / 61.3                78.8 / 68.8
    sequential   209.0-209.2 / 153.8-154.0  272.9-279.1 / 190.8-194.4
    random       24.2-24.4 / 23.8           29.9-31.0 / 28.8-30.1

The LLC variants' Mattson stacks (``variants_batch``) likewise: 12 variants over 3.6 M
references, 0.72-0.78 s -> 0.43-0.47 s.
"""

from __future__ import annotations

import argparse

import numba
import numpy as np
from timing import best_of

from hwmodels.cache import SERVED_NAMES, CacheModel, CacheParams, access_addr

GIB = 1 << 30


# Not cache=True: numba's cache would keep the compiled hierarchy code it links in after
# hwmodels/cache/model.py changes (it checks only this file's timestamp).
@numba.njit
def per_reference_loop(state, addrs):
    """A caller's compiled loop: one ``access_addr`` per reference, levels summed."""
    total = 0
    for i in range(addrs.shape[0]):
        total += access_addr(state, addrs[i])
    return total


def streams(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The four streams of ``n`` byte addresses each."""
    rng = np.random.default_rng(seed)
    hot = rng.integers(0, (16 << 10) // 64, size=n, dtype=np.int64) * 64
    cold = rng.integers(0, GIB // 64, size=n, dtype=np.int64) * 64
    mixed = np.where(rng.random(n) < 0.9, hot, cold)
    seq = (np.arange(n, dtype=np.int64) * 8) % (64 << 20)
    return {
        "hit-heavy": hot.astype(np.uint64),
        "90% L1": mixed.astype(np.uint64),
        "sequential": seq.astype(np.uint64),
        "random": cold.astype(np.uint64),
    }


def main() -> None:
    """Time both entry points on every stream and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=10_000_000)
    parser.add_argument("--inclusive", action="store_true", help="inclusive LLC")
    args = parser.parse_args()
    params = CacheParams(inclusion="inclusive" if args.inclusive else "nine")
    n = args.lookups
    print(f"hierarchy: {params}")
    print(f"{'stream':<12} {'entry point':<16} {'M lookups/s':>12} {'(CPU)':>8}   served by "
          f"{'/'.join(SERVED_NAMES)}")
    for name, addrs in streams(n).items():
        signed = addrs.view(np.int64)
        for entry in ("batch", "per-reference"):
            model = CacheModel(params)
            if entry == "batch":
                def run(m: CacheModel = model, a: np.ndarray = addrs) -> object:
                    return m.access(a)
            else:
                def run(m: CacheModel = model, a: np.ndarray = signed) -> object:
                    return per_reference_loop(m.state, a)
            run()  # compile (or load from numba's cache) and warm the hierarchy
            before = model.counters()
            wall, cpu = best_of(run)
            after = model.counters()
            # Shares over the timed runs only (the warm-up pass is subtracted).
            counts = np.array([after[f"served.{s}"] - before[f"served.{s}"]
                               for s in SERVED_NAMES], dtype=np.float64)
            shares = "/".join(f"{c / counts.sum():.3f}" for c in counts)
            print(f"{name:<12} {entry:<16} {n / wall / 1e6:12.1f} {n / cpu / 1e6:8.1f}   "
                  f"{shares}")


if __name__ == "__main__":
    main()
