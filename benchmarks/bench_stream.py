"""Traces larger than memory: ``codesign run`` on lackey traces of growing size, its time and
peak memory, whole (parsed into memory) and streamed (read a block at a time).

Run: ``python benchmarks/bench_stream.py [--mib 64,256,1024] [--mechanism nested]``. Not a
test: prints figures, asserts nothing. Needs free disk for the largest trace (it is written
to a temporary directory and removed).

Each trace is ``bench_memory.synthetic_trace`` (the committed slice's references with
instruction fetches and banners between them, so about 75 M lines per GiB and a few hundred
distinct pages: the guest model's state stays small and what grows is the stream). Each run
is a fresh ``python -m codesign run --workload lackey --mechanism M --set workload.path=T
--set hw.cost=false`` process with an empty ``$CODESIGN_CACHE`` (so the whole path parses
and caches the trace, and the streamed path surveys it, in the time shown), measured from
outside: wall time and the process's peak resident memory (``wait4``'s ``ru_maxrss``).
*whole*: ``$CODESIGN_STREAM_BYTES`` above the trace's size; *streamed*: 0.

Issue 15 item 4 asks for a 10 GB lackey trace in bounded memory. Measured (2026-12-06,
2-CPU container, nested, ``--mib 40,160,640,10240 --whole-up-to 1024``)::

         text     refs   whole: s  peak MiB   streamed: s  peak MiB
       40 MiB    1.5 M        1.8       286           1.3       238
      159 MiB    5.8 M        4.3       568           2.0       293
      635 MiB   23.3 M       12.9     1,743           4.7       293
   10,154 MiB  373.6 M          -         -          65.6       293

The streamed peak stays under 300 MiB whatever the trace (the interpreter, numba and the
kernels, the models' tables, one 16 MiB block of text with its records and events), so a
10 GB trace runs in the memory of a small one; the whole path holds the text, its parse
(cached to disk on the way) and 32 bytes per event at once, about 3 bytes of memory per byte
of text, and is not run above 1 GiB here. A streamed run parses the text once (the survey,
which keeps the selected references on disk, 9 bytes each: 3.4 GB for the largest) and
reads those for the native reference and the mechanism's replay.

The migration mechanisms, measured the same day (``--mib 160,640 --mechanism precopy
--whole-up-to 160``): 159 MiB whole 4.8 s / 812 MiB, streamed 3.0 s / 337 MiB; 635 MiB
streamed 8.2 s / 737 MiB. The streamed peak here includes the file pages of the
per-write columns the engine reads through a memory map (a temporary file beyond 2 M values
a column): the process's anonymous memory, sampled, peaked at 210 MiB for both traces
(before the columns were spilled and merged a block at a time, the dirty stream alone held
32 bytes a reference).

How it got there, the 10 GiB row (same machine): every pass parsing the text again, 159.8 s
(peak 361 MiB; another single-process job shared the machine); the selection kept on disk,
99.8 s; the parser 1.8x faster, 98.5 s; the replay joining a piece to the carried remainder
only up to the piece's first cut instead of copying it whole (14 ms per 16 MiB piece, more
than replaying it), and no second check of a selection the same process just wrote, 65.6 s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench_memory import synthetic_trace
from timing import codesign_process

LINES_PER_MIB = 73_000


def one_run(trace: Path, mechanism: str, env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak resident MiB) of one ``codesign run`` process."""
    return codesign_process(["run", "--workload", "lackey", "--mechanism", mechanism,
                             "--set", f"workload.path={trace}", "--set", "hw.cost=false"], env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", default="64,256,1024", help="trace sizes, MiB of text")
    parser.add_argument("--mechanism", default="nested")
    parser.add_argument("--whole-up-to", type=int, default=2048,
                        help="largest trace (MiB) also run whole: it holds ~5x its text")
    args = parser.parse_args()
    print(f"{'text':>9s} {'refs':>7s}   {'whole: s':>9s} {'peak MiB':>9s}   "
          f"{'streamed: s':>11s} {'peak MiB':>9s}")
    for mib in (int(x) for x in args.mib.split(",")):
        with tempfile.TemporaryDirectory() as d:
            trace = Path(d) / "t.lackey"
            synthetic_trace(trace, mib * LINES_PER_MIB)
            refs = data_refs(trace)
            row = []
            for limit in (str(2 * trace.stat().st_size), "0"):
                if limit != "0" and mib > args.whole_up_to:
                    row.append(None)
                    continue
                cache = Path(d) / f"cache-{limit}"
                env = {**os.environ, "CODESIGN_CACHE": str(cache),
                       "CODESIGN_STREAM_BYTES": limit}
                row.append(one_run(trace, args.mechanism, env))
            size = trace.stat().st_size / 2**20
            whole = (f"{row[0][0]:9.1f} {row[0][1]:9,.0f}" if row[0] else f"{'-':>9s} {'-':>9s}")
            print(f"{size:5.0f} MiB {refs / 1e6:5.1f} M   {whole}   "
                  f"{row[1][0]:11.1f} {row[1][1]:9,.0f}", flush=True)


def data_refs(trace: Path) -> int:
    """The trace's L, S and M lines (the default workload.kinds), counted a block at a time."""
    n, tail = 0, b""
    with trace.open("rb") as f:
        while block := f.read(1 << 26):
            text = tail + block
            cut = text.rfind(b"\n") + 1
            n += sum(text.count(b"\n" + k, 0, cut) for k in (b" L ", b" S ", b" M "))
            tail = text[cut - 1:]  # keep the newline: the next line's start is found after it
    return n


if __name__ == "__main__":
    main()
