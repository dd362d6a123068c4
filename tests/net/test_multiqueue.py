"""``multiqueue``: a VMDq NIC under netback, DMA into granted guest buffers."""

from __future__ import annotations

import pytest

from codesign.net import pv_split
from codesign.net.graph import DataPath, saturation_pps
from codesign.net.multiqueue import MultiqueueParams, paths
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
    "net.driver.rx", "net.netback.rx", "hypercall.null", "net.irq", "irq.inject",
    "net.stack.rx")} | {"net.copy_per_byte": 0})


def rx_path(platform=PLATFORM, vm: int = 0, **kw) -> DataPath:
    return paths(MultiqueueParams(**kw), platform, vm)[0]


def test_registered_with_the_fixed_metric_names() -> None:
    mech = default_registry().mechanism("multiqueue")
    PLATFORM.require(mech.costs, "multiqueue")
    m = run("multiqueue", stream(packets=3000, offered_gbps=0.3, direction="both", vms=2))
    check_names_and_traps(m, 3000)
    assert m["drops"] == 0


def test_throughput_never_exceeds_line_rate() -> None:
    check_line_rate("multiqueue", FAST)


def test_saturation_agrees_with_the_bottleneck_law_of_its_graph() -> None:
    # The guest is the bottleneck: a guest that never drains its ring is never notified.
    law = check_law("multiqueue", rx_path(NO_IRQ), NO_IRQ)
    assert law == pytest.approx(2.9e9 / (400 + 1100 + 64 * 0.25 + 300 / 64))  # + NAPI rounds
    # Both ways: a costlier netback makes the driver domain the bottleneck, in both.
    heavy = NO_IRQ.with_overrides({"net.netback.rx": 2500})
    assert check_law("multiqueue", rx_path(heavy), heavy) < 0.8 * law


def test_low_load_latency_is_the_sum_of_stage_times() -> None:
    check_low_load_latency("multiqueue", rx_path())


def test_the_nic_demultiplexes_so_the_driver_domain_neither_bridges_nor_copies() -> None:
    s = stream(packets=40_000, offered_gbps=20.0, link_gbps=20.0, vms=4)
    mq = run("multiqueue", s, NO_IRQ)
    pv = run("pv-split", s, NO_IRQ)
    assert "traps.hypercall.grant_copy" not in mq  # no copy on receive
    assert mq["traps.hypercall.event_channel"] > 0  # notifications remain
    # Santos et al.: the driver domain's receive cost per frame falls by more than half.
    def dd(m):
        return m["cycles_per_packet.driver_domain"] + m["cycles_per_packet.hypervisor"]

    assert dd(mq) < 0.5 * dd(pv)
    assert mq["throughput.pps"] > 1.5 * pv["throughput.pps"]
    util = [mq[f"cpu.utilization.vm{v}"] for v in range(4)]
    assert min(util) > 0.5 * max(util) > 0
    # One queue and one interrupt vector per VM: at 1 Mpps, four streams of interrupts
    # every 10 us (the throttle), not one.
    calm = stream(packets=20_000, offered_pps=1_000_000, vms=4)
    assert run("multiqueue", calm)["interrupts.nic"] > 3 * run("pv-split", calm)[
        "interrupts.nic"]


def test_each_vms_queue_has_its_own_ring_and_core() -> None:
    s = stream(packets=30_000, offered_gbps=20.0, link_gbps=20.0, vms=2)
    one = run("multiqueue", s, NO_IRQ)
    two = run("multiqueue", s, NO_IRQ, **{"driver_domain.cores": 2})
    assert two["cpu.utilization.dd1"] > 0.5
    assert two["throughput.pps"] >= one["throughput.pps"] * 0.99
    # Two guests at saturation: the law over both VMs' paths, half the frames each.
    from codesign.net.graph import paths_graph

    graph = paths_graph([rx_path(NO_IRQ, vm=v) for v in range(2)], shares=[0.5, 0.5])
    assert one["throughput.pps"] == pytest.approx(saturation_pps(graph, 64), rel=0.01)


def test_grant_reuse_keeps_the_iotlb_footprint_of_the_rings() -> None:
    m = run("multiqueue", stream(packets=4000, offered_gbps=1.0, vms=1),
            **{"nic.ring_size": 64})
    # 32 granted pages of one queue fit a 64-entry IOTLB: only first touches miss.
    assert m["iotlb.misses"] == 32
    pv = run("pv-split", stream(packets=4000, offered_gbps=1.0), **{"nic.ring_size": 64})
    assert pv["iotlb.misses"] == 32
    assert pv_split.PVSplitParams().copy_batch == MultiqueueParams().copy_batch
