"""A NIC mechanism's run over a stream in pieces, in memory bounded by a piece.

:func:`run_stream` is :func:`codesign.net.common.run_paths` with every stage fed a chunk of
frames at a time -- the wire (:class:`~codesign.net.queueing.Fifo`), the NIC model
(:class:`~codesign.net.nicreplay.NICReplayer`), its receive buffer, the host paths
(:class:`~codesign.net.queueing.Simulation`) -- each keeping only what is inside it, and the
delivered frames counted into a :class:`~codesign.net.tally.Deliveries` as they leave. The
stream itself may be a :class:`~workloads.packets.chunked.FrameChunks` that is never held
whole: a stream of 1e8 frames runs in memory bounded by the chunk, the packets inside the
stages, and the NIC's and mechanism's state. Its metrics are exactly those of the run fed
whole (``tests/net/test_streamed.py``, every mechanism, chunks of one frame and up).

Two survey passes come first, as a driver's configuration does: the addresses the wire
delivers (the NIC's filters and queues are set up for them, in the order of their first
frames), then the VMs whose frames reach the host and those that send (their paths, in
:func:`~codesign.net.common.run_paths`' order). The run is the third pass.

Within a pass the wire runs ahead of the NIC until a later chunk has delivered a frame (the
NIC model needs the next delivery's time to finish a chunk), and the host is fed what a chunk
delivered and sent, in time order, up to the next chunk's first frame: nothing of a later
chunk reaches the host before it, and what arrives after it is held back and merged into
the next chunk's feed.

>>> from codesign.net.common import from_nic, metrics, run_paths
>>> from codesign.net.native import MECHANISM, paths
>>> from codesign.params import build
>>> from codesign.platforms import load_platform
>>> from workloads.packets.chunked import split
>>> from workloads.packets.synthetic import FixedParams, generate_fixed
>>> p = build(MECHANISM.params, {})
>>> rx, tx = paths(p, load_platform("kvm-nehalem"))
>>> s = generate_fixed(FixedParams(packets=500, offered_gbps=1.0))
>>> a = metrics(run_paths(s, p, lambda vm: from_nic(rx), lambda vm: tx))
>>> b = metrics(run_stream(split(s, [100, 200]), p, lambda vm: from_nic(rx), lambda vm: tx,
...                        chunk=64))
>>> a == b, a["packets"]
(True, 500)
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

from codesign.net.common import PortParams, Totals, _distinct, _host_paths
from codesign.net.graph import DataPath
from codesign.net.nicreplay import NICReplayer
from codesign.net.queueing import Fifo, Simulation
from codesign.net.tally import Deliveries
from workloads.packets.chunked import Stream, pieces
from workloads.packets.frames import Dir, segment_pieces

FIELDS = ("dst_mac", "vlan", "vm", "src_ip", "dst_ip")
"""The fields the NIC model reads."""


class _Chunk(NamedTuple):
    """Frames of the segmented stream: the first one's number in the stream, and columns."""

    base: int
    t: np.ndarray
    size: np.ndarray
    is_rx: np.ndarray
    records: np.ndarray
    cut: int


class _Front(NamedTuple):
    """One chunk through the wire, the NIC and its receive buffer: the chunk, its receive
    frames (positions in it), those that reached the NIC and when, the NIC's status and VM
    of each, the buffer's departures and drops, and the next chunk's first frame's time."""

    chunk: _Chunk
    rx: np.ndarray
    wire_drop: np.ndarray
    on_nic: np.ndarray
    done: np.ndarray
    status: np.ndarray
    vm: np.ndarray
    e_dep: np.ndarray
    e_drop: np.ndarray
    horizon: float


def chunks(stream: Stream, p: PortParams, chunk: int) -> Iterator[_Chunk]:
    """One pass over the stream cut to the wire's MTU, in non-empty chunks of at most
    ``chunk`` frames."""
    base = 0
    step = max(chunk, 1)
    for seg, cut in segment_pieces(pieces(stream), p.mtu, p.link_gbps):
        for lo in range(0, len(seg), step):
            part = seg[lo:lo + step]
            yield _Chunk(base, part["time_ns"].astype(np.float64),
                         part["frame_bytes"].astype(np.int64), part["direction"] == Dir.RX,
                         part, cut if lo == 0 else 0)
            base += len(part)


def run_stream(stream: Stream, p: PortParams, rx_path: Callable[[int], DataPath],
               tx_path: Callable[[int], DataPath], walk_ref_ns: float = 0.0,
               chunk: int = 1 << 16, in_memory: int = 1 << 23) -> Totals:
    """What :func:`~codesign.net.common.metrics` reads of ``run_paths(stream, ...)`` (same
    arguments), the stream taken ``chunk`` frames at a time (see the module docstring);
    latencies beyond ``in_memory`` go to a temporary file."""
    layout, nicp = p.layout(), p.nic()
    wire_st = p.wire().stages[0]
    wire_cap = wire_st.capacity if wire_st.capacity else 1 << 62

    def new_wire() -> Fifo:
        return Fifo(wire_st, wire_cap, unit_room=True)

    def wire_pass(wire: Fifo) -> Iterator[tuple[_Chunk, np.ndarray, np.ndarray, np.ndarray]]:
        for c in chunks(stream, p, chunk):
            rx = np.flatnonzero(c.is_rx)
            depart, drop = wire.feed(c.t[rx], c.size[rx])
            yield c, rx, depart, drop

    # Survey 1: the addresses the wire delivers, each with its first frame's VM.
    first_vm: dict[int, int] = {}
    for c, rx, _, drop in wire_pass(new_wire()):
        on = rx[drop < 0]
        key = (c.records["dst_mac"][on].astype(np.uint64) << np.uint64(12)) \
            | c.records["vlan"][on]
        keys, first = np.unique(key, return_index=True)
        vms = c.records["vm"][on[first]]
        for k, v in zip(keys.tolist(), vms.tolist(), strict=True):
            first_vm.setdefault(k, v)
    addr = np.array(sorted(first_vm), dtype=np.uint64)
    survey = {"dst_mac": addr >> np.uint64(12), "vlan": (addr & np.uint64(0xFFF)).astype(
        np.uint16), "vm": np.array([first_vm[k] for k in addr.tolist()], dtype=np.int64)}

    def stages() -> tuple[Fifo, NICReplayer, Fifo]:
        return (new_wire(), NICReplayer(survey, nicp, layout, keep_irqs=False),
                Fifo(p.nic_stage(), p.rx_buffer_kib << 10, unit_room=False))

    def nic_pass(wire: Fifo, nic: NICReplayer, engine: Fifo) -> Iterator[_Front]:
        # The wire's chunks, each given to the NIC with the next delivered frame's time:
        # the wire runs ahead until a later chunk has delivered one, or the stream ends.
        waiting: collections.deque[tuple[_Chunk, np.ndarray, np.ndarray, np.ndarray]] = (
            collections.deque())

        def next_delivery() -> float | None:
            for _, _, dep, drop in itertools.islice(waiting, 1, None):
                ok = drop < 0
                if ok.any():
                    return float(dep[ok][0])
            return None

        def front() -> _Front:
            later = next_delivery()
            c, rx, dep, drop = waiting.popleft()
            ok = drop < 0
            on_nic, done = rx[ok], dep[ok]
            status, _, vm, walk = nic.feed({f: c.records[f][on_nic] for f in FIELDS}, done,
                                           later)
            e_dep, e_drop = engine.feed(done, c.size[on_nic],
                                        walk * walk_ref_ns if walk_ref_ns else None)
            horizon = waiting[0][0].t[0] if waiting else np.inf
            return _Front(c, rx, drop, on_nic, done, status, vm, e_dep, e_drop,
                          float(horizon))

        for item in wire_pass(wire):
            waiting.append(item)
            while len(waiting) > 1 and next_delivery() is not None:
                yield front()
        while waiting:
            yield front()

    # Survey 2: the VMs whose frames reach the host, and those that send.
    rx_vms: set[int] = set()
    tx_vms: set[int] = set()
    for f in nic_pass(*stages()):
        rx_vms.update(_distinct(f.vm[(f.status == 1) & (f.e_drop < 0)]))
        tx_vms.update(_distinct(f.chunk.records["vm"][~f.chunk.is_rx].astype(np.int64)))
    paths, rx_map, tx_map, napi = _host_paths(p, nicp, sorted(rx_vms), sorted(tx_vms),
                                              rx_path, tx_path)

    # The run: the host fed what each chunk delivered and sent, in time order.
    sim = Simulation(paths, napi=napi, log=False)
    wire, nic, engine = stages()
    delivered = Deliveries(in_memory)
    # Packets handed to the host after the chunk's horizon (carried to the next feed), and
    # those fed and still inside: (order key, arrival, size, path, port time, direction).
    held = _Packets.none()
    inside = _Packets.none()  # keyed by their number in feeding order
    frames = superframes = drops = host_drops = 0
    first_ns = np.inf
    for f in nic_pass(wire, nic, engine):
        c = f.chunk
        frames += len(c.t)
        superframes += c.cut
        if len(c.t):
            first_ns = min(first_ns, float(c.t.min()))
        ok = (f.status == 1) & (f.e_drop < 0)
        drops += int((f.wire_drop >= 0).sum()) + int((~ok).sum())
        tx = np.flatnonzero(~c.is_rx)
        rx_who = f.on_nic[ok]
        dirs = c.records["direction"]
        fresh = _Packets(np.concatenate([c.base + rx_who, c.base + tx]),
                         np.concatenate([f.e_dep[ok], c.t[tx]]),
                         np.concatenate([c.size[rx_who], c.size[tx]]),
                         np.concatenate([rx_map[f.vm[ok]],
                                         tx_map[c.records["vm"][tx].astype(np.int64)]]),
                         np.concatenate([c.t[rx_who], c.t[tx]]),
                         np.concatenate([dirs[rx_who], dirs[tx]]))
        feed = held.join(fresh).sorted()
        now = feed.arrival <= f.horizon
        held = feed.take(~now)
        feed = feed.take(now)
        start = sim.fed
        out = sim.feed(feed.arrival, feed.size, feed.path, horizon=f.horizon)
        assert out is not None
        inside = inside.join(feed._replace(key=np.arange(start, start + len(feed.key))))
        numbers, dep, drop = out
        where = np.searchsorted(inside.key, numbers)
        fin = inside.take(where)
        gone = np.zeros(len(inside.key), dtype=bool)
        gone[where] = True
        inside = inside.take(~gone)
        ok_host = drop < 0
        host_drops += int((~ok_host).sum())
        delivered.add(dep[ok_host], fin.port[ok_host], fin.size[ok_host], fin.dirs[ok_host])
    host = sim.result(np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64))
    counters, _ = nic.finish()
    before = ((wire_st.resource, wire.busy), (engine.stage.resource, engine.busy))
    return Totals(frames, superframes, drops + host_drops,
                  0.0 if first_ns == np.inf else first_ns, host, before, dict(counters),
                  tuple(paths), delivered)


class _Packets(NamedTuple):
    """Packets on their way to, or inside, the host simulation, column by column: the order
    key (the frame's number in the stream, or the number it was fed as), arrival at the
    host, size, path, first byte on the port, direction."""

    key: np.ndarray
    arrival: np.ndarray
    size: np.ndarray
    path: np.ndarray
    port: np.ndarray
    dirs: np.ndarray

    @classmethod
    def none(cls) -> _Packets:
        return cls(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64),
                   np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.uint8))

    def join(self, other: _Packets) -> _Packets:
        return _Packets(*(np.concatenate([a, b]) for a, b in zip(self, other, strict=True)))

    def take(self, which: np.ndarray) -> _Packets:
        return _Packets(*(a[which] for a in self))

    def sorted(self) -> _Packets:
        """By arrival, then by key (the stream's order at a tie: ``run_paths``' order)."""
        return self.take(np.lexsort((self.key, self.arrival)))
