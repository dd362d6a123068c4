"""The guest kernel's own work in a memory stream: its instructions and its references.

A memory workload's stream holds what the user process does; the kernel's work at each
system call, fault, fork, exit and context switch is added here, by the guest OS model's
replay, where the stream has those events (a Valgrind lackey trace has no system calls: it
gets the kernel work of its faults). The work has two parts:

- **Instructions**, a budget per event (:class:`KernelParams`), priced at the platform's
  ``cpu.cycles_per_ref`` each: the same under every mechanism (a guest kernel runs its own
  code at native speed), so they raise every mechanism's base and shrink ratios that were
  taken against a base without them.
- **References** to the kernel's data, which go through the TLB, the page walker and the data
  cache like the process's own (:meth:`codesign.mmu.replay.Replay.kernel_run`), translated by
  the kernel's direct map (2 MiB leaves, global entries, :class:`codesign.mmu.guest.KernelSpace`).
  These differ by mechanism: under nested paging a kernel TLB miss is a 2D walk and a 2 MiB
  direct-map page backed by 4 KiB host pages is splintered into 4 KiB TLB entries; an x86-64
  Xen PV kernel's entries are not global and die at every kernel entry (``pv-direct``). What
  the kernel references, per event (:meth:`KernelWork.event`):

  ==========================  ===============================================================
  every kernel entry          the process's ``task_struct`` / ``thread_info`` line and its
                              kernel-stack top (2 lines)
  FORK                        parent's ``task_struct`` read and child's written
                              (:data:`TASK_LINES` each), the child's ``mm_struct``
                              (:data:`MM_LINES`); every PTE line written (parent's entries
                              write-protected, child's copied) and the ``struct page`` of
                              every shared frame (``get_page``)
  EXIT                        ``task_struct``, ``mm_struct``; every entry line cleared
                              (``zap_pte_range``, ``free_pgtables``), every released frame's
                              ``struct page`` (``put_page``)
  SWITCH                      the next task's ``task_struct`` hot lines (:data:`SWITCH_LINES`)
                              and ``mm_struct``
  wait4                       the reaped child's ``task_struct``
  page fault                  PTE lines written, ``struct page`` of the new (and released)
                              frames; the new frame zeroed or copied (below)
  MAP, UNMAP, PROTECT         PTE lines written, ``struct page`` of released frames
  ==========================  ===============================================================

  The zeroing of a new frame and the copy of a COW fault (64 lines per 4 KiB, from and to
  the frames' own addresses) are *streams*: they go through the TLB and the data cache, so
  they evict what they evict, but their cycles stay those of ``fault.page`` and
  ``memory.zero_per_byte`` (store bandwidth, not load latency); only their translation is
  priced. Every other kernel reference is priced as a process's data reference: what the
  level that served it adds to an L1 hit.

**Where the budgets come from.** Kerrisk, *The Linux Programming Interface* (2010), Table
28-3, measures the loop ``fork(); child _exit(); parent wait()`` on Linux 2.6.27 (x86-32):
100,000 iterations of a 1.70 MB process take 22.27 s, of a 2.70 MB one 26.38 s (11.70 MB:
126.93 s). Per iteration that is 222.7 µs and 263.8 µs: 41.1 µs more per MB, 0.16 µs per 4
KiB page the fork copies and the exit zaps, and 152.8 µs for a process of no pages. TLPI
does not name the processor; taken as **2.4 GHz (an assumption: a desktop of 2008-09)**,
this is ~385 cycles per page, split evenly between ``kernel.pte_copy`` and
``kernel.pte_zap`` (an assumption: copy and zap walk the same entries and touch the same
``struct page``), and ~367,000 cycles of fixed work per iteration, split (an assumption:
TLPI does not break it down) as ``kernel.fork`` 190,000, ``kernel.exit`` 120,000,
``kernel.wait`` 40,000 and ``kernel.switch`` 8,000 per context switch (two per iteration;
lmbench's ``lat_ctx`` measures a few microseconds on machines of that era). These are
taken as instructions at the platform's CPI: the measured time includes the kernel's cache
and TLB misses, which the model adds again from its references (counted double in
magnitude; the references exist for what differs between mechanisms). The ~3% of the
measured loop that the model already prices elsewhere (``syscall.entry``, the parent's and
child's few page faults) is not subtracted. A 2006 Pentium 4 ran the same loop at 150 µs
per iteration (Adams & Agesen, ASPLOS 2006): the validation report compares the model with
that independent number.

Not budgeted (no source): ``mmap``, ``munmap`` and ``mprotect`` beyond their entry, PTE writes,
zapped entries and INVLPGs; exec; the kernel's instruction fetches (the model has no
instruction cache); interrupts.

>>> KernelParams().per_iteration(leaves=88)
399968
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.mmu.guest import KERNEL_TABLES, PAGE_4K, Effects, GuestModel
from codesign.params import param
from workloads.memory.events import Ev, Syscall

LINE = 64
"""Bytes per kernel reference (a cache line)."""
TASK_LINES = 32
"""Lines of a ``task_struct`` that fork copies (about 2 KiB on Linux 2.6 x86: an assumption
from the structure's size)."""
MM_LINES = 8
"""Lines of an ``mm_struct`` (about 512 B: an assumption from the structure's size)."""
SWITCH_LINES = 8
"""Hot lines of the next task that ``schedule`` and ``switch_to`` touch (an assumption)."""
TASK_SLOTS = 64
"""Task slots in the kernel's memory: a new process reuses the slot of a recently freed one,
as the slab allocator hands out a recently freed ``task_struct``."""
SLOT_BYTES = 16 << 10
"""Bytes per task slot: ``task_struct``, ``mm_struct`` and the kernel stack's top."""
MEMMAP = 4 << 20
"""Offset of the ``struct page`` array in the kernel's memory (after the page tables and the
task slots)."""
MEMMAP_PAGES = 1 << 18
"""``struct page`` entries (64 B each: 16 MiB) -- a frame's entry is its number modulo this,
an approximation for guests above 1 GiB (two frames 1 GiB apart share a line)."""


@dataclass(frozen=True)
class KernelParams:
    """Instruction budgets of the guest kernel's work (module docstring: sources).

    >>> KernelParams(fork=-1)
    Traceback (most recent call last):
    ValueError: kernel.fork: expected >= 0, got -1
    """

    fork: int = 190_000
    exit: int = 120_000
    wait: int = 40_000
    switch: int = 8_000
    pte_copy: int = 193
    pte_zap: int = 193

    def __post_init__(self) -> None:
        for name in ("fork", "exit", "wait", "switch", "pte_copy", "pte_zap"):
            if getattr(self, name) < 0:
                raise ValueError(f"kernel.{name}: expected >= 0, got {getattr(self, name)}")

    def per_iteration(self, leaves: int) -> int:
        """Instructions of one forkwait iteration of a process with ``leaves`` populated
        pages (fork, exit, wait, two switches; each page copied and zapped once)."""
        return (self.fork + self.exit + self.wait + 2 * self.switch
                + leaves * (self.pte_copy + self.pte_zap))


@dataclass(frozen=True)
class KernelKeys:
    """Dotted keys of the guest kernel's work (``kernel.*``), shared by the MMU mechanisms."""

    kernel_work: bool = param(True, key="kernel.work",
                              doc="add the guest kernel's own work (instructions and "
                                  "references at system calls, faults, fork, exit, switches)")
    kernel_fork: int = param(KernelParams.fork, key="kernel.fork", min=0, max=1 << 30,
                             doc="instructions of a fork besides copying its page-table "
                                 "entries (TLPI Table 28-3 at an assumed 2.4 GHz)")
    kernel_exit: int = param(KernelParams.exit, key="kernel.exit", min=0, max=1 << 30,
                             doc="instructions of an exit besides zapping its entries")
    kernel_wait: int = param(KernelParams.wait, key="kernel.wait", min=0, max=1 << 30,
                             doc="instructions of wait4 (reaping the child)")
    kernel_switch: int = param(KernelParams.switch, key="kernel.switch", min=0, max=1 << 30,
                               doc="instructions of a context switch (schedule, switch_to)")
    kernel_pte_copy: int = param(KernelParams.pte_copy, key="kernel.pte_copy", min=0,
                                 max=1 << 20,
                                 doc="instructions per leaf entry a fork copies")
    kernel_pte_zap: int = param(KernelParams.pte_zap, key="kernel.pte_zap", min=0,
                                max=1 << 20,
                                doc="instructions per leaf entry an exit or munmap clears")

    def kernel_params(self) -> KernelParams | None:
        """The budgets, or None when ``kernel.work`` is off."""
        if not self.kernel_work:
            return None
        return KernelParams(self.kernel_fork, self.kernel_exit, self.kernel_wait,
                            self.kernel_switch, self.kernel_pte_copy, self.kernel_pte_zap)


def _lines(start: int, count: int) -> list[int]:
    return list(range(start, start + count * LINE, LINE))


class KernelWork:
    """Collects the kernel's work of the events a replay shows it, until the replay takes it.

    >>> from codesign.mmu.guest import GuestConfig
    >>> from workloads.memory.events import StreamBuilder
    >>> b = StreamBuilder(); b.spawn(1); b.switch(1); b.map(0x10000, pages=1)
    >>> b.access(0x10000, write=True)
    >>> g = GuestModel(GuestConfig()); k = KernelWork(KernelParams(), g)
    >>> for e in b.build()[:-1]:
    ...     k.event(e, g.apply(e))
    >>> k.fault(0, 1, g.fault(0, 1, 0x10000, True))
    >>> instructions, priced, stream = k.take(0)
    >>> instructions, len(priced), len(stream)   # a switch; the fault zeroes 3 tables and 1 page
    (8000, 22, 256)
    """

    def __init__(self, params: KernelParams, guest: GuestModel) -> None:
        self.p = params
        self.guest = guest
        self.instructions = 0
        # per VM, non-empty pieces in order (ints from one event's Python path, arrays from
        # a run of compiled faults), joined when taken
        self.priced: dict[int, list[list[int] | np.ndarray]] = {}
        self.stream: dict[int, list[list[int] | np.ndarray]] = {}
        self.child: dict[tuple[int, int], int] = {}
        """Last child each process forked (the one its wait4 reaps)."""

    def _base(self, vm: int) -> int:
        return self.guest.vms[vm].kbase

    def _slot(self, vm: int, pid: int) -> int:
        return self._base(vm) + KERNEL_TABLES + (pid % TASK_SLOTS) * SLOT_BYTES

    def _page(self, vm: int, gpa: int) -> int:
        return self._base(vm) + MEMMAP + ((gpa >> 12) % MEMMAP_PAGES) * 64

    def _common(self, vm: int, fx: Effects) -> list[int]:
        """Entry lines written or cleared, and ``struct page`` of each frame touched."""
        out = sorted({gpa & ~(LINE - 1) for gpa, _ in fx.written}
                     | {gpa & ~(LINE - 1) for gpa, _ in fx.teardown})
        out += [self._page(vm, f) for f in fx.frames]
        return out

    def _streams(self, vm: int, fx: Effects) -> None:
        out = self.stream.setdefault(vm, [])
        for gpa, size in (*fx.copied, *fx.allocated):
            out.append(np.arange(gpa, gpa + size, LINE, dtype=np.int64))

    def event(self, e: np.void, fx: Effects) -> None:
        """The kernel's work for a non-ACCESS event that did ``fx``."""
        op, vm, pid = int(e["op"]), int(e["vm"]), int(e["pid"])
        if op in (Ev.SPAWN, Ev.VM_SWITCH):
            return
        p = self.p
        refs = self._common(vm, fx)
        slot = self._slot(vm, pid)
        if op == Ev.SYSCALL:
            refs += _lines(slot, 2)
            if int(e["arg"]) == Syscall.WAIT4:
                self.instructions += p.wait
                child = self.child.get((vm, pid))
                if child is not None:  # reaps the child it forked last
                    refs += _lines(self._slot(vm, child), TASK_LINES)
        elif op == Ev.FORK:
            self.instructions += p.fork + p.pte_copy * fx.leaves_copied
            refs += _lines(slot, TASK_LINES)
            self.child[(vm, pid)] = int(e["arg"])
            child = self._slot(vm, int(e["arg"]))
            refs += _lines(child, TASK_LINES) + _lines(child + TASK_LINES * LINE, MM_LINES)
        elif op == Ev.EXIT:
            self.instructions += p.exit
            refs += _lines(slot, TASK_LINES) + _lines(slot + TASK_LINES * LINE, MM_LINES)
        elif op == Ev.SWITCH:
            self.instructions += p.switch
            refs += _lines(slot, SWITCH_LINES) + _lines(slot + TASK_LINES * LINE, 2)
        self.instructions += p.pte_zap * fx.leaves_zapped
        if refs:
            self.priced.setdefault(vm, []).append(refs)
        self._streams(vm, fx)

    def fault(self, vm: int, pid: int, fx: Effects) -> None:
        """The kernel's work for a page fault of ``pid`` that did ``fx``."""
        refs = _lines(self._slot(vm, pid), 2) + self._common(vm, fx)
        self.priced.setdefault(vm, []).append(refs)
        self._streams(vm, fx)

    def demand_faults(self, vm: int, pid: int, entries: np.ndarray,
                      frames: np.ndarray) -> None:
        """The kernel's work for 4 KiB demand faults of ``pid`` that wrote leaf entries at
        ``entries`` and allocated ``frames`` (guest-physical), in order: what :meth:`fault`
        collects for each (its two task lines, the entry's line, the frame's ``struct
        page``; the frame zeroed).

        >>> from codesign.mmu.guest import GuestConfig, GuestModel
        >>> k = KernelWork(KernelParams(), GuestModel(GuestConfig()))
        >>> k.guest.kernel(0) is not None  # the VM has booted
        True
        >>> k.demand_faults(0, 1, np.array([0x2008]), np.array([0x5000]))
        >>> _, priced, stream = k.take(0); len(priced), len(stream), hex(int(stream[-1]))
        (4, 64, '0x5fc0')
        """
        if not len(frames):
            return
        slot = self._slot(vm, pid)
        base = self._base(vm)
        page = base + MEMMAP + ((frames >> 12) % MEMMAP_PAGES) * 64
        priced = np.empty((len(frames), 4), dtype=np.int64)
        priced[:, 0] = slot
        priced[:, 1] = slot + LINE
        priced[:, 2] = entries & ~(LINE - 1)
        priced[:, 3] = page
        self.priced.setdefault(vm, []).append(priced.ravel())
        lines = frames[:, None] + np.arange(0, PAGE_4K, LINE, dtype=np.int64)
        self.stream.setdefault(vm, []).append(lines.ravel())

    def take(self, vm: int) -> tuple[int, np.ndarray, np.ndarray]:
        """(instructions, priced and streamed guest-physical addresses of ``vm``) collected
        since the last take; instructions are taken whatever the VM."""
        n, self.instructions = self.instructions, 0
        return n, _joined(self.priced.pop(vm, [])), _joined(self.stream.pop(vm, []))

    def pending(self) -> bool:
        """Work collected and not taken."""
        return bool(self.instructions or any(self.priced.values())
                    or any(self.stream.values()))


def _joined(pieces: list[list[int] | np.ndarray]) -> np.ndarray:
    """The pieces' addresses in order, as one int64 array."""
    if not pieces:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.asarray(x, dtype=np.int64) for x in pieces])


__all__ = ["KernelKeys", "KernelParams", "KernelWork"]
