"""The packet stream: what every packet workload produces and every NIC mechanism consumes.

A stream is one numpy structured array of dtype :data:`PACKET_DTYPE`, one record per Ethernet
frame crossing the NIC's port, in time order: received frames (``RX``: wire to host) and
transmitted ones (``TX``: host to wire) of one physical port shared by the VMs.

Fields (48-byte records, no padding)::

    time_ns      uint64  when the frame's first byte is on the port, ns from the stream's
                         first frame (which is at 0); non-decreasing
    dst_mac      uint64  destination MAC, the 48-bit address in the low bits
                         (02:00:00:00:01:01 is 0x020000000101)
    src_mac      uint64  source MAC, likewise
    src_ip       uint32  IPv4 source address (10.0.1.1 is 0x0a000101); 0 for a frame that is not
                         IPv4 (an IPv6 capture stores the XOR of the address's four 32-bit words)
    dst_ip       uint32  IPv4 destination address, likewise
    xid          uint32  ``rpc`` exchange id (1, 2, ...): a request and its response share it;
                         0 for frames outside an exchange
    src_port     uint16  UDP/TCP source port; 0 when there is none
    dst_port     uint16  UDP/TCP destination port
    frame_bytes  uint16  Ethernet frame as RFC 2544 / RFC 5180 count it: destination MAC to FCS,
                         802.1Q tag included, preamble, SFD and inter-frame gap excluded
                         (64 ... 1518 untagged; the wire carries frame_bytes + 20)
    vlan         uint16  802.1Q VLAN id 1..4094 of a tagged frame; 0 untagged
    vm           uint16  the VM the frame belongs to (destination of RX, source of TX): 0, 1, ...
    direction    uint8   :class:`Dir` (1 RX, 2 TX); 0 is never valid, so a zeroed record is caught
    role         uint8   :class:`Role`: 0 data, 1 request, 2 response

The four address fields and two ports are the flow-hash input (RSS hashes (src_ip, dst_ip,
src_port, dst_port)); MAC and VLAN are what a classifier matches to pick a VM's queue or VF.

**Invariants** (:func:`validate`): the first frame is at time 0 and times never decrease;
direction is RX or TX; frame_bytes >= 64 (the Ethernet minimum); vlan <= 4094; MACs fit 48
bits; ``role`` is 0 exactly when ``xid`` is 0; every exchange has one request, then one
response in the other direction, of the same VM, no earlier than the request.

**Rates.** Offered rates follow RFC 5180's definition: a frame of ``F`` bytes occupies
``8 x (F + 20)`` bit times on the wire, so a rate ``R`` Gb/s of ``F``-byte frames is
:func:`line_rate_pps` ``(R, F)`` frames per second (14,880,952 at 10 GbE and 64 B).

>>> s = empty(2)
>>> s["time_ns"] = [0, 68]; s["frame_bytes"] = 64; s["direction"] = Dir.RX
>>> s["dst_mac"] = mac("02:00:00:00:01:01")
>>> validate(s)
>>> print(format_packets(s))
     0        0 ns RX vm0    64 B 00:00:00:00:00:00 > 02:00:00:00:01:01 0.0.0.0:0 > 0.0.0.0:0
     1       68 ns RX vm0    64 B 00:00:00:00:00:00 > 02:00:00:00:01:01 0.0.0.0:0 > 0.0.0.0:0
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import IntEnum

import numpy as np

PACKET_DTYPE = np.dtype(
    [("time_ns", "<u8"), ("dst_mac", "<u8"), ("src_mac", "<u8"),
     ("src_ip", "<u4"), ("dst_ip", "<u4"), ("xid", "<u4"),
     ("src_port", "<u2"), ("dst_port", "<u2"), ("frame_bytes", "<u2"), ("vlan", "<u2"),
     ("vm", "<u2"), ("direction", "u1"), ("role", "u1")],
    align=True,
)
"""No padding (48 bytes, every field at its natural alignment): equal streams have equal bytes."""

MIN_FRAME = 64
"""Smallest Ethernet frame (FCS included)."""
MAX_STANDARD_FRAME = 1518
"""Largest untagged frame at the standard 1500-byte MTU (1522 with an 802.1Q tag)."""
OVERHEAD = 20
"""Bytes on the wire around every frame: preamble (7), SFD (1), minimum inter-frame gap (12)."""
MAX_VLAN = 4094


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
    (48, 3)
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
            f"{int(p['frame_bytes']):5d} B {mac_text(int(p['src_mac']))} > "
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
         0        0 ns TX vm0   128 B 00:00:00:00:00:00 > 00:00:00:00:00:00 0.0.0.0:0 > 0.0.0.0:0 vlan 7 request #1
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
        (np.flatnonzero(packets["vlan"] > MAX_VLAN),
         lambda i: f"vlan {int(packets['vlan'][i])} is above {MAX_VLAN}"),
        (np.flatnonzero((packets["dst_mac"] | packets["src_mac"]) >> np.uint64(48)),
         lambda i: "a MAC address wider than 48 bits"),
        (np.flatnonzero(packets["role"] > Role.RESPONSE),
         lambda i: f"role {int(packets['role'][i])} is not 0, 1 or 2"),
        (np.flatnonzero((packets["role"] == 0) != (packets["xid"] == 0)),
         lambda i: "role and xid must be both 0 or both set"),
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
