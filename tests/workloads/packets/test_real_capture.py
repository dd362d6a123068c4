"""A real capture (tests/data/loopback_http.pcap, recorded by examples/pcap/capture_loopback.py)
through the pcap reader, the writer and a NIC mechanism."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from codesign.harness import Point, evaluate
from workloads.packets import pcap

CAPTURE = Path(__file__).resolve().parents[2] / "data" / "loopback_http.pcap"
LOOPBACK = 0x7F000001


def test_every_record_of_the_real_capture_is_read() -> None:
    data = CAPTURE.read_bytes()
    records = pcap.parse_bytes(data, str(CAPTURE))
    # walk the file by its own record headers: 24-byte global header, 16-byte records
    offset, lengths = 24, []
    while offset < len(data):
        _, _, incl, orig = struct.unpack_from("<IIII", data, offset)
        lengths.append(orig)
        offset += 16 + incl
    assert len(records) == len(lengths) == 60
    # the frame on the wire carries a 4-byte FCS the capture does not
    assert records["frame_bytes"].tolist() == [n + 4 for n in lengths]
    assert np.all(np.diff(records["time_ns"].astype(np.int64)) >= 0)
    assert set(records["src_ip"].tolist()) == set(records["dst_ip"].tolist()) == {LOOPBACK}
    assert not records["vlan"].any()


def test_the_real_capture_round_trips_through_the_writer(tmp_path: Path) -> None:
    records = pcap.parse_bytes(CAPTURE.read_bytes(), str(CAPTURE))
    copy = tmp_path / "copy.pcap"
    pcap.write(records, copy, nanoseconds=False)
    again = pcap.parse_bytes(copy.read_bytes(), str(copy))
    assert np.array_equal(again, records)


def test_the_real_capture_drives_a_nic_mechanism() -> None:
    m = evaluate(Point("pcap", "native-net", params={"workload.path": str(CAPTURE),
                                                      "hw.cost": False}))
    assert m["packets"] == 60 and m["drops"] == 0
    assert 0 < m["latency.p50_us"] < m["latency.p99_us"] + 1e-9
