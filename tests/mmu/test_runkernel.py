"""The compiled run of accesses (``codesign.mmu.runkernel``): its on-disk cache names follow
the sources of the kernels it calls. (What it computes is pinned by the replay's tests: the
isolation property replays every run's lookups as LOOKUP, FILL pairs and compares misses
and entries; the cache scoreboard re-runs its references through a separate cache model.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from numba.core.registry import CPUDispatcher

import codesign.mmu.runkernel as rk


def _callees(fn: CPUDispatcher) -> set[CPUDispatcher]:
    """Every compiled function ``fn`` calls, directly or through others."""
    seen: set[CPUDispatcher] = set()
    todo = [fn]
    while todo:
        f = todo.pop()
        py = f.py_func
        for name in py.__code__.co_names:
            g = py.__globals__.get(name)
            if isinstance(g, CPUDispatcher) and g not in seen:
                seen.add(g)
                todo.append(g)
    return seen


def test_the_digest_covers_every_kernel_the_pipeline_calls() -> None:
    """A kernel of a module outside ``DEPENDS`` would be cached stale after it changes."""
    here = Path(rk.__file__)
    for fn in (rk.run_pipeline, rk.stlb_lookup_fill):
        files = {Path(g.py_func.__code__.co_filename) for g in _callees(fn)}
        assert files, fn
        assert files <= set(rk.DEPENDS) | {here}, files - set(rk.DEPENDS)
        assert fn.py_func.__qualname__.endswith(f"_{rk.DIGEST}")


def test_the_digest_changes_with_a_dependency(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "kernel.py"
    src.write_text("def f(x):\n    return x\n")
    monkeypatch.setattr(rk, "DEPENDS", (src,))
    before = rk._digest()
    src.write_text("def f(x):\n    return x + 1\n")
    assert rk._digest() != before


def test_the_pipeline_is_compiled_once_per_process() -> None:
    """One signature: the replay passes the same types whatever the hardware (no second
    TLB, no data cache), so no run pays a second compilation."""
    from codesign.mmu.native import NativeParams
    from codesign.mmu.replay import Replay, Setup, drive
    from workloads.memory.events import StreamBuilder

    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    b.map(0x10000, pages=8)
    for i in range(8):
        b.access(0x10000 + 4096 * i)
    events = b.build()
    full = NativeParams().setup(nested=False)
    bare = Setup(full.guest, full.tlb, full.walker, nested=False)
    for setup in (full, bare):
        drive(Replay(setup), events)
    assert len(rk.run_pipeline.signatures) == 1
