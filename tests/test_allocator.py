"""The allocator set-up keeps freed arrays' pages for the next ones (glibc only)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap

import pytest

from codesign.allocator import OFF_ENV

PROBE = textwrap.dedent("""
    import resource
    import numpy as np
    from codesign.allocator import keep_freed_memory
    kept = keep_freed_memory()
    def once():
        arrays = [np.ones(1 << 20) for _ in range(16)]  # 128 MB, every page written
        del arrays
    once()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    once()
    print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def _probe(off: bool) -> tuple[bool, int]:
    env = {k: v for k, v in os.environ.items() if k != OFF_ENV}
    if off:
        env[OFF_ENV] = "1"
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    return out[0] == "True", int(out[1])


def _glibc() -> bool:
    try:
        return hasattr(ctypes.CDLL(None), "gnu_get_libc_version")
    except (OSError, TypeError):
        return False


@pytest.mark.skipif(not _glibc(), reason="the set-up is glibc's mallopt")
def test_freed_arrays_pages_are_reused():
    kept, faults = _probe(off=False)
    assert kept
    # The second round's 128 MB come from the first round's pages: no page is faulted in
    # again (a handful for the interpreter's own small allocations at most).
    assert faults < 200
    # With the defaults, glibc gives most of them back and faults them in again: 4 KiB
    # pages here (32 k of them), or at least one fault per 2 MiB where transparent huge
    # pages back them.
    off, default_faults = _probe(off=True)
    assert not off
    assert default_faults > 4 * (faults + 8)


def test_off_switch_leaves_the_allocator_alone():
    kept, _ = _probe(off=True)
    assert not kept
