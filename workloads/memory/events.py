"""The OS-event stream: what every memory workload produces and every MMU mechanism consumes.

A stream is one numpy structured array of dtype :data:`EVENT_DTYPE`, one record per event, in
the order a single physical CPU sees them. Nothing in it is a side effect hidden in a
mechanism: page-table updates, context switches, VM switches and shootdowns are events, so
native, shadow, pv-direct, nested and hybrid MMUs all replay the same guest-OS history and
differ only in what each event costs them.

Fields (32-byte aligned records)::

    va       uint64  virtual address (ACCESS: the byte referenced; ranges: page-aligned start)
    pages    uint64  length of a range in 4 KiB pages (MAP, UNMAP, PROTECT, SHOOTDOWN)
    pid      uint32  process (>= 1), unique within its VM for the whole stream (never reused)
    arg      uint32  per-kind operand, see the table
    syscall  uint32  ordinal (1, 2, ...) of the system call the event belongs to; 0 outside one
    vm       uint16  virtual machine (0, 1, ...)
    op       uint8   event kind (:class:`Ev`); 0 is never valid, so a zeroed record is caught
    reserved uint8   always 0

=============  ================================  =============================================
op             arg                               meaning
=============  ================================  =============================================
``ACCESS``     :class:`Access` (0 read,          a user-mode reference by the running process
               1 write, 2 instruction fetch)     to the 4 KiB page holding ``va``
``MAP``        :class:`Prot` bits                mmap: a new private anonymous region of
                                                 ``pages`` pages; demand-paged (the OS model
                                                 allocates frames and builds tables on first
                                                 touch, with its own huge-page policy)
``UNMAP``      0                                 munmap of ``pages`` pages (frees frames and
                                                 tables; the OS invalidates its own TLB entries)
``PROTECT``    new :class:`Prot` bits            mprotect of ``pages`` pages
``FORK``       child pid                         fork by ``pid``: the child gets a
                                                 copy-on-write copy of the whole address space
``EXIT``       0                                 the running process exits; its address space
                                                 is torn down and no process runs until a SWITCH
``SPAWN``      0                                 a process with an empty address space appears
                                                 (created outside the model: boot, a launcher);
                                                 it does not run until a SWITCH
``SWITCH``     0                                 the guest schedules ``pid``: a CR3 write. Whether
                                                 PCIDs keep TLB entries is the mechanism's choice
``VM_SWITCH``  0                                 the hypervisor runs VM ``vm`` on the CPU
``SHOOTDOWN``  other CPUs sent the IPI (>= 1)    after an update of a process running on other
                                                 CPUs too, this CPU sends TLB-shootdown IPIs for
                                                 ``pages`` pages at ``va``
``SYSCALL``    Linux x86-64 syscall number       the running process enters the kernel; the
               (:class:`Syscall`)                update events of that call follow it
=============  ================================  =============================================

Fields an event does not use are 0, so two streams are equal iff their bytes are equal.

**System calls and batching.** Every update (MAP, UNMAP, PROTECT, FORK, EXIT, SHOOTDOWN) happens
inside a system call: a ``SYSCALL`` event opens call number ``k`` (``syscall = k``, ``k``
counting 1, 2, ... through the stream) and the updates of that call follow it immediately,
each with ``syscall = k``. The call ends at the first event that is not an update. So the
updates a paravirtual guest may queue into one batched hypercall (Xen's lazy-MMU mode,
``pv.batch``) are exactly the updates sharing a ``syscall`` value, and a system call with no
update (``wait4``) still shows up as a kernel entry. Demand faults are not system calls: the
OS model raises them from ACCESS events, one kernel entry each.

**Who runs.** VM 0 runs first; ``VM_SWITCH`` changes the running VM, and every event carries
the running VM. Each VM has its own running process (none at first): ``SWITCH`` sets it, and a
VM that is switched back in resumes the process it was running. ACCESS, SYSCALL and update
events carry the running process; FORK's ``pid`` is the parent.

**Invariants** (checked by :func:`validate`; every generator's output satisfies them):
addresses are below ``USER_TOP`` = 2**47 (the user half of a 4-level table, so any stream
fits 4- and 5-level guests); ranges are page-aligned and non-empty; a MAP does not overlap a
mapped page; UNMAP and PROTECT cover only mapped pages; an ACCESS hits a mapped page whose
protection allows it (read: READ, write: WRITE, fetch: EXEC); a pid is created once (SPAWN or
FORK) and exits at most once, and nothing names it afterwards; SWITCH and VM_SWITCH change
something (no switch to what already runs).

>>> b = StreamBuilder()
>>> b.spawn(1)
>>> b.switch(1)
>>> b.map(0x10000, pages=2, prot=Prot.READ | Prot.WRITE)
>>> b.access(0x10008, write=True)
>>> events = b.build()
>>> validate(events)
>>> print(format_events(events))
     0 vm0 pid1  SPAWN
     1 vm0 pid1  SWITCH
     2 vm0 pid1  SYSCALL    mmap #1
     3 vm0 pid1  MAP        0x10000 +2 rw- #1
     4 vm0 pid1  ACCESS     W 0x10008
>>> summarize(events).maps, summarize(events).writes
(1, 1)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from enum import IntEnum, IntFlag

import numpy as np

PAGE_SHIFT = 12
PAGE = 1 << PAGE_SHIFT
USER_TOP = 1 << 47
"""First address above user space in a 4-level (48-bit) address space."""

EVENT_DTYPE = np.dtype(
    [("va", "<u8"), ("pages", "<u8"), ("pid", "<u4"), ("arg", "<u4"), ("syscall", "<u4"),
     ("vm", "<u2"), ("op", "u1"), ("reserved", "u1")],
    align=True,
)
"""No padding: a gap would make numpy copy field by field and leave its bytes undefined."""


class Ev(IntEnum):
    """Event kinds (the ``op`` field)."""

    ACCESS = 1
    MAP = 2
    UNMAP = 3
    PROTECT = 4
    FORK = 5
    EXIT = 6
    SPAWN = 7
    SWITCH = 8
    VM_SWITCH = 9
    SHOOTDOWN = 10
    SYSCALL = 11


UPDATES = (Ev.MAP, Ev.UNMAP, Ev.PROTECT, Ev.FORK, Ev.EXIT, Ev.SHOOTDOWN)
"""Kinds that occur only inside a system call."""


class Access(IntEnum):
    """``arg`` of an ACCESS."""

    READ = 0
    WRITE = 1
    FETCH = 2


class Prot(IntFlag):
    """Protection bits (``arg`` of MAP and PROTECT), as Linux's ``PROT_*``."""

    NONE = 0
    READ = 1
    WRITE = 2
    EXEC = 4


RW = Prot.READ | Prot.WRITE
RX = Prot.READ | Prot.EXEC
RWX = Prot.READ | Prot.WRITE | Prot.EXEC


class Syscall(IntEnum):
    """System-call numbers (``arg`` of SYSCALL): Linux x86-64, so traces read naturally."""

    MMAP = 9
    MPROTECT = 10
    MUNMAP = 11
    SCHED_YIELD = 24
    FORK = 57
    EXECVE = 59
    EXIT = 60
    WAIT4 = 61
    EXIT_GROUP = 231


_NEEDS = {Access.READ: Prot.READ, Access.WRITE: Prot.WRITE, Access.FETCH: Prot.EXEC}
_DEFAULT_CALL = {Ev.MAP: Syscall.MMAP, Ev.UNMAP: Syscall.MUNMAP, Ev.PROTECT: Syscall.MPROTECT,
                 Ev.FORK: Syscall.FORK, Ev.EXIT: Syscall.EXIT_GROUP}


def empty(n: int = 0) -> np.ndarray:
    """A zeroed stream of ``n`` records (op 0: invalid until filled).

    >>> empty(3).dtype.itemsize, len(empty(3))
    (32, 3)
    """
    return np.zeros(n, dtype=EVENT_DTYPE)


def access_block(va: np.ndarray, kind: np.ndarray | int, *, pid: int, vm: int = 0,
                 head: np.ndarray | None = None) -> np.ndarray:
    """ACCESS records for an array of addresses (``kind``: one :class:`Access` or an array),
    after the records of ``head`` if given (one allocation: traces run to 10^8 references).

    >>> block = access_block(np.array([0x1000, 0x2008], dtype=np.uint64), Access.WRITE, pid=3)
    >>> block["op"].tolist(), block["arg"].tolist(), block["pid"].tolist()
    ([1, 1], [1, 1], [3, 3])
    """
    skip = 0 if head is None else len(head)
    out = empty(skip + len(va))
    if head is not None:
        out[:skip] = head
    block = out[skip:]
    block["va"] = va
    block["arg"] = kind
    block["pid"] = pid
    block["vm"] = vm
    block["op"] = Ev.ACCESS
    return out


_ROW_FIELDS = ("va", "pages", "pid", "arg", "syscall", "vm", "op")


class StreamBuilder:
    """Builds a stream event by event, or by whole arrays of accesses; readable in tests.

    Tracks the running VM and process so that calls name only what changes. An update called
    outside :meth:`syscall` is wrapped in its own system call (``map`` in ``mmap``, ``fork`` in
    ``fork``, ``exit`` in ``exit_group``...). The builder does not validate; :func:`validate`
    does.

    >>> b = StreamBuilder()
    >>> b.spawn(1); b.switch(1)
    >>> with b.syscall(Syscall.MMAP):
    ...     b.map(0x200000, pages=512)
    ...     b.map(0x400000, pages=512)
    >>> b.accesses(np.arange(0x200000, 0x600000, 0x1000, dtype=np.uint64), Access.READ)
    >>> s = summarize(b.build())
    >>> s.syscalls, s.maps, s.mapped_pages, s.accesses, s.touched_pages
    (1, 2, 1024, 1024, 1024)
    """

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._rows: list[tuple[int, int, int, int, int, int, int]] = []
        self._calls = 0
        self._open = 0
        self.vm = 0
        self.running: dict[int, int] = {}
        """Running process of each VM (absent: none)."""

    @property
    def pid(self) -> int:
        """The process running in the running VM (0 when none)."""
        return self.running.get(self.vm, 0)

    def _emit(self, op: int, *, va: int = 0, pages: int = 0, arg: int = 0,
              pid: int | None = None) -> None:
        if op not in UPDATES and op != Ev.SYSCALL:
            self._open = 0
        call = self._open if (op in UPDATES or op == Ev.SYSCALL) else 0
        self._rows.append((va, pages, self.pid if pid is None else pid, int(arg), call,
                           self.vm, int(op)))

    def _flush(self) -> None:
        if self._rows:
            # Field by field into zeroed records: np.array(tuples, dtype) leaves the padding
            # byte undefined, and equal streams must have equal bytes.
            columns = np.array(self._rows, dtype=np.uint64)
            chunk = empty(len(columns))
            for j, name in enumerate(_ROW_FIELDS):
                chunk[name] = columns[:, j]
            self._chunks.append(chunk)
            self._rows = []

    @contextmanager
    def syscall(self, number: int) -> Iterator[int]:
        """Open a system call of the running process; updates inside belong to it."""
        self._calls += 1
        self._open = self._calls
        self._emit(Ev.SYSCALL, arg=number)
        try:
            yield self._calls
        finally:
            self._open = 0

    def _update(self, op: Ev, **fields: int) -> None:
        if self._open:
            self._emit(op, **fields)
        else:
            with self.syscall(_DEFAULT_CALL[op]):
                self._emit(op, **fields)

    def map(self, va: int, pages: int, prot: int = RW) -> None:
        """mmap ``pages`` 4 KiB pages at ``va``."""
        self._update(Ev.MAP, va=va, pages=pages, arg=prot)

    def unmap(self, va: int, pages: int) -> None:
        """munmap ``pages`` pages at ``va``."""
        self._update(Ev.UNMAP, va=va, pages=pages)

    def protect(self, va: int, pages: int, prot: int) -> None:
        """mprotect ``pages`` pages at ``va`` to ``prot``."""
        self._update(Ev.PROTECT, va=va, pages=pages, arg=prot)

    def fork(self, child: int) -> None:
        """The running process forks ``child`` (which does not run until switched to)."""
        self._update(Ev.FORK, arg=child)

    def exit(self) -> None:
        """The running process exits; afterwards no process runs in this VM."""
        self._update(Ev.EXIT)
        self.running.pop(self.vm, None)

    def shootdown(self, va: int, pages: int, cpus: int) -> None:
        """TLB-shootdown IPIs to ``cpus`` other CPUs; only inside a system call."""
        if not self._open:
            raise ValueError("a SHOOTDOWN belongs to the system call that made the update")
        self._emit(Ev.SHOOTDOWN, va=va, pages=pages, arg=cpus)

    def spawn(self, pid: int) -> None:
        """A new process with an empty address space in the running VM."""
        self._emit(Ev.SPAWN, pid=pid)

    def switch(self, pid: int) -> None:
        """Context switch (CR3 write) to ``pid`` in the running VM."""
        self.running[self.vm] = pid
        self._emit(Ev.SWITCH)

    def vm_switch(self, vm: int) -> None:
        """The hypervisor runs ``vm``."""
        self.vm = vm
        self._emit(Ev.VM_SWITCH, pid=0)

    def access(self, va: int, write: bool = False, fetch: bool = False) -> None:
        """One reference by the running process."""
        kind = Access.FETCH if fetch else Access.WRITE if write else Access.READ
        self._emit(Ev.ACCESS, va=va, arg=kind)

    def accesses(self, va: np.ndarray, kind: np.ndarray | int) -> None:
        """Many references by the running process, as arrays (the fast path)."""
        self._open = 0
        self._flush()
        self._chunks.append(access_block(va, kind, pid=self.pid, vm=self.vm))

    def build(self) -> np.ndarray:
        """The stream so far, as one array."""
        self._flush()
        return np.concatenate(self._chunks) if self._chunks else empty()


@dataclass(frozen=True)
class Counts:
    """Summary counts of a stream (see :func:`summarize`)."""

    events: int
    accesses: int
    reads: int
    writes: int
    fetches: int
    maps: int
    unmaps: int
    protects: int
    forks: int
    exits: int
    spawns: int
    switches: int
    vm_switches: int
    shootdowns: int
    syscalls: int
    updates: int
    """MAP + UNMAP + PROTECT + FORK + EXIT: events that change a page table's contents."""
    mapped_pages: int
    unmapped_pages: int
    protected_pages: int
    touched_pages: int
    """Distinct (vm, pid, page) referenced."""
    processes: int
    """Distinct (vm, pid) named by any event."""
    vms: int

    def as_dict(self) -> dict[str, int]:
        """Plain dictionary, in field order."""
        return asdict(self)


def summarize(events: np.ndarray | Iterable[np.ndarray]) -> Counts:
    """Counts of a stream, computed with array operations; the stream whole or in pieces
    (any iterable of consecutive pieces, such as a
    :class:`~workloads.memory.chunked.EventChunks`: one pass, memory for its distinct pages).

    >>> b = StreamBuilder(); b.spawn(1); b.switch(1); b.map(0, 4); b.access(0); b.access(8)
    >>> c = summarize(b.build())
    >>> c.accesses, c.reads, c.touched_pages, c.syscalls, c.updates
    (2, 2, 1, 1, 1)
    >>> ev = b.build()
    >>> summarize([ev[:4], ev[4:5], ev[5:]]) == c
    True
    """
    pieces = [events] if isinstance(events, np.ndarray) else events
    by = np.zeros(len(Ev) + 1, dtype=np.int64)
    kinds = np.zeros(3, dtype=np.int64)
    paged = np.zeros(len(Ev) + 1, dtype=np.uint64)
    n = 0
    touched: list[tuple[np.ndarray, np.ndarray]] = []
    processes: list[tuple[np.ndarray, np.ndarray]] = []
    vms: list[np.ndarray] = []
    for piece in pieces:
        op = piece["op"]
        n += len(piece)
        by += np.bincount(op, minlength=len(Ev) + 1)
        for kind in (Ev.MAP, Ev.UNMAP, Ev.PROTECT):
            paged[kind] += piece["pages"][op == kind].sum(dtype=np.uint64)
        acc = piece[op == Ev.ACCESS]
        kinds += np.bincount(acc["arg"], minlength=3)
        touched.append(_distinct(_space(acc["vm"], acc["pid"]),
                                 (acc["va"] >> np.uint64(PAGE_SHIFT)).astype(np.int64)))
        named = piece["pid"] != 0
        processes.append(_distinct(_space(piece["vm"][named], piece["pid"][named]),
                                   np.zeros(int(named.sum()), dtype=np.int64)))
        vms.append(np.unique(piece["vm"]))

    def distinct(parts: list[tuple[np.ndarray, np.ndarray]]) -> int:
        if not parts:
            return 0
        return len(_distinct(np.concatenate([a for a, _ in parts]),
                             np.concatenate([b for _, b in parts]))[0])

    return Counts(
        events=n, accesses=int(by[Ev.ACCESS]),
        reads=int(kinds[Access.READ]), writes=int(kinds[Access.WRITE]),
        fetches=int(kinds[Access.FETCH]),
        maps=int(by[Ev.MAP]), unmaps=int(by[Ev.UNMAP]), protects=int(by[Ev.PROTECT]),
        forks=int(by[Ev.FORK]), exits=int(by[Ev.EXIT]), spawns=int(by[Ev.SPAWN]),
        switches=int(by[Ev.SWITCH]), vm_switches=int(by[Ev.VM_SWITCH]),
        shootdowns=int(by[Ev.SHOOTDOWN]), syscalls=int(by[Ev.SYSCALL]),
        updates=int(sum(by[k] for k in (Ev.MAP, Ev.UNMAP, Ev.PROTECT, Ev.FORK, Ev.EXIT))),
        mapped_pages=int(paged[Ev.MAP]), unmapped_pages=int(paged[Ev.UNMAP]),
        protected_pages=int(paged[Ev.PROTECT]),
        touched_pages=distinct(touched), processes=distinct(processes),
        vms=len(np.unique(np.concatenate(vms))) if vms else 0,
    )


def sorted_distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values ascending (``np.unique``), runs of equal neighbours dropped first:
    addresses from a stream (pages, regions) repeat in long runs, and the sort inside
    ``unique`` is then several times shorter.

    >>> sorted_distinct(np.array([5, 5, 5, 2, 2, 5])).tolist()
    [2, 5]
    """
    if len(values) > 1:
        values = values[np.concatenate(([True], values[1:] != values[:-1]))]
    return np.unique(values)


def _space(vm: np.ndarray, pid: np.ndarray) -> np.ndarray:
    """One int64 per (vm, pid): a 16-bit VM above a 32-bit pid."""
    return (vm.astype(np.int64) << 32) | pid.astype(np.int64)


def _distinct(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (a, b) pairs, sorted: lexsort and keep changes (``np.unique(axis=0)`` is
    ~30x slower on big streams)."""
    if len(a) == 0:
        return a, b
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    keep = np.ones(len(a), dtype=bool)
    keep[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    return a[keep], b[keep]


def _prot_text(prot: int) -> str:
    return "".join(c if prot & bit else "-" for c, bit in zip("rwx", (1, 2, 4), strict=True))


def _call_name(number: int) -> str:
    try:
        return Syscall(number).name.lower()
    except ValueError:
        return str(number)


def format_event(i: int, e: np.void) -> str:
    """One record as a line (see :func:`format_events`)."""
    op = Ev(int(e["op"]))
    head = f"{i:6d} vm{int(e['vm'])} pid{int(e['pid'])}  {op.name:<10s}"
    va, pages, arg, call = int(e["va"]), int(e["pages"]), int(e["arg"]), int(e["syscall"])
    tail = {
        Ev.ACCESS: lambda: f"{'RWX'[arg]} {va:#x}",
        Ev.MAP: lambda: f"{va:#x} +{pages} {_prot_text(arg)} #{call}",
        Ev.UNMAP: lambda: f"{va:#x} +{pages} #{call}",
        Ev.PROTECT: lambda: f"{va:#x} +{pages} {_prot_text(arg)} #{call}",
        Ev.FORK: lambda: f"child {arg} #{call}",
        Ev.EXIT: lambda: f"#{call}",
        Ev.SHOOTDOWN: lambda: f"{va:#x} +{pages} cpus {arg} #{call}",
        Ev.SYSCALL: lambda: f"{_call_name(arg)} #{call}",
    }.get(op, lambda: "")()
    return (head + " " + tail).rstrip()


def format_events(events: np.ndarray, limit: int | None = 100) -> str:
    """A readable listing, one event per line (the first ``limit``; None for all).

    >>> b = StreamBuilder(); b.spawn(7); b.switch(7); b.fork(8)
    >>> print(format_events(b.build()))
         0 vm0 pid7  SPAWN
         1 vm0 pid7  SWITCH
         2 vm0 pid7  SYSCALL    fork #1
         3 vm0 pid7  FORK       child 8 #1
    """
    shown = events if limit is None else events[:limit]
    lines = [format_event(i, e) for i, e in enumerate(shown)]
    if len(shown) < len(events):
        lines.append(f"... and {len(events) - len(shown)} more")
    return "\n".join(lines)


_USES = {
    # Fields each kind uses beyond op and vm; the others must be 0.
    Ev.ACCESS: {"va", "pid", "arg"},
    Ev.MAP: {"va", "pages", "pid", "arg", "syscall"},
    Ev.UNMAP: {"va", "pages", "pid", "syscall"},
    Ev.PROTECT: {"va", "pages", "pid", "arg", "syscall"},
    Ev.FORK: {"pid", "arg", "syscall"},
    Ev.EXIT: {"pid", "syscall"},
    Ev.SPAWN: {"pid"},
    Ev.SWITCH: {"pid"},
    Ev.VM_SWITCH: set(),
    Ev.SHOOTDOWN: {"va", "pages", "pid", "arg", "syscall"},
    Ev.SYSCALL: {"pid", "arg", "syscall"},
}
_OPTIONAL = ("va", "pages", "pid", "arg", "syscall", "reserved")

Vma = tuple[int, int, int]
"""(first page, end page, protection) of one mapped region."""


def _covered(vmas: list[Vma], start: int, end: int) -> bool:
    pos = start
    for a, b, _ in vmas:
        if b <= pos:
            continue
        if a > pos:
            return False
        pos = b
        if pos >= end:
            return True
    return pos >= end


def _carve(vmas: list[Vma], start: int, end: int) -> list[Vma]:
    out = []
    for a, b, p in vmas:
        if b <= start or a >= end:
            out.append((a, b, p))
            continue
        if a < start:
            out.append((a, start, p))
        if b > end:
            out.append((end, b, p))
    return out


class _Fail(Exception):
    pass


def validate(events: np.ndarray) -> None:
    """Check every invariant of the contract; ``ValueError`` naming the first bad event.

    >>> b = StreamBuilder(); b.spawn(1); b.switch(1); b.map(0x1000, 1, Prot.READ)
    >>> b.access(0x1000, write=True)
    >>> validate(b.build())
    Traceback (most recent call last):
    ValueError: event 4 (ACCESS): write to page 0x1 whose protection is r--
    """
    if events.dtype != EVENT_DTYPE:
        raise ValueError(f"stream dtype is {events.dtype}, expected EVENT_DTYPE")
    op = events["op"]
    known = np.isin(op, [int(k) for k in Ev])
    if not known.all():
        i = int(np.argmin(known))
        raise ValueError(f"event {i}: unknown kind {int(op[i])}")
    first_bad = len(events)
    reason = ""
    for kind, used in _USES.items():
        mask = op == kind
        for name in _OPTIONAL:
            if name in used:
                continue
            bad = np.flatnonzero(mask & (events[name] != 0))
            if len(bad) and bad[0] < first_bad:
                first_bad, reason = int(bad[0]), f"field {name} must be 0"
    acc = op == Ev.ACCESS
    for bad_mask, why in ((acc & (events["arg"] > Access.FETCH), "arg is not an Access kind"),
                          (acc & (events["va"] >= USER_TOP), "address above user space")):
        bad = np.flatnonzero(bad_mask)
        if len(bad) and bad[0] < first_bad:
            first_bad, reason = int(bad[0]), why
    if reason:
        raise ValueError(f"event {first_bad} ({Ev(int(op[first_bad])).name}): {reason}")
    _Checker(events).run()


class _Checker:
    """Replays a stream's control events in order; checks access runs with array operations."""

    def __init__(self, events: np.ndarray) -> None:
        self.events = events
        self.vm = 0
        self.running: dict[int, int] = {}
        self.spaces: dict[tuple[int, int], list[Vma]] = {}
        self.arrays: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.named: set[tuple[int, int]] = set()
        self.calls = 0
        self.open = 0

    def run(self) -> None:
        events = self.events
        control = np.flatnonzero(events["op"] != Ev.ACCESS).tolist() + [len(events)]
        start = 0
        for i in control:
            if i > start:
                self.open = 0
                self.accesses(start, i)
            if i == len(events):
                break
            try:
                self.control(events[i])
            except _Fail as fail:
                raise ValueError(f"event {i} ({Ev(int(events[i]['op'])).name}): {fail}") from None
            start = i + 1

    def accesses(self, start: int, stop: int) -> None:
        run = self.events[start:stop]
        pid = self.running.get(self.vm, 0)

        def fail(offset: int, why: str) -> None:
            raise ValueError(f"event {start + offset} (ACCESS): {why}")

        if not pid:
            fail(0, "no process is running")
        for name, want in (("vm", self.vm), ("pid", pid)):
            wrong = np.flatnonzero(run[name] != want)
            if len(wrong):
                got = int(run[name][wrong[0]])
                fail(int(wrong[0]), f"{name} {got} is not the running {name} {want}")
        starts, ends, prots = self.vma_arrays((self.vm, pid))
        pages = run["va"] >> np.uint64(PAGE_SHIFT)
        idx = np.searchsorted(starts, pages, side="right").astype(np.int64) - 1
        safe = np.clip(idx, 0, None)
        need = np.array([Prot.READ, Prot.WRITE, Prot.EXEC], dtype=np.uint8)[run["arg"]]
        if len(starts):
            inside = (idx >= 0) & (pages < ends[safe])
            allowed = inside & ((prots[safe] & need) != 0)
        else:
            inside = allowed = np.zeros(len(run), dtype=bool)
        bad = np.flatnonzero(~allowed)
        if len(bad):
            j = int(bad[0])
            page = int(pages[j])
            if not inside[j]:
                fail(j, f"page {page:#x} of pid {pid} is not mapped")
            what = Access(int(run["arg"][j])).name.lower()
            fail(j, f"{what} to page {page:#x} whose protection is {_prot_text(prots[safe[j]])}")

    def vma_arrays(self, key: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if key not in self.arrays:
            vmas = self.spaces.get(key, [])
            self.arrays[key] = (np.array([v[0] for v in vmas], dtype=np.uint64),
                                np.array([v[1] for v in vmas], dtype=np.uint64),
                                np.array([v[2] for v in vmas], dtype=np.uint8))
        return self.arrays[key]

    def set_space(self, key: tuple[int, int], vmas: list[Vma] | None) -> None:
        self.arrays.pop(key, None)
        if vmas is None:
            del self.spaces[key]
        else:
            self.spaces[key] = sorted(vmas)

    def control(self, e: np.void) -> None:
        op = Ev(int(e["op"]))
        vm, pid, arg = int(e["vm"]), int(e["pid"]), int(e["arg"])
        va, pages, call = int(e["va"]), int(e["pages"]), int(e["syscall"])
        if op == Ev.VM_SWITCH:
            if vm == self.vm:
                raise _Fail(f"VM {vm} is already running")
            self.vm = vm
            self.open = 0
            return
        if vm != self.vm:
            raise _Fail(f"vm {vm} is not the running VM {self.vm}")
        running = self.running.get(vm, 0)
        if op == Ev.SPAWN:
            self.create(vm, pid)
            self.open = 0
            return
        if op == Ev.SWITCH:
            if (vm, pid) not in self.spaces:
                raise _Fail(f"pid {pid} does not exist")
            if pid == running:
                raise _Fail(f"pid {pid} is already running")
            self.running[vm] = pid
            self.open = 0
            return
        if not running:
            raise _Fail("no process is running")
        if pid != running:
            raise _Fail(f"pid {pid} is not the running pid {running}")
        if op == Ev.SYSCALL:
            self.calls += 1
            if call != self.calls:
                raise _Fail(f"syscall ordinal {call}, expected {self.calls}")
            self.open = call
            return
        if not self.open:
            raise _Fail("an update outside a system call")
        if call != self.open:
            raise _Fail(f"syscall ordinal {call} inside system call {self.open}")
        key = (vm, pid)
        if op in (Ev.MAP, Ev.UNMAP, Ev.PROTECT, Ev.SHOOTDOWN):
            if va % PAGE or pages < 1 or va + pages * PAGE > USER_TOP:
                raise _Fail(f"range {va:#x} +{pages} pages is not page-aligned, non-empty "
                            "user space")
            first, end = va >> PAGE_SHIFT, (va >> PAGE_SHIFT) + pages
            vmas = self.spaces[key]
        if op in (Ev.MAP, Ev.PROTECT) and arg & ~int(RWX):
            raise _Fail(f"protection {arg:#x} has bits other than READ, WRITE, EXEC")
        if op == Ev.MAP:
            if _carve(vmas, first, end) != vmas:
                raise _Fail(f"MAP {va:#x} +{pages} overlaps a mapped page")
            self.set_space(key, [*vmas, (first, end, arg)])
        elif op in (Ev.UNMAP, Ev.PROTECT):
            if not _covered(vmas, first, end):
                raise _Fail(f"{op.name} {va:#x} +{pages} covers unmapped pages")
            carved = _carve(vmas, first, end)
            self.set_space(key, carved + [(first, end, arg)] if op == Ev.PROTECT else carved)
        elif op == Ev.SHOOTDOWN:
            if arg < 1:
                raise _Fail("a shootdown must name at least one other CPU")
        elif op == Ev.FORK:
            self.create(vm, arg)
            self.set_space((vm, arg), list(self.spaces[key]))
        elif op == Ev.EXIT:
            self.set_space(key, None)
            del self.running[vm]

    def create(self, vm: int, pid: int) -> None:
        if pid == 0:
            raise _Fail("pid 0 is reserved")
        if (vm, pid) in self.named:
            raise _Fail(f"pid {pid} was created before")
        self.named.add((vm, pid))
        self.spaces[(vm, pid)] = []
