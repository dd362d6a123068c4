"""How long ``codesign report`` takes on a store of N points.

Run: ``python benchmarks/bench_report.py [--points N ...] [--large]``. Not a test: prints a
table of seconds per store size, asserts nothing.

Each store is what a large MMU study would leave: the ``steady-state`` suite's eight mixes
under four mechanisms, the page-walk caches on and off, five STLB sizes, two memory
latencies (a swept platform cost) and as many seeds as it takes to reach N points. The
points are the sweep engine's own expansion of that spec (real parameter sets, about 35
parameters a point) with synthetic metrics named like the MMU mechanisms' (about 60 a
point: cycles by category, traps by reason, TLB and walk counts), written through
:class:`~codesign.sweep.store.Store` with the spec text recorded by ``begin_sweep``, as
``codesign sweep`` would. One point in 200 is failed. Store building is not timed;
``write_report`` (both formats, every plot, the Pareto front of two objectives) is. The
first size also pays for warming up (imports, matplotlib's font cache).
"""

from __future__ import annotations

import argparse
import math
import random
import tempfile
from pathlib import Path

from timing import timed

from codesign.harness import digest
from codesign.report import write_report
from codesign.sweep.expand import expand
from codesign.sweep.runner import spec_key
from codesign.sweep.spec import load_spec
from codesign.sweep.store import Result, Store

SIZES = (500, 1000, 2000, 5000)
LARGE = 100_000
PER_SEED = 8 * 4 * 2 * 5 * 2  # mixes x mechanisms x walk caches x STLB sizes x latencies

SPEC = """version = 1
name = "bench-report"
description = "Synthetic MMU study: four mechanisms on the steady-state suite, {seeds} seeds."

[workload]
suite = "steady-state"
seed = {{ range = [1, {seeds}] }}

[mechanism]
name = ["shadow", "pv-direct", "nested", "selective"]

[[zip]]
"pwc.entries" = [0, 32]
"ntlb.entries" = [0, 16]

[hardware]
"tlb.l2.entries" = [0, 384, 768, 1536, 3072]
"hw.cost" = false

[platform]
name = "kvm-nehalem"
"memory.latency" = [100, 200]

[report]
title = "Synthetic MMU study"
metrics = ["cycles_per_ref", "slowdown_vs_native", "traps.total", "walk.refs_per_walk",
           "tlb.l2.misses"]
objectives = ["cycles_per_ref", "traps.total"]
x = "tlb.l2.entries"
group = "mechanism"
"""

COMMON = ("cycles.os.fault", "cycles.os.invlpg", "cycles.os.ipi", "cycles.os.syscall",
          "cycles.os.tlb_flush", "cycles.translation.tlb_l2", "cycles.translation.walk.guest",
          "cycles.translation.walk.nested", "faults.cow", "faults.demand", "faults.page",
          "latency.mean_cycles", "latency.p50_cycles", "latency.p99_cycles", "os.cr3_writes",
          "os.invlpg", "os.pte_writes", "os.shootdown_ipis", "os.syscalls", "os.tlb_flushes",
          "refs", "throughput.refs_per_s", "tlb.evictions", "tlb.l1.hits", "tlb.l1.misses",
          "tlb.l2.hits", "tlb.l2.misses", "walk.ntlb_hits", "walk.ntlb_misses", "walk.pwc_hits",
          "walk.pwc_hits.guest", "walk.pwc_hits.nested", "walk.refs", "walk.refs.guest",
          "walk.refs.nested", "walk.refs_per_walk", "walks")
SHADOW = ("vmexit.cr3_write", "vmexit.invlpg", "vmexit.ipi", "vmexit.page_fault",
          "vmexit.pt_write")
TRAPS = {"shadow": SHADOW, "nested": ("vmexit.ept_violation", "vmexit.ipi"),
         "pv-direct": ("hypercall.iret", "hypercall.mmu_update", "hypercall.mmuext_op",
                       "pf_bounce", "syscall_bounce"),
         "selective": (*SHADOW, "vmexit.ept_violation", "vmexit.mode_switch")}
OWN = {"shadow": ("shadow.builds", "shadow.evictions", "shadow.fills", "shadow.injected"),
       "pv-direct": ("pv.pins", "pv.updates", "pv.validated_pages"),
       "selective": ("selective.nested_windows", "selective.switches", "selective.windows",
                     "shadow.builds", "shadow.evictions", "shadow.fills", "shadow.injected")}


def metrics_for(mechanism: str, params: dict, rng: random.Random) -> dict[str, float]:
    """Plausible metrics: cycles per reference falling with STLB size, traps by reason."""
    out = {name: float(rng.randrange(1, 200_000)) for name in COMMON}
    out.update({n: float(rng.randrange(1, 5000)) for n in OWN.get(mechanism, ())})
    traps = {f"traps.{r}": float(rng.randrange(0, 30_000)) for r in TRAPS[mechanism]}
    out.update(traps, **{f"cycles.{k}": v * 1200.0 for k, v in traps.items()})
    out["traps.total"] = sum(traps.values())
    stlb = int(params.get("tlb.l2.entries") or 0)
    walk = 24.0 if mechanism == "nested" and not params.get("pwc.entries") else 4.0
    out["walk.refs_per_walk"] = walk * rng.uniform(0.5, 1.0)
    out["cycles_per_ref"] = 100.0 + 4000.0 * walk / (1 + stlb / 256) * rng.uniform(0.8, 1.2)
    out["slowdown_vs_native"] = out["cycles_per_ref"] / 90.0
    parts = {"cycles.base": 1e6, "cycles.os": 2e5, "cycles.translation": out["cycles_per_ref"]
             * 1e4, "cycles.traps": out["traps.total"] * 1200.0}
    out.update(parts, **{"cycles.total": sum(parts.values())})
    return dict(sorted(out.items()))


def make_store(path: Path, points: int, seed: int = 1) -> int:
    """Write a store of ``points`` design points at ``path``; returns how many it holds."""
    seeds = max(1, math.ceil(points / PER_SEED))
    spec_path = path.with_suffix(".toml")
    spec_path.write_text(SPEC.format(seeds=seeds), encoding="utf-8")
    spec = load_spec(spec_path)
    expansion = expand(spec)
    chosen = expansion.points[:points]
    rng = random.Random(seed)
    with Store.open(path) as store:
        store.begin_sweep(spec, spec_key(spec, expansion), [p.key for p in chosen], "serial", 1)
        store.put_platforms((p.key, digest(p.platform.to_dict()), p.platform.to_dict())
                            for p in chosen)
        for i, point in enumerate(chosen):
            record = point.record()
            if i % 200 == 199:
                result = Result(point.key, "failed", None, "ValueError: synthetic failure",
                                "Traceback ...", 0.01)
            else:
                result = Result(point.key, "done",
                                metrics_for(record["mechanism"], record["params"], rng),
                                None, None, 0.01)
            store.put(result, record)
    return len(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=list(SIZES),
                        help=f"store sizes to time (default {' '.join(map(str, SIZES))})")
    parser.add_argument("--large", action="store_true", help=f"also time {LARGE:,} points")
    args = parser.parse_args()
    sizes = [*args.points, *([LARGE] if args.large else [])]
    print(f"{'points':>8}  {'build s':>8}  {'report s':>9}  {'us/point':>9}")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            store = Path(tmp) / "bench.sqlite"
            held, build = timed(make_store, store, n)
            _, took = timed(write_report, store, Path(tmp) / "out")
            print(f"{held:>8}  {build:>8.1f}  {took:>9.2f}  {took / held * 1e6:>9.0f}",
                  flush=True)


if __name__ == "__main__":
    main()
