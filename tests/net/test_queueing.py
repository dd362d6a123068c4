"""The stage graph, its bottleneck law, and the queueing kernel that must agree with it."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.net.graph import (
    DataPath,
    Resource,
    Stage,
    bottleneck,
    combined_saturation_pps,
    saturation_pps,
    wire_stage,
)
from codesign.net.queueing import buffered_fifo, simulate
from workloads.packets.frames import line_rate_pps

CPU = Resource("cpu0", "core", 2.9e9, domain="host")
CPU1 = Resource("cpu1", "core", 2.9e9, domain="guest")
NIC = Resource("nic", "nic", 250e6)
LINK = Resource("wire", "link", 10e9)


def overload(pps: float, n: int, frame: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``n`` frames at ``pps`` (constant gaps)."""
    return np.arange(n) * (1e9 / pps), np.full(n, frame)


# Paths whose bottleneck is (a) one core shared by stages on both sides of the NIC,
# (b) the link, (c) a second core, (d) the NIC, (e) a per-byte copy on large frames.
PATHS = {
    "shared-core": (DataPath((wire_stage(LINK), Stage("irq", CPU, 900), Stage("nic", NIC, 2),
                              Stage("stack", CPU, 1500, per_byte=0.25))), 64),
    "link": (DataPath((wire_stage(LINK), Stage("nic", NIC, 2), Stage("drv", CPU, 50))), 64),
    "second-core": (DataPath((wire_stage(LINK), Stage("drv", CPU, 300),
                              Stage("guest", CPU1, 2000))), 64),
    "nic": (DataPath((wire_stage(LINK), Stage("nic", NIC, 40), Stage("drv", CPU, 100))), 64),
    "copy": (DataPath((Stage("drv", CPU, 200), Stage("copy", CPU, 0, per_byte=2.0),
                       Stage("nic", NIC, 2))), 1500),
}


@pytest.mark.parametrize("name", list(PATHS))
def test_saturation_agrees_with_bottleneck_law(name: str) -> None:
    path, frame = PATHS[name]
    law = saturation_pps(path, frame)
    arr, size = overload(3 * law, 20_000, frame)  # offered at 3x what the path can carry
    sim = simulate([path], arr, size).throughput_pps()
    assert sim == pytest.approx(law, rel=0.01)
    # ... and the check fails when the law is computed on a different graph: both ways.
    heavier = DataPath(path.stages + (Stage("extra", path.stages[-1].resource, 5000),))
    assert saturation_pps(heavier, frame) < 0.9 * sim
    lighter = DataPath(tuple(s for s in path.stages
                             if s.resource.name != bottleneck(path, frame)) or path.stages[:1])
    assert saturation_pps(lighter, frame) > 1.1 * sim


def test_kernel_throughput_follows_a_changed_bottleneck() -> None:
    """The other direction: change the graph's costs, the simulated saturation follows."""
    for cost in (500, 1000, 2000, 4000):
        path = DataPath((wire_stage(LINK), Stage("drv", CPU, cost)))
        arr, size = overload(3 * 2.9e9 / cost, 10_000)
        assert simulate([path], arr, size).throughput_pps() == pytest.approx(
            saturation_pps(path, 64), rel=0.01)


def test_shared_resources_across_paths() -> None:
    rx = DataPath((Stage("rx", CPU, 1500), Stage("nic_rx", NIC, 2)))
    tx = DataPath((Stage("tx", CPU, 500), Stage("nic_tx", NIC, 2)))
    law = combined_saturation_pps([(rx, 0.5, 64), (tx, 0.5, 64)])
    n = 20_000
    arr, size = overload(3 * law, n)
    which = np.arange(n) % 2
    sim = simulate([rx, tx], arr, size, path_of=which).throughput_pps()
    assert sim == pytest.approx(law, rel=0.01)


def test_throughput_never_exceeds_line_rate() -> None:
    """64 B frames offered at 20 Gb/s to a 10 GbE port: at most 14,880,952 frames/s."""
    path = DataPath((wire_stage(LINK, capacity=64), Stage("nic", NIC, 1),
                     Stage("drv", CPU, 10)))
    arr, size = overload(line_rate_pps(20, 64), 30_000)
    res = simulate([path], arr, size)
    line = line_rate_pps(10, 64)
    assert res.throughput_pps() <= line * (1 + 1e-9)
    assert res.throughput_pps() == pytest.approx(line, rel=1e-3)
    assert saturation_pps(path, 64) == pytest.approx(line)
    assert res.drops > 0 and set(res.drop_stage[res.drop_stage >= 0]) == {0}


def test_low_load_latency_is_the_sum_of_service_times_plus_moderation() -> None:
    path = DataPath((wire_stage(LINK), Stage("nic", NIC, 3),
                     Stage("drv", CPU, 900, capacity=8), Stage("stack", CPU, 1500, per_byte=1)),
                    hold_before="drv")
    sizes = np.array([64, 1518, 594, 64])
    arr = np.arange(4) * 100_000.0
    service = sum(s.seconds(sizes) * 1e9 for s in path.stages)
    # No interrupt given: no hold.
    res = simulate([path], arr, sizes)
    np.testing.assert_allclose(res.latency_ns(), service)
    # Each packet is held until an interrupt 7 us after it reached the hold.
    ready = arr + sum(s.seconds(sizes) * 1e9 for s in path.stages[:2])
    res = simulate([path], arr, sizes, release_ns=ready + 7000, irq_extra_ns=250)
    np.testing.assert_allclose(res.latency_ns(), service + 7000 + 250)
    assert res.drops == 0


def test_one_interrupt_releases_a_batch_and_charges_its_cost_once() -> None:
    path = DataPath((Stage("nic", NIC, 1), Stage("drv", CPU, 290)), hold_before="drv")
    arr = np.array([0.0, 10, 20, 30])
    res = simulate([path], arr, np.full(4, 64), release_ns=np.array([1000.0]),
                   irq_extra_ns=500)
    # Released together at 1000: the first pays 500 ns for the interrupt, then 100 ns each.
    np.testing.assert_allclose(res.depart_ns, [1600, 1700, 1800, 1900])


def test_drops_only_when_the_ring_is_full() -> None:
    # One server of 100 ns (290 cycles at 2.9 GHz), a ring of 2 (the one in service and one
    # waiting), a frame every 40 ns.
    path = DataPath((Stage("drv", CPU, 290, capacity=2),))
    arr = np.arange(8) * 40.0
    res = simulate([path], arr, np.full(8, 64))
    # t=0 p0 starts; 40 p1 waits; 80 p2 full -> drop; 100 p0 leaves, p1 starts; 120 p3 waits;
    # 160 p4 drop; 200 p1 leaves (a completion before an arrival at the same time), p3
    # starts, p5 waits; 240 p6 drop; 280 p7 drop; 300 p3 leaves.
    assert res.drop_stage.tolist() == [-1, -1, 0, -1, 0, -1, 0, 0]
    np.testing.assert_allclose(res.depart_ns[res.delivered], [100, 200, 300, 400])
    # The same load with room enough: no drop; with no bound: none either.
    big = DataPath((Stage("drv", CPU, 290, capacity=8),))
    assert simulate([big], arr, np.full(8, 64)).drops == 0
    free = DataPath((Stage("drv", CPU, 290),))
    arr2, size2 = overload(1e8, 5000)
    assert simulate([free], arr2, size2).drops == 0


def test_held_packets_count_against_the_ring() -> None:
    path = DataPath((Stage("nic", NIC, 1), Stage("drv", CPU, 29, capacity=3)),
                    hold_before="drv")
    arr = np.arange(6) * 10.0
    res = simulate([path], arr, np.full(6, 64), release_ns=np.array([1000.0]))
    assert res.drop_stage.tolist() == [-1, -1, -1, 1, 1, 1]


def test_invalid_paths_are_rejected() -> None:
    with pytest.raises(ValueError, match="hold_before"):
        DataPath((Stage("a", CPU, 1),), hold_before="b")
    with pytest.raises(ValueError, match="not a link"):
        wire_stage(CPU)
    with pytest.raises(ValueError, match="non-decreasing"):
        simulate([DataPath((Stage("a", CPU, 1),))], np.array([2.0, 1.0]), np.full(2, 64))


# --- batches, notifications, device interrupts, shared stages ------------------------------

GUEST = Resource("vm0", "core", 1e9, domain="guest")
DD = Resource("dd0", "core", 1e9, domain="driver_domain")


def test_a_batch_cost_is_paid_once_per_batch_while_the_resource_stays_busy() -> None:
    path = DataPath((Stage("copy", DD, 100, per_batch=1000, batch=4),))
    burst = simulate([path], np.zeros(10), np.full(10, 64))
    # Ten frames at once: batches of 4, 4, 2: three payments.
    assert burst.batches.tolist() == [3]
    np.testing.assert_allclose(np.diff(burst.depart_ns), [100, 100, 100, 1100, 100, 100, 100,
                                                          1100, 100])
    # Frames far apart: the resource idles between them, every frame is its own batch.
    apart = simulate([path], np.arange(10) * 10_000.0, np.full(10, 64))
    assert apart.batches.tolist() == [10]
    np.testing.assert_allclose(apart.latency_ns(), 1100)
    # A batch that ignores idling (a deferred flush) pays every 4th frame, busy or not.
    count = DataPath((Stage("copy", DD, 100, per_batch=1000, batch=4, batch_idle=False),))
    assert simulate([count], np.arange(10) * 10_000.0, np.full(10, 64)).batches.tolist() == [3]
    # At saturation the law amortizes the batch: per_packet + per_batch / batch.
    assert saturation_pps(path, 64) == pytest.approx(1e9 / 350)
    arr, size = overload(3e9 / 350, 20_000)
    assert simulate([path], arr, size).throughput_pps() == pytest.approx(1e9 / 350, rel=0.01)


def test_notifications_are_suppressed_while_the_consumer_has_not_drained() -> None:
    path = DataPath((Stage("backend", DD, 100),
                     Stage("notify", DD, 0, per_batch=500, batch=1, notify="frontend",
                           traps=(("hypercall.event_channel", "batch", 1),)),
                     Stage("frontend", GUEST, 1000, per_irq=300)))
    # A slow consumer: while it works through a burst it is not notified again.
    res = simulate([path], np.arange(20) * 10.0, np.full(20, 64))
    k = res.stage("notify")
    assert 1 <= res.batches[k] < 20
    # The packets that carried a notification paid the consumer's interrupt.
    assert res.irqs[res.stage("frontend")] == res.batches[k]
    # Alone, every packet notifies an idle consumer.
    alone = simulate([path], np.arange(20) * 100_000.0, np.full(20, 64))
    assert alone.batches[k] == alone.irqs[res.stage("frontend")] == 20
    np.testing.assert_allclose(alone.latency_ns(), path.lone_ns(64))
    assert path.lone_ns(64) == 100 + 500 + 1000 + 300


def test_a_device_interrupt_is_throttled_and_masked_while_the_consumer_polls() -> None:
    path = DataPath((Stage("devmodel", DD, 100),
                     Stage("irq", GUEST, 0, per_irq=2000, moderation_ns=10_000),
                     Stage("driver", GUEST, 100)))
    # Alone: an interrupt at once (no earlier one to wait after), then the driver.
    alone = simulate([path], np.arange(5) * 100_000.0, np.full(5, 64))
    assert alone.raised[alone.stage("irq")] == 5
    np.testing.assert_allclose(alone.latency_ns(), 100 + 2000 + 100)
    # A frame every 1 us: the first interrupt at once; the guest's poll (2.1 us for the
    # first frame) picks up the next ones without an interrupt; once it has drained, the
    # next frame waits for the 10 us throttle.
    steady = simulate([path], np.arange(50) * 1000.0, np.full(50, 64))
    raised = steady.raised[steady.stage("irq")]
    assert 2 <= raised <= 6
    assert steady.irqs[steady.stage("irq")] == raised
    assert steady.latency_ns().max() > 5000  # some waited for the throttle


def test_stages_of_the_same_name_are_one_stage_across_paths() -> None:
    ring = Stage("ring", CPU, 290, capacity=2)
    a = DataPath((ring, Stage("a", GUEST, 10)))
    b = DataPath((ring, Stage("b", CPU1, 10)))
    arr = np.arange(8) * 40.0
    res = simulate([a, b], arr, np.full(8, 64), path_of=np.arange(8) % 2)
    # The same ring of two as in test_drops_only_when_the_ring_is_full: shared by both.
    assert res.drop_stage.tolist() == [-1, -1, 0, -1, 0, -1, 0, 0]
    assert len(res.stages) == 3
    with pytest.raises(ValueError, match="two different stages"):
        simulate([a, DataPath((Stage("ring", DD, 1),))], arr, np.full(8, 64),
                 path_of=np.arange(8) % 2)


def test_an_interrupt_is_carried_by_the_first_packet_it_releases_only() -> None:
    path = DataPath((Stage("nic", NIC, 1), Stage("hv", GUEST, 0, per_irq=400,
                                                  domain="hypervisor"),
                     Stage("drv", GUEST, 100, per_irq=200)), hold_before="hv")
    res = simulate([path], np.array([0.0, 10, 20]), np.full(3, 64),
                   release_ns=np.array([1000.0]))
    np.testing.assert_allclose(res.depart_ns, [1700, 1800, 1900])
    assert res.irqs.tolist() == [0, 1, 1]
    # Its cycles count for the stage's domain: the hypervisor's on the guest's core.
    assert res.stage_busy_ns[res.stage("hv")] == pytest.approx(400)
    assert path.stages[1].owner == "hypervisor" and path.stages[2].owner == "guest"


def test_header_copies_and_skipped_stages() -> None:
    path = DataPath((Stage("hdr", CPU, 0, per_byte=2.9, bytes_upto=128),
                     Stage("map", CPU, 290, only_above=128, per_batch=2900, batch=2)))
    sizes = np.array([64, 1518, 1518, 64])
    res = simulate([path], np.arange(4) * 1e6, sizes)
    np.testing.assert_allclose(res.latency_ns(), [64, 128 + 100 + 1000, 128 + 100 + 1000, 64])
    assert res.served.tolist() == [4, 2] and res.batches.tolist() == [0, 2]


def test_the_fifo_fast_path_is_the_kernel() -> None:
    wire = wire_stage(LINK, capacity=16)
    arr, size = overload(line_rate_pps(20, 64), 5000)
    size = size + (np.arange(5000) % 7) * 100
    fast = simulate([DataPath((wire,))], arr, size)
    # A trap on the stage makes the simulation take the general kernel.
    slow = simulate([DataPath((replace(wire, traps=(("x.y", "packet", 1),)),))], arr, size)
    np.testing.assert_array_equal(fast.drop_stage, slow.drop_stage)
    np.testing.assert_allclose(fast.depart_ns, slow.depart_ns)
    np.testing.assert_allclose(fast.busy_ns, slow.busy_ns)


def _fifo_reference(arrival: list[float], sizes: list[int], service: list[float],
                    cap: int, unit: bool) -> tuple[list[float], float]:
    """A FIFO with room for ``cap`` units, written plainly: every accepted packet kept."""
    inside: list[tuple[float, int]] = []  # (departure, units) of the accepted packets
    depart, last, busy = [], -np.inf, 0.0
    for t, size, s in zip(arrival, sizes, service, strict=True):
        inside = [(d, u) for d, u in inside if d > t]  # a departure at t goes first
        room = 1 if unit else size
        if sum(u for _, u in inside) + room > cap:
            depart.append(np.nan)
            continue
        last = max(t, last) + s
        busy += s
        inside.append((last, room))
        depart.append(last)
    return depart, busy


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 120), seed=st.integers(0, 2**31), unit=st.booleans(),
       cap=st.integers(1, 4000))
def test_the_fifo_keeps_its_queue_in_a_ring_of_its_capacity(n: int, seed: int, unit: bool,
                                                            cap: int) -> None:
    rng = np.random.default_rng(seed)
    arrival = np.cumsum(rng.choice([0.0, 5.0, 30.0, 200.0], n))
    sizes = rng.integers(64, 1519, n)
    extra = rng.choice([0.0, 0.0, 50.0], n)
    nic = Stage("nic", Resource("nic", "nic", 1e9), 20, per_byte=0.1)
    if unit:
        cap = cap % 9 + 1
        res = simulate([DataPath((replace(nic, capacity=cap),))], arrival, sizes)
        extra = np.zeros(n)
    else:
        res = buffered_fifo(nic, arrival, sizes, cap, extra)
    service = (nic.seconds(sizes.astype(np.float64)) * 1e9 + extra).tolist()
    depart, busy = _fifo_reference(arrival.tolist(), sizes.tolist(), service, cap, unit)
    np.testing.assert_array_equal(res.depart_ns, np.array(depart, dtype=np.float64))
    assert res.busy_ns[0] == busy
    assert res.drops == int(np.isnan(depart).sum()) if n else res.drops == 0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), unit=st.booleans(), cap=st.sampled_from([3, 2000, 1 << 62]),
       cuts=st.lists(st.integers(0, 300), max_size=8))
def test_a_fifo_fed_in_chunks_is_the_fifo_fed_at_once(seed: int, unit: bool, cap: int,
                                                      cuts: list[int]) -> None:
    """Whatever the chunks -- the ring growing as an unbounded queue fills under overload."""
    from codesign.net.queueing import Fifo

    rng = np.random.default_rng(seed)
    n = 300
    arrival = np.cumsum(rng.choice([0.0, 1.0, 30.0, 300.0], n))
    sizes = rng.integers(64, 1519, n)
    extra = rng.choice([0.0, 20.0], n)
    nic = Stage("nic", Resource("nic", "nic", 1e9), 20, per_byte=0.1)
    whole = Fifo(nic, cap, unit)
    want = whole.feed(arrival, sizes, extra)
    parts = Fifo(nic, cap, unit)
    got: list[tuple[np.ndarray, np.ndarray]] = []
    bounds = [0, *sorted(set(cuts)), n]
    for lo, hi in itertools.pairwise(bounds):
        got.append(parts.feed(arrival[lo:hi], sizes[lo:hi], extra[lo:hi]))
    np.testing.assert_array_equal(np.concatenate([d for d, _ in got]), want[0])
    np.testing.assert_array_equal(np.concatenate([d for _, d in got]), want[1])
    assert (parts.busy, parts.served) == (whole.busy, whole.served)
