"""The process's C allocator, set up for evaluations that free and reallocate large arrays.

A point's evaluation allocates and frees numpy arrays of megabytes, many times over: a NIC
run of a million frames makes a few dozen per-frame arrays of 1-8 MB, a chunked replay the
same ones chunk after chunk, a sweep the same ones point after point. glibc's ``malloc``,
left to its defaults, gives such memory back to the kernel as soon as it is freed: a block
above ``M_MMAP_THRESHOLD`` (128 KiB at first, raised as blocks are freed up to 32 MiB) is
its own mapping, unmapped by ``free``, and the top of the heap is trimmed once more than
``M_TRIM_THRESHOLD`` (twice the mmap threshold) is free there. The next array then lands on
fresh pages, which the kernel faults in and zeroes one 4 KiB page at a time.

Measured (2026-12-06, 2-CPU container, a 1 M-frame ``fixed`` stream, each mechanism's
third run in one process): 13-25 k minor page faults and 23-52 ms of system time per run of
``vhost`` and ``multiqueue`` (of 230-250 ms), and with the pages kept, none, and less user
time as well (188-190 ms against 201-215 ms for ``vhost``): 15-25 % of the run's CPU.

:func:`keep_freed_memory` pins both thresholds (which also turns glibc's adjustment of them
off): blocks up to :data:`MMAP_THRESHOLD` come from the heap and, freed, stay there for the
next evaluation's arrays; the heap's top goes back to the kernel only beyond
:data:`TRIM_THRESHOLD` free. The process keeps up to that much freed memory: the price,
for a process that evaluates point after point (``codesign run``, a sweep's workers and
driver). The harness sets it before each evaluation (:func:`codesign.harness.run_resolved`);
it does nothing but on glibc, or where :data:`OFF_ENV` is set.

>>> keep_freed_memory() in (True, False)   # False: not glibc, or turned off
True
"""

from __future__ import annotations

import ctypes
import functools
import os

MMAP_THRESHOLD = 32 << 20
"""Blocks above this are mappings of their own, unmapped when freed: glibc's own ceiling
for its adjusted threshold (``DEFAULT_MMAP_THRESHOLD_MAX`` on 64-bit). A column of a 2 M-frame
chunk (16 MB of float64) stays below it."""

TRIM_THRESHOLD = 1 << 30
"""Free memory at the heap's top beyond which it goes back to the kernel: above what one
evaluation of a default chunk (:data:`codesign.net.common.STREAM_ABOVE` frames, 2 M) holds
at once, so one evaluation's memory serves the next."""

OFF_ENV = "CODESIGN_SYSTEM_MALLOC"
"""Set (to anything but empty) to leave the allocator's defaults alone."""

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3


@functools.cache
def keep_freed_memory() -> bool:
    """Set glibc's ``malloc`` to keep freed memory for reuse (see the module docstring),
    once per process; True if it is now so. False without glibc or with :data:`OFF_ENV`
    set."""
    if os.environ.get(OFF_ENV):
        return False
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols: its C library's among them
        libc.gnu_get_libc_version  # noqa: B018 -- only glibc's mallopt takes these
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # TypeError: no CDLL(None) (Windows)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
