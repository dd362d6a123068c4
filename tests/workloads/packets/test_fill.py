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


def reference_bulk(p) -> np.ndarray:  # type: ignore[no-untyped-def]
    """``bulk`` as it was built before its columns were merged ahead of its records."""
    import math

    from workloads.packets.frames import MIN_FRAME, OVERHEAD
    from workloads.packets.synthetic import constant_times

    data = empty(p.packets)
    size = np.full(p.packets, p.frame_bytes, dtype=np.uint32)
    data["frame_bytes"] = size
    data["time_ns"] = constant_times(size, gbps=p.offered_gbps, pps=p.offered_pps)
    n_flows = p.vms * p.flows
    idx = np.arange(p.packets)
    flow_id = idx % n_flows
    vm = (flow_id // p.flows).astype(np.uint16)
    flow = flow_id % p.flows
    forward = Dir.RX if p.direction == "rx" else Dir.TX
    reference(data, forward, vm, flow, p.vlan_base)
    if not p.ack_every:
        return data
    acked = np.flatnonzero((idx // n_flows) % p.ack_every == p.ack_every - 1)
    acks = empty(len(acked))
    reference(acks, Dir.TX if forward == Dir.RX else Dir.RX, vm[acked], flow[acked],
              p.vlan_base)
    wire = math.ceil(8 * (p.frame_bytes + OVERHEAD) / p.link_gbps)
    acks["time_ns"] = data["time_ns"][acked] + np.uint64(wire)
    acks["frame_bytes"] = MIN_FRAME
    out = np.concatenate([data, acks])
    return out[np.argsort(out["time_ns"], kind="stable")]


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3000), st.integers(1, 4), st.integers(1, 5), st.integers(0, 3),
       st.sampled_from(["rx", "tx"]), st.sampled_from([0, 100]))
def test_bulk_is_built_as_before(packets: int, vms: int, flows: int, ack_every: int,
                                 direction: str, vlan_base: int) -> None:
    from workloads.packets.synthetic import BulkParams, generate_bulk

    p = BulkParams(packets=packets, vms=vms, flows=flows, ack_every=ack_every,
                   direction=direction, vlan_base=vlan_base, offered_gbps=9.0)
    assert generate_bulk(p).tobytes() == reference_bulk(p).tobytes()


def reference_rpc(p) -> np.ndarray:  # type: ignore[no-untyped-def]
    """``rpc``'s records as they were built before its columns were merged first."""
    import math

    from workloads.packets.frames import OVERHEAD, Role

    rng = np.random.default_rng(p.seed)
    n_clients = p.vms * p.clients
    per = -(-p.requests // n_clients)
    req_w = math.ceil(8 * (p.request_bytes + OVERHEAD) / p.link_gbps)
    rsp_w = math.ceil(8 * (p.response_bytes + OVERHEAD) / p.link_gbps)
    start = np.floor(rng.random(n_clients) * p.think_ns).astype(np.int64)
    think = np.ceil(rng.exponential(p.think_ns, (n_clients, per))).astype(np.int64)
    cycle = req_w + p.service_ns + rsp_w + think
    req = np.zeros((n_clients, per), dtype=np.int64)
    np.cumsum(cycle[:, :-1], axis=1, out=req[:, 1:])
    req += start[:, None]
    exchange = np.arange(per)[None, :] * n_clients + np.arange(n_clients)[:, None]
    keep = exchange < p.requests
    client = np.broadcast_to(np.arange(n_clients)[:, None], req.shape)[keep]
    req_t = req[keep]
    order = np.lexsort((client, req_t))
    req_t, client = req_t[order], client[order]
    n = len(req_t)
    vm = (client // p.clients).astype(np.uint16)
    flow = client % p.clients
    ask = Dir.RX if p.direction == "rx" else Dir.TX
    answer = Dir.TX if ask == Dir.RX else Dir.RX
    out = empty(2 * n)
    requests, responses = out[:n], out[n:]
    reference(requests, ask, vm, flow, p.vlan_base)
    reference(responses, answer, vm, flow, p.vlan_base)
    requests["time_ns"] = req_t
    responses["time_ns"] = req_t + req_w + p.service_ns
    requests["frame_bytes"], responses["frame_bytes"] = p.request_bytes, p.response_bytes
    requests["role"], responses["role"] = Role.REQUEST, Role.RESPONSE
    requests["xid"] = responses["xid"] = np.arange(1, n + 1, dtype=np.uint32)
    out = out[np.argsort(out["time_ns"], kind="stable")]
    out["time_ns"] -= out["time_ns"][0]
    return out


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 2000), st.integers(1, 3), st.integers(1, 8),
       st.sampled_from([0, 500, 20_000]), st.sampled_from(["rx", "tx"]),
       st.integers(0, 2**32 - 1))
def test_rpc_is_built_as_before(requests: int, vms: int, clients: int, think_ns: int,
                                direction: str, seed: int) -> None:
    from workloads.packets.synthetic import RpcParams, generate_rpc

    p = RpcParams(requests=requests, vms=vms, clients=clients, think_ns=think_ns,
                  direction=direction, seed=seed)
    assert generate_rpc(p).tobytes() == reference_rpc(p).tobytes()
