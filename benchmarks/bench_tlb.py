"""TLB benchmarks: real-trace comparison, behavioural lookups/s, RTL cycles/s, hardware cost.

Run: ``python benchmarks/bench_tlb.py [--lookups N] [--trace PATH] [--refs N] [--repeats R]
[--only real]``. Not a test: prints figures; the only assertion is that the real-trace
comparison's implementations count the same misses (a correctness cross-check).

- Real trace (issue 15, item 9; ``--only real`` runs just this): the replay kernel
  ``TLBModel.lookup_fill`` side by side with pycachesim (``pip install pycachesim``, not a
  dependency: its column is skipped when absent) and a plain C true LRU
  (``benchmarks/lru_tlb.c``, built with ``gcc -O2`` into a temporary folder; skipped without
  gcc), all three one 64-entry 16-set x 4-way true-LRU TLB of 4 KiB pages, cold, every access a
  lookup and a fill on a miss. Input: the data references' page numbers of a Valgrind lackey
  trace (``--trace``, default the bundled ``tests/data/gzip_deflate.lackey.gz``, parsed with
  ``workloads.memory.lackey``), the trace looped to ``--refs`` accesses (default 10 M). Timed:
  process CPU time of the simulation loop only (not parsing, building, process start), best of
  ``--repeats``. The kernel is also run on what the replay feeds it (``codesign.mmu.replay``):
  the stream with same-page repeats dropped, then also set repeats (``set_repeats``); the
  filters' own time is added in the compared rate (trace accesses per second).

  Measured on this 2-core machine under load (load average ~1.5), pycachesim 0.3.1, gcc -O2,
  best of 5, M accesses/s of the trace (ratios: vs pycachesim / vs C), after the kernel
  learned to answer a hit on a set's most recent entry with a compare (issue 15):

  =========================================  ==================  ====================
  implementation                             bundled gzip trace  ``ls -la /usr/lib``
  =========================================  ==================  ====================
  pycachesim (list input)                    90.4                93.4
  plain C LRU                                384.6               381.9
  lookup_fill, every access                  183.4 (2.03x/0.48x) 180.5 (1.93x/0.47x)
  lookup_fill, same-page repeats dropped     130.1 (1.44x/0.34x) 133.6 (1.43x/0.35x)
  lookup_fill, + set repeats dropped         115.5 (1.28x/0.30x) 125.2 (1.34x/0.33x)
  =========================================  ==================  ====================

  The bundled trace: 6,000 references x 1,667 passes = 10.0 M, 51 pages, 10,051 misses
  (hit rate 0.99900) in all five; ``ls -la /usr/lib`` recorded with
  ``examples/lackey/record.sh`` (427,359 data references x 24 = 10.3 M, 155 pages, 15,672
  misses, hit rate 0.99847). Before that change the kernel ran ~32-33 M fed accesses/s
  whatever the feed (0.37x pycachesim, 0.09x C on the raw stream). On the raw stream the
  targets (>= 2x pycachesim, >= 0.3x the C LRU) are now met on the bundled trace and within
  4% of 2x on the other; the replay's own numpy pre-filters (the last two rows) now cost
  more than they save and could be dropped.

  Again (2026-12-06, a later session, ``--only real --repeats 3``, bundled trace; pycachesim
  could not be installed here, so no ratio to it): the C LRU now runs at 958-1,080 M
  accesses/s in this quieter container (against 385 M before), and lookup_fill, every
  access, at 305 M; with the hit path's set number unsigned (no negative-index test on its
  three lookups) 319-325 M: 0.30-0.34x the C LRU (0.28-0.30x before, same sittings). Making
  the probe loop's indices unsigned too halved the rate (148 M): not kept.

- Behavioural: hit-heavy batches (a working set of 48 pages resident in the default 64-entry
  4-way 4 KiB array) after JIT warm-up, events included: a new random page every lookup (the
  hitting way is unpredictable: worst case for branch prediction) and 64 lookups per page (a
  stride through each page, as a streaming loop would issue). Reported with and without
  operand validation (``TLBModel.run(check=...)``), wall-clock and process CPU time.
- Replay path: ``TLBModel.lookup_fill``, the fused lookup-then-fill every replayed access
  makes (the fill carries the current translation). A fill that would rewrite the entry its
  lookup just hit is skipped (issue 15): on this 2-core machine, 5 M all-hit accesses,
  18.7-19.1 M/s CPU before, 35.5-36.7 M/s after (1.9x); results bit-identical (the
  fused-path property test and replayed runs of every MMU mechanism).
- RTL: a 64-entry 4-way TLB (4 KiB array only, default widths) on each PyRTL backend, on a mix
  of lookups and fills; simulator build time reported separately.
- Cost: nets, PyRTL's area *estimate* and fmax from its timing analysis (130 nm library).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from codesign.mmu.runkernel import set_repeats
from hwmodels import rtl
from hwmodels.tlb import DISABLED, Op, OpBatch, TLBArrayParams, TLBModel, TLBOp, TLBParams
from hwmodels.tlb.rtl import TLBSim, build_tlb, tlb_cost
from workloads.memory import lackey
from workloads.memory.events import USER_TOP

HERE = Path(__file__).resolve().parent
BUNDLED_TRACE = HERE.parent / "tests" / "data" / "gzip_deflate.lackey.gz"
REAL_PARAMS = TLBParams(l4k=TLBArrayParams(64, 4, "lru"), l2m=DISABLED, l1g=DISABLED)
"""The one TLB all three implementations model: 64 entries, 16 sets x 4 ways, true LRU,
4 KiB pages only."""


def hit_heavy_batch(n: int, pages: int, run: int = 1, seed: int = 0) -> OpBatch:
    """``n`` lookups (VPID 1, PCID 1) over ``pages`` 4 KiB pages chosen uniformly at random,
    ``run`` consecutive lookups per page choice (``run=64``: a 64-byte stride through the page).
    """
    rng = np.random.default_rng(seed)
    vpn = np.repeat(rng.integers(0, pages, size=-(-n // run), dtype=np.uint64), run)[:n]
    line = np.tile(np.arange(run, dtype=np.uint64) * np.uint64(4096 // run), -(-n // run))[:n]
    va = (vpn << np.uint64(12)) | line
    zeros = np.zeros(n, dtype=np.uint64)
    return OpBatch(
        op=np.full(n, Op.LOOKUP), va=va, vpid=zeros + 1, pcid=zeros + 1,
        size=zeros, pfn=zeros, perms=zeros, glob=zeros,
    )  # fmt: skip


def bench_model(n: int) -> None:
    params = TLBParams()
    pages = 48
    tlb = TLBModel(params)
    tlb.run(OpBatch.from_ops(TLBOp.fill(p << 12, p, vpid=1, pcid=1) for p in range(pages)))
    tlb.run(hit_heavy_batch(1000, pages))  # JIT warm-up (or load from numba's cache)
    for run, label in ((1, "uniform page per lookup"), (64, "64 lookups per page")):
        ops = hit_heavy_batch(n, pages, run)
        for check in (True, False):
            wall = cpu = float("inf")
            for _ in range(5):
                t0, c0 = time.perf_counter(), time.process_time()
                ev = tlb.run(ops, check=check)
                wall = min(wall, time.perf_counter() - t0)
                cpu = min(cpu, time.process_time() - c0)
            print(
                f"model  lookups: {n / wall / 1e6:6.1f} M/s wall, {n / cpu / 1e6:6.1f} M/s CPU  "
                f"({label}, check={check}, hit rate {ev.hit.mean():.3f}, best of 5)"
            )


def bench_replay_path(n: int) -> None:
    """The replay's fused lookup-then-fill (``TLBModel.lookup_fill``): every access carries
    its translation, so every access fills; on a hit the fill rewrites what is there."""
    params = TLBParams()
    for run, label in ((1, "uniform page per lookup"), (64, "64 lookups per page")):
        ops = hit_heavy_batch(n, 48, run)
        va = ops.va
        size = np.zeros(n, dtype=np.int64)
        pfn = va >> np.uint64(12)
        perms = np.ones(n, dtype=np.uint8)
        tlb = TLBModel(params)
        tlb.lookup_fill(va[:1000], 1, 1, size[:1000], pfn[:1000], perms[:1000])  # warm-up
        best = float("inf")
        for _ in range(5):
            t0 = time.process_time()
            hit, _ = tlb.lookup_fill(va, 1, 1, size, pfn, perms)
            best = min(best, time.process_time() - t0)
        print(f"replay lookup+fill: {n / best / 1e6:6.1f} M/s CPU  ({label}, hit rate "
              f"{hit.mean():.3f}, best of 5)")


def trace_pages(path: Path, refs: int) -> tuple[np.ndarray, int, int]:
    """4 KiB page numbers of the data references (``L``/``S``/``M``, below 2**47) of the lackey
    trace at ``path``, the trace looped until there are at least ``refs``; with the length of
    one pass and the number of passes."""
    trace = lackey.load(path)
    keep = (trace.kind != lackey.KINDS.index("I")) & (trace.addr < np.uint64(USER_TOP))
    pages = trace.addr[keep] >> np.uint64(12)
    if not len(pages):
        raise SystemExit(f"{path}: no data references")
    loops = max(1, -(-refs // len(pages)))
    return np.tile(pages, loops), len(pages), loops


def best_cpu(prepare: Callable[[], object], loop: Callable[[object], object],
             repeats: int) -> tuple[float, object]:
    """Best process-CPU seconds of ``loop(prepare())`` over ``repeats`` runs (only ``loop``
    timed), and the last run's result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        state = prepare()
        t0 = time.process_time()
        out = loop(state)
        best = min(best, time.process_time() - t0)
    return best, out


def run_toolkit(pages: np.ndarray, repeats: int) -> tuple[float, int]:
    """Best CPU seconds of ``TLBModel.lookup_fill`` over ``pages`` from a cold TLB (every access
    a lookup and, on a miss, a fill: identity translation, one VPID/PCID), and its misses."""
    n = len(pages)
    va = pages << np.uint64(12)
    size = np.zeros(n, dtype=np.int64)
    perms = np.ones(n, dtype=np.uint8)
    tlb = TLBModel(REAL_PARAMS)
    tlb.lookup_fill(va[:1000], 1, 1, size[:1000], pages[:1000], perms[:1000])  # JIT / cache

    def prepare() -> TLBModel:
        tlb.reset()
        return tlb

    cpu, hit = best_cpu(prepare, lambda t: t.lookup_fill(va, 1, 1, size, pages, perms)[0],
                        repeats)
    return cpu, n - int(np.count_nonzero(hit))


def same_page_filter(pages: np.ndarray) -> np.ndarray:
    """The replay's first filter: drop each access to the page of the access before it
    (it always hits, and changes nothing)."""
    keep = np.empty(len(pages), dtype=bool)
    keep[:1] = True
    np.not_equal(pages[1:], pages[:-1], out=keep[1:])
    return pages[keep]


def set_repeat_filter(pages: np.ndarray) -> np.ndarray:
    """The replay's second filter (``codesign.mmu.runkernel.set_repeats``), on a same-page
    filtered stream: drop each access to the page its set's previous access named."""
    keep = set_repeats(pages.view(np.int64), np.zeros(len(pages), dtype=np.int64),
                        REAL_PARAMS.l4k.sets - 1)  # int64 pages, as the replay has them
    return pages[keep]


def run_pycachesim(pages: np.ndarray, period: int, repeats: int) -> tuple[float, int] | None:
    """Best CPU seconds of pycachesim's ``CacheSimulator.load`` over the page numbers, as a
    cache of 1-byte lines (a line is a page) with 16 sets x 4 ways LRU, and its misses; None
    when pycachesim is not installed. The addresses go in as a list of Python ints, its fast
    path (a numpy array is iterated element by element as numpy scalars, about 4x slower)."""
    try:
        from cachesim import Cache, CacheSimulator, MainMemory
    except ImportError:
        return None
    arr = REAL_PARAMS.l4k
    # The looped trace repeats one pass: the list shares its int objects between passes.
    seq = pages[:period].tolist() * (len(pages) // period)
    assert len(seq) == len(pages)

    def prepare() -> tuple[CacheSimulator, Cache]:
        cache = Cache("TLB", sets=arr.sets, ways=arr.ways, cl_size=1, replacement_policy="LRU")
        mem = MainMemory()
        mem.load_to(cache)
        mem.store_from(cache)
        return CacheSimulator(cache, mem), cache

    def loop(state: tuple[CacheSimulator, Cache]) -> Cache:
        state[0].load(seq)
        return state[1]

    cpu, cache = best_cpu(prepare, loop, repeats)
    return cpu, int(cache.backend.MISS_count)


def run_c_lru(pages: np.ndarray, repeats: int) -> tuple[float, int] | str:
    """``benchmarks/lru_tlb.c`` built with ``gcc -O2``: best CPU seconds of its loop over the
    pages (timed inside the program) and its misses; a reason string when it cannot run."""
    gcc = shutil.which("gcc")
    if gcc is None:
        return "no gcc on PATH"
    with tempfile.TemporaryDirectory() as tmp:
        exe, data = Path(tmp) / "lru_tlb", Path(tmp) / "pages.bin"
        build = subprocess.run([gcc, "-O2", "-o", str(exe), str(HERE / "lru_tlb.c")],
                               capture_output=True, text=True, check=False)
        if build.returncode:
            return f"gcc failed: {build.stderr.strip()[:200]}"
        pages.astype(np.uint64).tofile(data)
        out = subprocess.run([str(exe), str(data), str(repeats)], capture_output=True,
                             text=True, check=True).stdout.split()
    assert out[0] == "misses" and out[2] == "cpu_ns", out
    return int(out[3]) / 1e9, int(out[1])


def bench_real_trace(path: Path, refs: int, repeats: int) -> None:
    """The toolkit's replay kernel against pycachesim and a plain C LRU, on one real trace."""
    pages, period, loops = trace_pages(path, refs)
    n = len(pages)
    print(f"real trace {path}: {period:,} data references x {loops:,} passes = {n:,} accesses "
          f"of {len(np.unique(pages[:period])):,} distinct 4 KiB pages")
    print(f"TLB: {REAL_PARAMS.l4k.entries} entries, {REAL_PARAMS.l4k.sets} sets x "
          f"{REAL_PARAMS.l4k.ways} ways, true LRU, 4 KiB pages only; cold at the start of each "
          f"run; process CPU time of the simulation loop only, best of {repeats}")
    rows: list[tuple[str, int, float, float, int]] = []  # name, fed, loop s, total s, misses

    pcs = run_pycachesim(pages, period, repeats)
    if pcs is None:
        print("pycachesim: skipped (not installed: pip install pycachesim)")
    else:
        version = importlib.metadata.version("pycachesim")
        rows.append((f"pycachesim {version} (C backend, list input)", n, pcs[0], pcs[0],
                     pcs[1]))
    c = run_c_lru(pages, repeats)
    if isinstance(c, str):
        print(f"plain C LRU: skipped ({c})")
    else:
        rows.append(("plain C LRU (lru_tlb.c, gcc -O2)", n, c[0], c[0], c[1]))

    cpu, misses = run_toolkit(pages, repeats)
    rows.append(("codesign lookup_fill, every access", n, cpu, cpu, misses))
    # The replay's feed: the filters' own time counts in the per-trace-access rate.
    filt, deduped = best_cpu(lambda: pages, same_page_filter, repeats)
    cpu, misses = run_toolkit(deduped, repeats)
    rows.append(("codesign lookup_fill, same-page repeats dropped", len(deduped), cpu,
                 cpu + filt, misses))
    set_repeat_filter(deduped[:1000])  # JIT / cache
    filt2, fed = best_cpu(lambda: deduped, set_repeat_filter, repeats)
    cpu, misses = run_toolkit(fed, repeats)
    rows.append(("codesign lookup_fill, + set repeats dropped", len(fed), cpu,
                 cpu + filt + filt2, misses))

    rate = {name: n / total for name, _, _, total, _ in rows}
    ref_pcs = next((r for k, r in rate.items() if k.startswith("pycachesim")), None)
    ref_c = next((r for k, r in rate.items() if k.startswith("plain C")), None)
    print(f"{'implementation':<48} {'fed M':>6} {'M fed/s':>8} {'M trace/s':>10} "
          f"{'misses':>9} {'vs pycachesim':>13} {'vs C':>6}")
    for name, fed_n, loop, _total, miss in rows:
        vs_pcs = f"{rate[name] / ref_pcs:.2f}x" if ref_pcs else "-"
        vs_c = f"{rate[name] / ref_c:.2f}x" if ref_c else "-"
        print(f"{name:<48} {fed_n / 1e6:6.2f} {fed_n / loop / 1e6:8.1f} "
              f"{rate[name] / 1e6:10.1f} {miss:9,} {vs_pcs:>13} {vs_c:>6}")
    print("fed M: accesses handed to the simulator; M fed/s: those per second of its loop; "
          "M trace/s: trace accesses per second of loop + filter (the compared rate)")
    counts = {name: miss for name, _, _, _, miss in rows}
    assert len(set(counts.values())) == 1, f"miss counts differ: {counts}"
    print(f"all {len(rows)} agree: {misses:,} misses of {n:,} accesses "
          f"(hit rate {1 - misses / n:.5f})")


def rtl_ops(params: TLBParams, n: int) -> OpBatch:
    """Lookups over 96 pages with a fill after each miss, as a page walker would issue them."""
    rng = np.random.default_rng(1)
    model = TLBModel(params)
    ops = []
    for vpn in rng.integers(0, 96, size=n):
        look = TLBOp.lookup(int(vpn) << 12, vpid=1, pcid=1)
        ops.append(look)
        if not model.step(look).hit:
            fill = TLBOp.fill(int(vpn) << 12, int(vpn), vpid=1, pcid=1)
            model.step(fill)
            ops.append(fill)
    return OpBatch.from_ops(ops[:n])


def bench_rtl() -> None:
    params = TLBParams(l4k=TLBArrayParams(64, 4, "lru"), l2m=DISABLED, l1g=DISABLED)
    design = build_tlb(params)
    for backend, cycles in (("sim", 300), ("fast", 3_000), ("compiled", 200_000)):
        if backend == "compiled" and not rtl.have_c_compiler():
            print("rtl    compiled: skipped (no gcc)")
            continue
        t0 = time.perf_counter()
        sim = TLBSim(params, backend, design=design)
        build = time.perf_counter() - t0
        ops = rtl_ops(params, cycles)
        t0 = time.perf_counter()
        sim.run(ops)
        run = time.perf_counter() - t0
        print(
            f"rtl    {backend:>8}: {cycles / run:12,.0f} cycles/s  ({cycles:,} cycles, "
            f"simulator build {build:.2f} s; 64-entry 4-way)"
        )


def bench_cost() -> None:
    for label, params in (
        ("64-entry 4-way 4K", TLBParams(l4k=TLBArrayParams(64, 4), l2m=DISABLED, l1g=DISABLED)),
        ("default 64/4 + 32/4 2M + 4 1G", TLBParams()),
    ):
        c = tlb_cost(params)
        print(
            f"cost   {label}: {c.nets:,} nets, {c.register_bits:,} register bits, "
            f"area estimate {c.area_estimate_mm2:.3f} mm^2, critical path "
            f"{c.critical_path_ps:,.0f} ps, fmax {c.fmax_mhz:.0f} MHz (PyRTL, {c.tech_nm:.0f} nm)"
        )


def main() -> None:
    """Run the benchmarks (``--only real``: just the real-trace comparison)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=20_000_000)
    parser.add_argument("--trace", type=Path, default=BUNDLED_TRACE,
                        help="lackey trace for the real-trace comparison (plain or .gz)")
    parser.add_argument("--refs", type=int, default=10_000_000,
                        help="accesses of the real-trace comparison at least (the trace is "
                             "looped to reach it)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="runs per figure of the real-trace comparison (best is kept)")
    parser.add_argument("--only", choices=("all", "real"), default="all")
    args = parser.parse_args()
    bench_real_trace(args.trace, args.refs, args.repeats)
    if args.only == "real":
        return
    bench_model(args.lookups)
    bench_replay_path(args.lookups)
    bench_rtl()
    bench_cost()


if __name__ == "__main__":
    main()
