"""The packet stream: what every packet workload produces and every NIC mechanism consumes.

A stream is one numpy structured array of dtype :data:`PACKET_DTYPE`, one record per Ethernet
frame crossing the NIC's port, in time order: received frames (``RX``: wire to host) and
transmitted ones (``TX``: host to wire) of one physical port shared by the VMs.

Fields (56-byte records, every field at its natural alignment, no implicit padding)::

    offset field        type
     0     time_ns      uint64  when the frame's first byte is on the port, ns from the stream's
                                first frame (which is at 0); non-decreasing
     8     dst_mac      uint64  destination MAC, the 48-bit address in the low bits
                                (02:00:00:00:01:01 is 0x020000000101)
    16     src_mac      uint64  source MAC, likewise
    24     src_ip       uint32  IPv4 source address (10.0.1.1 is 0x0a000101); 0 for a frame that
                                is not IPv4 (an IPv6 capture stores the XOR of the address's four
                                32-bit words)
    28     dst_ip       uint32  IPv4 destination address, likewise
    32     xid          uint32  ``rpc`` exchange id (1, 2, ...): a request and its response share
                                it; 0 for frames outside an exchange
    36     frame_bytes  uint32  Ethernet frame as RFC 2544 / RFC 5180 count it: destination MAC
                                to FCS, 802.1Q tag included, preamble, SFD and inter-frame gap
                                excluded (64 ... 1518 untagged at a 1500-byte MTU; the wire
                                carries frame_bytes + 20). Up to :data:`MAX_FRAME_BYTES`
                                (262,148): a host with TSO/GSO/GRO or BIG TCP captures
                                super-frames far above the MTU (:func:`segment` splits them)
    40     src_port     uint16  UDP/TCP source port; 0 when there is none
    42     dst_port     uint16  UDP/TCP destination port
    44     vlan         uint16  802.1Q VLAN id 1..4094 of a tagged frame; 0 untagged
    46     vm           uint16  the VM the frame belongs to (destination of RX, source of TX):
                                0, 1, ...
    48     direction    uint8   :class:`Dir` (1 RX, 2 TX); 0 is never valid, so a zeroed record
                                is caught
    49     role         uint8   :class:`Role`: 0 data, 1 request, 2 response
    50     reserved16   uint16  always 0: explicit padding, so that equal streams have equal bytes
    52     reserved32   uint32  always 0, likewise (the record is a multiple of 8 bytes so that
                                every record's time_ns stays 8-byte aligned)

The four address fields and two ports are the flow-hash input (RSS hashes (src_ip, dst_ip,
src_port, dst_port)); MAC and VLAN are what a classifier matches to pick a VM's queue or VF.

**Invariants** (:func:`validate`): the first frame is at time 0 and times never decrease;
direction is RX or TX; 64 (the Ethernet minimum) <= frame_bytes <= 262,148; vlan <= 4094;
MACs fit 48 bits; ``role`` is 0 exactly when ``xid`` is 0; the reserved fields are 0; every
exchange has one request, then one response in the other direction, of the same VM, no
earlier than the request.

**Rates.** Offered rates follow RFC 5180's definition: a frame of ``F`` bytes occupies
``8 x (F + 20)`` bit times on the wire, so a rate ``R`` Gb/s of ``F``-byte frames is
:func:`line_rate_pps` ``(R, F)`` frames per second (14,880,952 at 10 GbE and 64 B).

**Super-frames.** A capture from a host with offloads holds frames above its link's MTU
(TSO/GSO on transmit, GRO/LRO on receive; ``tcpdump -i lo`` shows 65,549-byte frames):
:func:`wire_frames` says how many MTU-sized frames each record stands for, and
:func:`segment` cuts the stream's super-frames into them.

>>> s = empty(2)
>>> s["time_ns"] = [0, 68]; s["frame_bytes"] = 64; s["direction"] = Dir.RX
>>> s["dst_mac"] = mac("02:00:00:00:01:01")
>>> validate(s)
>>> print(format_packets(s))
     0        0 ns RX vm0     64 B 00:00:00:00:00:00 > 02:00:00:00:01:01 0.0.0.0:0 > 0.0.0.0:0
     1       68 ns RX vm0     64 B 00:00:00:00:00:00 > 02:00:00:00:01:01 0.0.0.0:0 > 0.0.0.0:0
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from enum import IntEnum

import numpy as np

PACKET_DTYPE = np.dtype(
    [("time_ns", "<u8"), ("dst_mac", "<u8"), ("src_mac", "<u8"),
     ("src_ip", "<u4"), ("dst_ip", "<u4"), ("xid", "<u4"), ("frame_bytes", "<u4"),
     ("src_port", "<u2"), ("dst_port", "<u2"), ("vlan", "<u2"), ("vm", "<u2"),
     ("direction", "u1"), ("role", "u1"), ("reserved16", "<u2"), ("reserved32", "<u4")],
    align=True,
)
"""56 bytes, every field at its natural alignment and no implicit padding (the 6 bytes that
make the record a multiple of 8 are the named, zero ``reserved`` fields): equal streams have
equal bytes."""

MIN_FRAME = 64
"""Smallest Ethernet frame (FCS included)."""
MAX_STANDARD_FRAME = 1518
"""Largest untagged frame at the standard 1500-byte MTU (1522 with an 802.1Q tag)."""
OVERHEAD = 20
"""Bytes on the wire around every frame: preamble (7), SFD (1), minimum inter-frame gap (12)."""
MAX_VLAN = 4094
MAX_SNAPLEN = 262_144
"""libpcap's largest snap length (MAXIMUM_SNAPLEN): the longest packet a capture holds."""
MAX_FRAME_BYTES = MAX_SNAPLEN + 4
"""Largest ``frame_bytes``: a packet of the snap-length maximum plus the 4-byte FCS the capture
does not carry (loopback's 65,549-byte TSO frames, BIG TCP's larger ones all fit)."""
ETHERNET_HEADER = 14
"""Destination and source MAC, EtherType."""
FCS = 4
"""Frame check sequence: counted in ``frame_bytes``."""
VLAN_TAG = 4
"""An 802.1Q tag, counted in ``frame_bytes`` of a tagged frame."""
IP_TCP_HEADERS = 20 + 20
"""IPv4 and TCP headers without options, as :func:`segment` assumes every super-frame carries
(TCP's MSS is the MTU minus these 40 bytes)."""
MIN_MTU = 68
"""IPv4's minimum MTU (RFC 791)."""
MAX_MTU = 65_535
"""Largest MTU an IPv4 total-length field can describe."""


class Dir(IntEnum):
    """``direction``: which way the frame crosses the port."""

    RX = 1
    TX = 2


class Role(IntEnum):
    """``role``: the frame's part in an ``rpc`` exchange."""

    DATA = 0
    REQUEST = 1
    RESPONSE = 2


def empty(n: int = 0) -> np.ndarray:
    """A zeroed stream of ``n`` records (direction 0: invalid until filled).

    >>> empty(3).dtype.itemsize, len(empty(3))
    (56, 3)
    """
    return np.zeros(n, dtype=PACKET_DTYPE)


def line_rate_pps(gbps: float, frame_bytes: float) -> float:
    """Frames per second at ``gbps`` Gb/s of ``frame_bytes``-byte frames (RFC 5180 App. A).

    >>> int(line_rate_pps(10, 64)), int(line_rate_pps(10, 1518))
    (14880952, 812743)
    >>> round(1e9 / line_rate_pps(10, 64), 1)    # ns per frame
    67.2
    """
    return gbps * 1e9 / (8 * (frame_bytes + OVERHEAD))


def wire_ns(frame_bytes: np.ndarray | int, gbps: float) -> np.ndarray | float:
    """Time a frame occupies the wire at ``gbps``, in ns (its 20 bytes of overhead included).

    >>> wire_ns(64, 10.0), wire_ns(np.array([1518]), 10.0).tolist()
    (67.2, [1230.4])
    """
    return 8.0 * (np.asarray(frame_bytes, dtype=np.float64) + OVERHEAD) / gbps \
        if isinstance(frame_bytes, np.ndarray) else 8.0 * (frame_bytes + OVERHEAD) / gbps


def mac(text: str) -> int:
    """A MAC address in the stream's integer form.

    >>> hex(mac("02:00:00:00:01:01"))
    '0x20000000101'
    """
    parts = text.split(":")
    if len(parts) != 6:
        raise ValueError(f"not a MAC address: {text!r}")
    return int("".join(f"{int(p, 16):02x}" for p in parts), 16)


def mac_text(value: int) -> str:
    """The integer form back as text.

    >>> mac_text(0x020000000101)
    '02:00:00:00:01:01'
    """
    return ":".join(f"{(value >> s) & 0xFF:02x}" for s in range(40, -8, -8))


def ip_text(value: int) -> str:
    """An IPv4 address as dotted text.

    >>> ip_text(0x0A000101)
    '10.0.1.1'
    """
    return ".".join(str((value >> s) & 0xFF) for s in (24, 16, 8, 0))


@dataclass(frozen=True)
class Counts:
    """Summary of a stream (see :func:`summarize`)."""

    packets: int
    rx: int
    tx: int
    bytes: int
    """Sum of frame_bytes."""
    wire_bytes: int
    """Sum of frame_bytes + 20: what the frames occupy on the wire."""
    duration_ns: int
    """Time of the last frame."""
    pps: float
    """(packets - 1) / duration: the rate the arrival times carry (0 for fewer than 2)."""
    gbps: float
    """Wire bits of all frames but the last over the duration (RFC 5180's rate)."""
    tagged: int
    vms: int
    flows: int
    """Distinct (src_ip, dst_ip, src_port, dst_port)."""
    requests: int
    responses: int

    def as_dict(self) -> dict[str, float]:
        """Plain dictionary, in field order."""
        return asdict(self)


def summarize(packets: np.ndarray) -> Counts:
    """Counts and rates of a stream, with array operations.

    >>> s = empty(3); s["time_ns"] = [0, 100, 200]; s["frame_bytes"] = 105
    >>> s["direction"] = [1, 2, 1]
    >>> c = summarize(s); c.rx, c.tx, c.pps, c.gbps
    (2, 1, 10000000.0, 10.0)
    """
    n = len(packets)
    direction = packets["direction"]
    size = packets["frame_bytes"].astype(np.int64)
    duration = int(packets["time_ns"][-1]) if n else 0
    wire = size + OVERHEAD
    rate_pps = (n - 1) * 1e9 / duration if n > 1 and duration else 0.0
    rate_gbps = 8.0 * float(wire[:-1].sum()) / duration if n > 1 and duration else 0.0
    flows = 0
    if n:
        key = ((packets["src_ip"].astype(np.uint64) << np.uint64(32)) | packets["dst_ip"],
               (packets["src_port"].astype(np.uint64) << np.uint64(16)) | packets["dst_port"])
        order = np.lexsort(key[::-1])
        changed = np.zeros(n - 1, dtype=bool)
        for c in key:
            ordered = c[order]
            changed |= ordered[1:] != ordered[:-1]
        flows = 1 + int(changed.sum())
    role = packets["role"]
    return Counts(
        packets=n, rx=int((direction == Dir.RX).sum()), tx=int((direction == Dir.TX).sum()),
        bytes=int(size.sum()), wire_bytes=int(wire.sum()), duration_ns=duration,
        pps=rate_pps, gbps=rate_gbps, tagged=int((packets["vlan"] != 0).sum()),
        vms=len(np.unique(packets["vm"])), flows=flows,
        requests=int((role == Role.REQUEST).sum()), responses=int((role == Role.RESPONSE).sum()),
    )


def format_packet(i: int, p: np.void) -> str:
    """One record as a line (see :func:`format_packets`)."""
    direction = Dir(int(p["direction"])).name if int(p["direction"]) in (1, 2) else "??"
    line = (f"{i:6d} {int(p['time_ns']):8d} ns {direction} vm{int(p['vm'])} "
            f"{int(p['frame_bytes']):6d} B {mac_text(int(p['src_mac']))} > "
            f"{mac_text(int(p['dst_mac']))} {ip_text(int(p['src_ip']))}:{int(p['src_port'])} > "
            f"{ip_text(int(p['dst_ip']))}:{int(p['dst_port'])}")
    if p["vlan"]:
        line += f" vlan {int(p['vlan'])}"
    if p["role"]:
        line += f" {Role(int(p['role'])).name.lower()} #{int(p['xid'])}"
    return line


def format_packets(packets: np.ndarray, limit: int | None = 100) -> str:
    """A readable listing, one frame per line (the first ``limit``; None for all).

    >>> s = empty(1); s["direction"] = Dir.TX; s["frame_bytes"] = 128; s["vlan"] = 7
    >>> s["role"] = Role.REQUEST; s["xid"] = 1
    >>> print(format_packets(s))
         0        0 ns TX vm0    128 B 00:00:00:00:00:00 > 00:00:00:00:00:00 0.0.0.0:0 > 0.0.0.0:0 vlan 7 request #1
    """  # noqa: E501
    shown = packets if limit is None else packets[:limit]
    lines = [format_packet(i, p) for i, p in enumerate(shown)]
    if len(shown) < len(packets):
        lines.append(f"... and {len(packets) - len(shown)} more")
    return "\n".join(lines)


def validate(packets: np.ndarray) -> None:
    """Check every invariant of the contract; ``ValueError`` naming the first bad frame.

    >>> s = empty(2); s["direction"] = Dir.RX; s["frame_bytes"] = [64, 60]
    >>> validate(s)
    Traceback (most recent call last):
    ValueError: packet 1: frame_bytes 60 is below the Ethernet minimum of 64
    """
    if packets.dtype != PACKET_DTYPE:
        raise ValueError(f"stream dtype is {packets.dtype}, expected PACKET_DTYPE")
    n = len(packets)
    if n == 0:
        return
    t = packets["time_ns"]
    size = packets["frame_bytes"]
    checks = [
        (np.flatnonzero(t[:1] != 0), lambda i: f"the first frame is at {int(t[i])} ns, not 0"),
        (np.flatnonzero(t[1:] < t[:-1]) + 1,
         lambda i: f"time {int(t[i])} ns is before the previous frame's {int(t[i - 1])} ns"),
        (np.flatnonzero((packets["direction"] != Dir.RX) & (packets["direction"] != Dir.TX)),
         lambda i: f"direction {int(packets['direction'][i])} is not RX (1) or TX (2)"),
        (np.flatnonzero(size < MIN_FRAME),
         lambda i: f"frame_bytes {int(size[i])} is below the Ethernet minimum of {MIN_FRAME}"),
        (np.flatnonzero(size > MAX_FRAME_BYTES),
         lambda i: f"frame_bytes {int(size[i])} is above {MAX_FRAME_BYTES} (the pcap snap-length "
                   f"maximum {MAX_SNAPLEN} plus the FCS)"),
        (np.flatnonzero(packets["vlan"] > MAX_VLAN),
         lambda i: f"vlan {int(packets['vlan'][i])} is above {MAX_VLAN}"),
        (np.flatnonzero((packets["dst_mac"] | packets["src_mac"]) >> np.uint64(48)),
         lambda i: "a MAC address wider than 48 bits"),
        (np.flatnonzero(packets["role"] > Role.RESPONSE),
         lambda i: f"role {int(packets['role'][i])} is not 0, 1 or 2"),
        (np.flatnonzero((packets["role"] == 0) != (packets["xid"] == 0)),
         lambda i: "role and xid must be both 0 or both set"),
        (np.flatnonzero((packets["reserved16"] != 0) | (packets["reserved32"] != 0)),
         lambda i: "the reserved fields must be 0"),
    ]
    found = [(int(bad[0]), k) for k, (bad, _) in enumerate(checks) if len(bad)]
    if found:
        i, k = min(found)
        raise ValueError(f"packet {i}: {checks[k][1](i)}")
    _check_exchanges(packets)


def _check_exchanges(packets: np.ndarray) -> None:
    idx = np.flatnonzero(packets["xid"] != 0)
    if not len(idx):
        return
    xid = packets["xid"][idx]
    order = np.lexsort((idx, xid))
    idx, xid = idx[order], xid[order]
    starts = np.flatnonzero(np.concatenate(([True], xid[1:] != xid[:-1])))
    counts = np.diff(np.append(starts, len(xid)))
    bad = np.flatnonzero(counts != 2)
    if len(bad):
        i = int(idx[starts[bad[0]]])
        raise ValueError(f"packet {i}: exchange {int(xid[starts[bad[0]]])} has "
                         f"{int(counts[bad[0]])} frames, not a request and a response")
    req, rsp = packets[idx[starts]], packets[idx[starts + 1]]
    wrong = ((req["role"] != Role.REQUEST) | (rsp["role"] != Role.RESPONSE)
             | (req["direction"] == rsp["direction"]) | (req["vm"] != rsp["vm"]))
    bad = np.flatnonzero(wrong)
    if len(bad):
        i = int(idx[starts[bad[0]] + 1])
        raise ValueError(f"packet {i}: exchange {int(req['xid'][bad[0]])} is not a request then "
                         "a response in the other direction of the same VM")


def _check_link(mtu: int, link_gbps: float) -> None:
    if isinstance(mtu, bool) or not isinstance(mtu, int | np.integer) \
            or not MIN_MTU <= mtu <= MAX_MTU:
        raise ValueError(f"mtu {mtu!r} is not an integer from {MIN_MTU} to {MAX_MTU} bytes")
    # 1 kb/s resolution, as the generators' constant rates: the ns arithmetic stays exact.
    if isinstance(link_gbps, bool) or not isinstance(link_gbps, numbers.Real) \
            or not (math.isfinite(link_gbps) and 0.001 <= link_gbps <= 1e6):
        raise ValueError(f"link_gbps {link_gbps!r} is not a speed from 0.001 to 1000000 Gb/s")


def _super_frames(packets: np.ndarray, mtu: int) -> tuple[np.ndarray, ...]:
    """(index, frame_bytes, bytes of headers + FCS, segments) of the super-frames, as int64."""
    size = packets["frame_bytes"]
    # Only frames above the untagged limit can be super-frames: the rest is not looked at
    # (streams are mostly ordinary frames, and millions long).
    index = np.flatnonzero(size > mtu + ETHERNET_HEADER + FCS)
    size = size[index].astype(np.int64)
    tag = np.where(packets["vlan"][index] != 0, VLAN_TAG, 0)
    over = size > mtu + ETHERNET_HEADER + FCS + tag
    index, size, tag = index[over], size[over], tag[over]
    head = ETHERNET_HEADER + FCS + IP_TCP_HEADERS + tag
    # A super-frame's payload is above one MSS (its size is above the limit): >= 2 segments.
    count = -(-(size - head) // (mtu - IP_TCP_HEADERS))
    return index, size, head, count


def wire_frames(packets: np.ndarray, mtu: int = 1500) -> np.ndarray:
    """How many frames each record stands for on a link of ``mtu`` bytes: 1 for an ordinary
    frame, ``ceil(payload / MSS)`` for a super-frame (see :func:`segment`), as int64.

    >>> s = empty(3); s["frame_bytes"] = [1518, 1519, 65553]; s["vlan"] = [0, 5, 0]
    >>> wire_frames(s).tolist()                  # 1519 B tagged is within 1500 + 14 + 4 + 4
    [1, 1, 45]
    >>> wire_frames(s, mtu=9000).tolist()
    [1, 1, 8]
    """
    _check_link(mtu, 10.0)
    index, _, _, count = _super_frames(packets, mtu)
    out = np.ones(len(packets), dtype=np.int64)
    out[index] = count
    return out


def segment(packets: np.ndarray, mtu: int = 1500, link_gbps: float = 10.0, *,
            copy: bool = True) -> tuple[np.ndarray, int]:
    """(the stream with every super-frame cut into MTU-sized frames, number of super-frames
    cut): what a host with TSO/GSO puts on the wire for the super-frames its capture shows.

    A *super-frame* is a record whose ``frame_bytes`` exceeds ``mtu`` + 14 (Ethernet header)
    + 4 (FCS), + 4 more when it is 802.1Q-tagged (``vlan`` set): 1518 / 1522 at the standard
    MTU. Every super-frame is taken as TCP over IPv4 with 40 bytes of headers and no options
    (the record does not say the protocol; a TCP option such as the timestamps' 12 bytes is
    then counted as payload): its payload is ``frame_bytes - 58`` (- 4 more tagged), and it
    becomes ``ceil(payload / MSS)`` segments, ``MSS = mtu - 40``, each repeating the Ethernet
    (+ tag), IPv4 and TCP headers and the FCS: full segments of ``mtu + 18`` (+ 4) bytes and a
    last one with the rest of the payload (padded to the 64-byte minimum if shorter). So the
    payload is conserved and ``frame_bytes`` of the segments add up to the super-frame's plus
    ``58`` (+ 4) per extra segment (plus any padding).

    Segments keep every field of their super-frame (addresses, ports, vm, vlan, direction)
    but time, size and exchange: the first segment keeps the super-frame's time, xid and role
    (it takes the super-frame's place, so an ``rpc`` request still precedes its response and
    :func:`validate` still sees one request and one response per exchange); the others are
    data (xid 0, role 0), each ``8 x (F + 20)`` bits (RFC 5180) after the previous segment at
    ``link_gbps``, the start times rounded up to the ns (``ceil`` of the exact sums: never
    early, no drift). Segments are not serialized against the stream's other frames, which
    keep their times: the result is a stable merge by time (a segment before a later frame of
    the same time). Ordinary frames are unchanged. The result is a new array (``copy=False``:
    the input itself when it holds no super-frame, for a reader that does not change it).

    >>> s = empty(2); s["direction"] = Dir.RX; s["frame_bytes"] = [3000, 64]
    >>> s["time_ns"] = [0, 1000]; s["xid"] = [1, 0]; s["role"] = [Role.REQUEST, 0]
    >>> out, cut = segment(s)     # 3000 - 58 = 2942 B of payload: 1460 + 1460 + 22
    >>> cut, out["frame_bytes"].tolist(), out["time_ns"].tolist(), out["xid"].tolist()
    (1, [1518, 64, 1518, 80], [0, 1000, 1231, 2461], [1, 0, 0, 0])
    >>> segment(s, mtu=40)
    Traceback (most recent call last):
    ValueError: mtu 40 is not an integer from 68 to 65535 bytes
    """
    if packets.dtype != PACKET_DTYPE:
        raise ValueError(f"stream dtype is {packets.dtype}, expected PACKET_DTYPE")
    _check_link(mtu, link_gbps)
    sup, size, head, count = _super_frames(packets, mtu)
    if not len(sup):
        return (packets.copy() if copy else packets), 0
    # The first segment takes its super-frame's place (same time, xid, role): only the
    # others (the "extras") are new records, merged in. Every segment but the last is full,
    # so segment j starts j full segments' wire time after the first: no running sum.
    mss = mtu - IP_TCP_HEADERS
    full = head + mss
    more = count - 1
    owner = np.repeat(np.arange(len(sup)), more)
    j = np.arange(int(more.sum()), dtype=np.int64) - np.repeat(np.cumsum(more) - more, more) + 1
    kbps = round(link_gbps * 1e6)  # 1 kb/s resolution: ns = bits x 1e6 / kbps, exactly
    bits = 8 * (full + OVERHEAD)
    t = packets["time_ns"][sup][owner] \
        + ((j * bits[owner] * 1_000_000 + kbps - 1) // kbps).astype(np.uint64)
    last = np.maximum(size - more * mss, MIN_FRAME)
    seg = np.where(j == more[owner], last[owner], full[owner])
    if len(t) > 1 and (t[1:] < t[:-1]).any():  # the segments of close super-frames interleave
        order = np.argsort(t, kind="stable")
        t, seg, owner = t[order], seg[order], owner[order]
    # Stable merge: a segment goes before any frame of the same time, which is always a later
    # frame of the stream (segments after the first start after their super-frame).
    before = np.searchsorted(packets["time_ns"], t, side="left")
    at = before + np.arange(len(t))
    out = np.empty(len(packets) + len(t), dtype=PACKET_DTYPE)
    keep = np.ones(len(out), dtype=bool)
    keep[at] = False
    out[keep] = packets
    first = sup + np.searchsorted(before, sup, side="right")  # where the super-frames went
    out["frame_bytes"][first] = full
    out[at] = packets[sup[owner]]
    out["time_ns"][at] = t
    out["frame_bytes"][at] = seg
    out["xid"][at] = 0
    out["role"][at] = Role.DATA
    return out, len(sup)


def segment_pieces(pieces: Iterable[np.ndarray], mtu: int = 1500, link_gbps: float = 10.0,
                   ) -> Iterator[tuple[np.ndarray, int]]:
    """:func:`segment` of a stream given in consecutive pieces (each in time order, none
    before the previous one's last frame): the segmented stream in pieces, each with the
    number of super-frames its input cut. Joined, they are exactly ``segment`` of the whole
    stream: the segments a piece's super-frames put after the next piece's first frame are
    held back and merged into the next piece, before its frames of the same time (as
    ``segment`` puts a segment before any frame of its time), earlier super-frames first.
    A piece without super-frames comes out as a view of itself, not a copy: for readers.

    >>> s = empty(3); s["direction"] = Dir.RX; s["frame_bytes"] = [3000, 64, 64]
    >>> s["time_ns"] = [0, 1000, 2000]
    >>> whole, _ = segment(s)
    >>> parts = list(segment_pieces([s[:1], s[1:2], s[2:]]))
    >>> [len(p) for p, _ in parts], sum(c for _, c in parts)
    ([1, 2, 2], 1)
    >>> bool((np.concatenate([p for p, _ in parts]) == whole).all())
    True
    """
    held = empty(0)
    pending: tuple[np.ndarray, int] | None = None
    for piece in pieces:
        if pending is not None and len(piece):
            out, cut = pending
            # A prefix (the piece is in time order): only segments come after the next
            # piece's first frame.
            split = int(np.searchsorted(out["time_ns"], piece["time_ns"][0], side="right"))
            held = out[split:]
            yield out[:split], cut
            pending = None
        if pending is not None:  # an empty piece: nothing decides yet
            continue
        out, cut = segment(piece, mtu, link_gbps, copy=False)
        if len(held):
            # Held segments go before the piece's records of their time.
            at = np.searchsorted(out["time_ns"], held["time_ns"], side="left")
            out = np.insert(out, at, held)
            held = empty(0)
        pending = (out, cut)
    if pending is not None:
        yield pending

