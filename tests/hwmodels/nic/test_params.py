"""NIC parameters: defaults from ANCHORS, one-line errors naming the dotted key."""

from __future__ import annotations

import pytest

from hwmodels.nic import NICParams


def test_defaults_are_the_82599_and_e1000_sizes() -> None:
    p = NICParams()
    assert (p.queues, p.filters, p.vlans, p.ring_size) == (128, 128, 4096, 256)
    assert p.itr_cycles == 2500  # 10 us at the 250 MHz clock


@pytest.mark.parametrize(
    ("flat", "message"),
    [
        ({"nic.ring_size": 100}, "nic.ring_size: expected a power of two"),
        ({"nic.queues": 100}, "nic.queues: expected a power of two"),
        ({"nic.queues": 8, "nic.vfs": 8}, "nic.vfs: 9 functions need 16 queue pools"),
        ({"nic.filters": 0}, "nic.filters: expected 1 .. 4096"),
        ({"nic.vlans": 5000}, "nic.vlans: expected a power of two"),
        ({"nic.itr_us": -1}, "nic.itr_us: expected 0 .. 10000"),
        ({"nic.irq_threshold": -1}, "nic.irq_threshold: expected 0 .. 65536"),
        ({"iotlb.entries": 12, "iotlb.ways": 8}, "iotlb.entries: expected a power-of-two"),
        ({"iotlb.policy": "fifo"}, "iotlb.policy: expected one of"),
        ({"iotlb.ways": 3, "iotlb.entries": 6, "iotlb.policy": "plru"},
         "iotlb.ways: plru needs a power of two"),
        ({"link.gbps": 0}, "link.gbps: expected 0 < gbps"),
        ({"nic.queues": "8"}, "nic.queues: expected int"),
        ({"nic.vfs": True}, "nic.vfs: expected int"),
        ({"nic.ringsize": 8}, "nic.ringsize: unknown NIC key"),
    ],
)
def test_invalid_combinations_are_one_line_errors(flat: dict, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        NICParams.from_flat(flat)
    assert str(exc.value).startswith(message)
    assert "\n" not in str(exc.value)


def test_pools_split_queues_like_the_82599() -> None:
    assert NICParams(vfs=63).queues_per_function == 2
    assert NICParams(vfs=64).queues_per_function == 1  # 65 functions: 128 pools of one
    assert NICParams(vfs=31).queues_per_function == 4
    assert NICParams.from_flat({"nic.vfs": 7, "nic.queues": 16}).functions == 8


def test_from_flat_ignores_other_blocks_and_keeps_base() -> None:
    base = NICParams(queues=16)
    p = NICParams.from_flat({"tlb.l1.entries": 4, "nic.ring_size": 64, "seed": 1}, base)
    assert (p.queues, p.ring_size) == (16, 64)


def test_wire_time_matches_the_line_rate_anchor() -> None:
    # 14,880,952 pps at 10 GbE with 64 B frames (RFC 5180): 67.2 ns per frame.
    p = NICParams(clock_mhz=1000.0)
    assert p.wire_cycles(64) == pytest.approx(67.2)
    assert 1e9 / p.wire_cycles(64) == pytest.approx(14_880_952, rel=1e-6)
