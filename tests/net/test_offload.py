"""Offloads: GRO and TSO super-frames, checksum offload (``offload.*``, every NIC mechanism).

A stage marked ``gro`` (receive, after the NIC driver) or ``tso`` (transmit, before the NIC
cuts the frame) pays its per-packet work once per super-frame of full-sized segments (frames
of ``link.mtu + 18`` bytes) up to ``offload.max_bytes``, or until its core idles (GRO
flushes when the poll ends); every segment still pays its per-byte work.
"""

from __future__ import annotations

import pytest

from codesign.net.graph import saturation_pps
from codesign.net.native import NativeNetParams, paths

from .helpers import PLATFORM, run, stream

OFF = {"offload.gro": False, "offload.tso": False}


def test_gro_amortizes_the_stack_over_a_super_frame_under_load() -> None:
    """Overloaded with MTU frames, the poll never idles: a super-frame of 65536 // 1518 = 43
    segments pays the stack's per-frame work once. A heavy stack (200,000 cycles) makes the
    core the bottleneck, and the run follows the law of the aggregated path."""
    heavy = PLATFORM.with_overrides({"net.stack.rx": 200_000, "memory.latency": 0})
    s = stream(packets=20_000, offered_gbps=10.0, frame_bytes=1518)
    on, off = run("native-net", s, heavy), run("native-net", s, heavy, **OFF)
    assert off["throughput.pps"] < 0.2 * on["throughput.pps"]
    rx = NativeNetParams().offloaded(paths(NativeNetParams(), heavy)[0])
    assert [st.aggregate_bytes for st in rx.stages if st.offload] == [65536]
    law = saturation_pps(rx, 1518)
    per_frame = 400 + 300 / 64 + 1518 * 0.25 + 200_000 * 1518 / 65536
    assert law == pytest.approx(2.9e9 / per_frame)
    assert on["throughput.pps"] == pytest.approx(law, rel=0.02)


def test_small_frames_and_lone_frames_are_not_aggregated() -> None:
    small = stream(packets=5000, offered_gbps=5.0, frame_bytes=64)
    assert run("native-net", small)["cycles_per_packet"] == pytest.approx(
        run("native-net", small, **OFF)["cycles_per_packet"])
    # 100 us apart: every poll takes one frame and GRO flushes it alone.
    lone = stream(packets=500, offered_pps=10_000, frame_bytes=1518)
    assert run("native-net", lone)["cycles_per_packet"] == pytest.approx(
        run("native-net", lone, **OFF)["cycles_per_packet"])


def test_tso_sends_one_super_frame_down_the_paravirtual_path() -> None:
    """The guest's stack, its e1000 driver and its tail-register write (an exit to the device
    model) once per super-frame; the device model cuts it into frames in software."""
    s = stream(packets=8000, offered_gbps=5.0, frame_bytes=1518, direction="tx")
    on, off = run("emulated", s), run("emulated", s, **OFF)
    assert on["traps.vmexit.mmio"] < 0.2 * off["traps.vmexit.mmio"]
    assert on["cycles_per_packet.guest"] < off["cycles_per_packet.guest"]
    assert on["cycles_per_packet.driver_domain"] == pytest.approx(
        off["cycles_per_packet.driver_domain"], rel=0.02)


def test_checksum_offload_off_costs_every_stack_a_pass_over_the_frame() -> None:
    s = stream(packets=2000, offered_pps=10_000, frame_bytes=1518)
    on = run("sriov", s, **{"sriov.posted_interrupts": True})
    off = run("sriov", s, **{"sriov.posted_interrupts": True, "offload.csum": False})
    per_byte = PLATFORM.value("net.csum_per_byte")
    assert off["cycles_per_packet"] - on["cycles_per_packet"] == pytest.approx(1518 * per_byte)


def test_the_paravirtual_receive_path_gains_most_from_gro() -> None:
    """The bridge and netback once per super-frame on the driver domain's core, the
    bottleneck, whose poll never idles; the grant copies stay one per segment (each lands in
    its own fragment). The guest, faster than its backend, finds about one frame per poll:
    its GRO has little to merge."""
    s = stream(packets=20_000, offered_gbps=10.0, frame_bytes=1518)
    on, off = run("pv-split", s), run("pv-split", s, **OFF)
    assert on["throughput.pps"] > 1.1 * off["throughput.pps"]
    assert on["cycles_per_packet.driver_domain"] < 0.5 * off["cycles_per_packet.driver_domain"]
    assert on["cycles_per_packet.guest"] == pytest.approx(off["cycles_per_packet.guest"],
                                                         rel=0.05)
    # The copies' own cycles (hypervisor's, per segment and byte) hardly move.
    assert on["cycles_per_packet.hypervisor"] == pytest.approx(
        off["cycles_per_packet.hypervisor"], rel=0.15)
