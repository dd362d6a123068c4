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

>>> from workloads.memory.events import summarize, validate
>>> ev = generate_forkwait(ForkwaitParams(iterations=3))
>>> validate(ev); s = summarize(ev)
>>> s.forks, s.exits, s.switches, s.processes
(3, 3, 7, 4)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
from workloads.memory.events import PAGE, RW, Access, Prot, StreamBuilder, Syscall

TEXT_PAGES = 16
STACK_PAGES = 8
"""The image of forkwait's and mmap-churn's process besides its heap: a small C program."""


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


def generate_forkwait(p: ForkwaitParams) -> np.ndarray:
    """fork, child touches a few pages and exits, parent waits; ``iterations`` times.

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
    rng = np.random.default_rng(p.seed)
    stack_word = STACK_TOP - 8
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    exec_image(b, TEXT_PAGES, p.heap_pages, STACK_PAGES)
    warm_image(b, TEXT_PAGES, p.heap_pages, STACK_PAGES)
    heap_writes = p.child_pages - 2
    for i in range(p.iterations):
        child = 2 + i
        b.fork(child)
        b.access(stack_word, write=True)
        with b.syscall(Syscall.WAIT4):
            pass
        b.switch(child)
        b.access(stack_word, write=True)
        b.access(TEXT_BASE + PAGE * int(rng.integers(TEXT_PAGES)), fetch=True)
        if heap_writes:
            pages = rng.choice(p.heap_pages, size=heap_writes, replace=False).astype(np.uint64)
            b.accesses(np.uint64(HEAP_BASE) + pages * np.uint64(PAGE) + words(rng, heap_writes),
                       Access.WRITE)
        b.exit()
        b.switch(1)
        b.access(stack_word, write=True)
        b.access(TEXT_BASE, fetch=True)
    return b.build()


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
                                doc="further references per cycle over live regions and heap")
    write_fraction: float = write_fraction_param(0.3)
    heap_pages: int = param(64, key="workload.heap_pages", min=1, max=1 << 20,
                            doc="heap pages, mapped and written at start")
    remote_cpus: int = param(0, key="workload.remote_cpus", min=0, max=255,
                             doc="other CPUs running the process: each unmap and "
                                 "write-protect sends them a TLB shootdown (0: none)")
    seed: int = seed_param()


def _top_down(live: list[tuple[int, int]], pages: int, top: int) -> int:
    """Linux's top-down placement: the highest gap below ``top`` that holds ``pages``."""
    end = top
    for va, n in sorted(live, reverse=True):
        if end - (va + n * PAGE) >= pages * PAGE:
            break
        end = va
    return end - pages * PAGE


def generate_mmap_churn(p: MmapChurnParams) -> np.ndarray:
    """Regions mapped, touched, write-protected, referenced and unmapped, ``cycles`` times.

    >>> from workloads.memory.events import summarize
    >>> s = summarize(generate_mmap_churn(MmapChurnParams(cycles=10, live_regions=2)))
    >>> s.unmaps, s.maps - 3   # the execve maps text, heap and stack
    (8, 10)
    """
    rng = np.random.default_rng(p.seed)
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    exec_image(b, TEXT_PAGES, p.heap_pages, STACK_PAGES)
    warm_image(b, TEXT_PAGES, p.heap_pages, STACK_PAGES)
    page = np.uint64(PAGE)
    heap = np.uint64(HEAP_BASE) + np.arange(p.heap_pages, dtype=np.uint64) * page
    top = MMAP_BASE + (1 << 30)
    live: list[tuple[int, int, int]] = []  # (va, pages, read-only prefix pages), oldest first
    for _ in range(p.cycles):
        n = int(rng.integers(1, 2 * p.region_pages))
        va = _top_down([(v, k) for v, k, _ in live], n, top)
        b.map(va, n, RW)
        touched = rng.choice(n, size=int(np.ceil(n * p.touch_fraction)), replace=False)
        b.accesses(np.uint64(va) + np.sort(touched).astype(np.uint64) * page, Access.WRITE)
        readonly = 0
        if rng.random() < p.protect_probability:
            readonly = int(rng.integers(1, n + 1))
            with b.syscall(Syscall.MPROTECT):
                b.protect(va, readonly, Prot.READ)
                if p.remote_cpus:
                    b.shootdown(va, readonly, p.remote_cpus)
        live.append((va, n, readonly))
        if p.refs_per_cycle:
            pages = np.concatenate([heap] + [np.uint64(v) + np.arange(k, dtype=np.uint64) * page
                                             for v, k, _ in live])
            writable = np.concatenate([np.ones(p.heap_pages, dtype=bool)]
                                      + [np.arange(k) >= ro for _, k, ro in live])
            kinds = exact_writes(rng, p.refs_per_cycle, p.write_fraction)
            any_page = pages[rng.integers(0, pages.size, size=p.refs_per_cycle)]
            writable_page = pages[writable][rng.integers(0, int(writable.sum()),
                                                         size=p.refs_per_cycle)]
            chosen = np.where(kinds == Access.WRITE, writable_page, any_page)
            b.accesses(chosen + words(rng, p.refs_per_cycle), kinds)
        if len(live) > p.live_regions:
            old_va, old_n, _ = live.pop(0)
            with b.syscall(Syscall.MUNMAP):
                b.unmap(old_va, old_n)
                if p.remote_cpus:
                    b.shootdown(old_va, old_n, p.remote_cpus)
    return b.build()


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
