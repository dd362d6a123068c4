"""``pv-split``: Xen netfront/netback with a bridge in the driver domain."""

from __future__ import annotations

import pytest

from codesign.net.graph import DataPath, paths_graph, saturation_pps
from codesign.net.pv_split import PVSplitParams, paths
from codesign.registry import default_registry
from tests.net.helpers import (
    PLATFORM,
    check_law,
    check_line_rate,
    check_low_load_latency,
    check_names_and_traps,
    run,
    stream,
)

NO_IRQ = PLATFORM.with_overrides({"net.irq": 0})
FAST = PLATFORM.with_overrides({k: 10 for k in (
    "net.driver.rx", "net.bridge", "net.netback.rx", "net.grant.copy_op", "hypercall.null",
    "net.irq", "irq.inject", "net.stack.rx")} | {"net.grant.copy_per_byte": 0,
                                                "net.copy_per_byte": 0})


def rx_path(platform=PLATFORM, vm: int = 0, **kw) -> DataPath:
    return paths(PVSplitParams(**kw), platform, vm)[0]


def test_registered_with_the_fixed_metric_names() -> None:
    mech = default_registry().mechanism("pv-split")
    PLATFORM.require(mech.costs, "pv-split")
    m = run("pv-split", stream(packets=3000, offered_gbps=0.2, direction="both"))
    check_names_and_traps(m, 3000)
    assert m["drops"] == 0
    assert m["cycles_per_packet.driver_domain"] > 0 and m["cycles_per_packet.host"] == 0
    assert {"hypercall.grant_copy", "hypercall.event_channel"} <= set(m.traps_by_reason())


def test_throughput_never_exceeds_line_rate() -> None:
    check_line_rate("pv-split", FAST)


def test_saturation_agrees_with_the_bottleneck_law_of_its_graph() -> None:
    law = check_law("pv-split", rx_path(NO_IRQ), NO_IRQ)
    # The driver domain's core is the bottleneck: one copy hypercall per 64 frames.
    per_frame = (400 + 600 + 800 + 1000 + 64 * 1.0 + 2 * 1300 / 64 + 300 / 64)
    assert law == pytest.approx(2.9e9 / per_frame)
    # Both ways: a costlier bridge moves the law and the simulation together.
    heavy = NO_IRQ.with_overrides({"net.bridge": 2600})
    assert check_law("pv-split", rx_path(heavy), heavy) < 0.7 * law
    # ... and so does a second core for netback (the bridge's core stays the bottleneck).
    two = check_law("pv-split", rx_path(NO_IRQ, **{"dd_cores": 2}), NO_IRQ,
                    **{"driver_domain.cores": 2})
    assert two > 1.5 * law


def test_low_load_latency_is_the_sum_of_stage_times() -> None:
    check_low_load_latency("pv-split", rx_path())


def test_grant_copies_are_batched_and_notifications_suppressed() -> None:
    m = run("pv-split", stream(packets=40_000, offered_gbps=20.0, link_gbps=20.0))
    delivered = 40_000 - m["drops"]
    copies = m["traps.hypercall.grant_copy"]
    # At saturation the driver domain never idles: batches are full (64 copies each).
    assert delivered / 64 <= copies <= delivered / 64 + 2
    # One notification check per batch, sent only when netfront drained its ring.
    assert 0 < m["traps.hypercall.event_channel"] <= copies
    # At low load every frame is its own batch, and the idle guest wants every notification.
    low = run("pv-split", stream(packets=500, offered_pps=10_000))
    assert low["traps.hypercall.grant_copy"] == low["traps.hypercall.event_channel"] == 500
    assert low["interrupts.virtual"] == 500 and low["interrupts.nic"] == 500
    assert low["traps.total"] == 1000


def test_a_larger_copy_batch_amortizes_the_hypercall() -> None:
    s = stream(packets=20_000, offered_gbps=20.0, link_gbps=20.0)
    small = run("pv-split", s, NO_IRQ, **{"pv.copy_batch": 1})
    big = run("pv-split", s, NO_IRQ)
    per_frame = {k: m["traps.hypercall.grant_copy"] / (20_000 - m["drops"])
                 for k, m in (("small", small), ("big", big))}
    assert per_frame["small"] == 1.0 and per_frame["big"] < 1 / 50
    assert small["throughput.pps"] < big["throughput.pps"]
    assert small["throughput.pps"] == pytest.approx(
        saturation_pps(rx_path(NO_IRQ, copy_batch=1), 64), rel=0.01)


def test_transmit_copies_the_header_and_maps_the_rest() -> None:
    small = run("pv-split", stream(packets=4000, offered_gbps=1.0, direction="tx"))
    assert small["traps.hypercall.grant_map"] == 0  # 64 B: all header, nothing to map
    assert small["traps.hypercall.grant_copy"] > 0
    big = run("pv-split", stream(packets=4000, offered_gbps=5.0, frame_bytes=1518,
                                 direction="tx"))
    assert big["traps.hypercall.grant_map"] == big["traps.hypercall.grant_copy"] \
        == big["traps.hypercall.grant_unmap"]
    # The guest notifies netback through the event channel (a trap of the guest's).
    assert big["traps.hypercall.event_channel"] > 0
    assert big["drops"] == 0 and big["throughput.wire_gbps"] == pytest.approx(5.0, rel=0.01)
    assert big["throughput.gbps"] == pytest.approx(5.0 * 1518 / 1538, rel=0.01)  # goodput


def test_the_bridge_demultiplexes_to_each_vms_core_and_shares_the_driver_domain() -> None:
    s = stream(packets=20_000, offered_gbps=5.0, vms=4, frame_bytes=512)
    m = run("pv-split", s)
    util = [m[f"cpu.utilization.vm{v}"] for v in range(4)]
    assert min(util) > 0.5 * max(util) > 0
    assert m["cpu.utilization.dd0"] > max(util)
    # The law over the four VMs' paths (a quarter of the frames each) is the one-VM law:
    # the bridge's core is shared.
    graph = paths_graph([rx_path(vm=v) for v in range(4)], shares=[0.25] * 4)
    assert saturation_pps(graph, 512) == pytest.approx(saturation_pps(rx_path(), 512))


def test_a_full_shared_ring_drops() -> None:
    s = stream(packets=20_000, offered_gbps=10.0, frame_bytes=1518)
    slow_guest = PLATFORM.with_overrides({"net.stack.rx": 20_000})
    # No receive offload: every frame costs the guest's stack its 20,000 cycles.
    m = run("pv-split", s, slow_guest, **{"pv.ring_slots": 8, "offload.gro": False})
    assert m["drops"] > 0
    light = stream(packets=2000, offered_gbps=1.0, frame_bytes=1518)  # 81 kpps: it keeps up
    assert run("pv-split", light, slow_guest, **{"pv.ring_slots": 8})["drops"] == 0
