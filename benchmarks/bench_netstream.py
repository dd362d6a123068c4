"""Packet streams larger than memory: ``codesign run`` of a NIC mechanism on streams of growing
length, its time and peak memory, the stream held whole and drawn in pieces.

Run: ``python benchmarks/bench_netstream.py [--frames 1e6,1e7] [--mechanism pv-split]``. Not a
test: prints figures, asserts nothing.

Each run is a fresh ``python -m codesign run --workload imix --mechanism M`` process (IMIX at
5 Gb/s to 4 VMs, ``hw.cost=false``), measured from outside: wall time and the process's
peak resident memory (``wait4``'s ``ru_maxrss``). *whole*: ``$CODESIGN_STREAM_BYTES`` above
the stream's records (56 bytes a frame), so the workload returns one array; *pieces*: 0, so
it returns :class:`~workloads.packets.chunked.FrameChunks`, drawn again on each of the run's
three passes (:mod:`codesign.net.streamed`). Either way a stream above 2 M frames runs a
chunk at a time (:data:`codesign.net.common.STREAM_ABOVE`); below, whole
(:func:`codesign.net.common.run_paths`, a dozen arrays of the stream's length). The metrics
are the same bits either way (``tests/net/test_streamed.py``).

Issue 15 item 4 asks for 1e8 frames in bounded memory. Measured (2026-12-06, 2-CPU
container, pv-split, ``--frames 1e6,1e7,3e7,1e8 --whole-up-to 1e7``)::

        frames   whole: s  peak MiB   pieces: s  peak MiB
         1.0 M        1.8       430         1.4       430
        10.0 M        9.5     1,231         7.5       454
        30.0 M          -         -        21.2       503
       100.0 M          -         -        69.9       507

In pieces the peak stays near 500 MiB whatever the length (the interpreter, numba and the
kernels, a block of a million frames a direction with its columns in each stage, up to 8 M
latencies before they go to a temporary file), so 1e8 frames run in the memory of 1e6; held
whole, the stream adds its 56 bytes a frame and more. A run in pieces draws the stream three
times (two survey passes and the run) and is still no slower: 1.4 M frames/s end to end.
With freed memory kept for reuse (:mod:`codesign.allocator`, set by the harness; measured
2026-12-06, a later session, ``--frames 1e6,1e7,3e7 --whole-up-to 1e7``), the peaks are
the allocator's defaults' (``CODESIGN_SYSTEM_MALLOC=1``) within 3 %: 409 / 409 MiB at 1 M,
1,127 / 457 at 10 M, 510 / 498 in pieces at 30 M (12.5 s against 12.9 s).
Before the NIC model's interrupts were counted rather than kept, a 30 M-frame run in pieces
peaked at 1.2 GB (its batch-sized buffers were held by the log).
"""

from __future__ import annotations

import argparse
import os

from timing import codesign_process


def one_run(frames: int, mechanism: str, env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak resident MiB) of one ``codesign run`` process."""
    return codesign_process(["run", "--workload", "imix", "--mechanism", mechanism, "--set",
                             f"workload.packets={frames}", "--set", "workload.offered_gbps=5",
                             "--set", "workload.vms=4", "--set", "hw.cost=false"], env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", default="1e6,1e7", help="stream lengths, frames")
    parser.add_argument("--mechanism", default="pv-split")
    parser.add_argument("--whole-up-to", type=float, default=2e7,
                        help="longest stream also held whole (56 bytes a frame and more)")
    args = parser.parse_args()
    print(f"{'frames':>10s}   {'whole: s':>8s} {'peak MiB':>9s}   {'pieces: s':>9s} "
          f"{'peak MiB':>9s}")
    for frames in (int(float(x)) for x in args.frames.split(",")):
        row = []
        for limit in (str(1 << 62), "0"):
            if limit != "0" and frames > args.whole_up_to:
                row.append(None)
                continue
            row.append(one_run(frames, args.mechanism,
                               {**os.environ, "CODESIGN_STREAM_BYTES": limit}))
        whole = f"{row[0][0]:8.1f} {row[0][1]:9,.0f}" if row[0] else f"{'-':>8s} {'-':>9s}"
        print(f"{frames / 1e6:8.1f} M   {whole}   {row[1][0]:9.1f} {row[1][1]:9,.0f}",
              flush=True)


if __name__ == "__main__":
    main()
