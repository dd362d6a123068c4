"""``native-net``: the bare-metal reference on the NIC model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from codesign.metrics import Metrics
from codesign.net.graph import saturation_pps
from codesign.net.native import NativeNetParams, paths
from codesign.params import build
from codesign.platforms import Platform, load_platform
from codesign.registry import default_registry
from workloads.packets.frames import Dir, empty, line_rate_pps

PLATFORM = load_platform("kvm-nehalem")
NAMES = {"packets", "throughput.pps", "throughput.gbps", "latency.mean_us", "latency.p50_us",
         "latency.p99_us", "drops", "cycles_per_packet", "cycles_per_packet.guest",
         "cycles_per_packet.driver_domain", "cycles_per_packet.hypervisor", "traps.total",
         "interrupts", "iotlb.misses", "cpu.utilization.cpu0"}


def stream(name: str = "fixed", **params: Any) -> np.ndarray:
    """A registered packet workload (``params``: keys without ``workload.``)."""
    w = default_registry().workload(name)
    return w.generate(build(w.params, {f"workload.{k}": v for k, v in params.items()}))


def run(s: np.ndarray, platform: Platform = PLATFORM, **params: Any) -> Metrics:
    m = default_registry().mechanism("native-net")
    return m.run(s, build(m.params, params), platform)


def test_registered_with_the_fixed_metric_names() -> None:
    mech = default_registry().mechanism("native-net")
    assert mech.accepts == ("packets",)
    PLATFORM.require(mech.costs, "native-net")
    m = run(stream(packets=2000, offered_gbps=1.0))
    assert set(m) >= NAMES
    assert m["traps.total"] == 0 and m["packets"] == 2000 and m["drops"] == 0
    assert m["cycles_per_packet"] == pytest.approx(m["cycles_per_packet.host"])


def test_saturation_agrees_with_the_bottleneck_law_of_its_graph() -> None:
    no_irq = PLATFORM.with_overrides({"net.irq": 0})
    rx, _ = paths(NativeNetParams(), no_irq)
    law = saturation_pps(rx, 64)
    overload = stream(packets=60_000, offered_gbps=20.0, link_gbps=20.0)
    m = run(overload, no_irq)
    assert m["drops"] > 0
    assert m["throughput.pps"] == pytest.approx(law, rel=0.01)
    # Both ways: a costlier stack in the graph and in the run move both together.
    heavy = no_irq.with_overrides({"net.stack.rx": 3000})
    law_heavy = saturation_pps(paths(NativeNetParams(), heavy)[0], 64)
    assert law_heavy < 0.7 * law
    assert run(overload, heavy)["throughput.pps"] == pytest.approx(law_heavy, rel=0.01)
    # With interrupt costs too: under overload NAPI's poll never empties the ring, so the
    # vector stays masked after the first interrupt and the law still holds.
    busy = run(overload)
    assert busy["throughput.pps"] == pytest.approx(law, rel=0.01)
    assert busy["interrupts.nic"] <= 2


def test_throughput_never_exceeds_line_rate() -> None:
    """64 B at 20 Gb/s offered to a 10 GbE port of a host that could take more."""
    fast = PLATFORM.with_overrides({"net.driver.rx": 5, "net.stack.rx": 5,
                                    "net.copy_per_byte": 0, "net.irq": 0,
                                    "memory.latency": 0})  # IOMMU walks: test_nic_hardware
    m = run(stream(packets=40_000, offered_gbps=20.0, link_gbps=20.0), fast)
    line = line_rate_pps(10, 64)
    assert m["throughput.pps"] <= line * (1 + 1e-9)
    # Within 1%: the last frames wait up to one throttle interval (10 us) for their interrupt.
    assert m["throughput.pps"] == pytest.approx(line, rel=0.01)
    assert m["throughput.gbps"] <= 10.0 * (1 + 1e-9)
    assert m["drops"] > 0  # upstream of the port: link.buffer


def test_low_load_latency_is_the_sum_of_stage_times() -> None:
    rx, _ = paths(NativeNetParams(), PLATFORM)
    clock = PLATFORM.value("cpu.clock_mhz") * 1e6
    for size in (64, 1518):
        m = run(stream(packets=500, offered_pps=10_000, frame_bytes=size),
                PLATFORM.with_overrides({"memory.latency": 0}))  # walks: test_nic_hardware
        stages_ns = sum(st.seconds(size) for st in rx.stages) * 1e9
        # The interrupt, and the poll round it starts (NAPI: one per frame when alone).
        irq_ns = (PLATFORM.value("net.irq") + PLATFORM.value("net.napi.poll")) / clock * 1e9
        # The first interrupt after a quiet spell is not throttled: within 2 NIC cycles.
        for q in ("mean", "p50", "p99"):
            assert m[f"latency.{q}_us"] * 1e3 == pytest.approx(stages_ns + irq_ns, abs=8.0)
        assert m["interrupts"] == 500


def test_moderation_holds_the_second_frame() -> None:
    """Two frames 2 us apart: the second waits for the throttle interval (10 us)."""
    s = empty(2)
    s["time_ns"] = [0, 2000]
    s["frame_bytes"] = 64
    s["direction"] = Dir.RX
    quick = run(s, **{"nic.itr_us": 0.0})
    held = run(s)
    assert held["interrupts"] == quick["interrupts"] == 2
    # Mean over the two frames: the second waits about 10 - 2 = 8 us more, and the IOMMU
    # walk of the first frame's DMA (a cold IOTLB), which delays the interrupt the throttle
    # counts from.
    walk_us = 4 * PLATFORM.value("memory.latency") / PLATFORM.value("cpu.clock_mhz")
    extra = (held["latency.mean_us"] - quick["latency.mean_us"]) * 2
    assert extra == pytest.approx(8.0 + walk_us, abs=0.02)


def test_ring_drops_only_past_its_capacity() -> None:
    over = stream(packets=3000, offered_gbps=10.0, frame_bytes=64)
    small, big = run(over, **{"nic.ring_size": 64}), run(over, **{"nic.ring_size": 4096})
    assert small["drops"] > 0
    assert big["drops"] == 0  # the same overload fits a ring longer than the stream
    assert run(stream(packets=20_000, offered_gbps=1.0), **{"nic.ring_size": 64})["drops"] == 0


def test_iotlb_misses_follow_the_ring_footprint() -> None:
    s = stream(packets=4000, offered_gbps=1.0)
    # 64 descriptors: 32 buffer pages fit a 64-entry IOTLB, only the first touch misses.
    assert run(s, **{"nic.ring_size": 64})["iotlb.misses"] == 32
    # 256 descriptors: 128 pages cycle through 16 sets of 4 ways (LRU): every page misses
    # once per pass, its second buffer hits.
    assert run(s)["iotlb.misses"] == 2000


def test_transmit_frames_share_the_core() -> None:
    s = stream("bulk", packets=4000, offered_gbps=1.0, frame_bytes=1518)
    m = run(s)
    assert m["packets"] == len(s) and m["drops"] == 0
    assert m["cpu.utilization.wire_tx"] > 0


def test_deterministic_per_seed() -> None:
    kw = dict(packets=5000, offered_gbps=5.0, arrival="poisson")
    a, b = run(stream(seed=3, **kw)), run(stream(seed=3, **kw))
    assert a == b
    assert run(stream(seed=4, **kw)) != a


def test_throughput_is_goodput_per_direction_and_the_wire_rate_says_so() -> None:
    """RFC 5180 counts 20 bytes of preamble and gap a frame on the wire; goodput does not.
    MTU frames at 10 GbE line rate: 10.0 Gb/s on the wire, 10 x 1518 / 1538 = 9.87 of
    frames. Both directions: each its own rate, the busier one the headline, the sum only
    as ``duplex``."""
    line = run(stream(packets=20_000, offered_gbps=10.0, frame_bytes=1518))
    assert line["throughput.wire_gbps"] == pytest.approx(10.0, rel=1e-3)
    assert line["throughput.gbps"] == pytest.approx(10.0 * 1518 / 1538, rel=1e-3)
    assert line["throughput.rx_gbps"] == line["throughput.gbps"]
    assert line["throughput.tx_gbps"] == 0.0
    both = run(stream(packets=20_000, offered_gbps=4.0, frame_bytes=1518, direction="both"))
    rx, tx = both["throughput.rx_gbps"], both["throughput.tx_gbps"]
    assert rx == pytest.approx(2.0 * 1518 / 1538, rel=0.02)
    assert tx == pytest.approx(2.0 * 1518 / 1538, rel=0.02)
    assert both["throughput.gbps"] == max(rx, tx)
    assert both["throughput.duplex_gbps"] == pytest.approx(rx + tx)
