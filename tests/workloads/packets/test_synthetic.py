"""Generated packet streams: determinism, rates, size mixes, VMs, rpc and bulk."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.errors import InputError
from codesign.params import build, canonical
from codesign.registry import Registry
from workloads.packets import WORKLOADS
from workloads.packets.frames import Dir, Role, line_rate_pps, summarize, validate
from workloads.packets.synthetic import (
    DEFAULT_OFFERED_PPS,
    GATEWAY_MAC,
    IMIX,
    RFC6985,
    constant_times,
    peer_ip,
    vm_ip,
    vm_mac,
)

DERANDOMIZED = settings(derandomize=True, deadline=None, max_examples=30)
REGISTRY = Registry.of(WORKLOADS)
GENERATED = [w.name for w in WORKLOADS if w.name != "pcap"]
RATED = ["fixed", "imix", "bimodal", "sequence"]


def gen(name: str, **values: object) -> np.ndarray:
    w = REGISTRY.workload(name)
    stream = w.generate(build(w.params, {f"workload.{k}": v for k, v in values.items()}))
    validate(stream)
    return stream


def rate_for(name: str) -> dict[str, object]:
    return {} if name == "rpc" else {"offered_gbps": 5.0}


def test_registered_as_packet_workloads_with_documented_parameters() -> None:
    assert sorted(REGISTRY.workloads) == sorted([*GENERATED, "pcap"])
    for w in WORKLOADS:
        assert w.kind == "packets" and w.summary
        keys = [s.key for s in w.specs()]
        assert all(s.doc for s in w.specs())
        assert all(k.startswith("workload.") for k in keys)
        assert ("workload.seed" in keys) == (w.name != "pcap")


@DERANDOMIZED
@given(st.sampled_from(GENERATED), st.integers(0, 2**63 - 1),
       st.sampled_from(["constant", "poisson", "onoff"]), st.sampled_from(["rx", "tx", "both"]))
def test_same_seed_same_stream(name: str, seed: int, arrival: str, direction: str) -> None:
    values: dict[str, object] = {"seed": seed, **rate_for(name)}
    if name in RATED:
        values.update(arrival=arrival, direction=direction, vms=3, packets=300)
    elif name == "rpc":
        values.update(requests=150, vms=2)
    else:
        values.update(packets=300, vms=2, flows=2, direction=direction.replace("both", "tx"))
    first = gen(name, **values)
    again = gen(name, **values)
    assert first.tobytes() == again.tobytes()
    other = gen(name, **{**values, "seed": seed ^ 1})
    if name == "bulk" or (name in ("fixed", "sequence") and arrival == "constant"):
        # No draw shapes the times or sizes; VMs and flows are drawn, except in bulk.
        assert (other["time_ns"] == first["time_ns"]).all()
    if name != "bulk":
        assert other.tobytes() != first.tobytes()


@pytest.mark.parametrize("gbps", [10.0, 9.999, 2.5, 0.001, 40.0])
@pytest.mark.parametrize("name", RATED)
def test_constant_gbps_times_are_the_exact_rate_rounded_up(name: str, gbps: float) -> None:
    link = max(gbps, 10.0)
    s = gen(name, packets=400, offered_gbps=gbps, link_gbps=link)
    kbps = Fraction(round(gbps * 1e6))
    bits = 0
    for i, (t, f) in enumerate(zip(s["time_ns"].tolist(), s["frame_bytes"].tolist(),
                                   strict=True)):
        assert t == math.ceil(Fraction(bits) * 10**6 / kbps), i
        bits += 8 * (f + 20)


@pytest.mark.parametrize("pps", [14_880_952, 1_000_000, 3, 812_743])
def test_constant_pps_times_are_exact(pps: int) -> None:
    s = gen("fixed", packets=500, offered_pps=pps, frame_bytes=64)
    expected = [math.ceil(Fraction(i * 10**9, pps)) for i in range(500)]
    assert s["time_ns"].tolist() == expected
    measured = summarize(s).pps  # the last time is rounded up by less than 1 ns
    assert pps * (1 - 1 / int(s["time_ns"][-1])) <= measured <= pps


def test_line_rate_stream_reaches_rfc_5180_and_no_further() -> None:
    s = gen("fixed", packets=100_001, offered_gbps=10.0, frame_bytes=64)
    assert summarize(s).pps == pytest.approx(14_880_952.4, rel=1e-7)
    assert int(s["time_ns"][-1]) == math.ceil(Fraction(100_000 * 672, 10))  # 6,720,000 ns
    big = gen("fixed", packets=10_001, offered_gbps=10.0, frame_bytes=1518)
    assert summarize(big).pps <= 812_743.9
    assert summarize(big).gbps == pytest.approx(10.0, rel=1e-6)


def test_both_directions_split_the_rate_and_each_keeps_it() -> None:
    s = gen("fixed", packets=1001, offered_pps=2_000_000, direction="both")
    rx, tx = s[s["direction"] == Dir.RX], s[s["direction"] == Dir.TX]
    assert (len(rx), len(tx)) == (501, 500)
    assert rx["time_ns"].tolist() == constant_times(np.full(501, 64), pps=2_000_000,
                                                     share=2).tolist()
    assert summarize(tx).pps == pytest.approx(1e6, rel=1e-3)
    assert (np.diff(s["time_ns"].astype(np.int64)) >= 0).all()


@pytest.mark.parametrize(("offered", "expected_gap"), [
    ({"offered_gbps": 4.0}, 8 * (361.83 + 20) / 4.0),
    ({"offered_pps": 500_000}, 2000.0),
])
@pytest.mark.parametrize("arrival", ["poisson", "onoff"])
def test_random_arrivals_keep_the_mean_rate(offered: dict[str, object], expected_gap: float,
                                            arrival: str) -> None:
    n = 40_000
    s = gen("imix", packets=n, arrival=arrival, burst=16, **offered)
    gaps = np.diff(s["time_ns"].astype(np.float64))
    # Poisson: ~n gaps of cv <= 1 (0.5%); on/off: n/16 exponential silences carry most of it.
    tolerance = 0.02 if arrival == "poisson" else 0.04
    assert gaps.mean() == pytest.approx(expected_gap, rel=tolerance)
    assert gaps.std() > 0.3 * gaps.mean()  # not a constant-rate stream in disguise


@pytest.mark.parametrize("arrival", ["constant", "poisson", "onoff"])
@pytest.mark.parametrize("offered", [{"offered_gbps": 10.0}, {"offered_gbps": 7.0},
                                     {"offered_pps": 800_000}])
def test_no_frame_starts_before_the_previous_one_left_the_wire(arrival: str,
                                                               offered: dict[str, object]) -> None:
    s = gen("imix", packets=20_000, arrival=arrival, **offered)
    t = s["time_ns"].astype(np.int64)
    wire = 8 * (s["frame_bytes"][:-1].astype(np.float64) + 20) / 10.0
    assert (np.diff(t) >= np.floor(wire)).all()


def test_onoff_sends_bursts_back_to_back() -> None:
    s = gen("fixed", packets=64, arrival="onoff", burst=8, offered_gbps=1.0, frame_bytes=64)
    gaps = np.diff(s["time_ns"].astype(np.int64)).reshape(-1)
    inside = np.delete(gaps, np.arange(7, len(gaps), 8))
    assert set(inside.tolist()) <= {67, 68}  # 67.2 ns at 10 GbE, rounded up from the start
    assert gaps[7::8].min() > 68


def test_imix_and_bimodal_proportions_are_exact() -> None:
    s = gen("imix", packets=12_000, offered_gbps=1.0, direction="both")
    sizes, counts = np.unique(s["frame_bytes"], return_counts=True)
    assert dict(zip(sizes.tolist(), counts.tolist(), strict=True)) == {
        size: 1000 * w for size, w in IMIX}
    b = gen("bimodal", packets=999, offered_gbps=1.0, large_fraction=0.25, small_bytes=128,
            large_bytes=9000, link_gbps=100.0)
    assert int((b["frame_bytes"] == 9000).sum()) == round(999 * 0.25)
    assert int((b["frame_bytes"] == 128).sum()) == 999 - round(999 * 0.25)


def test_imix_order_is_shuffled_not_sorted() -> None:
    s = gen("imix", packets=1200, offered_gbps=1.0)
    head = s["frame_bytes"][:100]
    assert 0 < int((head == 1518).sum()) < 100 and not (np.diff(head.astype(int)) >= 0).all()


def test_sequences_repeat_in_order() -> None:
    s = gen("sequence", packets=25, offered_gbps=1.0, sizes="aaaaaaadddg")
    letters = [RFC6985[c] for c in "aaaaaaadddg"]
    assert s["frame_bytes"].tolist() == (letters * 3)[:25]
    t = gen("sequence", packets=6, offered_gbps=1.0, sizes="64, 100,1518")
    assert t["frame_bytes"].tolist() == [64, 100, 1518] * 2


@pytest.mark.parametrize(("values", "message"), [
    ({"offered_gbps": 1.0, "offered_pps": 10},
     r"set at most one of workload.offered_gbps and workload.offered_pps \(neither: 100000"),
    ({"link_gbps": 1.0}, r"offered_pps 100000 \(the default rate\) exceeds the line rate"),
    ({"offered_gbps": 10.5}, "offered_gbps 10.5 exceeds the link"),
    ({"offered_gbps": 20.5, "direction": "both"}, "exceeds the link: 2 x"),
    ({"offered_pps": 812_744}, r"exceeds the line rate of 1518-byte frames .*\(812743 frames/s\)"),
    ({"offered_gbps": 1.0, "sizes": "64,63"}, "63 is not a frame size"),
    ({"offered_gbps": 1.0, "sizes": "abx"}, "neither comma-separated sizes nor RFC 6985"),
    ({"offered_gbps": 1.0, "vlan_base": 4094, "vms": 2}, "runs past VLAN 4094"),
])
def test_bad_parameters_are_one_line_errors(values: dict[str, object], message: str) -> None:
    w = REGISTRY.workload("sequence")
    with pytest.raises(InputError, match=f"^spec.toml: .*{message}") as info:
        build(w.params, {f"workload.{k}": v for k, v in values.items()}, origin="spec.toml")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["fixed", "imix", "bimodal", "sequence", "bulk"])
def test_a_stream_without_a_rate_is_offered_the_default_100000_frames_per_second(
        name: str) -> None:
    w = REGISTRY.workload(name)
    p = build(w.params, {"workload.packets": 2001})
    assert (p.offered_gbps, p.offered_pps) == (None, DEFAULT_OFFERED_PPS) == (None, 100_000)
    # The default is a value like any other: the same parameters, the same design point.
    assert canonical(p) == canonical(build(w.params, {"workload.packets": 2001,
                                                      "workload.offered_pps": 100_000}))
    data = w.generate(p)
    s = data[data["direction"] == Dir.RX] if name == "bulk" else data
    assert summarize(s).pps == pytest.approx(100_000, rel=1e-3)


def test_pps_up_to_the_line_rate_of_the_largest_frame_is_accepted() -> None:
    limit = int(line_rate_pps(10, 1518))
    s = gen("imix", packets=1000, offered_pps=limit, arrival="poisson")
    assert summarize(s).packets == 1000


def test_vms_have_their_own_mac_ip_and_vlan() -> None:
    s = gen("fixed", packets=3000, offered_gbps=1.0, vms=5, flows=3, vlan_base=100,
            direction="both")
    assert summarize(s).vms == 5
    for d in (Dir.RX, Dir.TX):
        part = s[s["direction"] == d]
        vm = part["vm"].astype(np.int64)
        own_mac, own_ip = ("dst_mac", "dst_ip") if d == Dir.RX else ("src_mac", "src_ip")
        other_mac, other_ip = ("src_mac", "src_ip") if d == Dir.RX else ("dst_mac", "dst_ip")
        assert (part[own_mac] == vm_mac(part["vm"])).all()
        assert (part[own_ip] == vm_ip(part["vm"])).all()
        assert (part[other_mac] == GATEWAY_MAC).all()
        assert (part["vlan"] == 100 + vm).all()
        flow = part[other_ip].astype(np.int64) - peer_ip(part["vm"], 0).astype(np.int64)
        assert set(flow.tolist()) == {0, 1, 2}
    assert len(np.unique(vm_mac(np.arange(1024)))) == 1024
    # Linear in the flow within a VM, and VM v's last flow below VM v+1's first: all distinct.
    ends = peer_ip(np.repeat(np.arange(1024), 2), np.tile([0, 4095], 1024)).astype(np.int64)
    assert (np.diff(ends) > 0).all()


def test_rpc_exchanges_follow_the_closed_loop() -> None:
    s = gen("rpc", requests=500, vms=2, clients=3, service_ns=5000, think_ns=10_000, seed=4)
    c = summarize(s)
    assert (c.requests, c.responses, c.vms) == (500, 500, 2)
    req = s[s["role"] == Role.REQUEST]
    rsp = s[s["role"] == Role.RESPONSE]
    assert req["xid"].tolist() == list(range(1, 501))  # numbered in time order
    assert (req["direction"] == Dir.RX).all() and (rsp["direction"] == Dir.TX).all()
    by_xid = rsp[np.argsort(rsp["xid"])]
    req_wire = math.ceil(8 * (128 + 20) / 10)
    assert (by_xid["time_ns"] - req["time_ns"] == req_wire + 5000).all()
    # One client: its next request comes after its response and a think time.
    client = (req["vm"] == 1) & (req["dst_port"] == 5001) & (req["src_ip"] == peer_ip(1, 2))
    t_req = req["time_ns"][client].astype(np.int64)
    t_rsp = by_xid["time_ns"][client].astype(np.int64)
    think = t_req[1:] - t_rsp[:-1] - math.ceil(8 * (1024 + 20) / 10)
    assert (think >= 0).all() and np.mean(think) == pytest.approx(10_000, rel=0.35)
    tx = gen("rpc", requests=10, direction="tx")
    assert (tx["direction"][tx["role"] == Role.REQUEST] == Dir.TX).all()


def test_bulk_is_mtu_frames_at_rate_with_delayed_acks() -> None:
    s = gen("bulk", packets=1000, offered_gbps=9.0, vms=2, flows=2, ack_every=2)
    data = s[s["frame_bytes"] == 1518]
    acks = s[s["frame_bytes"] == 64]
    assert len(data) == 1000 and len(acks) == 500
    assert (data["direction"] == Dir.RX).all() and (acks["direction"] == Dir.TX).all()
    assert summarize(data).gbps == pytest.approx(9.0, rel=1e-5)
    # Round robin over the four flows: frame i is flow i mod 4.
    ports = data["src_port"].astype(np.int64) - 10000 + 2 * data["vm"].astype(np.int64)
    assert ports.tolist() == [i % 4 for i in range(1000)]
    none = gen("bulk", packets=100, offered_pps=10_000, ack_every=0, direction="tx")
    assert len(none) == 100 and (none["direction"] == Dir.TX).all()


def test_names_do_not_clash_with_the_built_in_registry() -> None:
    from codesign.registry import default_registry

    # Other kinds only: the test keeps meaning something once BUILTINS lists this package.
    others = [w for w in default_registry().workloads.values() if w.kind != "packets"]
    combined = Registry.of([*others, *WORKLOADS])
    assert len(combined.workloads) == len(others) + len(WORKLOADS)
