"""What a user waits for: ``codesign run`` of one design point, end to end, cold and warm.

Run: ``python benchmarks/bench_run.py [--trace PATH] [--mechanism nested] [--runs 5]``. Not a
test: prints figures, asserts nothing.

Each run is a fresh ``python -m codesign run --workload lackey --mechanism M --set
workload.path=TRACE`` process with default parameters (hardware cost on), as a user types
it, timed from the outside:

- *installed*: an empty ``$NUMBA_CACHE_DIR`` too (every kernel compiled afresh): the very
  first run of a new installation, which pays numba's compilation once;
- *cold*: an empty ``$CODESIGN_CACHE`` (no parsed trace, no hardware-cost entry, no native
  reference, no content digest), numba's cache as the first run left it: a new trace;
- *warm*: the same directories again, best of ``--runs``: everything cached.

Without ``--trace`` the trace is ``bench_memory.synthetic_trace`` of 3.2 M lines (about 1.6
M references; real addresses from the committed slice, few pages). The issue's budgets
(issue 15, item 10): a 1.6 M-reference lackey trace, nested, at most 5 s cold and 1 s warm.

Measured (2026-12-05, 2-CPU container, idle; Python bytecode cached), nested on a recorded
``ls /usr/bin`` trace (1.62 M references, 70 MB): installed 26.2 s, cold 4.24 s (the hardware
cost of the TLB, STLB and walker estimated by PyRTL, the trace parsed), warm 1.16-1.40 s
(1.10-1.17 s timed by hand with the cache of an earlier session; 1.24-1.36 s before a
settled content digest was kept by stamp: the trace was hashed twice per run, 0.09 s each).
Again (2026-12-06, same container, after the row-hashed memory images): installed 24.2 s,
cold 4.17 s, warm 1.09-1.16 s (1.08-1.29 s by hand). The 1 s budget is not met. Timed
inside one warm run: imports 0.26 s, the rest 0.86 s, of which numba's first cached-kernel
load (its registries: ~0.18 s) lands in building the event stream (0.25 s with it), the
cached parse 0.11 s (its SHA-256 check 0.035 s), the stream's digest for the native
reference's memo 0.06 s.
Again (2026-12-06, later; the harness vouching for the stream it generated, so the native
reference's memo no longer hashes the events): installed 29.1 s, cold 4.32 s, warm 1.09 s
best of 7 (1.09-1.50; this container was noisier than in the morning: the same build timed
by hand in alternation with the morning's, 15bf594: 1.11-1.37 s against 1.12-1.34 s).
Again (2026-12-06, a later session; the registry importing only the named workload's and
mechanism's modules, and the NIC package its model only when used, so a nested run no longer
imports the NIC, packet and migration code: ~0.1 s): installed 28.4 s, cold 4.11 s, warm
0.87 s best of 7 (0.87-1.15, median 0.93). The 1 s budget is met.
Again (2026-12-06, a later session, with the harness's allocator set-up and the data-cache
variants in the compiled pipeline): installed 23.1 s, cold 2.59 s, warm 0.58 s best of 5
(0.58-0.78); with ``CODESIGN_SYSTEM_MALLOC=1`` in the same sitting 23.0 s, 2.59 s and
0.55 s: the allocator makes no difference at this size, and the container was quieter than
in the earlier sittings.
What a warm run was made of, profiled earlier: imports 0.43 s (numba 0.15, numpy 0.06, the toolkit
0.11), numba's loading of cached kernels 0.3 s (its compiler's registries initialise on the
first load, ~0.15 s, then each kernel), the cached parse 0.05 s, building the event stream
0.08 s, the replay 0.1 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_memory import synthetic_trace


def one_run(trace: Path, mechanism: str, env: dict[str, str]) -> float:
    """Seconds of one ``codesign run`` process."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "codesign", "run", "--workload", "lackey",
                    "--mechanism", mechanism, "--set", f"workload.path={trace}"],
                   check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", type=Path, help="a recorded lackey trace")
    parser.add_argument("--mechanism", default="nested")
    parser.add_argument("--runs", type=int, default=5, help="warm runs (best is shown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        trace = args.trace
        if trace is None:
            trace = Path(d) / "synthetic.lackey"
            synthetic_trace(trace, 3_200_000)
        env = {**os.environ, "CODESIGN_CACHE": str(Path(d) / "first"),
               "NUMBA_CACHE_DIR": str(Path(d) / "numba")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as an installed toolkit runs
        first = one_run(trace, args.mechanism, env)
        env["CODESIGN_CACHE"] = str(Path(d) / "cache")
        cold = one_run(trace, args.mechanism, env)
        warm = [one_run(trace, args.mechanism, env) for _ in range(args.runs)]
    print(f"codesign run --workload lackey --mechanism {args.mechanism} ({trace.name})")
    print(f"  installed {first:6.2f} s   (numba compiles every kernel)")
    print(f"  cold      {cold:6.2f} s   (budget 5 s)")
    print(f"  warm      {min(warm):6.2f} s   (budget 1 s; all: "
          + ", ".join(f"{w:.2f}" for w in warm) + ")")


if __name__ == "__main__":
    main()
