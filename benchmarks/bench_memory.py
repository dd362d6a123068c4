"""Memory-workload benchmarks: lackey ingestion (cold, parser only, cached) and generator rates.

Run: ``python benchmarks/bench_memory.py [--lines N] [--trace PATH] [--image]``. Not a test:
prints figures, asserts nothing.

- Lackey (best of three runs): without ``--trace``, a trace of N lines is written to a
  temporary directory by repeating the committed deflate-loop slice (``tests/data``) with
  ``==PID==`` banners every 1000 lines and instruction fetches in between, as a real log
  interleaves them. *Cold* is a
  first load into an empty cache (read, SHA-256, parse, write the cache); *parser* is the
  numba kernel alone on bytes in memory; *cached* is a second load (read, SHA-256, read the
  ``.npz``); the plain-Python line loop of the tests' reference parser is shown for scale on
  the first 200,000 lines. The JIT is warmed up first (its compile is cached on disk).
- Generators: each registered memory workload at its default parameters (best of three,
  after a warm-up), in events/s, then ``validate`` and ``summarize`` over the same stream;
  ``forkwait`` and ``mmap-churn`` again at a large iteration count (:data:`LARGE`).
- Guest memory image (``--image``): a ``random`` trace (no read-modify-write pairs, references
  twice the footprint's pages, so ~86 % of its pages are touched) replayed through ``nested``
  on default hardware (``hw.cost=false``: no RTL), for footprints of 0.25 M, 0.5 M and 1 M
  pages (:data:`IMAGE_PAGES`), without and with the guest kernel's work (``kernel.work``: 68
  kernel references per new page, the page's zeroing among them, through the same TLBs,
  walker and caches), each in a fresh process after a small warm-up replay. Prints the
  replay's wall time per new page (demand fault) and per reference, and the resident memory
  the replay added per mapped page (page tables, guest model, walker image). Per-page time
  that stays flat as the footprint grows is linear; growing is quadratic.

  Measured on a shared 2-CPU container (Python 3.11), the same session: before; after the
  compiled demand fault (:mod:`codesign.mmu.guestkernel`; a chunk's 4 KiB first touches in
  one call, counted in bulk); after the per-frame records moved into arrays
  (:mod:`codesign.mmu.frames`: host backing, reference counts); and after the replay's
  translation cache did (:mod:`codesign.mmu.tcache`)::

      kernel  pages    us/new page                     resident B/page
                       before compiled arrays tcache   before compiled arrays tcache
      off     0.25 M     43.6   17.0    13.9   10.8    1,079    887     610    473
      off     0.5 M      44.6   18.7    15.0   11.3    1,258    851     603    475
      off     1 M        47.7   20.0    16.1   12.0    1,207    880     621    457
      on      0.25 M     66.4   29.7    26.8   25.0    1,436  1,096     796    529
      on      0.5 M      70.1   31.4    27.9   25.7    1,438  1,051     801    523
      on      1 M        71.3   34.9    31.9   28.9    1,401  1,019     795    511

  (An earlier step made the image a hash table walks read in place instead of a sorted copy
  rebuilt after every faulting batch: that made the time per page nearly flat in the
  footprint.) Then (2026-12-05, idle container) the guest's leaf records moved into a
  compiled hash table (:mod:`codesign.mmu.leaves`), and a run's translations of new pages,
  the kernel's collected work and the fault records into arrays; *not sim.* is the time
  per new page outside the compiled TLB / walk / cache simulation of the run's references
  (the fault path, the kernel work's collection, the bookkeeping)::

      kernel  pages    us/new page  not sim.  resident B/page   (tcache: us, B)
      off     0.25 M        5.6       2.4          291            10.8   473
      off     0.5 M         5.6       2.4          283            11.3   475
      off     1 M           6.8       2.7          261            12.0   457
      on      0.25 M       11.3       3.7          348            25.0   529
      on      0.5 M        12.7       4.3          332            25.7   523
      on      1 M          13.4       4.4          300            28.9   511

  Those five words per mapped page (its guest leaf entry twice, in the native and the host
  image; its host entry; its leaf record; its cached translation) each took a hash slot of
  16 bytes kept a quarter to a half full. Then (2026-12-06, same container) every
  :class:`~hwmodels.pagewalk.tables.Memory` image holds rows of 16 consecutive words behind
  a hash of row keys, so a word of a dense table costs its 8 bytes and a sixteenth of a slot
  (leaves and cached translations keyed by page number, so consecutive pages share rows),
  and the fault records of a block are kept as arrays. New columns: *faults*, the time per
  new page in the fault path (the guest model's compiled demand faults and its slow path for
  new table pages, and recording them: counts, translations of the new pages, the kernel
  work to replay); *held*, the resident memory added once the C heap has given back the
  memory it keeps free for reuse (``malloc_trim``): what the model holds. The *RSS* column
  is the process's resident growth as is; the difference is freed temporaries (per-block
  arrays, the images' old arrays after they doubled) that glibc keeps in its heap::

      kernel  pages    us/new page  not sim.  faults   B/page (RSS)  held
      off     0.25 M        5.1       2.1       1.3        117         66
      off     0.5 M         5.4       2.2       1.3        107         68
      off     1 M           6.3       2.5       1.6         94         64
      on      0.25 M       11.4       3.9       1.6        155         88
      on      0.5 M        12.3       4.2       1.8        140         87
      on      1 M          12.8       4.3       1.9        121         81

  The guest memory model meets the issue's targets: 1.3-1.9 us per new page in the fault
  path and 64-88 bytes held per mapped page, both nearly flat from 0.25 M to 1 M pages (the
  slight rise is the images outgrowing the processor's caches: each new page touches every
  structure at a random place). Outside the simulation the rest of *not sim.* is per
  reference, not per page -- the translation-cache lookups, the per-access histogram, the
  guest kernel's work collected for replay -- which this trace, two references per page,
  charges to its pages: 0.8-0.9 us without the kernel's work, 2.3-2.4 with it.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import gzip
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from timing import timed

from codesign.mmu.nested import NestedParams
from codesign.mmu.replay import Replay, drive
from codesign.params import build
from codesign.registry import default_registry
from workloads.memory import lackey, summarize, validate
from workloads.memory.events import Ev
from workloads.memory.synthetic import RandomParams, generate_random

TRACE = Path(__file__).parent.parent / "tests" / "data" / "gzip_deflate.lackey.gz"
RECORD = re.compile(rb"(I  | L | S | M )([0-9a-fA-F]{1,16}),([0-9]{1,9})")


def synthetic_trace(path: Path, lines: int) -> None:
    """``lines`` lines of lackey output built from the committed slice."""
    refs = gzip.decompress(TRACE.read_bytes()).splitlines(keepends=True)
    chunk = []
    for i, line in enumerate(refs):
        if i % 1000 == 0:
            chunk.append(b"==4242== a banner line\n")
        chunk.append(b"I  %08x,4\n" % (0x401000 + 4 * (i % 4096)))
        chunk.append(line)
    block = b"".join(chunk)
    with path.open("wb") as f:
        written = 0
        while written + len(chunk) <= lines:
            f.write(block)
            written += len(chunk)
        f.write(b"".join(chunk[: lines - written]))


def python_rate(data: bytes, lines: int) -> float:
    """Lines per second of a plain-Python regex loop (the tests' reference parser)."""
    head = b"\n".join(data.split(b"\n", lines)[:lines])
    start = time.perf_counter()
    out = []
    for line in head.split(b"\n"):
        m = RECORD.fullmatch(line.rstrip())
        if m:
            out.append(int(m.group(2), 16))
    return lines / (time.perf_counter() - start)


def bench_lackey(path: Path) -> None:
    lackey.parse_bytes(b" L 1000,4\n")  # JIT warm-up (cached compile)
    data = path.read_bytes()
    lines = data.count(b"\n")
    mb = len(data) / 1e6
    print(f"lackey: {lines:,} lines, {mb:.1f} MB ({path.name})")
    cold, parser, cached = [], [], []
    for _ in range(3):  # best of three: the machine may be shared
        with tempfile.TemporaryDirectory() as cache:
            os.environ["CODESIGN_CACHE"] = cache
            try:
                start = time.perf_counter()
                trace = lackey.load(path)
                cold.append(time.perf_counter() - start)
                start = time.perf_counter()
                lackey.parse_bytes(data, str(path))
                parser.append(time.perf_counter() - start)
                start = time.perf_counter()
                lackey.load(path)
                cached.append(time.perf_counter() - start)
                size = sum(f.stat().st_size for f in Path(cache).iterdir())
            finally:
                del os.environ["CODESIGN_CACHE"]
    cold, parser, cached = min(cold), min(parser), min(cached)
    refs = len(trace.addr)
    for label, seconds in (("cold load", cold), ("parser only", parser), ("cached load", cached)):
        print(f"  {label:<12s} {seconds * 1e3:9.1f} ms  {lines / seconds / 1e6:8.1f} M lines/s  "
              f"{mb / seconds:8.1f} MB/s")
    print(f"  records {refs:,}; cache file {size / 1e6:.1f} MB")
    rate = python_rate(data, min(lines, 200_000))
    print(f"  plain Python regex loop: {rate / 1e6:.2f} M lines/s "
          f"(parser only is {lines / parser / rate:.0f}x faster)")
    start = time.perf_counter()
    events = lackey.stream(trace, "ILSM")
    print(f"  stream of all kinds: {len(events):,} events in "
          f"{(time.perf_counter() - start) * 1e3:.1f} ms")


LARGE = (
    ("forkwait", {"workload.iterations": 40_000}),        # Adams & Agesen's count
    ("mmap-churn", {"workload.cycles": 100_000}),
)
"""Generators whose cost grows with an iteration count, timed again at a large one."""


def bench_generators() -> None:
    registry = default_registry()
    print(f"{'generator':<28s} {'events':>10s} {'gen M ev/s':>11s} {'validate':>9s} "
          f"{'summarize':>10s}")
    runs = [(name, {}) for name, w in registry.workloads.items()
            if w.kind == "memory" and name != "lackey"] + list(LARGE)
    for name, values in runs:
        w = registry.workload(name)
        params = build(w.params, values)
        w.generate(build(w.params, {}))  # warm-up: compiled kernels load from the disk cache
        gen = min(timed(w.generate, params)[1] for _ in range(3))  # best of three
        events = w.generate(params)
        _, val = timed(validate, events)
        _, summ = timed(summarize, events)
        n = len(events)
        label = name + "".join(f" {k.split('.')[-1]}={v:,}" for k, v in values.items())
        print(f"{label:<28s} {n:>10,d} {n / gen / 1e6:>11.2f} {n / val / 1e6:>8.2f}M "
              f"{n / summ / 1e6:>9.2f}M")


IMAGE_PAGES = (250_000, 500_000, 1_000_000)
"""Footprints (4 KiB pages) of the guest-memory-image benchmark."""


def _rss(trim: bool = False) -> int:
    """Resident bytes of this process now (Linux ``/proc``); ``trim``: after the C heap gave
    its free memory back (glibc's ``malloc_trim``, where there is one), so that what remains
    is what the process holds, not what its allocator keeps for reuse."""
    if trim:
        gc.collect()
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def image_point(pages: int, kernel: bool) -> str:
    """One line of figures: a nested replay of a random trace over ``pages`` pages, with or
    without the guest kernel's work."""
    def stream(n: int) -> np.ndarray:
        return generate_random(RandomParams(refs=2 * n, footprint_mb=max(1, n // 256),
                                            read_modify_write=False))

    setup = NestedParams(kernel_work=kernel).setup(nested=True)
    drive(Replay(setup), stream(2_560))  # warm-up: compiled kernels load from the disk cache
    events = stream(pages)
    refs = int((events["op"] == Ev.ACCESS).sum())
    before = _rss()
    r = Replay(setup)
    simulated = [0.0]

    def pipeline(*args: object) -> object:  # the compiled TLB / walk / cache simulation
        start = time.perf_counter()
        out = Replay._pipeline(*args)
        simulated[0] += time.perf_counter() - start
        return out

    r._pipeline = pipeline
    faulting = [0.0]

    def timing(fn: Callable[..., object]) -> Callable[..., object]:
        def run(*args: object) -> object:
            start = time.perf_counter()
            out = fn(*args)
            faulting[0] += time.perf_counter() - start
            return out
        return run

    # the fault path: the guest model's demand faults (compiled runs, the slow path) and
    # their recording (counts, translations of the new pages, the kernel work to replay)
    r.guest.demand_faults = timing(r.guest.demand_faults)
    for name in ("_fault_at", "_first_unmapped", "_demanded"):
        setattr(r, name, timing(getattr(r, name)))
    cpu = time.process_time()
    _, seconds = timed(drive, r, events)
    cpu = time.process_time() - cpu
    added = _rss() - before
    held = _rss(trim=True) - before
    new = r.c.faults_demand
    return (f"{'on' if kernel else 'off':>6s} {pages:>10,d} {new:>10,d} {seconds:>8.1f} "
            f"{seconds / new * 1e6:>12.1f} {(seconds - simulated[0]) / new * 1e6:>10.1f} "
            f"{faulting[0] / new * 1e6:>10.1f} {cpu / new * 1e6:>12.1f} "
            f"{seconds / refs * 1e6:>10.2f} {added / new:>12,.0f} {held / new:>8,.0f}")


def bench_image() -> None:
    print("guest memory image: nested replay of a random trace (references = 2 x pages)")
    print(f"{'kernel':>6s} {'pages':>10s} {'new pages':>10s} {'replay s':>8s} "
          f"{'us/new page':>12s} {'not sim.':>10s} {'faults':>10s} {'CPU us/page':>12s} "
          f"{'us/ref':>10s} {'B/page (RSS)':>12s} {'held':>8s}")
    for kernel in ("off", "on"):
        for pages in IMAGE_PAGES:  # a fresh process each: resident memory is not given back
            out = subprocess.run([sys.executable, __file__, "--image-point", str(pages),
                                  "--kernel", kernel], check=True, capture_output=True,
                                 text=True)
            print(out.stdout.rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=5_000_000,
                        help="lines of the synthetic trace (default 5,000,000)")
    parser.add_argument("--trace", type=Path, help="a lackey trace to time instead")
    parser.add_argument("--image", action="store_true",
                        help="only the guest-memory-image benchmark (minutes)")
    parser.add_argument("--image-point", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--kernel", choices=("on", "off"), default="on", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.image_point:
        print(image_point(args.image_point, args.kernel == "on"))
        return
    if args.image:
        bench_image()
        return
    if args.trace:
        bench_lackey(args.trace)
    else:
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "synthetic.lackey"
            synthetic_trace(path, args.lines)
            bench_lackey(path)
    print()
    bench_generators()


if __name__ == "__main__":
    main()
