"""What every NIC mechanism shares: the port's parameters, the run from stream to metrics.

A mechanism describes *where* a packet goes: the receive path of each VM from the NIC on,
and the transmit path of each VM down to the wire (:class:`~codesign.net.graph.DataPath`),
and how it configures the physical NIC (:class:`~codesign.net.nicreplay.Layout`).
:func:`run_paths` does the rest, the same way for every mechanism:

1. received frames cross the receive wire (``link.gbps``; ``link.buffer`` frames may wait
   for it, more are dropped upstream) and the NIC's receive engine
   (:meth:`PortParams.nic_stage`: one cycle of ``nic.clock_mhz`` a frame), both first come
   first served, by the FIFO recurrence;
2. the NIC model classifies each at the cycle it has arrived and DMAs it through its IOTLB
   (:func:`~codesign.net.nicreplay.replay`);
3. one queueing simulation (:func:`~codesign.net.queueing.simulate`) carries the received
   frames from the NIC to the guest and the transmitted frames from the guest to the
   transmit wire, every core shared by the paths that use it. Each receive path's hold is
   its queue's vector under NAPI (:class:`~codesign.net.queueing.Napi`): masked while the
   poll runs, re-armed when the poll has emptied the ring, at most one interrupt per
   ``nic.itr_us`` (whole NIC cycles, a hard cap as the ITR of e1000e and ixgbe) or earlier
   once ``nic.irq_threshold`` (> 0) frames wait -- the NIC model's interrupt unit under a
   NAPI driver. Each poll round (at most ``napi.budget`` frames) costs ``net.napi.poll``
   (:meth:`PortParams.napi_poll`, on the stage the mechanism puts it);
4. :func:`metrics` reads the issue's metrics off the simulation: ``packets`` (frames on the
   wire), ``throughput.pps`` (delivered frames of both directions: received ones handed to
   the guest, transmitted ones off the wire), ``throughput.rx_gbps`` and ``.tx_gbps`` (each
   direction's goodput: frame bytes, destination MAC to FCS), ``throughput.gbps`` (the
   busier direction's goodput, which a full-duplex port caps at its line rate less the
   preamble and gap), ``throughput.wire_gbps`` (the same direction with those 20 bytes a
   frame: what RFC 5180 counts), ``throughput.duplex_gbps`` (both directions' goodput
   summed), ``latency.*_us`` (from the first byte on the port, or from the guest's send, to
   delivery; the mean is the exact mean rounded once and the percentiles nearest-rank, so a
   run in pieces gives the same bits: :mod:`~codesign.net.tally`), ``drops`` (upstream of
   the port, by the NIC, at a full ring), ``cycles_per_packet`` and
   ``cycles_per_packet.<domain>`` (core cycles per delivered frame, by the domain each
   stage's work counts for), ``cpu.utilization.<resource>``, ``traps.<kind>.<reason>`` and
   ``traps.total`` (from the stages' declared traps), ``interrupts`` (``interrupts.nic``:
   the NIC's vectors under NAPI, plus ``interrupts.virtual``: the interrupts a device model
   raised and the notifications sent), ``iotlb.misses`` and ``iommu.walk_refs`` (the IOMMU's
   page-walk references on those misses, each of which delays its frame's DMA: see
   :mod:`~codesign.net.nicreplay`).

Before step 1 a frame above the link's MTU (``link.mtu``; a capture of a host with TSO or
GRO holds such super-frames) is cut into the MTU-sized frames the wire carries
(:func:`~workloads.packets.frames.segment`; ``frames.superframes`` counts them); with
``offload.gro`` / ``offload.tso`` the stages after the NIC driver or before the NIC take
them as super-frames again (:meth:`PortParams.offloaded`).

The NIC is the ``nic`` hardware block: every mechanism declares it (``hardware=("nic",)``)
and takes its keys (:class:`PortParams`), so ``hw.cost = true`` adds ``hw.nic.*`` (area,
nets, timing of that very NIC) and ``hw.area_mm2``, and :func:`check_workload` rejects a
workload whose VMs do not fit it before any work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from codesign.hardware import NICKeys
from codesign.metrics import Metrics, traps
from codesign.net.graph import DOMAINS, DataPath, Resource, Stage, wire_stage
from codesign.net.nicreplay import Layout, Replay, check_fit, replay
from codesign.net.queueing import Napi, Result, buffered_fifo, simulate
from codesign.net.tally import Deliveries
from codesign.params import param
from codesign.platforms import Platform
from hwmodels.nic import NICParams
from workloads.packets.chunked import FrameChunks, Stream
from workloads.packets.frames import MIN_FRAME, OVERHEAD, Dir, segment

HEADLINE = ("throughput.gbps", "latency.p99_us", "cycles_per_packet", "drops")


@dataclass(frozen=True)
class PortParams(NICKeys):
    """The physical port and NIC every mechanism has (a base class of their parameters).

    The NIC's keys are the ``nic`` hardware block's (:class:`~codesign.hardware.NICKeys`:
    ``nic.queues``, ``nic.filters``, ``nic.vlans``, ``nic.ring_size``, ``nic.itr_us``,
    ``nic.irq_threshold``, ``nic.vfs``, ``nic.clock_mhz``, ``nic.iova_bits``, ``nic.pa_bits``,
    ``iotlb.*``, ``iommu.levels``, ``link.gbps``), so the NIC the frames are replayed through
    (:meth:`nic`) is the one whose area and timing ``hw.nic.*`` reports. Defaults are the
    block's (Intel 82599 sizes: 128 queues, 128 filters, 4096 VLANs) but for the I/O address
    width (below); a mechanism may change one where its layout needs it (``sriov``:
    ``nic.vfs``). :meth:`layout` is how the mechanism configures the NIC.
    """

    ring_size: int = param(256, key="nic.ring_size", min=2, max=4096,
                           doc="descriptors of each receive ring, a power of two (Linux e1000 "
                               "default; 4096 is the ixgbe maximum)")
    itr_us: float = param(10.0, key="nic.itr_us", min=0.0, max=10_000.0, unit="us",
                          doc="minimum interval between interrupts (e1000e throttle floor)")
    irq_threshold: int = param(0, key="nic.irq_threshold", min=0, max=1 << 16,
                               doc="completions that raise an interrupt before the throttle "
                                   "interval ends (0: none, nic.itr_us is a hard rate cap, as "
                                   "the ITR of e1000e and ixgbe)")
    iova_bits: int = param(27, key="nic.iova_bits", min=13, max=32,
                           doc="I/O virtual address width: 27 bits (128 MiB) hold a full "
                               "receive ring's buffers for each of the 128 queues in one "
                               "domain (VMDq puts them all in the physical function's); the "
                               "NIC model's own default is 24")
    link_gbps: float = param(10.0, key="link.gbps", min=0.001, max=40.0, unit="Gb/s",
                             doc="port speed; at most 40: the NIC model takes one operation "
                                 "per clock cycle and a frame needs two to five (frame, "
                                 "IOMMU updates, doorbell)")
    link_buffer: int = param(64, key="link.buffer", min=1, max=1 << 20, unit="frames",
                             doc="frames that may wait for the port (upstream switch buffer); "
                                 "more are dropped")
    iotlb_entries: int = param(64, key="iotlb.entries", unit="entries", min=1, max=1 << 12,
                               doc="IOTLB entries (a power-of-two multiple of iotlb.ways)")
    iotlb_ways: int = param(4, key="iotlb.ways", min=1, max=64, doc="IOTLB associativity")
    rx_buffer_kib: int = param(512, key="nic.rx_buffer_kib", min=2, max=1 << 20, unit="KiB",
                               doc="the NIC's receive packet buffer, where frames wait for "
                                   "their DMA (and its IOMMU walk); a frame that does not fit "
                                   "is dropped (512 KiB: the Intel 82599 datasheet's; not "
                                   "part of the RTL block)")
    gro: bool = param(True, key="offload.gro",
                      doc="generic receive offload: full-sized TCP segments merge into "
                          "super-frames of up to offload.max_bytes after the NIC driver, so "
                          "the stages after it work once per super-frame (on by default in "
                          "Linux, and in every TCP result of the anchors)")
    tso: bool = param(True, key="offload.tso",
                      doc="TCP segmentation offload (GSO on the paravirtual paths): the sender's "
                          "stack, drivers and backends work once per super-frame; the NIC (or "
                          "a device model) cuts it into MTU-sized frames")
    csum: bool = param(True, key="offload.csum",
                       doc="checksum offload: when off, each stack computes the TCP/IP "
                           "checksum, net.csum_per_byte per byte")
    max_bytes: int = param(65536, key="offload.max_bytes", min=1518, max=1 << 20,
                           unit="bytes",
                           doc="the largest GRO / TSO super-frame (GSO_MAX_SIZE, 64 KiB in "
                               "Linux; BIG TCP raises it)")
    mtu: int = param(1500, key="link.mtu", min=576, max=9000, unit="bytes",
                     doc="the link's MTU: frames of mtu + 18 bytes (Ethernet header and FCS) "
                         "are full-sized segments, the ones offloads merge; a captured frame "
                         "above it is an offload super-frame, cut into such frames on the "
                         "wire")
    napi_budget: int = param(64, key="napi.budget", min=1, max=1 << 16, unit="frames",
                             doc="frames one NAPI poll round takes before it yields "
                                 "(NAPI_POLL_WEIGHT, 64 in Linux); each round costs "
                                 "net.napi.poll")

    def __post_init__(self) -> None:
        nic = self.nic()  # the NIC's own checks: ring size a power of two, VFs and queues...
        layout = self.layout()
        check_fit(layout, nic, 0)  # the driver's own ring fits the I/O space
        # The model takes a frame's operations one per cycle: back-to-back minimum frames
        # must leave it enough cycles.
        ops = 2 if layout.strategy == "persistent" else 5
        gap = 8 * (MIN_FRAME + OVERHEAD) / self.link_gbps * self.clock_mhz / 1e3
        if int(gap) < ops:
            raise ValueError(f"{MIN_FRAME}-byte frames at link.gbps {self.link_gbps:g} arrive "
                             f"every {gap:.1f} cycles of nic.clock_mhz {self.clock_mhz:g}, "
                             f"fewer than the {ops} NIC operations each takes here: lower "
                             "link.gbps or raise nic.clock_mhz")

    def nic(self) -> NICParams:
        """The NIC model's parameters: exactly the mechanism's NIC keys."""
        return self.to_hw()

    def layout(self) -> Layout:
        """How the mechanism configures the NIC: one queue, the host's or driver domain's."""
        return Layout("shared")

    def wire(self, direction: str = "rx", buffered: bool = True) -> DataPath:
        """The wire of one direction as a one-stage path."""
        link = Resource(f"wire_{direction}", "link", self.link_gbps * 1e9)
        return DataPath((wire_stage(link, f"wire_{direction}",
                                    capacity=self.link_buffer if buffered else 0),))

    def napi_poll(self, platform: Platform) -> dict[str, Any]:
        """The poll-round cost of a receive hold stage, as :class:`Stage` keywords: a round
        (``net.napi.poll`` cycles) per ``napi.budget`` frames, a new one after the core idled
        (its poll emptied the ring and re-armed the vector)."""
        return {"per_batch": platform.value("net.napi.poll"), "batch": self.napi_budget}

    def offloaded(self, path: DataPath) -> DataPath:
        """``path`` with its stages marked ``gro`` / ``tso`` aggregating when that offload is
        on (:meth:`~codesign.net.graph.Stage.aggregated`; full-sized: ``link.mtu + 18``
        bytes and more)."""
        on = {"gro": self.gro, "tso": self.tso}
        full = self.mtu + 18
        stages = tuple(st.aggregated(full, self.max_bytes) if st.offload and on[st.offload]
                       else st for st in path.stages)
        return path if stages == path.stages else DataPath(stages, path.hold_before)

    def csum_per_byte(self, platform: Platform) -> float:
        """A stack stage's checksum work per byte: none with ``offload.csum``."""
        return 0.0 if self.csum else platform.value("net.csum_per_byte")

    def nic_resource(self) -> Resource:
        """The NIC's datapath: one operation per cycle of its clock (``nic.clock_mhz``)."""
        return Resource("nic", "nic", self.clock_mhz * 1e6)

    def nic_stage(self) -> Stage:
        """The NIC's receive engine: classify and DMA a frame, one cycle (the model's one
        operation per cycle)."""
        return Stage("nic_rx", self.nic_resource(), 1)


def check_workload(workload: Any, p: PortParams) -> None:
    """``Mechanism.check``: ``ValueError`` unless the workload's VMs fit the NIC (see
    :func:`~codesign.net.nicreplay.check_fit`); a workload that does not declare
    ``workload.vms`` (a capture) is checked when its frames are replayed."""
    vms = getattr(workload, "vms", None)
    if vms is None:
        return
    base = getattr(workload, "vlan_base", 0)
    check_fit(p.layout(), p.nic(), vms, base + vms - 1 if base else 0)


def core(name: str, domain: str, platform: Platform) -> Resource:
    """A core of ``domain`` at the platform's clock (``cpu.clock_mhz``)."""
    return Resource(name, "core", platform.value("cpu.clock_mhz") * 1e6, domain=domain)


def backend_core(vm: int, cores: int) -> int:
    """The driver-domain core of VM ``vm``'s backend: core 0 with one core, else one of
    cores 1 .. cores - 1 (core 0 keeps the NIC's driver and the bridge).

    >>> [backend_core(v, 1) for v in range(3)], [backend_core(v, 3) for v in range(3)]
    ([0, 0, 0], [1, 2, 1])
    """
    return 0 if cores == 1 else 1 + vm % (cores - 1)


@dataclass(frozen=True, eq=False)
class Run:
    """Everything :func:`run_paths` computed, for :func:`metrics` and for tests."""

    stream: np.ndarray
    before: tuple[Result, ...]
    nic: Replay
    host: Result
    who: np.ndarray
    paths: tuple[DataPath, ...]
    drops: int
    superframes: int = 0


def _distinct(vms: np.ndarray) -> list[int]:
    """The distinct VM numbers of ``vms``, ascending (VM numbers are small: a count each).

    >>> _distinct(np.array([3, 1, 3]))
    [1, 3]
    """
    return np.flatnonzero(np.bincount(vms)).tolist() if len(vms) else []


def _host_paths(p: PortParams, nicp: NICParams, rx_vms: list[int], tx_vms: list[int],
                rx_path: Callable[[int], DataPath], tx_path: Callable[[int], DataPath],
                ) -> tuple[list[DataPath], np.ndarray, np.ndarray, dict[str, Napi]]:
    """The host paths -- receive VMs' (ascending), then transmit VMs' (ascending), VMs with
    equal paths sharing one -- and per VM its receive and its transmit path's number, and
    the NAPI holds of the receive paths. A run with no path gets the first VM's transmit
    path, which no packet takes (the simulation wants one)."""
    paths: list[DataPath] = []
    index: dict[DataPath, int] = {}
    napi: dict[str, Napi] = {}
    itr_ns = nicp.itr_cycles * 1e3 / nicp.clock_mhz  # the ITR in whole NIC cycles
    top = max([0, *rx_vms, *tx_vms]) + 1
    maps = (np.zeros(top, dtype=np.int64), np.zeros(top, dtype=np.int64))
    for rx, vms, make, where in ((True, rx_vms, rx_path, maps[0]),
                                 (False, tx_vms, tx_path, maps[1])):
        for v in vms:
            path = p.offloaded(make(v))
            if path not in index:
                index[path] = len(paths)
                paths.append(path)
                if rx and path.hold_before is not None:
                    napi[path.hold_before] = Napi(itr_ns, nicp.irq_threshold)
            where[v] = index[path]
    if not paths:
        paths.append(p.offloaded(tx_path(0)))
    return paths, maps[0], maps[1], napi


def run_paths(stream: np.ndarray, p: PortParams, rx_path: Callable[[int], DataPath],
              tx_path: Callable[[int], DataPath], walk_ref_ns: float = 0.0) -> Run:
    """Carry ``stream`` through a mechanism's paths (see the module docstring), on the NIC
    its parameters describe (:meth:`PortParams.nic`), configured as :meth:`PortParams.layout`.

    ``rx_path(vm)`` starts where the NIC's receive engine (:meth:`PortParams.nic_stage`) hands
    the frame
    over, usually at the stage the NIC's interrupts release (its ``hold_before``);
    ``tx_path(vm)`` ends with the transmit wire. VMs with equal paths share them. Each
    IOMMU walk reference of a frame's DMA keeps the NIC's receive engine ``walk_ref_ns``
    longer on it.
    """
    # A capture of an offloading host holds super-frames: on the wire they are MTU frames.
    stream, cut = segment(stream, p.mtu, p.link_gbps, copy=False)  # only read from here on
    t = stream["time_ns"].astype(np.float64)
    size = stream["frame_bytes"].astype(np.int64)
    is_rx = stream["direction"] == Dir.RX
    rx_idx, tx_idx = np.flatnonzero(is_rx), np.flatnonzero(~is_rx)
    wire = simulate([p.wire()], t[rx_idx], size[rx_idx])
    on_nic = rx_idx[wire.delivered]
    done = wire.depart_ns[wire.delivered]
    # The fields the NIC reads, column by column (a gather of records is far slower); when
    # every frame is received and none was lost on the wire, the columns themselves.
    every = len(on_nic) == len(stream)
    frames = {f: stream[f] if every else stream[f][on_nic]
              for f in ("dst_mac", "vlan", "vm", "src_ip", "dst_ip")}
    layout, nicp = p.layout(), p.nic()
    rep = replay(frames, done, nicp, layout)
    # The NIC's receive engine: one cycle a frame plus its DMA's IOMMU walk, first come first
    # served (a FIFO of its own, apart from the transmit engine).
    walk = rep.walk_refs * walk_ref_ns if walk_ref_ns else None
    nic = buffered_fifo(p.nic_stage(), done, size[on_nic], p.rx_buffer_kib << 10, walk)
    # Frames the buffer could not hold never reach the host (their DMA was never made; the
    # model's IOTLB saw them all, a small overcount only when the buffer overflows).
    ok = (rep.status == 1) & nic.delivered
    rx_who = on_nic[ok]
    rx_vm = rep.vm[ok]
    tx_vm = stream["vm"][tx_idx].astype(np.int64)
    paths, rx_map, tx_map, napi = _host_paths(p, nicp, _distinct(rx_vm), _distinct(tx_vm),
                                              rx_path, tx_path)
    arrival = np.concatenate([nic.depart_ns[ok], t[tx_idx]])
    who = np.concatenate([rx_who, tx_idx])
    path_of = np.concatenate([rx_map[rx_vm], tx_map[tx_vm]])
    if len(rx_who) and len(tx_idx):
        order = np.lexsort((who, arrival))
        arrival, who, path_of = arrival[order], who[order], path_of[order]
    host = simulate(paths, arrival, size[who], path_of=path_of, napi=napi)
    drops = wire.drops + int((~ok).sum()) + host.drops
    return Run(stream, (wire, nic), rep, host, who, tuple(paths), drops, cut)


def trap_counts(host: Result) -> dict[str, int]:
    """Traps by ``kind.reason``, from the stages' declared traps and the simulation's counts."""
    out: dict[str, int] = {}
    assert host.served is not None and host.batches is not None and host.irqs is not None
    # A per-packet trap is taken by the frames that paid the stage's per-packet work: with
    # an offload, once per super-frame.
    paid = host.served - (host.joined if host.joined is not None else 0)
    per = {"packet": paid, "batch": host.batches, "irq": host.irqs}
    for i, s in enumerate(host.stages):
        for reason, on, count in s.traps:
            out[reason] = out.get(reason, 0) + int(per[on][i]) * count
    return out


@dataclass(frozen=True, eq=False)
class Totals:
    """What :func:`metrics` reads of a run, without a per-frame array: the frames on the
    wire and the super-frames cut, the drops, the first frame's time on the port, the host
    simulation's per-stage and per-resource figures (``host``; its per-packet arrays may be
    empty), each stage before it with its busy time, the NIC model's counters, the host
    paths, and the delivered frames. :func:`totals` makes it of a :class:`Run`;
    :func:`codesign.net.streamed.run_stream` of a stream in pieces."""

    packets: int
    superframes: int
    drops: int
    first_ns: float
    host: Result
    before: tuple[tuple[Resource, float], ...]
    counters: dict[str, int]
    paths: tuple[DataPath, ...]
    delivered: Deliveries


def totals(run: Run) -> Totals:
    """The :class:`Totals` of a whole run."""
    host, stream = run.host, run.stream
    who = run.who[host.delivered]
    delivered = Deliveries()
    delivered.add(host.depart_ns[host.delivered], stream["time_ns"][who].astype(np.float64),
                  stream["frame_bytes"][who], stream["direction"][who])
    before = tuple((r, float(b)) for res in run.before
                   for r, b in zip(res.resources, res.busy_ns, strict=True))
    # the earliest time as a float: the float of the earliest (the conversion is monotone)
    first = float(stream["time_ns"].min()) if len(stream) else 0.0
    return Totals(len(stream), run.superframes, run.drops, first,
                  host, before, dict(run.nic.counters), run.paths, delivered)


def metrics(run: Run | Totals) -> Metrics:
    """The issue's metrics of a run (see the module docstring)."""
    tot = totals(run) if isinstance(run, Run) else run
    host, done = tot.host, tot.delivered
    n_ok = done.count
    span = done.last - tot.first_ns if n_ok else 0.0
    busy = dict(zip(host.resources, host.busy_ns, strict=True))
    for r, b in tot.before:
        busy[r] = busy.get(r, 0.0) + b
    per_domain = dict.fromkeys(DOMAINS, 0.0)
    assert host.stage_busy_ns is not None and host.batches is not None
    for s, b in zip(host.stages, host.stage_busy_ns, strict=True):
        if s.owner is not None:
            per_domain[s.owner] += b * s.resource.hz / 1e9 / max(n_ok, 1)
    notified = sum(int(host.batches[i]) for i, s in enumerate(host.stages)
                   if s.notify is not None)
    assert host.raised is not None
    holds = {p.hold_before for p in tot.paths if p.hold_before is not None}
    nic_irqs = sum(int(host.raised[i]) for i, s in enumerate(host.stages) if s.name in holds)
    virtual = int(host.raised.sum()) - nic_irqs + notified
    rates = {name: done.goodput(int(d), OVERHEAD) for name, d in (("rx", Dir.RX),
                                                                   ("tx", Dir.TX))}
    busier = max(rates.values(), key=lambda r: r[0])
    out = {
        "packets": tot.packets,
        "frames.superframes": tot.superframes,
        "throughput.pps": done.throughput_pps(),
        "throughput.gbps": busier[0],
        "throughput.wire_gbps": busier[1],
        "throughput.rx_gbps": rates["rx"][0],
        "throughput.tx_gbps": rates["tx"][0],
        "throughput.duplex_gbps": rates["rx"][0] + rates["tx"][0],
        "drops": tot.drops,
        "cycles_per_packet": sum(per_domain.values()),
        "interrupts": nic_irqs + virtual,
        "interrupts.nic": nic_irqs,
        "interrupts.virtual": virtual,
        "iotlb.misses": tot.counters["nic.iotlb.misses"],
        "iommu.walk_refs": tot.counters["nic.iommu.walk_refs"],
    }
    out |= {f"cycles_per_packet.{d}": c for d, c in per_domain.items()}
    out |= {f"cpu.utilization.{r.name}": (b / span if span > 0 else 0.0)
            for r, b in busy.items()}
    return Metrics(out) | Metrics(done.latency_us()) | traps(trap_counts(host))


def from_nic(path: DataPath) -> DataPath:
    """A receive path from the wire (``wire_rx``, ``nic_rx``, ...) without its first two
    stages: what :func:`run_paths` simulates after the wire and the NIC's receive engine."""
    if [st.name for st in path.stages[:2]] != ["wire_rx", "nic_rx"] \
            or path.stages[1].resource.kind != "nic" or path.stages[1].per_packet != 1:
        raise ValueError("a receive path starts with the wire and the NIC's receive engine")
    return DataPath(path.stages[2:], hold_before=path.hold_before)


STREAM_ABOVE = 1 << 21
"""Frames above which a whole stream is run a chunk at a time too
(:func:`codesign.net.streamed.run_stream`: the same metrics, in memory bounded by the chunk
rather than a dozen arrays of the stream's length)."""


def evaluate(stream: Stream, p: PortParams,
             paths_of: Callable[[int], tuple[DataPath, DataPath]],
             platform: Platform | None = None) -> Metrics:
    """A mechanism's metrics, given VM ``v``'s receive path (from the wire) and transmit
    path as ``paths_of(v)``, on ``platform`` (its ``memory.latency`` and ``cpu.clock_mhz``
    time the IOMMU's walks). A stream in pieces, or longer than :data:`STREAM_ABOVE`, is
    run a chunk at a time (the same metrics)."""
    walk_ns = 0.0
    if platform is not None:
        walk_ns = platform.value("memory.latency") / platform.value("cpu.clock_mhz") * 1e3
    rx_path = lambda vm: from_nic(paths_of(vm)[0])  # noqa: E731
    tx_path = lambda vm: paths_of(vm)[1]  # noqa: E731
    if isinstance(stream, FrameChunks) or len(stream) > STREAM_ABOVE:
        from codesign.net.streamed import run_stream  # it builds on this module

        return metrics(run_stream(stream, p, rx_path, tx_path, walk_ns))
    return metrics(run_paths(stream, p, rx_path, tx_path, walk_ns))
