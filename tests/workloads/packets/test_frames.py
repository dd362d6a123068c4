"""The packet-stream contract: layout, RFC 5180 line rates, validation, summaries."""

from __future__ import annotations

import re

import numpy as np
import pytest

from workloads.packets import frames
from workloads.packets.frames import (
    MAX_FRAME_BYTES,
    PACKET_DTYPE,
    Dir,
    Role,
    empty,
    format_packets,
    line_rate_pps,
    summarize,
    validate,
    wire_ns,
)


def test_layout_has_no_padding_and_natural_alignment() -> None:
    fields = PACKET_DTYPE.fields
    assert PACKET_DTYPE.itemsize == sum(dt.itemsize for dt, _ in fields.values()) == 56
    for name, (dt, offset) in fields.items():
        assert offset % dt.itemsize == 0, name
    assert PACKET_DTYPE.itemsize % 8 == 0  # time_ns of every record 8-byte aligned
    assert PACKET_DTYPE.names[:3] == ("time_ns", "dst_mac", "src_mac")
    assert PACKET_DTYPE["frame_bytes"] == np.dtype("<u4")


def test_the_docstring_field_table_is_the_layout() -> None:
    table = re.findall(r"^ +(\d+) +([a-z_0-9]+) +(u?int\d+) ", frames.__doc__, re.MULTILINE)
    layout = [(str(off), name, dt.name) for name, (dt, off) in PACKET_DTYPE.fields.items()]
    assert [(o, n, t) for o, n, t in table] == layout


def test_frame_bytes_holds_the_pcap_snap_length() -> None:
    s = good(2)
    s["frame_bytes"] = [65_553, MAX_FRAME_BYTES]
    validate(s)
    assert s["frame_bytes"].tolist() == [65_553, 262_148]


@pytest.mark.parametrize(("gbps", "frame", "pps"), [
    (10, 64, 14_880_952),    # RFC 5180
    (10, 1518, 812_743),     # RFC 5180
    (40, 64, 59_523_809),
    (100, 64, 148_809_523),
    (1, 64, 1_488_095),
])
def test_line_rate_reproduces_rfc_5180(gbps: float, frame: int, pps: int) -> None:
    assert int(line_rate_pps(gbps, frame)) == pps


def test_frame_time_at_10_gbe() -> None:
    assert round(1e9 / line_rate_pps(10, 64), 1) == 67.2
    assert wire_ns(64, 10.0) == pytest.approx(67.2)
    # IMIX average 361.83 B gives about 3.27 Mpps at 10 GbE (ANCHORS).
    avg = (7 * 64 + 4 * 594 + 1518) / 12
    assert line_rate_pps(10, avg) == pytest.approx(3.27e6, rel=2e-3)


def good(n: int = 4) -> np.ndarray:
    s = empty(n)
    s["time_ns"] = np.arange(n) * 100
    s["frame_bytes"] = 64
    s["direction"] = Dir.RX
    return s


BREAKERS = [
    (lambda s: s["time_ns"].__setitem__(slice(None), s["time_ns"] + 5), 0, "first frame is at 5"),
    (lambda s: s["time_ns"].__setitem__(2, 50), 2, "before the previous frame"),
    (lambda s: s["direction"].__setitem__(3, 0), 3, "direction 0"),
    (lambda s: s["direction"].__setitem__(1, 3), 1, "direction 3"),
    (lambda s: s["frame_bytes"].__setitem__(2, 63), 2, "below the Ethernet minimum"),
    (lambda s: s["vlan"].__setitem__(1, 4095), 1, "vlan 4095"),
    (lambda s: s["dst_mac"].__setitem__(2, 1 << 48), 2, "wider than 48 bits"),
    (lambda s: s["role"].__setitem__(1, 3), 1, "role 3"),
    (lambda s: s["xid"].__setitem__(1, 9), 1, "both 0 or both set"),
    (lambda s: s["frame_bytes"].__setitem__(3, MAX_FRAME_BYTES + 1), 3,
     "frame_bytes 262149 is above 262148"),
    (lambda s: s["reserved16"].__setitem__(2, 1), 2, "reserved fields must be 0"),
    (lambda s: s["reserved32"].__setitem__(1, 1), 1, "reserved fields must be 0"),
]


@pytest.mark.parametrize(("breaker", "index", "message"), BREAKERS)
def test_validate_names_the_first_bad_frame(breaker, index: int, message: str) -> None:
    s = good()
    validate(s)
    breaker(s)
    with pytest.raises(ValueError, match=rf"^packet {index}: .*{message}"):
        validate(s)


def exchange() -> np.ndarray:
    s = good(2)
    s["role"] = [Role.REQUEST, Role.RESPONSE]
    s["xid"] = 1
    s["direction"] = [Dir.RX, Dir.TX]
    return s


def test_exchanges_are_a_request_then_a_response_the_other_way() -> None:
    validate(exchange())
    s = exchange()
    s["direction"] = Dir.RX
    with pytest.raises(ValueError, match="exchange 1 is not a request then a response"):
        validate(s)
    s = exchange()
    s["role"] = [Role.RESPONSE, Role.REQUEST]
    with pytest.raises(ValueError, match="exchange 1 is not"):
        validate(s)
    s = exchange()
    s["vm"][1] = 1
    with pytest.raises(ValueError, match="exchange 1 is not"):
        validate(s)
    s = np.concatenate([exchange(), exchange()])
    s["time_ns"] = np.arange(4) * 10
    with pytest.raises(ValueError, match="exchange 1 has 4 frames"):
        validate(s)


def test_validate_rejects_another_dtype() -> None:
    with pytest.raises(ValueError, match="expected PACKET_DTYPE"):
        validate(np.zeros(2, dtype=np.uint64))
    validate(empty())


def test_summarize_counts_and_rates() -> None:
    s = good(5)
    s["frame_bytes"] = [64, 64, 1518, 1518, 64]
    s["direction"] = [1, 2, 1, 1, 2]
    s["src_port"] = [1, 2, 1, 1, 3]
    s["vlan"] = [0, 5, 5, 0, 0]
    s["vm"] = [0, 1, 1, 0, 2]
    c = summarize(s)
    assert (c.packets, c.rx, c.tx, c.tagged, c.vms, c.flows) == (5, 3, 2, 2, 3, 3)
    assert c.bytes == 3 * 64 + 2 * 1518 and c.wire_bytes == c.bytes + 100
    assert c.duration_ns == 400 and c.pps == pytest.approx(1e7)
    assert c.gbps == pytest.approx(8 * (84 + 84 + 1538 + 1538) / 400)
    empty_counts = summarize(empty())
    assert (empty_counts.packets, empty_counts.pps, empty_counts.flows) == (0, 0.0, 0)


def test_format_lists_and_elides() -> None:
    text = format_packets(good(5), limit=2)
    assert text.splitlines()[-1] == "... and 3 more"
    assert len(text.splitlines()) == 3
