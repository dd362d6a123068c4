"""Generated packet streams: size mixes x arrival processes, several VMs, ``rpc`` and ``bulk``.

**Size mixes** (one registered workload each):

============  ===================================================================================
``fixed``     every frame ``workload.frame_bytes`` bytes
``imix``      the simple IMIX: 64, 594 and 1518 B at 7:4:1 (exact counts: the largest-remainder
              split of the frames of each direction, in a random order)
``bimodal``   ``small_bytes`` and ``large_bytes``, exactly ``round(n x large_fraction)`` large
``sequence``  a repeatable size sequence (RFC 6985): ``workload.sizes`` is comma-separated sizes
              (``64,64,1518``) or RFC 6985 letters (a 64, b 128, c 256, d 512, e 1024, f 1280,
              g 1518: ``aaaaaaadddg``), repeated from its start in each direction
============  ===================================================================================

**Rates.** At most one of ``workload.offered_gbps`` (RFC 5180: a frame of ``F`` bytes counts
``8 x (F + 20)`` bits; applied at 1 kb/s resolution) and ``workload.offered_pps``; with
neither, the rate is :data:`DEFAULT_OFFERED_PPS` (100,000 frames/s). With
``workload.direction = "both"`` rx and tx are two independent streams at half the rate each
(``n`` frames: ``ceil(n/2)`` rx, ``floor(n/2)`` tx), merged by time (rx first at a tie); each
direction is its own wire of ``workload.link_gbps``. Frame ``j`` of a direction has an offered
gap ``m_j`` (``8 x (F_j + 20) / rate`` or ``1 / pps``) and a wire time ``w_j`` at link speed; an
offered rate the link cannot carry for the mix's largest frame (``m < w``) is an error.

**Arrivals** (``workload.arrival``), as ideal start times ``S`` rounded up to the ns
(``time_ns = ceil(S)``, so a frame is never early; the first frame is at 0):

============  ===================================================================================
``constant``  ``S_{j+1} = S_j + m_j`` exactly (integer arithmetic, no drift)
``poisson``   ``S_{j+1} = S_j + w_j + Exp(m_j - w_j)``: a Poisson process whose gaps cannot be
              shorter than the previous frame on the wire; mean gap ``m_j``
``onoff``     bursts of ``workload.burst`` frames back to back at link speed (gaps ``w_j``),
              each followed by an exponential silence with mean ``sum (m_j - w_j)`` over the
              burst, so the long-run rate is the offered one
============  ===================================================================================

**Addresses.** Each frame belongs to a VM ``v`` (uniform over ``workload.vms``) and a flow ``k``
(uniform over ``workload.flows`` per VM). VM ``v`` has MAC ``02:00:00:00:HH:LL`` with
``HHLL = (v + 1) x 256 + 1`` (02:00:00:00:01:01 for VM 0), IPv4 ``10.0.0.0 + (v + 1) x 256 + 1``
(10.0.1.1) and port 5001; flow ``k``'s remote end is ``11.0.0.0 + v x 8192 + k + 1``, port
``10000 + k``, behind the gateway MAC :data:`GATEWAY_MAC`. An RX frame goes remote to VM, a
TX frame VM to remote. With ``workload.vlan_base`` > 0, VM ``v``'s frames carry VLAN
``vlan_base + v``.

**Long streams.** A stream of at most :data:`BLOCK` frames a direction is drawn whole. A
longer one is drawn a block at a time (:func:`rate_columns`, :func:`bulk_columns`): the same
definitions -- exact mixes stay exact (each block's counts a multivariate hypergeometric draw
from those left), sequences and bursts continue, ideal start times are one running sum --
but its random draws come in another order than a whole draw's. Above
:func:`~codesign.inputfile.stream_limit` bytes of records (256 MiB: 4.8 M frames) it is
returned in pieces (:class:`~workloads.packets.chunked.FrameChunks`), drawn again on every
pass, so 1e8 frames never have to be held; joined, the pieces are the stream returned whole
at any limit. ``rpc`` likewise above :data:`BLOCK` requests (:func:`rpc_columns`).

>>> from workloads.packets.frames import summarize
>>> s = generate_imix(MixParams(packets=12, offered_gbps=10.0))
>>> sorted(s["frame_bytes"].tolist())
[64, 64, 64, 64, 64, 64, 64, 594, 594, 594, 594, 1518]
>>> summarize(generate_fixed(FixedParams(packets=1001, offered_pps=1_000_000))).pps
1000000.0
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from codesign.inputfile import stream_limit
from codesign.params import param
from codesign.registry import Workload
from codesign.spill import merge_sorted
from workloads.packets.chunked import FrameChunks, Stream
from workloads.packets.frames import (
    MAX_VLAN,
    MIN_FRAME,
    OVERHEAD,
    PACKET_DTYPE,
    Dir,
    Role,
    empty,
    line_rate_pps,
)

MAX_PACKETS = 100_000_000
DEFAULT_OFFERED_PPS = 100_000
"""The offered rate of a rate-driven stream that sets neither ``workload.offered_gbps`` nor
``workload.offered_pps``: 100,000 frames/s, a light load whatever the frame size (1 % of 10 GbE's
line rate at 64 B, 12 % at 1518 B). In frames because NIC virtualization costs are mostly per
frame (exits, notifications, interrupts, hypercalls), and low enough that every NIC mechanism
in its default configuration carries it on every bundled platform profile (the slowest path,
the emulated e1000's transmit on ``opteron-2008``, saturates at about 122,000 frames/s of
1518 B), so a default run compares costs and latencies, not saturation. A rate relative to
the port (a fraction of ``link.gbps``) is not an option: the port is the mechanism's, not the
workload's."""
MAX_FRAME = 9022
"""Largest generated frame: a 9000-byte MTU jumbo frame with an 802.1Q tag."""
RX_CODE = int(Dir.RX)
GATEWAY_MAC = 0x02FF_0000_0001
"""The remote end's MAC (a router port): source of RX frames, destination of TX frames."""
VM_PORT = 5001
PEER_PORT = 10000
IMIX = ((64, 7), (594, 4), (1518, 1))
RFC6985 = {"a": 64, "b": 128, "c": 256, "d": 512, "e": 1024, "f": 1280, "g": 1518}
"""RFC 6985 size letters (``h``, MTU, and ``z``, custom, are left out: they have no fixed size)."""


def vm_mac(vm: np.ndarray | int) -> np.ndarray | int:
    """MAC of VM ``vm``.

    >>> hex(vm_mac(0)), hex(vm_mac(2))
    ('0x20000000101', '0x20000000301')
    """
    if isinstance(vm, np.ndarray):
        return np.uint64(0x0200_0000_0001) + ((vm.astype(np.uint64) + np.uint64(1)) << np.uint64(8))
    return 0x0200_0000_0001 + ((vm + 1) << 8)


def vm_ip(vm: np.ndarray | int) -> np.ndarray | int:
    """IPv4 address of VM ``vm`` (10.0.1.1 for VM 0).

    >>> from workloads.packets.frames import ip_text
    >>> ip_text(vm_ip(0)), ip_text(vm_ip(300))
    ('10.0.1.1', '10.1.45.1')
    """
    if isinstance(vm, np.ndarray):
        return (np.uint32(0x0A00_0001) + ((vm.astype(np.uint32) + np.uint32(1)) << np.uint32(8)))
    return 0x0A00_0001 + ((vm + 1) << 8)


def peer_ip(vm: np.ndarray | int, flow: np.ndarray | int) -> np.ndarray | int:
    """IPv4 address of flow ``flow``'s remote end for VM ``vm``.

    >>> from workloads.packets.frames import ip_text
    >>> ip_text(peer_ip(0, 0)), ip_text(peer_ip(1, 4))
    ('11.0.0.1', '11.0.32.5')
    """
    if isinstance(vm, np.ndarray) or isinstance(flow, np.ndarray):
        v = np.asarray(vm).astype(np.uint32)
        k = np.asarray(flow).astype(np.uint32)
        return np.uint32(0x0B00_0001) + (v << np.uint32(13)) + k
    return 0x0B00_0001 + (vm << 13) + flow


def fill(out: np.ndarray, direction: np.ndarray | int, vm: np.ndarray, flow: np.ndarray,
         vlan_base: int) -> None:
    """Addresses, ports, VLAN, VM and direction of records, per the module's address plan.

    >>> s = empty(2); fill(s, np.array([1, 2]), np.array([0, 1]), np.array([3, 3]), 100)
    >>> from workloads.packets.frames import format_packets
    >>> print(format_packets(s))
         0        0 ns RX vm0      0 B 02:ff:00:00:00:01 > 02:00:00:00:01:01 11.0.0.4:10003 > 10.0.1.1:5001 vlan 100
         1        0 ns TX vm1      0 B 02:00:00:00:02:01 > 02:ff:00:00:00:01 10.0.2.1:5001 > 11.0.32.4:10003 vlan 101
    """  # noqa: E501
    direction = np.ascontiguousarray(np.broadcast_to(np.asarray(direction, dtype=np.uint8),
                                                     vm.shape))
    # One compiled pass writes each 56-byte record's fields together; field by field, numpy
    # would sweep the whole array once per field (most of a stream's building time).
    _fill(out["dst_mac"], out["src_mac"], out["dst_ip"], out["src_ip"], out["dst_port"],
          out["src_port"], out["vm"], out["direction"], out["vlan"], direction,
          np.ascontiguousarray(vm, dtype=np.uint16), np.ascontiguousarray(flow, dtype=np.int64),
          int(vlan_base))


@numba.njit(cache=True)
def _fill(dst_mac, src_mac, dst_ip, src_ip, dst_port, src_port, vm_out, dir_out, vlan_out,
          direction, vm, flow, vlan_base):
    """:func:`fill`'s records: the address plan of :func:`vm_mac`, :func:`vm_ip` and
    :func:`peer_ip`, with their unsigned wrap-around (IPv4 32 bits, ports and VLANs 16)."""
    for i in range(len(vm)):
        v = np.int64(vm[i])
        k = flow[i]
        own_mac = np.uint64(0x0200_0000_0001 + ((v + 1) << 8))
        own_ip = np.uint32((0x0A00_0001 + ((v + 1) << 8)) & 0xFFFFFFFF)
        remote_ip = np.uint32((0x0B00_0001 + (v << 13) + k) & 0xFFFFFFFF)
        remote_port = np.uint16((PEER_PORT + k) & 0xFFFF)
        if direction[i] == RX_CODE:
            dst_mac[i], src_mac[i] = own_mac, np.uint64(GATEWAY_MAC)
            dst_ip[i], src_ip[i] = own_ip, remote_ip
            dst_port[i], src_port[i] = VM_PORT, remote_port
        else:
            dst_mac[i], src_mac[i] = np.uint64(GATEWAY_MAC), own_mac
            dst_ip[i], src_ip[i] = remote_ip, own_ip
            dst_port[i], src_port[i] = remote_port, VM_PORT
        vm_out[i] = vm[i]
        dir_out[i] = direction[i]
        vlan_out[i] = (vlan_base + v) & 0xFFFF if vlan_base else 0


def constant_times(size: np.ndarray, *, gbps: float | None = None, pps: int | None = None,
                   share: int = 1, first: int = 0) -> np.ndarray:
    """``ceil`` of the exact constant-rate start times at ``gbps`` (1 kb/s resolution) or
    ``pps``, of a direction carrying ``1/share`` of the rate; ``first`` is what went
    before the frames (wire bits at ``gbps``, frames at ``pps``: see :func:`sent_before`).

    >>> constant_times(np.array([64, 64, 64, 64]), gbps=10.0).tolist()    # 67.2 ns apart
    [0, 68, 135, 202]
    >>> constant_times(np.array([64, 64, 64]), pps=3, share=2).tolist()   # 1.5 pps
    [0, 666666667, 1333333334]
    >>> constant_times(np.array([64, 64]), gbps=10.0, first=2 * 672).tolist()  # the last two
    [135, 202]
    """
    n = len(size)
    if gbps is not None:
        kbps = round(gbps * 1e6)
        bits = np.full(n, first, dtype=np.int64)
        if n > 1:
            np.cumsum(8 * (size[:-1].astype(np.int64) + OVERHEAD), out=bits[1:])
            bits[1:] += first
        if n and int(bits[-1]) * 1_000_000 * share >= 2**63:
            raise ValueError("stream too long for exact constant-rate times")
        return ((bits * (1_000_000 * share) + kbps - 1) // kbps).astype(np.uint64)
    assert pps is not None
    i = np.arange(first, first + n, dtype=np.int64)
    return ((i * (1_000_000_000 * share) + pps - 1) // pps).astype(np.uint64)


def sent_before(size: np.ndarray, gbps: float | None, first: int) -> int:
    """:func:`constant_times`' ``first`` for the frames after ``size``: ``first`` plus
    their wire bits (at ``gbps``) or their count.

    >>> sent_before(np.array([64, 64]), 10.0, 0), sent_before(np.array([64, 64]), None, 5)
    (1344, 7)
    """
    if gbps is None:
        return first + len(size)
    return first + 8 * (int(size.astype(np.int64).sum()) + OVERHEAD * len(size))


def arrival_times(size: np.ndarray, rng: np.random.Generator, *, arrival: str,
                  link_gbps: float, gbps: float | None = None, pps: int | None = None,
                  share: int = 1, burst: int = 1) -> np.ndarray:
    """Start times (ns, first at 0) of frames of the given sizes (see the module docstring).

    >>> rng = np.random.default_rng(1)
    >>> t = arrival_times(np.full(4, 64), rng, arrival="onoff", link_gbps=10, gbps=5, burst=2)
    >>> t.tolist()[:2]                                  # a burst: back to back at 10 GbE
    [0, 68]
    """
    if arrival == "constant":
        return constant_times(size, gbps=gbps, pps=pps, share=share)
    start = np.zeros(len(size), dtype=np.float64)
    gaps = _gaps(size, rng, arrival=arrival, link_gbps=link_gbps, gbps=gbps, pps=pps,
                 share=share, burst=burst)
    np.cumsum(gaps[:-1], out=start[1:])
    return np.ceil(start).astype(np.uint64)


def _gaps(size: np.ndarray, rng: np.random.Generator, *, arrival: str, link_gbps: float,
          gbps: float | None, pps: int | None, share: int, burst: int) -> np.ndarray:
    """The gaps after each frame of a ``poisson`` or ``onoff`` stream (bursts from the
    first frame)."""
    f = size.astype(np.float64)
    w = 8.0 * (f + OVERHEAD) / link_gbps
    m = 8.0 * (f + OVERHEAD) * share / gbps if gbps is not None \
        else np.full(len(f), 1e9 * share / pps)
    slack = np.maximum(m - w, 0.0)
    if arrival == "poisson":
        gaps = w + rng.exponential(1.0, len(f)) * slack
    else:  # onoff
        gaps = w.copy()
        ends = np.arange(burst - 1, len(f), burst)
        per_burst = np.add.reduceat(slack, np.arange(0, len(f), burst))[: len(ends)]
        gaps[ends] += rng.exponential(1.0, len(ends)) * per_burst
    return gaps


def seed_param() -> Any:
    """``workload.seed``."""
    return param(1, key="workload.seed", min=0, max=2**63 - 1,
                 doc="seed of every random draw (same seed, same stream)")


def frame_param(default: int, key: str, doc: str) -> Any:
    """A frame size in bytes (64 .. 9022)."""
    return param(default, key=key, min=MIN_FRAME, max=MAX_FRAME, unit="bytes", doc=doc)


@dataclass(frozen=True)
class Rate:
    """The shared parameters of rate-driven streams (a base class: subclasses add sizes)."""

    packets: int = param(100_000, key="workload.packets", min=1, max=MAX_PACKETS,
                         doc="frames in the stream")
    offered_gbps: float | None = param(
        None, key="workload.offered_gbps", min=0.001, max=1000.0, unit="Gb/s",
        doc="offered rate, RFC 5180 wire bits (frame + 20 B); set this or offered_pps "
            "(neither: 100000 frames/s)")
    offered_pps: int | None = param(
        None, key="workload.offered_pps", min=1, max=10**10, unit="frames/s",
        doc="offered rate in frames per second; set this or offered_gbps (neither: 100000)")
    link_gbps: float = param(10.0, key="workload.link_gbps", min=0.001, max=1000.0,
                             unit="Gb/s", doc="speed of each direction's wire")
    arrival: str = param("constant", key="workload.arrival",
                         choices=("constant", "poisson", "onoff"),
                         doc="arrival process: constant rate, Poisson, or on/off bursts")
    burst: int = param(32, key="workload.burst", min=1, max=1 << 20,
                       when={"workload.arrival": "onoff"},
                       doc="frames per burst, sent back to back at link speed")
    direction: str = param("rx", key="workload.direction", choices=("rx", "tx", "both"),
                           doc="rx: wire to VMs; tx: VMs to wire; both: half the rate each")
    vms: int = param(1, key="workload.vms", min=1, max=1024, doc="VMs sharing the port")
    flows: int = param(16, key="workload.flows", min=1, max=4096,
                       doc="flows (remote ends) per VM")
    vlan_base: int = param(0, key="workload.vlan_base", min=0, max=MAX_VLAN,
                           doc="0: untagged; else VM v's frames carry VLAN vlan_base + v")
    seed: int = seed_param()

    def largest_frame(self) -> int:
        """Largest frame the mix generates (the link must carry the offered rate of it)."""
        raise NotImplementedError

    def __post_init__(self) -> None:
        check_rate(self, self.largest_frame(), 2 if self.direction == "both" else 1)
        if self.vlan_base and self.vlan_base + self.vms - 1 > MAX_VLAN:
            raise ValueError(f"workload.vlan_base {self.vlan_base} + {self.vms} VMs runs past "
                             f"VLAN {MAX_VLAN}")


def check_rate(p: Any, largest: int, share: int) -> None:
    """``ValueError`` unless at most one rate is set and the link carries it for ``largest``;
    with neither set, ``p`` (a frozen parameter object) gets :data:`DEFAULT_OFFERED_PPS`.

    >>> from types import SimpleNamespace as P
    >>> p = P(offered_gbps=None, offered_pps=None, link_gbps=10.0); check_rate(p, 64, 1)
    >>> p.offered_pps
    100000
    >>> check_rate(P(offered_gbps=1.0, offered_pps=10, link_gbps=10.0), 64, 1)
    Traceback (most recent call last):
    ValueError: set at most one of workload.offered_gbps and workload.offered_pps (neither: 100000 frames/s)
    >>> check_rate(P(offered_gbps=None, offered_pps=14_880_953, link_gbps=10.0), 64, 1)
    Traceback (most recent call last):
    ValueError: workload.offered_pps 14880953 exceeds the line rate of 64-byte frames on 1 x 10 Gb/s (14880952 frames/s); lower it or set workload.offered_gbps
    >>> check_rate(P(offered_gbps=None, offered_pps=None, link_gbps=1.0), 1518, 1)
    Traceback (most recent call last):
    ValueError: workload.offered_pps 100000 (the default rate) exceeds the line rate of 1518-byte frames on 1 x 1 Gb/s (81274 frames/s); lower it or set workload.offered_gbps
    """  # noqa: E501
    gbps, pps = getattr(p, "offered_gbps", None), getattr(p, "offered_pps", None)
    if gbps is not None and pps is not None:
        raise ValueError("set at most one of workload.offered_gbps and workload.offered_pps "
                         f"(neither: {DEFAULT_OFFERED_PPS} frames/s)")
    default = gbps is None and pps is None
    if default:
        pps = DEFAULT_OFFERED_PPS
        object.__setattr__(p, "offered_pps", pps)  # a frozen dataclass's own __post_init__
    if gbps is not None and gbps / share > p.link_gbps:
        raise ValueError(f"workload.offered_gbps {gbps:g} exceeds the link: {share} x "
                         f"workload.link_gbps {p.link_gbps:g}")
    if pps is not None and pps / share > line_rate_pps(p.link_gbps, largest):
        limit = math.floor(line_rate_pps(p.link_gbps, largest)) * share
        raise ValueError(f"workload.offered_pps {pps}{' (the default rate)' if default else ''} "
                         "exceeds the line rate of "
                         f"{largest}-byte frames on {share} x {p.link_gbps:g} Gb/s ({limit} "
                         "frames/s); lower it or set workload.offered_gbps")


def _directions(direction: str, n: int) -> list[tuple[Dir, int]]:
    if direction == "both":
        return [(Dir.RX, (n + 1) // 2), (Dir.TX, n // 2)]
    return [(Dir.RX if direction == "rx" else Dir.TX, n)]


Draw = Callable[[np.random.Generator, int], np.ndarray]
"""Sizes of the next ``k`` frames of a direction, drawn with ``rng``."""


def rate_stream(p: Rate, sizes: Draw, blocks: Callable[[int], Draw]) -> Stream:
    """The stream of a :class:`Rate` workload whose sizes are drawn by ``sizes(rng, n)``, or,
    above :data:`BLOCK` frames, a block at a time by ``blocks(n)`` (a direction's ``n``
    frames: a new drawer, called for each block in turn; see :func:`rate_columns`)."""
    if p.packets > BLOCK:
        return as_stream(p.packets, lambda: rate_columns(p, blocks),
                         plain_records(p.vlan_base), repr(p))
    parts = _directions(p.direction, p.packets)
    seeds = np.random.SeedSequence(p.seed).spawn(len(parts))
    cols: list[tuple[np.ndarray, ...]] = []
    for (direction, n), seed in zip(parts, seeds, strict=True):
        rng = np.random.default_rng(seed)
        size = sizes(rng, n).astype(np.uint32)
        time = arrival_times(size, rng, arrival=p.arrival, link_gbps=p.link_gbps,
                             gbps=p.offered_gbps, pps=p.offered_pps, share=len(parts),
                             burst=p.burst).astype(np.uint64)
        vm = rng.integers(0, p.vms, n).astype(np.uint16)
        flow = rng.integers(0, p.flows, n)
        cols.append((np.full(n, direction, dtype=np.uint8), size, time, vm, flow))
    direction, size, time, vm, flow = (np.concatenate(c) if len(cols) > 1 else c[0]
                                       for c in zip(*cols, strict=True))
    # Both directions: merged in time order (stable: RX first at a tie) column by column,
    # before any record exists -- gathering 56-byte records would be most of the cost. One
    # direction's times are in order already.
    columns = (direction, size, time, vm, flow)
    if len(time) > 1 and not bool(np.all(time[1:] >= time[:-1])):
        order = np.argsort(time, kind="stable")
        columns = tuple(a[order] for a in columns)
    return plain_records(p.vlan_base)(columns)


def mix_counts(n: int, mix: tuple[tuple[int, int], ...]) -> list[int]:
    """How many of ``n`` frames have each size of the mix (largest-remainder counts).

    >>> mix_counts(24, IMIX)
    [14, 8, 2]
    """
    total = sum(w for _, w in mix)
    quota = [n * w / total for _, w in mix]
    counts = [math.floor(q) for q in quota]
    by_remainder = sorted(range(len(mix)), key=lambda i: (counts[i] - quota[i], i))
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    return counts


BLOCK = 1 << 20
"""Frames of a direction drawn at a time in a stream longer than this (a stream of at most
``BLOCK`` frames is drawn whole: its frames are what they always were). A stream drawn in
blocks is the same whether it is returned whole or in pieces (:func:`as_stream`)."""


Columns = tuple[np.ndarray, ...]
"""A block of frames before their records exist: direction, size, time, VM, flow (and
what else a workload carries along)."""


def as_stream(frames: int, columns: Callable[[], Iterator[Columns]],
              records: Callable[[Columns], np.ndarray], identity: str) -> Stream:
    """The stream of ``records`` of the blocks each call of ``columns`` yields: in pieces
    (:class:`~workloads.packets.chunked.FrameChunks`) when its records take more than
    :func:`~codesign.inputfile.stream_limit` bytes, else whole (the blocks' columns joined
    first: records are made once).

    >>> cols = lambda: iter([(np.array([1], np.uint8), np.array([64], np.uint32),
    ...                       np.array([0], np.uint64), np.zeros(1, np.uint16), np.zeros(1)),
    ...                      (np.array([2], np.uint8), np.array([128], np.uint32),
    ...                       np.array([70], np.uint64), np.zeros(1, np.uint16), np.zeros(1))])
    >>> from workloads.packets.chunked import whole   # a stream whole or in pieces
    >>> s = whole(as_stream(2, cols, plain_records(0), "example"))
    >>> s["frame_bytes"].tolist(), s["direction"].tolist()
    ([64, 128], [1, 2])
    """
    if frames * PACKET_DTYPE.itemsize > stream_limit():
        return FrameChunks(lambda: map(records, columns()), frames, identity)
    parts = list(columns())
    if not parts:
        return empty()
    return records(parts[0] if len(parts) == 1 else tuple(
        np.concatenate(c) for c in zip(*parts, strict=True)))


def plain_records(vlan_base: int) -> Callable[[Columns], np.ndarray]:
    """Records of direction, size, time, VM and flow columns (see :func:`fill`)."""
    def records(cols: Columns) -> np.ndarray:
        direction, size, time, vm, flow = cols
        stream = empty(len(time))
        stream["frame_bytes"] = size
        stream["time_ns"] = time
        fill(stream, direction, vm, flow, vlan_base)
        return stream

    return records


def rate_columns(p: Rate, blocks: Callable[[int], Draw]) -> Iterator[Columns]:
    """A :class:`Rate` stream a block at a time: each direction's frames :data:`BLOCK` at a
    time (whole bursts of ``onoff``), each block's sizes, gaps, VMs and flows drawn in turn
    with the direction's generator, times carried from block to block (the ideal start
    times are one running sum, as drawn whole); both directions merged by time (RX first at
    a tie)."""
    parts = _directions(p.direction, p.packets)
    seeds = np.random.SeedSequence(p.seed).spawn(len(parts))
    sources = [_direction_blocks(p, d, n, seed, blocks(n), len(parts))
               for (d, n), seed in zip(parts, seeds, strict=True)]
    yield from sources[0] if len(sources) == 1 else merge_by_time(*sources)


def _direction_blocks(p: Rate, direction: Dir, n: int, seed: np.random.SeedSequence,
                      draw: Draw, share: int) -> Iterator[Columns]:
    rng = np.random.default_rng(seed)
    block = BLOCK if p.arrival != "onoff" else p.burst * -(-BLOCK // p.burst)
    first = 0  # constant: bits (or frames) before the block
    carry = 0.0  # poisson, onoff: the ideal start of the block's first frame
    for lo in range(0, n, block):
        k = min(block, n - lo)
        size = draw(rng, k).astype(np.uint32)
        if p.arrival == "constant":
            time = constant_times(size, gbps=p.offered_gbps, pps=p.offered_pps, share=share,
                                  first=first)
            first = sent_before(size, p.offered_gbps, first)
        else:
            gaps = _gaps(size, rng, arrival=p.arrival, link_gbps=p.link_gbps,
                         gbps=p.offered_gbps, pps=p.offered_pps, share=share, burst=p.burst)
            start = np.cumsum(np.concatenate([[carry], gaps[:-1]]))
            carry = float(start[-1] + gaps[-1])
            time = np.ceil(start).astype(np.uint64)
        vm = rng.integers(0, p.vms, k).astype(np.uint16)
        flow = rng.integers(0, p.flows, k)
        yield np.full(k, direction, dtype=np.uint8), size, time, vm, flow


def merge_by_time(first: Iterable[Columns], second: Iterable[Columns]) -> Iterator[Columns]:
    """Two sources of blocks, each in time order (their third column), merged by time,
    ``first``'s frames before ``second``'s at a tie (:func:`codesign.spill.merge_sorted`).

    >>> def blocks(times, d):
    ...     for t in times:
    ...         t = np.array(t, dtype=np.uint64); z = np.zeros(len(t))
    ...         yield np.full(len(t), d), z, t, z, z
    >>> out = merge_by_time(blocks([[0, 5], [5, 9]], 1), blocks([[5], [6, 20]], 2))
    >>> [(b[2].tolist(), b[0].tolist()) for b in out]
    [([0], [1]), ([5, 5, 5, 6], [1, 1, 2, 2]), ([9], [1]), ([20], [2])]
    """
    return merge_sorted(first, second, key=2)


def exact_mix(rng: np.random.Generator, n: int, mix: tuple[tuple[int, int], ...]) -> np.ndarray:
    """``n`` sizes in the mix's proportions (largest-remainder counts), in random order.

    >>> np.unique(exact_mix(np.random.default_rng(0), 24, IMIX), return_counts=True)[1].tolist()
    [14, 8, 2]
    """
    sizes = np.repeat(np.array([s for s, _ in mix], dtype=np.uint32), mix_counts(n, mix))
    return rng.permutation(sizes)


def exact_blocks(sizes: tuple[int, ...], counts: list[int]) -> Draw:
    """A drawer of exactly ``counts[i]`` frames of ``sizes[i]`` in a uniformly random order,
    a block at a time: each block's counts are a multivariate hypergeometric draw from
    those left (so every order of the whole is as likely as with :func:`exact_mix`),
    shuffled.

    >>> draw = exact_blocks((64, 1518), [5, 3])
    >>> rng = np.random.default_rng(0)
    >>> parts = [draw(rng, 3), draw(rng, 3), draw(rng, 2)]
    >>> np.unique(np.concatenate(parts), return_counts=True)[1].tolist()
    [5, 3]
    """
    values = np.array(sizes, dtype=np.uint32)
    left = np.array(counts, dtype=np.int64)

    def draw(rng: np.random.Generator, k: int) -> np.ndarray:
        drawn = rng.multivariate_hypergeometric(left, k)
        left[:] -= drawn
        return rng.permutation(np.repeat(values, drawn))

    return draw


@dataclass(frozen=True)
class FixedParams(Rate):
    """Parameters of ``fixed``."""

    frame_bytes: int = frame_param(64, "workload.frame_bytes",
                                   "every frame's size (RFC 2544: 64, 128, ..., 1518)")

    def largest_frame(self) -> int:
        """The one size."""
        return self.frame_bytes


def generate_fixed(p: FixedParams) -> Stream:
    """Frames of one size.

    >>> s = generate_fixed(FixedParams(packets=3, offered_gbps=10.0, frame_bytes=1518))
    >>> s["time_ns"].tolist()                 # 1230.4 ns apart, rounded up
    [0, 1231, 2461]
    """
    def sizes(rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, p.frame_bytes, dtype=np.uint32)

    return rate_stream(p, sizes, lambda n: sizes)


@dataclass(frozen=True)
class MixParams(Rate):
    """Parameters of ``imix``."""

    def largest_frame(self) -> int:
        """1518."""
        return max(s for s, _ in IMIX)


def generate_imix(p: MixParams) -> Stream:
    """The simple IMIX, 64/594/1518 B at 7:4:1.

    >>> s = generate_imix(MixParams(packets=1200, offered_pps=1000))
    >>> np.unique(s["frame_bytes"], return_counts=True)[1].tolist()
    [700, 400, 100]
    """
    return rate_stream(p, lambda rng, n: exact_mix(rng, n, IMIX),
                       lambda n: exact_blocks(tuple(s for s, _ in IMIX), mix_counts(n, IMIX)))


@dataclass(frozen=True)
class BimodalParams(Rate):
    """Parameters of ``bimodal``."""

    small_bytes: int = frame_param(64, "workload.small_bytes", "size of the small frames")
    large_bytes: int = frame_param(1518, "workload.large_bytes", "size of the large frames")
    large_fraction: float = param(0.5, key="workload.large_fraction", min=0.0, max=1.0,
                                  doc="fraction of large frames (exact: round(n x fraction))")

    def largest_frame(self) -> int:
        """The larger of the two sizes."""
        return max(self.small_bytes, self.large_bytes)


def generate_bimodal(p: BimodalParams) -> Stream:
    """Small and large frames, exactly ``round(n x large_fraction)`` large per direction.

    >>> s = generate_bimodal(BimodalParams(packets=10, offered_gbps=1, large_fraction=0.3))
    >>> int((s["frame_bytes"] == 1518).sum())
    3
    """
    def sizes(rng: np.random.Generator, n: int) -> np.ndarray:
        out = np.full(n, p.small_bytes, dtype=np.uint32)
        out[rng.permutation(n)[: round(n * p.large_fraction)]] = p.large_bytes
        return out

    def blocks(n: int) -> Draw:
        large = round(n * p.large_fraction)
        return exact_blocks((p.small_bytes, p.large_bytes), [n - large, large])

    return rate_stream(p, sizes, blocks)


def parse_sizes(text: str) -> tuple[int, ...]:
    """A size sequence: comma-separated byte counts or RFC 6985 letters.

    >>> parse_sizes("aag"), parse_sizes("64, 1518")
    ((64, 64, 1518), (64, 1518))
    >>> parse_sizes("64,x")
    Traceback (most recent call last):
    ValueError: workload.sizes: '64,x' is neither comma-separated sizes nor RFC 6985 letters a-g
    """
    text = text.strip()
    if text and all(c in RFC6985 for c in text):
        return tuple(RFC6985[c] for c in text)
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise ValueError(f"workload.sizes: {text!r} is neither comma-separated sizes nor "
                         "RFC 6985 letters a-g") from None
    bad = [s for s in sizes if not MIN_FRAME <= s <= MAX_FRAME]
    if bad:
        raise ValueError(f"workload.sizes: {bad[0]} is not a frame size from {MIN_FRAME} "
                         f"to {MAX_FRAME}")
    return sizes


@dataclass(frozen=True)
class SequenceParams(Rate):
    """Parameters of ``sequence``."""

    sizes: str = param("aaaaaaadddg", key="workload.sizes",
                       doc="frame sizes repeated in order: '64,594,1518' or RFC 6985 letters "
                           "(a 64, b 128, c 256, d 512, e 1024, f 1280, g 1518)")

    def largest_frame(self) -> int:
        """The largest size of the sequence."""
        return max(parse_sizes(self.sizes))


def generate_sequence(p: SequenceParams) -> Stream:
    """The size sequence, repeated.

    >>> generate_sequence(SequenceParams(packets=5, offered_gbps=1, sizes="ag"))["frame_bytes"]
    array([  64, 1518,   64, 1518,   64], dtype=uint32)
    """
    seq = np.array(parse_sizes(p.sizes), dtype=np.uint32)

    def blocks(n: int) -> Draw:
        done = [0]  # frames of the direction drawn so far: where the sequence is

        def draw(rng: np.random.Generator, k: int) -> np.ndarray:
            at = done[0] % len(seq)
            out = np.resize(seq, at + k)[at:]
            done[0] += k
            return out

        return draw

    return rate_stream(p, lambda rng, n: np.resize(seq, n), blocks)


@dataclass(frozen=True)
class RpcParams:
    """Parameters of ``rpc``."""

    requests: int = param(10_000, key="workload.requests", min=1, max=MAX_PACKETS // 2,
                          doc="request/response exchanges in the stream")
    vms: int = param(1, key="workload.vms", min=1, max=1024, doc="VMs sharing the port")
    clients: int = param(8, key="workload.clients", min=1, max=4096,
                         doc="clients per VM, each with one request outstanding")
    direction: str = param("rx", key="workload.direction", choices=("rx", "tx"),
                           doc="rx: the VMs serve (requests received); tx: the VMs are clients")
    request_bytes: int = frame_param(128, "workload.request_bytes", "request frame size")
    response_bytes: int = frame_param(1024, "workload.response_bytes", "response frame size")
    service_ns: int = param(2_000, key="workload.service_ns", min=0, max=10**10, unit="ns",
                            doc="server time from a request's arrival to its response")
    think_ns: int = param(20_000, key="workload.think_ns", min=0, max=10**10, unit="ns",
                          doc="mean client think time (exponential) after each response")
    link_gbps: float = param(10.0, key="workload.link_gbps", min=0.001, max=1000.0,
                             unit="Gb/s", doc="speed of each direction's wire")
    vlan_base: int = param(0, key="workload.vlan_base", min=0, max=MAX_VLAN,
                           doc="0: untagged; else VM v's frames carry VLAN vlan_base + v")
    seed: int = seed_param()

    def __post_init__(self) -> None:
        if self.vlan_base and self.vlan_base + self.vms - 1 > MAX_VLAN:
            raise ValueError(f"workload.vlan_base {self.vlan_base} + {self.vms} VMs runs past "
                             f"VLAN {MAX_VLAN}")


def generate_rpc(p: RpcParams) -> Stream:
    """Closed-loop request/response exchanges (latency-bound).

    Client ``c`` (VM ``c // clients``, flow ``c % clients``) starts at a uniform time in
    ``[0, think_ns)``; each exchange is a request at ``t``, its response at ``t + ceil(request
    wire time) + service_ns``, and the client's next request ``ceil(response wire time) +
    ceil(Exp(think_ns))`` after the response. The schedule assumes no latency in between: a
    mechanism that adds latency delays a client's later exchanges by it (the exchanges of one
    client are its flow's requests in xid order). Exchange ``e`` (0-based) belongs to client
    ``e mod clients``; xids number the requests 1, 2, ... in time order. Frames of different
    clients are not serialized against each other on the wire: at think times of µs the load
    is far below line rate, and ``rpc`` measures latency, not throughput.

    >>> s = generate_rpc(RpcParams(requests=2, clients=1, think_ns=0))
    >>> s[["time_ns", "direction", "role", "xid", "frame_bytes"]].tolist()
    [(0, 1, 1, 1, 128), (2119, 2, 2, 1, 1024), (2955, 1, 1, 2, 128), (5074, 2, 2, 2, 1024)]
    """
    if p.requests > BLOCK:
        return as_stream(2 * p.requests, lambda: rpc_columns(p), rpc_records(p), repr(p))
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
    # requests then responses, merged in time order (stable: a request first at a tie),
    # column by column before any record exists
    time = np.concatenate([req_t, req_t + req_w + p.service_ns]).astype(np.uint64)
    order = np.argsort(time, kind="stable")
    time = time[order]
    response = order >= n
    exchange = np.where(response, order - n, order)
    out = empty(2 * n)
    out["time_ns"] = time - time[0]
    out["frame_bytes"] = np.where(response, p.response_bytes, p.request_bytes)
    out["role"] = np.where(response, Role.RESPONSE, Role.REQUEST)
    out["xid"] = exchange + 1
    fill(out, np.where(response, answer, ask).astype(np.uint8), vm[exchange], flow[exchange],
         p.vlan_base)
    return out


def rpc_columns(p: RpcParams) -> Iterator[Columns]:
    """:func:`generate_rpc`'s schedule a block at a time, for more than :data:`BLOCK`
    requests: the clients' think times drawn for about :data:`BLOCK` requests at a time
    (rounds of every client), a request going out once every client's next one is later,
    and the responses merged in by time (a request first at a tie). Columns: direction,
    size, time (from the clients' clock), VM, flow, xid."""
    n_clients = p.vms * p.clients
    req_w = math.ceil(8 * (p.request_bytes + OVERHEAD) / p.link_gbps)
    rsp_w = math.ceil(8 * (p.response_bytes + OVERHEAD) / p.link_gbps)
    ask = Dir.RX if p.direction == "rx" else Dir.TX
    answer = Dir.TX if ask == Dir.RX else Dir.RX

    def requests() -> Iterator[tuple[np.ndarray, ...]]:
        rng = np.random.default_rng(p.seed)
        per = -(-p.requests // n_clients)
        rounds = max(1, BLOCK // n_clients)
        clients = np.arange(n_clients)
        nxt = np.floor(rng.random(n_clients) * p.think_ns).astype(np.int64)
        held_t, held_c = np.zeros(0, np.int64), np.zeros(0, np.int64)
        xid = 1
        for j0 in range(0, per, rounds):
            r = min(rounds, per - j0)
            think = np.ceil(rng.exponential(p.think_ns, (n_clients, r))).astype(np.int64)
            cycle = req_w + p.service_ns + rsp_w + think
            req = np.empty((n_clients, r), dtype=np.int64)
            req[:, 0] = nxt
            np.cumsum(cycle[:, :-1], axis=1, out=req[:, 1:])
            req[:, 1:] += nxt[:, None]
            nxt = req[:, -1] + cycle[:, -1]
            keep = (j0 + np.arange(r))[None, :] * n_clients + clients[:, None] < p.requests
            t = np.concatenate([held_t, req[keep]])
            c = np.concatenate([held_c, np.broadcast_to(clients[:, None], req.shape)[keep]])
            order = np.lexsort((c, t))
            t, c = t[order], c[order]
            # the clients with exchanges left: none of their requests comes before this
            more = (j0 + r) * n_clients + clients < p.requests
            cut = int(np.searchsorted(t, nxt[more].min(), "left")) if more.any() else len(t)
            held_t, held_c = t[cut:], c[cut:]
            yield _rpc_columns(t[:cut], c[:cut], xid, ask, p.request_bytes, p.clients)
            xid += cut

    def responses() -> Iterator[tuple[np.ndarray, ...]]:
        for _, _, t, vm, flow, x in requests():
            yield (np.full(len(t), answer, dtype=np.uint8),
                   np.full(len(t), p.response_bytes, dtype=np.uint32),
                   t + np.int64(req_w + p.service_ns), vm, flow, x)

    yield from merge_by_time(requests(), responses())


def rpc_records(p: RpcParams) -> Callable[[Columns], np.ndarray]:
    """Records of :func:`rpc_columns`' columns, timed from the earliest request (the
    earliest start of a client with an exchange)."""
    n_clients = p.vms * p.clients
    start = np.floor(np.random.default_rng(p.seed).random(n_clients) * p.think_ns)
    first = np.int64(start[:min(p.requests, n_clients)].min())
    ask = Dir.RX if p.direction == "rx" else Dir.TX

    def records(cols: Columns) -> np.ndarray:
        direction, size, time, vm, flow, xid = cols
        out = empty(len(time))
        out["time_ns"] = (time - first).astype(np.uint64)
        out["frame_bytes"] = size
        out["role"] = np.where(direction == ask, Role.REQUEST, Role.RESPONSE)
        out["xid"] = xid
        fill(out, direction, vm, flow, p.vlan_base)
        return out

    return records


def _rpc_columns(t: np.ndarray, client: np.ndarray, xid: int, ask: Dir, size: int,
                 per_vm: int) -> tuple[np.ndarray, ...]:
    """Requests at times ``t`` of ``client`` s, numbered from ``xid``, as columns."""
    n = len(t)
    return (np.full(n, ask, dtype=np.uint8), np.full(n, size, dtype=np.uint32), t,
            (client // per_vm).astype(np.uint16), client % per_vm,
            np.arange(xid, xid + n, dtype=np.uint32))


@dataclass(frozen=True)
class BulkParams:
    """Parameters of ``bulk``."""

    packets: int = param(100_000, key="workload.packets", min=1, max=MAX_PACKETS,
                         doc="data frames in the stream (acknowledgements come on top)")
    offered_gbps: float | None = param(
        None, key="workload.offered_gbps", min=0.001, max=1000.0, unit="Gb/s",
        doc="rate of the data frames, RFC 5180 wire bits; set this or offered_pps "
            "(neither: 100000 frames/s)")
    offered_pps: int | None = param(
        None, key="workload.offered_pps", min=1, max=10**10, unit="frames/s",
        doc="rate of the data frames per second; set this or offered_gbps (neither: "
            "100000)")
    link_gbps: float = param(10.0, key="workload.link_gbps", min=0.001, max=1000.0,
                             unit="Gb/s", doc="speed of each direction's wire")
    frame_bytes: int = frame_param(1518, "workload.frame_bytes", "data frame size (MTU-sized)")
    direction: str = param("rx", key="workload.direction", choices=("rx", "tx"),
                           doc="which way the data goes (acknowledgements go the other way)")
    vms: int = param(1, key="workload.vms", min=1, max=1024, doc="VMs sharing the port")
    flows: int = param(1, key="workload.flows", min=1, max=4096, doc="bulk flows per VM")
    ack_every: int = param(2, key="workload.ack_every", min=0, max=1 << 16,
                           doc="one 64-byte acknowledgement per this many data frames of a "
                               "flow (TCP delayed ACK: 2); 0 for none")
    vlan_base: int = param(0, key="workload.vlan_base", min=0, max=MAX_VLAN,
                           doc="0: untagged; else VM v's frames carry VLAN vlan_base + v")
    seed: int = seed_param()

    def __post_init__(self) -> None:
        check_rate(self, self.frame_bytes, 1)
        if self.vlan_base and self.vlan_base + self.vms - 1 > MAX_VLAN:
            raise ValueError(f"workload.vlan_base {self.vlan_base} + {self.vms} VMs runs past "
                             f"VLAN {MAX_VLAN}")


def generate_bulk(p: BulkParams) -> Stream:
    """Throughput-bound transfer: MTU frames at a constant rate, flows served round robin.

    Data frame ``i`` belongs to flow ``i mod (vms x flows)`` (VM ``flow // flows``); after every
    ``ack_every``-th data frame of a flow, a 64-byte acknowledgement goes the other way as soon
    as that frame has arrived (its start plus its wire time, rounded up). The seed is unused:
    the stream is deterministic by construction.

    >>> s = generate_bulk(BulkParams(packets=4, offered_gbps=10.0))
    >>> s[["time_ns", "direction", "frame_bytes"]].tolist()
    [(0, 1, 1518), (1231, 1, 1518), (2461, 1, 1518), (2462, 2, 64), (3692, 1, 1518),
     (4923, 2, 64)]
    """
    n_flows = p.vms * p.flows
    acks = 0
    if p.ack_every:  # flows' rounds q with q % ack_every == ack_every - 1 end in an ack
        rounds = p.packets // n_flows
        acks = n_flows * (rounds // p.ack_every) + (
            p.packets % n_flows if rounds % p.ack_every == p.ack_every - 1 else 0)
    return as_stream(p.packets + acks, lambda: bulk_columns(p), plain_records(p.vlan_base),
                     repr(p))


def bulk_columns(p: BulkParams) -> Iterator[Columns]:
    """:func:`generate_bulk`'s stream a block at a time: its data frames :data:`BLOCK` at a
    time, and the acknowledgements of each block, merged by time (data first at a tie)."""
    n_flows = p.vms * p.flows
    forward = Dir.RX if p.direction == "rx" else Dir.TX
    back = Dir.TX if forward == Dir.RX else Dir.RX
    wire = np.uint64(math.ceil(8 * (p.frame_bytes + OVERHEAD) / p.link_gbps))

    def data() -> Iterator[Columns]:
        first = 0
        for lo in range(0, p.packets, BLOCK):
            idx = np.arange(lo, min(lo + BLOCK, p.packets))
            size = np.full(len(idx), p.frame_bytes, dtype=np.uint32)
            time = constant_times(size, gbps=p.offered_gbps, pps=p.offered_pps, first=first)
            first = sent_before(size, p.offered_gbps, first)
            flow_id = idx % n_flows
            yield (np.full(len(idx), forward, dtype=np.uint8), size, time.astype(np.uint64),
                   (flow_id // p.flows).astype(np.uint16), flow_id % p.flows)

    def acks() -> Iterator[Columns]:
        for lo, (_, _, time, vm, flow) in zip(itertools.count(0, BLOCK), data()):
            acked = np.flatnonzero(((lo + np.arange(len(time))) // n_flows) % p.ack_every
                                   == p.ack_every - 1)
            yield (np.full(len(acked), back, dtype=np.uint8),
                   np.full(len(acked), MIN_FRAME, dtype=np.uint32), time[acked] + wire,
                   vm[acked], flow[acked])

    yield from merge_by_time(data(), acks()) if p.ack_every else data()


WORKLOADS = (
    Workload("fixed", "packets", "frames of one size at a constant, Poisson or on/off rate",
             FixedParams, generate_fixed, version="2"),
    Workload("imix", "packets", "simple IMIX (64/594/1518 B at 7:4:1) at an offered rate",
             MixParams, generate_imix, version="2"),
    Workload("bimodal", "packets", "small and large frames in a set proportion",
             BimodalParams, generate_bimodal, version="2"),
    Workload("sequence", "packets", "a repeatable frame-size sequence (RFC 6985 style)",
             SequenceParams, generate_sequence, version="2"),
    Workload("rpc", "packets", "closed-loop request/response with think time (latency-bound)",
             RpcParams, generate_rpc, version="2"),
    Workload("bulk", "packets", "MTU-sized transfer with acknowledgements (throughput-bound)",
             BulkParams, generate_bulk),
)
