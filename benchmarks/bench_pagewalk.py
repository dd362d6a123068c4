"""How fast the page walker simulates: RTL cycles/s per PyRTL backend, behavioural walks/s.

Run: ``python benchmarks/bench_pagewalk.py [--walks N] [--rtl-walks M]``. A 4-level guest on
a 4-level host (ChampSim-sized page-walk caches, a 16-entry nested TLB, 40-bit physical
addresses) backed by 4 KiB host pages; the guest maps 200 pages (4 KiB and 2 MiB) spread over
a few regions; requests are 2D walks of random addresses in them with an ASID flush every 500.
The RTL is driven cycle by cycle by ``WalkerSim`` with memory answering after 0..3 cycles (the
driver's Python is part of the cost, as in every test). Also prints the walker's cost figures
(PyRTL estimators; the area is an estimate).

Then the standalone blocks at the walker's default sizes (``codesign_pwc`` for each dimension,
``codesign_ntlb``): operations/s of the behavioural twin and of the RTL (one operation per
cycle) on a lookup/fill/flush mix over the workload's addresses, and their cost figures.
"""

from __future__ import annotations

import argparse
import random
import time

from hwmodels.pagewalk import PageWalkModel, PWCParams, WalkBatch, WalkerParams, WalkRequest
from hwmodels.pagewalk.cache_rtl import NTLBSim, PWCSim, ntlb_cost, pwc_cost
from hwmodels.pagewalk.caches import CacheOp, NTLBModel, NTLBOp, PWCModel, PWCOp
from hwmodels.pagewalk.params import NTLBBlockParams, NTLBParams, PWCBlockParams
from hwmodels.pagewalk.rtl import WalkerSim, build_walker, walker_cost
from hwmodels.pagewalk.tables import PAGE_2M, PAGE_4K, NestedImage

PARAMS = WalkerParams(pa_bits=40)
UNCACHED = WalkerParams(pwc_guest=PWCParams(0), pwc_nested=PWCParams(0), ntlb=NTLBParams(0),
                        pa_bits=40)


def workload(walks: int, seed: int = 1) -> tuple[NestedImage, WalkBatch]:
    """A guest image and a batch of 2D walks over it."""
    rng = random.Random(seed)
    img = NestedImage(4, 4, PAGE_4K, guest_base=0x200000, host_base=0x10000000)
    pages = []
    for _ in range(200):
        size = rng.choice([PAGE_4K, PAGE_4K, PAGE_4K, PAGE_2M])
        va = rng.choice([0, 1 << 40, 1 << 46]) + rng.randrange(1 << 32) // size * size
        if img.guest.lookup(va) is None and img.guest.lookup(va + size - 1) is None:
            try:
                img.map(va, img.guest_alloc.alloc(size), size)
            except ValueError:
                continue
            pages.append((va, size))
    reqs = []
    for i in range(walks):
        if i % 500 == 499:
            reqs.append(WalkRequest.flush_asid(vm=1, asid=0))
        va, size = rng.choice(pages)
        reqs.append(WalkRequest.nested(va + rng.randrange(size), img.guest.root, img.ept.root,
                                       vm=1))
    return img, WalkBatch.from_requests(reqs)


def cache_ops(reqs: WalkBatch, n: int, seed: int = 2) -> tuple[list[PWCOp], list[PWCOp],
                                                              list[NTLBOp]]:
    """Guest-PWC, nested-PWC and nested-TLB operation mixes over the walks' addresses."""
    rng = random.Random(seed)
    vas = [int(v) for v in reqs.va[reqs.op == WalkRequest.nested(0, 0, 0).op]]
    g, h, t = [], [], []
    for i in range(n):
        va = rng.choice(vas) & ~0xFFF
        gpa = va % (1 << 40)
        frame = (va >> 12) % (1 << 28)
        if i % 500 == 499:
            g.append(PWCOp.flush(CacheOp.FLUSH_ASID, vm=1))
            h.append(PWCOp.flush(CacheOp.FLUSH_VM, vm=1))
            t.append(NTLBOp.flush(CacheOp.FLUSH_VM, vm=1))
        elif rng.random() < 0.6:
            g.append(PWCOp.lookup(va, vm=1))
            h.append(PWCOp.lookup(gpa, vm=1))
            t.append(NTLBOp.lookup(gpa >> 12, vm=1))
        else:
            level = rng.randint(2, 4)
            g.append(PWCOp.fill(va, level, frame, vm=1))
            h.append(PWCOp.fill(gpa, level, frame, vm=1))
            t.append(NTLBOp.fill(gpa >> 12, frame, vm=1))
    return g, h, t


def bench_blocks(reqs: WalkBatch, n: int, rtl_n: int) -> None:
    """Twin and RTL throughput, and cost, of the standalone caches at the default sizes."""
    g_ops, h_ops, t_ops = cache_ops(reqs, n)
    blocks = (("pwc guest", PWCBlockParams.of_walker(PARAMS, "guest"), g_ops, PWCModel, PWCSim,
               pwc_cost),
              ("pwc nested", PWCBlockParams.of_walker(PARAMS, "nested"), h_ops, PWCModel, PWCSim,
               pwc_cost),
              ("ntlb", NTLBBlockParams.of_walker(PARAMS), t_ops, NTLBModel, NTLBSim, ntlb_cost))
    for label, params, ops, model_cls, sim_cls, cost in blocks:
        model = model_cls(params)
        model.run(ops[:10])  # compile (or load the numba cache) outside the timing
        model.reset()
        start = time.perf_counter()
        ev = model.run(ops)
        dt = time.perf_counter() - start
        hits = sum(e.hit for e in ev) / max(1, sum(o.op == CacheOp.LOOKUP for o in ops))
        print(f"{label} twin: {len(ops) / dt:,.0f} ops/s (lookup hit rate {hits:.2f})")
        for backend in ("fast", "compiled"):
            start = time.perf_counter()
            sim = sim_cls(params, backend)
            built = time.perf_counter() - start
            start = time.perf_counter()
            sim.run(ops[:rtl_n], reset=True)
            dt = time.perf_counter() - start
            print(f"{label} RTL {backend}: {rtl_n / dt:,.0f} cycles/s "
                  f"(simulator built in {built:.2f} s)")
        c = cost(params)
        print(f"{label} cost: {c.nets} nets, {c.register_bits} register bits, area estimate "
              f"{c.area_estimate_mm2:.3f} mm^2 at {c.tech_nm:.0f} nm, fmax {c.fmax_mhz:.0f} MHz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--walks", type=int, default=200_000)
    parser.add_argument("--rtl-walks", type=int, default=2000)
    parser.add_argument("--cache-ops", type=int, default=200_000)
    parser.add_argument("--rtl-cache-ops", type=int, default=20_000)
    args = parser.parse_args()
    img, reqs = workload(args.walks)

    for label, params in (("caches on", PARAMS), ("caches off", UNCACHED)):
        model = PageWalkModel(params, img.mem)
        model.run(reqs[:10])  # compile (or load the numba cache) outside the timing
        model.reset()
        start = time.perf_counter()
        ev = model.run(reqs)
        dt = time.perf_counter() - start
        print(f"behavioural ({label}): {len(reqs) / dt:,.0f} walks/s, "
              f"{len(ev.addrs) / len(reqs):.2f} refs/walk")

    design = build_walker(PARAMS)
    head = reqs[: args.rtl_walks]
    for backend in ("fast", "compiled"):
        start = time.perf_counter()
        sim = WalkerSim(PARAMS, img.mem, backend=backend, design=design)
        built = time.perf_counter() - start
        start = time.perf_counter()
        sim.run(head)
        dt = time.perf_counter() - start
        print(f"RTL {backend}: {sim.cycles / dt:,.0f} cycles/s ({sim.cycles} cycles, "
              f"{len(head) / dt:,.0f} walks/s; simulator built in {built:.2f} s)")

    c = walker_cost(PARAMS)
    print(f"cost: {c.nets} nets, {c.register_bits} register bits, area estimate "
          f"{c.area_estimate_mm2:.3f} mm^2 at {c.tech_nm:.0f} nm, fmax {c.fmax_mhz:.0f} MHz")
    bench_blocks(reqs, args.cache_ops, args.rtl_cache_ops)


if __name__ == "__main__":
    main()
