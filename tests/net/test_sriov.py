"""``sriov``: a virtual function per VM, interrupts with or without exits, IOMMU strategies."""

from __future__ import annotations

import pytest

from codesign.net.graph import DataPath, saturation_pps
from codesign.net.sriov import SriovParams, paths
from codesign.registry import default_registry
from tests.net.helpers import (
    LINE_1518,
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
    "net.driver.rx", "net.irq", "irq.inject", "net.stack.rx", "vmexit.kernel")}
    | {"net.copy_per_byte": 0})
POSTED = {"sriov.posted_interrupts": True}
LOW = {"packets": 500, "offered_pps": 10_000}


def rx_path(platform=PLATFORM, vm: int = 0, **kw) -> DataPath:
    return paths(SriovParams(**kw), platform, vm)[0]


def test_registered_with_the_fixed_metric_names() -> None:
    mech = default_registry().mechanism("sriov")
    PLATFORM.require(mech.costs, "sriov")
    m = run("sriov", stream(packets=3000, offered_gbps=1.0, direction="both", vms=3))
    check_names_and_traps(m, 3000)
    assert m["drops"] == 0
    assert m["cycles_per_packet.driver_domain"] == 0  # no driver domain on the data path


def test_throughput_never_exceeds_line_rate() -> None:
    check_line_rate("sriov", FAST)
    check_line_rate("sriov", FAST, **POSTED)


@pytest.mark.parametrize("strategy", ["persistent", "strict", "deferred"])
def test_saturation_agrees_with_the_bottleneck_law_of_its_graph(strategy: str) -> None:
    kw = {"iommu.strategy": strategy, **POSTED}
    law = check_law("sriov", rx_path(NO_IRQ, posted=True, strategy=strategy), NO_IRQ, **kw)
    if strategy == "persistent":  # the guest's core: driver and stack, nothing else
        assert law == pytest.approx(2.9e9 / (400 + 1100 + 64 * 0.25 + 300 / 64))
    heavy = NO_IRQ.with_overrides({"iommu.invalidate": 20_000})
    slower = check_law("sriov", rx_path(heavy, posted=True, strategy=strategy), heavy, **kw)
    assert (slower < 0.5 * law) if strategy == "strict" else slower <= law


def test_low_load_latency_is_the_sum_of_stage_times() -> None:
    check_low_load_latency("sriov", rx_path())
    check_low_load_latency("sriov", rx_path(posted=True), **POSTED)
    check_low_load_latency("sriov", rx_path(strategy="strict"), frames=(1518,),
                           **{"iommu.strategy": "strict"})


def test_interrupts_exit_twice_unless_posted() -> None:
    m = run("sriov", stream(**LOW))
    assert m["traps.vmexit.external_interrupt"] == m["traps.vmexit.eoi"] == 500
    c = PLATFORM.value
    assert m["cycles_per_packet.hypervisor"] == pytest.approx(
        2 * c("vmexit.kernel") + c("irq.inject"))
    posted = run("sriov", stream(**LOW), **POSTED)
    assert posted["traps.total"] == 0 and posted["cycles_per_packet.hypervisor"] == 0
    assert posted["interrupts"] == m["interrupts"] == 500
    assert posted["latency.mean_us"] < m["latency.mean_us"]


def test_iommu_strategies_count_their_traps_and_iotlb_misses() -> None:
    s = stream(packets=5000, offered_gbps=2.0, frame_bytes=1518)
    by = {st: run("sriov", s, **{"iommu.strategy": st, **POSTED})
          for st in ("strict", "deferred", "persistent")}
    assert by["strict"]["traps.vmexit.iommu_map"] == by["strict"]["traps.vmexit.iommu_unmap"] \
        == 5000
    assert by["deferred"]["traps.vmexit.iommu_map"] == 5000
    assert by["deferred"]["traps.vmexit.iommu_unmap"] == 5000 // 250
    assert by["persistent"]["traps.total"] == 0
    # The NIC model sees the same invalidations: strict misses on every DMA, the ring's
    # pages are reused without them (two buffers a page, the ring beyond the IOTLB: half).
    assert by["strict"]["iotlb.misses"] == 5000
    assert by["persistent"]["iotlb.misses"] == 2500
    assert by["persistent"]["iotlb.misses"] < by["deferred"]["iotlb.misses"] <= 5000
    cost = [by[st]["cycles_per_packet.hypervisor"] for st in ("strict", "deferred",
                                                              "persistent")]
    assert cost[0] > cost[1] > cost[2] == 0


def test_each_vm_has_its_function_domain_and_core() -> None:
    s = stream(packets=20_000, offered_gbps=9.0, frame_bytes=1518, vms=8)
    m = run("sriov", s, **POSTED)
    assert m["drops"] == 0
    util = [m[f"cpu.utilization.vm{v}"] for v in range(8)]
    assert min(util) > 0.5 * max(util) > 0
    assert m["interrupts.nic"] > 4 * run("sriov", stream(packets=20_000, offered_gbps=9.0,
                                                         frame_bytes=1518), **POSTED)[
        "interrupts.nic"]
    assert saturation_pps(rx_path(vm=3, posted=True), 1518) == pytest.approx(LINE_1518)


def test_vlans_select_the_function_too() -> None:
    s = stream(packets=4000, offered_gbps=2.0, vms=4, vlan_base=100)
    m = run("sriov", s, **POSTED)
    assert m["drops"] == 0 and all(m[f"cpu.utilization.vm{v}"] > 0 for v in range(4))
