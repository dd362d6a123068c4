"""``pcap``: a real capture as a packet stream, and a writer so generated streams replay.

**Format** (libpcap, not pcapng): a 24-byte global header — magic ``0xa1b2c3d4`` (µs
timestamps) or ``0xa1b23c4d`` (ns), written in the file's byte order, so ``d4 c3 b2 a1`` is a
little-endian µs file; version 2.x; snaplen; link type — then per packet a 16-byte header
(ts_sec, ts_frac, incl_len, orig_len) and incl_len captured bytes. Only link type 1
(Ethernet) is read. A gzip-compressed file is decompressed first (byte offsets in errors are
then offsets into the decompressed capture).

**Frames.** ``frame_bytes`` is ``orig_len + 4``: captures carry no FCS (when the link-type
field's FCS bit says they do, its length is taken off instead), and a frame shorter than the
64-byte minimum (a transmit captured before the NIC padded it) counts as 64. A snaplen-cut
packet keeps ``orig_len``. Any size up to the snap-length maximum (orig_len 262,144) loads:
``tcpdump -i lo`` shows 65,549-byte frames (loopback's 65,536-byte MTU), and a host with
TSO/GSO/GRO or BIG TCP captures super-frames far above its link's MTU; they stay whole here
(:func:`~workloads.packets.frames.segment` cuts them into the frames the wire carried).
MACs come from the Ethernet header; an 802.1Q or 802.1ad tag gives ``vlan`` (the outer tag's
VID; inner tags are skipped); IPv4 gives addresses, and TCP or UDP ports unless the packet is
a non-first fragment; IPv6 gives the XOR of each address's four 32-bit words and the ports of
TCP or UDP directly after the fixed header. Whatever the capture does not hold is 0.

**Time.** ``time_ns`` is each timestamp minus the earliest, in ns (µs files: x 1000). A
capture whose timestamps step back (multi-queue capture) is put in time order (stable).

**Direction, VM, exchanges.** A capture does not say which way a frame crossed the port:
``workload.direction`` sets it, VM 0, no exchanges — except for frames :func:`write` made,
which carry their own in a 12-byte tag at the start of the UDP payload (``CDSG``, xid u32, vm
u16, direction u8, role u8, big-endian). So any valid stream written and read back is the same
array, as long as the frames were not cut shorter than headers + tag (62 bytes with a VLAN
tag: the writer's snaplen default keeps whole frames).

**Errors.** A file shorter than its header, with a wrong magic (pcapng included), a version
other than 2, another link type, a record header or data cut off by the end of the file, or a
bad record (incl_len above orig_len, the header's snaplen or 262144, orig_len below 14 or
above 262144, a sub-second timestamp part of a second or more, VLAN id 4095) is an
:class:`~codesign.errors.InputError` naming the file and the byte offset of the offending
field's record (and the record's number, from 1) or header. A snaplen of 0 (or 2**31 and
more) sets no limit, as libpcap reads it. :func:`load` also refuses a capture with no record
(nothing to replay), a file that is not a regular file, one larger than
``$CODESIGN_MAX_INPUT_BYTES`` (16 GiB; for a ``.gz`` file, its inflated size), and a corrupt
``.gz`` file (named with the bytes readable before the damage).

**Cache.** As for lackey: the parse is cached as an ``.npz`` named by the SHA-256 of the file
in ``$CODESIGN_CACHE`` (``~/.cache/codesign``), checked before use (its checksum, then
:func:`check_records`) and rebuilt with a warning when damaged; the design-point key uses that
digest in place of ``workload.path`` (:func:`identity`), and :func:`generate` refuses a file
whose bytes changed after its key was computed.

**Large captures.** A capture larger than :func:`~codesign.inputfile.stream_limit` (256 MiB;
a ``.gz`` file counted at :data:`GZIP_RATIO` times its size) is not parsed into memory:
:func:`generate` returns it in pieces (:func:`streamed`), parsed a block at a time on every
pass and put in time order with a bounded look-ahead; the same frames, the same errors.

>>> import os, tempfile
>>> from workloads.packets.synthetic import FixedParams, generate_fixed
>>> s = generate_fixed(FixedParams(packets=3, offered_gbps=1.0, vlan_base=7))
>>> with tempfile.TemporaryDirectory() as d:
...     os.environ["CODESIGN_CACHE"] = d
...     path = os.path.join(d, "s.pcap")
...     write(s, path)
...     back = generate(PcapParams(path=path))
...     del os.environ["CODESIGN_CACHE"]
>>> bool((back == s).all()), back["vlan"].tolist()
(True, [7, 7, 7])
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np

from codesign.errors import InputError
from codesign.params import param
from codesign.registry import Workload
from codesign.resultcache import cached
from workloads.filecache import (
    Readable,
    cached_parse,
    changed,
    confirm_digest,
    file_digest,
    file_stamp,
    key_digest,
    layout_problem,
    text_pieces,
    too_large_to_hold,
)
from workloads.packets.chunked import FrameChunks, Stream
from workloads.packets.frames import (
    MAX_FRAME_BYTES,
    MAX_SNAPLEN,
    MAX_VLAN,
    MIN_FRAME,
    PACKET_DTYPE,
    Dir,
)

FORMAT = 3
"""Version of the cached form; part of its file name (2: with a checksum, snaplen checked;
3: 56-byte records, ``frame_bytes`` uint32 up to 262,148)."""
MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D
PCAPNG = 0x0A0D0D0A
LINKTYPE_ETHERNET = 1
MAX_RECORD = MAX_SNAPLEN
"""Largest incl_len libpcap accepts (262,144), and the largest orig_len read."""
TAG = b"CDSG"
_TAG_WORD = int.from_bytes(TAG, "big")

_ERRORS = {
    1: "truncated record header: {a} of 16 bytes before the end of the file",
    2: "truncated record: incl_len {a} but only {b} bytes before the end of the file",
    3: "bad record: incl_len {a} is more than orig_len {b}",
    4: "bad record: incl_len {a} is more than {b}",
    5: "bad record: orig_len {a} is shorter than an Ethernet header (14)",
    6: "bad record: orig_len {a} is more than {b}",
    7: "bad record: timestamp fraction {a} is not below {b}",
    8: "bad record: VLAN id 4095 is reserved",
    9: "bad record: incl_len {a} is more than the snaplen {b} of the global header",
}


@numba.njit(cache=True, inline="always")
def _u32(buf, p, big):  # pragma: no cover - compiled
    if big:
        return (np.uint32(buf[p]) << 24) | (np.uint32(buf[p + 1]) << 16) \
            | (np.uint32(buf[p + 2]) << 8) | np.uint32(buf[p + 3])
    return (np.uint32(buf[p + 3]) << 24) | (np.uint32(buf[p + 2]) << 16) \
        | (np.uint32(buf[p + 1]) << 8) | np.uint32(buf[p])


@numba.njit(cache=True, inline="always")
def _be(buf, p, n):  # pragma: no cover - compiled
    v = np.uint64(0)
    for k in range(n):
        v = (v << np.uint64(8)) | np.uint64(buf[p + k])
    return v


@numba.njit(cache=True)
def _parse(buf, big, nano, fcs, snaplen, out, ts):  # pragma: no cover - via parse_bytes
    n = len(buf)
    p = 24
    k = 0
    unit = np.int64(1) if nano else np.int64(1000)
    limit = np.uint32(1_000_000_000) if nano else np.uint32(1_000_000)
    while p < n:
        if n - p < 16:
            return np.int64(k), np.int64(1), np.int64(p), np.int64(n - p), np.int64(0)
        sec = _u32(buf, p, big)
        frac = _u32(buf, p + 4, big)
        incl = _u32(buf, p + 8, big)
        orig = _u32(buf, p + 12, big)
        if frac >= limit:
            return np.int64(k), np.int64(7), np.int64(p), np.int64(frac), np.int64(limit)
        if incl > MAX_RECORD:
            return np.int64(k), np.int64(4), np.int64(p), np.int64(incl), np.int64(MAX_RECORD)
        if incl > snaplen:
            return np.int64(k), np.int64(9), np.int64(p), np.int64(incl), np.int64(snaplen)
        if incl > orig:
            return np.int64(k), np.int64(3), np.int64(p), np.int64(incl), np.int64(orig)
        if orig < 14:
            return np.int64(k), np.int64(5), np.int64(p), np.int64(orig), np.int64(0)
        if orig > MAX_RECORD:
            return np.int64(k), np.int64(6), np.int64(p), np.int64(orig), np.int64(MAX_RECORD)
        d = p + 16
        if n - d < incl:
            return np.int64(k), np.int64(2), np.int64(p), np.int64(incl), np.int64(n - d)
        r = out[k]
        ts[k] = np.int64(sec) * np.int64(1_000_000_000) + np.int64(frac) * unit
        size = np.int64(orig) + 4 - fcs
        r.frame_bytes = max(size, MIN_FRAME)
        m = np.int64(incl)
        if m >= 12:
            r.dst_mac = _be(buf, d, 6)
            r.src_mac = _be(buf, d + 6, 6)
        l3 = 12
        et = 0
        if m >= 14:
            et = int(_be(buf, d + 12, 2))
        first = True
        while (et == 0x8100 or et == 0x88A8) and m >= l3 + 6:
            vid = int(_be(buf, d + l3 + 2, 2)) & 0xFFF
            if first:
                if vid == 4095:
                    return np.int64(k), np.int64(8), np.int64(p), np.int64(0), np.int64(0)
                r.vlan = vid
                first = False
            l3 += 4
            et = int(_be(buf, d + l3, 2))
        l3 += 2
        if et == 0x0800 and m >= l3 + 20:
            ihl = int(buf[d + l3] & 15) * 4
            proto = int(buf[d + l3 + 9])
            frag = int(_be(buf, d + l3 + 6, 2)) & 0x1FFF
            r.src_ip = _be(buf, d + l3 + 12, 4)
            r.dst_ip = _be(buf, d + l3 + 16, 4)
            l4 = l3 + ihl
            if (proto == 6 or proto == 17) and frag == 0 and ihl >= 20 and m >= l4 + 4:
                r.src_port = _be(buf, d + l4, 2)
                r.dst_port = _be(buf, d + l4 + 2, 2)
                t = l4 + 8
                if proto == 17 and m >= t + 12 and _be(buf, d + t, 4) == _TAG_WORD:
                    direction = buf[d + t + 10]
                    role = buf[d + t + 11]
                    if (direction == 1 or direction == 2) and role <= 2:
                        r.xid = _be(buf, d + t + 4, 4)
                        r.vm = _be(buf, d + t + 8, 2)
                        r.direction = direction
                        r.role = role
        elif et == 0x86DD and m >= l3 + 40:
            s = np.uint64(0)
            t6 = np.uint64(0)
            for w in range(4):
                s ^= _be(buf, d + l3 + 8 + 4 * w, 4)
                t6 ^= _be(buf, d + l3 + 24 + 4 * w, 4)
            r.src_ip = s
            r.dst_ip = t6
            nh = int(buf[d + l3 + 6])
            l4 = l3 + 40
            if (nh == 6 or nh == 17) and m >= l4 + 4:
                r.src_port = _be(buf, d + l4, 2)
                r.dst_port = _be(buf, d + l4 + 2, 2)
        k += 1
        p = d + incl
    return np.int64(k), np.int64(0), np.int64(p), np.int64(0), np.int64(0)


def parse_bytes(data: bytes | np.ndarray, name: str = "<bytes>") -> np.ndarray:
    """The records of a pcap file's bytes, direction 0 where the capture does not say.

    >>> parse_bytes(b"\\xd4\\xc3\\xb2\\xa1" + bytes(10), "x.pcap")
    Traceback (most recent call last):
    codesign.errors.InputError: x.pcap: truncated pcap global header at byte offset 0: 14 of 24 bytes
    >>> parse_bytes(b"\\x0a\\x0d\\x0d\\x0a" + bytes(28), "x.pcapng")
    Traceback (most recent call last):
    codesign.errors.InputError: x.pcapng: not a pcap file at byte offset 0: magic 0x0a0d0d0a is pcapng, which is not read; convert it with 'editcap -F pcap'
    >>> head = bytes.fromhex("d4c3b2a1 0200 0400 00000000 00000000 40000000 01000000")
    >>> parse_bytes(head + (1).to_bytes(4, "little") * 2 + bytes.fromhex("41000000 41000000"))
    Traceback (most recent call last):
    codesign.errors.InputError: <bytes>: bad record: incl_len 65 is more than the snaplen 64 of the global header at byte offset 24 (record 1)
    """  # noqa: E501
    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes | bytearray) else data
    big, nano, fcs, snaplen = _header(bytes(buf[:24]), name)
    out = np.zeros((len(buf) - 24) // 16, dtype=PACKET_DTYPE)
    ts = np.zeros(len(out), dtype=np.int64)
    count, err, offset, a, b = _parse(buf, big, nano, fcs, snaplen, out, ts)
    if err:
        raise _record_error(name, err, offset, a, b, count)
    out, ts = out[:count], ts[:count]
    if count and (ts[1:] < ts[:-1]).any():
        order_ = np.argsort(ts, kind="stable")
        out, ts = out[order_], ts[order_]
    if count:
        out["time_ns"] = ts - ts[0]
    return out


def _record_error(name: str, err: int, offset: int, a: int, b: int, count: int) -> InputError:
    return InputError(f"{name}: {_ERRORS[err].format(a=a, b=b)} at byte offset {offset} "
                      f"(record {count + 1})")


def _header(head: bytes, name: str) -> tuple[bool, bool, int, int]:
    """(big-endian, ns timestamps, FCS bytes per record, snaplen) of a global header."""
    if len(head) < 24:
        raise InputError(f"{name}: truncated pcap global header at byte offset 0: "
                         f"{len(head)} of 24 bytes")
    little, bigm = int.from_bytes(head[:4], "little"), int.from_bytes(head[:4], "big")
    if little in (MAGIC_US, MAGIC_NS):
        big, magic = False, little
    elif bigm in (MAGIC_US, MAGIC_NS):
        big, magic = True, bigm
    else:
        what = "is pcapng, which is not read; convert it with 'editcap -F pcap'" \
            if bigm == PCAPNG else f"is not {MAGIC_US:#010x} (µs) or {MAGIC_NS:#010x} (ns) " \
            "in either byte order"
        raise InputError(f"{name}: not a pcap file at byte offset 0: magic {bigm:#010x} {what}")
    order = "big" if big else "little"
    major = int.from_bytes(head[4:6], order)
    if major != 2:
        raise InputError(f"{name}: unsupported pcap version {major} at byte offset 4 "
                         "(expected 2)")
    network = int.from_bytes(head[20:24], order)
    if network & 0xFFFF != LINKTYPE_ETHERNET:
        raise InputError(f"{name}: link type {network & 0xFFFF} at byte offset 20 is not "
                         "Ethernet (1)")
    fcs = 2 * (network >> 28) if network & (1 << 26) else 0
    snaplen = int.from_bytes(head[16:20], order)
    if snaplen == 0 or snaplen >= 2**31:  # libpcap reads these as "no limit given"
        snaplen = MAX_RECORD
    return big, magic == MAGIC_NS, fcs, snaplen


def record_blocks(path: str, name: str, block: int = 1 << 24,
                  ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(records, timestamps in ns) of the capture at ``path`` in file order, about ``block``
    bytes of it at a time (inflated when it is gzip data): :func:`parse_bytes`' records
    before their ordering in time, with its errors at the same offsets. A record cut by a
    block's end is parsed with the next."""
    fmt: tuple[bool, bool, int, int] | None = None
    carry = b""
    at = 0  # the byte offset in the capture of carry's first byte
    count = 0
    head = b""
    for piece in text_pieces(path, _gunzip_error, size=block):
        data = carry + piece
        if fmt is None:
            if len(data) < 24:
                carry = data
                continue
            head, data, at = data[:24], data[24:], 24
            fmt = _header(head, name)
        buf = np.frombuffer(head + data, dtype=np.uint8)
        out = np.zeros(len(data) // 16, dtype=PACKET_DTYPE)
        ts = np.zeros(len(out), dtype=np.int64)
        k, err, offset, a, b = _parse(buf, *fmt, out, ts)
        if err and err not in (1, 2):  # 1, 2: cut off by the block's end, not the file's
            raise _record_error(name, err, at + offset - 24, a, b, count + k)
        used = offset - 24 if err else len(data)
        carry = data[used:]
        at += used
        count += k
        yield out[:k], ts[:k]
    if fmt is None:
        _header(carry, name)  # raises: the file ends inside its global header
    elif carry:  # the file ends inside a record: its error, where the whole parse gives it
        assert fmt is not None
        k, err, offset, a, b = _parse(np.frombuffer(head + carry, dtype=np.uint8), *fmt,
                                      np.zeros(1, dtype=PACKET_DTYPE), np.zeros(1, np.int64))
        raise _record_error(name, err, at + offset - 24, a, b, count + k)


@numba.njit(cache=True)
def _write(rec, buf, offsets, incl, big, nano):  # pragma: no cover - compiled; tested via write
    for k in range(len(rec)):
        p = offsets[k]
        t = np.uint64(rec.time_ns[k])
        sec = t // np.uint64(1_000_000_000)
        frac = t % np.uint64(1_000_000_000)
        if not nano:
            frac //= np.uint64(1000)
        orig = np.uint64(rec.frame_bytes[k]) - np.uint64(4)
        for j, v in enumerate((sec, frac, np.uint64(incl[k]), orig)):
            for b in range(4):
                shift = np.uint64(8 * (3 - b) if big else 8 * b)
                buf[p + 4 * j + b] = (v >> shift) & np.uint64(255)
        frame = np.zeros(60, dtype=np.uint8)
        _put(frame, 0, rec.dst_mac[k], 6)
        _put(frame, 6, rec.src_mac[k], 6)
        q = 12
        if rec.vlan[k]:
            _put(frame, 12, np.uint64(0x8100), 2)
            _put(frame, 14, np.uint64(rec.vlan[k]), 2)
            q = 16
        _put(frame, q, np.uint64(0x0800), 2)
        ip = q + 2
        ip_len = np.uint64(orig) - np.uint64(ip)
        # Above 64 KiB the 16-bit length fields cannot hold it: 0, as Linux BIG TCP writes
        # IPv4's total length (and RFC 2675 a UDP jumbogram's length); the record has the size.
        jumbo = ip_len > np.uint64(0xFFFF)
        total_len = np.uint64(0) if jumbo else ip_len
        udp_len = np.uint64(0) if jumbo else ip_len - np.uint64(20)
        frame[ip] = 0x45
        _put(frame, ip + 2, total_len, 2)
        _put(frame, ip + 6, np.uint64(0x4000), 2)
        frame[ip + 8] = 64
        frame[ip + 9] = 17
        _put(frame, ip + 12, np.uint64(rec.src_ip[k]), 4)
        _put(frame, ip + 16, np.uint64(rec.dst_ip[k]), 4)
        csum = 0
        for w in range(10):
            csum += (int(frame[ip + 2 * w]) << 8) | int(frame[ip + 2 * w + 1])
        while csum > 0xFFFF:
            csum = (csum & 0xFFFF) + (csum >> 16)
        _put(frame, ip + 10, np.uint64(~csum & 0xFFFF), 2)
        u = ip + 20
        _put(frame, u, np.uint64(rec.src_port[k]), 2)
        _put(frame, u + 2, np.uint64(rec.dst_port[k]), 2)
        _put(frame, u + 4, udp_len, 2)
        _put(frame, u + 8, np.uint64(_TAG_WORD), 4)
        _put(frame, u + 12, np.uint64(rec.xid[k]), 4)
        _put(frame, u + 16, np.uint64(rec.vm[k]), 2)
        frame[u + 18] = rec.direction[k]
        frame[u + 19] = rec.role[k]
        for b in range(min(incl[k], 60)):
            buf[p + 16 + b] = frame[b]


@numba.njit(cache=True, inline="always")
def _put(frame, p, v, n):  # pragma: no cover - compiled
    for b in range(n):
        frame[p + b] = (v >> np.uint64(8 * (n - 1 - b))) & np.uint64(255)


def to_bytes(packets: np.ndarray, *, nanoseconds: bool = True, big_endian: bool = False,
             snaplen: int = MAX_RECORD) -> bytes:
    """A stream as pcap bytes (see :func:`write`).

    >>> from workloads.packets.frames import empty
    >>> s = empty(1); s["frame_bytes"] = 64; s["direction"] = 1
    >>> data = to_bytes(s)
    >>> len(data), data[:4].hex(), bool((parse_bytes(data) == s).all())
    (100, '4d3cb2a1', True)
    """
    if packets.dtype != PACKET_DTYPE:
        raise ValueError(f"stream dtype is {packets.dtype}, expected PACKET_DTYPE")
    if len(packets) and packets["frame_bytes"].min() < MIN_FRAME:
        raise ValueError(f"frames shorter than {MIN_FRAME} bytes cannot be written")
    if len(packets) and packets["frame_bytes"].max() > MAX_FRAME_BYTES:
        raise ValueError(f"frames longer than {MAX_FRAME_BYTES} bytes cannot be written (a "
                         f"pcap record holds at most {MAX_RECORD} bytes and the FCS)")
    if not 0 < snaplen <= MAX_RECORD:
        raise ValueError(f"snaplen {snaplen} is not from 1 to {MAX_RECORD}")
    order = ">" if big_endian else "<"
    header = np.array([(MAGIC_NS if nanoseconds else MAGIC_US, 2, 4, 0, 0, snaplen,
                        LINKTYPE_ETHERNET)],
                      dtype=[("m", order + "u4"), ("maj", order + "u2"), ("min", order + "u2"),
                             ("zone", order + "i4"), ("sig", order + "u4"),
                             ("snap", order + "u4"), ("link", order + "u4")])
    incl = np.minimum(packets["frame_bytes"].astype(np.int64) - 4, snaplen)
    offsets = np.zeros(len(packets), dtype=np.int64)
    np.cumsum(16 + incl[:-1], out=offsets[1:])
    offsets += 24
    buf = np.zeros(24 + int((16 + incl).sum()), dtype=np.uint8)
    buf[:24] = np.frombuffer(header.tobytes(), dtype=np.uint8)
    _write(packets, buf, offsets, incl, big_endian, nanoseconds)
    return buf.tobytes()


def write(packets: np.ndarray, path: str | os.PathLike[str], *, nanoseconds: bool = True,
          big_endian: bool = False, snaplen: int = MAX_RECORD) -> None:
    """Save a stream as a pcap file that :func:`load` reads back as the same array.

    Each record becomes an Ethernet frame of ``frame_bytes - 4`` bytes (no FCS), 802.1Q-tagged
    when ``vlan`` is set, carrying IPv4 (DF, TTL 64, header checksum) and UDP (checksum 0) with
    the stream's addresses and ports, the 12-byte tag with xid, vm, direction and role, and
    zeros; a frame above 64 KiB gets IPv4 total length and UDP length 0, as Linux writes a
    BIG TCP packet (the 16-bit fields cannot hold its size; orig_len does). Timestamps are
    ``time_ns`` after the epoch; a µs file (``nanoseconds=False``) keeps whole µs only.
    ``snaplen`` (default 262,144, tcpdump's) cuts the captured bytes (orig_len stays the
    frame's length).

    >>> write(np.zeros(1, dtype=np.int8), "/tmp/never.pcap")
    Traceback (most recent call last):
    ValueError: stream dtype is int8, expected PACKET_DTYPE
    """
    data = to_bytes(packets, nanoseconds=nanoseconds, big_endian=big_endian, snaplen=snaplen)
    Path(path).write_bytes(data)


def check_records(arrays: dict[str, np.ndarray]) -> str | None:
    """What is wrong with arrays as :func:`load` 's parse of a capture (None: nothing): one
    non-empty ``packets`` array of PACKET_DTYPE with values a parse can give. Run on every
    cache entry.

    >>> from workloads.packets.frames import empty
    >>> s = empty(2); s["frame_bytes"] = 64; s["time_ns"] = [0, 5]
    >>> print(check_records({"packets": s}))
    None
    >>> s["vlan"][1] = 4095
    >>> check_records({"packets": s})
    'record 2: vlan 4095 is more than 4094'
    """
    problem = layout_problem(arrays, {"packets": PACKET_DTYPE})
    if problem is not None:
        return problem
    p = arrays["packets"]
    if not len(p):
        return "no records"
    t = p["time_ns"]
    bad = [  # (records that fail, the field shown, what is wrong with it)
        (np.concatenate(([t[0] != 0], t[1:] < t[:-1])), "time_ns",
         "is not the first at 0 or steps back"),
        (p["frame_bytes"] < MIN_FRAME, "frame_bytes", f"is below {MIN_FRAME}"),
        (p["frame_bytes"] > MAX_FRAME_BYTES, "frame_bytes", f"is above {MAX_FRAME_BYTES}"),
        (p["reserved16"] != 0, "reserved16", "is not 0"),
        (p["reserved32"] != 0, "reserved32", "is not 0"),
        (p["vlan"] > MAX_VLAN, "vlan", f"is more than {MAX_VLAN}"),
        (p["dst_mac"] >= np.uint64(1 << 48), "dst_mac", "is more than 48 bits"),
        (p["src_mac"] >= np.uint64(1 << 48), "src_mac", "is more than 48 bits"),
        (p["direction"] > max(Dir), "direction", "is not 0, 1 or 2"),
        (p["role"] > 2, "role", "is not 0, 1 or 2"),
        # Only frames this package wrote carry vm, xid and role, and with a direction.
        ((p["direction"] == 0) & (p["vm"] != 0), "vm", "is set on a frame without a direction"),
        ((p["direction"] == 0) & (p["xid"] != 0), "xid", "is set on a frame without a direction"),
        ((p["direction"] == 0) & (p["role"] != 0), "role",
         "is set on a frame without a direction"),
    ]
    for mask, field, why in bad:
        if mask.any():
            at = int(np.flatnonzero(mask)[0])
            return f"record {at + 1}: {field} {int(p[field][at])} {why}"
    return None


def _gunzip_error(name: str, readable: Readable) -> InputError:
    return InputError(f"{name}: corrupt gzip data ({readable.why}) after {readable.size:,} "
                      "readable bytes; expected a complete gzip-compressed pcap capture")


def _parse_capture(data: bytes, name: str) -> dict[str, np.ndarray]:
    packets = parse_bytes(data, name)
    if not len(packets):
        raise _no_frames(name)
    return {"packets": packets}


def load(path: str | os.PathLike[str]) -> tuple[np.ndarray, str]:
    """(records, SHA-256 digest) of a pcap file, from the cache when parsed before.

    Records the capture does not mark have direction 0 (see :func:`generate`). A capture
    without records is an InputError: there is nothing to replay.

    >>> load("/nonexistent/capture.pcap")
    Traceback (most recent call last):
    codesign.errors.InputError: workload.path: /nonexistent/capture.pcap: no such file
    """
    arrays, digest = cached_parse(path, "pcap", FORMAT, _parse_capture, check_records,
                                  damaged=_gunzip_error)
    return arrays["packets"], digest


@dataclass(frozen=True)
class PcapParams:
    """Parameters of ``pcap``."""

    path: str = param("", key="workload.path", path=True,
                      doc="libpcap capture, Ethernet (plain or .gz; relative to the sweep "
                          "spec's folder); keyed by its content")
    direction: str = param("rx", key="workload.direction", choices=("rx", "tx"),
                           doc="direction of the frames the capture does not mark "
                               "(all but those this package wrote)")
    max_packets: int = param(0, key="workload.max_packets", min=0, max=2**62,
                             doc="replay only the first N frames (0: all)")


def _required(p: PcapParams) -> str:
    if not p.path:
        raise InputError("workload.path: the pcap workload needs a capture file")
    return p.path


def identity(p: PcapParams) -> dict[str, str]:
    """The content digest in place of the path, for the design-point key."""
    return {"workload.path": "sha256:" + key_digest(_required(p))}


def generate(p: PcapParams) -> Stream:
    """The stream of the capture at ``workload.path``; InputError when the file's bytes are
    not those its design-point key was computed from (it changed since).

    A capture larger than :func:`~codesign.inputfile.stream_limit` (a ``.gz`` file counted
    at :data:`GZIP_RATIO` times its size) comes in pieces (:func:`streamed`): the same
    frames, read a block at a time on every pass."""
    path = _required(p)
    if too_large_to_hold(path, GZIP_RATIO):
        return streamed(p)
    records, digest = load(path)
    confirm_digest(path, digest)
    if p.max_packets:
        records = records[: p.max_packets]
    records = records.copy()
    unmarked = records["direction"] == 0
    records["direction"][unmarked] = Dir.RX if p.direction == "rx" else Dir.TX
    return records


GZIP_RATIO = 3
"""How much larger than its ``.gz`` file a capture is reckoned when choosing whether to
stream it. An assumption, not a measurement: full-payload captures of today's traffic
(mostly encrypted or already compressed) shrink little under gzip, header-only (snaplen)
captures several times; 3 errs towards streaming. It changes only the memory a run takes,
never its frames."""


def streamed(p: PcapParams, block: int = 1 << 24) -> FrameChunks:
    """The stream of the capture at ``workload.path`` in pieces, from about ``block`` bytes
    of the capture each (see :func:`generate`). A first pass parses it all (its errors are
    :func:`parse_bytes`'), counting the records and finding each block's earliest timestamp;
    it is kept per content (:mod:`codesign.resultcache`). Every pass then parses the capture
    again and puts it in time order as :func:`parse_bytes` does (a stable sort), in bounded
    memory as long as the timestamps step back by no more than a block or so: a block's
    records go out once no later block has an earlier timestamp. A pass refuses the file if
    it changed."""
    path = _required(p)
    stamp = file_stamp(path)
    digest = file_digest(path)
    survey = cached("pcap-survey", {"digest": digest, "block": block, "format": FORMAT},
                    lambda: _survey(path, block))
    confirm_digest(path, digest)
    if not survey["records"]:
        raise _no_frames(path)
    frames = min(survey["records"], p.max_packets or survey["records"])
    mins = [np.inf if m is None else float(m) for m in survey["mins"]]
    # the earliest timestamp of the blocks after each one
    after = np.minimum.accumulate(np.array([*mins[1:], np.inf])[::-1])[::-1]
    first = int(survey["first"])
    unmarked_as = Dir.RX if p.direction == "rx" else Dir.TX

    def passes() -> Iterator[np.ndarray]:
        if file_stamp(path) != stamp:
            raise changed(path)
        held = np.zeros(0, dtype=PACKET_DTYPE)
        held_ts = np.zeros(0, dtype=np.int64)
        left = frames
        for i, (rec, ts) in enumerate(record_blocks(path, path, block)):
            if len(held):
                rec, ts = np.concatenate([held, rec]), np.concatenate([held_ts, ts])
            now = ts <= after[i]
            held, held_ts = rec[~now], ts[~now]
            out, t = rec[now], ts[now]
            if len(t) > 1 and (t[1:] < t[:-1]).any():
                order = np.argsort(t, kind="stable")
                out, t = out[order], t[order]
            out = out[:left]
            out["time_ns"] = t[:left] - first
            out["direction"][out["direction"] == 0] = unmarked_as
            left -= len(out)
            if len(out):
                yield out
            if not left:
                break
        if file_stamp(path) != stamp:
            raise changed(path)

    return FrameChunks(passes, frames, f"pcap/{FORMAT}/{digest}/{p.direction}/{frames}")


def _no_frames(name: str) -> InputError:
    return InputError(f"{name}: no Ethernet frames in the capture; expected at least one "
                      "packet record after the 24-byte global header")


def _survey(path: str, block: int) -> dict[str, Any]:
    """The records of the capture, its earliest timestamp and each block's (None: none)."""
    records, mins = 0, []
    for _, ts in record_blocks(path, path, block):
        records += len(ts)
        mins.append(int(ts.min()) if len(ts) else None)
    known = [m for m in mins if m is not None]
    return {"records": records, "first": min(known) if known else 0, "mins": mins}


WORKLOADS = (
    Workload("pcap", "packets", "a real capture (libpcap, Ethernet) replayed as a packet stream",
             PcapParams, generate, identity=identity),
)
