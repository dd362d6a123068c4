"""Any NIC configuration a user can write runs or is refused with a one-line input error:
random combinations of the NIC's and the paravirtual paths' knobs and of the packet
workloads' under every NIC mechanism (hypothesis). Never an internal error."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import strategies as st

from codesign.harness import Point
from codesign.params import specs
from codesign.registry import default_registry
from tests.mmu.test_any_configuration import each_runs_or_is_refused_in_one_line

MECHANISMS = ("emulated", "multiqueue", "native-net", "pv-split", "sriov", "vhost")
WORKLOADS = ("fixed", "imix", "bulk", "rpc", "bimodal")
KNOBS: dict[str, list[Any]] = {
    "nic.queues": [1, 2, 8, 64], "nic.filters": [1, 4, 64], "nic.vlans": [2, 8],
    "nic.ring_size": [2, 16, 4096], "nic.itr_us": [0.0, 8.0, 100.0],
    "nic.irq_threshold": [0, 1, 64], "nic.vfs": [0, 1, 7, 64], "nic.clock_mhz": [1.0, 250.0],
    "nic.iova_bits": [13, 32], "iotlb.entries": [1, 8, 64], "iotlb.ways": [1, 4],
    "iotlb.policy": ["lru", "plru", "random"], "iommu.levels": [1, 4, 5],
    "link.gbps": [0.001, 1.0, 40.0], "link.buffer": [1, 64], "nic.rx_buffer_kib": [2, 512],
    "offload.gro": [True, False], "offload.tso": [True, False], "offload.csum": [True, False],
    "offload.max_bytes": [1518, 65536], "link.mtu": [576, 9000], "napi.budget": [1, 64],
    "emulated.itr_us": [0.0, 100.0], "emulated.ring_size": [2, 256],
    "emulated.coalesced_mmio": [True, False], "emulated.io": ["mmio", "pio"],
    "driver_domain.cores": [1, 4], "workload.offered_gbps": [0.01, 5.0],
    "workload.arrival": ["constant", "poisson", "onoff"], "workload.burst": [1, 64],
    "workload.direction": ["rx", "tx", "both"], "workload.vms": [1, 3, 16],
    "workload.flows": [1, 64], "workload.frame_bytes": [64, 1518, 9022],
    "workload.clients": [1, 8], "workload.request_bytes": [64, 9022],
    "workload.service_ns": [0, 100_000], "workload.think_ns": [0, 1_000_000],
    "workload.large_fraction": [0.0, 1.0], "workload.ack_every": [0, 2],
}


@st.composite
def points(draw: st.DrawFn, mechanism: str) -> Point:
    reg = default_registry()
    workload = draw(st.sampled_from(WORKLOADS))
    own = ({s.key for s in specs(reg.mechanism(mechanism).params)}
           | {s.key for s in specs(reg.workload(workload).params)})
    size = ({"workload.packets": 2_000} if "workload.packets" in own
            else {"workload.requests": 200})
    keys = draw(st.lists(st.sampled_from(sorted(k for k in KNOBS if k in own)), min_size=1,
                         max_size=7, unique=True))
    return Point(workload, mechanism, params={"hw.cost": False, **size,
                                              **{k: draw(st.sampled_from(KNOBS[k]))
                                                 for k in keys}})


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_any_configuration_runs_or_is_refused_in_one_line(mechanism: str) -> None:
    each_runs_or_is_refused_in_one_line(points(mechanism))
