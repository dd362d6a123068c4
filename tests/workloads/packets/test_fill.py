"""The compiled record fill of the packet generators writes what the field-by-field numpy
version wrote, byte for byte, across the address plan's wrap-arounds."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.packets.frames import Dir, empty
from workloads.packets.synthetic import (
    GATEWAY_MAC,
    PEER_PORT,
    VM_PORT,
    fill,
    peer_ip,
    vm_ip,
    vm_mac,
)


def reference(out: np.ndarray, direction, vm: np.ndarray, flow: np.ndarray,
              vlan_base: int) -> None:
    """The field-by-field fill the compiled one replaced."""
    direction = np.broadcast_to(np.asarray(direction, dtype=np.uint8), vm.shape)
    rx = direction == Dir.RX
    own_mac, own_ip = vm_mac(vm), vm_ip(vm)
    remote_ip = peer_ip(vm, flow)
    remote_port = (PEER_PORT + flow).astype(np.uint16)
    gw = np.uint64(GATEWAY_MAC)
    out["dst_mac"] = np.where(rx, own_mac, gw)
    out["src_mac"] = np.where(rx, gw, own_mac)
    out["dst_ip"] = np.where(rx, own_ip, remote_ip)
    out["src_ip"] = np.where(rx, remote_ip, own_ip)
    out["dst_port"] = np.where(rx, VM_PORT, remote_port)
    out["src_port"] = np.where(rx, remote_port, VM_PORT)
    out["vm"] = vm
    out["direction"] = direction
    out["vlan"] = vlan_base + vm if vlan_base else 0


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 200), st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 100, 4000]),
       st.booleans(), st.sampled_from([64, 65536]), st.sampled_from([16, 1 << 22]))
def test_the_compiled_fill_writes_what_numpy_wrote(n: int, seed: int, vlan_base: int,
                                                   per_record: bool, vms: int,
                                                   flows: int) -> None:
    rng = np.random.default_rng(seed)
    vm = rng.integers(0, vms, n).astype(np.uint16)
    flow = rng.integers(0, flows, n)
    direction = (rng.integers(1, 3, n).astype(np.uint8) if per_record
                 else int(rng.integers(1, 3)))
    want, got = empty(n), empty(n)
    reference(want, direction, vm, flow, vlan_base)
    fill(got, direction, vm, flow, vlan_base)
    assert got.tobytes() == want.tobytes()
