"""Replay a lackey trace as a memory workload and print what the stream holds.

Usage: ``python examples/lackey/summarize.py TRACE [KINDS]`` (KINDS: letters of ILSM in that
order, default LSM). The first run parses the trace and caches it (``$CODESIGN_CACHE`` or
``~/.cache/codesign``); later runs of the same content read the cache. A trace above the
streaming threshold (``$CODESIGN_STREAM_BYTES``, 256 MiB of text) is surveyed, not held,
and summarized in one more pass over its pieces.
"""

from __future__ import annotations

import sys
import time

from codesign.errors import InputError
from codesign.params import build
from workloads.memory import format_events, lackey, summarize
from workloads.memory.chunked import EventChunks


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    values = {"workload.path": argv[0]}
    if len(argv) == 2:
        values["workload.kinds"] = argv[1]
    try:
        params = build(lackey.LackeyParams, values, origin="summarize.py")
        start = time.perf_counter()
        events = lackey.generate(params)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    if isinstance(events, EventChunks):  # above the streaming threshold: never held whole
        print(format_events(next(iter(events)), limit=8))
        print(f"surveyed in {elapsed:.3f} s; streamed: {events.events:,} events, "
              f"{events.accesses:,} references")
    else:
        print(format_events(events, limit=8))
        print(f"loaded in {elapsed:.3f} s")
    for name, value in summarize(events).as_dict().items():
        if value:
            print(f"{name:>16s}  {value:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
