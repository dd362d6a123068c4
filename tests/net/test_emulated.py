"""``emulated``: an e1000-style NIC emulated by a user-space device model."""

from __future__ import annotations

import pytest

from codesign.net.emulated import IRQ_ACCESSES, EmulatedParams, paths
from codesign.net.graph import DataPath, saturation_pps
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
    "net.driver.rx", "net.bridge", "net.devmodel.rx", "net.irq", "irq.inject", "net.stack.rx",
    "vmexit.user", "vmexit.kernel")} | {"net.copy_per_byte": 0})
LOW = {"packets": 500, "offered_pps": 10_000}


def rx_path(platform=PLATFORM, **kw) -> DataPath:
    return paths(EmulatedParams(**kw), platform, 0)[0]


def test_registered_with_the_fixed_metric_names() -> None:
    mech = default_registry().mechanism("emulated")
    PLATFORM.require(mech.costs, "emulated")
    m = run("emulated", stream(packets=3000, offered_gbps=0.1, direction="both"))
    check_names_and_traps(m, 3000)
    assert m["drops"] == 0
    assert {"vmexit.mmio", "vmexit.eoi", "vmexit.external_interrupt"} <= set(
        m.traps_by_reason())


def test_throughput_never_exceeds_line_rate() -> None:
    check_line_rate("emulated", FAST)


def test_cannot_reach_a_million_packets_per_second_per_core() -> None:
    m = run("emulated", stream(packets=40_000, offered_gbps=20.0, link_gbps=20.0))
    assert m["throughput.pps"] < 1e6
    cores = sum(v for k, v in m.items() if k.startswith("cpu.utilization.")
                and (k.startswith("cpu.utilization.dd") or k.startswith("cpu.utilization.vm")))
    assert m["throughput.pps"] / cores < 1e6
    tx = run("emulated", stream(packets=20_000, offered_pps=2_000_000, direction="tx"))
    assert tx["throughput.pps"] < 0.5e6  # a TDT exit to user space per frame


def test_saturation_agrees_with_the_bottleneck_law_of_its_graph() -> None:
    law = check_law("emulated", rx_path(NO_IRQ), NO_IRQ)
    # The host's I/O core: driver, bridge, device model and its two copies.
    assert law == pytest.approx(2.9e9 / (400 + 600 + 2500 + 64 * 0.5 + 300 / 64))
    heavy = NO_IRQ.with_overrides({"net.devmodel.rx": 5000})
    assert check_law("emulated", rx_path(heavy), heavy) < 0.7 * law


def test_low_load_latency_is_the_sum_of_stage_times() -> None:
    check_low_load_latency("emulated", rx_path())
    check_low_load_latency("emulated", rx_path(coalesced_mmio=True), frames=(64,),
                           **{"emulated.coalesced_mmio": True})


def test_every_register_access_exits_to_user_space() -> None:
    m = run("emulated", stream(**LOW))
    # Alone, each frame raises its own interrupt: 5 accesses + the RDT write at the end of
    # the poll; the EOI and the kick are exits handled in the kernel.
    assert m["traps.vmexit.mmio"] == 500 * (IRQ_ACCESSES + 1)
    assert m["traps.vmexit.eoi"] == m["traps.vmexit.external_interrupt"] == 500
    c = PLATFORM.value
    hv = ((IRQ_ACCESSES + 1) * c("vmexit.user") + 2 * c("vmexit.kernel") + c("irq.inject"))
    assert m["cycles_per_packet.hypervisor"] == pytest.approx(hv)
    tx = run("emulated", stream(direction="tx", **LOW))
    assert tx["traps.vmexit.mmio"] == 500  # one TDT write per frame
    assert tx["cycles_per_packet.hypervisor"] == pytest.approx(c("vmexit.user"))


def test_coalesced_mmio_removes_the_tail_writes_only() -> None:
    s = stream(packets=20_000, offered_gbps=0.3)
    plain = run("emulated", s)
    coalesced = run("emulated", s, **{"emulated.coalesced_mmio": True})
    rdt = plain["traps.vmexit.mmio"] - IRQ_ACCESSES * plain["traps.vmexit.eoi"]
    assert rdt >= 20_000 / 16  # one RDT write per 16 buffers, and one per poll
    assert coalesced["traps.vmexit.mmio"] == IRQ_ACCESSES * coalesced["traps.vmexit.eoi"]
    # Alone, a frame saves exactly its poll's RDT exit. (Under load the saving is not
    # always a gain: a guest that finishes its polls sooner idles, and takes more
    # interrupts.)
    low = [run("emulated", stream(**LOW), **{"emulated.coalesced_mmio": c})
           for c in (False, True)]
    saved = low[0]["cycles_per_packet.hypervisor"] - low[1]["cycles_per_packet.hypervisor"]
    assert saved == pytest.approx(PLATFORM.value("vmexit.user"))


def test_io_ports_take_two_exits_per_access() -> None:
    m = run("emulated", stream(**LOW), **{"emulated.io": "pio"})
    assert m["traps.vmexit.pio"] == 2 * 500 * (IRQ_ACCESSES + 1)
    assert "traps.vmexit.mmio" not in m
    # Coalescing is for memory-mapped registers: nothing changes with I/O ports.
    again = run("emulated", stream(**LOW), **{"emulated.io": "pio",
                                               "emulated.coalesced_mmio": True})
    assert again["traps.vmexit.pio"] == m["traps.vmexit.pio"]


def test_interrupts_are_throttled_and_masked_while_the_guest_polls() -> None:
    # 400 kpps: a frame every 2.5 us, faster than the throttle interval.
    s = stream(packets=20_000, offered_pps=400_000)
    fast = run("emulated", s, **{"emulated.itr_us": 0.0})
    slow = run("emulated", s, **{"emulated.itr_us": 50.0})
    assert slow["traps.vmexit.eoi"] < fast["traps.vmexit.eoi"] < 20_000
    # At most one interrupt per 50 us over the 50 ms of the stream.
    assert slow["traps.vmexit.eoi"] <= 50e-3 / 50e-6 + 1
    assert slow["latency.mean_us"] > fast["latency.mean_us"]
    assert slow["drops"] == fast["drops"] == 0


def test_the_emulated_ring_bounds_what_waits_for_the_guest() -> None:
    slow_guest = PLATFORM.with_overrides({"net.stack.rx": 30_000})
    s = stream(packets=5000, offered_pps=400_000)
    small = run("emulated", s, slow_guest, **{"emulated.ring_size": 16})
    big = run("emulated", s, slow_guest, **{"emulated.ring_size": 4096})
    assert small["drops"] > big["drops"] == 0
    assert saturation_pps(rx_path(slow_guest), 64) < 400_000
