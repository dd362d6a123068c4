"""What the memory generators share: parameter declarations, the address layout, draws.

Every generator lays a process out the same way, like a Linux x86-64 process: anonymous
regions in the mmap area at :data:`MMAP_BASE` (1 GiB-aligned, so a region can be backed by
2 MiB or 1 GiB pages wherever the OS model's policy allows), a heap at :data:`HEAP_BASE`, text
at :data:`TEXT_BASE` and a stack ending at :data:`STACK_TOP`. Processes of one workload share
the layout, as real processes do, so untagged TLBs see the same virtual pages map to different
frames after a switch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from codesign.params import param
from workloads.memory.events import (
    PAGE,
    RW,
    RX,
    Access,
    StreamBuilder,
    Syscall,
    access_block,
)

MMAP_BASE = 0x7F00_0000_0000
TEXT_BASE = 0x40_0000
HEAP_BASE = 0x5555_5560_0000
STACK_TOP = 0x7FFF_FFE0_0000
MIB_PAGES = (1 << 20) // PAGE
MAX_REFS = 100_000_000


def seed_param() -> Any:
    """``workload.seed``: every draw of a generator comes from it."""
    return param(1, key="workload.seed", min=0, max=2**63 - 1,
                 doc="seed of every random draw (same seed, same stream)")


def refs_param(default: int, doc: str = "memory references (ACCESS events)") -> Any:
    """``workload.refs``."""
    return param(default, key="workload.refs", min=1, max=MAX_REFS, doc=doc)


def footprint_param(default: int) -> Any:
    """``workload.footprint_mb``: the region the references fall in."""
    return param(default, key="workload.footprint_mb", min=1, max=65536, unit="MiB",
                 doc="size of the region referenced (one mmap, MiB)")


def write_fraction_param(default: float, **extra: Any) -> Any:
    """``workload.write_fraction``: exactly ``round(refs * fraction)`` references write."""
    return param(default, key="workload.write_fraction", min=0.0, max=1.0,
                 doc="fraction of references that are writes (exact: round(refs x fraction))",
                 **extra)


def exact_writes(rng: np.random.Generator, n: int, fraction: float) -> np.ndarray:
    """Access kinds with exactly ``round(n * fraction)`` writes at random positions.

    >>> kinds = exact_writes(np.random.default_rng(0), 10, 0.3)
    >>> int((kinds == Access.WRITE).sum()), kinds.dtype
    (3, dtype('uint32'))
    """
    kinds = np.zeros(n, dtype=np.uint32)
    kinds[rng.permutation(n)[: round(n * fraction)]] = Access.WRITE
    return kinds


def single_process(va: np.ndarray, kinds: np.ndarray, pages: int) -> np.ndarray:
    """A stream of one process that maps ``pages`` at :data:`MMAP_BASE` and makes the accesses.

    >>> from workloads.memory.events import summarize
    >>> s = summarize(single_process(np.array([MMAP_BASE], dtype=np.uint64), 0, pages=4))
    >>> s.spawns, s.switches, s.maps, s.mapped_pages, s.accesses
    (1, 1, 1, 4, 1)
    """
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    b.map(MMAP_BASE, pages, RW)
    return access_block(va, kinds, pid=1, head=b.build())


def words(rng: np.random.Generator, n: int) -> np.ndarray:
    """Byte offsets of ``n`` random 8-byte words within a 4 KiB page.

    >>> w = words(np.random.default_rng(0), 1000)
    >>> bool((w % 8 == 0).all() and (w < 4096).all())
    True
    """
    return rng.integers(0, PAGE // 8, size=n, dtype=np.uint64) * np.uint64(8)


def exec_image(b: StreamBuilder, text_pages: int, heap_pages: int, stack_pages: int) -> None:
    """The running process execs a program: one ``execve`` mapping text, heap and stack.

    >>> from workloads.memory.events import format_events
    >>> b = StreamBuilder(); b.spawn(1); b.switch(1); exec_image(b, 2, 3, 1)
    >>> print(format_events(b.build()[2:]))
         0 vm0 pid1  SYSCALL    execve #1
         1 vm0 pid1  MAP        0x400000 +2 r-x #1
         2 vm0 pid1  MAP        0x555555600000 +3 rw- #1
         3 vm0 pid1  MAP        0x7fffffdff000 +1 rw- #1
    """
    with b.syscall(Syscall.EXECVE):
        b.map(TEXT_BASE, text_pages, RX)
        b.map(HEAP_BASE, heap_pages, RW)
        b.map(STACK_TOP - stack_pages * PAGE, stack_pages, RW)


def warm_image(b: StreamBuilder, text_pages: int, heap_pages: int, stack_pages: int) -> None:
    """Touch every page of an :func:`exec_image`: fetch text, write heap and stack.

    >>> from workloads.memory.events import summarize
    >>> b = StreamBuilder(); b.spawn(1); b.switch(1); exec_image(b, 2, 3, 1)
    >>> warm_image(b, 2, 3, 1); s = summarize(b.build()); s.fetches, s.writes
    (2, 4)
    """
    page = np.uint64(PAGE)
    text = np.uint64(TEXT_BASE) + np.arange(text_pages, dtype=np.uint64) * page
    heap = np.uint64(HEAP_BASE) + np.arange(heap_pages, dtype=np.uint64) * page
    stack = np.uint64(STACK_TOP) - (np.arange(stack_pages, dtype=np.uint64) + np.uint64(1)) * page
    b.accesses(text, Access.FETCH)
    b.accesses(np.concatenate([heap, stack]), Access.WRITE)
