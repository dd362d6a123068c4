"""Post-copy migration: the engine against a plain-Python reference of the same rules, its
invariants on random streams, and the ``postcopy`` mechanism end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.errors import InputError
from codesign.harness import Point, evaluate
from codesign.migration.postcopy import postcopy
from codesign.migration.postcopy_mechanism import pages_in_order
from codesign.migration.precopy import RECORD_BYTES


def reference(page: list[int], start: int, memory: int, touched: int, spa: float, tx: float,
              lat: float, trap: float, pivot: bool) -> tuple[float, int, int, float]:
    """The module's rules, written out plainly: (push time, network faults, waits, stall)."""
    sent: dict[int, float] = {}  # page -> arrival
    cursor, link, t, stall, faults, waits, i = 0, 0.0, 0.0, 0.0, 0, 0, start

    def push(until: float) -> None:
        nonlocal cursor, link
        while len(sent) < memory and link < until:
            c = cursor
            while c in sent:
                c = (c + 1) % memory
            link += tx
            sent[c] = link + lat
            cursor = c

    def settled() -> bool:
        return all(q in sent for q in range(touched)) and t >= max(sent[q] for q in
                                                                   range(touched))

    while not settled():
        p = page[i]
        push(t)
        if sent.get(p, math.inf) > t:
            if p not in sent:
                push(t + lat)
            if p not in sent:
                link = max(link, t + lat) + tx
                sent[p] = link + lat
                faults += 1
                if pivot:
                    cursor = (p + 1) % memory
            else:
                waits += 1
            stall += sent[p] + trap - t
            t = sent[p] + trap
        t += spa
        i = (i + 1) % len(page)
    return link + (memory - len(sent)) * tx + lat, faults, waits, stall


@st.composite
def streams(draw: st.DrawFn) -> tuple:
    touched = draw(st.integers(1, 12))
    # up to 2**38 pages (the largest migration.memory_mb): the engine tracks only the
    # touched ones one by one
    memory = touched + draw(st.one_of(st.integers(0, 10), st.just(2**38)))
    body = draw(st.lists(st.integers(0, touched - 1), min_size=0, max_size=40))
    page = list(range(touched)) + body  # every page touched at least once
    perm = draw(st.permutations(range(len(page))))
    page = [page[k] for k in perm]
    start = draw(st.integers(0, len(page) - 1))
    spa = draw(st.sampled_from([1e-7, 1e-5, 3e-4, 2e-3]))
    tx = draw(st.sampled_from([1e-4, 1e-3]))
    lat = draw(st.sampled_from([0.0, 5e-5, 2e-3]))
    trap = draw(st.sampled_from([0.0, 1e-6]))
    return page, start, memory, touched, spa, tx, lat, trap, draw(st.booleans())


@settings(max_examples=300, deadline=None)
@given(streams())
def test_engine_equals_the_plain_reference(case: tuple) -> None:
    page, start, memory, touched, spa, tx, lat, trap, pivot = case
    r = postcopy(np.array(page), start, memory, touched, spa, tx, lat, trap, pivot)
    push, faults, waits, stall = reference(*case)
    assert (r.remote_faults, r.waits) == (faults, waits)
    assert r.push_s == pytest.approx(push, rel=1e-12)
    assert r.stall_s == pytest.approx(stall, rel=1e-12, abs=1e-15)
    # every page crosses the link once, back to back: the faults reorder the push only
    assert r.pages_sent == memory and r.bytes_sent == memory * RECORD_BYTES
    assert r.push_s == pytest.approx(memory * tx + lat, rel=1e-9)
    assert r.remote_faults <= touched
    assert r.guest_slowdown >= 1.0


def test_a_hand_computed_migration() -> None:
    """Six pages, four touched, 1 ms per page on the link, 0.1 ms latency: page 2 is asked
    for at once (page 0 is already on the link: 2 arrives at 2.1 ms); with ``pivot`` the push
    goes on at 3, which the guest then waits for (3.1 ms); page 1 is asked for at 3.1 ms and
    comes after page 4 on the link, at 5.1 ms."""
    r = postcopy(np.array([2, 3, 0, 1]), 0, 6, 4, 1e-6, 1e-3, 1e-4, 0.0, True)
    assert (r.remote_faults, r.waits) == (2, 1)
    assert r.stall_s == pytest.approx(2.1e-3 + (3.1e-3 - 2.101e-3) + (5.1e-3 - 3.102e-3))
    assert r.push_s == pytest.approx(6.1e-3)
    none = postcopy(np.array([2, 3, 0, 1]), 0, 6, 4, 1e-6, 1e-3, 1e-4, 0.0, False)
    assert (none.remote_faults, none.waits) == (2, 0)


def test_pivot_prepaging_follows_a_sequential_guest() -> None:
    """A guest walking its pages in order: after its first fault the pivoted push runs ahead
    of it, where pfn order from page 0 does not (40 network faults). A guest that needs a
    new page about as often as the link delivers one (40 µs against 33) then waits less; one
    far faster than the link waits for the link either way."""
    page = np.repeat(np.arange(200, 400), 4)
    page = np.concatenate([np.arange(200), page])  # pages 0..199 touched before the switch
    for spa, fewer_stalls in ((1e-5, True), (1e-8, False)):
        args = (page, 200, 1000, 400, spa, 33e-6, 50e-6, 1e-6)
        pivot, plain = postcopy(*args, True), postcopy(*args, False)
        assert pivot.remote_faults <= 2 < 40 <= plain.remote_faults
        if fewer_stalls:
            assert pivot.stall_s < 0.8 * plain.stall_s
        else:
            assert pivot.stall_s == pytest.approx(plain.stall_s, rel=0.02)


def test_engine_refuses_bad_input() -> None:
    good = dict(page=np.array([0, 1]), start=0, memory_pages=4, touched=2,
                seconds_per_access=1e-6, tx_s=1e-3, latency_s=0.0, trap_s=0.0, pivot=True)
    for change, message in ((dict(page=np.array([0, 2])), "page numbers below touched"),
                            (dict(start=2), "access index below 2"),
                            (dict(touched=5), "touched: expected 1 .. memory_pages"),
                            (dict(tx_s=0.0), "tx_s: expected a positive number"),
                            (dict(latency_s=-1.0), "latency_s: expected a number >= 0"),
                            (dict(page=np.array([], dtype=np.int64)), "at least one access")):
        with pytest.raises(ValueError, match=message):
            postcopy(**{**good, **change})


def test_pages_are_numbered_by_first_touch_across_address_spaces() -> None:
    from workloads.memory.events import StreamBuilder
    b = StreamBuilder()
    for pid in (1, 2):
        b.spawn(pid)
    b.switch(1)
    b.map(0x10000, pages=2)
    b.access(0x11000)
    b.switch(2)
    b.map(0x10000, pages=2)
    b.access(0x11000)
    b.access(0x10000)
    b.switch(1)
    b.access(0x11008)
    page, n = pages_in_order(b.build())
    assert page.tolist() == [0, 1, 2, 0] and n == 3


PARAMS = {"workload.refs": 30000, "workload.footprint_mb": 4, "hw.cost": False,
          "migration.memory_mb": 128}


def test_mechanism_sends_each_page_once_and_times_it_by_the_link() -> None:
    m = evaluate(Point("random", "postcopy", params=PARAMS))
    pages = 128 * 256
    assert m["migration.pages_sent"] == m["migration.memory_pages"] == pages
    assert m["migration.bytes_sent"] == pages * RECORD_BYTES
    assert m["migration.rounds"] == 1 and m["migration.downtime_ms"] == 0
    assert m["migration.total_s"] == pytest.approx(pages * RECORD_BYTES * 8 / 1e9 + 50e-6)
    assert 0 < m["migration.remote_faults"] <= m["migration.touched_pages"]
    assert m["traps.total"] == m["traps.vmexit.ept_violation"] == (
        m["migration.remote_faults"] + m["migration.waits"])
    assert m["migration.remote_fault_ratio"] == (m["migration.remote_faults"]
                                                 / m["migration.touched_pages"])
    assert m["migration.guest_slowdown"] > 1 and m["migration.stall_ms"] > 0
    faster = evaluate(Point("random", "postcopy",
                            params={**PARAMS, "migration.link_gbps": 10}))
    assert faster["migration.total_s"] < m["migration.total_s"] / 9
    # more pages arrive per round trip: fewer network faults
    assert faster["migration.remote_faults"] < m["migration.remote_faults"]


def test_mechanism_traps_by_mmu_and_adds_the_downtime() -> None:
    shadow = evaluate(Point("random", "postcopy", params={**PARAMS, "migration.mmu": "shadow",
                                                          "migration.resume_ms": 20}))
    assert shadow["traps.total"] == shadow["traps.vmexit.page_fault"] > 0
    assert shadow["migration.downtime_ms"] == 20
    base = evaluate(Point("random", "postcopy", params={**PARAMS, "migration.mmu": "shadow"}))
    assert shadow["migration.total_s"] == pytest.approx(base["migration.total_s"] + 0.02)
    pv = evaluate(Point("random", "postcopy", params={**PARAMS, "migration.mmu": "pv-direct"}))
    assert pv["traps.total"] == pv["traps.fault.remote"] > 0


def test_mechanism_against_precopy_on_a_fast_writer() -> None:
    """Hines et al.'s case for post-copy: with a working set written faster than the link
    drains it, pre-copy sends pages again round after round and stops with a long
    downtime; post-copy sends each page once and stops the VM only to switch over."""
    p = {**PARAMS, "workload.footprint_mb": 32, "workload.refs": 100000}
    post = evaluate(Point("random", "postcopy", params=p))
    pre = evaluate(Point("random", "precopy", params=p))
    assert post["migration.bytes_sent"] < pre["migration.bytes_sent"]
    assert post["migration.total_s"] < pre["migration.total_s"]
    assert post["migration.downtime_ms"] < pre["migration.downtime_ms"]


def test_mechanism_refuses_bad_parameters() -> None:
    with pytest.raises(InputError, match=r"migration\.prepaging"):
        evaluate(Point("random", "postcopy", params={**PARAMS, "migration.prepaging": "x"}))
    with pytest.raises(InputError, match=r"migration\.switch_at"):
        evaluate(Point("random", "postcopy", params={**PARAMS, "migration.switch_at": 1.0}))


def test_on_huge_host_pages_a_fault_waits_for_the_whole_host_page() -> None:
    """The unit moved is the host page: the same bytes and push time as 4 KiB pages, fewer
    and longer faults; a VM that is one 1 GiB page waits out the whole push, at a finite
    slowdown (QEMU: about a second per 1 GiB page over 10 Gb/s)."""
    fast = {**PARAMS, "migration.link_gbps": 10, "host.prealloc": True}
    small, two_m = (evaluate(Point("random", "postcopy", params={**fast, "host.page_size": s}))
                    for s in ("4K", "2M"))
    assert two_m["migration.pages_sent"] == small["migration.pages_sent"] == 128 * 256
    assert two_m["migration.bytes_sent"] == small["migration.bytes_sent"]
    assert two_m["migration.total_s"] == pytest.approx(small["migration.total_s"])
    held = -(-small["migration.touched_pages"] // 512)  # 2 MiB host pages holding them
    assert 0 < two_m["migration.remote_faults"] + two_m["migration.waits"] <= held
    assert two_m["migration.remote_fault_ratio"] == two_m["migration.remote_faults"] / held
    assert two_m["migration.fault_wait_ms"] > 10 * small["migration.fault_wait_ms"]
    one = evaluate(Point("random", "postcopy", params={**fast, "host.page_size": "1G",
                                                       "migration.memory_mb": 1024}))
    page_s = (1 << 18) * RECORD_BYTES * 8 / 10e9
    assert one["migration.total_s"] == pytest.approx(page_s + 50e-6)
    assert one["traps.total"] == 1  # the first access after the switch-over
    assert one["migration.fault_wait_ms"] == pytest.approx(page_s * 1e3, rel=1e-3)
    assert one["migration.guest_slowdown"] == pytest.approx(2.0, rel=1e-3)
