"""``native-net``: the bare-metal reference for the NIC mechanisms -- one host, one core, one NIC.

**Data path** (:func:`paths`). A received frame crosses the wire (``wire_rx``: ``8 x (frame +
20)`` bit times at ``link.gbps``; ``link.buffer`` frames may wait for it, more are dropped
upstream), the NIC classifies it and DMAs it into the next receive descriptor's buffer
(``nic_rx``: one NIC clock cycle, the model's one operation per cycle), then waits in the
receive ring for the interrupt (moderation) and is processed by the host driver
(``driver_rx``: ``net.driver.rx`` cycles, plus ``net.irq`` for the first frame each interrupt
releases) and the stack (``stack_rx``: ``net.stack.rx`` + ``net.copy_per_byte`` per byte).
The ring holds ``nic.ring_size - 1`` frames (``driver_rx``'s capacity, held frames included):
a frame arriving to a full ring is dropped. A transmitted frame goes the other way: stack
(``stack_tx``), driver (``driver_tx``), NIC DMA (``nic_tx``), its own wire (``wire_tx``,
full duplex). Host stages share one core (``cpu0``, domain ``host``, ``cpu.clock_mhz``).

**NIC model.** Received frames are replayed through :class:`~hwmodels.nic.NICModel` (one
queue, no filter: every frame takes the default queue; every VLAN the stream uses is
enabled) at the cycle they leave the wire. The IOMMU domain of the host is identity-mapped
(I/O page ``k`` to frame ``k``, read/write), so the DMA is translated through the IOTLB as on
a host with the IOMMU on in pass-through-like identity mode: ``iotlb.misses`` counts the
model's misses over the ring's buffers (two 2 KiB buffers per 4 KiB page, as ``ixgbe`` uses
them). Each descriptor is re-posted the cycle after it is consumed, so the model's ring never
runs dry: running out of descriptors is decided by the queueing simulation (the driver's
pace), not by the model. The model's interrupts (``nic.itr_us`` throttle, ``nic.irq_threshold``)
release the held frames.

Not modelled: the IOMMU walk's latency (the model completes a DMA in its cycle; the walk's
references are counted, not timed), and transmit DMA through the model (transmitted frames
cost host cycles, NIC and wire time only). Native has no traps: ``traps.total`` is 0.

>>> from codesign.net.graph import saturation_pps
>>> from codesign.platforms import load_platform
>>> rx, tx = paths(NativeNetParams(), load_platform("kvm-nehalem"))
>>> [s.name for s in rx.stages], rx.hold_before
(['wire_rx', 'nic_rx', 'driver_rx', 'stack_rx'], 'driver_rx')
>>> round(saturation_pps(rx, 64))              # the core: 2.9e9 / (400 + 1100 + 16) cycles
1912929
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.metrics import Metrics, latency, traps
from codesign.net.graph import DOMAINS, DataPath, Resource, Stage, wire_stage
from codesign.net.queueing import Result, simulate
from codesign.params import param
from codesign.platforms import Platform
from codesign.registry import Mechanism
from hwmodels.nic import NICModel, NICParams, Op, OpBatch, count_events
from hwmodels.nic.ops import OP_FIELDS
from workloads.packets.frames import OVERHEAD, Dir

NIC_CLOCK_MHZ = 250.0
"""The NIC model's default clock (``NICParams.clock_mhz``, an assumption documented there)."""

COSTS = ("cpu.clock_mhz", "net.driver.rx", "net.stack.rx", "net.driver.tx", "net.stack.tx",
         "net.copy_per_byte", "net.irq")
HEADLINE = ("throughput.gbps", "latency.p99_us", "cycles_per_packet", "drops")


@dataclass(frozen=True)
class NativeNetParams:
    """Parameters of ``native-net``."""

    ring_size: int = param(256, key="nic.ring_size", min=2, max=4096,
                           doc="receive ring descriptors, a power of two (Linux e1000 "
                               "default; 4096, the ixgbe maximum, keeps the buffers in the "
                               "NIC model's 16 MiB I/O space)")
    itr_us: float = param(10.0, key="nic.itr_us", min=0.0, max=10_000.0, unit="us",
                          doc="minimum interval between interrupts (e1000e throttle floor)")
    irq_threshold: int = param(32, key="nic.irq_threshold", min=1, max=1 << 16,
                               doc="completions that raise an interrupt before the interval")
    link_gbps: float = param(10.0, key="link.gbps", min=0.001, max=40.0, unit="Gb/s",
                             doc="port speed; at most 40: the NIC model takes one operation "
                                 "per 4 ns cycle and a frame needs three (frame, descriptor, "
                                 "doorbell)")
    link_buffer: int = param(64, key="link.buffer", min=1, max=1 << 20, unit="frames",
                             doc="frames that may wait for the port (upstream switch buffer); "
                                 "more are dropped")
    iotlb_entries: int = param(64, key="iotlb.entries", min=1, max=1 << 12,
                               doc="IOTLB entries (a power-of-two multiple of iotlb.ways)")
    iotlb_ways: int = param(4, key="iotlb.ways", min=1, max=64, doc="IOTLB associativity")

    def nic(self) -> NICParams:
        """The NIC model's parameters: one queue, no VF."""
        return NICParams(queues=1, filters=1, ring_size=self.ring_size, itr_us=self.itr_us,
                         irq_threshold=self.irq_threshold, link_gbps=self.link_gbps,
                         iotlb_entries=self.iotlb_entries, iotlb_ways=self.iotlb_ways,
                         clock_mhz=NIC_CLOCK_MHZ)

    def __post_init__(self) -> None:
        self.nic()  # a bad combination (ring size not a power of two, ...) fails here


def paths(p: NativeNetParams, platform: Platform) -> tuple[DataPath, DataPath]:
    """The receive and transmit data paths (see the module doc)."""
    cost = platform.value
    cpu = Resource("cpu0", "core", cost("cpu.clock_mhz") * 1e6, domain="host")
    nic = Resource("nic", "nic", NIC_CLOCK_MHZ * 1e6)
    byte = cost("net.copy_per_byte")
    rx = DataPath((
        wire_stage(Resource("wire_rx", "link", p.link_gbps * 1e9), "wire_rx",
                   capacity=p.link_buffer),
        Stage("nic_rx", nic, 1),
        Stage("driver_rx", cpu, cost("net.driver.rx"), capacity=p.ring_size - 1),
        Stage("stack_rx", cpu, cost("net.stack.rx"), per_byte=byte),
    ), hold_before="driver_rx")
    tx = DataPath((
        Stage("stack_tx", cpu, cost("net.stack.tx"), per_byte=byte),
        Stage("driver_tx", cpu, cost("net.driver.tx")),
        Stage("nic_tx", nic, 1),
        wire_stage(Resource("wire_tx", "link", p.link_gbps * 1e9), "wire_tx"),
    ))
    return rx, tx


def _buffer(slot: np.ndarray) -> np.ndarray:
    """I/O virtual address of the buffer behind a ring slot: two 2 KiB buffers per page."""
    return (slot >> 1) << 12 | (slot & 1) << 11


def nic_replay(frames: np.ndarray, wire_done_ns: np.ndarray,
               nic: NICParams) -> tuple[np.ndarray, dict[str, int], np.ndarray]:
    """Replay received frames through the NIC model at the cycle each leaves the wire.

    Returns the status of every frame, the model's counters, and the interrupt times (ns,
    on the stream's clock).
    """
    ns_per_cycle = 1e3 / nic.clock_mhz
    r = nic.ring_size
    vlans = sorted({0} | set(np.unique(frames["vlan"]).tolist()))
    n_pages = r // 2 + 1
    setup = len(vlans) + n_pages + (r - 1) + 1
    n = len(frames)
    cyc = np.ceil(wire_done_ns / ns_per_cycle - 1e-9).astype(np.int64) + setup
    if n > 1 and int(np.diff(cyc).min()) < 3:
        raise ValueError("frames closer than 3 NIC cycles: lower link.gbps")
    cols = {name: np.zeros(setup + 3 * n, dtype=np.int64) for name in OP_FIELDS}
    cols["flow"] = np.zeros(setup + 3 * n, dtype=np.uint64)
    k = 0
    for v in vlans:                                # the host's VLANs
        cols["op"][k], cols["vlan"][k], cols["enable"][k] = Op.VLAN, v, 1
        k += 1
    pages = np.arange(n_pages)                     # identity-mapped buffer pages, R/W
    sl = slice(k, k + n_pages)
    cols["op"][sl], cols["addr"][sl], cols["pfn"][sl] = Op.MAP, pages << 12, pages
    cols["arg"][sl], cols["enable"][sl] = 3, 1
    k += n_pages
    slots = np.arange(r - 1)                       # a full ring, then its doorbell
    sl = slice(k, k + r - 1)
    cols["op"][sl], cols["slot"][sl], cols["addr"][sl] = Op.DESC, slots, _buffer(slots)
    k += r - 1
    cols["op"][k], cols["slot"][k] = Op.DOORBELL, r - 1
    k += 1
    cols["cycle"][:setup] = np.arange(setup)
    # Per frame: the frame, then the driver re-posts a descriptor and rings the doorbell.
    tail = (r - 1 + np.arange(n)) % r
    body = {name: cols[name][setup:].reshape(n, 3) for name in OP_FIELDS}
    body["cycle"][:] = cyc[:, None] + np.arange(3)
    body["op"][:] = [Op.RX, Op.DESC, Op.DOORBELL]
    body["vlan"][:, 0] = frames["vlan"]
    body["mac"][:, 0] = frames["dst_mac"]
    body["flow"][:, 0] = (frames["src_ip"].astype(np.uint64) << np.uint64(32)) \
        | frames["dst_ip"].astype(np.uint64)
    body["slot"][:, 1] = tail
    body["addr"][:, 1] = _buffer(tail)
    body["slot"][:, 2] = (tail + 1) % r
    ops = OpBatch(cols)
    model = NICModel(nic)
    end = int(cols["cycle"][-1]) + nic.itr_cycles + 2
    res = model.run(ops, until=end)
    status = res.events["status"][setup:][::3]
    irq_ns = (res.irq_cycle.astype(np.float64) - setup) * ns_per_cycle
    return status, count_events(ops, res), irq_ns[irq_ns >= 0]


def run(stream: np.ndarray, p: NativeNetParams, platform: Platform) -> Metrics:
    """Metrics of the host receiving and sending every frame of ``stream``."""
    rx_path, tx_path = paths(p, platform)
    n = len(stream)
    t = stream["time_ns"].astype(np.float64)
    size = stream["frame_bytes"].astype(np.int64)
    is_rx = stream["direction"] == Dir.RX
    rx_idx, tx_idx = np.flatnonzero(is_rx), np.flatnonzero(~is_rx)
    # 1. The receive wire (the NIC model needs the time each frame has fully arrived).
    wire = simulate([DataPath(rx_path.stages[:1])], t[rx_idx], size[rx_idx])
    on_nic = rx_idx[wire.delivered]
    wire_done = wire.depart_ns[wire.delivered]
    # 2. The NIC model: classification, DMA through the IOTLB, interrupts.
    status, counters, irq_ns = nic_replay(stream[on_nic], wire_done, p.nic())
    ok = status == 1
    vlan_drops = int((~ok).sum())
    on_nic, wire_done = on_nic[ok], wire_done[ok]
    # 3. The host: NIC stage, interrupt hold, driver and stack (receive); transmit path.
    arrival = np.concatenate([wire_done, t[tx_idx]])
    who = np.concatenate([on_nic, tx_idx])
    path_of = np.concatenate([np.zeros(len(on_nic), np.int64), np.ones(len(tx_idx), np.int64)])
    order = np.lexsort((who, arrival))
    arrival, who, path_of = arrival[order], who[order], path_of[order]
    host_rx = DataPath(rx_path.stages[1:], hold_before=rx_path.hold_before)
    clock_hz = platform.value("cpu.clock_mhz") * 1e6
    host = simulate([host_rx, tx_path], arrival, size[who], path_of=path_of, release_ns=irq_ns,
                    irq_extra_ns=platform.value("net.irq") / clock_hz * 1e9)
    delivered = who[host.delivered]
    lat_us = (host.depart_ns[host.delivered] - t[delivered]) / 1e3
    drops = wire.drops + vlan_drops + host.drops
    return _metrics(n, delivered, host, wire, lat_us, size, drops, counters, irq_ns, t)


def _metrics(n: int, delivered: np.ndarray, host: Result, wire: Result, lat_us: np.ndarray,
             size: np.ndarray, drops: int, counters: dict[str, int], irq_ns: np.ndarray,
             t: np.ndarray) -> Metrics:
    n_ok = len(delivered)
    pps = host.throughput_pps()
    mean_frame = float(size[delivered].mean()) if n_ok else 0.0
    busy = dict(zip(host.resources, host.busy_ns, strict=True))
    for r, b in zip(wire.resources, wire.busy_ns, strict=True):
        busy[r] = busy.get(r, 0.0) + b
    dep = host.depart_ns[host.delivered]
    span = float(dep.max() - t.min()) if n_ok else 0.0
    per_domain = dict.fromkeys(DOMAINS, 0.0)
    for r, b in busy.items():
        if r.kind == "core":
            per_domain[r.domain] += b * r.hz / 1e9 / max(n_ok, 1)
    out = {
        "packets": n,
        "throughput.pps": pps,
        "throughput.gbps": pps * 8 * (mean_frame + OVERHEAD) / 1e9 if n_ok else 0.0,
        "drops": drops,
        "cycles_per_packet": sum(per_domain.values()),
        "interrupts": len(irq_ns),
        "iotlb.misses": counters["nic.iotlb.misses"],
    }
    out |= {f"cycles_per_packet.{d}": c for d, c in per_domain.items()}
    out |= {f"cpu.utilization.{r.name}": (b / span if span > 0 else 0.0)
            for r, b in busy.items()}
    lat = latency(lat_us, "us") if n_ok else Metrics(
        {"latency.mean_us": 0.0, "latency.p50_us": 0.0, "latency.p99_us": 0.0})
    return Metrics(out) | lat | traps({})


MECHANISM = Mechanism(
    name="native-net",
    accepts=("packets",),
    summary="bare-metal host on the NIC model: one queue, one core, moderated interrupts",
    params=NativeNetParams,
    run=run,
    costs=COSTS,
    headline=HEADLINE,
)
