"""The pcap reader and writer: hand-built captures, round trips, malformed files, cache."""

from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.errors import InputError
from codesign.params import build
from codesign.registry import Registry
from workloads.filecache import file_digest
from workloads.packets import WORKLOADS, pcap
from workloads.packets.frames import Dir, empty, summarize, validate

DERANDOMIZED = settings(derandomize=True, deadline=None, max_examples=25)
REGISTRY = Registry.of(WORKLOADS)
MAGIC = {False: 0xA1B2C3D4, True: 0xA1B23C4D}


def capture(records: list[tuple[int, int, bytes, int]], *, big: bool = False, nano: bool = False,
            linktype: int = 1, snaplen: int = 65535, version: int = 2) -> bytes:
    """A pcap file built with struct, independently of the writer: (sec, frac, data, orig)."""
    e = ">" if big else "<"
    out = [struct.pack(e + "IHHiIII", MAGIC[nano], version, 4, 0, 0, snaplen, linktype)]
    for sec, frac, data, orig in records:
        out.append(struct.pack(e + "IIII", sec, frac, len(data), orig))
        out.append(data)
    return b"".join(out)


def ether(dst: int, src: int, payload: bytes, ethertype: int = 0x0800,
          tags: tuple[tuple[int, int], ...] = ()) -> bytes:
    head = dst.to_bytes(6, "big") + src.to_bytes(6, "big")
    for tpid, vid in tags:
        head += struct.pack(">HH", tpid, (5 << 13) | vid)  # PCP 5: not part of the VID
    return head + struct.pack(">H", ethertype) + payload


def ipv4(src: int, dst: int, proto: int, l4: bytes, frag: int = 0) -> bytes:
    return struct.pack(">BBHHHBBHII", 0x45, 0, 20 + len(l4), 1, frag, 64, proto, 0, src,
                       dst) + l4


def udp(sport: int, dport: int, body: bytes = b"") -> bytes:
    return struct.pack(">HHHH", sport, dport, 8 + len(body), 0) + body


A, B = 0x0200_0000_0101, 0x02FF_0000_0001


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("nano", [False, True])
def test_hand_built_capture_in_either_byte_order_and_unit(big: bool, nano: bool) -> None:
    unit = 1 if nano else 1000
    frames = [
        ether(A, B, ipv4(0x0B000001, 0x0A000101, 17, udp(10000, 5001, bytes(18)))),
        ether(B, A, ipv4(0x0A000101, 0x0B000002, 6, struct.pack(">HH", 5001, 10001) + bytes(36)),
              tags=((0x8100, 42),)),
        ether(A, B, bytes(28), ethertype=0x0806),  # ARP: no addresses or ports
    ]
    records = [(100, 5_000 // unit * 1, frames[0], 1514),     # snaplen-cut: orig_len kept
               (100, 7_000 // unit, frames[1], len(frames[1])),
               (101, 0, frames[2], len(frames[2]))]
    s = pcap.parse_bytes(capture(records, big=big, nano=nano), "t.pcap")
    assert s["time_ns"].tolist() == [0, 2_000, 1_000_000_000 - 5_000]
    assert s["frame_bytes"].tolist() == [1518, len(frames[1]) + 4, 64]  # + FCS; ARP padded
    assert s["dst_mac"].tolist() == [A, B, A] and s["src_mac"].tolist() == [B, A, B]
    assert s["vlan"].tolist() == [0, 42, 0]
    assert s["src_ip"].tolist() == [0x0B000001, 0x0A000101, 0]
    assert s["dst_ip"].tolist() == [0x0A000101, 0x0B000002, 0]
    assert s["src_port"].tolist() == [10000, 5001, 0] and s["dst_port"].tolist() == [5001,
                                                                                     10001, 0]
    assert s["direction"].tolist() == [0, 0, 0]  # unmarked: the workload parameter decides


def test_qinq_ipv6_fragments_fcs_and_reordering() -> None:
    v6 = (struct.pack(">IHBB", 6 << 28, 12, 17, 64) + bytes(range(16)) + bytes(range(16, 32))
          + udp(1, 2, bytes(4)))
    frames = [
        ether(A, B, ipv4(1, 2, 17, udp(3, 4)), tags=((0x88A8, 7), (0x8100, 9))),
        ether(A, B, v6, ethertype=0x86DD),
        ether(A, B, ipv4(1, 2, 17, udp(3, 4), frag=0x2000 | 10)),  # non-first fragment
    ]
    data = capture([(5, 300, frames[0], len(frames[0]) + 4),
                    (5, 100, frames[1], len(frames[1]) + 4),
                    (5, 100, frames[2], len(frames[2]) + 4)],
                   linktype=1 | 1 << 26 | 2 << 28)  # frames include a 4-byte FCS
    s = pcap.parse_bytes(data, "q.pcap")
    assert s["time_ns"].tolist() == [0, 0, 200_000]  # stable time order
    assert s["vlan"].tolist() == [0, 0, 7]
    words = [int.from_bytes(bytes(range(i, i + 4)), "big") for i in range(0, 32, 4)]
    assert s["src_ip"][0] == words[0] ^ words[1] ^ words[2] ^ words[3]
    assert s["dst_ip"][0] == words[4] ^ words[5] ^ words[6] ^ words[7]
    assert (s["src_port"][0], s["dst_port"][0]) == (1, 2)
    assert (s["src_ip"][1], s["src_port"][1]) == (1, 0)  # fragment: no ports
    assert (s["src_port"][2], s["dst_port"][2]) == (3, 4)
    assert s["frame_bytes"].tolist() == [max(64, len(f) + 4) for f in (frames[1], frames[2],
                                                                       frames[0])]


def streams() -> st.SearchStrategy[np.ndarray]:
    names = [w.name for w in WORKLOADS if w.name != "pcap"]

    @st.composite
    def draw(d: st.DrawFn) -> np.ndarray:
        name = d(st.sampled_from(names))
        values: dict[str, object] = {"workload.seed": d(st.integers(0, 2**32))}
        if name == "rpc":
            values["workload.requests"] = d(st.integers(1, 60))
        else:
            values["workload.packets"] = d(st.integers(1, 120))
            values["workload.offered_gbps"] = d(st.sampled_from([0.5, 3.0, 10.0]))
        if name != "rpc" and name != "bulk":
            values["workload.arrival"] = d(st.sampled_from(["constant", "poisson", "onoff"]))
            values["workload.direction"] = d(st.sampled_from(["rx", "tx", "both"]))
        values["workload.vms"] = d(st.integers(1, 4))
        values["workload.vlan_base"] = d(st.sampled_from([0, 1, 4000]))
        w = REGISTRY.workload(name)
        return w.generate(build(w.params, values))

    return draw()


@DERANDOMIZED
@given(streams(), st.booleans())
def test_any_generated_stream_round_trips(stream: np.ndarray, big: bool) -> None:
    validate(stream)
    data = pcap.to_bytes(stream, big_endian=big)
    back = pcap.parse_bytes(data, "s.pcap")
    assert back.tobytes() == stream.tobytes()
    # µs files hold whole µs: a stream on a µs grid survives.
    coarse = stream.copy()
    coarse["time_ns"] = (coarse["time_ns"] // 1000) * 1000
    data = pcap.to_bytes(coarse, nanoseconds=False, big_endian=big)
    assert int.from_bytes(data[:4], "big" if big else "little") == pcap.MAGIC_US
    assert pcap.parse_bytes(data, "s.pcap").tobytes() == coarse.tobytes()


def test_written_frames_are_real_ethernet_ipv4_udp() -> None:
    s = empty(1)
    s["frame_bytes"], s["direction"], s["vlan"] = 128, Dir.TX, 5
    s["src_ip"], s["dst_ip"], s["src_port"], s["dst_port"] = 0x0A000101, 0x0B000001, 5001, 9
    data = pcap.to_bytes(s)
    sec, frac, incl, orig = struct.unpack("<IIII", data[24:40])
    frame = data[40:]
    assert (sec, frac, incl, orig, len(frame)) == (0, 0, 124, 124, 124)
    assert frame[12:16] == b"\x81\x00\x00\x05" and frame[16:18] == b"\x08\x00"
    ip = frame[18:38]
    total, = struct.unpack(">H", ip[2:4])
    assert total == 124 - 18
    words = struct.unpack(">10H", ip)
    checksum = sum(words)
    while checksum > 0xFFFF:
        checksum = (checksum & 0xFFFF) + (checksum >> 16)
    assert checksum == 0xFFFF  # a valid IPv4 header checksum
    assert struct.unpack(">HHH", frame[38:44]) == (5001, 9, total - 20)
    assert frame[46:50] == pcap.TAG


def test_snaplen_cuts_records_but_keeps_frame_sizes() -> None:
    s = empty(2)
    s["frame_bytes"], s["direction"], s["time_ns"] = [1518, 64], Dir.RX, [0, 5]
    data = pcap.to_bytes(s, snaplen=100)
    assert len(data) == 24 + 16 + 100 + 16 + 60
    assert pcap.parse_bytes(data).tobytes() == s.tobytes()
    short = pcap.to_bytes(s, snaplen=40)  # the tag is cut off: direction no longer known
    back = pcap.parse_bytes(short)
    assert back["frame_bytes"].tolist() == [1518, 64] and back["direction"].tolist() == [0, 0]


GOOD = capture([(1, 0, ether(A, B, bytes(46)), 60), (1, 10, ether(A, B, bytes(46)), 60)])
SECOND = 24 + 16 + 60


MALFORMED = [
    (b"", "truncated pcap global header at byte offset 0: 0 of 24 bytes"),
    (GOOD[:23], "truncated pcap global header at byte offset 0: 23 of 24 bytes"),
    (b"\x0a\x0d\x0d\x0a" + GOOD[4:], "not a pcap file at byte offset 0: magic 0x0a0d0d0a is "
                                     "pcapng"),
    (b"GIF89a" + GOOD[6:], "not a pcap file at byte offset 0: magic 0x47494638 is not"),
    (GOOD[:4] + b"\x03\x00" + GOOD[6:], "unsupported pcap version 3 at byte offset 4"),
    (capture([], linktype=113), "link type 113 at byte offset 20 is not Ethernet"),
    (GOOD[: SECOND + 10], f"truncated record header: 10 of 16 bytes before the end of the file "
                          f"at byte offset {SECOND}"),
    (GOOD[:-1], f"truncated record: incl_len 60 but only 59 bytes before the end of the file at "
                f"byte offset {SECOND}"),
    (capture([(1, 0, bytes(60), 59)]), "bad record: incl_len 60 is more than orig_len 59 at "
                                       "byte offset 24"),
    (capture([(1, 0, bytes(10), 10)]), "bad record: orig_len 10 is shorter than an Ethernet "
                                       "header .* at byte offset 24"),
    (capture([(1, 0, bytes(60), 262_145)]), "bad record: orig_len 262145 is more than 262144 "
                                            "at byte offset 24 \\(record 1\\)$"),
    (GOOD[:SECOND + 8] + struct.pack("<I", 300_000) + GOOD[SECOND + 12:],
     f"bad record: incl_len 300000 is more than 262144 at byte offset {SECOND}"),
    (capture([(1, 1_000_000, bytes(60), 60)]), "bad record: timestamp fraction 1000000 is not "
                                               "below 1000000 at byte offset 24"),
    (capture([(1, 0, ether(A, B, bytes(46), tags=((0x8100, 4095),)), 64)]),
     "bad record: VLAN id 4095 is reserved at byte offset 24"),
]
MALFORMED_IDS = ["empty", "short-header", "pcapng", "gif", "version", "linktype",
                 "cut-record-header", "cut-record-data", "incl-above-orig", "runt-orig",
                 "huge-orig", "huge-incl", "frac", "vlan-4095"]


@pytest.mark.parametrize(("data", "message"), MALFORMED, ids=MALFORMED_IDS)
def test_malformed_files_are_named_with_the_byte_offset(tmp_path: Path, cache: Path,
                                                        data: bytes, message: str) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(data)
    with pytest.raises(InputError) as info:
        pcap.load(path)
    text = str(info.value)
    assert re.match(rf"^{re.escape(str(path))}: {message}", text), text
    assert "\n" not in text
    assert not (cache.exists() and list(cache.glob("*.npz")))  # nothing cached for a bad file


def test_ns_fraction_limit_and_empty_capture() -> None:
    ok = capture([(1, 999_999_999, bytes(60), 60)], nano=True)
    assert len(pcap.parse_bytes(ok)) == 1
    assert len(pcap.parse_bytes(capture([]))) == 0


def test_workload_direction_cache_and_identity(tmp_path: Path, cache: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.pcap"
    path.write_bytes(GOOD)
    w = REGISTRY.workload("pcap")
    rx = w.generate(build(w.params, {"workload.path": str(path)}))
    tx = w.generate(build(w.params, {"workload.path": str(path), "workload.direction": "tx"}))
    validate(rx)
    assert rx["direction"].tolist() == [Dir.RX] * 2 and tx["direction"].tolist() == [Dir.TX] * 2
    assert summarize(rx).duration_ns == 10_000
    calls = []
    parse = pcap.parse_bytes
    monkeypatch.setattr(pcap, "parse_bytes", lambda *a: calls.append(1) or parse(*a))
    moved = tmp_path / "moved.pcap"
    path.rename(moved)
    again = w.generate(build(w.params, {"workload.path": str(moved)}))
    assert calls == [] and again.tobytes() == rx.tobytes()
    digest = file_digest(moved)
    assert [p.name for p in cache.iterdir()] == [f"pcap-v{pcap.FORMAT}-{digest}.npz"]
    one = w.generate(build(w.params, {"workload.path": str(moved), "workload.max_packets": 1}))
    assert len(one) == 1
    moved.write_bytes(gzip.compress(GOOD + GOOD[24:]))  # new content: parsed again, gunzipped
    assert len(w.generate(build(w.params, {"workload.path": str(moved)}))) == 4
    assert calls == [1]
    (cache / f"pcap-v{pcap.FORMAT}-{digest}.npz").write_bytes(b"not a zip")
    moved.write_bytes(GOOD)
    with pytest.warns(RuntimeWarning, match=r"damaged cache entry \(unreadable: "):
        again = w.generate(build(w.params, {"workload.path": str(moved)}))
    assert again.tobytes() == rx.tobytes()
    assert calls == [1, 1]
    assert w.identity(build(w.params, {"workload.path": str(moved)})) == {
        "workload.path": f"sha256:{digest}"}


def test_pcap_needs_a_path() -> None:
    w = REGISTRY.workload("pcap")
    with pytest.raises(InputError, match=r"workload\.path: the pcap workload needs a capture"):
        w.generate(build(w.params, {}))
