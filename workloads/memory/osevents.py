"""OS-event workloads: streams whose cost is in page-table updates and switches, not misses.

``forkwait``
    Adams & Agesen's microbenchmark (ASPLOS 2006): ``for (i = 0; i < 40000; i++) { if
    (fork() == 0) exit(0); waitpid(...); }``. The parent execs (text, heap, stack) and touches
    every page, so each fork has populated tables to copy. Per iteration: the parent forks
    and writes its stack (fork's return: a copy-on-write fault), calls ``wait4``; the child
    runs, touches ``workload.child_pages`` pages (its stack top, a text page, random heap
    pages written) and exits; the parent runs again and writes its stack. The paper runs
    40,000 iterations (6.0 s native, 36.9 s software VMM, 106.4 s first-generation hardware
    VMM); the default here is 1,000 for quick runs.
``mmap-churn``
    A process that maps, touches, write-protects and unmaps anonymous regions, as an
    allocator returning memory to the kernel does. Per cycle: ``mmap`` a region of 1 to
    ``2 x region_pages - 1`` pages (uniform; Linux's top-down first fit below the previous
    mappings, so freed addresses are reused), write ``touch_fraction`` of its pages, with
    probability ``protect_probability`` ``mprotect`` a prefix read-only, make
    ``refs_per_cycle`` references over the live regions and the heap, then ``munmap`` the
    oldest region once more than ``live_regions`` are mapped. With ``remote_cpus`` > 0 the
    process also runs on other CPUs, so every unmap and write-protect sends a shootdown.
``context-switch``
    ``processes`` processes, each with its own ``working_set_pages``-page region at the same
    virtual address, referenced uniformly at random; round-robin, switching every
    ``time_slice`` references.
``multi-vm``
    ``vms`` VMs, each with ``processes`` such processes scheduled as in ``context-switch``
    (its time slice counted in that VM's own references); the hypervisor runs the VMs
    round-robin, a ``VM_SWITCH`` every ``vm_time_slice`` references. A VM switched back in
    resumes the process it was running.

``forkwait`` and ``mmap-churn`` loop in compiled kernels that write the stream in place and
make numpy's draws through :mod:`workloads.memory.draws`: the same streams, bit for bit, as
the per-event Python generators they replaced (``tests/workloads/test_osevents.py`` keeps
those as references), a few hundred times faster at Adams & Agesen's 40,000 iterations.

>>> from workloads.memory.events import summarize, validate
>>> ev = generate_forkwait(ForkwaitParams(iterations=3))
>>> validate(ev); s = summarize(ev)
>>> s.forks, s.exits, s.switches, s.processes
(3, 3, 7, 4)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from codesign.params import param
from codesign.registry import Workload
from workloads.memory.common import (
    HEAP_BASE,
    MAX_REFS,
    MMAP_BASE,
    STACK_TOP,
    TEXT_BASE,
    exact_writes,
    exec_image,
    refs_param,
    seed_param,
    warm_image,
    words,
    write_fraction_param,
)
from workloads.memory.draws import bounded, choice, permutation, state, uniform
from workloads.memory.events import (
    PAGE,
    RW,
    Access,
    Ev,
    Prot,
    StreamBuilder,
    Syscall,
    empty,
)

TEXT_PAGES = 16
STACK_PAGES = 8
"""The image of forkwait's and mmap-churn's process besides its heap: a small C program."""

# Plain integers for the compiled kernels.
_ACCESS, _MAP, _UNMAP, _PROTECT = int(Ev.ACCESS), int(Ev.MAP), int(Ev.UNMAP), int(Ev.PROTECT)
_FORK, _EXIT, _SWITCH, _SHOOTDOWN = int(Ev.FORK), int(Ev.EXIT), int(Ev.SWITCH), int(Ev.SHOOTDOWN)
_SYSCALL = int(Ev.SYSCALL)
_READ, _WRITE, _FETCH = int(Access.READ), int(Access.WRITE), int(Access.FETCH)
_RW, _READ_ONLY = int(RW), int(Prot.READ)
_SYS_FORK, _SYS_WAIT4, _SYS_EXIT = int(Syscall.FORK), int(Syscall.WAIT4), int(Syscall.EXIT_GROUP)
_SYS_MMAP, _SYS_MPROTECT, _SYS_MUNMAP = (int(Syscall.MMAP), int(Syscall.MPROTECT),
                                         int(Syscall.MUNMAP))
_WORD_MAX = np.uint64(PAGE // 8 - 1)
"""``words()`` draws ``integers(0, PAGE // 8)``: a bounded draw up to this."""


@numba.njit(cache=True, inline="always")
def _put(ev, i, op, pid, va=0, pages=0, arg=0, call=0):  # pragma: no cover - compiled
    """Write event ``i`` of a zeroed stream (VM 0)."""
    r = ev[i]
    r.op = op
    r.pid = pid
    r.va = va
    r.pages = pages
    r.arg = arg
    r.syscall = call


@dataclass(frozen=True)
class ForkwaitParams:
    """Parameters of ``forkwait``."""

    iterations: int = param(1000, key="workload.iterations", min=1, max=1_000_000,
                            doc="fork + exit + wait iterations (Adams & Agesen ran 40,000)")
    heap_pages: int = param(64, key="workload.heap_pages", min=1, max=1 << 20,
                            doc="populated heap pages of the parent (tables copied per fork)")
    child_pages: int = param(4, key="workload.child_pages", min=2, max=1 << 20,
                             doc="pages the child touches before exiting: stack top (write), "
                                 "a text page (fetch), the rest random heap pages (write)")
    seed: int = seed_param()

    def __post_init__(self) -> None:
        if self.child_pages - 2 > self.heap_pages:
            raise ValueError(f"workload.child_pages ({self.child_pages}) - 2 must not exceed "
                             f"workload.heap_pages ({self.heap_pages})")


@numba.njit(cache=True)
def _forkwait(g, ev, at, iterations, heap_pages, heap_writes, call):  # pragma: no cover
    """The iterations of forkwait into ``ev[at:]``; draws as the reference generator made
    them: ``integers(TEXT_PAGES)``, ``choice(heap_pages, heap_writes, replace=False)``,
    then ``words``."""
    stack_word = np.uint64(STACK_TOP - 8)
    pages = np.empty(max(heap_writes, 1), dtype=np.int64)
    marks, vals, gen = np.zeros(heap_pages, np.int64), np.zeros(heap_pages, np.int64), \
        np.zeros(1, np.int64)
    for it in range(iterations):
        child = 2 + it
        _put(ev, at, _SYSCALL, 1, arg=_SYS_FORK, call=call + 1)
        _put(ev, at + 1, _FORK, 1, arg=child, call=call + 1)
        _put(ev, at + 2, _ACCESS, 1, va=stack_word, arg=_WRITE)
        _put(ev, at + 3, _SYSCALL, 1, arg=_SYS_WAIT4, call=call + 2)
        _put(ev, at + 4, _SWITCH, child)
        _put(ev, at + 5, _ACCESS, child, va=stack_word, arg=_WRITE)
        text = bounded(g, np.uint64(TEXT_PAGES - 1))
        _put(ev, at + 6, _ACCESS, child, va=np.uint64(TEXT_BASE) + np.uint64(PAGE) * text,
             arg=_FETCH)
        at += 7
        if heap_writes:
            choice(g, heap_pages, heap_writes, pages, marks, vals, gen)
            for w in range(heap_writes):
                word = bounded(g, _WORD_MAX) * np.uint64(8)
                _put(ev, at + w, _ACCESS, child, arg=_WRITE,
                     va=np.uint64(HEAP_BASE) + np.uint64(pages[w]) * np.uint64(PAGE) + word)
            at += heap_writes
        _put(ev, at, _SYSCALL, child, arg=_SYS_EXIT, call=call + 3)
        _put(ev, at + 1, _EXIT, child, call=call + 3)
        _put(ev, at + 2, _SWITCH, 1)
        _put(ev, at + 3, _ACCESS, 1, va=stack_word, arg=_WRITE)
        _put(ev, at + 4, _ACCESS, 1, va=np.uint64(TEXT_BASE), arg=_FETCH)
        at += 5
        call += 3
    return at


def generate_forkwait(p: ForkwaitParams) -> np.ndarray:
    """fork, child touches a few pages and exits, parent waits; ``iterations`` times.

    The loop is a compiled kernel (:mod:`workloads.memory.draws` makes numpy's draws).

    >>> from workloads.memory.events import format_events
    >>> ev = generate_forkwait(ForkwaitParams(iterations=1, child_pages=2))
    >>> print(format_events(ev[-12:]))
         0 vm0 pid1  SYSCALL    fork #2
         1 vm0 pid1  FORK       child 2 #2
         2 vm0 pid1  ACCESS     W 0x7fffffdffff8
         3 vm0 pid1  SYSCALL    wait4 #3
         4 vm0 pid2  SWITCH
         5 vm0 pid2  ACCESS     W 0x7fffffdffff8
         6 vm0 pid2  ACCESS     X 0x407000
         7 vm0 pid2  SYSCALL    exit_group #4
         8 vm0 pid2  EXIT       #4
         9 vm0 pid1  SWITCH
        10 vm0 pid1  ACCESS     W 0x7fffffdffff8
        11 vm0 pid1  ACCESS     X 0x400000
    """
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    exec_image(b, TEXT_PAGES, p.heap_pages, STACK_PAGES)
    warm_image(b, TEXT_PAGES, p.heap_pages, STACK_PAGES)
    head = b.build()
    heap_writes = p.child_pages - 2
    ev = empty(len(head) + p.iterations * (12 + heap_writes))
    ev[:len(head)] = head
    end = _forkwait(state(p.seed), ev, len(head), p.iterations, p.heap_pages, heap_writes,
                    int(head["syscall"].max()))
    assert end == len(ev)
    return ev


@dataclass(frozen=True)
class MmapChurnParams:
    """Parameters of ``mmap-churn``."""

    cycles: int = param(2000, key="workload.cycles", min=1, max=10_000_000,
                        doc="mmap / touch / mprotect / munmap cycles")
    region_pages: int = param(16, key="workload.region_pages", min=1, max=1 << 18,
                              doc="mean pages per mmap (uniform from 1 to 2 x mean - 1)")
    live_regions: int = param(4, key="workload.live_regions", min=0, max=4096,
                              doc="regions kept mapped; the oldest is unmapped beyond this")
    touch_fraction: float = param(0.5, key="workload.touch_fraction", min=0.0, max=1.0,
                                  doc="fraction of a new region's pages written (rounded up)")
    protect_probability: float = param(
        0.5, key="workload.protect_probability", min=0.0, max=1.0,
        doc="probability that a cycle write-protects a random prefix of its new region")
    refs_per_cycle: int = param(32, key="workload.refs_per_cycle", min=0, max=1 << 20,
                                unit="references/cycle",
                                doc="further references per cycle over live regions and heap")
    write_fraction: float = write_fraction_param(0.3)
    heap_pages: int = param(64, key="workload.heap_pages", min=1, max=1 << 20,
                            doc="heap pages, mapped and written at start")
    remote_cpus: int = param(0, key="workload.remote_cpus", min=0, max=255,
                             doc="other CPUs running the process: each unmap and "
                                 "write-protect sends them a TLB shootdown (0: none)")
    seed: int = seed_param()


@numba.njit(cache=True)
def _room(ev, at, need):  # pragma: no cover - compiled
    """``ev`` with room for ``need`` more events after ``at`` (a grown copy when full)."""
    if at + need <= len(ev):
        return ev
    grown = np.zeros(max(2 * len(ev), at + need), dtype=ev.dtype)
    grown[:at] = ev[:at]
    return grown


@numba.njit(cache=True, inline="always")
def _segment(starts, count, x):  # pragma: no cover - compiled
    """The last ``r < count`` with ``starts[r] <= x`` (``starts`` non-decreasing)."""
    lo, hi = 0, count
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if starts[mid] <= x:
            lo = mid
        else:
            hi = mid
    return lo


@numba.njit(cache=True)
def _mmap_churn(g, ev, at, call, cycles, region_pages, live_regions, touch_fraction,
                protect_probability, refs, writes, heap_pages, remote, top):  # pragma: no cover
    """The cycles of mmap-churn into ``ev`` (grown as needed): (stream, events).

    Draws, per cycle, as the reference generator made them: ``integers(1, 2 x region_pages)``,
    ``choice(n, ceil(n x touch_fraction), replace=False)``, ``random()``, maybe
    ``integers(1, n + 1)``, then ``permutation(refs)`` (``exact_writes``), the indices of
    any page and of a writable page over heap + live regions (oldest first), and ``words``.
    Placement is Linux's top-down first fit: the highest gap below ``top`` that holds the
    region, found by walking the live regions from the highest address down.
    """
    page = np.int64(PAGE)
    cap = live_regions + 1
    # Live regions oldest first, in a ring: va, pages, read-only prefix pages.
    ring_va = np.zeros(cap, np.int64)
    ring_n = np.zeros(cap, np.int64)
    ring_ro = np.zeros(cap, np.int64)
    head = 0
    live = 0
    # The same regions by address, highest first (va, pages).
    by_va = np.zeros(cap, np.int64)
    by_n = np.zeros(cap, np.int64)
    touched = np.empty(2 * region_pages, np.int64)
    marks, vals, gen = np.zeros(2 * region_pages, np.int64), \
        np.zeros(2 * region_pages, np.int64), np.zeros(1, np.int64)
    order = np.empty(max(refs, 1), np.int64)
    kinds = np.zeros(max(refs, 1), np.int64)
    any_at = np.empty(max(refs, 1), np.uint64)
    writable_at = np.empty(max(refs, 1), np.uint64)
    starts = np.empty(cap + 1, np.int64)
    wstarts = np.empty(cap + 1, np.int64)
    for _ in range(cycles):
        n = 1 + np.int64(bounded(g, np.uint64(2 * region_pages - 2)))
        end = top
        for r in range(live):
            if end - (by_va[r] + by_n[r] * page) >= n * page:
                break
            end = by_va[r]
        va = end - n * page
        k = np.int64(math.ceil(n * touch_fraction))
        ev = _room(ev, at, 8 + k + refs)
        call += 1
        _put(ev, at, _SYSCALL, 1, arg=_SYS_MMAP, call=call)
        _put(ev, at + 1, _MAP, 1, va=np.uint64(va), pages=np.uint64(n), arg=_RW, call=call)
        at += 2
        choice(g, n, k, touched, marks, vals, gen)
        chosen = np.sort(touched[:k])
        for t in range(k):
            _put(ev, at + t, _ACCESS, 1, va=np.uint64(va + chosen[t] * page), arg=_WRITE)
        at += k
        readonly = 0
        if uniform(g) < protect_probability:
            readonly = 1 + np.int64(bounded(g, np.uint64(n - 1)))
            call += 1
            _put(ev, at, _SYSCALL, 1, arg=_SYS_MPROTECT, call=call)
            _put(ev, at + 1, _PROTECT, 1, va=np.uint64(va), pages=np.uint64(readonly),
                 arg=_READ_ONLY, call=call)
            at += 2
            if remote:
                _put(ev, at, _SHOOTDOWN, 1, va=np.uint64(va), pages=np.uint64(readonly),
                     arg=remote, call=call)
                at += 1
        slot = (head + live) % cap
        ring_va[slot], ring_n[slot], ring_ro[slot] = va, n, readonly
        live += 1
        r = 0
        while r < live - 1 and by_va[r] > va:
            r += 1
        for q in range(live - 1, r, -1):
            by_va[q], by_n[q] = by_va[q - 1], by_n[q - 1]
        by_va[r], by_n[r] = va, n
        if refs:
            # Pages of heap + live regions (oldest first), and of their writable part.
            starts[0] = heap_pages
            wstarts[0] = heap_pages
            for q in range(live):
                s = (head + q) % cap
                starts[q + 1] = starts[q] + ring_n[s]
                wstarts[q + 1] = wstarts[q] + ring_n[s] - ring_ro[s]
            permutation(g, refs, order)
            kinds[:refs] = _READ
            for q in range(writes):
                kinds[order[q]] = _WRITE
            for q in range(refs):
                any_at[q] = bounded(g, np.uint64(starts[live] - 1))
            for q in range(refs):
                writable_at[q] = bounded(g, np.uint64(wstarts[live] - 1))
            for q in range(refs):
                word = bounded(g, _WORD_MAX) * np.uint64(8)
                if kinds[q] == _WRITE:
                    x = np.int64(writable_at[q])
                    if x < heap_pages:
                        target = HEAP_BASE + x * page
                    else:
                        seg = _segment(wstarts, live, x)
                        s = (head + seg) % cap
                        target = ring_va[s] + (ring_ro[s] + x - wstarts[seg]) * page
                else:
                    x = np.int64(any_at[q])
                    if x < heap_pages:
                        target = HEAP_BASE + x * page
                    else:
                        seg = _segment(starts, live, x)
                        target = ring_va[(head + seg) % cap] + (x - starts[seg]) * page
                _put(ev, at + q, _ACCESS, 1, va=np.uint64(target) + word, arg=kinds[q])
            at += refs
        if live > live_regions:
            old_va, old_n = ring_va[head], ring_n[head]
            head = (head + 1) % cap
            live -= 1
            r = 0
            while by_va[r] != old_va:
                r += 1
            for q in range(r, live):
                by_va[q], by_n[q] = by_va[q + 1], by_n[q + 1]
            call += 1
            _put(ev, at, _SYSCALL, 1, arg=_SYS_MUNMAP, call=call)
            _put(ev, at + 1, _UNMAP, 1, va=np.uint64(old_va), pages=np.uint64(old_n), call=call)
            at += 2
            if remote:
                _put(ev, at, _SHOOTDOWN, 1, va=np.uint64(old_va), pages=np.uint64(old_n),
                     arg=remote, call=call)
                at += 1
    return ev, at


def generate_mmap_churn(p: MmapChurnParams) -> np.ndarray:
    """Regions mapped, touched, write-protected, referenced and unmapped, ``cycles`` times.

    >>> from workloads.memory.events import summarize
    >>> s = summarize(generate_mmap_churn(MmapChurnParams(cycles=10, live_regions=2)))
    >>> s.unmaps, s.maps - 3   # the execve maps text, heap and stack
    (8, 10)
    """
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    exec_image(b, TEXT_PAGES, p.heap_pages, STACK_PAGES)
    warm_image(b, TEXT_PAGES, p.heap_pages, STACK_PAGES)
    head = b.build()
    per_cycle = 8 + p.refs_per_cycle + math.ceil(p.region_pages * p.touch_fraction)
    ev = empty(len(head) + min(p.cycles * per_cycle, 1 << 24))
    ev[:len(head)] = head
    ev, end = _mmap_churn(
        state(p.seed), ev, len(head), int(head["syscall"].max()), p.cycles, p.region_pages,
        p.live_regions, p.touch_fraction, p.protect_probability, p.refs_per_cycle,
        round(p.refs_per_cycle * p.write_fraction), p.heap_pages, p.remote_cpus,
        MMAP_BASE + (1 << 30))
    # The estimate is close, and the untouched tail of a fresh array is never paged in:
    # copy only what a grown array (half of it zeroed by hand) would waste.
    return ev[:end] if 4 * end >= 3 * len(ev) else ev[:end].copy()


def _scheduled(*, vms: int, processes: int, ws_pages: int, time_slice: int, vm_slice: int,
               refs: int, write_fraction: float, seed: int) -> np.ndarray:
    """Round-robin processes inside round-robin VMs, uniform references over working sets."""
    rng = np.random.default_rng(seed)
    kinds = exact_writes(rng, refs, write_fraction)
    pages = rng.integers(0, ws_pages, size=refs, dtype=np.uint64)
    va = np.uint64(MMAP_BASE) + pages * np.uint64(PAGE) + words(rng, refs)
    b = StreamBuilder()
    started = [False] * vms
    turn = [0] * vms          # next process of each VM, 0-based
    left = [0] * vms          # references left in the running process's slice
    mapped: set[tuple[int, int]] = set()
    done, vm = 0, 0
    while done < refs:
        if vm != b.vm:
            b.vm_switch(vm)
        if not started[vm]:
            for pid in range(1, processes + 1):
                b.spawn(pid)
            started[vm] = True
        budget = min(vm_slice, refs - done)
        while budget:
            if left[vm] == 0:
                pid = turn[vm] + 1
                turn[vm] = (turn[vm] + 1) % processes
                if pid != b.pid:
                    b.switch(pid)
                if (vm, pid) not in mapped:
                    b.map(MMAP_BASE, ws_pages, RW)
                    mapped.add((vm, pid))
                left[vm] = time_slice
            take = min(budget, left[vm])
            b.accesses(va[done:done + take], kinds[done:done + take])
            done += take
            budget -= take
            left[vm] -= take
        vm = (vm + 1) % vms
    return b.build()


def _working_set_param() -> Any:
    return param(256, key="workload.working_set_pages", min=1, max=1 << 24,
                 doc="pages each process references, uniformly (256: 1 MiB)")


def _time_slice_param() -> Any:
    return param(5000, key="workload.time_slice", min=1, max=MAX_REFS,
                 doc="references a process makes before the guest switches to the next")


@dataclass(frozen=True)
class ContextSwitchParams:
    """Parameters of ``context-switch``."""

    processes: int = param(4, key="workload.processes", min=1, max=4096,
                           doc="processes scheduled round-robin")
    working_set_pages: int = _working_set_param()
    time_slice: int = _time_slice_param()
    refs: int = refs_param(200_000)
    write_fraction: float = write_fraction_param(0.3)
    seed: int = seed_param()


def generate_context_switch(p: ContextSwitchParams) -> np.ndarray:
    """N processes, a SWITCH every time slice.

    >>> from workloads.memory.events import summarize
    >>> s = summarize(generate_context_switch(ContextSwitchParams(refs=10_000)))
    >>> s.switches, s.spawns, s.maps
    (2, 4, 2)
    """
    return _scheduled(vms=1, processes=p.processes, ws_pages=p.working_set_pages,
                      time_slice=p.time_slice, vm_slice=p.refs, refs=p.refs,
                      write_fraction=p.write_fraction, seed=p.seed)


@dataclass(frozen=True)
class MultiVmParams:
    """Parameters of ``multi-vm``."""

    vms: int = param(2, key="workload.vms", min=1, max=1024,
                     doc="VMs sharing the physical CPU, run round-robin")
    processes: int = param(2, key="workload.processes", min=1, max=4096,
                           doc="processes per VM, scheduled round-robin by its guest")
    working_set_pages: int = _working_set_param()
    time_slice: int = _time_slice_param()
    vm_time_slice: int = param(20_000, key="workload.vm_time_slice", min=1, max=MAX_REFS,
                               doc="references a VM makes before the hypervisor switches VM")
    refs: int = refs_param(200_000, doc="memory references of all VMs together")
    write_fraction: float = write_fraction_param(0.3)
    seed: int = seed_param()


def generate_multi_vm(p: MultiVmParams) -> np.ndarray:
    """Several VMs, each switching processes, the CPU switching VMs.

    >>> from workloads.memory.events import summarize
    >>> s = summarize(generate_multi_vm(MultiVmParams(refs=80_000)))
    >>> s.vm_switches, s.vms, s.processes
    (3, 2, 4)
    """
    return _scheduled(vms=p.vms, processes=p.processes, ws_pages=p.working_set_pages,
                      time_slice=p.time_slice, vm_slice=p.vm_time_slice, refs=p.refs,
                      write_fraction=p.write_fraction, seed=p.seed)


WORKLOADS = (
    Workload("forkwait", "memory", "fork + exit + wait loops (Adams & Agesen's forkwait)",
             ForkwaitParams, generate_forkwait),
    Workload("mmap-churn", "memory", "mmap / touch / mprotect / munmap cycles",
             MmapChurnParams, generate_mmap_churn),
    Workload("context-switch", "memory", "N processes switched every time slice",
             ContextSwitchParams, generate_context_switch),
    Workload("multi-vm", "memory", "several VMs, each switching processes, sharing one CPU",
             MultiVmParams, generate_multi_vm),
)
