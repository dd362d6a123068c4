"""The NIC mechanisms contain the ``nic`` hardware block: its keys reach the NIC model the frames
are replayed through, a workload that does not fit the NIC is a one-line error before any work,
and ``hw.cost`` adds the NIC's area and timing."""

from __future__ import annotations

from typing import Any

import pytest

from codesign.errors import InputError
from codesign.hardware import NICKeys
from codesign.harness import Point, evaluate, resolve
from codesign.net import nicreplay
from codesign.params import specs
from codesign.registry import default_registry
from hwmodels.nic import NICParams

from .helpers import PLATFORM, mech_params, run, stream

MECHANISMS = ("native-net", "emulated", "pv-split", "multiqueue", "sriov", "vhost")
CHEAP = {"nic.queues": 4, "nic.filters": 2, "nic.vlans": 2, "nic.ring_size": 16,
         "iotlb.entries": 8, "nic.iova_bits": 18}
"""A NIC whose RTL costs a fraction of a second to estimate (the 82599-sized default: ~2 s)."""


def point(mechanism: str, **params: Any) -> Point:
    base = {"workload.packets": 200, "workload.offered_gbps": 1.0}
    return Point("fixed", mechanism, params={**base, **params})


@pytest.mark.parametrize("name", MECHANISMS)
def test_every_nic_mechanism_declares_the_nic_block_and_its_keys(name: str) -> None:
    m = default_registry().mechanism(name)
    assert m.hardware == ("nic",)
    assert {s.key for s in specs(NICKeys)} <= {s.key for s in specs(m.params)}
    assert mech_params(name).nic() == NICKeys.to_hw(mech_params(name))


@pytest.mark.parametrize("name", MECHANISMS)
def test_the_replayed_nic_is_exactly_the_mechanisms(name: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[NICParams] = []
    real = nicreplay.NICModel

    def spy(params: NICParams) -> Any:
        built.append(params)
        return real(params)

    monkeypatch.setattr(nicreplay, "NICModel", spy)
    keys = {"nic.queues": 16, "nic.filters": 8, "nic.vlans": 64, "nic.ring_size": 128,
            "nic.itr_us": 20.0, "nic.irq_threshold": 8, "nic.clock_mhz": 200.0,
            "nic.iova_bits": 22, "nic.pa_bits": 36, "iotlb.entries": 32, "iotlb.ways": 2,
            "iotlb.policy": "plru", "iommu.levels": 3, "link.gbps": 25.0}
    if name == "sriov":
        keys["nic.vfs"] = 3
    run(name, stream(packets=300, offered_gbps=1.0, vms=2), **keys)
    assert built == [NICParams.from_flat(keys)]


def test_iotlb_entries_and_iommu_levels_reach_the_model() -> None:
    # 1518 B frames into one VF: its ring's 256 2 KiB buffers share 128 I/O pages.
    s = stream(packets=4000, offered_gbps=2.0, frame_bytes=1518)
    small = run("sriov", s, **{"iotlb.entries": 16})
    big = run("sriov", s, **{"iotlb.entries": 256})
    assert small["iotlb.misses"] == 2000  # 16 entries, 128 pages in turn: one miss a page
    assert big["iotlb.misses"] == 128  # every page of the 256 slots once, then hits
    assert small["iommu.walk_refs"] == 4 * small["iotlb.misses"]  # iommu.levels = 4
    five = run("sriov", s, **{"iotlb.entries": 16, "iommu.levels": 5})
    assert five["iommu.walk_refs"] == 5 * five["iotlb.misses"]
    # Timed: the walk is the IOMMU's, no CPU cycle, but each miss delays its frame's DMA by
    # iommu.levels references at memory.latency (4 x 200 cycles at 2.9 GHz: 276 ns). Frames
    # 100 us apart, so that no throttle interval hides the delay and nothing queues.
    assert small["cycles_per_packet"] == big["cycles_per_packet"]
    sparse = stream(packets=4000, offered_pps=10_000, frame_bytes=1518)
    small, big = (run("sriov", sparse, **{"iotlb.entries": e}) for e in (16, 256))
    walk_us = 4 * PLATFORM.value("memory.latency") / PLATFORM.value("cpu.clock_mhz")
    extra = (small["iotlb.misses"] - big["iotlb.misses"]) * walk_us / 4000
    assert small["latency.mean_us"] - big["latency.mean_us"] == pytest.approx(extra, rel=1e-6)
    # Under strict mapping every DMA misses whatever the IOTLB's size (each unmap
    # invalidates the page's entry before it is mapped again).
    strict = [run("sriov", s, **{"iommu.strategy": "strict", "iotlb.entries": e})
              for e in (16, 256)]
    assert [m["iotlb.misses"] for m in strict] == [4000, 4000]


def test_the_nic_clock_paces_the_nic_stages() -> None:
    s = stream(packets=2000, offered_gbps=5.0)
    instant = PLATFORM.with_overrides({"memory.latency": 0})  # no walk in the NIC's time
    fast, slow = (run("native-net", s, instant, **{"nic.clock_mhz": c}) for c in (500.0, 125.0))
    assert slow["cpu.utilization.nic"] == pytest.approx(4 * fast["cpu.utilization.nic"],
                                                        rel=1e-3)


@pytest.mark.parametrize("name, params, message", [
    ("multiqueue", {"workload.vms": 4, "nic.queues": 4}, "4 VMs need 5 queues"),
    ("multiqueue", {"workload.vms": 4, "nic.queues": 16, "nic.vfs": 3},
     "4 VMs need 5 queues of the physical function"),
    ("multiqueue", {"workload.vms": 4, "nic.filters": 3}, r"more than nic.filters \(3\)"),
    ("sriov", {"workload.vms": 4, "nic.vfs": 3}, r"more than nic.vfs \(3\)"),
    ("sriov", {"nic.queues": 8}, "65 functions need 128 queue pools, more than nic.queues"),
    ("sriov", {"nic.ring_size": 100}, "nic.ring_size: expected a power of two"),
    ("sriov", {"iommu.strategy": "strict", "link.gbps": 40.0}, "fewer than the 5 NIC "),
    ("pv-split", {"workload.vms": 2, "workload.vlan_base": 100, "nic.vlans": 64},
     "VLAN 101 are beyond the NIC's VLAN table"),
    ("multiqueue", {"workload.vms": 40, "nic.iova_bits": 24}, "5289 I/O pages .* raise it to 25"),
])
def test_a_workload_that_does_not_fit_the_nic_is_an_error_before_any_work(
        name: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message) as err:
        resolve(point(name, **params))
    assert "\n" not in str(err.value)


def test_nic_queues_limit_the_vms_of_multiqueue() -> None:
    resolve(point("multiqueue", **{"workload.vms": 7, "nic.queues": 8}))
    with pytest.raises(InputError, match="8 VMs need 9 queues"):
        resolve(point("multiqueue", **{"workload.vms": 8, "nic.queues": 8}))


def test_a_stream_without_declared_vms_is_checked_when_replayed() -> None:
    # A capture declares no workload.vms: its frames are checked by the replay.
    with pytest.raises(ValueError, match="3 VMs need a virtual function each"):
        run("sriov", stream(packets=300, offered_gbps=1.0, vms=3), **{"nic.vfs": 2})


def test_hw_cost_adds_the_nics_area_which_grows_with_queues_and_iotlb() -> None:
    base = evaluate(point("multiqueue", **CHEAP))
    assert base["hw.area_mm2"] == base["hw.nic.area_mm2"] > 0
    assert {"hw.nic.nets", "hw.nic.register_bits", "hw.nic.fmax_mhz"} <= set(base)
    queues = evaluate(point("multiqueue", **{**CHEAP, "nic.queues": 8}))
    iotlb = evaluate(point("multiqueue", **{**CHEAP, "iotlb.entries": 32}))
    assert queues["hw.nic.area_mm2"] > base["hw.nic.area_mm2"]
    assert iotlb["hw.nic.area_mm2"] > base["hw.nic.area_mm2"]
    off = evaluate(point("multiqueue", **CHEAP, **{"hw.cost": False}))
    assert not any(k.startswith("hw.") for k in off)
    assert off["throughput.pps"] == base["throughput.pps"]


def test_sr_iov_functions_cost_area() -> None:
    vf = evaluate(point("sriov", **{**CHEAP, "nic.queues": 8, "nic.vfs": 3}))
    pf = evaluate(point("multiqueue", **{**CHEAP, "nic.queues": 8}))
    assert vf["hw.nic.area_mm2"] > pf["hw.nic.area_mm2"]


def test_iotlb_misses_bound_the_receive_engine_at_small_frames() -> None:
    """Each miss keeps the NIC's receive engine on its frame for the walk (no miss under a
    miss; Neugebauer et al., SIGCOMM 2018, measure small-DMA throughput collapsing once the
    buffers outgrow the IOTLB). 64 B frames at line rate, a host fast enough for the line:
    with the default 256-slot ring (128 pages through a 64-entry IOTLB) every other frame
    walks, 4 x 69 ns, so the engine takes about one frame per 4 ns + 138 ns: ~7 Mpps, half
    the line. An IOTLB that holds the ring leaves only the first pass's misses."""
    fast = PLATFORM.with_overrides({"net.driver.rx": 5, "net.stack.rx": 5,
                                    "net.copy_per_byte": 0, "net.irq": 0})
    over = stream(packets=40_000, offered_gbps=20.0, link_gbps=20.0)
    thrash = run("native-net", over, fast)
    walk_ns = 4 * PLATFORM.value("memory.latency") / PLATFORM.value("cpu.clock_mhz") * 1e3
    assert thrash["throughput.pps"] == pytest.approx(1e9 / (4.0 + walk_ns / 2), rel=0.02)
    assert thrash["cpu.utilization.nic"] > 0.97
    held = run("native-net", over, fast, **{"iotlb.entries": 256})
    assert held["throughput.pps"] == pytest.approx(14_880_952, rel=0.01)
