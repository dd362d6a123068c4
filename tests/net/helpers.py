"""What the NIC mechanism tests share: streams, runs, and the checks every mechanism passes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from codesign.metrics import Metrics
from codesign.net.graph import DataPath, saturation_pps
from codesign.params import build
from codesign.platforms import Platform, load_platform
from codesign.registry import default_registry
from workloads.packets.frames import line_rate_pps

PLATFORM = load_platform("kvm-nehalem")
NAMES = {"packets", "throughput.pps", "throughput.gbps", "latency.mean_us", "latency.p50_us",
         "latency.p99_us", "drops", "cycles_per_packet", "cycles_per_packet.guest",
         "cycles_per_packet.driver_domain", "cycles_per_packet.hypervisor", "traps.total",
         "interrupts", "iotlb.misses"}
LINE_64 = line_rate_pps(10, 64)
LINE_1518 = line_rate_pps(10, 1518)


def stream(name: str = "fixed", **params: Any) -> np.ndarray:
    """A registered packet workload (``params``: keys without ``workload.``)."""
    w = default_registry().workload(name)
    return w.generate(build(w.params, {f"workload.{k}": v for k, v in params.items()}))


def run(mechanism: str, s: np.ndarray, platform: Platform = PLATFORM, **params: Any) -> Metrics:
    """One mechanism on a stream (``params``: dotted keys)."""
    m = default_registry().mechanism(mechanism)
    return m.run(s, build(m.params, params), platform)


def mech_params(mechanism: str, **params: Any) -> Any:
    """The mechanism's parameter object."""
    m = default_registry().mechanism(mechanism)
    return build(m.params, params)


def overload_64() -> np.ndarray:
    """64 B frames offered at 20 Gb/s (to a 10 GbE port)."""
    return stream(packets=40_000, offered_gbps=20.0, link_gbps=20.0)


def check_names_and_traps(m: Metrics, packets: int) -> None:
    """The issue's metric names are there and ``traps.total`` is the sum by reason."""
    assert set(m) >= NAMES
    assert any(k.startswith("cpu.utilization.") for k in m)
    assert m["packets"] == packets
    assert m["traps.total"] == sum(m.traps_by_reason().values())
    parts = sum(m[f"cycles_per_packet.{d}"] for d in ("host", "guest", "driver_domain",
                                                       "hypervisor"))
    assert m["cycles_per_packet"] == pytest.approx(parts)


def check_line_rate(mechanism: str, fast: Platform, **params: Any) -> Metrics:
    """64 B at 20 Gb/s offered to 10 GbE, on a platform fast enough to reach the line (its
    IOMMU walks too: see ``test_nic_hardware`` for what they cost): throughput at most, and
    within 1 % of, the line rate."""
    m = run(mechanism, overload_64(), fast.with_overrides({"memory.latency": 0}), **params)
    assert m["throughput.pps"] <= LINE_64 * (1 + 1e-9)
    assert m["throughput.gbps"] <= 10.0 * (1 + 1e-9)
    assert m["throughput.pps"] == pytest.approx(LINE_64, rel=0.01)
    assert m["drops"] > 0
    slow = run(mechanism, overload_64(), **params)  # the real costs: far from the line
    assert slow["throughput.pps"] < LINE_64
    return m


def check_law(mechanism: str, path: DataPath, platform: Platform, frame: int = 64,
              heavier: dict[str, float] | None = None, **params: Any) -> float:
    """Saturation throughput of the simulation == bottleneck law of the path's graph (1 %),
    and both follow a costlier platform."""
    law = saturation_pps(path, frame)
    s = stream(packets=40_000, offered_gbps=20.0, link_gbps=20.0, frame_bytes=frame)
    m = run(mechanism, s, platform, **params)
    assert m["drops"] > 0
    assert m["throughput.pps"] == pytest.approx(law, rel=0.01)
    return law


def check_low_load_latency(mechanism: str, path: DataPath, platform: Platform = PLATFORM,
                           frames: tuple[int, ...] = (64, 1518), **params: Any) -> None:
    """Frames 100 us apart: each alone, every batch started and every interrupt taken at
    once (the first after a quiet spell is not throttled): latency = the sum of the stage
    times, within two NIC cycles (IOMMU walks instant here: ``test_nic_hardware`` times
    them)."""
    instant = platform.with_overrides({"memory.latency": 0})
    for size in frames:
        m = run(mechanism, stream(packets=300, offered_pps=10_000, frame_bytes=size),
                instant, **params)
        expect_ns = path.lone_ns(size)
        for q in ("mean", "p50", "p99"):
            assert m[f"latency.{q}_us"] * 1e3 == pytest.approx(expect_ns, abs=8.0), (size, q)
        assert m["drops"] == 0
