"""``shadow`` and ``pv-direct``: trap counts by reason on the shared guest model and replay."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from codesign.errors import InputError
from codesign.harness import Point, evaluate
from codesign.metrics import Metrics
from codesign.mmu.guest import FLUSH_CEILING
from codesign.mmu.pv_direct import PVParams, PVReplay
from codesign.mmu.replay import Replay, drive
from codesign.mmu.shadow import ShadowParams, ShadowReplay
from codesign.params import build
from tests.mmu.conftest import stream
from tests.mmu.test_native import BASE
from workloads.memory.events import RW, Ev, Prot, StreamBuilder

NO_HW = {"hw.cost": False}
MECHS = ("native", "nested", "pv-direct", "shadow")


def events_metrics(events: np.ndarray, mechanism: str, **values: Any) -> Metrics:
    """Metrics of a mechanism on an explicit stream (the registered run on the platform)."""
    from codesign.platforms import load_platform
    from codesign.registry import default_registry

    mech = default_registry().mechanism(mechanism)
    return mech.run(events, build(mech.params, values), load_platform("kvm-nehalem"))


def workload(name: str, mechanism: str, **params: Any) -> Metrics:
    return evaluate(Point(name, mechanism, params={
        **{f"workload.{k}": v for k, v in params.items()}, **NO_HW}))


def two_processes(extra_switches: int, pages: int = 4) -> np.ndarray:
    """Two processes with populated pages, then ``extra_switches`` more switches between them,
    each followed by a touch of every page of the process switched to."""
    b = StreamBuilder()
    for pid in (1, 2):
        b.spawn(pid)
        b.switch(pid)
        b.map(BASE, pages, RW)
        for k in range(pages):
            b.access(BASE + k * 4096, write=True)
    for i in range(extra_switches):
        b.switch(1 + i % 2)
        for k in range(pages):
            b.access(BASE + k * 4096)
    return b.build()


def mprotect(pages: int, protect: bool) -> np.ndarray:
    """A process populates ``pages`` 4 KiB pages, then (if ``protect``) write-protects all of
    them in one mprotect system call, then reads them."""
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    b.map(BASE, pages, RW)
    b.accesses(np.uint64(BASE) + np.arange(pages, dtype=np.uint64) * np.uint64(4096), 1)
    if protect:
        b.protect(BASE, pages, Prot.READ)
    b.accesses(np.uint64(BASE) + np.arange(pages, dtype=np.uint64) * np.uint64(4096), 0)
    return b.build()


@pytest.mark.parametrize("name, params", [
    ("forkwait", {"iterations": 20}),
    ("mmap-churn", {"cycles": 30, "remote_cpus": 1}),
])
def test_guest_pte_writes_exit_under_shadow_only_where_shadowed_and_never_under_nested(
        name: str, params: dict) -> None:
    """KVM write-protects only the guest tables its shadow pages shadow and lets a shadowed
    last-level table go unsync: some PTE writes exit under shadow paging, far from all (a
    fork's writes to its child's fresh tables, a run of writes to an unsync table do not);
    none do under nested paging."""
    shadow = workload(name, "shadow", **params)
    nested = workload(name, "nested", **params)
    assert shadow["os.pte_writes"] == nested["os.pte_writes"] > 100
    assert 0 < shadow["traps.vmexit.pt_write"] < shadow["os.pte_writes"] / 2
    assert shadow["shadow.unsync"] > 0
    assert "traps.vmexit.pt_write" not in nested
    # nested paging's only exits are EPT violations on first touch and the shootdown IPIs
    # the guest sends (a write to the virtual APIC)
    assert nested["traps.total"] == (nested["traps.vmexit.ept_violation"]
                                     + nested["traps.vmexit.ipi"])
    assert nested["traps.vmexit.ipi"] == shadow["traps.vmexit.ipi"] == nested["os.shootdown_ipis"]
    assert shadow["traps.vmexit.page_fault"] == shadow["faults.page"] + shadow["shadow.fills"]
    pv = workload(name, "pv-direct", **params)
    assert pv["traps.pf_bounce"] == pv["faults.page"] == shadow["shadow.injected"]
    assert pv["pv.updates"] == pv["os.pte_writes"]


def test_cr3_writes_exit_under_shadow_are_hypercalls_under_pv_and_free_under_nested() -> None:
    before = {m: events_metrics(two_processes(0), m) for m in MECHS}
    after = {m: events_metrics(two_processes(6), m) for m in MECHS}

    def delta(mech: str, name: str) -> int:
        return after[mech].get(name, 0) - before[mech].get(name, 0)

    assert delta("native", "os.cr3_writes") == 6
    assert delta("shadow", "traps.vmexit.cr3_write") == 6
    assert delta("shadow", "traps.total") == 6  # the shadows are cached: no refill
    assert delta("pv-direct", "traps.hypercall.mmuext_op") == 6
    assert delta("pv-direct", "traps.total") == 6
    assert delta("nested", "traps.total") == 0
    assert delta("native", "traps.total") == 0


@pytest.mark.parametrize("pages", [1, 7, 32, 33, 100])
@pytest.mark.parametrize("batch", [1, 8, 32])
def test_an_mprotect_of_n_ptes_is_n_exits_or_ceil_n_over_batch_hypercalls(
        pages: int, batch: int) -> None:
    pv = {p: events_metrics(mprotect(pages, p), "pv-direct", **{"pv.batch": batch})
          for p in (False, True)}
    sh = {p: events_metrics(mprotect(pages, p), "shadow") for p in (False, True)}
    nested = {p: events_metrics(mprotect(pages, p), "nested") for p in (False, True)}

    def delta(m: dict[bool, Metrics], name: str) -> int:
        return m[True].get(name, 0) - m[False].get(name, 0)

    assert delta(sh, "os.pte_writes") == pages
    # The leaf table is shadowed. Populating two or more pages left it unsync (the second
    # page's PTE write unsynced it), so the mprotect's writes do not exit; one page: the
    # first write unsyncs it (one exit) and the rest would not. Each INVLPG exits and resyncs
    # its entry (kvm_mmu_invlpg).
    assert delta(sh, "traps.vmexit.pt_write") == (1 if pages == 1 else 0)
    # Past Linux's tlb_single_page_flush_ceiling the guest flushes instead of INVLPGs: one
    # CR3 write, which exits and resyncs the unsync table (mmu_sync_children).
    beyond = pages > FLUSH_CEILING
    assert delta(sh, "traps.vmexit.invlpg") == (0 if beyond else pages)
    assert delta(sh, "traps.vmexit.cr3_write") == (1 if beyond else 0)
    assert delta(sh, "shadow.resyncs") == pages
    assert delta(pv, "pv.updates") == pages
    assert delta(pv, "traps.hypercall.mmu_update") == math.ceil(pages / batch)
    # the call's INVLPGs are queued in the same lazy-MMU batch; a flush is one mmuext_op
    assert delta(pv, "traps.hypercall.mmuext_op") == (1 if beyond else math.ceil(pages / batch))
    assert delta(nested, "traps.total") == 0
    # the update work is per update, the entry cost per hypercall
    assert delta(pv, "cycles.traps.hypercall.mmu_update") == pytest.approx(
        math.ceil(pages / batch) * 1300 + pages * 200)


def test_a_syscalls_updates_batch_per_system_call_not_across_calls() -> None:
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    b.map(BASE, 10, RW)
    b.accesses(np.uint64(BASE) + np.arange(10, dtype=np.uint64) * np.uint64(4096), 1)
    for k in range(10):  # ten mprotect calls of one page each: ten hypercalls
        b.protect(BASE + k * 4096, 1, Prot.READ)
    events = b.build()
    base = events[events["op"] != Ev.PROTECT]
    one_each = events_metrics(events, "pv-direct", **{"pv.batch": 32})
    none = events_metrics(base[base["op"] != Ev.SYSCALL], "pv-direct", **{"pv.batch": 32})
    assert (one_each["traps.hypercall.mmu_update"] - none["traps.hypercall.mmu_update"]) == 10


@pytest.mark.parametrize("cache, lookups", [(1, 2 + 10), (2, 2), (64, 2)])
def test_a_small_root_cache_looks_roots_up_in_the_pool_without_refilling(
        cache: int, lookups: int) -> None:
    """KVM keeps shadow pages in a hash table beyond its previous roots: a CR3 load outside
    ``shadow.cache`` roots looks the root up (and flushes the TLB context) but finds its
    shadow pages, so nothing is built or refilled again."""
    m = events_metrics(two_processes(10), "shadow", **{"shadow.cache": cache})
    big = events_metrics(two_processes(10), "shadow", **{"shadow.cache": 64})
    assert m["shadow.builds"] == big["shadow.builds"] == 2
    assert m["shadow.root_lookups"] == lookups
    assert m["shadow.evictions"] == lookups - min(cache, 2)
    assert m["shadow.fills"] == big["shadow.fills"] == 2 * 4
    assert m["traps.total"] == big["traps.total"]
    if cache == 1:  # each lookup flushes the VM's TLB context: the pages miss again
        assert m["tlb.l1.misses"] > big["tlb.l1.misses"]
        assert m["shadow.tlb_flushes"] > big["shadow.tlb_flushes"]
    else:
        assert m == big


def test_forkwait_traps_per_iteration_nested_lt_pv_lt_shadow() -> None:
    """Adams & Agesen's forkwait: 6.0 s native, 36.9 s software VMM, 106.4 s hardware VMM
    with shadow paging — trapping page-table updates is what makes a VMM slow on it. Nested
    paging traps on none of them, pv-direct batches them into about 26 hypercalls an
    iteration; KVM's shadow paging exits about 42 times an iteration (not on each of the 102
    PTE writes: the child's fresh tables are not shadowed, leaf tables go unsync), most of
    them on the teardown of the child's shadowed tables, the reuse of their frames, the
    child's hidden faults and the INVLPGs and CR3 loads."""
    n = 50
    per_iter = {}
    for mech in ("nested", "pv-direct", "shadow"):
        short = workload("forkwait", mech, iterations=10)
        long = workload("forkwait", mech, iterations=10 + n)
        per_iter[mech] = (long["traps.total"] - short["traps.total"]) / n
    assert per_iter["nested"] < 1 < per_iter["pv-direct"] < per_iter["shadow"]
    cyc = {m: workload("forkwait", m, iterations=30)["cycles.total"]
           for m in ("native", "nested", "pv-direct", "shadow")}
    assert cyc["native"] < cyc["nested"] < cyc["pv-direct"] < cyc["shadow"]


@pytest.mark.parametrize("name, params", [
    ("forkwait", {"iterations": 20}),
    ("random", {"refs": 5000, "footprint_mb": 16}),
])
@pytest.mark.parametrize("mech", ["shadow", "pv-direct"])
def test_walks_are_1d_like_native(name: str, params: dict, mech: str) -> None:
    m = workload(name, mech, **params)
    n = workload(name, "native", **params)
    assert m["walk.refs.nested"] == 0
    if mech == "shadow" and name == "forkwait":
        # Each forkwait access misses the TLB natively too, but KVM flushes the VM's TLB
        # contexts and page-walk caches on its own (root lookups, zapped or resynced shadow
        # pages): the same walks, longer, none longer than the table is deep
        assert m["walks"] == n["walks"] > 0 and m["shadow.tlb_flushes"] > 0
        assert n["walk.refs"] <= m["walk.refs"] <= 4 * m["walks"]
        # on a PCID-less core (kvm-nehalem) every CR3 write flushes natively too; with
        # PCIDs KVM's own flushes are what make the walks longer
        pcid = {"tlb.pcid": True, **NO_HW, **{f"workload.{k}": v for k, v in params.items()}}
        mp, np_ = (evaluate(Point(name, x, params=pcid)) for x in (mech, "native"))
        assert np_["walk.refs"] < mp["walk.refs"] <= 4 * mp["walks"]
    elif mech == "pv-direct":
        # The same walks. On a PCID-less core (kvm-nehalem) an x86-64 PV guest switches to
        # its kernel's table and back at every system call and bounced fault (Xen's
        # toggle_guest_mode): CR3 loads that keep the (global) user entries but not the
        # paging-structure caches, so walks may be longer, none longer than the table is
        # deep; forkwait's system calls and faults come between its walks
        assert m["walks"] == n["walks"] > 0
        assert n["walk.refs"] <= m["walk.refs"] <= 4 * m["walks"]
        if name == "forkwait":
            assert m["walk.refs"] > n["walk.refs"]
        # with PCIDs the switches flush nothing: the walks are native's
        pcid = {"tlb.pcid": True, **NO_HW, **{f"workload.{k}": v for k, v in params.items()}}
        mp, np_ = (evaluate(Point(name, x, params=pcid)) for x in (mech, "native"))
        assert mp["walks"] == np_["walks"] > 0
        assert mp["walk.refs"] == np_["walk.refs"]
    else:
        assert m["walks"] == n["walks"] > 0
        assert m["walk.refs_per_walk"] == n["walk.refs_per_walk"]
        assert m["walk.refs"] == n["walk.refs"]
    uncached = evaluate(Point(name, mech, params={
        **{f"workload.{k}": v for k, v in params.items()}, **NO_HW, "pwc.entries": 0}))
    assert uncached["walk.refs"] == 4 * uncached["walks"]


@pytest.mark.parametrize("make, pcid", [
    (lambda s: ShadowReplay(s, 2), True),
    (lambda s: ShadowReplay(s, 2), False),
    # Not pv-direct without PCIDs: its bounced faults' toggles flush the walk caches before
    # the run in the batched replay, at each fault one access at a time (a documented
    # approximation of pv_direct.py: fewer walk references batched).
    (lambda s: PVReplay(s, 8, 1300.0, 200.0, 5120.0), True),
])
def test_batched_replay_equals_one_access_at_a_time(make: Any, pcid: bool) -> None:
    events = stream("forkwait", iterations=15)
    # Kernel work off: the two paths insert the kernel's references at different positions
    # (a batch's faults are handled before its accesses), and those change TLB and cache
    # state; the subject here is the batching of the stream itself.
    setup = build(ShadowParams, {"kernel.work": False, "tlb.pcid": pcid}).setup(nested=False)
    batched: Replay = make(setup)
    drive(batched, events)
    stepwise: Replay = make(setup)
    for i in range(len(events)):
        if events["op"][i] == Ev.ACCESS:
            stepwise.accesses(events[i:i + 1])
        else:
            stepwise.event(events[i])
    assert batched.c == stepwise.c
    assert batched.t == stepwise.t  # type: ignore[attr-defined]


@pytest.mark.parametrize("mech", ["shadow", "pv-direct"])
def test_cycles_add_up_by_trap_reason(mech: str) -> None:
    m = workload("mmap-churn", mech, cycles=20)
    parts = m.cycles_breakdown()
    # the guest kernel's own work (kernel.work, on by default) is its own component
    assert set(parts) == {"base", "data", "translation", "traps", "os", "kernel"}
    assert parts["kernel"] > 0
    assert m["cycles.total"] == pytest.approx(
        parts["base"] + parts["data"] + parts["translation"] + parts["traps"] + parts["os"]
        + parts["kernel"])
    assert m["traps.total"] == sum(m.traps_by_reason().values()) > 0
    by_reason = m.group("cycles.traps")
    assert parts["traps"] == pytest.approx(sum(by_reason.values()))
    for reason, count in m.traps_by_reason().items():
        assert reason in by_reason, reason
        assert (by_reason[reason] > 0) == (count > 0)
    if mech == "shadow":  # every exit is handled in the host kernel, resyncs on top
        for reason, count in m.traps_by_reason().items():
            assert by_reason[reason] >= 2565 * count
        assert parts["traps"] == pytest.approx(  # and the host's fault per page backed
            2565 * m["traps.total"] + 200 * m["shadow.resyncs"] + 3000 * m["shadow.backings"])
        assert m["shadow.backings"] > 0
        assert m["shadow.resyncs"] > 0
    assert m["latency.p99_cycles"] >= m["latency.p50_cycles"]


def test_params_have_documented_defaults_and_bounds() -> None:
    assert build(ShadowParams, {}).cache == 4  # 1 + KVM_MMU_NUM_PREV_ROOTS
    assert build(ShadowParams, {}).pool == 5242  # 2**30 / 4096 / 50 (a 1 GiB guest)
    assert build(PVParams, {}).batch == 32
    with pytest.raises(InputError, match=r"pv\.batch"):
        build(PVParams, {"pv.batch": 0})
    with pytest.raises(InputError, match=r"shadow\.cache"):
        build(ShadowParams, {"shadow.cache": 0})
    with pytest.raises(InputError, match=r"shadow\.pool_pages"):
        build(ShadowParams, {"shadow.pool_pages": 63})  # below KVM_MIN_ALLOC_MMU_PAGES


def test_an_x86_64_pv_guest_bounces_every_system_call_through_xen() -> None:
    # with PCIDs, so that the bounces are all the difference (without, see below)
    on = evaluate(Point("mmap-churn", "pv-direct", params={
        "workload.cycles": 20, "tlb.pcid": True, **NO_HW}))
    off = evaluate(Point("mmap-churn", "pv-direct", params={
        "workload.cycles": 20, "pv.x86_64": False, "tlb.pcid": True, **NO_HW}))
    assert on["traps.syscall_bounce"] == on["traps.hypercall.iret"] == on["os.syscalls"] > 0
    assert "traps.syscall_bounce" not in off
    assert on["traps.total"] - off["traps.total"] == 2 * on["os.syscalls"]
    assert on["cycles.total"] - off["cycles.total"] == pytest.approx(
        2 * 1300 * on["os.syscalls"])  # hypercall.null each way


def test_without_pcids_an_x86_64_pv_system_call_keeps_only_the_users_tlb_entries() -> None:
    """Without PCIDs Xen makes an x86-64 PV guest's user mappings global
    (``USER_MAPPINGS_ARE_GLOBAL``): they survive the switches to the guest kernel's table and
    back at every system call and bounced fault, and the kernel's own (non-global) entries do
    not. mmap-churn is one process: system calls and faults, no context switch."""
    def run(mechanism: str, **values: object) -> Metrics:
        return evaluate(Point("mmap-churn", mechanism, params={
            "workload.cycles": 20, "tlb.pcid": False, **values, **NO_HW}))

    # The user stream alone (kernel work off: the kernel's references are the second part).
    native, pv = (run(m, **{"kernel.work": False}) for m in ("native", "pv-direct"))
    assert pv["os.syscalls"] > 0 and pv["traps.pf_bounce"] > 0
    assert pv["os.cr3_writes"] == native["os.cr3_writes"] == 1  # no context switch
    # two CR3 loads (toggle_guest_mode) per kernel entry, system call or bounced fault ...
    assert pv["os.tlb_flushes"] - native["os.tlb_flushes"] == 2 * (
        pv["os.syscalls"] + pv["traps.pf_bounce"])
    # ... and no refill: the user's global entries survive them
    assert pv["tlb.l1.misses"] == native["tlb.l1.misses"]
    # With the kernel's work: every system call enters the kernel with its entries gone, so
    # at least one kernel TLB miss each that native (global kernel entries) does not have.
    native, pv = run("native"), run("pv-direct")
    assert pv["kernel.refs"] == native["kernel.refs"] > 0
    assert pv["kernel.tlb.l1.misses"] >= native["kernel.tlb.l1.misses"] + pv["os.syscalls"]
    # With PCIDs the switches flush nothing: user and kernel entries stay as natively.
    native, pv = run("native", **{"tlb.pcid": True}), run("pv-direct", **{"tlb.pcid": True})
    assert pv["kernel.tlb.l1.misses"] == native["kernel.tlb.l1.misses"]
    assert pv["tlb.l1.misses"] == native["tlb.l1.misses"]
