"""The OS-event stream contract: builder, validation of every invariant, counts, listing."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.memory.events import (
    EVENT_DTYPE,
    PAGE,
    RW,
    RWX,
    USER_TOP,
    Access,
    Ev,
    Prot,
    StreamBuilder,
    Syscall,
    access_block,
    format_events,
    summarize,
    validate,
)

DERANDOMIZED = settings(derandomize=True, deadline=None, max_examples=60)


def running(pid: int = 1, pages: int = 4, prot: int = RW) -> StreamBuilder:
    """A builder with ``pid`` running and ``pages`` pages mapped at 0x10000."""
    b = StreamBuilder()
    b.spawn(pid)
    b.switch(pid)
    b.map(0x10000, pages, prot)
    return b


def raw(b: StreamBuilder, **fields: int) -> np.ndarray:
    """The builder's stream plus one hand-made record."""
    extra = np.zeros(1, dtype=EVENT_DTYPE)
    for name, value in fields.items():
        extra[name] = value
    return np.concatenate([b.build(), extra])


def test_record_layout_is_32_aligned_bytes() -> None:
    assert EVENT_DTYPE.itemsize == 32
    names = ("va", "pages", "pid", "arg", "syscall", "vm", "op", "reserved")
    assert [EVENT_DTYPE.fields[f][1] for f in names] == [0, 8, 16, 20, 24, 28, 30, 31]
    assert sum(EVENT_DTYPE.fields[f][0].itemsize for f in names) == 32  # no padding


def test_builder_wraps_updates_in_their_own_system_calls() -> None:
    b = running()
    b.protect(0x10000, 1, Prot.READ)
    b.fork(2)
    b.exit()
    ev = b.build()
    calls = ev[ev["op"] == Ev.SYSCALL]
    assert calls["arg"].tolist() == [Syscall.MMAP, Syscall.MPROTECT, Syscall.FORK,
                                     Syscall.EXIT_GROUP]
    assert calls["syscall"].tolist() == [1, 2, 3, 4]
    updates = ev[np.isin(ev["op"], [Ev.MAP, Ev.PROTECT, Ev.FORK, Ev.EXIT])]
    assert updates["syscall"].tolist() == [1, 2, 3, 4]
    validate(ev)


def test_one_system_call_batches_several_updates_until_a_non_update() -> None:
    b = running()
    with b.syscall(Syscall.MUNMAP):
        b.unmap(0x10000, 2)
        b.shootdown(0x10000, 2, cpus=3)
        b.unmap(0x12000, 2)
    b.access(0x11000)  # mapped until the call above
    ev = b.build()
    assert ev["syscall"][-4:].tolist() == [2, 2, 2, 0]
    with pytest.raises(ValueError, match="event 8 \\(ACCESS\\): page 0x11 of pid 1 is not mapped"):
        validate(ev)
    validate(ev[:-1])
    c = summarize(ev)
    assert (c.syscalls, c.unmaps, c.shootdowns, c.unmapped_pages, c.updates) == (2, 2, 1, 4, 3)


def test_shootdown_outside_a_system_call_is_refused_by_the_builder() -> None:
    with pytest.raises(ValueError, match="belongs to the system call"):
        running().shootdown(0x10000, 1, cpus=1)


def test_a_vm_switched_back_in_resumes_its_process() -> None:
    b = running()
    b.vm_switch(1)
    b.spawn(1)
    b.switch(1)
    b.map(0x10000, 1)
    b.access(0x10000, write=True)
    b.vm_switch(0)
    b.access(0x13000, write=True)  # VM 0's pid 1 again, 4 pages mapped there
    ev = b.build()
    validate(ev)
    c = summarize(ev)
    assert (c.vms, c.processes, c.vm_switches, c.switches, c.touched_pages) == (2, 2, 2, 2, 2)
    assert ev["vm"].tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0]
    assert ev[ev["op"] == Ev.VM_SWITCH]["pid"].tolist() == [0, 0]


def _bad_cases() -> list[tuple[str, Callable[[], np.ndarray], str]]:
    def access_without_process() -> np.ndarray:
        b = StreamBuilder()
        b.spawn(1)
        b.access(0x1000)
        return b.build()

    def write_read_only() -> np.ndarray:
        b = running(prot=Prot.READ)
        b.access(0x10000, write=True)
        return b.build()

    def fetch_data() -> np.ndarray:
        b = running()
        b.access(0x11000, fetch=True)
        return b.build()

    def after_unmap() -> np.ndarray:
        b = running()
        b.unmap(0x11000, 1)
        b.access(0x11008)
        return b.build()

    def after_protect_none() -> np.ndarray:
        b = running()
        b.protect(0x12000, 2, Prot.NONE)
        b.access(0x13000)
        return b.build()

    def switch_to_unborn() -> np.ndarray:
        b = running()
        b.switch(2)
        return b.build()

    def switch_to_exited() -> np.ndarray:
        b = running()
        b.fork(2)
        b.switch(2)
        b.exit()
        b.switch(2)
        return b.build()

    def exit_twice() -> np.ndarray:
        b = running()
        b.exit()
        b.exit()
        return b.build()

    def spawn_twice() -> np.ndarray:
        b = running()
        b.spawn(1)
        return b.build()

    def fork_existing() -> np.ndarray:
        b = running()
        b.spawn(2)
        b.fork(2)
        return b.build()

    def fork_pid_zero() -> np.ndarray:
        b = running()
        b.fork(0)
        return b.build()

    def overlap() -> np.ndarray:
        b = running()
        b.map(0x13000, 2)
        return b.build()

    def unmap_hole() -> np.ndarray:
        b = running()
        b.unmap(0x12000, 3)
        return b.build()

    def protect_across_gap() -> np.ndarray:
        b = running()
        b.map(0x15000, 1)
        b.protect(0x10000, 6, Prot.READ)
        return b.build()

    def switch_same() -> np.ndarray:
        b = running()
        b.switch(1)
        return b.build()

    def vm_switch_same() -> np.ndarray:
        b = running()
        b.vm_switch(0)
        return b.build()

    def accesses_labelled_other_pid() -> np.ndarray:
        b = running()
        b.fork(2)
        ev = b.build()
        return np.concatenate([ev, access_block(np.array([0x10000], dtype=np.uint64), 0, pid=2)])

    def update_outside_syscall() -> np.ndarray:
        b = running()
        b.access(0x10000)
        return raw(b, op=Ev.MAP, va=0x40000, pages=1, pid=1, arg=RW)

    def update_labelled_outside_inside_call() -> np.ndarray:
        return raw(running(), op=Ev.MAP, va=0x40000, pages=1, pid=1, arg=RW)

    def update_after_call_ended() -> np.ndarray:
        b = running()
        b.access(0x10000)
        return raw(b, op=Ev.MAP, va=0x40000, pages=1, pid=1, arg=RW, syscall=1)

    def wrong_ordinal() -> np.ndarray:
        return raw(running(), op=Ev.SYSCALL, pid=1, arg=Syscall.MMAP, syscall=5)

    def wrong_vm() -> np.ndarray:
        return raw(running(), op=Ev.SWITCH, pid=1, vm=3)

    def unaligned() -> np.ndarray:
        b = running()
        b.map(0x40010, 1)
        return b.build()

    def empty_range() -> np.ndarray:
        b = running()
        b.map(0x40000, 0)
        return b.build()

    def beyond_user() -> np.ndarray:
        b = running()
        b.map(USER_TOP - PAGE, 2)
        return b.build()

    def access_beyond_user() -> np.ndarray:
        b = running()
        b.access(USER_TOP)
        return b.build()

    def stray_operand() -> np.ndarray:
        return raw(running(), op=Ev.SPAWN, pid=9, arg=1)

    def zero_record() -> np.ndarray:
        return raw(running())

    def no_cpus() -> np.ndarray:
        call = raw(running(), op=Ev.SYSCALL, pid=1, arg=Syscall.MUNMAP, syscall=2)
        return np.concatenate([call, _one(op=Ev.SHOOTDOWN, pid=1, va=0x10000, pages=1,
                                          syscall=2)])

    def bad_prot() -> np.ndarray:
        b = running()
        b.protect(0x10000, 1, 8)
        return b.build()

    def bad_access_kind() -> np.ndarray:
        b = running()
        ev = b.build()
        return np.concatenate([ev, access_block(np.array([0x10000], dtype=np.uint64), 3, pid=1)])

    return [
        ("access without process", access_without_process, "event 1 (ACCESS): no process"),
        ("write to read-only", write_read_only,
         "event 4 (ACCESS): write to page 0x10 whose protection is r--"),
        ("fetch from data", fetch_data, "fetch to page 0x11 whose protection is rw-"),
        ("access after unmap", after_unmap, "event 6 (ACCESS): page 0x11 of pid 1 is not mapped"),
        ("access after PROT_NONE", after_protect_none, "read to page 0x13 whose protection is ---"),
        ("switch to unborn", switch_to_unborn, "event 4 (SWITCH): pid 2 does not exist"),
        ("switch to exited", switch_to_exited, "event 9 (SWITCH): pid 2 does not exist"),
        ("exit twice", exit_twice, "event 6 (SYSCALL): no process is running"),
        ("spawn twice", spawn_twice, "event 4 (SPAWN): pid 1 was created before"),
        ("fork onto existing", fork_existing, "event 6 (FORK): pid 2 was created before"),
        ("fork pid 0", fork_pid_zero, "event 5 (FORK): pid 0 is reserved"),
        ("overlapping map", overlap, "event 5 (MAP): MAP 0x13000 +2 overlaps a mapped page"),
        ("unmap a hole", unmap_hole, "UNMAP 0x12000 +3 covers unmapped pages"),
        ("protect across a gap", protect_across_gap, "PROTECT 0x10000 +6 covers unmapped"),
        ("switch to running", switch_same, "event 4 (SWITCH): pid 1 is already running"),
        ("vm switch to running", vm_switch_same, "event 4 (VM_SWITCH): VM 0 is already running"),
        ("access labelled other pid", accesses_labelled_other_pid,
         "event 6 (ACCESS): pid 2 is not the running pid 1"),
        ("update outside syscall", update_outside_syscall,
         "event 5 (MAP): an update outside a system call"),
        ("update with ordinal 0 inside a call", update_labelled_outside_inside_call,
         "event 4 (MAP): syscall ordinal 0 inside system call 1"),
        ("update after call ended", update_after_call_ended,
         "event 5 (MAP): an update outside a system call"),
        ("wrong syscall ordinal", wrong_ordinal, "syscall ordinal 5, expected 2"),
        ("wrong vm", wrong_vm, "event 4 (SWITCH): vm 3 is not the running VM 0"),
        ("unaligned range", unaligned, "not page-aligned"),
        ("empty range", empty_range, "range 0x40000 +0 pages"),
        ("range beyond user space", beyond_user, "not page-aligned, non-empty user space"),
        ("access beyond user space", access_beyond_user, "event 4 (ACCESS): address above user"),
        ("stray operand", stray_operand, "event 4 (SPAWN): field arg must be 0"),
        ("reserved byte", lambda: raw(running(), op=Ev.SWITCH, pid=1, reserved=1),
         "event 4 (SWITCH): field reserved must be 0"),
        ("zeroed record", zero_record, "event 4: unknown kind 0"),
        ("shootdown to no cpu", no_cpus, "event 5 (SHOOTDOWN): a shootdown must name"),
        ("protection bits", bad_prot, "protection 0x8 has bits other than"),
        ("access kind", bad_access_kind, "event 4 (ACCESS): arg is not an Access kind"),
    ]


def _one(**fields: int) -> np.ndarray:
    record = np.zeros(1, dtype=EVENT_DTYPE)
    for name, value in fields.items():
        record[name] = value
    return record


@pytest.mark.parametrize(("make", "message"), [c[1:] for c in _bad_cases()],
                         ids=[c[0] for c in _bad_cases()])
def test_each_invariant_is_checked(make: Callable[[], np.ndarray], message: str) -> None:
    with pytest.raises(ValueError) as info:
        validate(make())
    assert message in str(info.value)


def test_wrong_dtype_is_refused() -> None:
    with pytest.raises(ValueError, match="expected EVENT_DTYPE"):
        validate(np.zeros(3, dtype=np.uint64))


def test_empty_stream_is_valid_and_counts_zero() -> None:
    ev = StreamBuilder().build()
    validate(ev)
    assert set(summarize(ev).as_dict().values()) == {0}


def test_format_lists_every_kind_and_truncates() -> None:
    b = running()
    with b.syscall(Syscall.MUNMAP):
        b.unmap(0x13000, 1)
        b.shootdown(0x13000, 1, cpus=2)
    b.protect(0x10000, 1, Prot.READ | Prot.EXEC)
    b.access(0x10000, fetch=True)
    b.vm_switch(1)
    text = format_events(b.build(), limit=None)
    for needle in ("SPAWN", "SWITCH", "mmap #1", "MAP        0x10000 +4 rw- #1",
                   "UNMAP      0x13000 +1 #2", "SHOOTDOWN  0x13000 +1 cpus 2 #2",
                   "PROTECT    0x10000 +1 r-x #3", "ACCESS     X 0x10000", "vm1 pid0  VM_SWITCH"):
        assert needle in text
    assert format_events(b.build(), limit=2).splitlines()[-1] == "... and 9 more"


class Model:
    """A tiny OS that only does legal things: the oracle for validate and summarize."""

    def __init__(self) -> None:
        self.b = StreamBuilder()
        self.alive: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        self.next_pid = {0: 1, 1: 1}
        self.counts = {"accesses": 0, "maps": 0, "unmaps": 0, "protects": 0, "forks": 0,
                       "exits": 0, "spawns": 0, "switches": 0, "vm_switches": 0}

    def step(self, data: st.DataObject) -> None:
        b, vm = self.b, self.b.vm
        here = [pid for (v, pid) in self.alive if v == vm]
        choice = data.draw(st.sampled_from(["spawn", "switch", "map", "unmap", "protect",
                                            "fork", "exit", "access", "vm_switch"]))
        if choice == "spawn" or not here:
            pid = self.next_pid[vm]
            self.next_pid[vm] += 1
            b.spawn(pid)
            self.alive[(vm, pid)] = []
            self.counts["spawns"] += 1
        elif choice == "switch" or not b.pid:
            others = [p for p in here if p != b.pid]
            if others:
                b.switch(data.draw(st.sampled_from(others)))
                self.counts["switches"] += 1
        elif choice == "vm_switch":
            b.vm_switch(1 - vm)
            self.counts["vm_switches"] += 1
        elif choice == "map":
            slot = data.draw(st.integers(0, 7))
            regions = self.alive[(vm, b.pid)]
            if all(s != slot for s, _, _ in regions):
                prot = data.draw(st.sampled_from([int(Prot.READ), int(RW), int(RWX)]))
                b.map(0x100000 * (slot + 1), 4, prot)
                regions.append((slot, 4, prot))
                self.counts["maps"] += 1
        elif choice in ("unmap", "protect") and self.alive[(vm, b.pid)]:
            regions = self.alive[(vm, b.pid)]
            i = data.draw(st.integers(0, len(regions) - 1))
            slot, _, _ = regions[i]
            if choice == "unmap":
                b.unmap(0x100000 * (slot + 1), 4)
                del regions[i]
                self.counts["unmaps"] += 1
            else:
                prot = data.draw(st.sampled_from([int(Prot.READ), int(RW)]))
                b.protect(0x100000 * (slot + 1), 4, prot)
                regions[i] = (slot, 4, prot)
                self.counts["protects"] += 1
        elif choice == "fork":
            child = self.next_pid[vm]
            self.next_pid[vm] += 1
            b.fork(child)
            self.alive[(vm, child)] = list(self.alive[(vm, b.pid)])
            self.counts["forks"] += 1
        elif choice == "exit":
            del self.alive[(vm, b.pid)]
            b.exit()
            self.counts["exits"] += 1
        elif choice == "access" and self.alive[(vm, b.pid)]:
            slot, _, prot = data.draw(st.sampled_from(self.alive[(vm, b.pid)]))
            kinds = [k for k, bit in ((Access.READ, 1), (Access.WRITE, 2), (Access.FETCH, 4))
                     if prot & bit]
            n = data.draw(st.integers(1, 5))
            offsets = np.array(data.draw(st.lists(st.integers(0, 4 * PAGE - 1), min_size=n,
                                                  max_size=n)), dtype=np.uint64)
            b.accesses(np.uint64(0x100000 * (slot + 1)) + offsets,
                       np.array([data.draw(st.sampled_from(kinds)) for _ in range(n)],
                                dtype=np.uint32))
            self.counts["accesses"] += n


@DERANDOMIZED
@given(st.data())
def test_legal_histories_validate_and_count_as_the_model_says(data: st.DataObject) -> None:
    model = Model()
    for _ in range(data.draw(st.integers(1, 40))):
        model.step(data)
    ev = model.b.build()
    validate(ev)
    counts = summarize(ev).as_dict()
    assert {k: counts[k] for k in model.counts} == model.counts
    assert counts["syscalls"] == counts["updates"]  # the builder gives each its own call
